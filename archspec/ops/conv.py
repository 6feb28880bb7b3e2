"""Convolution, depthwise and transposed convolution and the fully connected layer: the ops that carry macs."""

from __future__ import annotations

import math

from archspec.ops.registry import Attr, Cost, OpError, define
from archspec.ops.shapes import need_flat, need_image, window_out


def _conv_geometry(op: str, a: dict, x) -> tuple[int, int]:
    c, h, w = x
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    dh, dw = a["dilation"]
    pad = a["padding"]
    if pad == "valid":
        pad = (0, 0, 0, 0)
    elif pad == "same":
        if (sh, sw) != (1, 1):
            raise OpError(f'{op}: padding="same" needs stride 1 (as in PyTorch)', "padding")
        th, tw = dh * (kh - 1), dw * (kw - 1)
        pad = (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    elif len(pad) == 2:
        pad = (pad[1], pad[1], pad[0], pad[0])
    left, right, top, bottom = pad
    a["pads"] = (left, right, top, bottom)
    oh = window_out(op, h, kh, sh, top, bottom, dh, False, "height")
    ow = window_out(op, w, kw, sw, left, right, dw, False, "width")
    return oh, ow


def _conv_cost(a: dict, inputs, out) -> Cost:
    kh, kw = a["kernel"]
    per_out = (a["in_channels"] // a["groups"]) * kh * kw
    params = a["out"] * per_out + (a["out"] if a["bias"] else 0)
    return Cost(params=params, macs=out[0] * out[1] * out[2] * per_out)


_WINDOW = (
    Attr("stride", "pair", 1, "step of the window"),
    Attr("padding", "conv_pad", 0, 'int, (h, w), (left, right, top, bottom), "same" or "valid"'),
    Attr("dilation", "pair", 1, "spacing of the kernel taps"),
)


@define(
    "conv",
    Attr("out", "int", doc="output channels"),
    Attr("kernel", "pair", doc="kernel size: int or (kh, kw)"),
    *_WINDOW,
    Attr("groups", "int", 1, "grouped convolution (ResNeXt); in and out channels must divide"),
    Attr("bias", "bool", True, "add a learned bias"),
    doc="2-D convolution; input channels come from the incoming shape.",
    cost=_conv_cost,
    spatial=("kernel", "stride", "padding", "dilation"),
)
def conv(a: dict, inputs):
    c, _, _ = need_image("conv", inputs[0])
    g = a["groups"]
    if c % g:
        raise OpError(f"conv: input channels {c} are not divisible by groups={g}", "groups")
    if a["out"] % g:
        raise OpError(f"conv: output channels {a['out']} are not divisible by groups={g}", "groups")
    a["in_channels"] = c
    return (a["out"], *_conv_geometry("conv", a, inputs[0]))


@define(
    "dwconv",
    Attr("kernel", "pair", doc="kernel size: int or (kh, kw)"),
    *_WINDOW,
    Attr("multiplier", "int", 1, "output channels per input channel"),
    Attr("bias", "bool", True, "add a learned bias"),
    doc="Depthwise convolution: one filter per input channel (a conv with groups = channels).",
    cost=_conv_cost,
    aliases=("depthwise_conv",),
    spatial=("kernel", "stride", "padding", "dilation"),
)
def dwconv(a: dict, inputs):
    c, _, _ = need_image("dwconv", inputs[0])
    a["in_channels"] = c
    a["groups"] = c
    a["out"] = c * a["multiplier"]
    return (a["out"], *_conv_geometry("dwconv", a, inputs[0]))


def _conv_transpose_cost(a: dict, inputs, out) -> Cost:
    """Each input pixel scatters a kernel of taps to every output channel of its group:
    in * out / groups * kh * kw multiply-adds per input pixel (PyTorch's FlopCounterMode counts so)."""
    kh, kw = a["kernel"]
    per_in = (a["out"] // a["groups"]) * kh * kw
    c, h, w = inputs[0]
    params = a["in_channels"] * per_in + (a["out"] if a["bias"] else 0)
    return Cost(params=params, macs=c * h * w * per_in)


@define(
    "conv_transpose",
    Attr("out", "int", doc="output channels"),
    Attr("kernel", "pair", doc="kernel size: int or (kh, kw)"),
    Attr("stride", "pair", 1, "step of the window (the upsampling factor)"),
    Attr("padding", "pad", 0, "int or (h, w): taken off each side of the output"),
    Attr("output_padding", "pad", 0, "int or (h, w): added to one side of the output, below the stride"),
    Attr("dilation", "pair", 1, "spacing of the kernel taps"),
    Attr("groups", "int", 1, "grouped: in and out channels must divide"),
    Attr("bias", "bool", True, "add a learned bias"),
    doc="Transposed 2-D convolution (a learned upsampling: U-Net's up-convolution, FCN's deconvolution).",
    cost=_conv_transpose_cost,
    aliases=("deconv", "upconv"),
    spatial=("kernel", "stride", "padding", "output_padding", "dilation"),
)
def conv_transpose(a: dict, inputs):
    c, h, w = need_image("conv_transpose", inputs[0])
    g = a["groups"]
    if c % g or a["out"] % g:
        what, n = ("input", c) if c % g else ("output", a["out"])
        raise OpError(f"conv_transpose: {what} channels {n} are not divisible by groups={g}", "groups")
    for axis, op, s, d in zip(("height", "width"), a["output_padding"], a["stride"], a["dilation"]):
        if op >= max(s, d):
            raise OpError(f"conv_transpose: output_padding {op} must be smaller than the stride or the dilation along the {axis} (as in PyTorch)", "output_padding")
    a["in_channels"] = c
    out = []
    for axis, size, k, s, p, op, d in zip(("height", "width"), (h, w), a["kernel"], a["stride"], a["padding"], a["output_padding"], a["dilation"]):
        n = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        if n < 1:
            raise OpError(f"conv_transpose: the {axis} shrinks to {n}: input {axis} {size}, stride {s}, kernel {k} and padding {p} on each side", "padding")
        out.append(n)
    return (a["out"], *out)


def _linear_cost(a: dict, inputs, out) -> Cost:
    n = a["in_features"] * a["out"]
    return Cost(params=n + (a["out"] if a["bias"] else 0), macs=n * math.prod(inputs[0][:-1]))


@define(
    "linear",
    Attr("out", "int", doc="output features"),
    Attr("bias", "bool", True, "add a learned bias"),
    Attr("per_position", "bool", False, "apply it to the last axis at every position ([H, W, F] -> [H, W, out]), as ConvNeXt does channels last"),
    doc="Fully connected layer on a flat input (or, per_position, on the last axis of any input).",
    cost=_linear_cost,
    aliases=("fc", "dense"),
)
def linear(a: dict, inputs):
    x = inputs[0]
    if a["per_position"]:
        a["in_features"] = x[-1]
        return (*x[:-1], a["out"])
    a["in_features"] = need_flat("linear", x)
    return (a["out"],)
