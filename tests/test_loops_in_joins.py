"""What YOLOv8 needed of the language (issue 17), each checked on its own:
- a `for` (or `repeat`) among a join's branches: one branch an iteration (C2f's concat of cv1's
  output and every bottleneck's);
- values named by a computed name (`"y{i}" = conv(...)`) and named again (`"box{i}" = @"{i}"`);
- `idle NAME: ...`: a member built and counted (parameters, state_dict) that forward never runs;
- `members a, b, c`: the order a block registers its members in, where it differs from the
  order they run (the state_dict's order).
Where a module is built, it is compared with one written by hand in plain PyTorch."""

from __future__ import annotations

import pytest

import archspec
from archspec.backends.torch.state_dict import state_dict_shapes
from tests.conftest import needs_torch, run_cli

C2F = """\
input 4x8x8

block c2f(c2, n=1):
    members cv1, cv2, m
    c = c2 // 2
    cv1: conv(2 * c, 1)
    chunk(2, 1)
    m:
        for i in range(n):
            "{i}": conv(c, 3, padding=1)
    concat:
        @cv1
        for i in range(n):
            @"{i}"
    cv2: conv(c2, 1)

network n:
    c2f(8, 3)
"""


def test_a_loop_among_a_joins_branches_gives_a_branch_an_iteration(write_spec):
    a = archspec.load(write_spec(C2F))
    concat = next(n for n in a.graph.layers() if n.op == "concat")
    assert [a.graph.nodes[i].path for i in concat.inputs] == ["0.cv1", "0.m.0", "0.m.1", "0.m.2"]
    assert concat.shape == (8 + 3 * 4, 8, 8)


def test_members_orders_the_state_dict_not_the_run(write_spec):
    a = archspec.load(write_spec(C2F))
    assert [n.path for n in a.graph.layers() if n.op == "conv"] == ["0.cv1", "0.m.0", "0.m.1", "0.m.2", "0.cv2"]
    keys = list(state_dict_shapes(a.graph))
    assert keys == ["0.cv1.weight", "0.cv1.bias", "0.cv2.weight", "0.cv2.bias", *[f"0.m.{i}.{w}" for i in range(3) for w in ("weight", "bias")]]


@needs_torch
@pytest.mark.parametrize("built", [("c", "b", "e", "d"), ("e", "d", "c", "b"), ("b", "c", "e", "d")])
def test_the_module_registers_members_in_the_listed_order_whatever_order_they_run(write_spec, built):
    """`members a, b, c, d, e` over branches that build them in another order: the module's
    state_dict lists them as the line does (and a member built right where its turn comes needs
    no placeholder: C2f's `m`)."""
    first, second = built[:2], built[2:]
    spec = (
        "input 4x8x8\n\nblock unit():\n    members a, b, c, d, e\n    a: conv(4, 1)\n    add:\n"
        + "".join(f"        _:\n            {x}: conv(4, 1)\n            {y}: conv(4, 1)\n" for x, y in (first, second))
        + "\nnetwork n:\n    unit()\n"
    )
    model = archspec.build(write_spec(spec))
    assert list(model.state_dict()) == [f"0.{m}.{w}" for m in "abcde" for w in ("weight", "bias")]


@needs_torch
def test_the_c2f_module_equals_ultralytics_way_of_writing_it(write_spec):
    """The generated block against C2f written as Ultralytics writes it: same keys in the same
    order (strict load), the same output."""
    import torch
    from torch import nn

    class C2fByHand(nn.Module):
        def __init__(self, c1, c2, n):
            super().__init__()
            self.c = c2 // 2
            self.cv1 = nn.Conv2d(c1, 2 * self.c, 1)
            self.cv2 = nn.Conv2d((2 + n) * self.c, c2, 1)
            self.m = nn.ModuleList(nn.Conv2d(self.c, self.c, 3, padding=1) for _ in range(n))

        def forward(self, x):
            y = list(self.cv1(x).chunk(2, 1))
            y.extend(m(y[-1]) for m in self.m)
            return self.cv2(torch.cat(y, 1))

    ours = archspec.build(write_spec(C2F))
    hand = nn.Sequential(C2fByHand(4, 8, 3))
    assert list(ours.state_dict()) == list(hand.state_dict())
    ours.load_state_dict(hand.state_dict(), strict=True)
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(ours(x), hand(x))


