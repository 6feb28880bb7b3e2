"""The torch backend lowers the spec's definitions: one class per block, its parameters the
constructor's, its `if`s and loops statements, its sizes the spec's expressions. The source checks
need no torch; where it is missing, a test that goes on to verify the module skips at that step."""

from __future__ import annotations

import ast
import collections
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import archspec
from archspec.api import parse_value
from archspec.backends.torch.python import Translator, const, name
from archspec.definitions import lower_expr
from archspec.expressions import Env, EvalError, evaluate
from archspec.ir.expr import free_names
from tests.conftest import ROOT, SPECS, run_cli, verify_or_skip

NETWORK_SPECS = sorted(
    str(p.relative_to(ROOT))
    for p in list(SPECS.glob("*.arch")) + list(SPECS.glob("*.yaml")) + list((SPECS / "d2l").glob("*.arch"))
    if p.stem != "lib"
)


def _verified(path) -> bool:
    """The file the spec compiles to builds a module `verify` finds equal to the analysis (batch 2)."""
    return verify_or_skip(archspec.load(path).graph, str(path), batch=2).ok


def _refused(path, at: str, *says: str) -> None:
    """`compile --to torch` exits 1 with an error at `at` (line:column) that says each of `says`, no traceback."""
    r = run_cli("compile", str(path), "--to", "torch")
    assert r.returncode == 1 and f":{at}: error:" in r.stderr and all(x in r.stderr for x in says) and "Traceback" not in r.stderr, r.stderr


def _classes(src: str) -> list[str]:
    return re.findall(r"^class (\w+)", src, re.M)


def _class(src: str, name_: str) -> str:
    start = src.index(f"class {name_}(")
    end = src.find("\nclass ", start + 1)
    return src[start : end if end != -1 else len(src)]


@pytest.mark.parametrize("spec", NETWORK_SPECS)
def test_every_block_definition_compiles_to_one_class(spec):
    src = archspec.compile_torch(ROOT / spec)
    per_block = collections.Counter(re.findall(r'"""The block `(\w+)`', src))
    assert {b: n for b, n in per_block.items() if n > 1} == {}
    used = {s.block for s in archspec.load(ROOT / spec).graph.scopes.values() if s.kind == "block"}
    assert used <= set(per_block)


def test_mobilenet_v2_mirrors_its_ifs_and_loops():
    src = archspec.compile_torch(SPECS / "mobilenet_v2.arch")
    assert _classes(src) == ["ConvBNRelu6", "InvertedResidualBody", "InvertedResidual", "MobileNetV2"]
    body = _class(src, "InvertedResidualBody")
    assert "hidden = int(round(in_channels * t))" in body  # the spec's own variable, not a number
    assert "        if t != 1:\n            self.append(ConvBNRelu6(in_channels, hidden, 1))" in body
    block = _class(src, "InvertedResidual")
    assert "if self.stride == 1 and self.in_channels == self.out:" in block
    net = _class(src, "MobileNetV2")
    assert "width: float = 1.0" in net and "for t, c, n, s in setting:" in net and "for i in range(n):" in net
    assert "make_divisible(c * width)" in net and "def make_divisible(" in src


def test_resnet_stages_are_loops_over_the_layers_parameter():
    src = archspec.compile_torch(SPECS / "resnet50.arch")
    assert _classes(src) == ["SE", "Bottleneck", "ResNet50"]
    assert src.count("Bottleneck(") == 3  # the class, the first block of a stage, the others in a loop
    net = _class(src, "ResNet50")
    assert "for i, n in enumerate(layers):" in net and "for _ in range(n - 1):" in net
    assert "self.add_module(f'layer{i + 1}', layer)" in net
    bottleneck = _class(src, "Bottleneck")
    assert "width = int(planes * (width_per_group / 64.0)) * groups" in bottleneck
    assert "if stride_on not in ('1x1', '3x3'):\n            raise ValueError(" in bottleneck


def test_densenet_is_its_spliced_block_with_its_arguments():
    src = archspec.compile_torch(SPECS / "densenet121.arch")
    assert _classes(src) == ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "DenseNet121"]
    assert "class DenseNet121(DenseNet):" in src and "super().__init__(3, 32, (6, 12, 24, 16), 64, classes=classes)" in src
    block = _class(src, "DenseBlock")
    assert "for j in range(layers):\n            self.add_module(f'denselayer{j + 1}', DenseLayer(channels, growth, bn_size))" in block
    assert "for _, layer in self.items():" in block and "torch.cat([x, out], 1)" in block
    assert 'add_module("2"' not in src and "getattr(self, '2')" not in src


def test_shufflenet_unit_builds_branch1_only_when_it_downsamples():
    src = archspec.compile_torch(SPECS / "shufflenet_v2.arch")
    assert _classes(src) == ["Chunk", "ShuffleBranch", "ShuffleUnit", "ShuffleNetV2"]
    unit = _class(src, "ShuffleUnit")
    assert "half = out // 2" in unit and "if stride == 1:" in unit and "self.branch1 = nn.Sequential(" in unit
    assert "if self.stride == 1:" in unit and "x.chunk(2, dim=1)[0]" in unit


