"""`archspec sweep`: every combination of some parameters' values, each one's cost, the
params-macs Pareto front, CSV/JSON and a PNG plot (issue 19's design sweeps)."""

from __future__ import annotations

import json

import pytest

import archspec
from archspec import sweep
from tests.conftest import FIXTURES, SPECS, run_cli


def test_combinations_vary_the_first_parameter_slowest_and_are_bounded():
    assert sweep.combinations({"a": (1, 2), "b": ("x", "y", "z")}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}, {"a": 2, "b": "z"},
    ]  # fmt: skip
    with pytest.raises(ValueError, match="more than the limit"):
        sweep.combinations({"a": tuple(range(100)), "b": tuple(range(11))})


def test_the_pareto_front_is_what_no_other_point_beats_on_both():
    pts = [sweep.Point({"k": i}, params=p, macs=m) for i, (p, m) in enumerate([(1, 9), (2, 5), (3, 5), (4, 1), (5, 1), (2, 8)])]
    sweep.mark_pareto(pts)
    assert [p.values["k"] for p in pts if p.pareto] == [0, 1, 3]


def test_a_width_sweep_of_mobilenet_v2_costs_each_width():
    points = sweep.run(SPECS / "mobilenet_v2.arch", {"width": (0.5, 0.75, 1.0)})
    want = json.loads((FIXTURES / "torchvision_measured.json").read_text())["models"]["mobilenet_v2"]
    assert (points[-1].params, points[-1].macs) == (want["params"], want["macs"])  # width 1.0 is torchvision's
    assert points[0].params < points[1].params < points[2].params and points[0].macs < points[1].macs < points[2].macs
    assert [p.pareto for p in points] == [True, False, False]  # the narrowest costs least of both
    half = archspec.load(SPECS / "mobilenet_v2.arch", width=0.5).total
    assert (points[0].params, points[0].macs) == (half.params, half.macs)


def test_the_cli_sweeps_every_combination_and_reports_a_refused_one():
    r = run_cli("sweep", "specs/mobilenet_v2.arch", "--set", "width=0.5,1.0", "--set", "classes=10,1000", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["points"]
    assert [(x["width"], x["classes"]) for x in rows] == [(0.5, 10), (0.5, 1000), (1.0, 10), (1.0, 1000)]
    assert [x["pareto"] for x in rows] == [True, False, False, False]
    m = archspec.memory(SPECS / "mobilenet_v2.arch", width=0.5, classes=10)  # batch 1, float32, AdamW, CUDA
    assert rows[0]["train_peak_bytes"] == m.train_peak_bytes < rows[2]["train_peak_bytes"]
    bad = run_cli("sweep", "specs/mobilenet_v2.arch", "--set", "classes=10,0")
    assert bad.returncode == 1 and "error:" in bad.stdout and "Traceback" not in bad.stderr
    table = run_cli("sweep", "specs/resnet18.arch", "--set", "layers=(1, 1, 1, 1),(2, 2, 2, 2)")
    assert table.returncode == 0 and "(1, 1, 1, 1)" in table.stdout and "Pareto" in table.stdout


@pytest.mark.parametrize("arg", ["width", "width=", "=1,2", "width=1,(2"])
def test_a_wrong_set_is_a_usage_error(arg):
    r = run_cli("sweep", "specs/mobilenet_v2.arch", "--set", arg)
    assert r.returncode == 2 and "--set" in r.stderr and "Traceback" not in r.stderr


def test_the_plot_is_a_png_the_same_every_time(tmp_path):
    pytest.importorskip("matplotlib")
    outs = []
    for name in ("a.png", "b.png"):
        r = run_cli("sweep", "specs/mobilenet_v2.arch", "--set", "width=0.5,0.75,1.0", "--plot", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0].startswith(b"\x89PNG\r\n\x1a\n") and outs[0] == outs[1]
