"""The `state_dict` layout a network's PyTorch module has: key -> shape, from the IR alone.

This is how a spec is checked against torchvision's checkpoints without importing
torch; the torch backend's modules must produce exactly these keys. Each op's tensors
are its lowering record's `state` rule (`archspec/backends/torch_lowering.py`).
"""

from __future__ import annotations

from archspec.backends.torch_lowering import LOWERINGS
from archspec.ir import Graph


def state_dict_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    keys: list[tuple[str, tuple[int, ...]]] = []
    for node in graph.layers():
        rule = LOWERINGS[node.op].state
        if rule:
            for name, shape in rule(node):
                key = f"{node.path}.{name}" if name else node.path  # "": the op is a parameter of its block
                if name:
                    keys.append((key, tuple(shape)))
                else:  # nn.Module.state_dict lists a module's own parameters before its submodules'
                    parent = key.rpartition(".")[0]
                    first = next((i for i, (k, _) in enumerate(keys) if not parent or k.startswith(parent + ".")), len(keys))
                    while first < len(keys) and keys[first][0].rpartition(".")[0] == parent:
                        first += 1  # after the parameters of its block already placed
                    keys.insert(first, (key, tuple(shape)))
    return dict(keys)
