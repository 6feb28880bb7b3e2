"""PyTorch lowerings: one `TorchOp` record per op of `archspec.ops.OPS`, in `LOWERINGS`.

A record holds everything the torch backend knows about one op: the `nn.Module`
constructor it lowers to (`module`); for ops without state, the plain call generated
`forward` methods write where torchvision would write `F.relu(x)` rather than keep a
module (`call`), and its in-place form (`call_inplace`); for the joins (add, concat,
mul), the expression that joins the inputs (`join`); the attributes that size a layer
(`sizes`); whether an in-place activation may overwrite its output (`overwritable`); the
tensors its module holds, which give the `state_dict` layout without torch (`state`); and its
shape rule over expressions, for sizes written as the spec's formulas: the sizes the rule
adds (`derived`: a conv's `in_channels` is the channels flowing in) and the channels it
gives (`channels`: a conv's are its `out`), the rank it gives where not its input's (`rank`),
whether it multiplies the spatial size in (`flattens`), and where it needs the channels of an
image (`layout`: a conv first, a per-position linear last; `channel_axes` follows them).

Adding an op means one `define(...)` in `archspec/ops` and one record here;
tests/test_torch_lowering.py fails for an op without a complete record and runs every
op's lowering against its shape rule.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from archspec.backends.torch.python import fold
from archspec.ir import Node

Shape = tuple[int, ...]
Arg = Callable[[str], str]  # an attribute's value, or the parameter name it becomes, as source
# (channels flowing in, an argument as Python) -> a size, as Python: the shape rule written over expressions
Symbolic = Callable[[ast.expr, Callable[[str], ast.expr]], ast.expr]


@dataclass(frozen=True)
class TorchOp:
    """How one op lowers to PyTorch. Fields an op does not use stay None (or empty)."""

    # (node, arg) -> the nn.Module constructor; `arg(name)` gives the attribute's value or parameter name
    module: Callable[[Node, Arg], str] | None = None
    # (node, input expression) -> a plain call, for stateless ops
    call: Callable[[Node, str], str] | None = None
    # the same call in place, for a value nothing reads afterwards (as torchvision's ReLU(inplace=True))
    call_inplace: Callable[[Node, str], str] | None = None
    # (input expressions) -> the join of a variadic op (add, concat, mul)
    join: Callable[[list[str]], str] | None = None
    # attributes that size a layer and may become constructor parameters of a block class
    sizes: tuple[str, ...] = ()
    # its backward does not read its own output: an in-place op that follows may overwrite it
    overwritable: bool = False
    # node -> (name, shape) of each parameter and buffer of its module, in state_dict order
    state: Callable[[Node], Iterator[tuple[str, Shape]]] | None = None
    # False only for the graph's input: the argument of forward, nothing to build
    lowered: bool = True
    # (its member, the input) -> forward's expression, for an op whose module is a parameter of the
    # block it is in (`layer_scale`: `self.layer_scale * x`), not a submodule; `state` names it ""
    apply: Callable[[str, str], str] | None = None
    # the sizes its shape rule adds (`in_channels`), as Python over the channels flowing in and its arguments
    derived: Mapping[str, Symbolic] = field(default_factory=dict)
    # the channels it gives, where they are not the channels it takes (conv: its `out`)
    channels: Symbolic | None = None
    # (node, its input's shape) -> whether `channels` is wrong for it, and the formula then (a chunk
    # of 3 channels into 2: torch.chunk's parts of ceil(c / k), the last one smaller)
    uneven: tuple[Callable[[Node, Shape], bool], Symbolic] | None = None
    # arguments whose PyTorch value differs from the spec's (softmax's dim counts the batch axis too):
    # the spec's value as an expression -> PyTorch's
    to_torch: Mapping[str, Callable[[ast.expr], ast.expr]] = field(default_factory=dict)
    # where it needs the channels of a [C, H, W]-shaped value, which the backend follows as one count:
    # "first" (it reads them there and changes the other axes: conv, pool, concat), "last" (it reads
    # the last axis and changes only that: a per-position linear), "any" (every element alike: relu,
    # add), "moves" (permute: it puts them where its order says); a function of the node where that varies
    layout: str | Callable[[Node], str] = "first"
    # node -> the rank of its output, where it is not its input's (None: the input's)
    rank: Callable[[Node], int | None] | None = None
    # its features are the channels times the spatial size flowing in, which the backend takes from the graph
    flattens: bool = False


def _chunk_part(c: ast.expr, k: ast.expr, i: ast.expr) -> ast.expr:
    """The channels of part `i` of torch.chunk(c, k): `(c + k - 1) // k`, the last part what is left
    (`(c + 3) // 4` where k is a literal; the second of two halves `c // 2`)."""
    if isinstance(k, ast.Constant) and k.value == 2 and isinstance(i, ast.Constant) and i.value == 1:
        return ast.BinOp(c, ast.FloorDiv(), k)  # the second half of two: c - (c + 1) // 2 is c // 2
    if isinstance(k, ast.Constant) and type(k.value) is int:  # (c + 3) // 4
        size = ast.BinOp(ast.BinOp(c, ast.Add(), ast.Constant(k.value - 1)), ast.FloorDiv(), k)
    else:
        size = ast.BinOp(ast.BinOp(ast.BinOp(c, ast.Add(), k), ast.Sub(), ast.Constant(1)), ast.FloorDiv(), k)
    if isinstance(i, ast.Constant) and i.value == 0:
        return size
    return ast.Call(ast.Name("min", ast.Load()), [size, ast.BinOp(c, ast.Sub(), ast.BinOp(i, ast.Mult(), size))], [])


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
    extra = f", pads={arg('padding')}" if asym else ""  # four sides given: (left, right, top, bottom), the spec's own
    # sizes are always written (they may differ between a block's instances); defaults are dropped later
    return (
        f"{cls}({arg('in_channels')}, {arg('out')}, {arg('kernel')}, stride={arg('stride')}, padding={'0' if asym else arg('padding')}"
        + _kw([("dilation", a["dilation"], (1, 1))])
        + f", groups={arg('groups')}"
        + (", bias=False" if not a["bias"] else "")
        + extra
        + ")"
    )


def _conv_transpose(n: Node, arg) -> str:
    a = n.attrs
    return (
        f"nn.ConvTranspose2d({arg('in_channels')}, {arg('out')}, {arg('kernel')}, stride={arg('stride')}, padding={arg('padding')}"
        + f", output_padding={arg('output_padding')}, groups={arg('groups')}"
        + (", bias=False" if not a["bias"] else "")
        + _kw([("dilation", a["dilation"], (1, 1))])
        + ")"
    )


def _upsample(n: Node, x: str | None = None) -> str:
    """`nn.Upsample(scale_factor=2.0)`, or with `x` its call `F.interpolate(x, scale_factor=2.0)`."""
    a = n.attrs
    how = f"size={lit(a['size'])}" if a["size"] is not None else f"scale_factor={_scale(a['scale'])}"
    mode = f", mode={a['mode']!r}" if a["mode"] != "nearest" or x is not None else ""
    corners = ", align_corners=True" if a["align_corners"] else ", align_corners=False" if a["mode"] == "bilinear" else ""
    return f"F.interpolate({x}, {how}{mode}{corners})" if x is not None else f"nn.Upsample({how}{mode}{corners})"


def _scale(s: tuple[float, float]) -> str:
    """(2.0, 2.0) -> "2", as people write it; (1.5, 2.0) -> "(1.5, 2.0)"."""
    if s[0] != s[1]:
        return repr(s)
    return repr(int(s[0])) if s[0].is_integer() else repr(s[0])


_PAD_MODULES = {"reflect": "nn.ReflectionPad2d", "replicate": "nn.ReplicationPad2d"}


def _pad(n: Node, x: str | None = None) -> str:
    a = n.attrs
    pads = lit(a["padding"][0]) if len(set(a["padding"])) == 1 else repr(a["padding"])
    if x is not None:
        mode = f", mode={a['mode']!r}" if a["mode"] != "constant" else ""
        value = f", value={a['value']!r}" if a["value"] else ""
        return f"F.pad({x}, {repr(a['padding'])}{mode}{value})"
    if a["mode"] in _PAD_MODULES:
        return f"{_PAD_MODULES[a['mode']]}({pads})"
    return f"nn.ConstantPad2d({pads}, {a['value']!r})" if a["value"] else f"nn.ZeroPad2d({pads})"


def _crop(n: Node, x: str) -> str:
    (top, left), (h, w) = n.attrs["offsets"], n.attrs["size"]
    return f"{x}[:, :, {top}:{top + h}, {left}:{left + w}]"


def _batchnorm(n: Node, arg) -> str:
    a = n.attrs
    cls = "nn.BatchNorm2d" if len(n.shape) == 3 else "nn.BatchNorm1d"
    return (
        f"{cls}({arg('channels')}" + _kw([("eps", a["eps"], 1e-5), ("momentum", a["momentum"], 0.1), ("affine", a["affine"], True)]) + ")"
    )


def _pool(cls: str, n: Node, extra: list[tuple[str, Any, Any]], x: str | None = None) -> str:
    """A pooling module (`nn.MaxPool2d(3, stride=2)`), or with `x` its call (`F.max_pool2d(x, 3, stride=2)`)."""
    a = n.attrs
    stride = a["stride"] if a["stride"] is not None else a["kernel"]  # None: the spec left it to the kernel
    return (
        f"{cls}({x + ', ' if x else ''}{lit(a['kernel'])}"
        + (f", stride={lit(stride)}" if stride != a["kernel"] else "")
        + _kw([("padding", a["padding"], (0, 0)), *extra])
        + ")"
    )


def _max_extra(n: Node) -> list[tuple[str, Any, Any]]:
    return [("dilation", n.attrs["dilation"], (1, 1)), ("ceil_mode", n.attrs["ceil_mode"], False)]


def _avg_extra(n: Node) -> list[tuple[str, Any, Any]]:
    return [("ceil_mode", n.attrs["ceil_mode"], False), ("count_include_pad", n.attrs["count_include_pad"], True)]


# ---- state tensors: what `state_dict()` of each module holds ----


def _conv_state(n: Node) -> Iterator[tuple[str, Shape]]:
    a = n.attrs
    kh, kw = a["kernel"]
    yield "weight", (a["out"], a["in_channels"] // a["groups"], kh, kw)
    if a["bias"]:
        yield "bias", (a["out"],)


def _conv_transpose_state(n: Node) -> Iterator[tuple[str, Shape]]:
    a = n.attrs
    kh, kw = a["kernel"]
    yield "weight", (a["in_channels"], a["out"] // a["groups"], kh, kw)
    if a["bias"]:
        yield "bias", (a["out"],)


def _linear_state(n: Node) -> Iterator[tuple[str, Shape]]:
    yield "weight", (n.attrs["out"], n.attrs["in_features"])
    if n.attrs["bias"]:
        yield "bias", (n.attrs["out"],)


def _batchnorm_state(n: Node) -> Iterator[tuple[str, Shape]]:
    c = n.attrs["channels"]
    if n.attrs["affine"]:
        yield "weight", (c,)
        yield "bias", (c,)
    yield "running_mean", (c,)
    yield "running_var", (c,)
    yield "num_batches_tracked", ()


def _batch_order(n: Node) -> tuple[int, ...]:
    """permute's order with the batch axis: (1, 2, 0) -> (0, 2, 3, 1)."""
    return (0, *(d + 1 for d in n.attrs["order"]))


