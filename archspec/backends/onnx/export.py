"""The ONNX backend: an IR graph as an `onnx.ModelProto`, written with `onnx.helper` (no tracing).

Nodes are named by layer path, initializers by the PyTorch module's state_dict keys (so a
checkpoint of the generated module fills them), and every intermediate value carries its
static shape in `value_info`. The batch dimension is `N` unless a fixed batch is asked for.
Each op's lowering is in `lowering.py`. Strings from the spec reach the file only as
data (names, doc_string, metadata), never as anything ONNX runs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from archspec.backends.onnx.functions import DOMAIN, as_functions
from archspec.backends.onnx.lowering import LOWERINGS
from archspec.backends.torch.state_dict import state_dict_shapes
from archspec.backends.unsupported import Unsupported
from archspec.diagnostics import ArchspecError, Diagnostic
from archspec.ir import Graph, Node

OLDEST_OPSET = 13  # Softmax over one axis, Split/Slice/Clip inputs as tensors
# protobuf cannot serialize a message of 2 GiB or more: weights past this go to a file beside it
EXTERNAL_DATA_BYTES = 2**31 - 2**26


class _Builder:
    """Collects nodes and initializers; the lowerings call `add`, `weight`, `constant`, `shape`."""

    def __init__(self, graph: Graph, opset: int, weights: dict[str, Any], batch: int | str):
        import onnx

        self.onnx = onnx
        self.g, self.opset, self.weights, self.batch = graph, opset, weights, batch
        self.nodes: list = []
        self.initializers: dict[str, Any] = {}

    def shape(self, node_id: int) -> tuple[int, ...]:
        return self.g.nodes[node_id].shape

    def add(self, op_type: str, inputs: list[str], node: Node, suffix: str = "", **attrs: Any) -> str:
        out = f"{node.path}.{suffix}" if suffix else node.path
        if out in ("input", "output"):  # a layer labelled so: the graph's own input and output keep the names
            out += ".value"
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def weight(self, node: Node, name: str) -> str:
        key = f"{node.path}.{name}" if name else node.path  # "": the op is a parameter of its block
        if key not in self.initializers:
            self.initializers[key] = self.weights[key]
        return key

    def constant(self, node: Node, name: str, values, dtype: str = "int64") -> str:
        import numpy as np

        key = f"{node.path}.{name}"
        self.initializers[key] = np.array(values, dtype=np.int64 if dtype == "int64" else np.float32)
        return key

    def typed(self, name: str, shape: tuple[int, ...]):
        return self.onnx.helper.make_tensor_value_info(name, self.onnx.TensorProto.FLOAT, [self.batch, *shape])


@functools.lru_cache(maxsize=1)
def newest_opset() -> int:
    """The newest opset both the onnx package and the installed onnxruntime run (probed once)."""
    import onnx

    try:
        import onnxruntime as ort
    except ImportError:
        return min(onnx.defs.onnx_opset_version(), 21)
    for opset in range(onnx.defs.onnx_opset_version(), OLDEST_OPSET - 1, -1):
        x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
        y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
        model = onnx.helper.make_model(
            onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y]),
            opset_imports=[onnx.helper.make_opsetid("", opset)],
        )
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return opset
        except Exception:  # noqa: BLE001 - onnxruntime's refusal of an opset it does not know
            continue
    return OLDEST_OPSET


def initial_weights(graph: Graph, seed: int = 0) -> dict[str, Any]:
    """Deterministic weights for every state_dict key, from numpy's generator seeded by `seed`:
    PyTorch's default ranges (uniform in +-1/sqrt(fan_in)), batch norms as PyTorch starts them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    keys = state_dict_shapes(graph)
    for key, shape in keys.items():
        module, _, leaf = key.rpartition(".")
        norm = f"{module}.running_mean" in keys
        if leaf == "num_batches_tracked":
            continue
        if leaf == "running_var" or (norm and leaf == "weight"):
            out[key] = np.ones(shape, dtype=np.float32)
        elif leaf == "running_mean" or (norm and leaf == "bias"):
            out[key] = np.zeros(shape, dtype=np.float32)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
            bound = 1.0 / math.sqrt(max(fan_in, 1))
            w = rng.random(shape, dtype=np.float32)  # drawn as float32: ten times faster than uniform's float64, 4 s for VGG's 138M
            w *= np.float32(2 * bound)
            w -= np.float32(bound)
            out[key] = w
    return out


