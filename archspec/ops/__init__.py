"""Ops: one definition each (signature, shape rule, cost rule), registered by name.

Import order registers every family; `OPS` maps names to definitions.
"""

from archspec.ops import activation, conv, norm, pool, resample, structure  # noqa: F401  (registers the ops)
from archspec.ops.registry import OPS, Attr, Cost, OpDef, OpError, lookup, public_names

__all__ = ["OPS", "Attr", "Cost", "OpDef", "OpError", "lookup", "public_names"]