def _batch_axis(d: ast.expr) -> ast.expr:
    """An axis of one image as an axis of the batch: one more, unless counted from the end."""
    try:
        v = ast.literal_eval(d)  # a literal, -1 included
    except ValueError:
        return ast.IfExp(ast.Compare(d, [ast.GtE()], [ast.Constant(0)]), ast.BinOp(d, ast.Add(), ast.Constant(1)), d)
    return ast.Constant(v + 1) if v >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-v))


def _times(a: ast.expr, b: ast.expr) -> ast.expr:
    """`a * b`, folded: a depthwise conv's `in_channels`, not `in_channels * 1`."""
    return fold(ast.BinOp(a, ast.Mult(), b))


_CONV = TorchOp(
    module=_conv,
    sizes=("in_channels", "out", "groups", "stride", "kernel", "padding"),
    overwritable=True,
    state=_conv_state,
    derived={"in_channels": lambda c, a: c},
    channels=lambda c, a: a("out"),
)
_DWCONV = replace(
    _CONV,
    sizes=(*_CONV.sizes, "multiplier"),  # it sizes `out`: an expression where the spec computes it
    derived={"in_channels": lambda c, a: c, "out": lambda c, a: _times(c, a("multiplier")), "groups": lambda c, a: c},
    channels=lambda c, a: _times(c, a("multiplier")),
)

