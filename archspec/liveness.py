"""Peaks of live tensors, by liveness passes over the DAG in execution order: inference's, and a
training step's through the forward and then the backward in reverse.

Sizes are storages: a view (flatten, permute, crop, chunk) or an in-place ReLU shares its
input's. What each op keeps for backward comes from `training_memory.saved` (its rules), passed
in, so this module knows only lifetimes. docs/memory.md compares both peaks with PyTorch's.
"""

from __future__ import annotations

import math
from collections import defaultdict

from archspec.backends.torch.lowering import LOWERINGS
from archspec.ir import Graph, Node
from archspec.ops import OPS

# ops whose output is a view of their input (or the input itself): one storage
VIEWS = {"flatten", "permute", "crop", "identity", "chunk"}
# ops whose output the generated module lets an in-place ReLU overwrite (their lowering's
# `overwritable`: autograd does not need it), so the two share a storage
_OVERWRITABLE = {name for name, record in LOWERINGS.items() if record.overwritable}
# ops whose backward hands its output's gradient on unchanged (add), or as views of it (concat's
# narrowed slices, a flatten's or permute's view): no gradient storage of their own
_PASS_GRADIENT = {"add", "concat", "flatten", "permute", "identity"}
_INDEXED_POOLS = {"maxpool", "adaptive_maxpool", "global_maxpool"}


def storages(g: Graph, inference: bool = False) -> list[int]:
    """Each node's storage: its own id, or (for a view, an in-place activation) its input's; at
    inference dropout and stochastic depth return their input."""
    consumers: dict[int, int] = defaultdict(int)
    for n in g.nodes:
        for i in n.inputs:
            consumers[i] += 1
    outputs = {i for _, i in g.returns}
    root = list(range(len(g.nodes)))
    for n in g.nodes[1:]:
        src = n.inputs[0] if n.inputs else None
        if src is not None and (n.op in VIEWS or (inference and n.op in ("dropout", "stochastic_depth"))):
            root[n.id] = root[src]
        elif n.op in ("relu", "relu6") and src is not None and g.nodes[src].op in _OVERWRITABLE and consumers[src] == 1 and src not in outputs:
            root[n.id] = root[src]  # nn.ReLU(inplace=True) on a value nothing else reads
    return root


def params(g: Graph, n: Node) -> int:
    return OPS[n.op].cost(n.attrs, [g.nodes[i].shape for i in n.inputs], n.shape).params


def requires_grad(g: Graph) -> list[bool]:
    """Whether each value depends on a parameter: only those have a gradient, and only their ops save anything."""
    grad = [False] * len(g.nodes)
    for n in g.nodes[1:]:
        grad[n.id] = params(g, n) > 0 or any(grad[i] for i in n.inputs)
    return grad


class _Live:
    """The bytes alive at once, and the most ever."""

    def __init__(self):
        self.sizes: dict = {}
        self.current = self.peak = 0

    def add(self, key, nbytes: int) -> None:
        if key not in self.sizes:
            self.sizes[key] = nbytes
            self.current += nbytes

    def drop(self, key) -> None:
        self.current -= self.sizes.pop(key, 0)

    def mark(self, extra: int = 0) -> None:
        self.peak = max(self.peak, self.current + extra)


def _scope_inputs(g: Graph) -> dict[int, int]:
    """Each module's input, and the last node of that module: a called nn.Module (a block
    instance, a named level) holds its input until it returns, as its caller's frame does."""
    first: dict[str, int] = {}
    end: dict[str, int] = {}
    for n in g.nodes[1:]:
        path = n.scope
        while path:
            first.setdefault(path, n.id)
            end[path] = n.id
            path = path.rpartition(".")[0]
    held: dict[int, int] = {}
    for path, at in first.items():
        ins = g.nodes[at].inputs
        if ins and path in g.scopes:
            held[ins[0]] = max(held.get(ins[0], 0), end[path])
    return held


def _last_reads(g: Graph, root: list[int], held: set[int]) -> dict[int, list[int]]:
    """For each node, the storages its read is the last of (those the caller holds never)."""
    last = {r: r for r in set(root)}
    for n in g.nodes:
        for i in n.inputs:
            last[root[i]] = max(last[root[i]], n.id)
    for i, until in _scope_inputs(g).items():
        last[root[i]] = max(last[root[i]], until)
    ends: dict[int, list[int]] = defaultdict(list)
    for r, at in last.items():
        if r not in held:
            ends[at].append(r)
    return ends


