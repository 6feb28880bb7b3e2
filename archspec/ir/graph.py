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
Guard = tuple[tuple[str, int], ...]  # ((statement key, branch index or iteration), ...), outermost first


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
    guard: Guard = ()  # the `if` branches and loop iterations it sits in, within its scope
    exprs: dict[str, Decision] | None = None  # attributes the spec computes (`padding=(kernel - 1) // 2`)
    site: str = ""  # the key of the statement that made it (a Call's, or a Join's): see archspec.ir.defs


@dataclass(frozen=True)
class Decision:
    """How one `if` or `repeat` at the top of a scope's body went for one instance.

    Backends that write one class for a block whose instances differ mirror the statement
    itself (`if t != 1:` / `for _ in range(convs):`), so they need its expressions and the
    values its names had here.
    """

    kind: str  # "if" | "repeat" | "arg" (an op's argument, Node.exprs)
    exprs: tuple[Any, ...]  # archspec.ir.expr trees: the condition of each branch, or the count
    bindings: dict[str, Any]  # the value of every name they read
    in_shape: Shape | None  # the shape `in` stood for
    taken: int  # the branch taken (len(exprs) for the else branch or none), or the count


@dataclass
class Scope:
    """A named level: the network, a block instance, or a labelled sequence."""

    path: str
    kind: str  # "network" | "block" | "seq"
    block: str | None = None  # the block's name, for kind == "block": its definition is graph.definitions.blocks[block]
    args: dict[str, Any] = field(default_factory=dict)
    span: Span | None = None  # where the scope is opened (the call, for a block)
    defined: Span | None = None  # where its block is defined
    defaults: dict[str, Any] = field(default_factory=dict)  # the block's parameters with literal defaults
    guard: Guard = ()  # as Node.guard, within the enclosing scope
    locals: dict[str, Any] = field(default_factory=dict)  # a block's own variables (`hidden = ...`), as they ended
    decisions: dict[str, Decision] = field(default_factory=dict)  # statement key -> how it went, top level only


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

    @property
    def output_shape(self) -> Shape:
        return self.nodes[self.output].shape

    def layers(self) -> list[Node]:
        """Every op node but the input, in execution order."""
        return self.nodes[1:]
