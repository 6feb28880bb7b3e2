"""Backends: lowerings of the IR to other forms, one package each.

Each package has a table with one entry per op of `archspec.ops` (`torch/lowering.py`,
`onnx/lowering.py`, `diagram/labels.py`; a test fails for an op without one) and the
modules that walk the IR:

- `torch/`: PyTorch source, one class per block definition (`codegen.generate`), and
  running it (`runtime.build_module`, `runtime.verify`);
- `onnx/`: an ONNX ModelProto of the flat graph (`export.to_model`), optionally with one
  local function per block (`functions`), and running it (`runtime.verify_onnx`);
- `diagram/`: a Graphviz DOT graph, one cluster per block instance (`dot.diagram`).

A backend receives the IR (`archspec.ir.Graph`), never the syntax or the API, and refuses
what it cannot lower with `unsupported.Unsupported`, which its entry point turns into a
located error.
"""
