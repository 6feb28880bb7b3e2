"""Named values and several outputs (issue 17): a value named where it is made (a label, or
`name = call`) is read later anywhere in its block or network (`@name`, `@"down{i}"`); a network
returns several named values. The analysis, the cost table, the diagnostics and every backend
(torch, ONNX, diagram) carry them."""

from __future__ import annotations

import importlib.util
import re
import textwrap

import pytest

import archspec
from tests.conftest import HAVE_TORCH, run_cli

HAVE_ONNX = importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None

# A small U-Net with its skips written by name, a second head reading the encoder, two outputs.
UNET = """\
param classes = 2
input 1x32x32

block double_conv(c):
    conv(c, 3, padding=1); batchnorm; relu
    conv(c, 3, padding=1); batchnorm; relu

network unet:
    down1: double_conv(8)
    pool1: maxpool(2)
    down2: double_conv(16)
    pool2: maxpool(2)
    bottom: double_conv(32)
    up2: conv_transpose(16, 2, stride=2)
    concat:
        @down2
        identity
    dec2: double_conv(16)
    up1: conv_transpose(8, 2, stride=2)
    concat:
        @down1
        @up1
    dec1: double_conv(8)
    head: conv(classes, 1)
    edges = conv(classes, 1)
    @down2
    aux: upsample(scale=2); conv(classes, 1)
    return head, aux, edges
"""

# The same skips from loops: the encoder's outputs named "down{i}" and read back as @"down{...}".
UNET_LOOPS = """\
input 1x32x32

block double_conv(c):
    conv(c, 3, padding=1); relu
    conv(c, 3, padding=1); relu

network unet:
    for i, c in enumerate((8, 16)):
        "down{i}": double_conv(c)
        maxpool(2)
    double_conv(32)
    for i, c in enumerate((16, 8)):
        conv_transpose(c, 2, stride=2)
        concat:
            @"down{1 - i}"
            identity
        double_conv(c)
    conv(2, 1)
"""