def layout_of(n: Node) -> str:
    """Where node `n`'s op needs the channels of its input (`TorchOp.layout`)."""
    rule = LOWERINGS[n.op].layout
    return rule(n) if callable(rule) else rule


def channel_axes(g) -> dict[int, int]:
    """The axis of each node's output that holds its channels (0: [C, H, W]; 2: channels last, after
    `permute((1, 2, 0))`), by node id, idle nodes too: a permute moves it, an op on the channels
    first puts them first, any other op keeps its input's. 0 for features, which have one axis."""
    axes: dict[int, int] = {}
    for n in (*g.nodes, *g.idle):  # inputs come first: running nodes, then idle ones in order
        if len(n.shape) != 3 or not n.inputs or len(g.node(n.inputs[0]).shape) != 3:
            axes[n.id] = 0
        elif n.op == "permute":
            axes[n.id] = n.attrs["order"].index(axes[n.inputs[0]])
        else:
            axes[n.id] = 0 if layout_of(n) == "first" else axes[n.inputs[0]]
    return axes


def layout_refusal(n: Node, g, axes: dict[int, int]) -> str | None:
    """Why the backend cannot write node `n` where its input's channels are (`channel_axes`): it
    follows one channel count, on the first axis or the last. None: it can."""
    ins = [i for i in n.inputs if len(g.nodes[i].shape) == 3]
    if not ins:
        return None
    axis, rule = axes[ins[0]], layout_of(n)
    if len({axes[i] for i in ins}) > 1:
        return f"{_article(n.op)} of values whose channels are on different axes (a permute in one branch): permute them alike"
    if rule == "first" and axis != 0:
        return f"{_article(n.op)} of a value whose channels are last (after a permute): it takes them first; permute back to channels first (2, 0, 1) before it"
    if rule == "last" and axis != 2:
        return f"{_article(n.op)} on the last axis of a value whose channels are first (that axis is its width): permute to channels last (1, 2, 0) before it"
    if rule == "moves" and axes[n.id] == 1:
        if axis == 2 and n.attrs["order"] == (0, 2, 1):
            return "a swap of the last two axes of a channels-last value (its channels would move to the middle): permute back to channels first (2, 0, 1) before it"
        return "a permute that moves the channels to the middle axis: the backend follows them first or last"
    return None


