"""One class per block definition, also where instances take different `if` branches or repeat
counts: the generated constructor and forward mirror the spec's statements (torch_branches)."""

from __future__ import annotations

import collections
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import archspec
from archspec.api import parse_value
from archspec.backends.torch_branches import negate, python_expr
from archspec.definitions import lower_expr
from archspec.expressions import Env, EvalError, evaluate
from archspec.ir.expr import free_names
from tests.conftest import ROOT, SPECS

NETWORK_SPECS = sorted(
    str(p.relative_to(ROOT))
    for p in list(SPECS.glob("*.arch")) + list(SPECS.glob("*.yaml")) + list((SPECS / "d2l").glob("*.arch"))
    if p.stem != "lib"
)


@pytest.mark.parametrize("spec", NETWORK_SPECS)
def test_every_block_definition_compiles_to_one_class(spec):
    src = archspec.compile_torch(ROOT / spec)
    per_block = collections.Counter(re.findall(r'"""The block `(\w+)`', src))
    assert {b: n for b, n in per_block.items() if n > 1} == {}


def test_mobilenet_v2_mirrors_its_ifs():
    src = archspec.compile_torch(SPECS / "mobilenet_v2.arch")
    assert re.findall(r"^class (\w+)", src, re.M) == ["ConvBNRelu6", "InvertedResidualBody", "InvertedResidual", "MobileNetV2"]
    # the expansion conv exists only when t != 1, as in torchvision's list of layers
    body = src[src.index("class InvertedResidualBody") : src.index("class InvertedResidual(")]
    assert "layers: list[nn.Module] = []\n        if t != 1:\n            layers.append(" in body
    assert "super().__init__(*layers)" in body and "hidden: int" in body
    # the residual exists only when the shape is kept: the forward branches on the spec's condition
    block = src[src.index("class InvertedResidual(") : src.index("class MobileNetV2")]
    assert "if self.stride == 1 and self.in_channels == self.out:" in block
    assert "out = x + conv" in block


def test_shufflenet_unit_builds_branch1_only_when_it_downsamples():
    src = archspec.compile_torch(SPECS / "shufflenet_v2_x1_0.arch")
    assert re.findall(r"^class (\w+)", src, re.M) == ["ShuffleBranch", "ShuffleUnit", "ShuffleNetV2X1_0"]
    assert "        if stride != 1:\n            self.branch1 = nn.Sequential(\n" in src
    assert "        else:\n            self.branch1 = nn.Sequential()\n        self.branch2 = ShuffleBranch(" in src
    assert "if self.stride == 1:" in src and "x.chunk(2, dim=1)" in src


def test_slides_vgg_block_is_a_loop():
    src = archspec.compile_torch(SPECS / "d2l" / "vgg11.arch")
    assert re.findall(r"^class (\w+)", src, re.M) == ["VGGBlock", "VGG11"]
    assert "for i in range(convs):" in src
    assert "nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1)" in src
    assert "VGGBlock(in_channels=128, convs=2, channels=256)" in src


def test_what_cannot_be_mirrored_keeps_a_class_per_variant_and_still_verifies(write_spec):
    from archspec.backends.torch_runtime import verify

    # an `if` inside a loop that depends on the iteration: not mirrored, still correct code
    path = write_spec(
        "input 4x6x6\n"
        "block odd(c, n):\n"
        "    for i in range(n):\n"
        "        if i % 2 == 0:\n"
        "            relu\n"
        "        else:\n"
        "            conv(c, 1)\n"
        "network net:\n"
        "    odd(4, 1)\n"
        "    odd(4, 2)\n"
    )
    src = archspec.compile_torch(path)
    assert re.findall(r"^class (\w+)", src, re.M) == ["Odd", "Odd2", "Net"]
    assert verify(archspec.load(path), batch=2).ok


