"""Issue 19's first pieces: the API in a notebook (a one-line repr, an HTML table, specs from
strings, a clear message without torch), one --input per command, and cost across input sizes
with the macs as a formula in H and W."""

from __future__ import annotations

import json
import sys

import pytest

import archspec
from archspec.sizes import macs_formula, parse_sizes
from tests.conftest import FIXTURES, SPECS, run_cli

NET = "param c = 4\ninput 3x8x8\nnetwork n:\n    conv(c, 3)\n    relu\n"


def test_repr_is_one_line_with_the_totals_torchvision_measures():
    a = archspec.load(SPECS / "resnet50.arch")
    want = json.loads((FIXTURES / "torchvision_measured.json").read_text())["models"]["resnet50"]
    text = repr(a)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("<Analysis resnet50 (") and f"{want['params']:,} params" in text and f"{want['macs']:,} macs" in text


def test_html_repr_is_the_table_by_scope_with_names_escaped(write_spec):
    path = write_spec("input 3x8x8\nnetwork n:\n    b1: conv(4, 3)\n    b2: relu\n", "a<b>&.arch")
    html = archspec.load(path)._repr_html_()
    assert html.count("<tr>") == 1 + 2 + 1  # header, two scopes, total
    assert "a&lt;b&gt;&amp;.arch" in html and "a<b>" not in html


def test_loads_reads_a_spec_from_a_string(write_spec, monkeypatch, tmp_path):
    a = archspec.loads(NET, c=8)
    b = archspec.load(write_spec(NET), c=8)
    assert (a.total, a.output_shape) == (b.total, b.output_shape) and a.spec == "<string>.arch"
    with pytest.raises(archspec.ArchspecError) as err:
        archspec.loads(NET.replace("conv(c, 3)", "conv(c, 9)"))
    assert err.value.diagnostics[0].span.file == "<string>.arch" and err.value.diagnostics[0].span.line == 4
    y = archspec.loads("input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(4, 3)\n", name="net.yaml")
    assert y.output_shape == (4, 6, 6)
    monkeypatch.chdir(tmp_path)  # imports are read relative to the current folder
    (tmp_path / "lib.arch").write_text("block b(c):\n    conv(c, 1)\n")
    assert archspec.loads('import "lib.arch"\ninput 3x8x8\nnetwork n:\n    b(5)\n').output_shape == (5, 8, 8)


def test_build_without_torch_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=r"archspec.build needs PyTorch: pip install 'archspec\[torch\]'"):
        archspec.build(SPECS / "d2l" / "lenet.arch")
    with pytest.raises(ModuleNotFoundError, match="archspec.verify needs PyTorch"):
        archspec.verify(SPECS / "d2l" / "lenet.arch")


def test_input_given_twice_is_an_error_not_the_last_one():
    r = run_cli("check", "specs/vgg16.arch", "--input", "3x32x32", "--input", "3x64x64")
    assert r.returncode == 2 and "--input is given 2 times" in r.stderr and "Traceback" not in r.stderr


def test_cost_takes_several_sizes_a_row_each():
    r = run_cli("cost", "specs/resnet50.arch", "--sizes", "160:224:32", "--input", "3x320x256", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [s["input"] for s in doc["sizes"]] == ["3x320x256", "3x160x160", "3x192x192", "3x224x224"]
    want = json.loads((FIXTURES / "torchvision_measured.json").read_text())["models"]["resnet50"]
    assert doc["sizes"][-1]["macs"] == want["macs"] and doc["sizes"][-1]["params"] == want["params"]
    assert doc["macs_formula"]["stride"] == 32
    table = run_cli("cost", "specs/resnet50.arch", "--sizes", "224:256:32")
    assert table.returncode == 0 and "by input size" in table.stdout and "macs = 81,456 * H*W + 2,048,000" in table.stdout


@pytest.mark.parametrize("bad", ["0:10", "10:5", "1:10:0", "abc", "1:2:3:4", "1:1000"])
def test_wrong_sizes_are_a_usage_error(bad):
    with pytest.raises(ValueError):
        parse_sizes(bad)
    r = run_cli("cost", "specs/resnet50.arch", "--sizes", bad)
    assert r.returncode == 2 and "--sizes" in r.stderr and "Traceback" not in r.stderr


def test_several_sizes_of_several_specs_is_a_usage_error():
    r = run_cli("cost", "specs/resnet50.arch", "specs/vgg16.arch", "--sizes", "224")
    assert r.returncode == 2 and "one spec" in r.stderr


@pytest.mark.parametrize("spec, name", [("resnet50.arch", "resnet50"), ("vgg16.arch", "vgg16"), ("densenet121.arch", "densenet121"), ("mobilenet_v2.arch", "mobilenet_v2")])
def test_the_macs_formula_gives_torchvisions_count_at_224(spec, name):
    """Fitted on sizes 256 and up, the formula gives at 224 what torchvision's model measures there."""
    a = archspec.load(SPECS / spec)
    formula = macs_formula(SPECS / spec, a)
    want = json.loads((FIXTURES / "torchvision_measured.json").read_text())["models"][name]["macs"]
    assert formula is not None and formula(224, 224) == want


def test_the_macs_formula_agrees_with_flopcountermode_at_another_size():
    """An independent count: the generated module at 3x320x288 under FlopCounterMode."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    a = archspec.load(SPECS / "resnet18.arch")
    formula = macs_formula(SPECS / "resnet18.arch", a)
    model = archspec.build(SPECS / "resnet18.arch", input=(3, 320, 288)).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, 320, 288))
    assert formula(320, 288) == counter.get_total_flops() // 2


def test_a_network_without_a_formula_says_so(write_spec):
    path = write_spec("input 3x64x64\nnetwork n:\n    conv(8, 3, padding=1)\n    maxpool(3, stride=3)\n    conv(8, 3, padding=1)\n")
    a = archspec.load(path)
    assert macs_formula(path, a) is None  # floor(H / 3) on multiples of 4: no polynomial
    r = run_cli("cost", str(path), "--sizes", "64")
    assert r.returncode == 0 and "no formula" in r.stdout


def test_dtype_adds_an_activation_bytes_column():
    r = run_cli("cost", "specs/d2l/lenet.arch", "--dtype", "float16", "--format", "csv")
    assert r.returncode == 0
    rows = [line.split(",") for line in r.stdout.strip().splitlines()]
    assert rows[0][-1] == "activation_bytes"
    a = archspec.load(SPECS / "d2l" / "lenet.arch")
    assert int(rows[-1][-1]) == 2 * a.total.activations
    assert [int(x[-1]) for x in rows[1:-1]] == [2 * layer.cost.activations for layer in a.layers]
    table = run_cli("cost", "specs/d2l/lenet.arch", "--dtype", "bfloat16")
    assert "bfloat16 activation bytes" in table.stdout


def test_verify_says_what_it_is_doing():
    pytest.importorskip("torch")
    r = run_cli("verify", "specs/d2l/lenet.arch")
    assert r.returncode == 0 and "verify: building and running lenet" in r.stderr