def test_an_if_inside_a_loop_is_mirrored(write_spec):
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
        "    odd(4, 3)\n"
    )
    src = archspec.compile_torch(path)
    assert _classes(src) == ["Odd", "Net"]
    assert "for i in range(n):\n            if i % 2 == 0:" in src
    assert _verified(path)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        # a residual block of `repeat n:` convs, the paper's way of writing it: '1', '3' (and '5')
        ("    add:\n        identity\n        _:\n            repeat n:\n                conv(c, 3, padding=1)\n                relu\n", ["f'{2 * i + 1}'"]),
        # after the loop and a join: the position counts the loop's iterations
        ("    repeat n:\n        conv(c, 3, padding=1)\n    add:\n        identity\n        relu\n    conv(c, 1)\n", ["f'{i}'", "f'{n + 2}'", "f'{self.n + 2}'"]),
    ],
    ids=["in-a-loop", "after-a-loop"],
)
def test_numbered_members_in_and_after_loops_of_a_class_with_a_forward(write_spec, body, names):
    """Unlabelled members of a class with a forward take the names the state_dict gives them,
    computed where the position is only known when built (it was a refusal)."""
    path = write_spec(f"input 8x8x8\nblock res(c, n):\n{body}network net:\n    res(8, 2)\n    res(8, 3)\n")
    src = archspec.compile_torch(path)
    assert all(n in src for n in names), src
    assert _verified(path)


def test_a_pair_of_equal_ints_stays_a_pair_where_it_is_a_value(write_spec):
    """`param layers = (4, 4)` (two stages of four) was written `layers = 4`, as a kernel size
    would be, and the module failed to build (`enumerate(4)`); a literal `for n in (2, 2):` and a
    block's default too. An op's size argument still collapses: `nn.AdaptiveAvgPool2d(2)`."""
    import inspect

    path = write_spec(
        "param layers = (2, 2)\ninput 4x8x8\n"
        "block stage(ns=(1, 1)):\n    for n in ns:\n        conv(4, 1)\n"
        "network net:\n    for n in layers:\n        repeat n:\n            conv(4, 3, padding=1)\n"
        "    for n in (2, 2):\n        stage\n    adaptive_avgpool((2, 2))\n"
    )
    src = archspec.compile_torch(path)
    ns: dict = {"__name__": "pairs"}
    exec(compile(src, "pairs.py", "exec"), ns)  # noqa: S102 - archspec's own generated file
    assert inspect.signature(ns["Net"]).parameters["layers"].default == (2, 2)
    assert inspect.signature(ns["Stage"]).parameters["ns"].default == (1, 1)
    assert " in (2, 2):" in src and "nn.AdaptiveAvgPool2d(2)" in src
    assert _verified(path)


def test_an_if_of_a_literal_test_writes_only_the_body_it_runs(write_spec):
    """`if 1: flatten()` (found by tests/test_fuzz_grammar.py's hostile specs): the body it never
    runs gives another rank, which the file refused to write; only the body it runs is built."""
    path = write_spec("param n = true\ninput 3x16x16\nnetwork net:\n    if 1:\n        flatten()\n    elif n:\n        relu\n    linear(4)\n")
    src = archspec.compile_torch(path)
    assert "if " not in src.split("class Net")[1] and "nn.Linear(768, 4)" in src
    assert _verified(path)


def test_a_numbered_member_after_an_optional_branch_is_refused(write_spec):
    """`shortcut if proj:` takes a position only where it is built: the conv after it is '2' in
    unit(true) and '1' in unit(false). The file once named it '2' for both, and verify failed;
    now a located refusal that says to label it."""
    path = write_spec("input 8x8x8\nblock unit(proj):\n    add:\n        identity\n        shortcut if proj: conv(8, 1)\n    conv(8, 1)\nnetwork net:\n    unit(true)\n    unit(false)\n")
    assert [n.path for n in archspec.load(path).graph.layers()][2:4] == ["0.add", "0.2"]
    with pytest.raises(archspec.ArchspecError, match="numbered member") as err:
        archspec.compile_torch(path)
    assert err.value.diagnostics[0].span.line == 6


def test_a_block_splitting_on_in_channels_and_a_local(write_spec):
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
    assert _classes(src) == ["Proj", "Net"]
    assert "if in_channels != out:" in src
    assert "nn.Conv2d(in_channels, wide, 1)" in src and "nn.Conv2d(wide, out, 1)" in src
    assert _verified(path)


def test_a_condition_on_a_name_nn_module_owns_keeps_the_module_working(write_spec):
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
    assert _verified(path)  # .train() and .eval() still work


def test_python_keywords_and_torch_names_in_the_spec_become_valid_names(write_spec):
    path = write_spec(
        "param class = 10\n"
        "input 4x6x6\n"
        "block b(from, lambda, nn):\n"
        "    conv(from, 1)\n"
        "    if lambda > 8:\n"
        "        add:\n"
        "            c: conv(from, nn)\n"
        "    else:\n"
        "        c: conv(from, nn)\n"
        "network n:\n"
        "    b(4, 8, 1)\n"
        "    b(8, 16, 1)\n"
        "    flatten\n"
        "    linear(class)\n"
    )
    src = archspec.compile_torch(path)
    compile(src, "net.py", "exec")
    assert "def __init__(self, in_channels: int, from_: int, lambda_: int, nn2: int) -> None:" in src
    assert "if self.lambda_ > 8:" in src and "def net(class_: int = 10) -> N:" in src
    assert _verified(path)