def _held(g: Graph, root: list[int]) -> set[int]:
    """The caller's storages: the input, and the outputs it is returned."""
    return {root[0], *(root[i] for _, i in g.returns)}


def inference_peak(g: Graph, batch: int, itemsize: int) -> int:
    """Inference: each op's output storage alive from the op that makes it to the last op that
    reads it; the input and the outputs to the end. The largest sum alive, the input included."""
    root = storages(g, inference=True)
    ends = _last_reads(g, root, _held(g, root))
    live = _Live()
    for n in g.nodes:
        if root[n.id] == n.id:
            live.add(n.id, batch * math.prod(n.shape) * itemsize)
        # a max pool finds its maxima's int64 indices even when nothing will read them (aten's
        # max_pool2d_with_indices), freed as it returns
        live.mark(batch * math.prod(n.shape) * 8 if n.op in _INDEXED_POOLS else 0)
        for r in ends[n.id]:
            live.drop(r)
    return live.peak


def training_peak(g: Graph, kept: list[tuple[Node, list]], batch: int, itemsize: int) -> int:
    """A training step's peak beyond the weights, buffers and optimizer state.

    Forward: each value alive until its last reader, or while an op keeps it for backward, and
    each op's own saved tensors (`kept`: `training_memory.saved`'s items). Backward, in reverse
    order: each value's gradient alive from its first contribution (later ones are added in place)
    to its producer's backward, which frees that op's saved tensors; the parameters' gradients
    made as their layer's backward runs, and kept. The outputs' gradients (full size, as a loss
    gives them) and the input are held throughout."""
    root = storages(g)
    held = _held(g, root)
    value_bytes = {r: batch * math.prod(g.nodes[r].shape) * itemsize for r in set(root)}
    freed_by: dict[int, list] = defaultdict(list)  # a saved storage goes with the backward of the first op keeping it
    first_keeper: dict[tuple, int] = {}
    own: dict[tuple, int] = {}
    for n, items in kept:
        for s in items:
            first_keeper.setdefault(s.key, n.id)
            if s.key[0] == "own":
                own[s.key] = s.nbytes
    for key, at in first_keeper.items():
        if not (key[0] == "value" and key[1] in held):
            freed_by[at].append(key)
    saved_values = {key[1] for key in first_keeper if key[0] == "value"}
    ends = _last_reads(g, root, held | saved_values)

    live = _Live()
    items_of = {n.id: items for n, items in kept}
    for n in g.nodes:
        if root[n.id] == n.id:
            live.add(("value", n.id), value_bytes[n.id])
        for s in items_of.get(n.id, []):
            if s.key[0] == "own":
                live.add(s.key, s.nbytes)
        live.mark()
        for r in ends[n.id]:
            live.drop(("value", r))

    grad = requires_grad(g)
    gradient: dict[int, int] = {}  # value -> its gradient's storage
    holders: dict[int, int] = defaultdict(int)

    def contribute(v: int, gid: int) -> None:
        if v in gradient:  # added in place into the first contribution; this one is freed
            if not holders[gid]:
                live.drop(("grad", gid))
            return
        gradient[v] = gid
        holders[gid] += 1

    def release(gid: int) -> None:
        holders[gid] -= 1
        if not holders[gid]:
            live.drop(("grad", gid))

    def new_gradient(v: int) -> int:
        gid = len(holders) + 1
        holders[gid] = 0
        live.add(("grad", gid), batch * math.prod(g.nodes[v].shape) * itemsize)
        return gid

    for _, i in g.returns:
        gid = new_gradient(i)
        holders[gid] += 1  # the caller's, to the end
        contribute(i, gid)
    param_grads = 0
    for n in reversed(g.nodes[1:]):
        if not grad[n.id] or n.id not in gradient:
            continue
        mine = gradient.pop(n.id)
        param_grads += params(g, n) * itemsize
        for i in n.inputs:
            if grad[i]:
                contribute(i, mine if n.op in _PASS_GRADIENT else new_gradient(i))
        live.mark(param_grads)
        release(mine)
        for key in freed_by[n.id]:
            live.drop(key)
    return live.peak