def to_model(
    graph: Graph,
    spec: str,
    *,
    opset: int | None = None,
    batch: int | str = "N",
    weights: dict[str, Any] | None = None,
    seed: int = 0,
    parameters: dict[str, Any] | None = None,
    fold_batchnorm: bool = False,
    functions: bool = False,
):
    """The ONNX model of `graph`; raises ArchspecError for what ONNX cannot express here.

    `fold_batchnorm`: each batch norm that alone reads a convolution's output is folded into
    that convolution's weights and bias (what inference runtimes do anyway), one node fewer.
    `functions`: each block instance is a call of a local function of its definition
    (`functions.py`); the values inside it then have no `value_info`."""
    import onnx

    from archspec import __version__

    opset = opset or newest_opset()
    if weights is None:
        weights = initial_weights(graph, seed)
    expected = {k: s for k, s in state_dict_shapes(graph).items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(weights))
    wrong = sorted(k for k in expected if k in weights and tuple(weights[k].shape) != expected[k])
    if missing or wrong:
        what = f"missing {', '.join(missing[:3])}" if missing else f"{wrong[0]} has shape {tuple(weights[wrong[0]].shape)}, not {expected[wrong[0]]}"
        raise ArchspecError(Diagnostic(f"--weights do not fit this network: {what}", None, help="keys and shapes are the generated module's state_dict"))
    b = _Builder(graph, opset, weights, batch)
    names: dict[int, str] = {}
    foldable = _foldable(graph) if fold_batchnorm else {}
    try:
        for n in graph.nodes:
            if n.id in foldable:
                names[n.id] = _fold(b, graph.nodes[foldable[n.id]], n, names[n.inputs[0]])
                continue
            names[n.id] = LOWERINGS[n.op](b, n, [names[i] for i in n.inputs])
        outputs = _name_outputs(b, graph, names)
    except Unsupported as u:
        raise ArchspecError(
            Diagnostic(f"the ONNX backend cannot write this yet: {u.message}", u.span, help="the torch backend and `archspec cost` still work")
        ) from None
    local_functions: list = []
    if functions:
        b.nodes, local_functions = as_functions(graph, b.nodes, set(b.initializers), set(outputs), opset)
    made = {o for node in b.nodes for o in node.output}
    value_info = [b.typed(names[n.id], n.shape) for n in graph.nodes[1:] if names[n.id] in made and names[n.id] not in outputs]
    onnx_graph = onnx.helper.make_graph(
        b.nodes,
        graph.name,
        [b.typed("input", graph.input_shape)],
        [b.typed(name, graph.nodes[i].shape) for name, i in outputs.items()],
        value_info=value_info,
    )
    for key, array in b.initializers.items():  # filled in place: protobuf copies a message by serializing it, and cannot past 2 GiB
        _fill(onnx_graph.initializer.add(), key, array)
    imports = [onnx.helper.make_opsetid("", opset)] + ([onnx.helper.make_opsetid(DOMAIN, 1)] if local_functions else [])
    model = onnx.helper.make_model(onnx_graph, opset_imports=imports, producer_name="archspec", producer_version=__version__, functions=local_functions)
    model.ir_version = min(model.ir_version, 10)  # what current onnxruntime releases read
    model.doc_string = f"{graph.name}: generated by archspec from {spec}"
    params = parameters if parameters is not None else graph.params
    onnx.helper.set_model_props(
        model, {"archspec.spec": spec, "archspec.version": __version__, **{f"param.{k}": repr(v) for k, v in sorted(params.items())}}
    )
    return model


def _name_outputs(b: _Builder, graph: Graph, names: dict[int, str]) -> dict[str, int]:
    """The graph's outputs by name (`output`, or the names `return` gives): the value that is
    one is renamed; one that is the input, or already an output, is passed through an Identity."""
    import onnx

    made = {o for node in b.nodes for o in node.output}
    out: dict[str, int] = {}
    for name, node_id in graph.returns:
        src = names[node_id]
        if src == name:
            out[name] = node_id
            continue
        if name in made:
            raise Unsupported(f"an output named '{name}', as another value of the graph is", graph.nodes[node_id].span)
        if src == "input" or any(names[i] == src for i in out.values()):
            b.nodes.append(onnx.helper.make_node("Identity", [src], [name], name=name))
        else:
            for node in b.nodes:
                node.output[:] = [name if o == src else o for o in node.output]
                node.input[:] = [name if i == src else i for i in node.input]
            names.update({k: name for k, v in names.items() if v == src})
        made.add(name)
        out[name] = node_id
    return out


