"""The diagram backend: an IR graph as a Graphviz `Digraph`, the picture of the network as written.

It reads only the IR: the flat graph for nodes, edges and shapes, its scopes for clusters
(`layer2.0: bottleneck`), and the ops' cost rules for params and MACs. Three choices shape
the picture:

- `detail="blocks"` draws each outermost block instance as one node carrying its totals;
- `depth=N` draws every scope N levels deep as one node, as `archspec cost --depth` sums it;
- folding draws a run of identical consecutive block instances once, marked `x35`
  (`unfold=True` draws every one).

The DOT text needs no Graphviz binary; `render` runs `dot` for svg, png and pdf. Text from the
spec (names, paths) reaches the file only escaped, inside labels and tooltips.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from archspec.backends.diagram.labels import COLOURS, JOIN_SHAPES, family, label
from archspec.cost import Totals, layer_costs
from archspec.diagnostics import ArchspecError, Diagnostic
from archspec.ir import Graph, Node
from archspec.units import human, shape_str

FORMATS = ("dot", "svg", "png", "pdf")
FONT = "Helvetica"


@dataclass(frozen=True)
class Options:
    detail: str = "layers"  # "layers" | "blocks"
    depth: int | None = None  # scopes this many levels deep are drawn as one node
    rankdir: str = "TB"  # "TB" (top to bottom) | "LR"
    unfold: bool = False  # draw every instance of a run of identical blocks


class _Layout:
    """What is drawn where: the scope tree, folded runs, collapsed scopes, and which drawn
    item (a layer node or a collapsed scope) stands for each graph node."""

    def __init__(self, graph: Graph, options: Options):
        self.g, self.options = graph, options
        self.returned = {i for _, i in graph.returns}
        self.parent = {path: self._parent_of(path) for path in graph.scopes if path}
        self.members: dict[str, list[int]] = {path: [] for path in graph.scopes}
        self.direct: dict[str, list[int]] = {path: [] for path in graph.scopes}  # the nodes a scope holds itself
        for n in graph.nodes[1:]:
            self.direct[n.scope].append(n.id)
            scope = n.scope
            while True:
                self.members[scope].append(n.id)
                if not scope:
                    break
                scope = self.parent[scope]
        self.children: dict[str, list[str]] = {path: [] for path in graph.scopes}
        for path in sorted((p for p in graph.scopes if p and self.members[p]), key=lambda p: self.members[p][0]):
            self.children[self.parent[path]].append(path)
        self.consumers: dict[int, list[int]] = {n.id: [] for n in graph.nodes}
        for n in graph.nodes:
            for i in n.inputs:
                self.consumers[i].append(n.id)
        self.rep: dict[int, int] = {}  # a node of a folded-away instance -> its twin in the first
        self.hidden: set[int] = set()
        self.folds: dict[str, tuple[str, int]] = {}  # first instance -> (last instance, count)
        if not options.unfold:
            self._fold()
        self.collapsed = self._collapse()
        self.item: dict[int, str] = {n.id: self._item_of(n) for n in graph.nodes}

    def _parent_of(self, path: str) -> str:
        while "." in path:
            path = path.rsplit(".", 1)[0]
            if path in self.g.scopes:
                return path
        return ""

    def depth_of(self, path: str) -> int:
        return path.count(".") + 1 if path else 0

    # -- folding runs of identical blocks ---------------------------------------------------
    def _signature(self, path: str) -> tuple | None:
        scope, ids = self.g.scopes[path], self.members[path]
        if scope.kind != "block":
            return None
        local = {node_id: k for k, node_id in enumerate(ids)}
        nodes = [self.g.nodes[i] for i in ids]
        body = tuple((n.op, repr(sorted(n.attrs.items())), n.shape, tuple(local.get(i, -1) for i in n.inputs)) for n in nodes)
        return scope.block, repr(sorted(scope.args.items())), body

    def _sealed(self, path: str) -> bool:
        """Only the instance's last node is read from outside it (or returned)."""
        inside = set(self.members[path])
        return all(set(self.consumers[i]) <= inside and i not in self.returned for i in self.members[path][:-1])

    def _follows(self, prev: str, nxt: str) -> bool:
        """`nxt` reads only `prev`'s output, and nothing else reads it."""
        ids, last = self.members[nxt], self.members[prev][-1]
        inside = set(ids)
        outside = {i for n in ids for i in self.g.nodes[n].inputs if i not in inside}
        return outside == {last} and set(self.consumers[last]) <= inside and last not in self.returned

    def _fold(self) -> None:
        """Fold runs of identical instances in which each reads only the one before it, and only
        the last is read after the run."""
        for parent in sorted(self.children, key=self.depth_of):  # outer runs first: inner ones of hidden instances do not matter
            if self.members[parent] and self.members[parent][0] in self.hidden:
                continue
            kids = self.children[parent]
            sigs = [self._signature(path) for path in kids]
            k = 0
            while k < len(kids):
                end = k + 1
                while (
                    sigs[k] is not None
                    and end < len(kids)
                    and sigs[end] == sigs[k]
                    and (end > k + 1 or self._sealed(kids[k]))
                    and self._sealed(kids[end])
                    and self._follows(kids[end - 1], kids[end])
                ):
                    end += 1
                if end - k > 1:
                    first, run = kids[k], kids[k + 1 : end]
                    self.folds[first] = (kids[end - 1], end - k)
                    for path in run:
                        self.hidden.update(self.members[path])
                    self.rep[self.members[kids[end - 1]][-1]] = self.members[first][-1]
                k = end

    def stand_in(self, node_id: int) -> int:
        while node_id in self.rep:
            node_id = self.rep[node_id]
        return node_id

    # -- collapsing blocks (detail) and deep scopes (depth) ---------------------------------
    def _collapse(self) -> set[str]:
        out: set[str] = set()
        for path in sorted(self.parent, key=lambda p: (self.depth_of(p), self.members[p][:1])):
            if not self.members[path] or any(a in out for a in self._ancestors(path)):
                continue
            by_detail = self.options.detail == "blocks" and self.g.scopes[path].kind == "block"
            by_depth = self.options.depth is not None and self.depth_of(path) >= self.options.depth
            if by_detail or by_depth:
                out.add(path)
        return out

    def _ancestors(self, path: str):
        while path:
            path = self.parent[path]
            if path:
                yield path

    def _item_of(self, n: Node) -> str:
        outermost = None
        scope = n.scope
        while scope:
            if scope in self.collapsed:
                outermost = scope
            scope = self.parent[scope]
        return f"scope:{outermost}" if outermost is not None else f"node:{n.id}"