@pytest.fixture
def spec(tmp_path):
    def write(text: str, name: str = "net.arch"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def test_skips_read_the_values_they_name(spec):
    a = archspec.load(spec(UNET))
    nodes = {n.path: n for n in a.graph.nodes}
    # the first concat joins the second encoder stage (far back) with the up-convolution
    cat = next(n for n in a.graph.nodes if n.op == "concat")
    skip, current = (a.graph.nodes[i] for i in cat.inputs)
    assert skip.path == "down2.5" and current.op == "identity" and a.graph.nodes[current.inputs[0]].path == "up2"
    cat2 = [n for n in a.graph.nodes if n.op == "concat"][1]
    assert [a.graph.nodes[i].path for i in cat2.inputs] == ["down1.5", "up1"]
    assert cat2.shape == (16, 32, 32)
    # `edges = conv(...)` names the value only: its module is numbered, and it reads the head
    edges = a.graph.nodes[dict(a.graph.outputs)["edges"]]
    assert edges.op == "conv" and a.graph.nodes[edges.inputs[0]].path == "head"
    # `@down2` switches back: aux upsamples the second encoder stage
    aux = a.graph.nodes[dict(a.graph.outputs)["aux"]]
    assert aux.path == "aux.1" and nodes["aux.0"].inputs == (nodes["down2.5"].id,)


def test_several_outputs_in_the_cost_table(spec):
    path = spec(UNET)
    a = archspec.load(path)
    assert a.outputs == [("head", (2, 32, 32)), ("aux", (2, 32, 32)), ("edges", (2, 32, 32))]
    assert a.to_dict()["outputs"] == [{"name": n, "shape": list(s)} for n, s in a.outputs]
    r = run_cli("check", str(path))
    assert r.returncode == 0 and "-> 2x32x32 (head), 2x32x32 (aux), 2x32x32 (edges)" in r.stdout


def test_loops_read_values_named_in_earlier_loops(spec):
    a = archspec.load(spec(UNET_LOOPS))
    cats = [n for n in a.graph.nodes if n.op == "concat"]
    reads = [[a.graph.nodes[i] for i in c.inputs] for c in cats]
    assert [skip.path for skip, _ in reads] == ["down1.3", "down0.3"]
    assert [a.graph.nodes[cur.inputs[0]].op for _, cur in reads] == ["conv_transpose", "conv_transpose"]
    assert a.output_shape == (2, 32, 32)


def test_yaml_has_the_same_power(spec):
    yaml_text = """\
    input: 3x16x16
    network:
      name: n
      body:
        - stem: conv(8, 3, padding=1)
        - pooled = maxpool(2)
        - up: upsample(scale=2)
        - concat: ["@stem", identity]
        - "@pooled"
        - side: conv(4, 1)
      outputs: [up, side]
    """
    a = archspec.load(spec(yaml_text, "n.yaml"))
    assert a.outputs == [("up", (8, 16, 16)), ("side", (4, 8, 8))]
    cat = next(n for n in a.graph.nodes if n.op == "concat")
    assert a.graph.nodes[cat.inputs[0]].path == "stem" and a.graph.nodes[a.graph.nodes[cat.inputs[1]].inputs[0]].path == "up"


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("    @late\n    late: relu\n", r"'@late' is read before it is made", 4),
        ("    stem: conv(4, 3)\n    @stme\n", r"unknown value '@stme'.*\n(.*\n)*help: did you mean '@stem'\?", 5),
        ("    relu\n    return nothing\n", r"return: the network makes no value named 'nothing'", 5),
        ("    a: relu\n    return a\n    relu\n", r"return ends the network: it must be the last statement", 5),
        ("    a: relu\n    return a, a\n", r"a value is returned twice", 5),
        ('    @"x{1 + 1}"\n', r"unknown value '@x2'", 4),
        ("    x: conv(4, 3)\n    relu\n    concat:\n        @x\n        maxpool(2)\n",
         r"concat: branch 2 gives \[4, 3, 3\].*\n(.*\n)*.*branch 1 gives \[4, 6, 6\], made by conv 'x' \(line 4\)", 8),
    ],
)  # fmt: skip
def test_bad_references_are_located_errors(spec, body, message, line):
    path = spec("input 3x8x8\n\nnetwork n:\n" + body)
    r = run_cli("check", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert re.search(message, r.stderr), r.stderr
    assert re.search(rf"net\.arch:{line}:\d+: error", r.stderr), r.stderr


def test_values_are_local_to_their_block(spec):
    path = spec("input 3x8x8\n\nblock b():\n    relu\n    @stem\n\nnetwork n:\n    stem: conv(4, 3)\n    b()\n")
    r = run_cli("check", str(path))
    assert r.returncode == 1
    assert "'@stem' is not a value of block 'b': values are local to the block or network that makes them" in r.stderr
    assert "'stem' is made in the network, here" in r.stderr
    path = spec("input 3x8x8\n\nblock b():\n    relu\n    return x\n\nnetwork n:\n    b()\n")
    r = run_cli("check", str(path))
    assert r.returncode == 1 and "return is for the network" in r.stderr


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the module")
def test_torch_module_keeps_named_values_and_returns_a_named_tuple(spec, tmp_path):
    import torch

    path = spec(UNET)
    src = archspec.compile_torch(path)
    assert "class UnetOutputs(NamedTuple):" in src and "return UnetOutputs(head, aux, edges)" in src
    assert "down1 = self.down1(x)" in src and "torch.cat([down2, x], 1)" in src and "torch.cat([down1, up1], 1)" in src
    out_file = tmp_path / "unet.py"
    out_file.write_text(src)
    r = __import__("subprocess").run(["ruff", "check", "--quiet", str(out_file)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok] + result.layer_mismatches
    module = archspec.build(path).eval()
    y = module(torch.randn(2, 1, 32, 32))
    assert y._fields == ("head", "aux", "edges") and [tuple(t.shape) for t in y] == [(2, 2, 32, 32)] * 3
    # the skip is the encoder's own output: recompute it from the members and compare
    x = torch.randn(1, 1, 32, 32)
    down1 = module.down1(x)
    down2 = module.down2(module.pool1(down1))
    bottom = module.bottom(module.pool2(down2))
    dec2 = module.dec2(torch.cat([down2, module.up2(bottom)], 1))
    dec1 = module.dec1(torch.cat([down1, module.up1(dec2)], 1))
    assert torch.allclose(module(x).head, module.head(dec1))


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares onnxruntime with the torch module")
def test_onnx_model_has_every_output(spec):
    import onnx

    from archspec.backends.onnx.runtime import verify_onnx

    a = archspec.load(spec(UNET))
    model = archspec.to_onnx(a)
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["head", "aux", "edges"]
    result = verify_onnx(a.graph, a.spec, batch=2)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]
    assert sum("within atol" in c.what for c in result.checks) == 3


def test_diagram_draws_every_output_and_the_long_skips(spec):
    a = archspec.load(spec(UNET))
    source = archspec.diagram(a, unfold=True).source
    for name in ("head", "aux", "edges"):
        assert re.search(rf"output\d* \[label={name} ", source)
    down2 = next(n.id for n in a.graph.nodes if n.path == "down2.5")
    cat = next(n.id for n in a.graph.nodes if n.op == "concat")
    assert f"n{down2} -> n{cat}" in source  # the long skip, drawn as an edge from the encoder


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the module")
def test_loop_names_in_the_torch_module(spec):
    """`"down{i}": ...` read back as `@"down{1 - i}"`: the module keeps those values in a dict by
    name (and their channels, which size the decoder), as one would by hand."""
    labelled = UNET_LOOPS.replace("        maxpool(2)", '        "pool{i}": maxpool(2)').replace(
        "    double_conv(32)", "    bottom: double_conv(32)"
    ).replace("        conv_transpose(c, 2, stride=2)", '        "up{i}": conv_transpose(c, 2, stride=2)').replace(
        "        double_conv(c)\n    conv(2, 1)", '        "dec{i}": double_conv(c)\n    head: conv(2, 1)'
    )
    path = spec(labelled)
    src = archspec.compile_torch(path)
    assert "values[f'down{i}'] = x" in src and "values[f'down{1 - i2}']" in src and "values_channels[f'down{1 - i2}'] + c2" in src
    assert "values[f'pool" not in src  # only the names such a read can compute are kept
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok] + result.layer_mismatches
    if HAVE_ONNX:
        from archspec.backends.onnx.runtime import verify_onnx

        a = archspec.load(path)
        assert verify_onnx(a.graph, a.spec).ok
    # unlabelled members in and after a loop of a class with a forward: named by their positions,
    # the spec's (and the graph's) '5', '7', '8', '10' of the decoder, '11' after it
    bare = spec(UNET_LOOPS, "bare.arch")
    src = archspec.compile_torch(bare)
    assert "getattr(self, f'{3 * i2 + 5}')(x)" in src and "self.add_module('11', nn.Conv2d(out_channels, 2, 1))" in src
    result = archspec.verify(bare)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok] + result.layer_mismatches


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the modules")
@pytest.mark.parametrize("which", [0, 1])
def test_the_documented_examples_run(spec, which):
    """docs/language.md's Dense prediction examples, as written there, check and verify."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    section = doc[doc.index("## Dense prediction") : doc.index("## Expressions")]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    path = spec("input 3x64x64\n\n" + blocks[which])
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok] + result.layer_mismatches


def test_sizes_like_another_value_and_the_input_by_name(spec):
    """FCN upsamples to the input's size (`like="input"`), the original U-Net crops a skip to the
    decoder's (`crop(like=...)`); `@input` is the network's (or a block's) input."""
    path = spec(
        "input 3x20x20\n\nnetwork n:\n    conv(8, 3, stride=2, padding=1)\n    up: upsample(like=\"input\", mode=\"bilinear\")\n"
        "    small = conv(4, 3)\n    @input\n    crop(like=\"small\")\n"
    )
    a = archspec.load(path)
    assert [x.output for x in a.layers] == [(8, 10, 10), (8, 20, 20), (4, 18, 18), (3, 18, 18)]
    assert a.graph.nodes[a.graph.output].inputs == (0,)  # the crop reads the input itself
    if HAVE_TORCH:
        src = archspec.compile_torch(path)
        assert "identity = x" in src and "identity[:, :, 1:19, 1:19]" in src and "input = " not in src  # not Python's builtin
        result = archspec.verify(path)
        assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]


