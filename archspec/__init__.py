"""archspec: a compiler for neural-network architecture specs.

text (.arch | .yaml) -> AST (syntax/) -> IR with shapes (elaborate.py, ops/) -> cost (cost.py) / backends.
"""

from archspec.api import Analysis, build, compile_torch, load
from archspec.diagnostics import ArchspecError, Diagnostic, Span

__all__ = ["Analysis", "ArchspecError", "Diagnostic", "Span", "build", "compile_torch", "load"]
__version__ = "0.1.0"
