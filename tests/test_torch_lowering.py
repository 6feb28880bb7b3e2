"""The torch lowering table: one complete record per op of the registry, each checked against its shape rule.

Every op of `archspec.ops.OPS` has a record in `LOWERINGS` with the fields its kind needs,
and every record's constructor, run on a tensor of its input's shape, gives the shape the
op's shape rule inferred and holds exactly the tensors its `state` rule says.
"""

from __future__ import annotations

import pytest

import archspec
from archspec.backends.torch.lowering import HELPERS, LOWERINGS, TorchOp, lit
from archspec.ir import Node
from archspec.ops import OPS
from tests.op_samples import SAMPLES

_FIELDS = ("module", "call", "call_inplace", "join", "state")
# what lowers: every op a spec can call, and the joins (the graph's input is the argument of forward)
_LOWERED = sorted(n for n, op in OPS.items() if not op.internal or op.variadic)


def _graph(tmp_path, shape: str, body: str, name: str):
    path = tmp_path / f"{name}.arch"
    path.write_text(f"input {shape}\n\nnetwork n:\n    {body}\n")
    return archspec.load(path).graph


def _nodes(tmp_path, op: str):
    """Every node of `op` in its samples, with its graph."""
    found = []
    for k, (shape, body) in enumerate(SAMPLES[op]):
        g = _graph(tmp_path, shape, body, f"{op}{k}")
        nodes = [n for n in g.nodes if n.op == op]
        assert nodes, f"sample {body!r} of '{op}' has no '{op}' node"
        found += [(g, n) for n in nodes]
    return found


def test_every_op_has_one_complete_record():
    """A record per op of the registry (and none for an op it lacks), with the fields its kind needs."""
    assert sorted(LOWERINGS) == sorted(OPS), "LOWERINGS and archspec.ops.OPS differ"
    for name, op in OPS.items():
        rec = LOWERINGS[name]
        assert isinstance(rec, TorchOp), name
        if not rec.lowered:  # the graph's input: explicitly nothing to build
            assert op.internal and not op.variadic, f"'{name}' is marked as having no lowering but is an op a spec can call"
            assert all(getattr(rec, f) is None for f in _FIELDS) and not rec.sizes and not rec.overwritable, name
            continue
        if op.variadic:
            assert rec.join is not None, f"join op '{name}' has no join expression"
            assert rec.module is None and rec.call is None and rec.state is None, f"join op '{name}' builds nothing"
            continue
        assert rec.join is None, f"'{name}' is not variadic but has a join"
        assert rec.module is not None, f"no module constructor for op '{name}'"
        assert rec.call_inplace is None or rec.call is not None, f"'{name}' has an in-place call but no call"
        if rec.state is not None:
            assert rec.sizes, f"stateful op '{name}' names no attributes that size it"
        elif not op.attrs:
            assert rec.call is not None, f"stateless op '{name}' without arguments has no plain call"
        assert name in SAMPLES, f"op '{name}' has no sample network in tests/op_samples.py"


@pytest.mark.parametrize("op", [n for n in _LOWERED if not OPS[n].variadic])
def test_state_rule_and_sizes_follow_the_ops_cost(op, tmp_path):
    """An op with parameters or buffers has a state rule naming as many parameters as its cost rule
    counts; the attributes that size it are attributes its shape rule gives."""
    rec = LOWERINGS.get(op)
    assert rec is not None and rec.lowered, f"no torch lowering for op '{op}'"
    for g, node in _nodes(tmp_path, op):
        cost = OPS[op].cost(node.attrs, [g.nodes[i].shape for i in node.inputs], node.shape)
        stateful = bool(cost.params or cost.buffers)
        assert (rec.state is not None) == stateful, f"'{op}': cost says stateful={stateful}, the record disagrees"
        assert set(rec.sizes) <= set(node.attrs), f"'{op}': sizes {set(rec.sizes) - set(node.attrs)} are not attributes"


def _namespace():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.nn import functional as F

    ns = {"torch": torch, "nn": nn, "F": F}
    for src in HELPERS.values():
        exec(src, ns)
    return ns


def _lower(rec: TorchOp, node: Node, ns: dict):
    source = rec.module(node, lambda name: lit(node.attrs[name]))
    return source, eval(source, ns)


@pytest.mark.parametrize("op", _LOWERED)
def test_every_lowering_gives_its_shape_rules_shape_and_state(op, tmp_path):
    ns = _namespace()
    torch = ns["torch"]
    rec = LOWERINGS.get(op)
    assert rec is not None and rec.lowered, f"no torch lowering for op '{op}'"
    torch.manual_seed(0)
    for g, node in _nodes(tmp_path, op):
        ins = [4 * torch.randn(2, *g.nodes[i].shape) for i in node.inputs]  # past 6, where relu6 bends
        want = (2, *node.shape)
        if rec.join is not None:
            names = [f"x{k}" for k in range(len(ins))]
            out = eval(rec.join(names), ns | dict(zip(names, ins)))
            assert tuple(out.shape) == want, (op, node.attrs)
            continue
        source, module = _lower(rec, node, ns)
        if rec.apply is not None:  # a parameter of its block: applied by forward's expression
            assert isinstance(module, torch.nn.Parameter), source
            out = eval(rec.apply("p", "x"), ns | {"p": module, "x": ins[0].clone()})
            assert tuple(out.shape) == want, (source, g.nodes[node.inputs[0]].shape)
            assert [("", tuple(module.shape))] == [(k, tuple(s)) for k, s in rec.state(node)], source
            continue
        module.eval()
        with torch.no_grad():
            out = module(ins[0].clone())
        assert tuple(out.shape) == want, (source, g.nodes[node.inputs[0]].shape)
        tensors = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        assert tensors == dict(rec.state(node) if rec.state else []), source
        assert list(tensors) == [k for k, _ in (rec.state(node) if rec.state else [])], f"{source}: state_dict order"
        if rec.call is not None:  # the plain call computes what the module does
            x = ins[0].clone()
            got = eval(rec.call(node, "x"), ns | {"x": x})
            assert torch.allclose(got, out), rec.call(node, "x")
        if rec.call_inplace is not None:
            x = ins[0].clone()
            got = eval(rec.call_inplace(node, "x"), ns | {"x": x})
            assert got.data_ptr() == x.data_ptr() and torch.allclose(got, out), rec.call_inplace(node, "x")