LOOPED_UNET = """param widths = (16, 32, 64)
input 3x68x68

block double_conv(c):
    conv(c, 3, padding=1, bias=false); batchnorm; relu
    conv(c, 3, padding=1, bias=false); batchnorm; relu

network unet:
    n = len(widths)
    for i, c in enumerate(widths):
        "down{i}": double_conv(c)
        maxpool(2)
    bottom: double_conv(2 * widths[n - 1])
    for i in range(n):
        "up{i}": conv_transpose(widths[n - 1 - i], 2, stride=2)
        concat:
            @"down{n - 1 - i}"; crop(like="up{i}")
            identity
    head: conv(3, 1)
"""

LOOPED_FPN = """param widths = (8, 16, 32)
input 3x40x40

network fpn:
    n = len(widths)
    for i, c in enumerate(widths):
        conv(c, 3, stride=2, padding=1)
        "c{i}": relu
    for k in range(n - 1):
        j = n - 2 - k
        add:
            upsample(like="c{j}", mode="bilinear"); conv(widths[j], 1)
            @"c{j}"
"""


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the generated module")
@pytest.mark.parametrize(("text", "call", "other"), [(LOOPED_UNET, "center_crop(values[f'down{self.n - 1 - i2}'], x)", (8, 16, 32, 64)), (LOOPED_FPN, "size=values[f'c{j}'].shape[-2:]", (4, 8, 16, 32))])
def test_a_like_computed_in_a_loop_sizes_by_the_kept_value_in_forward(spec, text, call, other):
    """A U-Net's decoder written as a loop (`crop(like="up{i}")`, 68 -> 34 -> 17 -> 8: the crops
    differ by iteration) and an FPN's top-down loop (`upsample(like="c{j}")`) were refused (`like`
    computed from parameters): forward takes the size from the kept value, so every `widths` the
    constructor takes gives the module `--set widths=...` compiles."""
    import torch

    path = spec(text)
    src = archspec.compile_torch(path)
    assert call in src
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]
    namespace: dict = {}
    exec(compile(src, "net.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    net = namespace[path.stem](widths=other)  # the file's function, named after the spec
    a = archspec.load(path, widths=other)
    assert sum(p.numel() for p in net.parameters()) == a.total.params
    assert tuple(net.eval()(torch.randn(1, *a.graph.input_shape)).shape[1:]) == a.graph.nodes[a.graph.output].shape


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ('upsample(like="input", scale=2)', "upsample: give like or scale, not both"),
        ('upsample(like="nothing")', "unknown value '@nothing'"),
        ("upsample(like=3)", "'like' must name a value, as a string"),
        ("crop", "crop: give the size, or like=NAME"),
    ],
)
def test_bad_like_is_a_located_error(spec, item, message):
    r = run_cli("check", str(spec(f"input 3x8x8\n\nnetwork n:\n    relu\n    {item}\n")))
    assert r.returncode == 1 and message in r.stderr and "net.arch:5:" in r.stderr and "Traceback" not in r.stderr