def _foldable(graph: Graph) -> dict[int, int]:
    """Batch norm id -> the id of the conv it folds into: a conv (or depthwise conv) whose only
    reader is the batch norm, and which is not itself an output of the graph."""
    readers: dict[int, list[int]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            readers.setdefault(i, []).append(n.id)
    returned = {i for _, i in graph.returns}
    out = {}
    for n in graph.nodes:
        if n.op == "batchnorm" and len(n.shape) == 3:
            conv = graph.nodes[n.inputs[0]]
            if conv.op in ("conv", "dwconv") and readers.get(conv.id) == [n.id] and conv.id not in returned:
                out[n.id] = conv.id
    return out


def _fold(b: _Builder, conv: Node, bn: Node, conv_out: str) -> str:
    """Scale the conv's filters by gamma / sqrt(var + eps) and shift its bias, in place of `bn`."""
    import numpy as np

    w = b.weights
    c = bn.attrs["channels"]
    gamma = w[f"{bn.path}.weight"] if bn.attrs["affine"] else np.ones(c, np.float32)
    beta = w[f"{bn.path}.bias"] if bn.attrs["affine"] else np.zeros(c, np.float32)
    scale = gamma.astype(np.float64) / np.sqrt(w[f"{bn.path}.running_var"].astype(np.float64) + bn.attrs["eps"])
    weight_key, bias_key = f"{conv.path}.weight", f"{conv.path}.bias"
    b.initializers[weight_key] = (b.initializers[weight_key].astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
    bias = b.initializers.get(bias_key, np.zeros(c, np.float32)).astype(np.float64)
    b.initializers[bias_key] = ((bias - w[f"{bn.path}.running_mean"]) * scale + beta).astype(np.float32)
    node = next(x for x in reversed(b.nodes) if x.output[0] == conv_out)
    if len(node.input) == 2:  # a conv without bias gets one
        node.input.append(bias_key)
    return conv_out


def _fill(tensor, name: str, array) -> None:
    """What `onnx.numpy_helper.from_array` writes, without a second message to copy from."""
    import numpy as np
    from onnx import TensorProto

    tensor.name = name
    tensor.dims.extend(array.shape)
    tensor.data_type = TensorProto.INT64 if array.dtype == np.int64 else TensorProto.FLOAT
    tensor.raw_data = np.ascontiguousarray(array, dtype="<i8" if array.dtype == np.int64 else "<f4").tobytes()


def serialize(model, data_name: str) -> tuple[bytes, list[bytes]]:
    """The model file's bytes, and the chunks of its external data file `data_name` (none for
    a model under EXTERNAL_DATA_BYTES). Past that, each initializer of 1 KiB or more moves
    out of `model` (in place, not to hold the weights twice) to the data file, 4 KiB aligned
    as `onnx.save` does it, and the model keeps its offset and length."""
    from onnx.external_data_helper import set_external_data

    if sum(len(t.raw_data) for t in model.graph.initializer) < EXTERNAL_DATA_BYTES:
        return model.SerializeToString(deterministic=True), []
    chunks: list[bytes] = []
    offset = 0
    for tensor in model.graph.initializer:
        if len(tensor.raw_data) < 1024:
            continue
        pad = -offset % 4096
        if pad:
            chunks.append(bytes(pad))
            offset += pad
        data = tensor.raw_data
        set_external_data(tensor, data_name, offset, len(data))
        tensor.data_location = tensor.EXTERNAL
        tensor.ClearField("raw_data")
        chunks.append(data)
        offset += len(data)
    return model.SerializeToString(deterministic=True), chunks


def read_weights(path: str) -> dict[str, Any]:
    """A state dict of the generated module's keys, from `.pt`/`.pth` (needs torch) or `.safetensors`."""
    import numpy as np

    def fail(message: str) -> ArchspecError:
        return ArchspecError(Diagnostic(f"--weights {path}: {message}", None))

    if path.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise fail("reading .safetensors needs the safetensors package: pip install safetensors") from None
        try:
            return {k: np.asarray(v, dtype=np.float32) for k, v in load_file(path).items()}
        except Exception as err:  # noqa: BLE001 - a file that is not safetensors
            raise fail(f"not a safetensors file ({err})") from None
    if not path.endswith((".pt", ".pth")):
        raise fail("expected a .pt, .pth or .safetensors file")
    try:
        import torch
    except ImportError:
        raise fail("reading a PyTorch state dict needs torch: pip install 'archspec[torch]'") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: a pickle runs no code
    except Exception as err:  # noqa: BLE001 - a file torch cannot read as a state dict
        raise fail(f"not a PyTorch state dict ({type(err).__name__})") from None
    if not isinstance(state, dict):
        raise fail("not a state dict (a mapping of names to tensors)")
    return {k: v.detach().float().numpy() for k, v in state.items() if hasattr(v, "detach") and not k.endswith("num_batches_tracked")}
