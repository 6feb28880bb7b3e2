"""The seed slides' networks (specs/d2l/) and the tables the slides quote."""

from __future__ import annotations

import pytest

import archspec
from tests.conftest import SPECS

D2L = {
    "lenet_d2l": ("lenet.arch", {}),
    "alexnet_d2l": ("alexnet.arch", {}),
    "alexnet_d2l_rgb": ("alexnet.arch", {"input": (3, 224, 224), "classes": 1000}),
    "vgg11_d2l": ("vgg11.arch", {}),
    "nin_d2l": ("nin.arch", {}),
    "googlenet_d2l": ("googlenet.arch", {}),
    "googlenet_d2l_224": ("googlenet.arch", {"input": (3, 224, 224), "classes": 1000}),
}


def load_d2l(spec: str, **kw) -> archspec.Analysis:
    return archspec.load(SPECS / "d2l" / spec, **kw)


@pytest.mark.parametrize("key", sorted(D2L))
def test_d2l_network_matches_the_slides_measured_figures(key, seed_figures):
    spec, kw = D2L[key]
    want = seed_figures[key]
    a = load_d2l(spec, **kw)
    assert list(a.input_shape) == want["input"]
    assert (a.total.params, a.total.macs) == (want["params"], want["macs"])


@pytest.mark.parametrize("key", sorted(D2L))
def test_d2l_network_stage_shapes(key, seed_figures):
    spec, kw = D2L[key]
    stages = [shape for _, shape in seed_figures[key]["stages"]]
    groups = load_d2l(spec, **kw).groups(1)
    assert [list(g.output) for g in groups] == stages


def test_inception_block_versus_plain_3x3_and_5x5(seed_figures):
    for spec, key in [
        ("inception_block.arch", "inception_block"),
        ("conv3x3_256.arch", "conv3x3_256"),
        ("conv5x5_256.arch", "conv5x5_256"),
    ]:
        a = load_d2l(spec)
        assert (a.total.params, a.total.macs) == (seed_figures[key]["params"], seed_figures[key]["macs"]), spec
    # the slides quote 0.16M/128M, 0.44M/346M and 1.22M/963M: truncated to their digits
    quoted = {"inception_block.arch": (0.16, 128), "conv3x3_256.arch": (0.44, 346), "conv5x5_256.arch": (1.22, 963)}
    for spec, (params_m, macs_m) in quoted.items():
        t = load_d2l(spec).total
        assert (int(t.params / 1e4) / 100, int(t.macs / 1e6)) == (params_m, macs_m), spec


def test_depthwise_separable_example(paper_figures):
    want = paper_figures["depthwise_separable_slides"]
    normal = load_d2l("depthwise_separable.arch", separable=False)
    separable = load_d2l("depthwise_separable.arch")
    assert normal.total.macs == want["normal_multiplies"]
    assert [x.cost.macs for x in separable.layers if x.cost.macs] == [want["depthwise_multiplies"], want["pointwise_multiplies"]]
    ratio = separable.total.macs / normal.total.macs
    assert round(ratio, 2) == 0.31 and abs(ratio - (1 / 5 + 1 / 3**2)) < 1e-9


def _quoted(value: int, quoted: str) -> bool:
    """Whether a slide's rounded figure ("35K", "3M", "1G") is `value` rounded or truncated."""
    unit = {"K": 1e3, "M": 1e6, "G": 1e9}[quoted[-1]]
    q = float(quoted[:-1])
    return q in (round(value / unit), int(value / unit))


def test_alexnet_complexity_table_of_the_slides(paper_figures):
    table = paper_figures["alexnet_slides_table"]
    a = load_d2l("alexnet.arch", input=(3, 224, 224), classes=1000)
    weighted = [x for x in a.layers if x.op in ("conv", "linear")]
    convs = [x for x in weighted if x.op == "conv"]
    dense = [x for x in weighted if x.op == "linear"]
    rows = {
        "conv1": [convs[0]],
        "conv2": [convs[1]],
        "conv3-5": convs[2:5],
        "dense1": [dense[0]],
        "dense2": [dense[1]],
    }
    for name, layers in rows.items():
        params, macs = sum(x.cost.params for x in layers), sum(x.cost.macs for x in layers)
        assert _quoted(params, table["layers"][name]["params"]), (name, params)
        assert _quoted(macs, table["layers"][name]["macs"]), (name, macs)
    body = weighted[:-1]  # the slides' total leaves out the last classifier layer
    assert _quoted(sum(x.cost.params for x in body), table["total_without_last_classifier"]["params"])
    assert _quoted(sum(x.cost.macs for x in body), table["total_without_last_classifier"]["macs"])


@pytest.mark.parametrize("spec,key", [("d2l/lenet.arch", "lenet"), ("alexnet.arch", "alexnet"), ("vgg16.arch", "vgg16")])
def test_parameter_counts_quoted_by_the_slides(spec, key, paper_figures):
    quoted = paper_figures["quoted_param_counts"][key]
    params = archspec.load(SPECS / spec).total.params
    assert abs(params - quoted) / quoted < 0.05  # "~60K", "~60M", "~138M"
