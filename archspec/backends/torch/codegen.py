"""The PyTorch backend's output: one standalone Python file for a graph.

What the file holds, top to bottom (torchvision's style): a header naming the spec, its
parameters, shapes and totals; the imports it needs; helper functions and classes its
modules use; one class per block definition (`classes.py` writes them, callees
first); the network class; a factory named after the spec (`def resnet50(classes=1000)`).
The network's parameters are the constructor's and the factory's, with the spec's names
and the values it was compiled with as defaults.
"""

from __future__ import annotations

import ast
import copy
import heapq
from pathlib import Path

from archspec.backends.torch.classes import Writer
from archspec.backends.torch.lowering import HELPERS
from archspec.backends.torch.names import class_name
from archspec.backends.torch.python import PYTHON_NAMES, attr, call, const, docstring, expr_stmt, identifier, layout, name, plain_attribute
from archspec.backends.torch.scope import Emitted, Frame, ancestors
from archspec.backends.unsupported import Unsupported
from archspec.cost import layer_costs, total
from archspec.diagnostics import ArchspecError, Diagnostic
from archspec.ir import Graph, Node
from archspec.units import outputs_str

MAKE_DIVISIBLE = '''def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of `divisor`, never down by more than 10% (torchvision's `_make_divisible`)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
'''


def factory_name(spec: str) -> str:
    """The function named after the spec (`resnet50`), kept off the names the file's code uses:
    a spec named torch.arch, F.arch or nn.arch gets `torch_`, `F_`, `nn_`."""
    out = identifier(Path(spec).stem)
    while out in PYTHON_NAMES or out in HELPERS or out in ("NamedTuple", "Any"):
        out += "_"
    return out


def generate(graph: Graph, spec: str) -> str:
    """The module's source; raises ArchspecError where the spec uses what the backend cannot write yet."""
    try:
        return _generate(graph, spec)
    except Unsupported as err:
        raise ArchspecError(
            Diagnostic(f"the torch backend cannot write this yet: {err.message}", err.span, help="other backends and `archspec cost` still work"),
        ) from None


def _generate(graph: Graph, spec: str) -> str:
    writer = Writer(graph)
    writer.factory = factory_name(spec)  # a spec named ResNet50.arch: the class is ResNet502, not shadowed by its factory
    net_cls = class_name(graph.name)
    net = writer.network(net_cls)
    _add_init_weights(net, graph, writer)
    classes = [em.source for em in writer.order]
    if writer.outputs_class is not None:  # several outputs: a NamedTuple, as torchvision's GoogLeNetOutputs
        classes.insert(len(classes) - 1, _outputs_class(writer.outputs_class, graph))
    body: list[str] = []
    for c in classes:
        body += ["", ""] + layout([c])
    factory = _factory(graph, spec, net)
    text = "\n".join(body)
    helpers = [HELPERS[h] for h in sorted(writer.helpers)]
    used = {n.id for tree in [*classes, *map(ast.parse, helpers)] for n in ast.walk(tree) if isinstance(n, ast.Name)}  # not text: a docstring may name math.arch
    imports = []
    if "math" in used:
        imports.append("import math")
    if writer.outputs_class is not None:
        imports.append("from typing import NamedTuple")
    if imports:  # the standard library's, then a blank line before torch's
        imports[-1] += "\n"
    if "torch" in used:  # a chain of layers alone needs only nn
        imports.append("import torch")
    imports.append("from torch import nn")
    if "F" in used:
        imports.append("from torch.nn import functional as F")
    if "make_divisible" in writer.functions:
        helpers.insert(0, MAKE_DIVISIBLE)
    out = _header(graph, spec) + "\n".join(imports) + "\n"
    for h in helpers:
        out += "\n\n" + h
    out += text + "\n\n\n" + "\n".join(layout([factory])) + "\n"
    return out


