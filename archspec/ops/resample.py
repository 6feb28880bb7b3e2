"""Ops that change the spatial size without weights: upsample, pixel shuffle, pad and center crop
(the decoders of U-Net, FCN and LR-ASPP, and YOLO's neck)."""

from __future__ import annotations

import math

from archspec.ops.registry import Attr, OpError, define
from archspec.ops.shapes import fmt, need_image


@define(
    "upsample",
    Attr("scale", "scale?", None, "factor: a number or (h, w); the output is floor(size * scale), as in PyTorch"),
    Attr("size", "size?", None, "or the output size: int or (h, w)"),
    Attr("like", "value?", None, 'or the size of the value of that name ("input": the network\'s or the block\'s input)'),
    Attr("mode", "one of nearest|bilinear", "nearest", '"nearest" or "bilinear"'),
    Attr("align_corners", "bool", False, "bilinear only: align the corner pixels (PyTorch's align_corners=True)"),
    doc="Resizes the image (nn.Upsample): nearest or bilinear, by a factor or to a size.",
    aliases=("interpolate", "resize"),
    spatial=("scale", "size", "like"),
)
def upsample(a: dict, inputs):
    c, h, w = need_image("upsample", inputs[0])
    if (a["scale"] is None) == (a["size"] is None):
        raise OpError("upsample: give either scale or size, not " + ("both" if a["scale"] else "neither"), "scale" if a["scale"] else None)
    if a["align_corners"] and a["mode"] != "bilinear":
        raise OpError('upsample: align_corners applies to mode="bilinear" only', "align_corners")
    if a["size"] is not None:
        return (c, *a["size"])
    oh, ow = math.floor(h * a["scale"][0]), math.floor(w * a["scale"][1])
    if oh < 1 or ow < 1:
        raise OpError(f"upsample: scale {a['scale']} shrinks {h}x{w} to {oh}x{ow}", "scale")
    return (c, oh, ow)


@define(
    "pixel_shuffle",
    Attr("factor", "int", doc="the upscale factor r: C*r*r channels become C, each side r times longer"),
    doc="Rearranges channels into space, [C*r*r, H, W] -> [C, H*r, W*r] (sub-pixel convolution).",
    spatial=("factor",),
)
def pixel_shuffle(a: dict, inputs):
    c, h, w = need_image("pixel_shuffle", inputs[0])
    r = a["factor"]
    if c % (r * r):
        raise OpError(f"pixel_shuffle: {c} channels are not divisible by factor * factor = {r * r}", "factor")
    return (c // (r * r), h * r, w * r)


@define(
    "pad",
    Attr("padding", "pad4", doc="int, (h, w) or (left, right, top, bottom)"),
    Attr("value", "float", 0.0, "the fill of constant padding"),
    Attr("mode", "one of constant|reflect|replicate", "constant", '"constant", "reflect" or "replicate"'),
    doc="Pads the image's borders (F.pad): a constant, a reflection, or the edge repeated.",
    spatial=("padding",),
)
def pad(a: dict, inputs):
    c, h, w = need_image("pad", inputs[0])
    left, right, top, bottom = a["padding"]
    if a["mode"] == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise OpError(f"pad: reflect padding must be smaller than the input, here {h}x{w}", "padding")
    if a["value"] != 0.0 and a["mode"] != "constant":
        raise OpError('pad: value applies to mode="constant" only', "value")
    return (c, h + top + bottom, w + left + right)


@define(
    "crop",
    Attr("size", "size?", None, "the output size: int or (h, w)"),
    Attr("like", "value?", None, "or the size of the value of that name (the original U-Net crops a skip to the decoder's size)"),
    doc="Center crop (the original U-Net's copy-and-crop): keeps the middle (h, w), the extra row or column off the bottom and right.",
    aliases=("center_crop",),
    spatial=("size", "like"),
)
def crop(a: dict, inputs):
    c, h, w = need_image("crop", inputs[0])
    if a["size"] is None:
        raise OpError("crop: give the size, or like=NAME for the size of that value")
    oh, ow = a["size"]
    if oh > h or ow > w:
        raise OpError(f"crop: the crop {oh}x{ow} is larger than its input {fmt(inputs[0])}", "size")
    a["offsets"] = ((h - oh) // 2, (w - ow) // 2)  # top, left
    return (c, oh, ow)
