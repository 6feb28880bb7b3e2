"""Ops that move or join data: flatten, identity, dropout and stochastic depth, channel split and shuffle, and the joins."""

from __future__ import annotations

import math

from archspec.ops.registry import Attr, OpError, define
from archspec.ops.shapes import fmt, need_image


@define("input", doc="The network's input.", internal=True)
def input_(a: dict, inputs):
    return a["shape"]


@define("identity", doc="Passes its input through (an explicit branch of add, concat or mul).")
def identity(a: dict, inputs):
    return inputs[0]


@define("dropout", Attr("p", "prob", 0.5, "probability of zeroing an element"), doc="Dropout (identity at inference).")
def dropout(a: dict, inputs):
    return inputs[0]


@define(
    "stochastic_depth",
    Attr("p", "prob", doc="probability of dropping the input"),
    Attr("mode", "one of row|batch", "row", '"row" (each sample on its own) or "batch" (the whole batch at once)'),
    doc="Stochastic depth (Huang et al. 2016), on a residual branch: in training, zeroes its input with probability p "
    "(per sample or per batch) and scales the rest by 1/(1-p); identity at inference (torchvision's StochasticDepth).",
)
def stochastic_depth(a: dict, inputs):
    return inputs[0]


@define(
    "permute",
    Attr("order", "axes", doc="the axes in their new order, the batch axis left out: (1, 2, 0) puts channels last"),
    doc="Reorders the axes, as torch.permute without the batch axis: [C, H, W] -> [H, W, C] with (1, 2, 0) (ConvNeXt's channels-last block).",
)
def permute(a: dict, inputs):
    x = inputs[0]
    if sorted(a["order"]) != list(range(len(x))):
        raise OpError(f"permute: {a['order']} is not an order of the {len(x)} axes of {fmt(x)}", "order", help=f"a permutation of {tuple(range(len(x)))}")
    return tuple(x[i] for i in a["order"])


@define("flatten", doc="[C, H, W] -> [C*H*W].")
def flatten(a: dict, inputs):
    return (math.prod(inputs[0]),)


@define(
    "chunk",
    Attr("chunks", "int", doc="how many parts to split the channels into"),
    Attr("index", "int0", doc="which part to keep (0-based)"),
    doc="Keeps one part of a channel split (ShuffleNet v2's `x.chunk(2, dim=1)`), with torch.chunk's sizes.",
)
def chunk(a: dict, inputs):
    x = inputs[0]
    c = x[0]
    size = math.ceil(c / a["chunks"])
    parts = math.ceil(c / size) if size else 0
    if a["index"] >= parts:
        raise OpError(f"chunk: index {a['index']} is out of range: {c} channels split into {parts} part(s)", "index")
    a["size"] = size
    return (min(size, c - a["index"] * size), *x[1:])


@define("channel_shuffle", Attr("groups", "int", doc="number of channel groups"), doc="Interleaves channel groups (ShuffleNet).")
def channel_shuffle(a: dict, inputs):
    c, _, _ = need_image("channel_shuffle", inputs[0])
    if c % a["groups"]:
        raise OpError(f"channel_shuffle: {c} channels are not divisible by groups={a['groups']}", "groups")
    return inputs[0]


# ---- joins: the ops behind `concat:`, `add:` and `mul:` ----


class JoinError(OpError):
    """A join's inputs disagree; `culprit` is the index of the first input that does."""

    def __init__(self, message: str, culprit: int, help: str | None = None):
        super().__init__(message, help=help)
        self.culprit = culprit


@define("concat", doc="Joins branches along channels.", variadic=True, internal=True)
def concat(a: dict, inputs):
    first = inputs[0]
    for i, x in enumerate(inputs[1:], 1):
        if len(x) != len(first) or x[1:] != first[1:]:
            what = "ranks" if len(x) != len(first) else "spatial sizes"
            raise JoinError(f"concat: branch {i + 1} gives {fmt(x)} but branch 1 gives {fmt(first)}: the {what} differ", i)
    return (sum(x[0] for x in inputs), *first[1:])


@define("add", doc="Sums branches element-wise (a residual connection).", variadic=True, internal=True)
def add(a: dict, inputs):
    first = inputs[0]
    for i, x in enumerate(inputs[1:], 1):
        if x != first:
            what = "channels" if len(x) == len(first) and x[1:] == first[1:] else "shapes"
            raise JoinError(
                f"add: branch shapes differ: {fmt(first)} and {fmt(x)} (the {what} do not match)",
                i,
                help="give the shortcut a projection (e.g. `downsample if stride != 1 or in.channels != out: ...`)",
            )
    return first


def _broadcast(x, y):
    if x == y:
        return x
    if len(x) == len(y) and all(a == b or a == 1 or b == 1 for a, b in zip(x, y)):
        return tuple(max(a, b) for a, b in zip(x, y))
    return None


@define("mul", doc="Multiplies branches element-wise, broadcasting [C, 1, 1] gates (squeeze-and-excitation).", variadic=True, internal=True)
def mul(a: dict, inputs):
    out = inputs[0]
    for i, x in enumerate(inputs[1:], 1):
        b = _broadcast(out, x)
        if b is None:
            raise JoinError(f"mul: branch shapes {fmt(out)} and {fmt(x)} do not broadcast", i)
        out = b
    return out