def _outputs_class(cls: str, g: Graph) -> ast.ClassDef:
    """`class UNetOutputs(NamedTuple)`: one tensor field per output, in `return`'s order."""
    doc = expr_stmt(ast.Constant(f"What the network returns: {', '.join(n for n, _ in g.outputs)}."))
    fields = [ast.AnnAssign(ast.Name(identifier(n), ast.Store()), attr("torch", "Tensor"), None, 1) for n, _ in g.outputs]
    return ast.ClassDef(cls, [name("NamedTuple")], [], [doc, *fields], [])


def _header(g: Graph, spec: str) -> str:
    t = total(layer_costs(g))
    params = ", ".join(f"{k}={v!r}" for k, v in g.params.items()) or "none"
    shape = "x".join(map(str, g.input_shape))
    out_shape = outputs_str(g)
    variant = f"Variant: {g.variant} (its values are the defaults below)\n" if g.variant else ""
    again = f" --variant {g.variant}" if g.variant else ""
    text = (
        f"{class_name(g.name)}: generated by archspec from {spec}.\n\n"
        f"Parameters: {params}\n{variant}"
        f"Input: {shape} (batch first: N x {shape}); output: {out_shape}\n"
        f"Totals, one image: {t.params:,} params, {t.buffers:,} buffers, {t.macs:,} multiply-adds.\n\n"
        f"Regenerate with: archspec compile {spec} --to torch{again}\n"
    )
    return docstring(text) + "\n\n"  # the spec's strings are data here too: escaped, never the end of the literal


