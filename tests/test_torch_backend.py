"""The torch backend: every spec compiles to a standalone module that is the network the
static analysis describes (shapes at every layer, params, buffers, FlopCounterMode macs),
with torchvision's state_dict layout. Every test here runs torch; what the generated source says,
which needs none, is in test_torch_source.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import archspec
from archspec.backends.torch.state_dict import state_dict_shapes
from tests.conftest import FIXTURES, ROOT, SPECS, VARIANTS, reference_spec, run_cli

torch = pytest.importorskip("torch")

NETWORK_SPECS = sorted(
    str(p.relative_to(ROOT))
    for p in list(SPECS.glob("*.arch")) + list(SPECS.glob("*.yaml")) + list((SPECS / "d2l").glob("*.arch"))
    if p.stem != "lib"
)


@pytest.mark.slow
@pytest.mark.parametrize("spec", NETWORK_SPECS)
def test_generated_module_agrees_with_the_static_analysis(spec):
    from archspec.backends.torch.runtime import verify

    a = archspec.load(ROOT / spec)
    # one image where it is over 50G multiply-adds (FCN's and U-Net's 520 and 572 pixels: 40 s
    # each at two); every other spec runs two, which is what tests the batch axis
    result = verify(a.graph, a.spec, batch=1 if a.total.macs > 50e9 else 2)
    assert not result.layer_mismatches, result.layer_mismatches[:5]
    assert result.layers_checked > 0
    for check in result.checks:
        assert check.ok, (check.what, check.expected, check.measured)


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "state_dicts").glob("*.json")))
def test_state_dict_equals_torchvision_and_loads_strictly(name):
    want = json.loads((FIXTURES / "state_dicts" / f"{name}.json").read_text())
    model = archspec.build(SPECS / f"{name}.arch")
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert got == want
    # a checkpoint with exactly these keys and shapes loads with strict=True
    checkpoint = {k: torch.zeros(v) if v else torch.tensor(0) for k, v in want.items()}
    model.load_state_dict(checkpoint, strict=True)


def test_every_torchvision_spec_has_torchvisions_state_dict(torchvision_measured):
    for name, figures in torchvision_measured.items():
        path, kw = reference_spec(name)
        model = archspec.build(path, **kw)
        got = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert got == figures["state_dict"], name
        if name != "googlenet_aux":  # its aux heads come where they run, not after inception5b (docs/torch.md)
            assert list(got) == list(figures["state_dict"]), name  # torchvision's order too


def test_static_state_dict_layout_is_the_modules(torchvision_measured):
    a = archspec.load(SPECS / "densenet121.arch")
    model = archspec.build(SPECS / "densenet121.arch")
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == state_dict_shapes(a.graph)


def test_generated_file_imports_without_archspec(tmp_path):
    out = tmp_path / "vgg16.py"
    r = run_cli("compile", "specs/vgg16.arch", "--to", "torch", "-o", str(out))
    assert r.returncode == 0, r.stderr
    code = (
        "import sys\n"
        "sys.modules['archspec'] = None  # any import of archspec now fails\n"
        "from vgg16 import VGG16, vgg16\n"
        "import torch\n"
        "m = vgg16()\n"
        "assert isinstance(m, VGG16)\n"
        "y = m.eval()(torch.randn(1, 3, 224, 224))\n"
        "print(tuple(y.shape), sum(p.numel() for p in m.parameters()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["(1,", "1000)", "138357544"]


def test_a_size_parameter_passed_to_the_generated_constructor_builds_that_network():
    # its source: test_torch_source.py::test_network_parameters_that_only_set_sizes_are_constructor_arguments
    namespace: dict = {}
    exec(compile(archspec.compile_torch(SPECS / "resnet18.arch"), "resnet18.py", "exec"), namespace)
    model = namespace["resnet18"](classes=10).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    assert sum(p.numel() for p in model.parameters()) == archspec.load(SPECS / "resnet18.arch", classes=10).total.params


def test_set_and_input_apply_to_build():
    model = archspec.build(SPECS / "resnet18.arch", classes=10, input=(3, 64, 64))
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 10)


@pytest.mark.parametrize(
    "spec,shape", [("resnet18.arch", (1, 3, 224, 224)), ("googlenet.arch", (1, 3, 224, 224)), ("mobilenet_v2.arch", (1, 3, 224, 224))]
)
def test_torch_export_of_generated_modules(spec, shape):
    model = archspec.build(SPECS / spec).eval()
    exported = torch.export.export(model, (torch.randn(*shape),))
    assert exported.module()(torch.randn(*shape)).shape == (1, 1000)


@pytest.mark.parametrize(
    "spec", ["resnet18.arch", "googlenet.arch", "mobilenet_v2.arch", "shufflenet_v2.arch", "densenet121.arch", "d2l/vgg11.arch"]
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script is deprecated, not gone: people still script
def test_generated_modules_compile_with_torchscript(spec):
    model = archspec.build(SPECS / spec, input=(3, 64, 64) if "d2l" not in spec else (1, 64, 64)).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, *(3, 64, 64) if "d2l" not in spec else (1, 64, 64))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_asymmetric_padding_helper_compiles_with_torchscript(tmp_path):
    """PaddedConv2d's forward called super().forward, which TorchScript rejects."""
    spec = tmp_path / "padded.arch"
    spec.write_text("input 3x8x8\nnetwork m:\n    conv(4, 3, padding=(0, 1, 1, 2))\n")
    model = archspec.build(spec).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.script(model)(x), model(x))


