"""How each op lowers to ONNX: one function per op, keyed by the op's name (as torch/lowering.py).

A lowering gets the graph being built (`b`), the IR node and the names of its input values,
and returns the name of its output value. It adds the fewest standard nodes that compute what
the PyTorch module computes; weights are initializers named by the module's state_dict keys
(`b.weight(node, "weight")`). An op that lowers to nothing (dropout, identity) returns its input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from archspec.backends.unsupported import Unsupported
from archspec.ir import Node


class Builder(Protocol):
    opset: int

    def shape(self, node_id: int) -> tuple[int, ...]: ...
    def add(self, op_type: str, inputs: list[str], node: Node, suffix: str = "", **attrs: Any) -> str: ...
    def weight(self, node: Node, name: str) -> str: ...
    def constant(self, node: Node, name: str, values: list, dtype: str = "int64") -> str: ...


Lowering = Callable[[Builder, Node, list[str]], str]


def _pairs(v) -> list[int]:
    return list(v) if isinstance(v, tuple) else [v, v]


def _conv(b: Builder, n: Node, x: list[str]) -> str:
    a = n.attrs
    left, right, top, bottom = a["pads"]
    inputs = [x[0], b.weight(n, "weight")] + ([b.weight(n, "bias")] if a["bias"] else [])
    groups = a["in_channels"] if n.op == "dwconv" else a["groups"]
    return b.add(
        "Conv",
        inputs,
        n,
        kernel_shape=_pairs(a["kernel"]),
        strides=_pairs(a["stride"]),
        pads=[top, left, bottom, right],
        dilations=_pairs(a["dilation"]),
        group=groups,
    )


def _conv_transpose(b: Builder, n: Node, x: list[str]) -> str:
    a = n.attrs
    ph, pw = a["padding"]
    inputs = [x[0], b.weight(n, "weight")] + ([b.weight(n, "bias")] if a["bias"] else [])
    return b.add(
        "ConvTranspose",
        inputs,
        n,
        kernel_shape=_pairs(a["kernel"]),
        strides=_pairs(a["stride"]),
        pads=[ph, pw, ph, pw],
        output_padding=_pairs(a["output_padding"]),
        dilations=_pairs(a["dilation"]),
        group=a["groups"],
    )


def _upsample(b: Builder, n: Node, x: list[str]) -> str:
    """Resize, with the coordinate mapping PyTorch's interpolate uses for each mode."""
    a = n.attrs
    if a["mode"] == "nearest":
        attrs: dict[str, Any] = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if a["align_corners"] else "pytorch_half_pixel"}
    if a["size"] is None:
        return b.add("Resize", [x[0], "", b.constant(n, "scales", [1.0, 1.0, *a["scale"]], "float")], n, **attrs)
    if b.opset >= 18:  # sizes for the two image axes alone
        return b.add("Resize", [x[0], "", "", b.constant(n, "sizes", list(a["size"]))], n, axes=[2, 3], **attrs)
    # before opset 18, sizes name every axis: the batch and channels come from the input's shape
    shape = b.add("Shape", [x[0]], n, suffix="shape")
    kept = b.add("Slice", [shape, b.constant(n, "zero", [0]), b.constant(n, "two", [2])], n, suffix="batch_channels")
    sizes = b.add("Concat", [kept, b.constant(n, "size", list(a["size"]))], n, suffix="sizes", axis=0)
    return b.add("Resize", [x[0], "", "", sizes], n, **attrs)


def _pad(b: Builder, n: Node, x: list[str]) -> str:
    left, right, top, bottom = n.attrs["padding"]
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[n.attrs["mode"]]
    inputs = [x[0], b.constant(n, "pads", [0, 0, top, left, 0, 0, bottom, right])]
    if mode == "constant":
        inputs.append(b.constant(n, "value", n.attrs["value"], "float"))
    return b.add("Pad", inputs, n, mode=mode)


def _crop(b: Builder, n: Node, x: list[str]) -> str:
    (top, left), (h, w) = n.attrs["offsets"], n.attrs["size"]
    starts, ends = b.constant(n, "starts", [top, left]), b.constant(n, "ends", [top + h, left + w])
    return b.add("Slice", [x[0], starts, ends, b.constant(n, "axes", [2, 3])], n)


