"""Every spec reproduces its published figures exactly: params, buffers, macs, output, state_dict.

Figures come from tests/fixtures (copied from the shared reference data, or measured from
torchvision by tools/measure_torchvision.py; see fixtures/README.md), never from archspec.
"""

from __future__ import annotations

import json

import pytest

import archspec
from archspec.backends.torch.state_dict import state_dict_shapes
from tests.conftest import FIXTURES, SPECS, VARIANTS, reference_spec

TORCHVISION_SPECS = [
    "alexnet",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "vgg11_bn",
    "vgg13_bn",
    "vgg16_bn",
    "vgg19_bn",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "mobilenet_v2",
    "shufflenet_v2_x1_0",
    "squeezenet1_0",
    "squeezenet1_1",
]


@pytest.fixture(scope="module")
def analyses():
    cache: dict[str, archspec.Analysis] = {}

    def get(spec: str, **kw) -> archspec.Analysis:
        stem = spec.removesuffix(".arch")
        if stem in VARIANTS:  # a reference name: its spec and variant
            path, extra = reference_spec(stem)
            spec, kw = path.name, {**extra, **kw}
        key = spec + repr(sorted(kw.items()))
        if key not in cache:
            cache[key] = archspec.load(SPECS / spec, **kw)
        return cache[key]

    return get


def figures(a: archspec.Analysis) -> dict:
    t = a.total
    return {"params": t.params, "buffers": t.buffers, "macs": t.macs, "output": list(a.output_shape)}


@pytest.mark.parametrize("name", TORCHVISION_SPECS)
def test_torchvision_spec_matches_torchvision_measured(name, analyses, torchvision_measured):
    want = torchvision_measured[name]
    a = analyses(f"{name}.arch")
    assert list(a.input_shape) == want["input"]
    assert figures(a) == {k: want[k] for k in ("params", "buffers", "macs", "output")}


@pytest.mark.parametrize("name", sorted(json.loads((FIXTURES / "torchvision_figures.json").read_text())["models"]))
def test_spec_matches_the_shared_reference_figures(name, analyses, torchvision_figures):
    want = torchvision_figures[name]
    a = analyses(f"{name}.arch")
    assert list(a.input_shape) == want["input"]
    assert figures(a) == {"params": want["params"], "buffers": want["buffers"], "macs": want["macs"], "output": want["output"][1:]}


@pytest.mark.parametrize("name", TORCHVISION_SPECS)
def test_state_dict_layout_equals_torchvision(name, analyses, torchvision_measured):
    want = {k: tuple(v) for k, v in torchvision_measured[name]["state_dict"].items()}
    got = state_dict_shapes(analyses(f"{name}.arch").graph)
    assert list(got) == list(want)  # same keys, in torchvision's order
    assert got == want


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "state_dicts").glob("*.json")))
def test_state_dict_equals_the_shared_reference(name, analyses):
    want = {k: tuple(v) for k, v in json.loads((FIXTURES / "state_dicts" / f"{name}.json").read_text()).items()}
    assert state_dict_shapes(analyses(f"{name}.arch").graph) == want


def test_inception_written_with_the_slides_tuples_is_googlenet(analyses, torchvision_figures):
    a, g = analyses("inception.arch"), analyses("googlenet.arch")
    want = torchvision_figures["googlenet"]
    assert figures(a) == {"params": want["params"], "buffers": want["buffers"], "macs": want["macs"], "output": want["output"][1:]}
    assert state_dict_shapes(a.graph) == state_dict_shapes(g.graph)
    assert [(x.path, x.output) for x in a.layers] == [(x.path, x.output) for x in g.layers]


# ---- networks torchvision does not have: figures from their papers ----


def test_mobilenet_v1_matches_keras_params_and_the_papers_569m_macs(analyses, paper_figures):
    want = paper_figures["mobilenet_v1"]
    a = analyses("mobilenet_v1.arch")
    assert a.total.params == want["params"]
    assert round(a.total.macs / 1e6) == want["macs_paper_millions"]
    assert a.output_shape == (1000,)


def test_se_resnet50_matches_timm_params_and_both_stride_placements(analyses, paper_figures, torchvision_measured):
    want = paper_figures["se_resnet50"]
    torchvision_like = analyses("se_resnet50.arch")
    paper_like = analyses("se_resnet50.arch", stride_on="1x1")
    assert torchvision_like.total.params == paper_like.total.params == want["params"]
    # the paper counts 3.87G; its SE pooling and scaling are not multiply-adds of convs
    assert abs(paper_like.total.macs / 1e9 - want["macs_paper_billions"]) < 0.015
    # SE adds only the macs of its 1x1 convs on 1x1 maps to torchvision's ResNet-50
    se_macs = sum(x.cost.macs for x in torchvision_like.layers if ".se." in x.path)
    assert torchvision_like.total.macs - se_macs == torchvision_measured["resnet50"]["macs"]


