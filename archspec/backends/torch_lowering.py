"""PyTorch lowerings: one entry per op, keyed by the op's name.

Each op lowers to an `nn.Module` constructor (`module`), and ops without state or
arguments also to a plain call (`call`) that generated `forward` methods use where
torchvision would write `F.relu(x)` rather than keep a module. Adding an op to
`archspec/ops` means adding one entry here; tests check that none is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archspec.ir import Node


def lit(v: Any) -> str:
    """A Python literal for a value: tuples of equal ints collapse to one int, as people write them."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] and isinstance(v[0], int):
        return repr(v[0])
    if isinstance(v, float) and v == int(v) and abs(v) < 1e15:
        return repr(v)
    return repr(v)


def _kw(pairs: list[tuple[str, Any, Any]]) -> str:
    """Keyword arguments, leaving out those equal to PyTorch's defaults."""
    return "".join(f", {k}={lit(v)}" for k, v, default in pairs if v != default)


def _conv(n: Node, arg) -> str:
    a = n.attrs
    pad = a["padding"]
    asym = isinstance(pad, tuple) and len(pad) == 4
    cls = "PaddedConv2d" if asym else "nn.Conv2d"
    extra = f", pads={a['pads']!r}" if asym else ""
    # sizes are always written (they may differ between a block's instances); defaults are dropped later
    return (
        f"{cls}({arg('in_channels')}, {arg('out')}, {arg('kernel')}, stride={arg('stride')}, padding={'0' if asym else arg('padding')}"
        + _kw([("dilation", a["dilation"], (1, 1))])
        + f", groups={arg('groups')}"
        + (", bias=False" if not a["bias"] else "")
        + extra
        + ")"
    )


def _batchnorm(n: Node, arg) -> str:
    a = n.attrs
    cls = "nn.BatchNorm2d" if len(n.shape) == 3 else "nn.BatchNorm1d"
    return (
        f"{cls}({arg('channels')}" + _kw([("eps", a["eps"], 1e-5), ("momentum", a["momentum"], 0.1), ("affine", a["affine"], True)]) + ")"
    )


def _pool(cls: str, n: Node, extra: list[tuple[str, Any, Any]]) -> str:
    a = n.attrs
    stride = a["stride"]
    return (
        f"{cls}({lit(a['kernel'])}"
        + (f", stride={lit(stride)}" if stride != a["kernel"] else "")
        + _kw([("padding", a["padding"], (0, 0)), *extra])
        + ")"
    )


# module constructors: (node, arg) -> source; `arg(name)` gives the attribute's value or parameter name
MODULES: dict[str, Callable[[Node, Callable[[str], str]], str]] = {
    "conv": _conv,
    "dwconv": _conv,
    "linear": lambda n, arg: f"nn.Linear({arg('in_features')}, {arg('out')}" + (", bias=False" if not n.attrs["bias"] else "") + ")",
    "batchnorm": _batchnorm,
    "lrn": lambda n, arg: (
        f"nn.LocalResponseNorm({n.attrs['size']}"
        + _kw([("alpha", n.attrs["alpha"], 1e-4), ("beta", n.attrs["beta"], 0.75), ("k", n.attrs["k"], 1.0)])
        + ")"
    ),
    "relu": lambda n, arg: "nn.ReLU(inplace=True)",
    "relu6": lambda n, arg: "nn.ReLU6(inplace=True)",
    "sigmoid": lambda n, arg: "nn.Sigmoid()",
    "tanh": lambda n, arg: "nn.Tanh()",
    "hardswish": lambda n, arg: "nn.Hardswish()",
    "hardsigmoid": lambda n, arg: "nn.Hardsigmoid()",
    "silu": lambda n, arg: "nn.SiLU()",
    "gelu": lambda n, arg: "nn.GELU()",
    "leaky_relu": lambda n, arg: f"nn.LeakyReLU({n.attrs['slope']!r})",
    "softmax": lambda n, arg: f"nn.Softmax(dim={n.attrs['dim'] + 1 if n.attrs['dim'] >= 0 else n.attrs['dim']})",
    "dropout": lambda n, arg: "nn.Dropout()" if n.attrs["p"] == 0.5 else f"nn.Dropout({n.attrs['p']!r})",
    "maxpool": lambda n, arg: _pool(
        "nn.MaxPool2d", n, [("dilation", n.attrs["dilation"], (1, 1)), ("ceil_mode", n.attrs["ceil_mode"], False)]
    ),
    "avgpool": lambda n, arg: _pool(
        "nn.AvgPool2d", n, [("ceil_mode", n.attrs["ceil_mode"], False), ("count_include_pad", n.attrs["count_include_pad"], True)]
    ),
    "adaptive_avgpool": lambda n, arg: f"nn.AdaptiveAvgPool2d({lit(n.attrs['size'])})",
    "adaptive_maxpool": lambda n, arg: f"nn.AdaptiveMaxPool2d({lit(n.attrs['size'])})",
    "global_avgpool": lambda n, arg: "nn.AdaptiveAvgPool2d(1)",
    "global_maxpool": lambda n, arg: "nn.AdaptiveMaxPool2d(1)",
    "flatten": lambda n, arg: "nn.Flatten()",
    "identity": lambda n, arg: "nn.Identity()",
    "chunk": lambda n, arg: f"Chunk({n.attrs['chunks']}, {n.attrs['index']})",
    "channel_shuffle": lambda n, arg: f"nn.ChannelShuffle({n.attrs['groups']})",
}