def _linear(b: Builder, n: Node, x: list[str]) -> str:
    if n.attrs["per_position"]:  # on the last axis of [N, ..., F]: Gemm takes matrices only
        weight_t = b.add("Transpose", [b.weight(n, "weight")], n, suffix="weight_t", perm=[1, 0])
        if not n.attrs["bias"]:
            return b.add("MatMul", [x[0], weight_t], n)
        product = b.add("MatMul", [x[0], weight_t], n, suffix="matmul")
        return b.add("Add", [product, b.weight(n, "bias")], n)
    inputs = [x[0], b.weight(n, "weight")] + ([b.weight(n, "bias")] if n.attrs["bias"] else [])
    return b.add("Gemm", inputs, n, transB=1)


def _layernorm(b: Builder, n: Node, x: list[str]) -> str:
    """LayerNormalization over the last axis (opset 17 on; before it, as the mean and variance it
    computes); channels first, between two transposes."""
    value = x[0]
    if n.attrs["channels_first"]:
        value = b.add("Transpose", [value], n, suffix="channels_last", perm=[0, 2, 3, 1])
    scale, shift, eps = b.weight(n, "weight"), b.weight(n, "bias"), n.attrs["eps"]
    done = "normalised" if n.attrs["channels_first"] else ""
    if b.opset >= 17:
        out = b.add("LayerNormalization", [value, scale, shift], n, suffix=done, axis=-1, epsilon=eps)
    else:
        mean = b.add("ReduceMean", [value], n, suffix="mean", axes=[-1], keepdims=1)
        centred = b.add("Sub", [value, mean], n, suffix="centred")
        var = b.add("ReduceMean", [b.add("Mul", [centred, centred], n, suffix="squared")], n, suffix="var", axes=[-1], keepdims=1)
        std = b.add("Sqrt", [b.add("Add", [var, b.constant(n, "eps", eps, "float")], n, suffix="var_eps")], n, suffix="std")
        scaled = b.add("Mul", [b.add("Div", [centred, std], n, suffix="unit"), scale], n, suffix="scaled")
        out = b.add("Add", [scaled, shift], n, suffix=done)
    if n.attrs["channels_first"]:
        out = b.add("Transpose", [out], n, perm=[0, 3, 1, 2])
    return out


def _batchnorm(b: Builder, n: Node, x: list[str]) -> str:
    if n.attrs["affine"]:
        scale, shift = b.weight(n, "weight"), b.weight(n, "bias")
    else:  # no learned scale or shift: ONNX needs them as inputs all the same
        c = n.attrs["channels"]
        scale, shift = b.constant(n, "ones", [1.0] * c, "float"), b.constant(n, "zeros", [0.0] * c, "float")
    inputs = [x[0], scale, shift, b.weight(n, "running_mean"), b.weight(n, "running_var")]
    return b.add("BatchNormalization", inputs, n, epsilon=n.attrs["eps"])