def test_resnet50_stride_placement_gives_the_papers_3_8g(analyses, paper_figures, torchvision_measured):
    paper_like = analyses("resnet50.arch", stride_on="1x1")
    assert int(paper_like.total.macs / 1e8) / 10 == paper_figures["resnet50_paper"]["macs_paper_billions"]
    assert paper_like.total.params == torchvision_measured["resnet50"]["params"]
    assert analyses("resnet50.arch").total.macs == torchvision_measured["resnet50"]["macs"]


# ---- YAML twins ----


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_yaml_twin_gives_identical_results(name, analyses):
    y, a = analyses(f"{name}.yaml"), analyses(f"{name}.arch")
    assert y.to_dict()["layers"] == a.to_dict()["layers"]
    assert y.total == a.total and y.network == a.network


@pytest.fixture(scope="session")
def later_figures() -> dict:
    return json.loads((FIXTURES / "later_figures.json").read_text())["models"]


# reference name -> spec (issues 17 and 18 add the rest)
LATER_SPECS = {
    "googlenet_aux": "googlenet_aux",
    "inception_v3_aux": "inception_v3_aux",
    "fcn_resnet50": "fcn_resnet50",
    "smp_unet_resnet34": "unet_resnet34",
    "mobilenet_v3_large": "mobilenet_v3_large",
    "mobilenet_v3_small": "mobilenet_v3_small",
    "lraspp_mobilenet_v3_large": "lraspp_mobilenet_v3_large",
    **{f"shufflenet_v2_{v}": f"shufflenet_v2_{v}" for v in ("x0_5", "x1_5", "x2_0")},  # variants of shufflenet_v2.arch
    "efficientnet_b0": "efficientnet_b0",  # variants of efficientnet.arch
    "efficientnet_b3": "efficientnet_b3",
    "mnasnet0_5": "mnasnet0_5",  # variants of mnasnet.arch
    "mnasnet1_0": "mnasnet1_0",
    "regnet_x_400mf": "regnet_x_400mf",  # variants of regnet.arch
    "regnet_y_400mf": "regnet_y_400mf",
    "wide_resnet101_2": "wide_resnet101_2",  # a variant of wide_resnet.arch
    "convnext_tiny": "convnext_tiny",  # a variant of convnext.arch
    "timm_inception_v4": "inception_v4",
    "timm_inception_resnet_v2": "inception_resnet_v2",
}


# variant families measured with tools/measure_torchvision.py (timm's: tools/measure_timm.py)
# beyond the shared reference's models
MEASURED_FAMILIES = {
    "efficientnet_measured.json": "efficientnet",
    "efficientnet_v2_measured.json": "efficientnet_v2",
    "convnext_measured.json": "convnext",
    "timm_measured.json": "xception",
    "mnasnet_measured.json": "mnasnet",
    "regnet_measured.json": "regnet",
}
MEASURED = [(f, n) for f in MEASURED_FAMILIES for n in json.loads((FIXTURES / f).read_text())["models"]]


@pytest.mark.parametrize("fixture, name", MEASURED, ids=[n for _, n in MEASURED])
def test_variant_matches_torchvision_measured(fixture, name, analyses):
    """One spec per family, a variant per published model: each variant's figures and state_dict
    (keys, shapes and order) equal torchvision's (tests/fixtures/*_measured.json)."""
    want = json.loads((FIXTURES / fixture).read_text())["models"][name]
    a = analyses(f"{name}.arch")
    assert a.graph.definitions.network.name == MEASURED_FAMILIES[fixture] and a.variant == VARIANTS[name][1]
    assert list(a.input_shape) == want["input"]
    assert figures(a) == {k: want[k] for k in ("params", "buffers", "macs", "output")}
    got = state_dict_shapes(a.graph)
    assert list(got.items()) == [(k, tuple(v)) for k, v in want["state_dict"].items()]


