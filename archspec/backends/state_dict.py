"""The `state_dict` layout a network's PyTorch module has: key -> shape, from the IR alone.

This is how a spec is checked against torchvision's checkpoints without importing
torch; the torch backend's modules must produce exactly these keys.
"""

from __future__ import annotations

from archspec.ir import Graph, Node


def _conv(n: Node):
    a = n.attrs
    kh, kw = a["kernel"]
    yield "weight", (a["out"], a["in_channels"] // a["groups"], kh, kw)
    if a["bias"]:
        yield "bias", (a["out"],)


def _linear(n: Node):
    yield "weight", (n.attrs["out"], n.attrs["in_features"])
    if n.attrs["bias"]:
        yield "bias", (n.attrs["out"],)


def _batchnorm(n: Node):
    c = n.attrs["channels"]
    if n.attrs["affine"]:
        yield "weight", (c,)
        yield "bias", (c,)
    yield "running_mean", (c,)
    yield "running_var", (c,)
    yield "num_batches_tracked", ()


TENSORS = {"conv": _conv, "dwconv": _conv, "linear": _linear, "batchnorm": _batchnorm}


def state_dict_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for node in graph.layers():
        rule = TENSORS.get(node.op)
        if rule:
            for name, shape in rule(node):
                out[f"{node.path}.{name}"] = tuple(shape)
    return out
