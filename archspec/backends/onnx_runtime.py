"""`archspec verify --onnx`: the ONNX model run in onnxruntime against the PyTorch module of the
same spec, on the same weights (the module's own initialisation) and the same random input."""

from __future__ import annotations

from archspec.backends.onnx_export import to_model
from archspec.backends.torch_runtime import Check, Verification, build_module
from archspec.ir import Graph


def verify_onnx(graph: Graph, spec: str, batch: int = 2, opset: int | None = None, tolerance: float = 1e-4) -> Verification:
    import numpy as np
    import onnxruntime as ort
    import torch

    module = build_module(graph, spec).eval()
    weights = {k: v.detach().numpy() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    model = to_model(graph, spec, opset=opset, weights=weights)
    session = ort.InferenceSession(model.SerializeToString(deterministic=True), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((batch, *graph.input_shape)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    got = session.run(None, {"input": x})[0]
    result = Verification("onnxruntime", batch)
    scale = float(np.abs(want).max()) or 1.0
    diff = float(np.abs(got - want).max()) / scale
    result.checks += [
        Check("output shape (onnxruntime vs torch)", tuple(want.shape), tuple(got.shape)),
        Check("initializers = state_dict tensors", len(weights), sum(1 for i in model.graph.initializer if i.name in weights)),
        Check(f"max |onnx - torch| / max |torch| (here {diff:.1e}) below {tolerance:g}", "yes", "yes" if diff < tolerance else "no"),
    ]
    return result