def test_a_spec_string_reaches_the_file_only_as_a_literal(write_spec):
    """Treat every spec as a stranger's: a string meant to break out of the generated code stays data."""
    evil = '"); import os; os.system("echo owned"); ("'
    literal = '"' + evil.replace('"', '\\"') + '"'
    path = write_spec(f'param tag = {literal}\ninput 4x6x6\nblock b(t):\n    assert t != "x", "bad {{t}}"\n    relu\nnetwork n:\n    b(tag)\n')
    src = archspec.compile_torch(path)
    tree = ast.parse(src)
    calls = [ast.unparse(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call)]
    assert "os.system" not in calls
    assert any(isinstance(c, ast.Constant) and c.value == evil for c in ast.walk(tree))


# ---- expressions: the spec's and the Python written for it agree ----

NAMES = {"a": 7, "b": 3, "c": 2, "d": -5}


@st.composite
def expressions(draw, depth=0):
    if depth > 3 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from([*NAMES, "1", "2", "0", "true", "false"]))
    kind = draw(st.sampled_from(["bin", "bin", "bin", "cmp", "bool", "not", "neg", "paren", "if", "call"]))
    left, right = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    if draw(st.booleans()):  # explicit grouping, which the Python must keep: a - (b - c)
        right = f"({right})"
    if kind == "bin":
        return f"{left} {draw(st.sampled_from(['+', '-', '*', '//', '%', '**']))} {right}"
    if kind == "cmp":
        return f"{left} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {right}"
    if kind == "bool":
        return f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
    if kind == "not":
        return f"not {left}"
    if kind == "neg":
        return f"-{left}"
    if kind == "if":
        return f"{left} if {right} else {draw(expressions(depth + 1))}"
    if kind == "call":
        return f"{draw(st.sampled_from(['max', 'min', 'abs', 'int']))}({left}{', ' + right if draw(st.booleans()) else ''})"
    return f"({left})"


@settings(max_examples=500, deadline=None)
@given(expressions())
@example("a - (b - c)")
@example("a // (b * c)")
@example("-(a + b) * c")
@example("not (a and c) or b")
@example("(a < b) == (c < d)")
@example("not a == b")
@example("a if b > c else -d")
@example("2 ** -1")
@example("[x * a for x in (b, c) if x > d]")
@example("sum([k - j for (k, j) in ((a, b), (c, d))])")
@example("[(i, x) for i, x in enumerate((a, b))]")
def test_expressions_become_python_with_the_same_value(text):
    try:
        expr = lower_expr(parse_value(text))
    except Exception:
        return  # not every drawn string is an expression of the language
    if not free_names(expr) <= set(NAMES):
        return
    try:
        expected = evaluate(expr, Env(dict(NAMES)))
    except EvalError:
        return
    as_values = Translator(lambda n, span: const(NAMES[n]), lambda f, span: name("in_channels"))(expr)
    source = ast.unparse(as_values)
    assert eval(source) == expected, source  # noqa: S307 - our own generated arithmetic over literals
    as_names = ast.unparse(Translator(lambda n, span: name(n), lambda f, span: name("in_channels"))(expr))
    assert eval(as_names, dict(NAMES)) == expected, as_names  # noqa: S307 - names as globals: a comprehension sees them


def test_a_file_parameter_a_block_reads_is_a_keyword_argument(write_spec):
    """Blocks see their file's parameters: the main file's are the network's arguments, passed on;
    a library's keep the library's value."""
    write_spec("param k = 3\nblock b(c):\n    conv(c, k, padding=k // 2)\n    relu\n", "lib.arch")
    path = write_spec(
        'import "lib.arch"\nparam width = 8\ninput 3x16x16\nblock local(c):\n    conv(c * width, 1)\nnetwork n:\n    b(width)\n    local(2)\n'
    )
    src = archspec.compile_torch(path)
    assert "def __init__(self, in_channels: int, c: int, k: int = 3) -> None:" in src
    assert "def __init__(self, in_channels: int, c: int, width: int = 8) -> None:" in src
    assert "B(3, width)" in src and "Local(width, 2, width=width)" in src
    assert _verified(path)


def test_the_names_generated_classes_avoid_cover_what_torch_modules_own():
    torch = pytest.importorskip("torch")
    from archspec.naming import MODULE_ATTRS

    owned = {n for cls in (torch.nn.Sequential, torch.nn.ModuleDict) for n in dir(cls) if not n.startswith("_")}
    owned |= {n for n in vars(torch.nn.Module()) if not n.startswith("_")}
    assert owned <= MODULE_ATTRS, sorted(owned - MODULE_ATTRS)