HEADS = """\
input 3x16x16

block dfl():
    chunk(4, 0)
    conv: conv(1, 1, bias=false)

network heads:
    stem: conv(8, 3, padding=1)
    boxes:
        for i in range(2):
            @stem
            "{i}": conv(16, 1)
            "box{i}" = @"{i}"
    @box0
    idle dfl: dfl()
    out: concat:
        @box0
        @box1
    return out
"""


def test_values_named_by_computed_names_and_named_again(write_spec):
    a = archspec.load(write_spec(HEADS))
    out = a.graph.nodes[a.graph.outputs[0][1]]
    assert [a.graph.nodes[i].path for i in out.inputs] == ["boxes.0", "boxes.1"]


def test_an_idle_member_counts_its_parameters_and_does_no_work(write_spec):
    a = archspec.load(write_spec(HEADS))
    assert [n.path for n in a.graph.idle] == ["dfl.0", "dfl.conv"]
    assert "dfl.conv.weight" in state_dict_shapes(a.graph)
    runs = 8 * 3 * 9 + 8 + 2 * (16 * 8 + 16)
    assert a.total.params == runs + 4  # the idle conv's 1x4x1x1 weight
    assert a.total.macs == 16 * 16 * (8 * 3 * 9 + 2 * 16 * 8)  # and no macs of it
    table = run_cli("cost", str(write_spec(HEADS)))
    assert table.returncode == 0 and "conv (idle)" in table.stdout
    rows = {x["path"]: x for x in a.to_dict()["layers"]}
    assert rows["dfl.conv"]["op"] == "conv" and rows["dfl.conv"]["idle"] is True and "idle" not in rows["stem"]


@needs_torch
def test_the_module_builds_an_idle_member_and_never_calls_it(write_spec):
    import torch

    model = archspec.build(write_spec(HEADS))
    assert model.dfl.conv.weight.shape == (1, 4, 1, 1)
    calls = []
    model.dfl.register_forward_hook(lambda *args: calls.append(1))
    out = model(torch.randn(1, 3, 16, 16))
    assert out.out.shape == (1, 32, 16, 16) and calls == []
    assert archspec.verify(write_spec(HEADS)).ok
    source = archspec.compile_torch(write_spec(HEADS))
    # forward drops the copies nothing reads: the value the idle member would take, a value read back
    assert "x = values['box0']" not in source and "x = values[f'{i}']" not in source and "values[f'box{i}'] = x" in source


@needs_torch
def test_a_numbered_member_after_an_idle_one_takes_the_next_position(write_spec):
    """`conv; idle aux: conv(2, 1); conv(2, 1)`: the idle member takes position 1, as the analysis
    numbers the members; the last conv was registered as '1' (keys unlike the layer paths)."""
    path = write_spec("input 3x8x8\n\nnetwork m:\n    conv(4, 3, padding=1)\n    idle aux: conv(2, 1)\n    conv(2, 1)\n")
    assert [layer.path for layer in archspec.load(path).layers] == ["0", "2", "aux"]
    assert [k for k in archspec.build(path).state_dict() if k.endswith("weight")] == ["0.weight", "aux.weight", "2.weight"]
    assert archspec.verify(path).ok


