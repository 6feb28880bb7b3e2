"""The IR's graph: a DAG of op nodes, in execution order, grouped in nested named scopes.

Elaboration produces it with every node's shape already inferred (a spec may
read `in.channels`, so shapes are known as the graph is built). Cost tables and
every backend read this form; `definitions` keeps what it was unrolled from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archspec.diagnostics import Span

if TYPE_CHECKING:
    from archspec.ir.defs import Definitions

Shape = tuple[int, ...]
IDLE_BASE = 1 << 40  # the first idle node's id: apart from every running node's


@dataclass
class Node:
    """One op application. `inputs` are ids of earlier nodes: any earlier node, not only the previous one."""

    id: int
    op: str
    attrs: dict[str, Any]
    inputs: tuple[int, ...]
    path: str  # dotted module name, as in the generated module's state_dict
    scope: str  # path of the enclosing scope ("" for the network itself)
    shape: Shape
    span: Span | None = None
    site: str = ""  # the key of the statement that made it (a Call's, or a Join's): see archspec.ir.defs


@dataclass
class Scope:
    """A named level: the network, a block instance, or a labelled sequence."""

    path: str
    kind: str  # "network" | "block" | "seq"
    block: str | None = None  # the block's name, for kind == "block": its definition is graph.definitions.blocks[block]
    args: dict[str, Any] = field(default_factory=dict)  # a block instance's argument values, defaults filled in
    span: Span | None = None  # where the scope is opened (the call, for a block)
    defined: Span | None = None  # where its block is defined


@dataclass
class Graph:
    name: str
    file: str
    input_shape: Shape
    nodes: list[Node]  # nodes[0] is the input; topological (execution) order
    output: int
    scopes: dict[str, Scope]
    params: dict[str, Any]  # the network parameters, after overrides
    init: dict[str, Any] = field(default_factory=lambda: {"scheme": "default", "zero_residual": False})
    definitions: Definitions | None = None  # the network and blocks it was elaborated from
    # `return logits, aux2, aux1`: each output's name and node, in order; empty for a network that
    # returns its last value. `output` is always the first output's node.
    outputs: tuple[tuple[str, int], ...] = ()
    overridden: frozenset[str] = frozenset()  # the parameters given a value (`--set`, the variant), not their defaults
    variant: str | None = None  # `--variant b3`: the spec's `variant` line whose values it was elaborated with
    variants: tuple[str, ...] = ()  # every variant the spec defines, in order
    # `idle dfl: ...`: nodes built as members (their parameters count) that forward never runs; ids
    # from IDLE_BASE, inputs from `nodes` or each other; `idle_after[k]`: how many of `nodes` the
    # k-th was made after (its place in the state_dict)
    idle: tuple[Node, ...] = ()
    idle_after: tuple[int, ...] = ()
    # each computed reference (`@"{level}"`, by its statement's key): the names it read, in every instance
    ref_names: dict[str, frozenset[str]] = field(default_factory=dict)

    def node(self, i: int) -> Node:
        """A node by id, running or idle."""
        return self.nodes[i] if i < IDLE_BASE else self.idle[i - IDLE_BASE]

    @property
    def output_shape(self) -> Shape:
        return self.nodes[self.output].shape

    @property
    def returns(self) -> list[tuple[str, int]]:
        """Every output as (name, node id): the named ones, or ("output", the last value)."""
        return list(self.outputs) if self.outputs else [("output", self.output)]

    def layers(self) -> list[Node]:
        """Every op node but the input, in execution order."""
        return self.nodes[1:]