def test_verify_prints_its_checks_and_refuses_cuda_without_it():
    r = run_cli("verify", "specs/d2l/lenet.arch")
    assert r.returncode == 0 and "FlopCounterMode" in r.stdout and "agree on cpu" in r.stdout
    if not torch.cuda.is_available():
        r = run_cli("verify", "specs/d2l/lenet.arch", "--device", "cuda")
        assert r.returncode == 1 and "CUDA is not available" in r.stderr


def test_every_op_lowers_to_the_shape_its_rule_gives(write_spec):
    """One small network per op, verified end to end: the lowering and the shape rule agree."""

    cases = [
        "conv(4, (3, 2), stride=(2, 1), padding=(0, 1, 2, 0), groups=1)",
        'conv(6, 3, padding="same", dilation=2, groups=3)',
        "dwconv(3, stride=2, padding=1, multiplier=2, bias=false)",
        "lrn(5)",
        "leaky_relu(0.2)",
        "softmax",
        "hardswish",
        "hardsigmoid",
        "silu",
        "gelu",
        "tanh",
        "relu6",
        "adaptive_maxpool((2, 3))",
        "global_maxpool",
        "maxpool(3, stride=2, padding=1, dilation=1, ceil_mode=true)",
        "avgpool(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)",
        "channel_shuffle(3)",
        "batchnorm(eps=0.001, momentum=0.01)",
        "dropout(0.2)",
    ]
    for i, item in enumerate(cases):
        path = write_spec(f"input 6x9x9\nnetwork n:\n    {item}\n", f"op{i}.arch")
        result = archspec.verify(path, batch=2)
        assert result.ok, (item, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok], result.layer_mismatches)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("spec", ["resnet50.arch", "googlenet.arch", "densenet121.arch", "mobilenet_v2.arch"])
def test_cuda_verify_and_cpu_gpu_agree(spec):

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    result = archspec.verify(SPECS / spec, device="cuda", batch=2)
    assert result.ok
    torch.manual_seed(0)
    model = archspec.build(SPECS / spec).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda()).cpu()
    assert torch.allclose(cpu, gpu, rtol=1e-3, atol=1e-3 * cpu.abs().max().item())


