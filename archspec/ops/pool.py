"""Pooling: windows (max, average), adaptive and global pools. No params, no macs."""

from __future__ import annotations

from archspec.ops.registry import Attr, OpError, define
from archspec.ops.shapes import need_image, window_out


def _window(op: str, a: dict, x):
    c, h, w = need_image(op, x)
    kh, kw = a["kernel"]
    if a["stride"] is None:
        a["stride"] = (kh, kw)
    sh, sw = a["stride"]
    ph, pw = a["padding"]
    dh, dw = a.get("dilation", (1, 1))
    if ph * 2 > kh or pw * 2 > kw:
        raise OpError(f"{op}: padding {a['padding']} must be at most half the kernel {a['kernel']} (as in PyTorch)", "padding")
    ceil = a["ceil_mode"]
    return (c, window_out(op, h, kh, sh, ph, ph, dh, ceil, "height"), window_out(op, w, kw, sw, pw, pw, dw, ceil, "width"))


_POOL = (
    Attr("kernel", "pair", doc="window size"),
    Attr("stride", "pair?", None, "step (default: the kernel size)"),
    Attr("padding", "pad", 0, "implicit padding on each side"),
)


@define(
    "maxpool",
    *_POOL,
    Attr("dilation", "pair", 1),
    Attr("ceil_mode", "bool", False, "round the output size up"),
    doc="Max pooling.",
    spatial=("kernel", "stride", "padding", "dilation", "ceil_mode"),
)
def maxpool(a: dict, inputs):
    return _window("maxpool", a, inputs[0])


@define(
    "avgpool",
    *_POOL,
    Attr("ceil_mode", "bool", False, "round the output size up"),
    Attr("count_include_pad", "bool", True, "count padded zeros in the average"),
    doc="Average pooling.",
    spatial=("kernel", "stride", "padding", "ceil_mode"),
)
def avgpool(a: dict, inputs):
    return _window("avgpool", a, inputs[0])


def _adaptive(op: str):
    def infer(a: dict, inputs):
        c, _, _ = need_image(op, inputs[0])
        return (c, *a["size"])

    return infer


define("adaptive_avgpool", Attr("size", "size", doc="output size: int or (h, w)"), doc="Average pooling to a fixed output size.", spatial=("size",), fixes_spatial=True)(
    _adaptive("adaptive_avgpool")
)
define("adaptive_maxpool", Attr("size", "size", doc="output size: int or (h, w)"), doc="Max pooling to a fixed output size.", spatial=("size",), fixes_spatial=True)(
    _adaptive("adaptive_maxpool")
)


def _global(op: str):
    def infer(a: dict, inputs):
        c, _, _ = need_image(op, inputs[0])
        return (c, 1, 1)

    return infer


define("global_avgpool", doc="Average over the whole plane: [C, H, W] -> [C, 1, 1].", fixes_spatial=True)(_global("global_avgpool"))
define("global_maxpool", doc="Max over the whole plane: [C, H, W] -> [C, 1, 1].", fixes_spatial=True)(_global("global_maxpool"))