@needs_torch
def test_an_idle_head_that_flattens_is_built_with_its_features(write_spec):
    """`idle aux: global_avgpool; flatten; linear(2)` was refused ("a flatten no instance
    reaches": the flatten's nodes are idle ones); its linear takes the 4 channels pooled to 1x1."""
    path = write_spec("input 3x8x8\n\nnetwork n:\n    conv(4, 3)\n    idle aux: global_avgpool; flatten; linear(2)\n    relu\n")
    model = archspec.build(path)
    assert tuple(model.aux[2].weight.shape) == (2, 4)
    assert archspec.verify(path).ok


@pytest.mark.parametrize(
    "body, message",
    [
        ("    members cv1, cv3\n", "'cv3' is not a member"),
        ("    members cv1, cv1\n", "listed twice"),
        ("    if true:\n        members cv1\n        relu\n", "belongs at the top of its body"),
    ],
)
def test_a_wrong_members_line_is_a_located_error(write_spec, body, message):
    text = f"input 3x8x8\nblock b():\n{body}    cv1: conv(4, 1)\n    cv2: conv(4, 1)\nnetwork n:\n    b()\n"
    r = run_cli("check", str(write_spec(text)))
    assert r.returncode == 1 and message in r.stderr and "net.arch:" in r.stderr and "Traceback" not in r.stderr


def test_an_idle_value_cannot_be_read_and_a_quoted_name_names_a_call(write_spec):
    read = write_spec("input 3x8x8\nnetwork n:\n    idle spare: conv(4, 1)\n    @spare\n")
    r = run_cli("check", str(read))
    assert r.returncode == 1 and "unknown value '@spare'" in r.stderr
    bad = write_spec('input 3x8x8\nnetwork n:\n    "y" = 3 * 4\n')
    r = run_cli("check", str(bad))
    assert r.returncode == 1 and "a quoted name names a value" in r.stderr and "Traceback" not in r.stderr


def test_loops_and_ifs_among_a_concats_branches_are_collected_in_a_list():
    """ASPP's one branch a rate (`for r in rates: _: conv(...); batchnorm; relu`), a mixed
    convolution's kernels and a pool branch only some instances have: forward collects them in a
    list as torchvision's ASPP does, and torch.cat joins it with the fixed branches."""
    from tests.conftest import FIXTURES

    src = archspec.compile_torch(FIXTURES / "branches_collected.arch")
    assert "outs: list[torch.Tensor] = []" in src and "outs.append(" in src
    assert "torch.cat([out, *outs, pooled], 1)" in src and "torch.cat(outs, 1)" in src
    assert "for i, r in enumerate(rates):" in src and "getattr(self, f'{3 * i + 3}')(x)" in src  # the state_dict's positions


@needs_torch
@pytest.mark.parametrize("fixture", ["branches_collected.arch", "branches_summed.arch"])
def test_branches_collected_compute_what_onnxruntime_computes(fixture):
    pytest.importorskip("onnxruntime")
    from archspec.backends.torch.runtime import verify
    from tests.conftest import FIXTURES
    from tests.test_onnx_backend import _agree

    a = archspec.load(FIXTURES / fixture)
    result = verify(a.graph, a.spec, batch=2)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]
    _agree(a)


def test_loops_and_ifs_among_an_adds_and_a_muls_branches_are_summed():
    """A selective-kernel sum over kernel sizes, a shortcut plus one branch a dilation and one
    only some instances have, two loops in one add, a gate of sigmoids: forward collects the
    branches in one list and sums it (multiplies it) with the fixed ones; with fewer than two
    branches, as the language has it, the input is the other operand."""
    from tests.conftest import FIXTURES

    src = archspec.compile_torch(FIXTURES / "branches_summed.arch")
    assert src.count("x = sum(outs) if len(outs) > 1 else x + sum(outs)") == 2  # sk, two_loops
    assert "x = x + sum(outs) if outs else x + x" in src  # the shortcut is the identity
    assert "x = math.prod(outs) if len(outs) > 1 else x * math.prod(outs)" in src
    assert "def __init__(self, in_channels: int, kernels: tuple[int, ...]) -> None:" in src  # the gate level's argument is typed too