def _article(op: str) -> str:
    return f"{'an' if op[0] in 'aeiou' else 'a'} {op}"


LOWERINGS: dict[str, TorchOp] = {
    # activations
    "relu": TorchOp(
        module=lambda n, arg: "nn.ReLU(inplace=True)",
        call=lambda n, x: f"F.relu({x})",
        call_inplace=lambda n, x: f"F.relu({x}, inplace=True)",
        layout="any",
    ),
    "relu6": TorchOp(
        module=lambda n, arg: "nn.ReLU6(inplace=True)",
        call=lambda n, x: f"F.relu6({x})",
        call_inplace=lambda n, x: f"F.relu6({x}, inplace=True)",
        layout="any",
    ),
    "sigmoid": TorchOp(module=lambda n, arg: "nn.Sigmoid()", call=lambda n, x: f"torch.sigmoid({x})", layout="any"),
    "tanh": TorchOp(module=lambda n, arg: "nn.Tanh()", call=lambda n, x: f"torch.tanh({x})", layout="any"),
    "hardswish": TorchOp(module=lambda n, arg: "nn.Hardswish()", call=lambda n, x: f"F.hardswish({x})", layout="any"),
    "hardsigmoid": TorchOp(module=lambda n, arg: "nn.Hardsigmoid()", call=lambda n, x: f"F.hardsigmoid({x})", layout="any"),
    "silu": TorchOp(module=lambda n, arg: "nn.SiLU()", call=lambda n, x: f"F.silu({x})", layout="any"),
    "gelu": TorchOp(module=lambda n, arg: "nn.GELU()", call=lambda n, x: f"F.gelu({x})", layout="any"),
    "leaky_relu": TorchOp(module=lambda n, arg: f"nn.LeakyReLU({n.attrs['slope']!r})", layout="any"),
    "scale": TorchOp(module=lambda n, arg: f"Scale({arg('factor')})", call=lambda n, x: f"{x} * {n.attrs['factor']!r}", layout="any"),
    # `dim` counts the axes of one image; torch's counts the batch too. A size, so that a dim the spec
    # computes is written as an expression (`dim=d + 1 if d >= 0 else d`) like any other size.
    "softmax": TorchOp(module=lambda n, arg: f"nn.Softmax(dim={arg('dim')})", sizes=("dim",), to_torch={"dim": lambda d: _batch_axis(d)}, layout="any"),
    # layers with weights
    "conv": _CONV,
    "dwconv": _DWCONV,
    "conv_transpose": TorchOp(
        module=_conv_transpose,
        sizes=("in_channels", "out", "groups", "stride", "kernel", "padding", "output_padding"),
        overwritable=True,
        state=_conv_transpose_state,
        derived={"in_channels": lambda c, a: c},
        channels=lambda c, a: a("out"),
    ),
    "linear": TorchOp(
        module=lambda n, arg: f"nn.Linear({arg('in_features')}, {arg('out')}" + (", bias=False" if not n.attrs["bias"] else "") + ")",
        sizes=("in_features", "out"),
        overwritable=True,
        state=_linear_state,
        derived={"in_features": lambda c, a: c},
        channels=lambda c, a: a("out"),
        rank=lambda n: None if n.attrs.get("per_position") else 1,  # features, unless applied at every position
        layout="last",  # per position; otherwise its input has one axis
    ),
    "batchnorm": TorchOp(
        module=_batchnorm, sizes=("channels",), overwritable=True, state=_batchnorm_state, derived={"channels": lambda c, a: c}
    ),
    "layernorm": TorchOp(
        module=lambda n, arg: f"{'LayerNorm2d' if n.attrs['channels_first'] else 'nn.LayerNorm'}({arg('features')}" + _kw([("eps", n.attrs["eps"], 1e-5)]) + ")",
        sizes=("features",),
        state=lambda n: iter([("weight", (n.attrs["features"],)), ("bias", (n.attrs["features"],))]),
        derived={"features": lambda c, a: c},
        layout=lambda n: "first" if n.attrs["channels_first"] else "last",
    ),
    "layer_scale": TorchOp(
        module=lambda n, arg: f"nn.Parameter(torch.full(({arg('channels')}, 1, 1), {arg('init')}))",
        sizes=("channels",),
        state=lambda n: iter([("", (n.attrs["channels"], 1, 1))]),
        derived={"channels": lambda c, a: c},
        apply=lambda member, x: f"{member} * {x}",
    ),
    "lrn": TorchOp(
        module=lambda n, arg: (
            f"nn.LocalResponseNorm({n.attrs['size']}"
            + _kw([("alpha", n.attrs["alpha"], 1e-4), ("beta", n.attrs["beta"], 0.75), ("k", n.attrs["k"], 1.0)])
            + ")"
        )
    ),
    # pooling
    "maxpool": TorchOp(
        module=lambda n, arg: _pool("nn.MaxPool2d", n, _max_extra(n)),
        call=lambda n, x: _pool("F.max_pool2d", n, _max_extra(n), x),
    ),
    "avgpool": TorchOp(
        module=lambda n, arg: _pool("nn.AvgPool2d", n, _avg_extra(n)),
        call=lambda n, x: _pool("F.avg_pool2d", n, _avg_extra(n), x),
    ),
    "adaptive_avgpool": TorchOp(
        module=lambda n, arg: f"nn.AdaptiveAvgPool2d({lit(n.attrs['size'])})",
        call=lambda n, x: f"F.adaptive_avg_pool2d({x}, {lit(n.attrs['size'])})",
    ),
    "adaptive_maxpool": TorchOp(
        module=lambda n, arg: f"nn.AdaptiveMaxPool2d({lit(n.attrs['size'])})",
        call=lambda n, x: f"F.adaptive_max_pool2d({x}, {lit(n.attrs['size'])})",
    ),
    "global_avgpool": TorchOp(module=lambda n, arg: "nn.AdaptiveAvgPool2d(1)", call=lambda n, x: f"F.adaptive_avg_pool2d({x}, 1)"),
    "global_maxpool": TorchOp(module=lambda n, arg: "nn.AdaptiveMaxPool2d(1)", call=lambda n, x: f"F.adaptive_max_pool2d({x}, 1)"),
    # resampling
    "upsample": TorchOp(module=lambda n, arg: _upsample(n), call=lambda n, x: _upsample(n, x)),
    "pixel_shuffle": TorchOp(
        module=lambda n, arg: f"nn.PixelShuffle({n.attrs['factor']})",
        call=lambda n, x: f"F.pixel_shuffle({x}, {n.attrs['factor']})",
        channels=lambda c, a: ast.BinOp(c, ast.FloorDiv(), ast.BinOp(a("factor"), ast.Pow(), ast.Constant(2))),
    ),
    "pad": TorchOp(module=lambda n, arg: _pad(n), call=lambda n, x: _pad(n, x)),
    "crop": TorchOp(module=lambda n, arg: f"CenterCrop({lit(n.attrs['size'])})", call=_crop),
    # structure
    "input": TorchOp(lowered=False),
    "identity": TorchOp(module=lambda n, arg: "nn.Identity()", call=lambda n, x: x, layout="any"),
    "dropout": TorchOp(module=lambda n, arg: "nn.Dropout()" if n.attrs["p"] == 0.5 else f"nn.Dropout({n.attrs['p']!r})", layout="any"),
    "stochastic_depth": TorchOp(module=lambda n, arg: f"StochasticDepth({n.attrs['p']!r}, {n.attrs['mode']!r})", layout="any"),
    "flatten": TorchOp(module=lambda n, arg: "nn.Flatten()", call=lambda n, x: f"torch.flatten({x}, 1)", rank=lambda n: 1, flattens=True, layout="any"),
    "permute": TorchOp(
        module=lambda n, arg: f"Permute({lit(_batch_order(n))})",
        call=lambda n, x: f"{x}.permute({', '.join(map(str, _batch_order(n)))})",
        layout="moves",
    ),
    "chunk": TorchOp(
        module=lambda n, arg: f"Chunk({n.attrs['chunks']}, {n.attrs['index']})",
        call=lambda n, x: f"{x}.chunk({n.attrs['chunks']}, dim=1)[{n.attrs['index']}]",
        channels=lambda c, a: ast.BinOp(c, ast.FloorDiv(), a("chunks")),  # an even split
        uneven=(lambda n, shape: shape[0] % n.attrs["chunks"] != 0, lambda c, a: _chunk_part(c, a("chunks"), a("index"))),
    ),
    "channel_shuffle": TorchOp(
        module=lambda n, arg: f"nn.ChannelShuffle({n.attrs['groups']})",
        call=lambda n, x: f"F.channel_shuffle({x}, {n.attrs['groups']})",
    ),
    # joins
    "concat": TorchOp(join=lambda xs: f"torch.cat([{', '.join(xs)}], 1)", overwritable=True),
    "add": TorchOp(join=lambda xs: " + ".join(xs), overwritable=True, layout="any"),
    "mul": TorchOp(join=lambda xs: " * ".join(xs), overwritable=True, layout="any"),
}

