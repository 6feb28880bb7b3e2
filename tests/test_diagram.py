"""The diagram backend (issue 16): every op has a look; the DOT parses (Graphviz's own parser,
`dot -Tjson0`) and is deterministic; drawn layers are the cost table's layers one to one;
edges carry the static shapes; joins have an in-edge per input; runs of identical blocks
fold as the reference networks' stage sizes say; bad requests fail cleanly."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import pytest

import archspec
from archspec.backends.diagram.labels import LABELS
from archspec.ops import OPS
from tests.conftest import SPECS, run_cli

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="needs Graphviz's dot program (apt-get install graphviz)")

ALL_SPECS = sorted(str(p.relative_to(SPECS)) for p in [*SPECS.glob("*.arch"), *SPECS.glob("*.yaml"), *SPECS.glob("d2l/*.arch")])
ALL_SPECS = [s for s in ALL_SPECS if s != "d2l/lib.arch"]  # a library of blocks, no network
JOINS = ("add", "concat", "mul")


def test_every_op_has_a_diagram_label():
    assert set(LABELS) == set(OPS), (sorted(set(OPS) - set(LABELS)), sorted(set(LABELS) - set(OPS)))


def parse(source: str) -> tuple[dict[int, dict], list[dict]]:
    """Graphviz's own reading of the DOT: its nodes (by id) and edges, with their attributes."""
    out = subprocess.run(["dot", "-Tjson0"], input=source, capture_output=True, text=True, check=True, timeout=120)
    graph = json.loads(out.stdout)
    nodes = {o["_gvid"]: o for o in graph.get("objects", []) if "nodes" not in o and "subgraphs" not in o}
    return nodes, graph.get("edges", [])


def _path(node: dict) -> str | None:
    """A drawn layer's path, from its tooltip `PATH (op)`; None for collapsed scopes and the output."""
    m = re.fullmatch(r"(\S+) \((\w+)\)", node.get("tooltip", ""))
    return m.group(1) if m else None


@needs_dot
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_layers_are_the_cost_tables_layers_and_edges_carry_their_shapes(spec):
    a = archspec.load(SPECS / spec)
    table = a.to_dict()  # what `archspec cost --format json` prints
    layers = {x["path"]: x for x in table["layers"] if not x.get("idle")}  # the diagram draws what runs
    source = archspec.diagram(a, unfold=True).source
    assert archspec.diagram(a, unfold=True).source == source  # deterministic
    nodes, edges = parse(source)
    drawn = [_path(n) for n in nodes.values() if _path(n) not in (None, "input")]
    assert sorted(drawn) == sorted(layers), "op nodes = cost layers, one to one by path"
    ins = Counter(e["head"] for e in edges)
    for gvid, node in nodes.items():
        path = _path(node)
        if path in layers and layers[path]["op"] in JOINS:
            assert ins[gvid] == len(layers[path]["input"]), f"{path}: one in-edge per input"
    for e in edges:
        tail = _path(nodes[e["tail"]])
        want = table["input"] if tail == "input" else layers[tail]["output"]
        if e.get("label"):  # json0 gives unlabelled edges an empty label
            assert e["label"] == "x".join(map(str, want)), (tail, e["label"])
        elif tail != "input":
            head = _path(nodes[e["head"]])
            assert layers[tail]["input"][0] == want and layers[head]["op"] != "concat", f"{tail}: a new shape left unlabelled"
    final = [e for e in edges if nodes[e["head"]].get("name") == "output"]
    assert len(final) == 1 and final[0]["label"] == "x".join(map(str, table["output"]))


@needs_dot
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_blocks_detail_draws_each_outer_block_once_with_its_totals(spec):
    a = archspec.load(SPECS / spec)
    source = archspec.diagram(a, detail="blocks", unfold=True).source
    nodes, edges = parse(source)
    running = [n.path for n in a.graph.layers()]
    blocks = [p for p, s in a.graph.scopes.items() if s.kind == "block" and p and any(r.startswith(p + ".") for r in running)]  # not an idle one
    outer = {p for p in blocks if not any(p.startswith(q + ".") for q in blocks)}
    collapsed = {n["tooltip"] for n in nodes.values() if n.get("name", "").startswith("s")}
    assert collapsed == outer
    for node in nodes.values():
        if node.get("tooltip") in outer:
            members = [x for x in a.to_dict()["layers"] if x["path"].startswith(node["tooltip"] + ".") and not x.get("idle")]
            params = sum(x["params"] for x in members)
            assert f"{len(members)} layers" in node["label"]
            if params:
                assert archspec.units.human(params) + " params" in node["label"]
    assert all(e.get("label") for e in edges if nodes[e["tail"]].get("tooltip") in outer)