def test_a_block_splitting_on_in_channels_and_a_local(write_spec):
    from archspec.backends.torch_runtime import verify

    path = write_spec(
        "input 4x6x6\n"
        "block proj(out):\n"
        "    wide = out * 2\n"
        "    if in.channels != out:\n"
        "        conv(wide, 1)\n"
        "        conv(out, 1)\n"
        "    relu\n"
        "network net:\n"
        "    proj(8)\n"
        "    proj(8)\n"
        "    proj(16)\n"
    )
    src = archspec.compile_torch(path)
    assert re.findall(r"^class (\w+)", src, re.M) == ["Proj", "Net"]
    assert "if in_channels != out:" in src
    # sizes of layers only some instances build are named after the block's input, arguments and variables
    assert "nn.Conv2d(in_channels, wide, 1)" in src and "nn.Conv2d(wide, out, 1)" in src
    assert verify(archspec.load(path), batch=2).ok


def test_a_condition_on_a_name_nn_module_owns_keeps_the_module_working(write_spec):
    from archspec.backends.torch_runtime import verify

    path = write_spec(
        "input 4x6x6\n"
        "block b(training):\n"
        "    if training:\n"
        "        add:\n"
        "            c: conv(4, 1)\n"
        "    else:\n"
        "        c: conv(4, 1)\n"
        "network n:\n"
        "    b(true)\n"
        "    b(false)\n"
    )
    src = archspec.compile_torch(path)
    assert "self.training_ = training" in src and "if self.training_:" in src
    assert verify(archspec.load(path), batch=2).ok  # .train() and .eval() still work


def test_python_keywords_in_the_spec_become_valid_names(write_spec):
    from archspec.backends.torch_runtime import verify

    path = write_spec(
        "param class = 10\n"
        "input 4x6x6\n"
        "block b(from, lambda):\n"
        "    conv(from, 1)\n"
        "    if lambda > 8:\n"
        "        add:\n"
        "            c: conv(from, 1)\n"
        "    else:\n"
        "        c: conv(from, 1)\n"
        "network n:\n"
        "    b(4, 8)\n"
        "    b(8, 16)\n"
        "    flatten\n"
        "    linear(class)\n"
    )
    src = archspec.compile_torch(path)
    compile(src, "net.py", "exec")
    assert "def __init__(self, from_: int, lambda_: int) -> None:" in src and "if self.lambda_ > 8:" in src
    assert "def net(class_: int = 10) -> N:" in src and "B(from_=4, lambda_=8)" in src
    assert verify(archspec.load(path), batch=2).ok


# ---- conditions: the spec's expression and the Python written for it agree ----

NAMES = {"a": 7, "b": 3, "c": 2, "d": -5}


@st.composite
def expressions(draw, depth=0):
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([*NAMES, "1", "2", "0", "true", "false"]))
    kind = draw(st.sampled_from(["bin", "bin", "bin", "cmp", "bool", "not", "neg", "paren"]))
    left, right = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    if draw(st.booleans()):  # explicit grouping, which the Python must keep: a - (b - c)
        right = f"({right})"
    if kind == "bin":
        return f"{left} {draw(st.sampled_from(['+', '-', '*', '//', '%']))} {right}"
    if kind == "cmp":
        return f"{left} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {right}"
    if kind == "bool":
        return f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
    if kind == "not":
        return f"not {left}"
    if kind == "neg":
        return f"-{left}"
    return f"({left})"


@settings(max_examples=500, deadline=None)
@given(expressions())
@example("a - (b - c)")
@example("a // (b * c)")
@example("a % (b % c)")
@example("-(a + b) * c")
@example("not (a and c) or b")
@example("(a or b) and c - 2")
@example("(a < b) == (c < d)")
@example("not a == b")
@example("not (a or c)")
def test_conditions_become_python_with_the_same_value(text):
    try:
        expr = lower_expr(parse_value(text))
    except Exception:
        return  # not every drawn string is an expression of the language
    if not free_names(expr) <= set(NAMES):
        return  # `-not` reads `not` as a name
    try:
        expected = evaluate(expr, Env(dict(NAMES)))
    except EvalError:
        return
    source = python_expr(expr, lambda name, value_of: f"({NAMES[name]})")
    assert eval(source) == expected, source  # noqa: S307 - our own generated arithmetic
    negated = negate(python_expr(expr, lambda name, value_of: name))
    assert eval(negated, {}, dict(NAMES)) == (not expected), negated  # noqa: S307


def test_negate_flips_a_single_comparison():
    assert negate("stride == 1") == "stride != 1"
    assert negate("t < 2") == "t >= 2"
    assert negate("stride == 1 and x == y") == "not (stride == 1 and x == y)"