def _factory(g: Graph, spec: str, net: Emitted) -> ast.FunctionDef:
    """`def resnet50(layers=(3, 4, 6, 3), ..., classes=1000) -> ResNet50`: the network's parameters, passed on."""
    py = dict(net.params)
    params = g.definitions.network.params
    init = next(f for f in net.source.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    args = copy.deepcopy(init.args.args[1:])  # the constructor's own: names, annotations and defaults agree
    defaults = copy.deepcopy(init.args.defaults)
    body = [
        expr_stmt(ast.Constant(f"{net.name} as {spec} describes it.")),
        ast.Return(call(net.name, **{py[p.name]: name(py[p.name]) for p in params})),
    ]
    return ast.FunctionDef(factory_name(spec), ast.arguments([], args, None, [], [], None, defaults), body, [], name(net.name))


def _add_init_weights(net: Emitted, g: Graph, writer: Writer) -> None:
    """The spec's `init kaiming(zero_residual=...)`: a method the constructor calls last."""
    cls = net.source
    init = g.init
    call_ = g.definitions.network.init
    if call_ is None:
        return
    zero = next((a.value for a in call_.args if a.name == "zero_residual"), None)
    method: list[ast.stmt] = []
    if init["scheme"] == "kaiming":
        method += ast.parse(
            "for m in self.modules():\n"
            "    if isinstance(m, nn.Conv2d):\n"
            '        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")\n'
            "        if m.bias is not None:\n"
            "            nn.init.zeros_(m.bias)\n"
            "    elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:\n"
            "        nn.init.ones_(m.weight)\n"
            "        nn.init.zeros_(m.bias)\n"
        ).body
    zeroed = _residual_batchnorms(g, writer) if zero is not None else {}  # only where the spec asks
    if zero is not None and zeroed:
        rules = [
            ast.If(call("isinstance", name("m"), name(c)), [expr_stmt(call("nn.init.zeros_", attr(_member(rel), "weight"))) for rel in rels], [])
            for c, rels in zeroed.items()
        ]
        chain = rules[0]
        for r in rules[1:]:
            last = chain
            while last.orelse:
                last = last.orelse[0]  # type: ignore[assignment]
            last.orelse = [r]
        method.append(ast.If(name("zero_residual"), [ast.For(ast.Name("m", ast.Store()), call("self.modules"), [chain], [])], []))
    if not method:
        return
    doc = "Kaiming initialisation (He et al. 2015), as the spec asks" if init["scheme"] == "kaiming" else "PyTorch's default initialisation"
    if zero is not None and zeroed:
        doc += "; with zero_residual, the last batch norm of each residual branch starts at zero (Goyal et al. 2017)"
    fn = ast.FunctionDef(
        "_init_weights",
        ast.arguments([], [ast.arg("self"), ast.arg("zero_residual", name("bool"))], None, [], [], None, [ast.Constant(False)]),
        [expr_stmt(ast.Constant(doc + "."))] + method,
        [],
        ast.Constant(None),
    )
    cls.body.append(fn)
    init_fn = next(s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__")
    kwargs = {}
    if zero is not None and zeroed:
        frame = Frame({spec: name(py) for spec, py in net.params}, const(0), [g.input_shape], file=g.definitions.network.file)
        kwargs["zero_residual"] = writer._expr(zero, frame)
    init_fn.body.append(expr_stmt(call(attr("self", "_init_weights"), **kwargs)))


def _member(rel: str) -> ast.expr:
    """`m.bn3`; a member named by a number by its name, `getattr(m.body, '3')` (an index counts
    modules, and a numbered member's name counts the spec's positions, F.relu's too)."""
    node: ast.expr = name("m")
    for part in rel.split("."):
        node = attr(node, part) if plain_attribute(part) else call("getattr", node, const(part))
    return node


def _residual_batchnorms(g: Graph, writer: Writer) -> dict[str, list[str]]:
    """Each class's member paths of the batch norms that end its residual branches: of an add's input
    with the most convolutions since the fork, its last affine batch norm (before a gate such as
    SE's, which timm's `zero_init_last` leaves alone too), as a member of the innermost block that
    holds the add; every instance of that block must have it."""
    found: dict[str, list[str]] = {}
    paths = {n.path for n in g.layers()}
    for node in g.layers():
        if node.op != "add":
            continue
        scope = next((s for s in ancestors(node.scope) if g.scopes[s].kind == "block"), None)
        if scope is None:
            if any(g.nodes[i].op == "batchnorm" and g.nodes[i].attrs["affine"] for i in node.inputs):
                raise Unsupported("zero_residual for an add in the network's own body", node.span)
            continue
        best, best_convs = None, 0
        for own in _branches(g, node, scope):  # what each input computes that no other input shares
            convs = sum(g.nodes[n].op in ("conv", "dwconv") for n in own)
            norms = [n for n in own if g.nodes[n].op == "batchnorm" and g.nodes[n].attrs["affine"]]
            if norms and convs > best_convs:
                best, best_convs = g.nodes[max(norms)].path, convs
        if best is None:
            continue
        block = g.scopes[scope].block
        rel = best[len(scope) + 1 :]
        rels = found.setdefault(writer.emitted[block].name, [])
        if rel in rels:
            continue
        if any(f"{instance}.{rel}" not in paths for instance in writer.instances.get(block, [])):
            raise Unsupported(f"zero_residual where some instances of '{block}' have no '{rel}' to zero", node.span)
        rels.append(rel)
    return found


def _branches(g: Graph, join: Node, scope: str) -> list[set[int]]:
    """For each input of a join, the nodes inside `scope` only it is computed from, back to the
    fork: nodes are visited latest first, each marked with the inputs that reach it, and the walk
    ends once every node still to visit is reached by all of them (so it is linear in the branch,
    not in the block)."""
    full = (1 << len(join.inputs)) - 1
    marks: dict[int, int] = {}
    for k, i in enumerate(join.inputs):
        marks[i] = marks.get(i, 0) | 1 << k
    heap = [-i for i in marks]
    heapq.heapify(heap)
    partial = sum(m != full for m in marks.values())  # nodes to visit that not every input reaches
    own: list[set[int]] = [set() for _ in join.inputs]
    inside = scope + "."
    while heap and partial:
        i = -heapq.heappop(heap)
        m = marks[i]
        if m == full:
            continue
        partial -= 1
        n = g.nodes[i]
        if not n.inputs or not (n.scope == scope or n.scope.startswith(inside)):
            continue
        if m & (m - 1) == 0:  # one input's alone
            own[m.bit_length() - 1].add(i)
        for j in n.inputs:
            before = marks.get(j)
            marks[j] = (before or 0) | m
            if before is None:
                heapq.heappush(heap, -j)
                partial += marks[j] != full
            elif before != full and marks[j] == full:
                partial -= 1
    return own
