"""Every network parameter is a constructor argument: the file compiled once, called with other
values, builds the module `--set` compiles, with the figures the static analysis gives for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import archspec
from tests.conftest import FIXTURES

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("specs/mobilenet_v2.arch", {"width": 0.5, "classes": 10}),
    ("specs/mobilenet_v2.arch", {"width": 1.4}),
    ("specs/mobilenet_v2.arch", {"setting": ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2))}),
    ("specs/resnet50.arch", {"layers": (2, 1, 1, 1), "stride_on": "1x1", "classes": 7}),
    ("specs/resnet18.arch", {"classes": 3}),
    ("specs/resnext50_32x4d.arch", {"classes": 5}),
    ("specs/vgg16.arch", {"arch": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)), "classes": 10}),
    ("specs/densenet121.arch", {"classes": 10}),
    ("specs/shufflenet_v2.arch", {"repeats": (2, 2, 2), "channels": (24, 48, 96, 192, 1024)}),
    ("specs/squeezenet1_1.arch", {"classes": 10}),
    ("specs/d2l/nin.arch", {"classes": 5}),
    ("specs/d2l/vgg11.arch", {"classes": 5}),
    # members named by positions computed when built (f'{3 * len(stages) + 3 * n + 1}')
    ("tests/fixtures/numbered_in_loops.arch", {"n": 3}),
    ("tests/fixtures/numbered_in_loops.arch", {"n": 1, "stages": (4, 8, 16)}),
    ("tests/fixtures/numbered_in_loops.arch", {"stages": ()}),
    # branches a loop or an if makes among a concat's (forward collects them in a list)
    ("tests/fixtures/branches_collected.arch", {"rates": (1, 2, 3)}),
    ("tests/fixtures/branches_collected.arch", {"kernels": (1, 3, 5, 7), "pool": False}),
    ("tests/fixtures/branches_collected.arch", {"rates": (), "kernels": (3,)}),
    # ... and among an add's and a mul's (summed: fewer than two branches add the input)
    ("tests/fixtures/branches_summed.arch", {"kernels": (3,)}),
    ("tests/fixtures/branches_summed.arch", {"kernels": (1, 3, 5, 7), "extra": False}),
    ("tests/fixtures/branches_summed.arch", {"dilations": (), "extra": False}),
    # a pool's kernel and a four-sided padding a parameter computes
    ("tests/fixtures/computed_windows.arch", {"p": 3}),
    ("tests/fixtures/computed_windows.arch", {"f": 3}),
    # a chunk whose channels a parameter makes uneven (written torch.chunk's way, (c + 3) // 4)
    ("tests/fixtures/chunk_of_parameter.arch", {"c": 10}),
    ("tests/fixtures/chunk_of_parameter.arch", {"c": 7}),
    # flattens of adaptive pools a parameter sizes (SPP-net's pyramid): the features as computed
    ("tests/fixtures/pooled_pyramid.arch", {"levels": (3, 1), "bins": 3}),
    ("tests/fixtures/pooled_pyramid.arch", {"levels": (5,), "classes": 4}),
]


def _module(source: str, name: str):
    namespace: dict = {"__name__": f"archspec_test_{name}"}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    return namespace


@pytest.mark.parametrize(("spec", "values"), CASES, ids=[f"{Path(s).stem}-{'-'.join(v)}" for s, v in CASES])
def test_constructor_arguments_equal_set(spec, values):
    _assert_constructor_equals_set(ROOT / spec, values)


@pytest.mark.parametrize("values", [{"act": "silu"}, {"deep": True}, {"act": "silu", "deep": True}, {"act": "relu"}])
def test_branches_written_once_build_what_set_compiles(values):
    """tests/fixtures/chosen_members.arch: the common member hoisted, forward's test left out."""
    _assert_constructor_equals_set(FIXTURES / "chosen_members.arch", values)


def _assert_constructor_equals_set(path: Path, values: dict) -> None:
    """The file compiled once, called with `values`, builds the module `--set` compiles: the same
    state_dict, the analysis's params and macs, and the same output for the same weights."""
    stem = path.stem
    once = _module(archspec.compile_torch(path), stem)[stem]
    compiled_with = _module(archspec.compile_torch(path, **values), stem)[stem]
    analysis = archspec.load(path, **values)

    torch.manual_seed(0)
    a = once(**values).eval()
    torch.manual_seed(0)
    b = compiled_with().eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert [(k, tuple(v.shape)) for k, v in sa.items()] == [(k, tuple(v.shape)) for k, v in sb.items()]
    assert sum(p.numel() for p in a.parameters()) == analysis.total.params

    b.load_state_dict(sa, strict=True)
    x = torch.randn(1, *analysis.input_shape)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        ya = a(x)
    assert counter.get_total_flops() == 2 * analysis.total.macs
    with torch.no_grad():
        yb = b(x)
    assert tuple(ya.shape) == (1, *analysis.output_shape)
    torch.testing.assert_close(ya, yb, rtol=0, atol=0)