def test_defaults_that_read_other_parameters_and_names_python_owns(write_spec):
    """`b=a * 2` is None in Python's signature and computed first thing; a network parameter named
    `self` or `x` is renamed in the class and the factory alike."""
    path = write_spec(
        "param x = 4\nparam self = 6\ninput 3x8x8\nblock f(a, b=a * 2):\n    conv(b, 1)\n    conv(a, 1)\n"
        "network n:\n    f(x)\n    f(self, 6)\n    add:\n        conv(self, 1)\n        identity\n"
    )
    src = archspec.compile_torch(path)
    assert "def __init__(self, in_channels: int, a: int, b: int | None = None) -> None:" in src and "if b is None:\n            b = a * 2" in src
    assert "def net(x: int = 4, self_: int = 6) -> N:" in src and "return N(x=x, self_=self_)" in src
    assert _verified(path)


def test_arguments_the_spec_computes_reach_every_module(write_spec):
    """`dropout(p)`, `batchnorm(eps=e)`, `maxpool(pool)` with block parameters are the parameters in
    the class, not the values one instance had."""
    path = write_spec(
        "param drop = 0.3\nparam k = 3\ninput 3x16x16\n"
        "block b(p, pool, e=0.001):\n    conv(8, 3, padding=1)\n    batchnorm(eps=e)\n    relu\n    maxpool(pool, stride=pool)\n    dropout(p)\n"
        "network n:\n    b(drop, 2)\n    b(0.5, k, e=0.01)\n    adaptive_avgpool(2)\n    flatten\n    linear(10)\n"
    )
    src = archspec.compile_torch(path)
    assert "nn.BatchNorm2d(8, eps=e)" in src and "nn.MaxPool2d(pool, stride=pool)" in src and "nn.Dropout(p)" in src
    assert "def net(drop: float = 0.3, k: int = 3) -> N:" in src
    assert _verified(path)
    namespace: dict = {}
    exec(compile(src, "net.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    model = namespace["net"](drop=0.7, k=2)
    assert [m.p for m in model.modules() if type(m).__name__ == "Dropout"] == [0.7, 0.5]
    assert [m.kernel_size for m in model.modules() if type(m).__name__ == "MaxPool2d"] == [2, 2]


def test_window_arguments_a_parameter_computes_hold_in_every_instance():
    """`maxpool(k)` with k a block's argument strides by k in every instance (it was written
    `nn.MaxPool2d(k, stride=2)`, the first instance's stride), and a four-sided padding from a
    parameter is that parameter (`pads=(0, k, 0, 0)`, not the first instance's), and an upsample's
    factor or size a parameter sets is written (it was refused), and so is a pad's (refused too):
    the spec's (h, w) is PyTorch's (w, w, h, h). The modules compute what onnxruntime does on the
    analysis's graph."""
    from tests.conftest import FIXTURES

    path = FIXTURES / "computed_windows.arch"
    src = archspec.compile_torch(path)
    assert "nn.MaxPool2d(k)" in src and "nn.AvgPool2d(k)" in src
    assert "pads=(0, k, 0, 0)" in src and "pads=(0, p, 0, 0)" in src
    assert "nn.ZeroPad2d(k)" in src and "nn.ReflectionPad2d((2 * k, 2 * k, k, k))" in src and "nn.ReplicationPad2d(p)" in src
    assert "nn.Upsample(scale_factor=s)" in src and "nn.Upsample(size=(h, 2 * h), mode='bilinear', align_corners=False)" in src
    a = archspec.load(path)
    assert verify_or_skip(a.graph, str(path), batch=2).ok
    pytest.importorskip("onnxruntime")
    from tests.test_onnx_backend import _agree

    _agree(a)


def test_a_pad_from_a_name_that_may_hold_a_pair_is_refused_with_what_to_write(write_spec):
    """`pad(p)` with p an int in one instance and a pair in another: nn.ZeroPad2d would read the
    pair as (left, right), so it is refused with what to write; a variable that is an int wherever
    it is read (`p = r * 2` in `for r in rates`) is written as it is."""
    mixed = write_spec("input 4x16x16\nblock b(p):\n    pad(p)\nnetwork n:\n    b(1)\n    b((1, 2))\n")
    _refused(mixed, "3:5", "`pad((h, w))`")
    path = write_spec("param rates = (1, 2)\ninput 4x16x16\nnetwork n:\n    for r in rates:\n        p = r * 2\n        pad(p)\n        crop(16)\n", name="ints.arch")
    assert "nn.ZeroPad2d(p)" in archspec.compile_torch(path)
    assert _verified(path)


def test_a_loop_reads_by_computed_name_what_an_earlier_iteration_kept(write_spec):
    """Res2Net's form: `if s > 0: concat: identity; @"y{s - 1}"` before the loop's first
    `"y{s}": ...`. The read came before any value was kept and was refused; it reads the dict
    the later keeps fill, with channels that grow each iteration."""
    path = write_spec(
        'input 8x8x8\nblock b(n=3):\n    for s in range(n):\n        if s > 0:\n            concat:\n                identity\n                @"y{s - 1}"\n'
        '        "y{s}": conv(4 * (s + 1), 1)\nnetwork net:\n    b()\n    b(2)\n'
    )
    src = archspec.compile_torch(path)
    assert "torch.cat([x, values[f'y{s - 1}']], 1)" in src and "channels + values_channels[f'y{s - 1}']" in src
    assert _verified(path)


@pytest.mark.parametrize(
    "made",
    ['for i in range(2):\n        "x{i}": conv(4, 1)', "x0 = conv(4, 1)\n    x1 = conv(4, 1)"],
)
def test_a_concat_whose_only_branch_is_a_loop_of_reads_keeps_the_values(write_spec, made):
    """`concat: for j in range(2): @"x{j}"` with no other branch: the comprehension was written as
    one name, so the stores into `values` looked unread and were dropped (NameError in forward)."""
    path = write_spec(f'input 4x8x8\n\nnetwork n:\n    {made}\n    concat:\n        for j in range(2):\n            @"x{{j}}"\n')
    src = archspec.compile_torch(path)
    assert "torch.cat([values[f'x{j}'] for j in range(2)], 1)" in src and "values: dict[str, torch.Tensor] = {}" in src
    assert _verified(path)


def test_a_level_named_in_a_loop_is_a_class_named_by_its_label(write_spec):
    """`"res{i}": repeat n: add: ...` in DarkNet's stage loop was `class LevelBlock`, "The level
    `...`", taking untyped `c, n`: it is `ResBlock`, "The level `res{i}`", and the loop's ints are ints."""
    path = write_spec(
        'param repeats = (1, 2)\ninput 4x16x16\n\nnetwork n:\n    for i, n in enumerate(repeats):\n        c = 8 * 2 ** i\n'
        '        "down{i}": conv(c, 3, stride=2, padding=1)\n        "res{i}":\n            repeat n:\n                add:\n                    conv(c, 3, padding=1)\n'
    )
    src = archspec.compile_torch(path)
    assert "class ResBlock(nn." in src and '"""The level `res{i}` of' in src
    assert "def __init__(self, in_channels: int, c: int, n: int) -> None:" in src
    assert _verified(path)


@pytest.mark.parametrize(("branch", "keys"), [("@input; conv(4, 1)", ["0.0.weight", "0.0.bias"]), ("@input; cbr(4)", ["0.0.0.weight", "0.0.0.bias"])])
def test_a_branch_from_a_named_value_keeps_the_analysis_layer_names(write_spec, branch, keys):
    """`add: @input; conv(4, 1)` is a numbered level whose conv is `0.0` (the read takes no
    position); the module registered the conv as `0`, so its keys were not the layer paths and
    `verify --onnx` found the module's parameters unlike the analysis' (NASNet's `@h; sep(c, 3)`)."""
    from archspec.backends.torch.state_dict import state_dict_shapes

    path = write_spec(f"input 4x8x8\n\nblock cbr(c):\n    conv(c, 1)\n    relu\n\nnetwork n:\n    add:\n        {branch}\n        identity\n")
    g = archspec.load(path).graph
    assert [k for k in state_dict_shapes(g)] == keys  # the analysis' layer paths
    assert _verified(path)
    model = archspec.build(path)
    assert list(model.state_dict()) == keys


@pytest.mark.parametrize("inner", ["dwconv(1, multiplier=2)", "dbl()"])
def test_an_inner_loop_that_changes_the_channels_keeps_the_outer_loops_count(write_spec, inner):
    """`for n in (1, 2): repeat n: <doubles the channels>; conv(4, 1)`: each iteration starts and
    ends at 4 channels, so the outer loop dropped its count, and with it the inner loop's updates
    (nn.Conv2d(4, 4, 1) after 8 channels: a RuntimeError in forward; DPN's dense path)."""
    path = write_spec(f"input 3x8x8\n\nblock dbl():\n    concat:\n        identity\n        identity\n\nnetwork n:\n    conv(4, 1)\n    for n in (1, 2):\n        repeat n: {inner}\n        conv(4, 1)\n")
    assert "channels = 4" in archspec.compile_torch(path)
    assert _verified(path)


def test_a_local_nothing_reads_is_not_written_even_where_it_could_not_be(write_spec):
    """`h = in.height` in a block called at two sizes, read by nothing: compile refused it ("in.height
    in a block whose instances take different values of it") though no layer needs it."""
    path = write_spec("input 3x16x16\n\nblock b():\n    h = in.height\n    relu\n\nnetwork m:\n    b()\n    maxpool(2)\n    b()\n")
    assert " h = " not in archspec.compile_torch(path)
    assert _verified(path)


def test_a_parameter_named_as_a_member_keeps_both(write_spec):
    """`block b(se): ... if se: se: relu`: forward's test read `self.se`, which __init__ set to the
    bool after the member of that name (TypeError: cannot assign 'bool' as child module 'se').
    The kept value takes another attribute."""
    path = write_spec("input 8x8x8\nblock b(se):\n    add:\n        conv(8, 1)\n    if se:\n        se: relu\nnetwork n:\n    b(true)\n    b(false)\n")
    src = archspec.compile_torch(path)
    assert "self.se = nn.ReLU(inplace=True)" in src and "self.se_ = se" in src and "if self.se_:" in src
    assert _verified(path)


def test_a_swap_of_axes_on_channels_last_values_is_refused_not_miswritten(write_spec):
    """`permute((1, 2, 0)); permute((0, 2, 1))` moves the channels to the middle: the next
    layer's inputs were written as the channels (nn.Linear(4, 5) for 3 features, a RuntimeError
    in forward). It is refused, where it is; the same swap on channels first still compiles."""
    last = write_spec("input 4x2x3\nnetwork n:\n    permute((1, 2, 0))\n    permute((0, 2, 1))\n    linear(5, per_position=true)\n")
    _refused(last, "4:5", "channels-last value")
    first = write_spec("input 4x2x3\nnetwork n:\n    permute((0, 2, 1))\n    permute((1, 2, 0))\n    linear(5, per_position=true)\n", name="first.arch")
    assert "nn.Linear(4, 5)" in archspec.compile_torch(first)
    assert _verified(first)


@pytest.mark.parametrize(
    ("body", "at", "says"),
    [
        # a conv of channels-last [H, W, C]: it was written nn.Conv2d(4, 5, 1) for 8 channels in
        ("conv(4, 3, padding=1)\n    permute((1, 2, 0))\n    conv(5, 1)", "6:5", "a conv of a value whose channels are last"),
        # a per-position linear of channels-first [C, H, W] reads the width: nn.Linear(4, 6) for 16
        ("conv(4, 3, padding=1)\n    linear(6, per_position=true)", "5:5", "permute to channels last (1, 2, 0)"),
        ("concat:\n        permute((1, 2, 0))\n        identity", "4:5", "channels are on different axes"),
        # a second rotation of a channels-last value is no swap of its last two axes
        ("permute((1, 2, 0))\n    permute((1, 2, 0))", "5:5", "a permute that moves the channels to the middle axis"),
    ],
)
def test_an_op_reading_channels_where_a_permute_moved_them_is_refused(write_spec, body, at, says):
    """The backend follows one channel count: an op that reads the channels on the axis where they
    are not, or a join of values whose channels are on different axes, is refused where it is
    instead of being written with the wrong size (a RuntimeError in forward)."""
    shape = "4x4x4" if "concat" in body else "3x8x16"
    _refused(write_spec(f"input {shape}\n\nnetwork n:\n    {body}\n    flatten\n    linear(10)\n"), at, says)


def test_a_flatten_of_channels_last_values_multiplies_the_other_axes(write_spec):
    """A flatten after `permute((1, 2, 0)); linear(6, per_position=true)` has 8 * 16 * 6 features of
    an 3x8x16 input (its last axis is the 6 channels); it multiplied the channels by the wrong two
    axes (576). A (2, 1, 0) order keeps the channels on an end axis and compiles too."""
    path = write_spec("input 3x8x16\n\nnetwork n:\n    conv(4, 3, padding=1)\n    permute((1, 2, 0))\n    linear(6, per_position=true)\n    flatten\n    linear(10)\n")
    src = archspec.compile_torch(path)
    assert f"nn.Linear({8 * 16 * 6}, 10)" in src and "nn.Linear(4, 6)" in src
    assert _verified(path)
    mirrored = write_spec(
        "input 3x8x16\n\nnetwork n:\n    conv(4, 3, padding=1)\n    permute((2, 1, 0))\n    relu\n    permute((2, 1, 0))\n    conv(5, 1)\n    flatten\n    linear(10)\n",
        name="mirrored.arch",
    )
    assert "nn.Conv2d(4, 5, 1)" in archspec.compile_torch(mirrored)
    assert _verified(mirrored)


@pytest.mark.parametrize(
    ("before", "body", "written"),
    [
        # in.shape[0] was the graph's 32 whatever `dim` the constructor took
        ("", "conv(in.shape[0] * 2, 1)", "nn.Conv2d(in_channels, in_channels * 2, 1)"),
        # channels last ([H, W, C]) flowing in: the last axis is the channels, the first the height
        ("permute((1, 2, 0))", "linear(2 * in.shape[2], per_position=true)", "nn.Linear(in_channels, 2 * in_channels)"),
        ("permute((1, 2, 0))", "linear(in.channels * 2, per_position=true)", "nn.Linear(in_channels, 12)"),
    ],
)
def test_in_shape_reads_the_channels_flowing_in_on_their_axis(write_spec, before, body, written):
    """`in.shape`, `in.width` and `in.channels` name axes, not the channels: a block writes the axis
    that holds the channels as `in_channels` (channels first, or last after a permute) and the
    others as the graph's sizes, so that a network parameter sizing the channels gives the
    module `--set` compiles."""
    after = "permute((2, 0, 1))" if before else "identity"
    path = write_spec(f"param dim = 16\ninput 3x6x8\n\nblock b():\n    {body}\n\nnetwork n:\n    conv(dim, 1)\n    {before or 'identity'}\n    b()\n    {after}\n    flatten\n    linear(10)\n")
    src = archspec.compile_torch(path)
    assert written in src
    assert _verified(path)
    namespace: dict = {}
    exec(compile(src, "net.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    model = namespace["N"](dim=4)  # the network `n`
    assert sum(p.numel() for p in model.parameters()) == archspec.load(path, dim=4).total.params


def test_in_channels_of_a_splice_where_channels_may_be_last_is_refused(write_spec):
    """A spliced block's `in` is not followed to its axis: after a permute to channels last,
    `in.channels` (the height there) was written as the channels (nn.Linear(4, 8) for 12)."""
    path = write_spec("input 4x6x8\n\nblock b():\n    linear(in.channels * 2, per_position=true)\n\nnetwork n:\n    permute((1, 2, 0))\n    *b()\n    permute((2, 0, 1))\n")
    _refused(path, "4:12", "spliced block", "call the block instead")


def test_a_depthwise_multiplier_the_spec_computes_sizes_the_module(write_spec):
    """`dwconv(3, multiplier=k)` with k a block's argument or a network parameter was refused
    (its module takes the multiplier only through its output channels): it is `in_channels * k`."""
    path = write_spec("param m = 2\ninput 4x8x8\nblock g(k):\n    dwconv(3, padding=1, multiplier=k)\nnetwork n:\n    g(1)\n    dwconv(3, padding=1, multiplier=m)\n    g(3)\n")
    src = archspec.compile_torch(path)
    assert "nn.Conv2d(in_channels, in_channels * k, 3, padding=1, groups=in_channels)" in src and "nn.Conv2d(4, 4 * m, 3, padding=1, groups=4)" in src
    assert _verified(path)
    namespace: dict = {}
    exec(compile(src, "net.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    model = namespace["net"](m=3)
    assert sum(p.numel() for p in model.parameters()) == archspec.load(path, m=3).total.params
    plain = archspec.compile_torch(SPECS / "convnext.arch")  # a literal multiplier of 1 is no product, as torchvision writes it
    assert "nn.Conv2d(in_channels, in_channels, 7, padding=3, groups=in_channels)" in plain and "* 1," not in plain


def test_bool_arguments_the_spec_computes_are_keywords(write_spec):
    path = write_spec(
        "input 4x16x16\nblock b(c, flag, aff, cm):\n    conv(c, 1, bias=flag)\n    batchnorm(affine=aff)\n    maxpool(2, ceil_mode=cm)\n"
        "network n:\n    b(4, true, false, true)\n    b(4, false, true, false)\n"
    )
    src = archspec.compile_torch(path)
    assert "nn.Conv2d(in_channels, c, 1, bias=flag)" in src and "nn.BatchNorm2d(c, affine=aff)" in src
    assert "nn.MaxPool2d(2, ceil_mode=cm)" in src
    assert _verified(path)


def test_a_spec_string_cannot_end_the_files_docstring(write_spec):
    """The header names the parameters' values: a string holding triple quotes stays inside it."""
    payload = '""";PWNED = 1;"""'
    literal = '"' + payload.replace('"', '\\"') + '"'
    path = write_spec(f"param tag = {literal}\ninput 3x8x8\nnetwork n:\n    conv(4, 1)\n")
    src = archspec.compile_torch(path)
    namespace: dict = {}
    exec(compile(src, "net.py", "exec"), namespace)  # noqa: S102 - the point: importing it runs nothing of the spec's
    assert "PWNED" not in namespace
    assert f"tag={payload!r}" in namespace["__doc__"]


def test_a_network_parameter_derived_from_another_is_computed_by_the_module(write_spec):
    """`param c = 16 if wide else 8`: compiled with its default, the module takes `c: int | None = None` and
    computes it from `wide`, so `net(wide=True)` is `--set wide=true`; given a value with `--set c=4`,
    that value is the default."""
    torch = pytest.importorskip("torch")
    path = write_spec(
        "param wide = false\nparam c = 16 if wide else 8\ninput 3x8x8\nnetwork n:\n    conv(c, 1)\n    relu\n    conv(c * 2, 1)\n"
    )
    src = archspec.compile_torch(path)
    assert "c: int | None = None" in src and "if c is None:\n            c = 16 if wide else 8" in src
    namespace: dict = {}
    exec(compile(src, "net.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    shapes = {k: list(v.shape) for k, v in namespace["net"](wide=True).state_dict().items()}
    assert shapes == {k: list(v.shape) for k, v in archspec.build(path, wide=True).state_dict().items()}
    assert shapes["0.weight"] == [16, 3, 1, 1] and shapes["2.weight"] == [32, 16, 1, 1]
    pinned = archspec.compile_torch(path, c=4)
    assert "c: int = 4" in pinned and "if c is None" not in pinned
    del torch


def test_mobilenet_v3_options_are_the_modules_arguments():
    """torchvision's mobilenet_v3_large(reduced_tail=True, dilated=True): the spec's derived `r` and
    `d` follow them in the generated module as they do under `--set`."""
    pytest.importorskip("torch")
    spec = SPECS / "mobilenet_v3_large.arch"
    namespace: dict = {}
    exec(compile(archspec.compile_torch(spec), "m.py", "exec"), namespace)  # noqa: S102 - archspec's own generated file
    ours = namespace["mobilenet_v3_large"](reduced_tail=True, dilated=True)
    want = archspec.build(spec, reduced_tail=True, dilated=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in want.state_dict().items()}
    assert ours.state_dict()["classifier.0.weight"].shape == (640, 480)  # 1280 // 2 from 6 * 80
    dilations = [m.dilation for m in ours.modules() if type(m).__name__ == "Conv2d" and m.groups > 1]
    assert dilations[-3:] == [(2, 2)] * 3


def test_an_optional_branch_written_first_is_added_where_it_exists(write_spec):
    """RegNet's `add: proj if ...: ...; f: ...`: forward is `identity = x; if self.proj is not None:
    identity = self.proj(x)`, then `identity + f`, in the spec's order (it once added the input
    and left the projection unused)."""
    path = write_spec(
        "input 4x8x8\nblock b(out, stride=1):\n    add:\n        proj if in.channels != out or stride != 1:\n"
        "            conv(out, 1, stride=stride)\n        f: conv(out, 3, stride=stride, padding=1)\n    relu\n"
        "network n:\n    b(8, stride=2)\n    b(8)\n"
    )
    src = archspec.compile_torch(path)
    assert "identity = x\n        if self.proj is not None:\n            identity = self.proj(x)" in src and "x = identity + f" in src
    assert _verified(path)


def test_the_names_that_hold_ints_wherever_read():
    """`int_names`: what the backend may write where PyTorch reads an int and a tuple differently
    (a pad's sides, a pooled size). A loop over an int tuple, an enumerate's index, a variable of
    those, an item of an int tuple; not a name one binding makes a tuple, nor one read from it."""
    from archspec.backends.torch.annotations import int_names, int_valued
    from archspec.ir import expr as irx

    a = archspec.loads(
        "param rates = (1, 2)\nparam sizes = ((1, 2),)\nparam n = 2\ninput 4x16x16\nnetwork net:\n"
        "    for i, r in enumerate(rates):\n        p = r * 2 + n\n        conv(4, 3, padding=p)\n"
        "    for s in sizes:\n        q = s\n        t = q\n        adaptive_avgpool(t)\n    u = 1\n    u = (1, 2)\n    conv(4, 1)\n"
    )
    net = a.graph.definitions.network
    types = {"rates": ast.parse("tuple[int, ...]", mode="eval").body, "sizes": ast.parse("tuple", mode="eval").body, "n": ast.parse("int", mode="eval").body}
    ints = int_names(net.body, types)
    assert ints.scalars == {"n", "i", "r", "p"} and ints.tuples == {"rates"}
    assert int_valued(irx.Index(irx.Var("rates"), irx.Const(0)), ints) and not int_valued(irx.Index(irx.Var("sizes"), irx.Const(0)), ints)
    assert not int_valued(irx.BinOp("/", irx.Var("n"), irx.Const(2)), ints)


def test_optional_branches_beside_two_fixed_ones_are_added_where_they_exist(write_spec):
    """RepVGG's training-time block: a 3x3 and a 1x1 conv-bn, and an identity batch norm where
    the shape is kept (`rbr_identity if stride == 1 and in.channels == out: batchnorm`); and a mul
    with two optional factors. Refused before ("optional branches other than one beside one
    fixed branch"); forward sums the fixed branches, then each optional one where it is built."""
    path = write_spec(
        "input 8x16x16\nblock conv_bn(out, kernel, stride):\n    conv: conv(out, kernel, stride=stride, padding=kernel // 2, bias=false)\n    bn: batchnorm\n"
        "block rep(out, stride=1):\n    add:\n        rbr_dense: conv_bn(out, 3, stride)\n        rbr_1x1: conv_bn(out, 1, stride)\n"
        "        rbr_identity if stride == 1 and in.channels == out: batchnorm\n    nonlinearity: relu\n"
        "block gates(g, h):\n    mul:\n        a: sigmoid\n        b: tanh\n        c if g: sigmoid\n        d if h: relu\n"
        "network n:\n    rep(16, 2)\n    rep(16)\n    gates(true, false)\n    gates(false, true)\n    gates(true, true)\n"
    )
    src = archspec.compile_torch(path)
    assert "x = rbr_dense + rbr_1x1" in src and "if self.rbr_identity is not None:\n            x = x + rbr_identity" in src
    assert "x = a * b" in src and "x = x * c" in src and "x = x * d" in src
    assert _verified(path)
    pytest.importorskip("onnxruntime")
    from tests.test_onnx_backend import _agree

    _agree(archspec.load(path))


def test_a_loop_of_numbered_members_in_varying_numbers_says_to_label_them(write_spec):
    """`for j in range(n): for k in range(j): conv(8, 1)` in a forward class: the positions of the members
    differ from one iteration to the next. The error is at the loop and says what to write; the
    labelled form compiles."""
    body = "input 8x8x8\nblock b(n):\n    add:\n        identity\n        _:\n            for j in range(n):\n                for k in range(j):\n                    {}conv(8, 1)\nnetwork net:\n    b(2)\n    b(3)\n"
    _refused(write_spec(body.format("")), "6:13", "label the members it makes", '`"conv{i}": conv(...)`')
    path = write_spec(body.format('"c{j}_{k}": '), name="labelled.arch")
    assert _verified(path)
