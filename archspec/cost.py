"""Cost analysis: parameters, buffers, multiply-adds and activations, per layer and in total.

Conventions (docs/cost.md): `macs` counts the multiply-accumulates of
convolutions and linear layers only; `flops = 2 * macs`; `buffers` are batch-norm
running statistics; `activations` are the elements of every node's output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from archspec.ir import Graph
from archspec.ops import OPS

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


@dataclass(slots=True)  # not frozen: one is made per layer, and frozen dataclasses are slow to build
class Totals:
    params: int = 0
    buffers: int = 0
    macs: int = 0
    activations: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.params + other.params, self.buffers + other.buffers, self.macs + other.macs, self.activations + other.activations
        )

    def as_dict(self) -> dict[str, int]:
        d = asdict(self)
        return {"params": d["params"], "buffers": d["buffers"], "macs": d["macs"], "flops": self.flops, "activations": d["activations"]}


@dataclass(slots=True)
class LayerCost:
    """One leaf op: where it is, what it reads and returns, what it costs (batch 1)."""

    path: str
    op: str
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    cost: Totals
    idle: bool = False  # an `idle` member's: built and counted, never run (no macs)

    @property
    def shown(self) -> str:
        """The op as tables show it: `conv (idle)` for an idle member's."""
        return f"{self.op} (idle)" if self.idle else self.op


def layer_costs(graph: Graph) -> list[LayerCost]:
    """Each layer's cost, in execution order; then the `idle` members', whose parameters and
    buffers count (they are in the state_dict) and which do no work (forward does not run them)."""
    out = []
    nodes = graph.nodes
    for node in graph.layers():
        ins = tuple([nodes[i].shape for i in node.inputs])
        c = OPS[node.op].cost(node.attrs, ins, node.shape)
        out.append(LayerCost(node.path, node.op, ins, node.shape, Totals(c.params, c.buffers, c.macs, math.prod(node.shape))))
    for node in graph.idle:
        ins = tuple([graph.node(i).shape for i in node.inputs])
        c = OPS[node.op].cost(node.attrs, ins, node.shape)
        out.append(LayerCost(node.path, node.op, ins, node.shape, Totals(c.params, c.buffers, 0, 0), idle=True))
    return out


def total(layers: list[LayerCost]) -> Totals:
    costs = [layer.cost for layer in layers]
    return Totals(
        sum(c.params for c in costs), sum(c.buffers for c in costs), sum(c.macs for c in costs), sum(c.activations for c in costs)
    )


@dataclass(frozen=True)
class Group:
    """Layers aggregated under one scope prefix (a row of `--depth N`)."""

    path: str
    ops: int
    output: tuple[int, ...]
    cost: Totals


def by_depth(layers: list[LayerCost], depth: int) -> list[Group]:
    """Aggregate layers by the first `depth` components of their path, in first-seen order."""
    groups: dict[str, list[LayerCost]] = {}
    for layer in layers:
        key = ".".join(layer.path.split(".")[:depth])
        groups.setdefault(key, []).append(layer)
    return [Group(k, len(v), v[-1].output, total(v)) for k, v in groups.items()]
