"""Running what the ONNX backend writes in onnxruntime, and `archspec verify --onnx`: the model
against the PyTorch module of the same spec, on the same weights and the same random input."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from archspec.backends.onnx.export import serialize, to_model
from archspec.backends.torch.runtime import Check, Verification, build_module
from archspec.backends.torch.state_dict import state_dict_shapes
from archspec.diagnostics import ArchspecError, Diagnostic
from archspec.ir import Graph

ATOL, RTOL = 1e-4, 1e-3  # onnxruntime against torch, elementwise (numpy.allclose)


def session(model, threads: int | None = None):
    """An onnxruntime CPU session of `model`. A model over 2 GiB is written with its external
    data to a temporary directory first (its weights move out of `model`, see `serialize`)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:  # e.g. one a test worker, as pytest-xdist runs a worker a core
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data, external = serialize(model, "model.onnx.data")
    if not external:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory(prefix="archspec-onnx-") as tmp:
        (Path(tmp) / "model.onnx").write_bytes(data)
        with open(Path(tmp) / "model.onnx.data", "wb") as f:
            f.writelines(external)
        return ort.InferenceSession(str(Path(tmp) / "model.onnx"), options, providers=["CPUExecutionProvider"])


def compare(
    model,
    module,
    input_shape: tuple[int, ...],
    batch: int = 2,
    threads: int | None = None,
    seed: int = 0,
    folded: bool = False,
    idle: frozenset[str] = frozenset(),
) -> Verification:
    """onnxruntime's output of `model` against the torch `module`'s on one random input; a
    model with `folded` batch norms has initializers of its own, so they are not compared, and
    the `idle` members' (their paths) are not in the ONNX graph, which forward never reads."""
    import numpy as np
    import torch

    weights = {i.name for i in model.graph.initializer}
    state = [k for k in module.state_dict() if not k.endswith("num_batches_tracked") and k.rpartition(".")[0] not in idle]
    x = np.random.default_rng(seed).standard_normal((batch, *input_shape)).astype(np.float32)
    with torch.no_grad():
        out = module.eval()(torch.from_numpy(x))
    wants = [t.numpy() for t in out] if isinstance(out, tuple) else [out.numpy()]  # a NamedTuple of outputs, or one
    gots = session(model, threads).run(None, {"input": x})
    names = [o.name for o in model.graph.output]
    result = Verification("onnxruntime", batch)
    if len(names) > 1 or len(wants) > 1:
        result.checks.append(Check("outputs (torch vs onnxruntime)", len(wants), len(gots)))
    if not folded:
        result.checks.append(Check("initializers = state_dict tensors", len(state), sum(1 for k in state if k in weights)))
    for name, want, got in zip(names, wants, gots):
        what = "" if len(names) == 1 else f" of '{name}'"
        result.checks.append(Check(f"output shape{what} (onnxruntime vs torch)", tuple(want.shape), tuple(got.shape)))
        if got.shape == want.shape:
            diff = float(np.abs(got - want).max(initial=0.0))
            close = bool(np.allclose(got, want, atol=ATOL, rtol=RTOL))
            result.checks.append(Check(f"onnx = torch{what} within atol {ATOL:g}, rtol {RTOL:g} (max |difference| {diff:.1e})", "yes", "yes" if close else "no"))
    return result


def verify_onnx(graph: Graph, spec: str, batch: int = 2, opset: int | None = None, weights: dict[str, Any] | None = None) -> Verification:
    """`archspec verify --onnx`: the module's own initialisation (or `weights`) in both."""
    import torch

    module = build_module(graph, spec).eval()
    if weights is None:
        weights = {k: v.detach().numpy() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
        expected = {k: v for k, v in state_dict_shapes(graph).items() if not k.endswith("num_batches_tracked")}
        differ = sorted(set(expected) - set(weights)) or [k for k in expected if tuple(weights[k].shape) != expected[k]]
        if differ:  # the generated module disagrees with the analysis: a bug of the torch backend, not of --weights
            raise ArchspecError(
                Diagnostic(f"the generated module's parameters differ from the static analysis (first: {differ[0]})", None, help=f"`archspec verify {spec}` (without --onnx) shows where; this is a bug in archspec")
            )
    else:
        module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    model = to_model(graph, spec, opset=opset, weights=weights)
    return compare(model, module, graph.input_shape, batch, idle=frozenset(n.path for n in graph.idle))
