"""The op registry: each op is declared once with its signature, shape rule and cost rule.

Backends keep one lowering per op, keyed by the op's name (see `archspec/backends`);
a test walks `OPS` and fails when a backend lacks one. Adding an op means one
`define(...)` call in this package and one lowering per backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]

REQUIRED = object()


class OpError(Exception):
    """A shape or argument rule failed; `arg` names the argument to point at, if any."""

    def __init__(self, message: str, arg: str | None = None, help: str | None = None):
        super().__init__(message)
        self.message, self.arg, self.help = message, arg, help


@dataclass(frozen=True)
class Cost:
    params: int = 0
    buffers: int = 0
    macs: int = 0


@dataclass(frozen=True)
class Attr:
    """One argument of an op: its name, kind (see `archspec.ops.types`) and default."""

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""


@dataclass(frozen=True)
class OpDef:
    """An op's definition: what it takes, what shape it returns, what it costs.

    `infer(attrs, inputs)` returns the output shape and may add resolved
    attributes (e.g. `in_channels`) that backends need; `cost(attrs, inputs, out)`
    counts params, buffers and macs. `variadic` ops (concat, add, mul) take any
    number of inputs.

    `spatial` names the arguments that set the output's height and width (a window's kernel,
    stride and padding); `fixes_spatial` marks an op whose output's height and width do not
    depend on its input's (the adaptive and global pools). A backend that writes sizes as
    formulas needs both to know what a spatial size taken from the graph depends on;
    tests/test_op_spatial.py checks them against the shape rules.
    """

    name: str
    attrs: tuple[Attr, ...]
    infer: Callable[[dict, list[Shape]], Shape]
    cost: Callable[[dict, list[Shape], Shape], Cost]
    doc: str
    variadic: bool = False
    internal: bool = False  # not callable by name from a spec (input, the combinators)
    aliases: tuple[str, ...] = field(default=())
    spatial: tuple[str, ...] = ()
    fixes_spatial: bool = False


OPS: dict[str, OpDef] = {}
_ALIASES: dict[str, str] = {}


def no_cost(attrs: dict, inputs: list[Shape], out: Shape) -> Cost:
    return Cost()


def define(name: str, *attrs: Attr, doc: str, cost=no_cost, variadic=False, internal=False, aliases=(), spatial=(), fixes_spatial=False):
    """Decorator registering a shape rule as the op `name`."""

    def register(infer):
        OPS[name] = OpDef(name, tuple(attrs), infer, cost, doc, variadic, internal, tuple(aliases), tuple(spatial), fixes_spatial)
        for alias in aliases:
            _ALIASES[alias] = name
        return infer

    return register


def lookup(name: str) -> OpDef | None:
    op = OPS.get(_ALIASES.get(name, name))
    return None if op is None or op.internal else op


def public_names() -> list[str]:
    return sorted([n for n, op in OPS.items() if not op.internal] + list(_ALIASES))
