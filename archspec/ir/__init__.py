"""The IR, in two parts that elaboration fills together.

- `defs`: the spec's own definitions, checked and free of syntax: every block and the
  network, with parameters, defaults, statements (`if`, `repeat`, `for`, joins, labels)
  and expressions (`expr`) that stay symbolic. Backends that mirror a spec's structure
  (one class per block, a loop as a loop) read these.
- `graph`: the flat DAG of op nodes, unrolled, every shape inferred, grouped in named
  scopes; each block scope refers to its definition and the argument values it got.
  Cost and every backend read this.

`docs/ir.md` describes every field and the stage that fills it.
"""

from archspec.ir.defs import BlockDef, Definitions, NetworkDef
from archspec.ir.graph import Graph, Node, Scope, Shape

__all__ = ["BlockDef", "Definitions", "Graph", "NetworkDef", "Node", "Scope", "Shape"]