# The paper's figure 1, read off the figure: each stage's output (channels, side).
UNET_PAPER_STAGES = {
    "down1": (64, 568), "pool1": (64, 284), "down2": (128, 280), "pool2": (128, 140), "down3": (256, 136),
    "pool3": (256, 68), "down4": (512, 64), "pool4": (512, 32), "bottom": (1024, 28), "up4": (512, 56),
    "dec4": (512, 52), "up3": (256, 104), "dec3": (256, 100), "up2": (128, 200), "dec2": (128, 196),
    "up1": (64, 392), "dec1": (64, 388), "head": (2, 388),
}  # fmt: skip


def test_unet_has_the_papers_shapes():
    from tests.conftest import SPECS

    a = archspec.load(SPECS / "unet.arch")
    last = {}
    for layer in a.layers:
        last[layer.path.split(".")[0]] = layer.output
    assert {k: (v[0], v[1]) for k, v in last.items() if k in UNET_PAPER_STAGES} == UNET_PAPER_STAGES
    assert a.output_shape == (2, 388, 388)


@pytest.mark.skipif(not HAVE_TORCH, reason="the reference is a hand-written PyTorch U-Net")
def test_unet_equals_a_hand_written_one():
    """The paper's U-Net written directly in PyTorch: the same params, FlopCounterMode's count is
    twice archspec's macs, and with the same weights the same output (at 188x188, the smallest
    input whose every crop fits, to keep the test quick)."""
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    from tests.conftest import SPECS

    def double(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3), nn.ReLU(), nn.Conv2d(o, o, 3), nn.ReLU())

    class PaperUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.ModuleList([double(1, 64), double(64, 128), double(128, 256), double(256, 512)])
            self.bottom = double(512, 1024)
            self.expand = nn.ModuleList([nn.ModuleList([nn.ConvTranspose2d(c * 2, c, 2, stride=2), double(c * 2, c)]) for c in (512, 256, 128, 64)])
            self.head = nn.Conv2d(64, 2, 1)

        def forward(self, x):
            skips = []
            for d in self.down:
                x = d(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.bottom(x)
            for (up, dec), skip in zip(self.expand, reversed(skips)):
                x = up(x)
                h, w = x.shape[-2:]
                top, left = (skip.shape[-2] - h) // 2, (skip.shape[-1] - w) // 2
                x = dec(torch.cat([skip[:, :, top : top + h, left : left + w], x], 1))
            return self.head(x)

    ref = PaperUNet().eval()
    a = archspec.load(SPECS / "unet.arch", input=(1, 188, 188))
    assert sum(p.numel() for p in ref.parameters()) == a.total.params
    x = torch.randn(1, 1, 188, 188)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        want = ref(x)
    assert counter.get_total_flops() == 2 * a.total.macs
    ours = archspec.build(SPECS / "unet.arch", input=(1, 188, 188)).eval()
    ref.load_state_dict(dict(zip(ref.state_dict(), ours.state_dict().values())))  # the same tensors, in order
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)
    assert want.shape == (1, 2, 4, 4)


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the module")
def test_a_name_made_again_with_computed_channels(spec):
    """`skip` named with 4 channels, then again with `w`: the torch backend keeps the second's
    channels (it crashed with an AttributeError when the first had none to keep)."""
    path = spec("param w = 8\ninput 4x8x8\n\nnetwork n:\n    skip = conv(4, 3, padding=1)\n    skip = conv(w, 3, padding=1)\n"
                "    relu\n    concat:\n        identity\n        @skip\n")  # fmt: skip
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]
    assert archspec.load(path).output_shape == (16, 8, 8)


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the module")
def test_a_loop_after_a_member_and_a_chain_in_a_loop_after_a_named_value(write_spec):
    """Two faults the random networks found once they drew loops that name values: the member
    before a loop whose values are read later went missing from __init__ (the dict of kept
    channels, inserted at the top, moved the statement the loop meant to drop), and a chain in a
    loop right after a named value fed that value to every iteration, not the one before's."""
    import torch

    path = write_spec(
        "input 4x6x6\n"
        "block unit(c):\n    conv(c, 3, padding=1)\n    relu\n"
        "network n:\n"
        "    first: conv(4, 1)\n"
        '    for i in range(3):\n        "v{i}": conv(4, 3, padding=1)\n'
        '    concat:\n        @"v0"\n        @"v2"\n'
        "    c1: conv(4, 1)\n"
        '    m:\n        for i in range(2):\n            "{i}": unit(4)\n'
        '    concat:\n        @c1\n        for i in range(2):\n            @"{i}"\n'
        "    last: conv(4, 1)\n"
    )
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok] + result.layer_mismatches
    module = archspec.build(path).eval()
    x = torch.randn(2, 4, 6, 6)
    v = [module.first(x)]
    for i in range(3):
        v.append(getattr(module, f"v{i}")(v[-1]))
    c1 = module.c1(torch.cat([v[1], v[3]], 1))
    m0 = getattr(module.m, "0")(c1)
    m1 = getattr(module.m, "1")(m0)
    assert torch.equal(module(x), module.last(torch.cat([c1, m0, m1], 1)))


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the module")
def test_a_level_that_keeps_its_named_values_to_itself_is_a_class_of_its_own(write_spec):
    """Values named and read inside a level that joins are that level's business: the network
    around it stays an nn.Sequential, so a numbered member after branches that make members is
    still written (it was refused, as if the network's forward had to keep `v0`)."""
    import torch

    path = write_spec(
        "param s = 2\ninput 3x8x8\n"
        "network net:\n"
        "    if s > 2:\n        maxpool(2)\n"
        '    loop:\n        for j in range(s):\n            "v{j}": conv(4, 3, padding=1)\n'
        '        concat:\n            identity\n            @"v0"\n'
        "    conv(2, 1)\n"
    )
    source = archspec.compile_torch(path)
    assert "class Net(nn.Sequential)" in source and "class LoopBlock(nn.Module)" in source, source
    module = archspec.build(path).eval()
    x = torch.randn(2, 3, 8, 8)
    v0 = module.loop.v0(x)
    v1 = module.loop.v1(v0)
    assert torch.equal(module(x), module[-1](torch.cat([v1, v0], 1)))


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares onnxruntime with the torch module")
def test_a_value_named_in_a_loop_of_a_branch_and_read_after_the_join(write_spec):
    """The same level shape, but a long skip reads one of its loop's values after the join (a
    random network found it): the level is then written into the network's forward."""
    from tests.test_onnx_backend import _agree

    path = write_spec(
        "input 4x6x6\n"
        "network net:\n"
        "    add:\n"
        '        b1:\n            for i in range(2):\n                "v{i}": conv(4, 3, padding=1)\n'
        '            concat:\n                @"v0"\n                @"v1"\n            n2: conv(4, 1)\n'
        "        b2:\n            relu\n"
        "    n3: relu\n"
        "    add:\n        identity\n        @v0\n"
    )
    _agree(archspec.load(path))


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares onnxruntime with the torch module")
def test_an_output_named_by_a_computed_name(write_spec):
    """A feature pyramid's `"p{i}": conv(...)` in a loop, returned as `return head, p0`: the
    forward keeps it in the dict and returns `values['p0']` (it was refused)."""
    from tests.test_onnx_backend import _agree

    path = write_spec(
        "input 3x16x16\nnetwork fpn:\n    for i in range(2):\n        \"c{i}\": conv(8, 3, stride=2, padding=1)\n"
        "    for i in range(1):\n        upsample(scale=2)\n        add:\n            identity\n            @\"c{i}\"\n"
        "        \"p{i}\": conv(8, 1)\n    head: conv(2, 1)\n    return head, p0\n"
    )
    a = archspec.load(path)
    assert [n for n, _ in a.graph.outputs] == ["head", "p0"]
    assert "return FpnOutputs(head, values['p0'])" in archspec.compile_torch(path)
    _agree(a)


