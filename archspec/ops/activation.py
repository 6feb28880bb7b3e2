"""Element-wise activations: the shape passes through, nothing is counted."""

from __future__ import annotations

from archspec.ops.registry import Attr, OpError, define
from archspec.ops.shapes import fmt


def _same(a: dict, inputs):
    return inputs[0]


for _name, _doc in [
    ("relu", "max(x, 0)"),
    ("relu6", "min(max(x, 0), 6) (MobileNet)"),
    ("sigmoid", "logistic function"),
    ("tanh", "hyperbolic tangent"),
    ("hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)"),
    ("hardsigmoid", "relu6(x + 3) / 6"),
    ("silu", "x * sigmoid(x), also called swish"),
    ("gelu", "Gaussian error linear unit"),
]:
    define(_name, doc=_doc)(_same)

define("leaky_relu", Attr("slope", "float", 0.01, "negative slope"), doc="max(x, 0) + slope * min(x, 0)")(_same)
define("scale", Attr("factor", "float", doc="the constant"), doc="x * factor, a constant (Inception-ResNet's residual scaling)")(_same)


@define("softmax", Attr("dim", "dim", 0, "axis (0 is channels/features; the batch axis is not counted)"), doc="softmax over one axis")
def softmax(a: dict, inputs):
    x = inputs[0]
    if not -len(x) <= a["dim"] < len(x):
        raise OpError(f"softmax: dim {a['dim']} is out of range for {fmt(x)}", "dim")
    return x