def test_a_block_argument_named_layers_builds(tmp_path):
    """Block arguments named `layers` (and `layers_`), in a block the backend builds as a list that
    its `repeat` and `if` fill, do not collide with that list: it did (`for i in range(layers)`
    read the list, and building failed with a TypeError)."""
    pytest.importorskip("torch")
    from archspec.backends.torch.runtime import source, verify

    path = tmp_path / "layers.arch"
    path.write_text(
        "block stage(layers, channels, layers_=false):\n"
        "    repeat layers:\n"
        "        conv(channels, 3, padding=1)\n"
        "        relu\n"
        "    if layers_:\n"
        "        batchnorm\n"
        "    maxpool(2, stride=2)\n\n"
        "input 3x16x16\n\n"
        "network net:\n"
        "    stage(1, 8)\n"
        "    stage(2, 16, layers_=true)\n"
        "    flatten\n"
        "    linear(10)\n"
    )
    analysis = archspec.load(path)
    code = source(analysis.graph, analysis.spec)
    assert code.count("class Stage(nn.Sequential)") == 1, code
    assert "def __init__(self, in_channels: int, layers: int, channels: int, layers_: bool = False)" in code, code
    result = verify(analysis.graph, analysis.spec)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]
    model = archspec.build(path)
    assert [len(stage) for stage in list(model)[:2]] == [3, 6]  # conv, relu per repeat, the batchnorm if asked, the pool


@pytest.mark.parametrize("op", [n for n in _LOWERED if not OPS[n].variadic])
def test_the_symbolic_shape_rule_agrees_with_the_shape_rule(op, tmp_path):
    """`derived` and `channels` (`uneven` where it applies) write an op's shape rule over expressions (for sizes the torch
    backend writes as formulas): evaluated on a node's own values they give what the rule gave.
    Every size the rule adds (not an argument of the op) has a derived formula."""
    import ast

    rec = LOWERINGS[op]
    own = {a.name for a in OPS[op].attrs}
    assert set(rec.derived) == set(rec.sizes) - own, f"'{op}': sizes its shape rule adds without a formula"
    for g, node in _nodes(tmp_path, op):
        c_in = _feature_size(g, node.inputs[0])

        def value(e: ast.expr):
            return eval(compile(ast.Expression(ast.fix_missing_locations(e)), "<rule>", "eval"))  # noqa: S307 - built here

        def arg(name: str, node=node) -> ast.expr:
            v = node.attrs[name]
            return ast.Constant(v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v)

        for size, rule in rec.derived.items():
            assert value(rule(ast.Constant(c_in), arg)) == node.attrs[size], f"'{op}': {size}"
        channels = rec.uneven[1] if rec.uneven is not None and rec.uneven[0](node, g.nodes[node.inputs[0]].shape) else rec.channels
        out = value(channels(ast.Constant(c_in), arg)) if channels is not None else c_in
        if op != "flatten":  # flatten multiplies the spatial size in: the backend reads it from the graph
            assert out == _feature_size(g, node.id), f"'{op}': channels out"


def _channels_last(g, node_id: int) -> bool:
    """Whether a value is an image with its channels last: after permute((1, 2, 0)), until a
    permute puts them first again (a swap of height and width keeps them last)."""
    n = g.nodes[node_id]
    if n.op == "permute":
        return n.attrs["order"] == (1, 2, 0) or (n.attrs["order"] == (0, 2, 1) and _channels_last(g, n.inputs[0]))
    return bool(n.inputs) and _channels_last(g, n.inputs[0])


def _feature_size(g, node_id: int) -> int:
    """The size the torch backend tracks as a value's channels: its first axis, or its last when
    the channels are last (what a per-position linear or a layer norm reads)."""
    shape = g.nodes[node_id].shape
    return shape[-1] if _channels_last(g, node_id) else shape[0]


def test_stochastic_depth_drops_whole_rows_in_training_and_nothing_in_eval():
    """The helper the generated file carries (torchvision.ops.StochasticDepth's semantics): in
    training each sample ("row") or the whole batch is kept, scaled by 1/(1-p), or zeroed."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from archspec.backends.torch.lowering import HELPERS

    namespace = {"torch": torch, "nn": nn}
    exec(HELPERS["StochasticDepth"], namespace)  # noqa: S102 - archspec's own helper source
    torch.manual_seed(0)
    x = torch.ones(4000, 3, 2, 2)
    sd = namespace["StochasticDepth"](0.3, "row")
    y = sd.train()(x)
    per_row = y.flatten(1)
    assert bool(((per_row == 0).all(1) | torch.isclose(per_row, torch.tensor(1 / 0.7)).all(1)).all())
    dropped = float((per_row == 0).all(1).float().mean())
    assert abs(dropped - 0.3) < 0.04
    assert torch.equal(sd.eval()(x), x)
    whole = namespace["StochasticDepth"](0.5, "batch").train()(x)
    assert len(torch.unique(whole)) == 1
