"""The `state_dict` layout a network's PyTorch module has: key -> shape, from the IR alone.

This is how a spec is checked against torchvision's checkpoints without importing
torch; the torch backend's modules must produce exactly these keys. Each op's tensors
are its lowering record's `state` rule (`archspec/backends/torch_lowering.py`).
"""

from __future__ import annotations

from archspec.backends.torch_lowering import LOWERINGS
from archspec.ir import Graph


def state_dict_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for node in graph.layers():
        rule = LOWERINGS[node.op].state
        if rule:
            for name, shape in rule(node):
                out[f"{node.path}.{name}"] = tuple(shape)
    return out
