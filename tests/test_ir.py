"""The IR keeps the spec's definitions beside the flat graph, in types of its own."""

from __future__ import annotations

import ast as pyast
import dataclasses
from pathlib import Path

import pytest

import archspec
from archspec.ir import defs
from archspec.ir import expr as irx

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in (ROOT / "specs").rglob("*.arch") if p.name != "lib.arch" and p.parent.name != "lib")


def _walk(x, seen=None):
    """Every object reachable through dataclass fields, tuples, lists and dicts."""
    seen = set() if seen is None else seen
    if id(x) in seen:
        return
    seen.add(id(x))
    yield x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            yield from _walk(getattr(x, f.name), seen)
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _walk(v, seen)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _walk(v, seen)


@pytest.fixture(scope="module", params=[str(p.relative_to(ROOT)) for p in SPECS])
def graph(request):
    return archspec.load(ROOT / request.param).graph


def test_every_block_scope_names_its_definition_with_its_parameters(graph):
    blocks = graph.definitions.blocks
    instances = [s for s in graph.scopes.values() if s.kind == "block"]
    for s in instances:
        d = blocks[s.block]
        assert isinstance(d, defs.BlockDef)
        assert sorted(p.name for p in d.params) == sorted(s.args), s.path
        assert s.defined == d.span
    assert graph.definitions.network.name == graph.name


def test_the_ir_holds_no_syntax_tree(graph):
    """Definitions, decisions and computed arguments are IR types, never the parser's AST."""
    from archspec.syntax import ast

    syntax_types = tuple(v for v in vars(ast).values() if isinstance(v, type) and v.__module__ == ast.__name__)
    leaked = {type(x).__name__ for x in _walk(graph) if isinstance(x, syntax_types)}
    assert not leaked


def test_network_parameters_stay_symbolic():
    g = archspec.load(ROOT / "specs/mobilenet_v2.arch").graph
    net = g.definitions.network
    assert [p.name for p in net.params] == ["width", "classes", "setting"]
    assert net.params[0].default == irx.Const(1.0)
    names = set()
    for x in _walk(net.body):
        if irx.is_expr(x):
            names |= irx.free_names(x)
    assert {"width", "classes", "setting"} <= names
    # the classifier's size is the name `classes`, not its value
    calls = [x for x in _walk(net.body) if isinstance(x, defs.Call) and x.callee == "linear"]
    assert calls[0].args[0].value == irx.Var("classes")


def test_calls_are_resolved_to_ops_and_blocks():
    g = archspec.load(ROOT / "specs/resnet50.arch").graph
    bottleneck = g.definitions.blocks["bottleneck"]
    calls = [x for x in _walk(bottleneck.body) if isinstance(x, defs.Call)]
    kinds = {(c.callee, c.kind) for c in calls}
    assert ("conv", "op") in kinds and ("se", "block") in kinds and ("batchnorm", "op") in kinds
    assert bottleneck.assigned == {"width", "out", "stride1", "stride3"}
    assert [p.name for p in bottleneck.params] == ["planes", "stride", "groups", "width_per_group", "stride_on", "se_reduction", "dilation"]
    assert bottleneck.params[1].default == irx.Const(1)


def test_an_alias_resolves_to_the_canonical_op(tmp_path):
    spec = tmp_path / "a.arch"
    spec.write_text("input 3x8x8\nnetwork n:\n    conv(4, 3)\n    bn\n    flatten\n    fc(10)\n")
    g = archspec.load(spec).graph
    calls = [x for x in _walk(g.definitions.network.body) if isinstance(x, defs.Call)]
    assert [(c.callee, c.written, c.kind) for c in calls] == [
        ("conv", "conv", "op"),
        ("batchnorm", "bn", "op"),
        ("flatten", "flatten", "op"),
        ("linear", "fc", "op"),
    ]


def _imports(path: Path) -> set[str]:
    tree = pyast.parse(path.read_text())
    found = set()
    for n in pyast.walk(tree):
        if isinstance(n, pyast.Import):
            found |= {a.name for a in n.names}
        elif isinstance(n, pyast.ImportFrom) and n.module:
            found.add(n.module)
    return found


@pytest.mark.parametrize("folder", ["ir", "backends"])
def test_the_ir_and_the_backends_never_import_the_syntax(folder):
    for path in sorted((ROOT / "archspec" / folder).rglob("*.py")):
        bad = {m for m in _imports(path) if m == "archspec.syntax" or m.startswith("archspec.syntax.") or m == "archspec.api"}
        assert not bad, f"{path.name} imports {bad}"