LIKES_OF_OTHER_SIZES = {
    # a block called at two sizes: `like="input"` is each instance's own input (it was nn.Upsample(size=16) in both)
    "input-of-a-block": "block head():\n    maxpool(2)\n    upsample(like=\"input\")\n\nnetwork m:\n    head()\n    maxpool(2)\n    head()\n",
    # the crop kept columns 4..11 of the second instance's 8x8 input, of the right shape and wrong values
    "crop-in-a-block": "block b():\n    v = maxpool(2)\n    @input\n    crop(like=\"v\")\n\nnetwork m:\n    b()\n    b()\n",
    "crop-in-a-loop": "network m:\n    for i in range(2):\n        v = maxpool(2)\n        upsample(scale=2)\n        crop(like=\"v\")\n",
    # a computed like= that names the input (KeyError: 'input')
    "computed-input": "network m:\n    s0 = maxpool(2)\n    maxpool(2)\n    for j in range(2):\n        upsample(like=\"s0\" if j == 0 else \"input\")\n",
}


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares the module with the analysis and onnxruntime")
@pytest.mark.parametrize("case", LIKES_OF_OTHER_SIZES, ids=list(LIKES_OF_OTHER_SIZES))
def test_a_literal_like_whose_instances_take_other_sizes_is_sized_in_forward(spec, case):
    """A literal like= was the size its first instance had, fixed in the file: in a block called
    at two sizes or a loop whose iterations shrink, the module gave other shapes (or, for a crop,
    the wrong pixels); forward now reads the size from the value it names."""
    from tests.test_onnx_backend import _agree

    path = spec("input 3x16x16\n\n" + LIKES_OF_OTHER_SIZES[case])
    result = archspec.verify(path)
    assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok]
    _agree(archspec.load(path))