def test_a_bad_argument_fails_as_the_spec_says():
    """The spec's own `assert` is a check of the constructor: ResNet's stride_on."""
    ns = _module(archspec.compile_torch(ROOT / "specs/resnet50.arch"), "resnet50")
    with pytest.raises(ValueError, match="stride_on"):
        ns["resnet50"](stride_on="2x2")


def test_a_parameter_that_moves_a_flattened_spatial_size_is_refused_by_the_constructor():
    """The slides' VGG-11 flattens what its stages leave (channels * 7 * 7): a stage list other than the
    compiled one would change that size, so the constructor says so instead of building a module that
    fails in forward. A parameter that does not reach the flatten (`classes`) still works."""
    ns = _module(archspec.compile_torch(ROOT / "specs/d2l/vgg11.arch"), "vgg11")
    with pytest.raises(ValueError, match="--set arch="):
        ns["vgg11"](arch=((1, 64), (1, 128), (2, 256), (2, 512)))
    assert ns["vgg11"](classes=3)(torch.randn(1, 1, 224, 224)).shape == (1, 3)
    # where the network pools to a fixed size first, the stage list is free: VGG-16 with VGG-11's stages
    vgg16 = _module(archspec.compile_torch(ROOT / "specs/vgg16.arch"), "vgg16")
    assert "changes the spatial size" not in archspec.compile_torch(ROOT / "specs/vgg16.arch")
    assert vgg16["vgg16"](arch=((1, 64), (1, 128), (2, 256), (2, 512)))(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


# A spatial size the file takes from the graph (a flatten's, `in.height`) holds only while what it
# depends on does: followed through blocks, their parameters, splices and levels up to the
# network's parameters. Each spec: the parameter to change, its other value, whether the
# constructor must refuse it.
SPATIAL = {
    "in-height-in-a-block": ("s", 1, True, "block head:\n    conv(in.height, 1)\n    relu\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    head\n    global_avgpool\n    flatten\n    linear(10)\n"),
    "flatten-in-a-block": ("s", 1, True, "block classifier(classes):\n    flatten\n    linear(classes)\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    maxpool(2)\n    classifier(10)\n"),
    "a-block-parameter": ("s", 1, True, "block tail(t):\n    conv(8, 3, stride=t, padding=1)\n    flatten\n    linear(10)\n\nnetwork net:\n    conv(8, 3, padding=1)\n    tail(s)\n"),
    "a-default-over-a-parameter": ("s", 1, True, "block tail(t, u=t * 2):\n    conv(8, 3, stride=u, padding=1)\n    flatten\n    linear(10)\n\nnetwork net:\n    tail(s)\n"),
    "a-block-in-a-block": ("s", 1, True, "block flat:\n    flatten\n    linear(10)\n\nblock tail:\n    relu\n    flat\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    tail\n"),
    "a-splice": ("s", 1, True, "block flat:\n    flatten\n    linear(10)\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    *flat()\n"),
    "a-level-that-joins": ("s", 1, True, "network net:\n    conv(8, 3, stride=s, padding=1)\n    head:\n        add:\n            identity\n            relu\n        flatten\n        linear(10)\n"),
    "a-flatten-of-one-pixel": ("s", 1, True, "network net:\n    conv(8, 3, stride=s, padding=1)\n    maxpool(8)\n    flatten\n    linear(10)\n"),
    "the-channels-are-free": ("c", 4, False, "network net:\n    conv(8, 3)\n    conv(8, 3, stride=2, padding=1, groups=c)\n    conv(c, 1)\n    flatten\n    linear(10)\n"),
    "pooled-first-is-free": ("s", 1, False, "block classifier:\n    adaptive_avgpool(2)\n    flatten\n    linear(10)\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    classifier\n"),
    "a-join-branch-that-pools": ("s", 1, True, "network net:\n    conv(8, 3, stride=s, padding=1)\n    mul:\n        identity\n        _:\n            adaptive_avgpool(1)\n            sigmoid\n    flatten\n    linear(10)\n"),
    "a-value-kept-before-a-pool": ("s", 1, True, "network net:\n    a: conv(8, 3, stride=s, padding=1)\n    adaptive_avgpool(1)\n    @a\n    flatten\n    linear(10)\n"),
    "the-file-parameter-read-by-the-block": ("s", 1, True, "block tail:\n    conv(8, 3, stride=s, padding=1)\n    flatten\n    linear(10)\n\nnetwork net:\n    tail\n"),
    # what a block's output size depends on is the block's own: a block that pools to a fixed size
    # last, or takes only channels, leaves the size free; one that pools inside a join does not
    "a-block-that-pools-last-is-free": ("s", 1, False, "block pooled:\n    conv(8, 1)\n    adaptive_avgpool(2)\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    pooled\n    flatten\n    linear(10)\n"),
    "a-block-of-channels-is-free": ("c", 4, False, "block unit(k):\n    conv(k, 3, padding=1)\n    relu\n\nnetwork net:\n    conv(8, 3, stride=2, padding=1)\n    unit(c)\n    flatten\n    linear(10)\n"),
    "a-block-that-pools-in-a-join": ("s", 1, True, "block gate:\n    adaptive_avgpool(1)\n    sigmoid\n\nnetwork net:\n    conv(8, 3, stride=s, padding=1)\n    mul:\n        identity\n        gate\n    flatten\n    linear(10)\n"),
    # a loop's count moves the size only where its body does
    "a-loop-that-keeps-the-size-is-free": ("s", 1, False, "network net:\n    conv(8, 3, stride=2, padding=1)\n    repeat s:\n        conv(8, 3, padding=1)\n    flatten\n    linear(10)\n"),
    "a-loop-of-blocks-that-keep-it-is-free": ("s", 3, False, "block unit(k):\n    conv(k, 3, padding=1)\n\nnetwork net:\n    conv(8, 3, stride=2, padding=1)\n    for j in range(s):\n        unit(8 + j)\n    flatten\n    linear(10)\n"),
    "a-loop-that-strides": ("s", 1, True, "network net:\n    repeat s:\n        conv(8, 3, stride=2, padding=1)\n    flatten\n    linear(10)\n"),
    # a flatten of an adaptive pool a parameter sizes multiplies in the pool's size, as computed
    "a-pool-a-parameter-sizes-is-free": ("s", 3, False, "network net:\n    conv(8, 3, padding=1)\n    adaptive_avgpool(s)\n    flatten\n    linear(10)\n"),
    "a-pool-a-block-sizes-is-free": ("s", 3, False, "block head(b):\n    adaptive_maxpool((b, 2 * b))\n    flatten\n\nnetwork net:\n    conv(8, 3, padding=1)\n    head(s)\n    linear(10)\n"),
    # a pool of the network's flattened in a spliced block: the pool's size is a name of another frame
    "a-pool-before-a-splice-that-flattens": ("s", 3, True, "block flat:\n    flatten\n    linear(10)\n\nnetwork net:\n    conv(8, 3, padding=1)\n    adaptive_avgpool((s, s))\n    *flat()\n"),
    "a-spliced-pool-before-a-flatten": ("s", 3, True, "block head(k):\n    adaptive_avgpool((k, 2 * k))\n\nnetwork net:\n    conv(8, 3, padding=1)\n    *head(s)\n    flatten\n    linear(10)\n"),
    "a-pool-then-a-relu-is-fixed": ("s", 1, True, "network net:\n    conv(8, 3, padding=1)\n    adaptive_avgpool(s)\n    relu\n    flatten\n    linear(10)\n"),
    # a literal like= takes the size the named value had when compiled (BiSeNet's upsample to a context path)
    "an-upsample-like-a-value-a-parameter-sizes": ("s", 1, True, "network net:\n    a = conv(8, 3, stride=s, padding=1)\n    maxpool(2)\n    upsample(like=\"a\")\n    add:\n        identity\n        @a\n    global_avgpool\n    flatten\n    linear(10)\n"),
    "an-upsample-like-the-input-is-free": ("s", 1, False, "network net:\n    conv(8, 3, stride=s, padding=1)\n    upsample(like=\"input\")\n    global_avgpool\n    flatten\n    linear(10)\n"),
    # a loop of a concat's branches runs them side by side: its count changes the channels, not the size
    "a-loop-of-reads-among-a-concats-branches": ("s", 3, False, "network net:\n    for i in range(s):\n        \"c{i}\": conv(4, 1)\n    concat:\n        identity\n        for i in range(s):\n            @\"c{i}\"\n    flatten\n    linear(10)\n"),
    "a-loop-of-convs-among-a-concats-branches": ("s", 3, False, "network net:\n    conv(4, 3, padding=1)\n    concat:\n        identity\n        for _ in range(s):\n            conv(4, 1)\n    flatten\n    linear(10)\n"),
    "a-loop-of-blocks-that-stride": ("s", 1, True, "block down:\n    conv(8, 3, stride=2, padding=1)\n\nnetwork net:\n    repeat s:\n        down\n    flatten\n    linear(10)\n"),
}


@pytest.mark.parametrize("case", SPATIAL, ids=list(SPATIAL))
def test_a_parameter_that_moves_a_spatial_size_the_file_fixed_is_refused(case):
    """`net(s=1)` either builds what `--set s=1` compiles (params, output) or says to recompile;
    never a module that fails in forward or has other layers."""
    param, other, refused, body = SPATIAL[case]
    text = f"param {param} = 2\ninput 3x16x16\n\n{body}"
    ns = _module(_compile(text), case)
    x = torch.randn(1, 3, 16, 16)
    assert ns["Net"]()(x).shape == (1, 10)  # the compiled value
    if refused:
        with pytest.raises(ValueError, match=f"--set {param}="):
            ns["Net"](**{param: other})
        return
    want = archspec.loads(text, **{param: other}).total
    m = ns["Net"](**{param: other})
    assert sum(p.numel() for p in m.parameters()) == want.params
    assert m(x).shape == (1, 10)


def _compile(text: str, **values) -> str:
    from archspec.backends.torch.runtime import source

    a = archspec.loads(text, name="spatial.arch", **values)
    return source(a.graph, a.spec)


@pytest.mark.parametrize(
    ("body", "what"),
    [
        # `in` in a splice is the value flowing into it, whose spatial size the backend does not track
        ("block head:\n    conv(in.width, 1)\n\nnetwork net:\n    conv(8, 3, stride=2, padding=1)\n    *head()\n", "in.width inside a spliced block"),
        # a level that joins becomes a class whose own input is not the block's `in`
        ("network net:\n    conv(8, 3, padding=1)\n    head:\n        add:\n            identity\n            relu\n        conv(in.channels, 1)\n", "`in` inside a level that joins"),
    ],
    ids=["in-width-in-a-splice", "in-in-a-level-that-joins"],
)
def test_what_the_backend_would_write_wrong_is_a_located_refusal(body, what):
    """Both once compiled to modules that disagree with `check` (a conv of 16 channels where the
    spec's `in` has 8; of 8 where it has 3): now a located error that names the construct."""
    text = f"input 3x16x16\n\n{body}"
    archspec.loads(text, name="spatial.arch")  # the spec itself is fine
    with pytest.raises(archspec.ArchspecError) as err:
        _compile(text)
    (d,) = err.value.diagnostics
    assert what in d.message and d.span is not None and d.span.line > 1


# Random networks whose stride `s` and width `c` reach blocks that flatten, read `in.height`, pool
# to a fixed size or take the stride as an argument: whatever the mix, the file compiled once and
# called with other values builds what `--set` compiles, or its constructor refuses them.
RANDOM_BLOCKS = """block flat(k):
    flatten
    linear(k)

block probe:
    conv(in.height, 1)

block strided(t=2):
    conv(8, 3, stride=t, padding=1)

block nested:
    relu
    probe

block pooled:
    adaptive_avgpool(2)

block widen(k, wide=k * 2):
    conv(wide + in.channels, 1)
"""
STEPS = [
    "conv(8, 3, stride=s, padding=1)", "conv(c, 3, padding=1)", "strided(s)", "strided()", "strided(t=s + 1)", "probe", "nested", "pooled", "relu", "*nested()",
    "if s > 2:\n        maxpool(2)", "repeat s - 1:\n        strided()", "stem{i}:\n        conv(c, 3, stride=s, padding=1)\n        probe",
    "for w in widths:\n        conv(w, 3, padding=1)", "if c > 8:\n        conv(c * 2, 1)", "widen(c)",
    "mul:\n        identity\n        _:\n            adaptive_avgpool(1)\n            sigmoid",  # SE's gate: the pool in one branch only
    "kept{i}: relu\n    adaptive_avgpool(1)\n    @kept{i}",  # a value kept before a pool and read after it
    # loops that name values, their count a parameter (U-Net's skips, C2f's branches)
    'loop{i}:\n        for j in range(s):\n            "v{i}_{{j}}": conv(c, 3, padding=1)\n        concat:\n            identity\n            @"v{i}_0"',
    'c2f{i}:\n        first{i}: conv(c, 1)\n        m:\n            for j in range(s):\n                "m{i}_{{j}}": conv(c, 3, padding=1)\n'
    '        concat:\n            @first{i}\n            for j in range(s):\n                @"m{i}_{{j}}"',
]  # fmt: skip
ENDS = ["flat(10)", "global_avgpool; flatten; linear(10)", "flatten; linear(10)", "pooled; flat(10)"]


@st.composite
def spatial_networks(draw) -> str:
    steps = draw(st.lists(st.sampled_from(STEPS), min_size=1, max_size=5))
    body = "".join(f"    {step.format(i=i)}\n" for i, step in enumerate([*steps, draw(st.sampled_from(ENDS))]))
    return f"param s = 2\nparam c = 8\nparam widths = (8, 16)\ninput 3x32x32\n\n{RANDOM_BLOCKS}\nnetwork net:\n{body}"


def _shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(spatial_networks(), st.sampled_from([{"s": 1}, {"s": 3}, {"c": 4}, {"s": 1, "c": 16}, {"widths": (4, 4, 4)}, {"widths": (), "c": 12}]))
def test_random_networks_called_with_other_values_equal_set_or_refuse(text, values):
    try:
        compiled = _module(_compile(text), "compiled")
    except archspec.ArchspecError as err:  # the refusals docs/torch.md names for these steps, located
        (d,) = err.diagnostics
        named = ("in.height inside a spliced block", "instances take different values of it", "a numbered member of a class with a forward")
        assert d.span is not None and any(n in d.message for n in named), d.message
        event("refused when compiled")
        return
    try:
        want = _module(_compile(text, **values), "set")["Net"]()
    except archspec.ArchspecError:  # the spec itself refuses these values (a size shrinks to nothing)
        event("refused by --set")
        return
    try:
        built = compiled["Net"](**values)
    except ValueError as err:
        assert any(f"--set {p}=" in str(err) for p in values), err
        event("refused by the constructor")
        return
    assert _shapes(built) == _shapes(want)
    x = torch.randn(1, 3, 32, 32)
    assert built(x).shape == want(x).shape
    event("built what --set compiles")


SHIPPED = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("specs/*.arch"), *ROOT.glob("specs/*.yaml"), *ROOT.glob("specs/d2l/*.arch")] if p.stem != "lib")


