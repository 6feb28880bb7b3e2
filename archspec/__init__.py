"""archspec: a compiler for neural-network architecture specs.

text (.arch | .yaml) -> AST (syntax/) -> IR definitions (definitions.py, ir/) -> IR graph with shapes
(elaborate.py, ops/) -> cost (cost.py) / backends (backends/).
"""

from archspec.api import Analysis, build, compile_torch, diagram, load, loads, memory, to_onnx, verify
from archspec.diagnostics import ArchspecError, Diagnostic, Span

__all__ = ["Analysis", "ArchspecError", "Diagnostic", "Span", "build", "compile_torch", "diagram", "load", "loads", "memory", "to_onnx", "verify"]
__version__ = "0.1.0"