def test_training_example_runs_and_the_loss_falls():
    r = subprocess.run(
        [sys.executable, "examples/train_resnet18.py", "--steps", "3", "--size", "32"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    losses = [float(line.split()[-1]) for line in r.stdout.splitlines() if line.startswith("step")]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_init_kaiming_and_zero_residual_as_the_spec_asks():
    torch.manual_seed(0)
    plain = archspec.build(SPECS / "resnet18.arch")
    zeroed = archspec.build(SPECS / "resnet18.arch", zero_init_residual=True)
    # torchvision's zero_init_residual zeroes bn2 of every BasicBlock, and nothing else
    state = json.loads((FIXTURES / "state_dicts" / "resnet18.json").read_text())
    residual = {k[: -len(".weight")] for k in state if re.fullmatch(r"layer\d\.\d+\.bn2\.weight", k)}
    assert len(residual) == 8
    for name, module in zeroed.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert bool((module.weight == 0).all()) == (name in residual), name
    assert all(bool((m.weight == 1).all()) for m in plain.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # Kaiming normal, fan-out: std = sqrt(2 / (out_channels * k * k))
    w = plain.layer4[1].conv1.weight
    assert abs(w.std().item() / (2 / (512 * 9)) ** 0.5 - 1) < 0.05


def test_zero_residual_zeroes_the_branch_before_an_se_gate_and_every_member_a_block_joins():
    """SE-ResNet-50's residual branch ends bn3 -> SE -> add: bn3 is its last batch norm, as
    torchvision's Bottleneck and timm's zero_init_last have it (it zeroed the downsample's batch
    norm once, and crashed on the blocks without one). A block that joins in a loop (`"b{i}"`) has
    every one of its branches zeroed, not only the first."""
    zeroed = archspec.build(SPECS / "se_resnet50.arch", zero_init_residual=True)
    norms = {n: m for n, m in zeroed.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    last = {n for n in norms if re.fullmatch(r"layer\d\.\d+\.bn3", n)}
    assert len(last) == 3 + 4 + 6 + 3  # one per bottleneck of ResNet-50's stages
    assert {n for n, m in norms.items() if bool((m.weight == 0).all())} == last
    text = "input 4x4x4\ninit kaiming(zero_residual=true)\nblock big:\n    for i in range(3):\n        add:\n            identity\n            _:\n                \"c{i}\": conv(4, 1, bias=false)\n                \"b{i}\": batchnorm\nnetwork n:\n    big\n"
    a = archspec.loads(text, name="loop.arch")
    from archspec.backends.torch.runtime import source

    ns: dict = {"__name__": "loop"}
    exec(compile(source(a.graph, a.spec), "loop.py", "exec"), ns)  # noqa: S102 - archspec's own generated file
    big = next(m for m in ns["loop"]().modules() if type(m).__name__ == "Big")
    assert all(bool((getattr(big, f"b{i}").weight == 0).all()) for i in range(3))


def test_zero_residual_reaches_a_numbered_member_by_its_name():
    """The residual branch's batch norm is member '3' of a level whose forward calls F.relu at
    position 1, so the container holds 't', '2', '3': `m.body[3]` was an IndexError at build."""
    text = (
        "input 3x8x8\ninit kaiming(zero_residual=true)\n"
        "block res(c):\n    body:\n        t: conv(c, 3, padding=1)\n        relu\n        conv(c, 3, padding=1)\n        batchnorm\n"
        "    add:\n        identity\n        @t\n"
        "network net:\n    conv(8, 3, padding=1)\n    res(8)\n"
    )
    a = archspec.loads(text, name="numbered.arch")
    from archspec.backends.torch.runtime import source

    ns: dict = {"__name__": "numbered"}
    exec(compile(source(a.graph, a.spec), "numbered.py", "exec"), ns)  # noqa: S102 - archspec's own generated file
    norms = {n: m for n, m in ns["Net"]().named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert list(norms) == ["1.body.3"] and bool((norms["1.body.3"].weight == 0).all())


def test_a_member_only_some_instances_have_is_refused_only_where_zero_residual_asks():
    """`unit(true)` ends its branch in `bn`, `unit(false)` has none: zeroing `m.bn` in every Unit
    would fail, so zero_residual=true is a located refusal; plain `init kaiming` never zeroes
    anything and compiles."""
    from archspec.backends.torch.runtime import source

    body = "block unit(norm):\n    add:\n        identity\n        _:\n            c: conv(4, 1, bias=false)\n            bn if norm: batchnorm\nnetwork n:\n    unit(true)\n    unit(false)\n"
    plain = archspec.loads(f"input 4x4x4\ninit kaiming\n{body}", name="plain.arch")
    assert "zeros_(m.bn" not in source(plain.graph, plain.spec)
    zeroed = archspec.loads(f"input 4x4x4\ninit kaiming(zero_residual=true)\n{body}", name="zeroed.arch")
    with pytest.raises(archspec.ArchspecError, match="some instances of 'unit' have no 'bn' to zero") as err:
        source(zeroed.graph, zeroed.spec)
    assert err.value.diagnostics[0].span.line == 4  # the add


@pytest.mark.slow
def test_every_generated_file_imports_and_runs_without_archspec(tmp_path):
    """Every spec's file, imported in a process where `import archspec` fails, runs its input to its output."""
    expected = {}
    for spec in NETWORK_SPECS:
        a = archspec.load(ROOT / spec)
        module = "m_" + spec.replace("/", "_").replace(".", "_")
        (tmp_path / f"{module}.py").write_text(archspec.compile_torch(ROOT / spec))
        factory = re.findall(r"^def (\w+)\(", (tmp_path / f"{module}.py").read_text(), re.M)[-1]  # the last definition
        expected[module] = (factory, list(a.input_shape), [1, *a.output_shape], a.total.params)
    code = (
        "import importlib, json, sys\n"
        "sys.modules['archspec'] = None\n"
        "import torch\n"
        "out = {}\n"
        "for module, (factory, shape, _, _) in json.loads(sys.argv[1]).items():\n"
        "    m = getattr(importlib.import_module(module), factory)().eval()\n"
        "    with torch.no_grad():\n"
        "        y = m(torch.randn(1, *shape))\n"
        "    y = y[0] if isinstance(y, tuple) else y  # several outputs: a NamedTuple, the first checked here\n"
        "    out[module] = [list(y.shape), sum(p.numel() for p in m.parameters())]\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, json.dumps(expected)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    for module, (_, _, shape, params) in expected.items():
        assert got[module] == [shape, params], module


def _reference_state_dicts() -> list[tuple[str, str]]:
    """(fixture, model) for every reference model with a measured state_dict that is a variant of
    a spec or a spec of its own: the families tools/measure_*.py measured, timm's Inceptions, and
    later_figures' variants."""
    out = []
    for fixture in ("efficientnet_measured.json", "efficientnet_v2_measured.json", "mnasnet_measured.json", "regnet_measured.json",
                    "convnext_measured.json", "timm_measured.json", "timm_inception_measured.json", "ultralytics_measured.json"):  # fmt: skip
        models = json.loads((FIXTURES / fixture).read_text())["models"]
        out += [(fixture, name) for name, m in models.items() if "state_dict" in m and (name in VARIANTS or fixture.startswith("timm_inception"))]
    later = json.loads((FIXTURES / "later_figures.json").read_text())["models"]  # its yolov8n lacks num_batches_tracked: the fixture above has it
    out += [("later_figures.json", name) for name, m in later.items() if "state_dict" in m and name in VARIANTS and not name.startswith("yolov8")]
    return out


@pytest.mark.parametrize("fixture, name", _reference_state_dicts(), ids=[n for _, n in _reference_state_dicts()])
def test_every_variants_module_has_its_references_state_dict(fixture, name):
    """The generated module of each variant (and of timm's Inceptions), built on the meta device (no memory, no time for
    regnet_y_128gf's 644M parameters): its state_dict is the reference's, keys, shapes and order,
    and a checkpoint of the reference's keys loads into it with strict=True."""
    torch = pytest.importorskip("torch")
    want = {k: list(v) for k, v in json.loads((FIXTURES / fixture).read_text())["models"][name]["state_dict"].items()}
    path, kw = reference_spec(name)
    with torch.device("meta"):
        model = archspec.build(path, **kw)
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == list(want.items())
    model.load_state_dict({k: torch.empty(v, device="meta") for k, v in want.items()}, strict=True, assign=True)