def diagram(graph: Graph, spec: str, options: Options = Options()):
    """The `graphviz.Digraph` of `graph`: clusters per scope, shapes on edges, totals in the title."""
    import graphviz

    lay = _Layout(graph, options)
    costs = {n.id: c.cost for n, c in zip(graph.layers(), layer_costs(graph))}
    costs[0] = Totals()
    dot = graphviz.Digraph(
        graph.name,
        comment=f"generated by archspec from {json.dumps(spec)[1:-1]}",
        graph_attr={"rankdir": options.rankdir, "fontname": FONT, "labelloc": "t", "nodesep": "0.25", "ranksep": "0.3", "newrank": "true"},
        node_attr={"fontname": FONT, "fontsize": "11", "shape": "box", "style": "rounded,filled", "penwidth": "0.8", "margin": "0.1,0.04", "height": "0.3"},
        edge_attr={"fontname": FONT, "fontsize": "9", "color": "#555555", "fontcolor": "#333333", "arrowsize": "0.6"},
    )
    names = {path: f"s{k}" for k, path in enumerate(graph.scopes)}
    families: set[str] = set()

    def node_id(item: str) -> str:
        kind, key = item.split(":", 1)
        return f"n{key}" if kind == "node" else names[key]

    def draw_node(container, n: Node) -> None:
        fam = family(n)
        families.add(fam)
        text = html.escape(label(n) if n.op != "input" else f"input {shape_str(n.shape)}")
        attrs: dict[str, str] = {"fillcolor": COLOURS[fam], "tooltip": html.escape(f"{n.path} ({n.op})")}
        shape = JOIN_SHAPES.get(n.op)
        if shape == "circle":
            attrs.update(shape="circle", width="0.3", height="0.3", fixedsize="true", fontsize="14", margin="0")
        elif shape == "box":
            attrs.update(fontsize="9", height="0.2", margin="0.06,0.02")
        container.node(f"n{n.id}", f"<{text}{_cost_line(costs[n.id])}>", **attrs)

    def draw_scope_node(container, path: str, within: str) -> None:
        families.add("block")
        scope, ids = graph.scopes[path], lay.members[path]
        sums = sum((costs[i] for i in ids), Totals())
        title = _scope_title(path, scope.block, lay.folds.get(path), within)
        lines = f"<B>{html.escape(title)}</B><BR/><FONT POINT-SIZE=\"9\">{len(ids)} layers</FONT>{_cost_line(sums, each=path in lay.folds)}"
        container.node(names[path], f"<{lines}>", fillcolor=COLOURS["block"], tooltip=html.escape(path))

    def emit(container, path: str) -> None:
        entries: list[tuple[int, str]] = [(lay.members[c][0], "scope:" + c) for c in lay.children[path]]
        entries += [(i, f"node:{i}") for i in lay.direct[path]]
        for _, entry in sorted(entries):
            kind, key = entry.split(":", 1)
            if kind == "node":
                if int(key) not in lay.hidden:
                    draw_node(container, graph.nodes[int(key)])
            elif lay.members[key][0] in lay.hidden:
                continue
            elif key in lay.collapsed:
                draw_scope_node(container, key, path)
            else:
                with container.subgraph(name=f"cluster_{names[key]}") as sub:
                    scope = graph.scopes[key]
                    sub.attr(
                        label=f"<{html.escape(_scope_title(key, scope.block, lay.folds.get(key), within=path))}>",
                        labeljust="l",
                        fontsize="10",
                        style="rounded,bold" if key in lay.folds else "rounded" if scope.kind == "block" else "rounded,dashed",
                        color="#666666" if scope.kind == "block" else "#aaaaaa",
                        tooltip=html.escape(key),
                    )
                    emit(sub, key)

    draw_node(dot, graph.nodes[0])
    emit(dot, "")
    seen: set[tuple[str, str, int]] = set()
    for n in graph.nodes[1:]:
        if n.id in lay.hidden:
            continue
        dst = lay.item[n.id]
        for i in n.inputs:
            src_node = lay.stand_in(i)
            src = lay.item[src_node]
            if src == dst or (dst.startswith("scope:") and (src, dst, src_node) in seen):
                continue
            seen.add((src, dst, src_node))
            shown = src.startswith("scope:") or n.op == "concat" or _changes_shape(graph, graph.nodes[i])
            dot.edge(node_id(src), node_id(dst), label=shape_str(graph.nodes[i].shape) if shown else None)
    for k, (name, out) in enumerate(graph.returns):  # a terminal per output, named as `return` names it
        terminal = "output" if k == 0 else f"output{k}"
        dot.node(terminal, html.escape(name), shape="plaintext", style="", fontsize="10")
        dot.edge(node_id(lay.item[lay.stand_in(out)]), terminal, label=shape_str(graph.nodes[out].shape))
    dot.attr(label=_title(graph, spec, sum(costs.values(), Totals()), families))
    return dot