# helper classes emitted into a generated file only when one of its modules uses them
HELPERS: dict[str, str] = {
    "PaddedConv2d": '''class PaddedConv2d(nn.Conv2d):
    """A convolution with asymmetric zero padding (left, right, top, bottom)."""

    def __init__(self, *args, pads: tuple[int, int, int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(F.pad(x, self.pads), self.weight, self.bias)  # not super(): TorchScript compiles this
''',
    "CenterCrop": '''class CenterCrop(nn.Module):
    """Keeps the middle (h, w) of an image; an odd extra row or column is cut from the bottom and right."""

    def __init__(self, size: int | tuple[int, int]):
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.size
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        return x[..., top : top + h, left : left + w]
''',
    "center_crop": '''def center_crop(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The middle of `x` at the height and width of `like`; an odd extra row or column is cut from the bottom and right."""
    h, w = like.shape[-2:]
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]
''',
    "StochasticDepth": '''class StochasticDepth(nn.Module):
    """Drops its input (a residual branch) with probability p in training, per sample ("row") or
    for the whole batch ("batch"), and scales what it keeps by 1/(1-p) (torchvision.ops.StochasticDepth)."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"
''',
    "Scale": '''class Scale(nn.Module):
    """Multiplies by a constant (Inception-ResNet's residual scaling: out * scale + x)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"
''',
    "Permute": '''class Permute(nn.Module):
    """Reorders the axes (torchvision.ops.misc.Permute): (0, 2, 3, 1) puts channels last."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)
''',
    "LayerNorm2d": '''class LayerNorm2d(nn.LayerNorm):
    """Layer normalisation over the channels of an [N, C, H, W] batch (torchvision's ConvNeXt LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
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
