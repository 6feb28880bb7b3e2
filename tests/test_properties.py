"""Property tests: random valid conv/pool stacks get the shapes PyTorch computes.

Two independent checks: PyTorch's documented output-size formula written out here, and
(when torch is installed) torch itself, run on the `meta` device so that no data moves.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec

conv_layers = st.fixed_dictionaries(
    {
        "op": st.just("conv"),
        "out": st.integers(1, 16),
        "k": st.integers(1, 5),
        "s": st.integers(1, 3),
        "p": st.integers(0, 3),
        "d": st.integers(1, 2),
    }
)
pool_layers = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["maxpool", "avgpool"]),
        "k": st.integers(1, 4),
        "s": st.integers(1, 3),
        "p": st.integers(0, 2),
        "ceil": st.booleans(),
    }
)


def formula(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    """PyTorch's docs: floor((size + 2p - d(k-1) - 1) / s + 1), or ceil for ceil_mode pools
    (whose last window must start inside the input)."""
    n = (size + 2 * p - d * (k - 1) - 1) / s + 1
    out = math.ceil(n) if ceil else math.floor(n)
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def expected(layers, c: int, h: int, w: int):
    shapes = []
    for layer in layers:
        if layer["op"] == "conv":
            c = layer["out"]
            h, w = (formula(x, layer["k"], layer["s"], layer["p"], layer["d"]) for x in (h, w))
        else:
            if 2 * layer["p"] > layer["k"]:
                return None
            h, w = (formula(x, layer["k"], layer["s"], layer["p"], ceil=layer["ceil"]) for x in (h, w))
        if h < 1 or w < 1:
            return None
        shapes.append((c, h, w))
    return shapes


def spec_text(layers, c: int, h: int, w: int) -> str:
    lines = [f"input {c}x{h}x{w}", "network random:"]
    for x in layers:
        if x["op"] == "conv":
            lines.append(f"    conv({x['out']}, {x['k']}, stride={x['s']}, padding={x['p']}, dilation={x['d']})")
        else:
            lines.append(f"    {x['op']}({x['k']}, stride={x['s']}, padding={x['p']}, ceil_mode={str(x['ceil']).lower()})")
    return "\n".join(lines) + "\n"


stacks = st.tuples(
    st.lists(st.one_of(conv_layers, pool_layers), min_size=1, max_size=6), st.integers(1, 4), st.integers(1, 40), st.integers(1, 40)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stacks)
def test_random_stacks_follow_pytorchs_formula(tmp_path, stack):
    layers, c, h, w = stack
    path = tmp_path / "random.arch"
    path.write_text(spec_text(layers, c, h, w))
    want = expected(layers, c, h, w)
    if want is None:
        with pytest.raises(archspec.ArchspecError):
            archspec.load(path)
        return
    got = [x.output for x in archspec.load(path).layers]
    assert got == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stacks)
def test_random_stacks_agree_with_torch_itself(tmp_path, stack):
    torch = pytest.importorskip("torch")
    layers, c, h, w = stack
    path = tmp_path / "random.arch"
    path.write_text(spec_text(layers, c, h, w))
    x = torch.empty(1, c, h, w, device="meta")
    torch_shapes, failed = [], False
    for layer in layers:
        try:
            if layer["op"] == "conv":
                weight = torch.empty(layer["out"], x.shape[1], layer["k"], layer["k"], device="meta")
                x = torch.nn.functional.conv2d(x, weight, stride=layer["s"], padding=layer["p"], dilation=layer["d"])
            elif layer["op"] == "maxpool":
                x = torch.nn.functional.max_pool2d(x, layer["k"], layer["s"], layer["p"], ceil_mode=layer["ceil"])
            else:
                x = torch.nn.functional.avg_pool2d(x, layer["k"], layer["s"], layer["p"], ceil_mode=layer["ceil"])
        except RuntimeError:
            failed = True
            break
        if min(x.shape[2:]) < 1:
            failed = True
            break
        torch_shapes.append(tuple(x.shape[1:]))
    if failed:
        with pytest.raises(archspec.ArchspecError):
            archspec.load(path)
    else:
        assert [y.output for y in archspec.load(path).layers] == torch_shapes