# plain calls for stateless ops without arguments: (input expression) -> source
CALLS: dict[str, Callable[[Node, str], str]] = {
    "relu": lambda n, x: f"F.relu({x})",
    "relu6": lambda n, x: f"F.relu6({x})",
    "sigmoid": lambda n, x: f"torch.sigmoid({x})",
    "tanh": lambda n, x: f"torch.tanh({x})",
    "hardswish": lambda n, x: f"F.hardswish({x})",
    "hardsigmoid": lambda n, x: f"F.hardsigmoid({x})",
    "silu": lambda n, x: f"F.silu({x})",
    "gelu": lambda n, x: f"F.gelu({x})",
    "flatten": lambda n, x: f"torch.flatten({x}, 1)",
    "identity": lambda n, x: x,
    "global_avgpool": lambda n, x: f"F.adaptive_avg_pool2d({x}, 1)",
    "global_maxpool": lambda n, x: f"F.adaptive_max_pool2d({x}, 1)",
    "chunk": lambda n, x: f"{x}.chunk({n.attrs['chunks']}, dim=1)[{n.attrs['index']}]",
    "channel_shuffle": lambda n, x: f"F.channel_shuffle({x}, {n.attrs['groups']})",
}

# the same calls in place, for a value nothing reads afterwards (as torchvision's ReLU(inplace=True))
CALLS_INPLACE: dict[str, Callable[[Node, str], str]] = {
    "relu": lambda n, x: f"F.relu({x}, inplace=True)",
    "relu6": lambda n, x: f"F.relu6({x}, inplace=True)",
}

# joins: (input expressions) -> source
JOINS: dict[str, Callable[[list[str]], str]] = {
    "concat": lambda xs: f"torch.cat([{', '.join(xs)}], 1)",
    "add": lambda xs: " + ".join(xs),
    "mul": lambda xs: " * ".join(xs),
}

# module attributes that size a layer and may become constructor parameters of a block class
SIZES: dict[str, tuple[str, ...]] = {
    "conv": ("in_channels", "out", "groups", "stride", "kernel", "padding"),
    "dwconv": ("in_channels", "out", "groups", "stride", "kernel", "padding"),
    "linear": ("in_features", "out"),
    "batchnorm": ("channels",),
}

# helper classes emitted into a generated file only when one of its modules uses them
HELPERS: dict[str, str] = {
    "PaddedConv2d": '''class PaddedConv2d(nn.Conv2d):
    """A convolution with asymmetric zero padding (left, right, top, bottom)."""

    def __init__(self, *args, pads: tuple[int, int, int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))
''',
    "Chunk": '''class Chunk(nn.Module):
    """Keeps one part of a channel split: x.chunk(chunks, dim=1)[index]."""

    def __init__(self, chunks: int, index: int):
        super().__init__()
        self.chunks, self.index = chunks, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.chunks, dim=1)[self.index]
''',
}
