"""The command line: formats, exit codes, comparisons, and no torch on the analysis path."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from tests.conftest import ROOT, heavy_imports, run_cli


def test_check_prints_shapes_and_totals():
    r = run_cli("check", "specs/vgg16.arch")
    assert r.returncode == 0, r.stderr
    assert "vgg16: 3x224x224 -> 1000" in r.stdout and "138,357,544 params" in r.stdout


def test_check_accepts_input_and_set():
    r = run_cli("check", "specs/resnet18.arch", "--input", "3x64x64", "--set", "classes=10")
    assert r.returncode == 0 and "3x64x64 -> 10" in r.stdout


def test_check_on_a_library_lists_its_blocks():
    r = run_cli("check", "specs/lib/resnet.arch")
    assert r.returncode == 0 and "library" in r.stdout and "bottleneck" in r.stdout


def test_cost_json_has_the_documented_shape(torchvision_figures):
    r = run_cli("cost", "specs/resnet50.arch", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == {"spec", "network", "input", "output", "outputs", "total", "layers"}
    assert d["spec"] == "specs/resnet50.arch" and d["network"] == "resnet50"
    assert d["input"] == [3, 224, 224] and d["output"] == [1000]
    assert d["outputs"] == [{"name": "output", "shape": [1000]}]  # one, unnamed: the network's last value
    want = torchvision_figures["resnet50"]
    assert d["total"]["params"] == want["params"] and d["total"]["macs"] == want["macs"]
    assert d["total"]["flops"] == 2 * want["macs"]
    assert set(d["total"]) == {"params", "buffers", "macs", "flops", "activations"}
    first = d["layers"][0]
    assert first == {
        "path": "conv1",
        "op": "conv",
        "input": [[3, 224, 224]],
        "output": [64, 112, 112],
        "params": 9408,
        "buffers": 0,
        "macs": 118013952,
    }
    assert sum(x["params"] for x in d["layers"]) == want["params"]
    assert "layer1.0.conv1" in {x["path"] for x in d["layers"]}


def test_cost_json_for_several_specs_is_a_list():
    r = run_cli("cost", "specs/vgg16.arch", "specs/resnet18.arch", "--format", "json")
    d = json.loads(r.stdout)
    assert isinstance(d, list) and [x["network"] for x in d] == ["vgg16", "resnet18"]


def test_cost_depth_aggregates_by_scope():
    d = json.loads(run_cli("cost", "specs/resnet18.arch", "--format", "json", "--depth", "1").stdout)
    groups = {g["path"]: g for g in d["groups"]}
    assert list(groups)[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert sum(g["params"] for g in d["groups"]) == d["total"]["params"]
    assert groups["layer1"]["params"] == sum(x["params"] for x in d["layers"] if x["path"].startswith("layer1."))


def test_cost_batch_scales_macs_and_activations():
    one = json.loads(run_cli("cost", "specs/resnet18.arch", "--format", "json").stdout)["total"]
    eight = json.loads(run_cli("cost", "specs/resnet18.arch", "--format", "json", "--batch", "8").stdout)["total"]
    assert eight["macs"] == 8 * one["macs"] and eight["activations"] == 8 * one["activations"]
    assert eight["params"] == one["params"]


def test_cost_csv_and_markdown():
    r = run_cli("cost", "specs/d2l/lenet.arch", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[-1]["path"] == "total" and int(rows[-1]["params"]) == 61706
    assert sum(int(x["params"]) for x in rows[:-1]) == 61706
    md = run_cli("cost", "specs/d2l/lenet.arch", "--format", "markdown").stdout
    assert md.startswith("| path |") and "**61,706**" in md
    both = run_cli("cost", "specs/d2l/lenet.arch", "specs/d2l/alexnet.arch", "--format", "markdown").stdout
    assert both.startswith("| metric |") and "| params | 61,706 | 46,764,746 |" in both


def test_cost_table_compares_specs_side_by_side():
    r = run_cli("cost", "specs/vgg16.arch", "specs/resnet50.arch")
    assert r.returncode == 0
    assert "138,357,544" in r.stdout and "25,557,032" in r.stdout


def test_cost_reports_errors_of_every_spec_and_exits_1(write_spec):
    bad = write_spec("input 3x8x8\nnetwork n:\n    convv(1, 1)\n")
    r = run_cli("cost", "specs/vgg16.arch", str(bad))
    assert r.returncode == 1 and "unknown op or block 'convv'" in r.stderr and r.stdout == ""


def test_usage_errors_exit_2():
    assert run_cli("cost").returncode == 2
    assert run_cli("cost", "specs/vgg16.arch", "--format", "xml").returncode == 2
    assert run_cli("cost", "specs/vgg16.arch", "--depth", "0").returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_schema_is_json_schema_of_the_yaml_form():
    d = json.loads(run_cli("schema").stdout)
    assert d["title"] == "SpecFile" and "network" in d["properties"]


def test_console_script_is_installed_and_agrees_with_python_m():
    import shutil

    import pytest

    exe = shutil.which("archspec")
    if exe is None:
        pytest.skip("archspec is not installed as a console script here")
    script = subprocess.run([exe, "check", "specs/vgg16.arch"], capture_output=True, text=True, cwd=ROOT)
    assert script.returncode == 0 and script.stdout == run_cli("check", "specs/vgg16.arch").stdout


def test_analysis_never_imports_torch():
    assert heavy_imports("cost", "specs/resnet50.arch", "--format", "json") == []
    assert heavy_imports("check", "specs/resnet50.arch") == []


def test_runs_from_any_directory(tmp_path):
    spec = ROOT / "specs" / "resnet18.arch"
    r = subprocess.run([sys.executable, "-m", "archspec", "check", str(spec)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "11,689,512 params" in r.stdout, r.stderr


def test_cost_dtype_reports_activation_bytes():
    plain = json.loads(run_cli("cost", "specs/resnet18.arch", "--format", "json").stdout)["total"]
    half = json.loads(run_cli("cost", "specs/resnet18.arch", "--format", "json", "--dtype", "float16").stdout)["total"]
    assert "activation_bytes" not in plain
    assert half["activation_bytes"] == 2 * plain["activations"]
    # activations: every op's output elements, batch 1 (the input not counted)
    layers = json.loads(run_cli("cost", "specs/resnet18.arch", "--format", "json").stdout)["layers"]
    total = 0
    for layer in layers:
        n = 1
        for d in layer["output"]:
            n *= d
        total += n
    assert plain["activations"] == total


def test_cost_table_with_depth_aggregates():
    r = run_cli("cost", "specs/resnet18.arch", "--depth", "1")
    assert r.returncode == 0
    assert "layer1" in r.stdout and "layer1.0" not in r.stdout and "11,689,512" in r.stdout


def test_help_lists_every_command_with_a_whole_summary():
    """`archspec --help` names what each command does in full: no summary cut off with '...'
    (compile's used to say only "a standalone PyTorch module")."""
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    commands = r.stdout.split("Commands:")[1]
    assert "..." not in commands, commands
    assert "ONNX" in commands and "diagram" in commands


def test_an_unknown_set_points_at_the_parameters_the_spec_declares():
    """`--set width=2` on ResNet-50 names the parameters it has and points at where they are
    declared, not at the file's first line (a comment)."""
    r = run_cli("cost", "specs/resnet50.arch", "--set", "width=2")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = (ROOT / "specs/resnet50.arch").read_text().splitlines()
    first_param = next(i for i, line in enumerate(lines, 1) if line.startswith("param "))
    assert f"specs/resnet50.arch:{first_param}:1: error: --set width: the spec has no parameter 'width'" in r.stderr, r.stderr


def test_the_error_count_counts_the_specs_errors_not_the_stop(write_spec):
    """150 unknown ops: 100 are reported, then the stop; the count says 100 and that there may be more (it said 101)."""
    path = write_spec("input 3x8x8\nnetwork n:\n" + "".join(f"    bogus{i}\n" for i in range(150)))
    r = run_cli("check", str(path))
    assert r.returncode == 1
    assert r.stderr.count("error: unknown op") == 100 and "stopping after 100" in r.stderr
    assert r.stderr.rstrip().endswith("100 errors, and perhaps more"), r.stderr[-300:]


def test_list_of_a_failing_spec_prints_its_errors_and_no_empty_table(write_spec):
    bad = write_spec("input 3x8x8\nnetwork n:\n    convv(1, 1)\n")
    r = run_cli("list", str(bad))
    assert r.returncode == 1 and "unknown op or block 'convv'" in r.stderr and r.stdout == "", r.stdout
    r = run_cli("list", "specs/vgg16.arch", str(bad))
    assert r.returncode == 1 and "vgg16" in r.stdout
