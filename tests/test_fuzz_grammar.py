"""Grammar-aware fuzzing (issue 14): specs built from the language's own constructs, with the
values a hostile or careless author would put in them.

Every generated spec must load or fail with located errors, within 2 s, never with another
exception; a spec that loads must compile to Python that parses and, where torch is present,
imports without running anything from the spec (a canary file must never appear). The valid
networks of test_torch_random_networks.py go through the same path, and verify there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.backends.unsupported import Unsupported  # noqa: F401  (the backends' refusal, by name)
from tests.conftest import HAVE_TORCH
from tests.test_torch_random_networks import networks

TIME_LIMIT_S = 2.0
SMALL = 2_000_000  # params and activations of a spec small enough to verify on the way
EXAMPLES = int(os.environ.get("ARCHSPEC_FUZZ_EXAMPLES", 700))  # per test below: three tests, about 2,000 specs in all
# The default run draws the same examples every time (a failure in CI is one you can rerun);
# a campaign with ARCHSPEC_FUZZ_EXAMPLES set draws new ones each run.
DERANDOMIZE = "ARCHSPEC_FUZZ_EXAMPLES" not in os.environ

INTS = ["1", "2", "3", "4", "8", "1", "2", "3", "16", "0", "-1", "7", "64", "2 ** 31", "2 ** 62", "2 ** 63", "10 ** 15", "9" * 25]
FLOATS = ["0.0", "0.5", "-0.5", "1.5", "1e-5", "1e308", "1e-320", "1e308 * 10", "-1e308 * 10"]
STRINGS = [
    '""',
    '"same"',
    '"valid"',
    '"\\""',
    '"\\"\\"\\""',
    '"\\\\"',
    '"{"',
    '"a\\nb"',
    '"x\\"); __import__(\\"os\\").system(\\"touch CANARY\\"); (\\""',
    '"\\u00e9"',
    "'single'",
]
NAMES = ["x", "c", "self", "torch", "nn", "F", "math", "in_channels", "forward", "super", "None", "class", "lambda", "a1", "_p"]
LABELS = ["a", "b1", "x", "c2", "y", "z", "forward", "training", "class", "_", "_", "out_channels", "\"a.b\"", '"{i}"', '"n{c}"', '"x y"', '"é"', "0"]
OPS = {
    "conv": ["out", "kernel", "stride", "padding", "dilation", "groups", "bias"],
    "dwconv": ["kernel", "stride", "padding", "dilation", "multiplier", "bias"],
    "linear": ["out", "bias"],
    "batchnorm": ["eps", "momentum", "affine"],
    "lrn": ["size", "alpha", "beta", "k"],
    "relu": [],
    "leaky_relu": ["slope"],
    "softmax": ["dim"],
    "dropout": ["p"],
    "maxpool": ["kernel", "stride", "padding", "dilation", "ceil_mode"],
    "avgpool": ["kernel", "stride", "padding", "ceil_mode", "count_include_pad"],
    "adaptive_avgpool": ["size"],
    "global_maxpool": [],
    "flatten": [],
    "identity": [],
    "chunk": ["chunks", "index"],
    "channel_shuffle": ["groups"],
    "bogus_op": ["x"],
}
FUNCS = ["len", "range", "min", "max", "sum", "abs", "int", "float", "round", "str", "tuple", "ceil", "floor", "make_divisible", "zip", "enumerate"]


PLAIN = ["1", "2", "3", "4", "8", "16", "n", "2 * n", "(3, 3)", "true", "false", "0.5", "in.channels", "in.channels // 2", "t[0]"]
REQUIRED = {"conv": 2, "dwconv": 1, "linear": 1, "lrn": 1, "maxpool": 1, "avgpool": 1, "adaptive_avgpool": 1, "chunk": 2, "channel_shuffle": 1}


@st.composite
def expr(draw, depth: int = 0, wild: bool = True) -> str:
    """An expression of the language: plausible (`wild` False, now and then a hostile one), or
    anything from small values to deep or huge ones."""
    if not wild and draw(st.integers(0, 11)):
        return draw(st.sampled_from(PLAIN))
    kinds = ["int"] * 12 + ["float", "str", "name", "name", "bool", "tuple", "binop", "binop", "call", "cond", "in"]
    kind = "deep" if draw(st.integers(0, 40)) == 0 else draw(st.sampled_from(kinds))
    if depth > 3 and kind in ("tuple", "binop", "call", "cond"):
        kind = "int"
    if kind == "int":
        return draw(st.sampled_from(INTS))
    if kind == "float":
        return draw(st.sampled_from(FLOATS))
    if kind == "str":
        return draw(st.sampled_from(STRINGS))
    if kind == "name":
        return draw(st.sampled_from(NAMES + ["i", "n"]))
    if kind == "bool":
        return draw(st.sampled_from(["true", "false", "none", "True"]))
    if kind == "in":
        return draw(st.sampled_from(["in.channels", "in.height", "in.shape", "in.rank", "in.bogus", "in"]))
    if kind == "tuple":
        items = draw(st.lists(expr(depth + 1), max_size=4))
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if kind == "binop":
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "<", "in", "and", "or"]))
        return f"({draw(expr(depth + 1))} {op} {draw(expr(depth + 1))})"
    if kind == "call":
        args = draw(st.lists(expr(depth + 1), max_size=3))
        return f"{draw(st.sampled_from(FUNCS))}({', '.join(args)})"
    if kind == "cond":
        return f"({draw(expr(depth + 1))} if {draw(expr(depth + 1))} else {draw(expr(depth + 1))})"
    n = draw(st.sampled_from([1, 10, 40, 99, 150, 400]))
    core = draw(st.sampled_from(["1", "(1,)"]))
    return draw(
        st.sampled_from(
            [
                "(" * n + core + ")" * n,
                "-" * n + "1",
                "not " * n + "true",
                " + ".join(["1"] * n),
                "(" * n + core + ",)" * n,
                "abs(" * n + "1" + ")" * n,
            ]
        )
    )


@st.composite
def op_call(draw, wild: bool = True) -> str:
    op = draw(st.sampled_from(sorted(OPS)))
    params = OPS[op]
    args = []
    count = draw(st.integers(0, len(params) + 1)) if wild else REQUIRED.get(op, 0) + draw(st.integers(0, 1))
    for i in range(count):
        value = draw(expr(wild=wild))
        if i < len(params) and draw(st.booleans()):
            args.append(f"{params[i]}={value}")
        elif not any("=" in a for a in args):
            args.append(value)
    return op if not args and draw(st.booleans()) else f"{op}({', '.join(args)})"


@st.composite
def body(draw, depth: int = 0, wild: bool = True) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["op", "op", "op", "label", "join", "repeat", "for", "if", "let", "assert", "block"]))
        if depth > 3 and kind not in ("op", "let", "assert"):
            kind = "op"
        if kind == "op":
            lines.append(draw(op_call(wild)))
        elif kind == "label":
            label = draw(st.sampled_from(LABELS if wild or not draw(st.integers(0, 5)) else ["a", "b", "c1", "x", "_"]))
            if draw(st.booleans()):
                lines.append(f"{label}: {draw(op_call(wild))}")
            else:
                lines.append(f"{label}:")
                lines += ["    " + x for x in draw(body(depth + 1, wild))]
        elif kind == "join":
            lines.append(draw(st.sampled_from(["add:", "mul:", "concat:"])))
            for _ in range(draw(st.integers(1, 3))):
                lines += ["    " + x for x in draw(body(depth + 1, wild))]
        elif kind == "repeat":
            lines.append(f"repeat {draw(st.sampled_from(INTS + ['n', 'len(t)']))}:")
            lines += ["    " + x for x in draw(body(depth + 1, wild))]
        elif kind == "for":
            lines.append(f"for i in {draw(st.sampled_from(['range(3)', 'range(10 ** 15)', 't', 'enumerate(t)', 'range(n)', '(1, 2)']))}:")
            lines += ["    " + x for x in draw(body(depth + 1, wild))]
        elif kind == "if":
            lines.append(f"if {draw(expr(wild=wild))}:")
            lines += ["    " + x for x in draw(body(depth + 1, wild))]
            if draw(st.booleans()):
                lines.append("else:")
                lines += ["    " + x for x in draw(body(depth + 1, wild))]
        elif kind == "let":
            lines.append(f"{draw(st.sampled_from(NAMES))} = {draw(expr(wild=wild))}")
        elif kind == "assert":
            lines.append(f"assert {draw(expr(wild=wild))}, {draw(st.sampled_from(STRINGS))}")
        else:
            lines.append(f"blk({', '.join(draw(st.lists(expr(wild=wild), max_size=3)))})")
    return lines


@st.composite
def hostile_specs(draw) -> str:
    """A spec whose every value may be hostile (`wild`), or a plausible one with a hostile value
    here and there, so that the later stages (shapes, the backend) see it too."""
    wild = draw(st.booleans())
    head = [
        f"param n = {draw(st.sampled_from(INTS)) if wild else draw(st.sampled_from(['1', '2', '3']))}",
        f"param t = {draw(expr(wild=wild)) if wild else '(2, 3)'}",
        f"param {draw(st.sampled_from(NAMES))} = {draw(expr(wild=wild)) if wild else draw(st.sampled_from(['4', '0.5', chr(34) + 'a' + chr(34)]))}",
        f"input {draw(st.sampled_from(['3x16x16', '4x8x8', '16', '3x1x1', '1x65536x65536'] if wild else ['3x16x16', '4x8x8']))}",
        f"block blk({draw(st.sampled_from(['c', 'c=4', 'c, s=1', 'self', 'x, x']))}):",
    ]
    head += ["    " + x for x in draw(body(1, wild))]
    head.append(f"network {draw(st.sampled_from(['net', 'N', 'class', 'self']))}:")
    head += ["    " + x for x in draw(body(0, wild))]
    return "\n".join(head) + "\n"


def _load_compile_import(path: Path, canary: Path) -> None:
    """What a user does with a spec; any exception but ArchspecError fails the test."""
    start = time.process_time()
    try:
        a = archspec.load(path, max_layers=5000)
    except archspec.ArchspecError as err:
        assert err.diagnostics and all(d.span is not None or "too many errors" in d.message for d in err.diagnostics), err.render()
        return
    finally:
        assert time.process_time() - start < TIME_LIMIT_S, f"load took {time.process_time() - start:.2f} s"
    from archspec.backends.torch.runtime import source

    src = source(a.graph, a.spec)  # check passing means compile passes: no refusal allowed here
    code = compile(src, "generated.py", "exec")
    for detail in ("layers", "blocks"):  # and the diagram draws, within the same time
        start = time.process_time()
        assert archspec.diagram(a, detail=detail).source.startswith("// generated by archspec")
        assert time.process_time() - start < TIME_LIMIT_S
    if HAVE_TORCH:
        exec(code, {"__name__": "generated"})  # imports, classes, defaults: nothing from the spec runs
        t = a.total
        if t.params + t.buffers < SMALL and t.activations < SMALL:  # check passing means verify passes
            from archspec.backends.torch.runtime import verify

            result = verify(a.graph, a.spec, batch=2)
            assert result.ok, [(c.what, c.expected, c.measured) for c in result.checks if not c.ok] + result.layer_mismatches[:3]
    assert not canary.exists(), "code from the spec ran"


def _run(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.arch"
    path.write_text(text.replace("CANARY", str(tmp_path / "CANARY")))
    _load_compile_import(path, tmp_path / "CANARY")


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    derandomize=DERANDOMIZE,
)


@SETTINGS
@given(hostile_specs())
def test_hostile_specs_load_or_fail_with_located_errors(tmp_path, text):
    _run(tmp_path, text)


@SETTINGS
@given(hostile_specs())
def test_more_hostile_specs(tmp_path, text):  # a second share of the budget, on another worker (its own examples)
    _run(tmp_path, text)


@SETTINGS
@given(networks())
def test_valid_random_networks_check_and_compile(tmp_path, text):
    path = tmp_path / "valid.arch"
    path.write_text(text)
    start = time.process_time()
    a = archspec.load(path)  # valid by construction: no error allowed
    assert time.process_time() - start < TIME_LIMIT_S
    from archspec.backends.torch.runtime import source

    compile(source(a.graph, a.spec), "valid.py", "exec")
    archspec.diagram(a, detail="blocks")
    archspec.diagram(a, unfold=True)