def _changes_shape(graph: Graph, n: Node) -> bool:
    """Whether `n`'s output differs from its first input (batch norm, ReLU, + do not): only
    such edges are labelled, and concat's inputs, so that a shape is shown where it is new."""
    return not n.inputs or graph.nodes[n.inputs[0]].shape != n.shape


def _cost_line(t: Totals, each: bool = False) -> str:
    parts = [f"{human(t.params)} params" if t.params else "", f"{human(t.macs)} MACs" if t.macs else ""]
    text = " · ".join(p for p in parts if p)
    if not text:
        return ""
    return f'<BR/><FONT POINT-SIZE="9" COLOR="#555555">{text}{" each" if each else ""}</FONT>'


def _scope_title(path: str, block: str | None, fold: tuple[str, int] | None, within: str = "") -> str:
    """`layer2.0: bottleneck`; inside the cluster of `within`, the path from there (`0: bottleneck`)."""
    name = path[len(within) + 1 :] if within else path
    if fold is not None:
        name = f"{name} – {fold[0].rsplit('.', 1)[-1]}"
    text = f"{name}: {block}" if block else name
    return f"{text}  ×{fold[1]}" if fold else text


def _title(graph: Graph, spec: str, t: Totals, families: set[str]) -> str:
    """The graph's label: the network, its totals, and a legend of the colours used."""
    head = (
        f"<B>{html.escape(graph.name)}</B>  {shape_str(graph.input_shape)} → {', '.join(shape_str(graph.nodes[i].shape) for _, i in graph.returns)}"
        f" · {t.params:,} params · {human(t.macs)} MACs"
    )
    shown = [f for f in COLOURS if f in families and f not in ("input", "join")]
    if not shown:
        return f"<{head}>"
    cells = "".join(  # fixed sizes: Graphviz would stretch the cells to the title's width
        f'<TD BGCOLOR="{COLOURS[f]}" BORDER="1" FIXEDSIZE="TRUE" WIDTH="{7 * len(f) + 16}" HEIGHT="18"><FONT POINT-SIZE="9">{f}</FONT></TD>'
        for f in shown
    )
    legend = f'<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="2"><TR>{cells}</TR></TABLE>'
    return f'<<TABLE BORDER="0" CELLSPACING="0"><TR><TD>{head}</TD></TR><TR><TD>{legend}</TD></TR></TABLE>>'



def render(dot: Any, fmt: str) -> bytes:
    """The diagram as `fmt` bytes: DOT text needs nothing, the rest Graphviz's `dot` program."""
    if fmt == "dot":
        return dot.source.encode("utf-8")
    import graphviz

    try:
        return dot.pipe(format=fmt, quiet=True)  # dot warns of cosmetic trouble (a label a pixel too wide) on stderr
    except graphviz.ExecutableNotFound:
        raise ArchspecError(
            Diagnostic(
                f"--to {fmt} needs Graphviz's `dot` program, which is not installed",
                None,
                help="install Graphviz (apt-get install graphviz, brew install graphviz), or write --to dot",
            )
        ) from None
    except graphviz.CalledProcessError as err:
        raise ArchspecError(Diagnostic(f"Graphviz's dot failed: {err.stderr.decode(errors='replace').strip()[:500]}", None)) from None
