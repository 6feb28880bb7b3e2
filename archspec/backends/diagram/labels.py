"""How each op looks in a diagram: its family (the colour) and its label (`conv 3x3, 64, /2`).

One entry per op, keyed by op name, like the torch and ONNX lowerings; a test fails while an
op has none. Labels show what a reader of the paper looks for: kernel, width, stride, groups;
the rest (padding, eps) is in the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archspec.ir import Node

# family -> fill colour (pastel, told apart in greyscale print by the join shapes as well)
COLOURS = {
    "input": "#ffffff",
    "conv": "#cfe2f3",
    "linear": "#d9d2e9",
    "norm": "#fff2cc",
    "activation": "#d9ead3",
    "pool": "#fce5cd",
    "resample": "#d0e0e3",
    "reshape": "#eeeeee",
    "join": "#ffffff",
    "block": "#f4f4f4",
}


def _size(v: Any) -> str:
    """(3, 3) -> "3x3"; (1, 7) -> "1x7"; 3 -> "3"."""
    if isinstance(v, tuple):
        return "x".join(str(x) for x in v)
    return str(v)


def _stride(a: dict[str, Any]) -> str:
    s = a.get("stride", (1, 1))
    if s in ((1, 1), 1):
        return ""
    return f", /{s[0]}" if s[0] == s[1] else f", /{_size(s)}"


def _dilation(a: dict[str, Any]) -> str:
    d = a.get("dilation", (1, 1))
    return "" if d in ((1, 1), 1) else f", dil {_size(d)}"


def _conv(n: Node) -> str:
    a = n.attrs
    groups = f", g{a['groups']}" if a["groups"] > 1 else ""
    return f"conv {_size(a['kernel'])}, {a['out']}{_stride(a)}{groups}{_dilation(a)}"


def _dwconv(n: Node) -> str:
    a = n.attrs
    mult = f", x{a['multiplier']}" if a["multiplier"] > 1 else ""
    return f"dwconv {_size(a['kernel'])}{_stride(a)}{mult}{_dilation(a)}"


def _pool(name: str) -> Callable[[Node], str]:
    def label(n: Node) -> str:
        ceil = ", ceil" if n.attrs.get("ceil_mode") else ""
        return f"{name} {_size(n.attrs['kernel'])}{_stride(n.attrs)}{ceil}"

    return label


def _adaptive(name: str) -> Callable[[Node], str]:
    return lambda n: f"{name} to {_size(n.shape[1:])}"


def _up(stride: tuple[int, int]) -> str:
    return "" if stride == (1, 1) else f", x{stride[0]}" if stride[0] == stride[1] else f", x{_size(stride)}"


def _upsample(n: Node) -> str:
    a = n.attrs
    if a["size"] is not None:
        how = f"to {_size(a['size'])}"
    else:
        h, w = (f"{s:g}" for s in a["scale"])
        how = f"x{h}" if h == w else f"x{h}x{w}"
    return f"upsample {how}, {a['mode']}" + (", corners" if a["align_corners"] else "")


def _plain(name: str) -> Callable[[Node], str]:
    return lambda n: name


# op -> (family, label)
LABELS: dict[str, tuple[str, Callable[[Node], str]]] = {
    "input": ("input", lambda n: "input"),
    "conv": ("conv", _conv),
    "dwconv": ("conv", _dwconv),
    "linear": ("linear", lambda n: f"linear {n.attrs['out']}"),
    "batchnorm": ("norm", _plain("batchnorm")),
    "lrn": ("norm", lambda n: f"lrn {n.attrs['size']}"),
    "relu": ("activation", _plain("relu")),
    "relu6": ("activation", _plain("relu6")),
    "sigmoid": ("activation", _plain("sigmoid")),
    "tanh": ("activation", _plain("tanh")),
    "hardswish": ("activation", _plain("hardswish")),
    "hardsigmoid": ("activation", _plain("hardsigmoid")),
    "silu": ("activation", _plain("silu")),
    "gelu": ("activation", _plain("gelu")),
    "leaky_relu": ("activation", lambda n: f"leaky relu {n.attrs['slope']:g}"),
    "scale": ("activation", lambda n: f"x {n.attrs['factor']:g}"),
    "softmax": ("activation", lambda n: f"softmax dim {n.attrs['dim']}"),
    "maxpool": ("pool", _pool("maxpool")),
    "avgpool": ("pool", _pool("avgpool")),
    "adaptive_avgpool": ("pool", _adaptive("adaptive avgpool")),
    "adaptive_maxpool": ("pool", _adaptive("adaptive maxpool")),
    "global_avgpool": ("pool", _plain("global avgpool")),
    "global_maxpool": ("pool", _plain("global maxpool")),
    "conv_transpose": ("conv", lambda n: f"conv transpose {_size(n.attrs['kernel'])}, {n.attrs['out']}{_up(n.attrs['stride'])}"),
    "upsample": ("resample", _upsample),
    "pixel_shuffle": ("resample", lambda n: f"pixel shuffle x{n.attrs['factor']}"),
    "pad": ("resample", lambda n: f"pad {_size(n.attrs['padding'])}" + ("" if n.attrs["mode"] == "constant" else f" {n.attrs['mode']}")),
    "crop": ("resample", lambda n: f"crop to {_size(n.attrs['size'])}"),
    "identity": ("reshape", _plain("identity")),
    "dropout": ("reshape", lambda n: f"dropout {n.attrs['p']:g}"),
    "permute": ("reshape", lambda n: f"permute {n.attrs['order']}"),
    "layernorm": ("norm", lambda n: "layer norm" + (" (channels)" if n.attrs["channels_first"] else "")),
    "layer_scale": ("norm", lambda n: "layer scale"),
    "stochastic_depth": ("reshape", lambda n: f"stochastic depth {n.attrs['p']:.3g}"),
    "flatten": ("reshape", _plain("flatten")),
    "channel_shuffle": ("reshape", lambda n: f"shuffle g{n.attrs['groups']}"),
    # joins and the split: small nodes of their own shape, so branches stand out
    "chunk": ("join", lambda n: f"split {n.attrs['index'] + 1}/{n.attrs['chunks']}"),
    "concat": ("join", _plain("concat")),
    "add": ("join", _plain("+")),
    "mul": ("join", _plain("×")),
}

# the joins' own shapes: a circle for + and x, a flat box for concat and split
JOIN_SHAPES = {"add": "circle", "mul": "circle", "concat": "box", "chunk": "box"}


def family(n: Node) -> str:
    return LABELS[n.op][0]


def label(n: Node) -> str:
    return LABELS[n.op][1](n)
