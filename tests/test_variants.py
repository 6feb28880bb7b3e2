"""`variant NAME: param = value, ...`: named sets of parameter values, chosen with `--variant`
(`archspec.load(..., variant=...)`), listed by `archspec list`. The figures of each variant of a
real spec are checked in test_reference_figures.py (shufflenet_v2's four widths)."""

from __future__ import annotations

import json

import pytest

import archspec
from archspec.backends.torch.state_dict import state_dict_shapes
from tests.conftest import SPECS, run_cli

SPEC = """\
param width = 16
param depth = 1
param classes = 10
variant small: width = 8
variant large: width = 32, depth = 2
input 3x8x8
network net:
    repeat depth: conv(width, 3, padding=1); relu
    global_avgpool
    flatten
    linear(classes)
"""


def _conv_widths(a: archspec.Analysis) -> list[int]:
    return [layer.output[0] for layer in a.layers if layer.op == "conv"]


def test_a_variant_sets_its_parameters_and_set_still_wins(write_spec):
    path = write_spec(SPEC)
    assert _conv_widths(archspec.load(path)) == [16]
    assert _conv_widths(archspec.load(path, variant="small")) == [8]
    large = archspec.load(path, variant="large")
    assert _conv_widths(large) == [32, 32] and large.variant == "large" and large.variants == ("small", "large")
    assert _conv_widths(archspec.load(path, variant="large", width=4)) == [4, 4]  # --set over the variant
    assert large.to_dict()["variant"] == "large" and "variant" not in archspec.load(path).to_dict()


def test_the_cli_takes_variant_on_every_command(write_spec):
    path = write_spec(SPEC)
    r = run_cli("check", str(path), "--variant", "large")
    assert r.returncode == 0 and "net (variant large)" in r.stdout
    r = run_cli("cost", str(path), "--variant", "small", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["variant"] == "small"
    r = run_cli("compile", str(path), "--to", "torch", "--variant", "large")
    assert r.returncode == 0 and "width: int = 32" in r.stdout and "depth: int = 2" in r.stdout


def test_an_unknown_variant_is_a_located_error_with_the_known_ones(write_spec):
    path = write_spec(SPEC)
    r = run_cli("cost", str(path), "--variant", "smal")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "net.arch:4:1: error: --variant smal: the spec has no variant 'smal' (its variants: small, large)" in r.stderr
    assert "did you mean 'small'?" in r.stderr
    with pytest.raises(archspec.ArchspecError, match="no variant 'x'"):
        archspec.load(write_spec("param a = 1\ninput 3x4x4\nnetwork n:\n    relu\n", "plain.arch"), variant="x")


@pytest.mark.parametrize(
    "line, message",
    [
        ("variant v: widht = 8", "variant v: the spec has no parameter 'widht'"),
        ("variant v: width = 8, width = 9", "variant v: 'width' is set twice"),
        ("variant v: width = 0.5", "variant v: width=0.5, but the parameter is an int (default 16), not a float"),
        ("variant v: width = classes", "variant v: unknown name 'classes'"),
        ("variant small: width = 4", "variant 'small' is defined twice"),
    ],
)
def test_a_wrong_variant_line_is_reported_where_it_is_written(write_spec, line, message):
    lines = SPEC.splitlines()
    lines.insert(5, line)
    path = write_spec("\n".join(lines) + "\n")
    with pytest.raises(archspec.ArchspecError) as err:
        archspec.load(path, variant="v" if "variant v" in line else None)
    d = next(d for d in err.value.diagnostics if message in d.message)
    assert d.span.line == 6


def test_the_yaml_form_has_variants(write_spec):
    path = write_spec(
        "params: {width: 16}\nvariants:\n  small: {width: 8}\ninput: 3x8x8\n"
        "network:\n  name: net\n  body:\n    - conv(width, 3, padding=1)\n",
        "net.yaml",
    )
    assert _conv_widths(archspec.load(path, variant="small")) == [8]
    with pytest.raises(archspec.ArchspecError, match="no parameter 'wdth'"):
        archspec.load(write_spec("params: {width: 16}\nvariants:\n  v: {wdth: 8}\ninput: 3x8x8\nnetwork:\n  name: n\n  body: [relu]\n", "bad.yaml"))


def test_archspec_list_shows_every_variant_and_leaves_out_libraries(write_spec, tmp_path):
    write_spec(SPEC, "specs/net.arch")
    write_spec("block b(c):\n    conv(c, 1)\n", "specs/lib/blocks.arch")
    write_spec("input 3x4x4\nnetwork plain:\n    relu\n", "specs/plain.arch")
    r = run_cli("list", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["network"], x["variant"]) for x in rows] == [("net", "small"), ("net", "large"), ("plain", "")]
    small = archspec.load(tmp_path / "specs/net.arch", variant="small")
    assert rows[0]["params"] == small.total.params and rows[0]["macs"] == small.total.macs
    table = run_cli("list", "specs", cwd=tmp_path)
    assert table.returncode == 0 and "3 networks" in table.stdout


def test_archspec_list_reports_a_broken_spec_and_fails(write_spec, tmp_path):
    write_spec("input 3x4x4\nnetwork n:\n    conv(4, 9)\n", "specs/broken.arch")
    write_spec("input 3x4x4\nnetwork ok:\n    relu\n", "specs/ok.arch")
    r = run_cli("list", "specs", cwd=tmp_path)
    assert r.returncode == 1 and "broken.arch:3" in r.stderr and "ok" in r.stdout and "Traceback" not in r.stderr
    assert run_cli("list", "nowhere", cwd=tmp_path).returncode == 2


def test_every_variant_of_every_spec_in_specs_elaborates():
    r = run_cli("list", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    shufflenet = [x["variant"] for x in rows if x["spec"].endswith("shufflenet_v2.arch")]
    assert shufflenet == ["x0_5", "x1_0", "x1_5", "x2_0"]
    assert len({x["spec"] for x in rows}) == len([p for p in SPECS.rglob("*") if p.suffix in (".arch", ".yaml") and "lib" not in p.parts and p.name != "lib.arch"])


def test_the_module_compiled_for_a_variant_takes_its_values_as_defaults():
    pytest.importorskip("torch")
    spec = SPECS / "shufflenet_v2.arch"
    a = archspec.load(spec, variant="x0_5")
    module = archspec.build(spec, variant="x0_5")
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == state_dict_shapes(a.graph)