def test_a_like_computed_from_a_file_parameter_is_refused(spec):
    """`upsample(like=ref)` for `param ref = "a"` kept only `a`: another `ref` failed in forward (KeyError)."""
    path = spec('param ref = "a"\ninput 3x16x16\n\nnetwork m:\n    a = conv(4, 3, padding=1)\n    b = maxpool(2)\n    upsample(like=ref)\n')
    r = run_cli("compile", str(path), "--to", "torch")
    assert r.returncode == 1 and ":7:5: error:" in r.stderr and "computed from the file's parameter 'ref'" in r.stderr


@pytest.mark.skipif(not HAVE_TORCH, reason="builds the generated module")
def test_an_output_another_parameter_would_not_make_is_refused_by_the_constructor(write_spec):
    """`"o{i}"` for i in range(n), `return o0, o1`: `--set n=1` is an error at the return, and the
    constructor built `n=1` and failed in forward (KeyError: 'o1'); it raises as --set does."""
    path = write_spec('param n = 2\ninput 3x8x8\n\nnetwork m:\n    for i in range(n):\n        "o{i}": conv(4, 1)\n    return o0, o1\n')
    r = run_cli("check", str(path), "--set", "n=1")
    assert r.returncode == 1 and "makes no value named 'o1'" in r.stderr
    namespace: dict = {}
    exec(compile(archspec.compile_torch(path), "net.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    assert len(namespace["net"](n=3)(__import__("torch").randn(1, 3, 8, 8))) == 2
    with pytest.raises(ValueError, match="makes no value named 'o1'"):
        namespace["net"](n=1)


SPLICED = {
    "a join": "block res(c, project):\n    add:\n        _:\n            conv1: conv(c, 3, padding=1, bias=false)\n            bn1: batchnorm\n"
    "        downsample if project:\n            conv(c, 1); batchnorm\n    relu\nnetwork net:\n    *res(4, true)\n    relu\n",
    "named values and a loop": 'block chain(c, n):\n    for i in range(n):\n        "c{i}": conv(c, 3, padding=1)\n    concat:\n        @"c0"\n'
    "        identity\n    out: conv(c, 1)\nnetwork net:\n    *chain(4, 2)\n    relu\n",
}


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares onnxruntime with the torch module")
@pytest.mark.parametrize("what", sorted(SPLICED))
def test_a_spliced_block_that_joins_or_names_values_is_written_in_its_callers_forward(write_spec, what):
    """`*block(...)` adds the block's statements to the caller: its joins make the caller a class
    with a forward (this was refused, "a join in a sequential scope"), its names are the caller's,
    its arguments the values it was called with (`range(2)`, no `self.n` of a name the caller lacks;
    `project=true` decides its `if` in the file, no `if True:`)."""
    from tests.test_onnx_backend import _agree

    path = write_spec("input 4x6x6\n" + SPLICED[what])
    source = archspec.compile_torch(path)
    assert "if True" not in source and "self.n" not in source, source
    _agree(archspec.load(path))


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares onnxruntime with the torch module")
@pytest.mark.parametrize("wide", [False, True])
def test_an_if_whose_branches_leave_the_value_in_different_variables(write_spec, wide):
    """After `@a` the value is in `a`; an `if` whose one branch computes from it leaves it in x
    and the other in `a`: the branch that leaves it in `a` copies it to x (this was refused)."""
    from tests.test_onnx_backend import _agree

    path = write_spec("param wide = false\ninput 4x6x6\nnetwork net:\n    a: conv(4, 1)\n    relu\n    @a\n    if wide:\n        conv(4, 3, padding=1)\n    out: conv(2, 1)\n")
    _agree(archspec.load(path, wide=wide))


LOOP_VARIABLE = """\
input 4x8x8
network n:
    for i in range(2):
        "a{i}": conv(4 + 2 * i, 1)
        relu
    for i in range(2):
        j = 1 - i
        concat:
            identity
            @"a{j}"
"""


@pytest.mark.skipif(not (HAVE_TORCH and HAVE_ONNX), reason="compares onnxruntime with the torch module")
def test_a_variable_a_loop_assigns_is_computed_again_in_forwards_loop(write_spec):
    """`j = 1 - i` in a loop whose forward reads `@"a{j}"`: forward computed nothing and read
    `self.j`, the last iteration's value, for every iteration (the output's channels came out
    wrong, or with equal channels its values; a user-style spec found it). Forward now assigns j
    in its own loop, and a variable a loop updates from its value before the loop is refused
    where forward reads it."""
    from tests.test_onnx_backend import _agree

    path = write_spec(LOOP_VARIABLE)
    src = archspec.compile_torch(path)
    assert "j = 1 - i2\n            x = torch.cat([x, values[f'a{j}']], 1)" in src and "self.j" not in src
    a = archspec.load(path)
    assert a.output_shape == (6 + 6 + 4, 8, 8)  # a1, then a1, then a0
    _agree(a)
    updated = write_spec(LOOP_VARIABLE.replace("    for i in range(2):\n        j = 1 - i", "    j = 2\n    for i in range(2):\n        j = j - 1"), name="updated.arch")
    r = run_cli("compile", str(updated), "--to", "torch")
    assert r.returncode == 1 and "a loop updates it from its value before the loop" in r.stderr and "Traceback" not in r.stderr
    sized = write_spec("input 4x8x8\nnetwork n:\n    c = 2\n    a: conv(8, 1)\n    for i in range(2):\n        c = c * 2\n        conv(c, 1)\n    add:\n        identity\n        @a\n", name="sized.arch")
    _agree(archspec.load(sized))  # such a variable forward does not read is written as before