@pytest.mark.parametrize("name", sorted(LATER_SPECS))
def test_later_spec_matches_its_reference(name, later_figures, analyses):
    """Params, buffers, macs, every output's shape and the number of state_dict keys, as measured
    from the reference implementation (torchvision's googlenet(aux_logits=True) in training mode)."""
    from archspec.backends.torch.state_dict import state_dict_shapes

    want = later_figures[name]
    a = analyses(f"{LATER_SPECS[name]}.arch")
    assert list(a.input_shape) == want["input"]
    t = a.total
    assert (t.params, t.buffers, t.macs) == (want["params"], want["buffers"], want["macs"])
    if "outputs" in want:
        assert [list(shape) for _, shape in a.outputs] == want["outputs"]
    keys = {k: list(v) for k, v in state_dict_shapes(a.graph).items() if not k.endswith("num_batches_tracked")}
    if "state_dict" in want:  # keys, shapes and order
        assert list(keys.items()) == [(k, v) for k, v in want["state_dict"].items() if not k.endswith("num_batches_tracked")]
    else:
        assert len(keys) == want["state_dict_keys"]


def test_googlenet_aux_is_googlenet_plus_torchvisions_two_aux_heads(analyses):
    """Every key of torchvision's googlenet (reference/state_dicts/googlenet.json), and InceptionAux's
    keys (torchvision/models/googlenet.py: conv.conv, conv.bn, fc1, fc2) for aux1 (on 512 channels,
    after inception4a) and aux2 (528, after inception4d)."""
    from archspec.backends.torch.state_dict import state_dict_shapes

    base = json.loads((FIXTURES / "state_dicts" / "googlenet.json").read_text())
    base = base.get("state_dict", base)
    ours = state_dict_shapes(archspec.load(SPECS / "googlenet_aux.arch").graph)
    aux = {k: v for k, v in ours.items() if k.startswith("aux")}
    assert {k: list(v) for k, v in ours.items() if not k.startswith("aux")} == {k: list(v) for k, v in base.items()}
    for head, c in (("aux1", 512), ("aux2", 528)):
        assert list(aux[f"{head}.conv.conv.weight"]) == [128, c, 1, 1]
        assert list(aux[f"{head}.fc1.weight"]) == [1024, 2048] and list(aux[f"{head}.fc2.weight"]) == [1000, 1024]
        assert {k.split(".", 1)[1] for k in aux if k.startswith(head)} == {
            "conv.conv.weight", "conv.bn.weight", "conv.bn.bias", "conv.bn.running_mean", "conv.bn.running_var",
            "conv.bn.num_batches_tracked", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
        }  # fmt: skip


@pytest.mark.parametrize("name", ["googlenet_aux", "inception_v3_aux"])
def test_aux_heads_state_dict_is_torchvisions(name, torchvision_measured):
    """Keys and shapes of torchvision's model with aux_logits=True, so its checkpoints load strictly.
    Inception v3 registers AuxLogits where it runs, so the order is torchvision's too; GoogLeNet
    registers aux1 and aux2 after inception5b, where archspec has them where they run."""
    from archspec.backends.torch.state_dict import state_dict_shapes

    want = torchvision_measured[name]["state_dict"]
    a = archspec.load(SPECS / f"{name}.arch")
    ours = {k: list(v) for k, v in state_dict_shapes(a.graph).items()}
    assert ours == want
    assert [list(s) for _, s in a.outputs] == list(torchvision_measured[name]["outputs"].values())
    if name == "inception_v3_aux":
        assert list(ours) == list(want)
    else:
        heads = [k for k in want if k.startswith("aux")]
        assert [k for k in ours if not k.startswith("aux")] == [k for k in want if not k.startswith("aux")]
        assert list(want).index(heads[0]) > list(want).index("inception5b.branch4.1.bn.running_var")


@pytest.mark.parametrize("name", ["alexnet_original", "zfnet"])
def test_seed_networks_match_their_papers_layer_tables(name, analyses, paper_figures):
    """ZF-Net and the two-GPU AlexNet: each layer's map size as the paper draws it, and params as the
    sum over the paper's layers (out * in / groups * k * k weights plus out biases), computed here
    from the table; AlexNet's total is Caffe's bvlc_alexnet count too."""
    want = paper_figures[name]
    a = analyses(f"{name}.arch")
    assert list(a.input_shape) == want["input"]
    by_path = {layer.path: layer for layer in a.layers}
    total = 0
    for row in want["layers"]:
        layer = by_path[row["name"]]
        if "map" in row:
            assert layer.output[1:] == (row["map"], row["map"]), row["name"]
        if "out" in row:
            weights = row["out"] * row["in"] // row.get("groups", 1) * row.get("kernel", 1) ** 2
            assert layer.cost.params == weights + row["out"], row["name"]
            total += weights + row["out"]
    assert a.total.params == total == want.get("params", total)
