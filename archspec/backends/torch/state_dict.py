"""The `state_dict` layout a network's PyTorch module has: key -> shape, from the IR alone.

This is how a spec is checked against torchvision's checkpoints without importing
torch; the torch backend's modules must produce exactly these keys. Each op's tensors
are its lowering record's `state` rule (`archspec/backends/torch/lowering.py`).
"""

from __future__ import annotations

from archspec.backends.torch.lowering import LOWERINGS
from archspec.ir import Graph, Node


def state_dict_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    keys: list[tuple[str, tuple[int, ...]]] = []
    idle = sorted(zip(graph.idle_after, range(len(graph.idle))))  # an idle member's keys go where it was built
    order: list[Node] = []
    for node in graph.layers():
        while idle and idle[0][0] <= node.id:
            order.append(graph.idle[idle.pop(0)[1]])
        order.append(node)
    order += [graph.idle[k] for _, k in idle]
    for node in order:
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
    return dict(_in_registration_order(graph, keys))


def _in_registration_order(graph: Graph, keys: list[tuple[str, tuple[int, ...]]]) -> list[tuple[str, tuple[int, ...]]]:
    """`members cv1, cv2, m`: each instance's listed members' keys take the places the listed
    members' keys have, in the listed order (nn.Module lists a module's children as it registered them)."""
    d = graph.definitions
    if d is None:
        return keys
    for path, scope in graph.scopes.items():
        members = d.network.members if scope.kind == "network" else d.blocks[scope.block].members if scope.kind == "block" and scope.block in d.blocks else ()
        if not members:
            continue
        prefix = f"{path}." if path else ""
        groups: dict[str, list[int]] = {m: [] for m in members}
        for i, (k, _) in enumerate(keys):
            head = k[len(prefix) :].partition(".")[0] if k.startswith(prefix) else None
            if head in groups:
                groups[head].append(i)
        slots = sorted(i for g in groups.values() for i in g)
        moved = [keys[i] for m in members for i in groups[m]]
        for slot, item in zip(slots, moved):
            keys[slot] = item
    return keys