def _window_out(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """ONNX's pooling output size (ONNX has no PyTorch rule that drops a window starting in the padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    return (math.ceil(span / s) if ceil else span // s) + 1


def _end_pad(size: int, out: int, k: int, s: int, p: int, d: int) -> int:
    """The end padding at which floor mode gives `out` windows: the original `p`, or more for a
    last window that ceil mode lets run past it."""
    return max(p, (out - 1) * s + d * (k - 1) + 1 - size - p)


def _pool(kind: str) -> Lowering:
    def lower(b: Builder, n: Node, x: list[str]) -> str:
        a = n.attrs
        k, s, p = _pairs(a["kernel"]), _pairs(a["stride"]), _pairs(a["padding"])
        d = _pairs(a.get("dilation", 1))
        h, w = n.shape[1:]
        cin = b.shape(n.inputs[0])
        ceil = a["ceil_mode"] and (_window_out(cin[1], k[0], s[0], p[0], d[0], True), _window_out(cin[2], k[1], s[1], p[1], d[1], True)) == (h, w)
        pads = [p[0], p[1], p[0], p[1]]
        if a["ceil_mode"] and not ceil:
            # PyTorch drops a ceil_mode window that would start in the end padding; ONNX keeps it.
            # Floor mode sees the same windows once the end padding is just long enough for them.
            pads[2:] = [_end_pad(cin[1 + i], (h, w)[i], k[i], s[i], p[i], d[i]) for i in (0, 1)]
            if kind == "AveragePool" and a["count_include_pad"] and (pads[2] > p[0] or pads[3] > p[1]):
                raise Unsupported("a ceil_mode average pool counting its padding whose last windows both start in the padding and run past it", n.span)
        attrs: dict[str, Any] = {"kernel_shape": k, "strides": s, "pads": pads, "ceil_mode": int(ceil)}
        if kind == "MaxPool":
            attrs["dilations"] = d
        else:
            attrs["count_include_pad"] = int(a["count_include_pad"])
        return b.add(kind, [x[0]], n, **attrs)

    return lower


def _adaptive(kind: str, global_kind: str) -> Lowering:
    def lower(b: Builder, n: Node, x: list[str]) -> str:
        _, h, w = b.shape(n.inputs[0])
        oh, ow = n.shape[1:]
        if (oh, ow) == (1, 1):
            return b.add(global_kind, [x[0]], n)
        if h % oh or w % ow:
            return _adaptive_windows(b, n, x[0], "ReduceMean" if kind == "AveragePool" else "ReduceMax", (h, w), (oh, ow))
        k = [h // oh, w // ow]
        if k == [1, 1]:
            return x[0]  # the size it already has
        return b.add(kind, [x[0]], n, kernel_shape=k, strides=k)

    return lower


def _adaptive_windows(b: Builder, n: Node, x: str, reduce: str, size: tuple[int, int], out: tuple[int, int]) -> str:
    """PyTorch's adaptive pooling where windows differ in size: each output cell reduces its own
    window (rows floor(i * h / oh) to ceil((i + 1) * h / oh)), then rows and columns are joined."""
    (h, w), (oh, ow) = size, out
    axes = b.constant(n, "axes", [2, 3])
    rows = []
    for i in range(oh):
        cells = []
        for j in range(ow):
            start = [i * h // oh, j * w // ow]
            end = [-(-(i + 1) * h // oh), -(-(j + 1) * w // ow)]
            tag = f"{i}_{j}"
            window = b.add("Slice", [x, b.constant(n, f"start{tag}", start), b.constant(n, f"end{tag}", end), axes], n, suffix=f"window{tag}")
            if b.opset >= 18:
                cells.append(b.add(reduce, [window, axes], n, suffix=f"cell{tag}", keepdims=1))
            else:
                cells.append(b.add(reduce, [window], n, suffix=f"cell{tag}", axes=[2, 3], keepdims=1))
        rows.append(b.add("Concat", cells, n, suffix=f"row{i}", axis=3) if ow > 1 else cells[0])
    return b.add("Concat", rows, n, axis=2) if oh > 1 else b.add("Identity", rows, n)


def _chunk(b: Builder, n: Node, x: list[str]) -> str:
    start = n.attrs["index"] * n.attrs["size"]
    end = start + n.shape[0]
    return b.add("Slice", [x[0], b.constant(n, "starts", [start]), b.constant(n, "ends", [end]), b.constant(n, "axes", [1])], n)


def _channel_shuffle(b: Builder, n: Node, x: list[str]) -> str:
    c, h, w = n.shape
    g = n.attrs["groups"]
    split = b.add("Reshape", [x[0], b.constant(n, "grouped", [0, g, c // g, h, w])], n, suffix="group")
    swapped = b.add("Transpose", [split], n, suffix="transpose", perm=[0, 2, 1, 3, 4])
    return b.add("Reshape", [swapped, b.constant(n, "shape", [0, c, h, w])], n)


def _relu6(b: Builder, n: Node, x: list[str]) -> str:
    return b.add("Clip", [x[0], b.constant(n, "min", 0.0, "float"), b.constant(n, "max", 6.0, "float")], n)


def _silu(b: Builder, n: Node, x: list[str]) -> str:
    return b.add("Mul", [x[0], b.add("Sigmoid", [x[0]], n, suffix="sigmoid")], n)


def _gelu(b: Builder, n: Node, x: list[str]) -> str:
    if b.opset >= 20:
        return b.add("Gelu", [x[0]], n)
    scaled = b.add("Div", [x[0], b.constant(n, "sqrt2", math.sqrt(2.0), "float")], n, suffix="scaled")
    erf = b.add("Erf", [scaled], n, suffix="erf")
    one = b.add("Add", [erf, b.constant(n, "one", 1.0, "float")], n, suffix="plus1")
    half = b.add("Mul", [x[0], b.constant(n, "half", 0.5, "float")], n, suffix="x_half")
    return b.add("Mul", [half, one], n)


def _hardswish(b: Builder, n: Node, x: list[str]) -> str:
    if b.opset >= 14:
        return b.add("HardSwish", [x[0]], n)
    return b.add("Mul", [x[0], b.add("HardSigmoid", [x[0]], n, suffix="gate", alpha=1.0 / 6.0, beta=0.5)], n)  # x * relu6(x + 3) / 6


def _same(op_type: str, **attrs: Any) -> Lowering:
    return lambda b, n, x: b.add(op_type, [x[0]], n, **attrs)


def _mul(b: Builder, n: Node, x: list[str]) -> str:
    out = x[0]
    for i, other in enumerate(x[1:], 1):
        out = b.add("Mul", [out, other], n, suffix="" if i == len(x) - 1 else f"mul{i}")
    return out


LOWERINGS: dict[str, Lowering] = {
    "input": lambda b, n, x: "input",
    "identity": lambda b, n, x: x[0],
    "dropout": lambda b, n, x: x[0],  # inference graph: dropout is left out
    "permute": lambda b, n, x: b.add("Transpose", [x[0]], n, perm=[0, *(d + 1 for d in n.attrs["order"])]),
    "layernorm": _layernorm,
    "layer_scale": lambda b, n, x: b.add("Mul", [x[0], b.weight(n, "")], n, suffix="scaled"),
    "stochastic_depth": lambda b, n, x: x[0],  # identity at inference, as dropout
    "conv": _conv,
    "dwconv": _conv,
    "conv_transpose": _conv_transpose,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "lrn": lambda b, n, x: b.add("LRN", [x[0]], n, size=n.attrs["size"], alpha=n.attrs["alpha"], beta=n.attrs["beta"], bias=n.attrs["k"]),
    "relu": _same("Relu"),
    "relu6": _relu6,
    "sigmoid": _same("Sigmoid"),
    "tanh": _same("Tanh"),
    "hardswish": _hardswish,
    "hardsigmoid": _same("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),  # PyTorch's: relu6(x + 3) / 6
    "silu": _silu,
    "gelu": _gelu,
    "leaky_relu": lambda b, n, x: b.add("LeakyRelu", [x[0]], n, alpha=n.attrs["slope"]),
    "scale": lambda b, n, x: b.add("Mul", [x[0], b.constant(n, "factor", n.attrs["factor"], "float")], n),
    "softmax": lambda b, n, x: b.add("Softmax", [x[0]], n, axis=n.attrs["dim"] + 1 if n.attrs["dim"] >= 0 else n.attrs["dim"]),
    "maxpool": _pool("MaxPool"),
    "avgpool": _pool("AveragePool"),
    "adaptive_avgpool": _adaptive("AveragePool", "GlobalAveragePool"),
    "adaptive_maxpool": _adaptive("MaxPool", "GlobalMaxPool"),
    "global_avgpool": _same("GlobalAveragePool"),
    "global_maxpool": _same("GlobalMaxPool"),
    "upsample": _upsample,
    "pixel_shuffle": lambda b, n, x: b.add("DepthToSpace", [x[0]], n, blocksize=n.attrs["factor"], mode="CRD"),  # PyTorch's order
    "pad": _pad,
    "crop": _crop,
    "flatten": _same("Flatten", axis=1),
    "chunk": _chunk,
    "channel_shuffle": _channel_shuffle,
    "add": lambda b, n, x: b.add("Sum", x, n),
    "mul": _mul,
    "concat": lambda b, n, x: b.add("Concat", x, n, axis=1),
}