def _others(value) -> list:
    """Other values of a parameter to try: a bool flipped, an int one up and halved, a float
    halved, a tuple of ints halved (strings and nested tuples are left to CASES above)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return sorted({value + 1, max(1, value // 2)} - {value})
    if isinstance(value, float):
        return [value * 0.5]
    if isinstance(value, tuple) and value and all(type(x) is int for x in value):
        return [tuple(max(1, x // 2) for x in value)]
    return []


@pytest.mark.parametrize("spec", SHIPPED)
def test_every_parameter_of_every_spec_is_a_constructor_argument_equal_to_set(spec):
    """Each network parameter of each shipped spec (.arch and .yaml), given another value: the file compiled once
    builds what `--set` compiles (every state_dict key and shape; on the meta device, so no
    weights are made), or its constructor refuses with `--set NAME=`. Values the spec itself
    refuses (`--set` fails) are skipped."""
    a = archspec.load(ROOT / spec)
    if not a.graph.params:
        pytest.skip("no parameters")
    factory = Path(spec).stem.replace("-", "_")
    compiled = _module(archspec.compile_torch(ROOT / spec), "compiled")[factory]
    tried = []
    for name, value in a.graph.params.items():
        for other in _others(value):
            try:
                want_source = archspec.compile_torch(ROOT / spec, **{name: other})
            except archspec.ArchspecError:
                continue
            with torch.device("meta"):
                try:
                    got = compiled(**{name: other})
                except ValueError as err:
                    assert f"--set {name}=" in str(err), (name, other, err)
                    tried.append(name)
                    continue
                want = _module(want_source, "set")[factory]()
            assert _shapes(got) == _shapes(want), (name, other)
            tried.append(name)
    assert tried, "no other value of any parameter compiles"
