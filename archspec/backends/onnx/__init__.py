"""The ONNX backend: the flat graph -> an ONNX ModelProto, weights named as the torch module's.

To add an op, its function goes in `lowering.py`. `export.py` builds the model (and reads
weights from a torch module), `functions.py` regroups it into one local function per block
(`--functions`), and `runtime.py` runs it with onnxruntime against the torch module.
"""
