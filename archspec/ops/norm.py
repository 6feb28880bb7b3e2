"""Normalisation layers, and the learned per-channel scale that goes with them."""

from __future__ import annotations

from archspec.ops.registry import Attr, Cost, OpError, define
from archspec.ops.shapes import fmt


def _bn_cost(a: dict, inputs, out) -> Cost:
    c = out[0]
    return Cost(params=2 * c if a["affine"] else 0, buffers=2 * c)


@define(
    "batchnorm",
    Attr("eps", "float+", 1e-5, "added to the variance"),
    Attr("momentum", "prob", 0.1, "running-statistics momentum"),
    Attr("affine", "bool", True, "learn a scale and a shift"),
    doc="Batch normalisation over channels ([C, H, W]) or features ([F]); running mean and variance are buffers.",
    cost=_bn_cost,
    aliases=("bn",),
)
def batchnorm(a: dict, inputs):
    x = inputs[0]
    if len(x) not in (1, 3):
        raise OpError(f"batchnorm expects [C, H, W] or [F] but gets {fmt(x)}")
    a["channels"] = x[0]
    return x


def _ln_cost(a: dict, inputs, out) -> Cost:
    return Cost(params=2 * a["features"])


@define(
    "layernorm",
    Attr("eps", "float+", 1e-5, "added to the variance"),
    Attr("channels_first", "bool", False, "normalise the channels of [C, H, W] (torchvision's LayerNorm2d) rather than the last axis"),
    doc="Layer normalisation with a learned scale and shift: over the last axis (nn.LayerNorm, after a channels-last permute), or over the channels of an image.",
    cost=_ln_cost,
    aliases=("ln",),
)
def layernorm(a: dict, inputs):
    x = inputs[0]
    if a["channels_first"] and len(x) != 3:
        raise OpError(f"layernorm(channels_first=true) expects a [C, H, W] input but gets {fmt(x)}", "channels_first")
    a["features"] = x[0] if a["channels_first"] else x[-1]
    return x


@define(
    "layer_scale",
    Attr("init", "float", 1e-6, "the scale every channel starts at"),
    doc="Multiplies each channel by a learned factor (Touvron et al. 2021's LayerScale, ConvNeXt's `layer_scale`): a [C, 1, 1] parameter of the block it is in.",
    cost=lambda a, inputs, out: Cost(params=a["channels"]),
)
def layer_scale(a: dict, inputs):
    x = inputs[0]
    if len(x) != 3:
        raise OpError(f"layer_scale expects a [C, H, W] input but gets {fmt(x)}")
    a["channels"] = x[0]
    return x


@define(
    "lrn",
    Attr("size", "int", doc="channels in the normalisation window"),
    Attr("alpha", "float", 1e-4),
    Attr("beta", "float", 0.75),
    Attr("k", "float+", 1.0),
    doc="Local response normalisation across channels (AlexNet).",
    aliases=("local_response_norm",),
)
def lrn(a: dict, inputs):
    if len(inputs[0]) != 3:
        raise OpError(f"lrn expects a [C, H, W] input but gets {fmt(inputs[0])}")
    return inputs[0]