@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet152"])
def test_identical_blocks_fold_into_one_cluster_per_stage(name, torchvision_measured):
    """torchvision's state_dict says how many bottlenecks a stage has (ResNet-152: 3, 8, 36, 3);
    the first of each has the downsample, the rest are identical and fold: x2, x7, x35, x2."""
    keys = torchvision_measured[name]["state_dict"]
    stages = {s: len({k.split(".")[1] for k in keys if k.startswith(f"layer{s}.")}) for s in (1, 2, 3, 4)}
    a = archspec.load(SPECS / f"{name}.arch")
    folded, unfolded = archspec.diagram(a).source, archspec.diagram(a, unfold=True).source
    for n in stages.values():
        assert f"1 – {n - 1}: bottleneck  ×{n - 1}" in folded
    assert "×" not in unfolded.replace("&times;", "")
    per_block = sum(1 for x in a.layers if x.path.startswith("layer1.1."))
    drawn = len(re.findall(r"^\s*n\d+ \[", folded, re.M)) - 1  # less the input
    assert drawn == len(a.layers) - per_block * sum(n - 2 for n in stages.values())  # one of each run drawn
    blocks = archspec.diagram(a, detail="blocks").source  # the run is one node inside its stage's cluster
    assert all(re.search(rf"s\d+ \[label=<<B>1 – {n - 1}: bottleneck  ×{n - 1}</B>", blocks) for n in stages.values())


def test_depth_draws_the_groups_of_cost_depth():
    a = archspec.load(SPECS / "resnet18.arch")
    source = archspec.diagram(a, depth=1).source
    groups = {g.path for g in a.groups(1)}  # `archspec cost --depth 1`
    scopes = set(re.findall(r'^\s*s\d+ \[.*tooltip="?([\w.]+)"?', source, re.M))
    layers = set(re.findall(r'tooltip="?([\w.]+) \(\w+\)"?', source))
    assert scopes | (layers - {"input"}) == groups and scopes == {"layer1", "layer2", "layer3", "layer4"}


def test_text_from_the_spec_is_escaped(tmp_path):
    """A file name with quotes, braces and a newline stays in one comment line; labels are escaped."""
    weird = tmp_path / 'x"}\ndigraph evil {.arch'
    weird.write_text("input 3x8x8\n\nnetwork n:\n    conv(4, 3)\n    relu\n")
    source = archspec.diagram(weird).source
    first, rest = source.split("\n", 1)
    assert "digraph evil" in first and "digraph evil" not in rest and rest.startswith("digraph n {")
    if HAVE_DOT:
        nodes, edges = parse(source)
        assert len(edges) == 3 and sorted(n.get("tooltip") for n in nodes.values() if "tooltip" in n) == ["0 (conv)", "1 (relu)", "input (input)"]


@needs_dot
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_renders_with_dot(tmp_path, fmt, magic):
    out = tmp_path / f"lenet.{fmt}"
    r = run_cli("compile", str(SPECS / "d2l" / "lenet.arch"), "--to", fmt, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(magic)
    assert archspec.load(SPECS / "d2l" / "lenet.arch")._repr_svg_().startswith("<?xml")


def test_without_dot_a_clear_error_and_no_file(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot on it
    r = subprocess.run(
        [sys.executable, "-m", "archspec", "compile", str(SPECS / "d2l" / "lenet.arch"), "--to", "png", "-o", str(tmp_path / "x.png")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "needs Graphviz's `dot` program" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()
    r = subprocess.run([sys.executable, "-m", "archspec", "compile", str(SPECS / "d2l" / "lenet.arch"), "--to", "dot"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("// generated by archspec")


def test_bad_requests(tmp_path):
    spec = str(SPECS / "d2l" / "lenet.arch")
    r = run_cli("compile", spec, "--to", "jpeg")
    assert r.returncode == 2 and "Invalid value for '--to'" in r.stderr
    r = run_cli("compile", spec, "--to", "torch", "--detail", "blocks")
    assert r.returncode == 2 and "--detail applies to --to dot|svg|png|pdf" in r.stderr
    r = run_cli("compile", spec, "--to", "dot", "--opset", "17")
    assert r.returncode == 2 and "--opset applies to --to onnx" in r.stderr
    r = run_cli("compile", spec, "--to", "dot", "--depth", "0")
    assert r.returncode == 2
    r = run_cli("compile", spec, "--to", "dot", "-o", str(tmp_path / "missing" / "x.dot"))
    assert r.returncode == 1 and "no such directory" in r.stderr
    (tmp_path / "ro.dot").write_text("keep")
    (tmp_path / "ro.dot").chmod(0o444)
    r = run_cli("compile", spec, "--to", "dot", "-o", str(tmp_path / "ro.dot"))
    assert r.returncode == 1 and "read-only" in r.stderr and (tmp_path / "ro.dot").read_text() == "keep"
    r = run_cli("compile", spec, "--to", "dot", "--rankdir", "lr", "-o", str(tmp_path / "ok.dot"))
    assert r.returncode == 0 and "rankdir=LR" in (tmp_path / "ok.dot").read_text()


def test_api_checks_its_arguments():
    with pytest.raises(ValueError):
        archspec.diagram(SPECS / "d2l" / "lenet.arch", detail="everything")
