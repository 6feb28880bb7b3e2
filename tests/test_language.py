"""The language's constructs: each one elaborates to the layers, names and shapes it promises."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec import ArchspecError


def load_text(write_spec, text: str, **kw):
    return archspec.load(write_spec(textwrap.dedent(text)), **kw)


def paths(a) -> list[str]:
    return [layer.path for layer in a.layers]


def test_unnamed_items_are_numbered_like_nn_sequential(write_spec):
    a = load_text(
        write_spec,
        """
        input 3x32x32
        network n:
            features:
                conv(8, 3, padding=1)
                relu
                maxpool(2)
            flatten
            fc: linear(10)
        """,
    )
    assert paths(a) == ["features.0", "features.1", "features.2", "1", "fc"]
    assert a.output_shape == (10,)


def test_repeat_and_for_add_no_level_and_continue_numbering(write_spec):
    a = load_text(
        write_spec,
        """
        param arch = ((1, 4), (2, 8))
        input 3x16x16
        network n:
            body:
                for (n, c) in arch:
                    repeat n:
                        conv(c, 3, padding=1)
                        relu
        """,
    )
    assert paths(a) == [f"body.{i}" for i in range(6)]
    assert [layer.output[0] for layer in a.layers] == [4, 4, 8, 8, 8, 8]


def test_block_call_opens_a_level_and_splice_does_not(write_spec):
    a = load_text(
        write_spec,
        """
        input 3x16x16
        block cbr(c):
            conv(c, 3, padding=1, bias=false)
            batchnorm
            relu
        network n:
            stem: cbr(8)
            cbr(8)
            *cbr(16)
        """,
    )
    assert paths(a) == ["stem.0", "stem.1", "stem.2", "1.0", "1.1", "1.2", "2", "3", "4"]


def test_labels_name_single_items_and_open_scopes_for_several(write_spec):
    a = load_text(
        write_spec,
        """
        input 3x16x16
        network n:
            conv1: conv(8, 3)
            branch: conv(8, 1); relu
            one:
                relu
        """,
    )
    assert paths(a) == ["conv1", "branch.0", "branch.1", "one.0"]


def test_computed_labels_in_loops(write_spec):
    a = load_text(
        write_spec,
        """
        param layers = (2, 1)
        input 3x16x16
        network n:
            for i, n in enumerate(layers):
                "stage{i + 1}":
                    for j in range(n):
                        "unit{j + 1}": conv(4, 1)
        """,
    )
    assert paths(a) == ["stage1.unit1", "stage1.unit2", "stage2.unit1"]


@pytest.mark.parametrize("label, ok", [('"block1-0"', True), ('"a-b-c"', True), ('"-x"', False), ('"a.b"', False), ('"a b"', False), ('"_x"', False)])
def test_labels_may_hold_dashes_as_torchvisions_keys_do(write_spec, label, ok):
    """RegNet's `trunk_output.block1.block1-0`: a dash inside a name; a dot never (it nests keys)."""
    path = write_spec(f"input 3x8x8\nnetwork n:\n    {label}: conv(4, 1)\n    relu\n")
    if ok:
        assert paths(archspec.load(path))[0] == label.strip('"')
        return
    with pytest.raises(ArchspecError) as err:
        archspec.load(path)
    assert "is not a valid name" in err.value.diagnostics[0].message and err.value.diagnostics[0].span.line == 3


def test_residual_add_takes_projection_only_when_shapes_differ(write_spec):
    a = load_text(
        write_spec,
        """
        input 8x16x16
        block res(c, stride=1):
            add:
                _:
                    conv1: conv(c, 3, stride=stride, padding=1, bias=false)
                    bn1: batchnorm
                downsample if stride != 1 or in.channels != c:
                    conv(c, 1, stride=stride, bias=false); batchnorm
            relu
        network n:
            a: res(8)
            b: res(16, stride=2)
        """,
    )
    assert "a.downsample.0" not in paths(a)
    assert {"b.downsample.0", "b.downsample.1"} <= set(paths(a))
    adds = [layer for layer in a.layers if layer.op == "add"]
    assert [len(x.inputs) for x in adds] == [2, 2]
    assert a.output_shape == (16, 8, 8)


def test_concat_joins_channels_and_mul_broadcasts_a_gate(write_spec):
    a = load_text(
        write_spec,
        """
        input 16x8x8
        network n:
            concat:
                b1: conv(4, 1)
                b2: conv(6, 3, padding=1)
                b3: maxpool(3, stride=1, padding=1)
            mul:
                identity
                gate:
                    global_avgpool
                    conv(in.channels // 4, 1); relu
                    conv(26, 1); sigmoid
        """,
    )
    cat = next(x for x in a.layers if x.op == "concat")
    assert cat.output == (4 + 6 + 16, 8, 8)
    mul = next(x for x in a.layers if x.op == "mul")
    assert mul.inputs == ((26, 8, 8), (26, 1, 1)) and mul.output == (26, 8, 8)


def test_if_elif_else_and_conditional_expressions(write_spec):
    src = """
        param mode = "b"
        input 3x8x8
        network n:
            if mode == "a":
                conv(1, 1)
            elif mode == "b":
                conv(2, 1)
            else:
                conv(3, 1)
            conv(4 if mode == "a" else 5, 1)
        """
    assert load_text(write_spec, src).output_shape == (5, 8, 8)
    a = load_text(write_spec, src, mode="c")
    assert [x.output[0] for x in a.layers] == [3, 5]


def test_overrides_keep_types_and_flow_into_dependent_defaults(write_spec):
    src = """
        param base = 8
        param width = base * 2
        param classes = 10
        input 3x8x8
        network n:
            conv(width, 1)
            global_avgpool
            flatten
            linear(classes)
        """
    a = load_text(write_spec, src, base=4, classes=3)
    assert [x.output[0] for x in a.layers] == [8, 8, 8, 3]
    with pytest.raises(ArchspecError, match="parameter is an int"):
        load_text(write_spec, src, classes=(1, 2))
    with pytest.raises(ArchspecError, match="no parameter 'clases'"):
        load_text(write_spec, src, clases=3)


def test_input_override_and_in_reference(write_spec):
    src = """
        input 3x32x32
        block widen(factor):
            conv(in.channels * factor, 1)
        network n:
            widen(4)
        """
    assert load_text(write_spec, src).output_shape == (12, 32, 32)
    assert load_text(write_spec, src, input=(5, 7, 9)).output_shape == (20, 7, 9)
    assert load_text(write_spec, src, input="1x4x4").output_shape == (4, 4, 4)


def test_imports_resolve_relative_to_the_importing_file(write_spec):
    write_spec(
        """
param default_width = 6
block unit(c=default_width):
    conv(c, 1)
""",
        "lib/units.arch",
    )
    path = write_spec('import "lib/units.arch"\ninput 3x4x4\nnetwork n:\n    unit()\n    unit(2)\n', "nets/../net.arch")
    a = archspec.load(path)
    assert [x.output[0] for x in a.layers] == [6, 2]


def test_expressions(write_spec):
    a = load_text(
        write_spec,
        """
        param arch = [(1, 64), (2, 128)]
        input 3x8x8
        network n:
            x = 2 ** 3 + 7 // 2 - 10 % 4
            y = arch[-1][1] // (len(arch) * 2)
            z = max(1, min(x, y)) if not (x > 100 or y < 0) and 1 < 2 <= 2 else 0
            conv(x, 1)
            conv(y, 1)
            conv(z, 1)
            conv(make_divisible(30, 8), 1)
            conv(sum((1, 2, 3)), 1)
        """,
    )
    assert [x.output[0] for x in a.layers] == [9, 32, 9, 32, 6]


def test_asymmetric_same_and_valid_padding(write_spec):
    a = load_text(
        write_spec,
        """
        input 3x17x17
        network n:
            conv(8, (1, 7), padding=(0, 3))
            conv(8, 4, padding="same")
            conv(8, 3, padding=(0, 1, 2, 3))
            conv(8, 3, padding="valid", dilation=2)
        """,
    )
    assert [x.output for x in a.layers] == [(8, 17, 17), (8, 17, 17), (8, 20, 16), (8, 16, 12)]


def test_pool_ceil_mode_follows_pytorch(write_spec):
    a = load_text(
        write_spec,
        """
        input 3x112x112
        network n:
            maxpool(3, stride=2, ceil_mode=true)
            maxpool(3, stride=2)
            avgpool(2, ceil_mode=true)
        """,
    )
    assert [x.output[1] for x in a.layers] == [56, 27, 14]


def test_chunk_and_channel_shuffle(write_spec):
    a = load_text(
        write_spec,
        """
        input 6x4x4
        network n:
            concat:
                chunk(2, 0)
                _:
                    chunk(2, 1)
                    branch2: conv(3, 1)
            channel_shuffle(2)
        """,
    )
    assert [x.output[0] for x in a.layers if x.op == "chunk"] == [3, 3]
    assert a.output_shape == (6, 4, 4)


def test_ops_each_have_a_definition_doc_and_a_row_in_the_language_reference():
    from pathlib import Path

    from archspec.ops import OPS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    for name, op in OPS.items():
        assert op.doc, name
        if not op.internal:
            assert f"`{name}`" in doc, f"{name} is missing from docs/language.md"


def test_blocks_of_the_spec_read_its_parameters_after_overrides(write_spec):
    src = """
        param width = 4
        input 3x8x8
        block widen():
            conv(width, 1)
        network n:
            widen()
        """
    assert load_text(write_spec, src).output_shape == (4, 8, 8)
    assert load_text(write_spec, src, width=9).output_shape == (9, 8, 8)


def test_comprehensions_build_tuples(write_spec):
    """`[expr for target in iterable if condition]`, as Python's, giving a tuple: EfficientNet's
    per-stage depths, RegNet's widths."""
    a = load_text(
        write_spec,
        """
        param setting = ((1, 16, 1), (6, 24, 2), (6, 40, 2))
        param depth = 1.4
        input 3x8x8
        network n:
            depths = [ceil(n * depth) for (t, c, n) in setting]
            wide = [c for (t, c, n) in setting if t > 1]
            pairs = [(i, c * 2) for i, (t, c, n) in enumerate(setting)]
            nested = [[j for j in range(i)] for i in range(3)]
            conv(sum(depths), 1)
            conv(wide[-1] + len(nested[2]), 1)
            conv(pairs[1][1] + len([k for k in "abc"]), 1)
        """,
    )
    assert [x.output[0] for x in a.layers] == [2 + 3 + 3, 42, 51]


@pytest.mark.parametrize(
    "expr, message",
    [
        ("[c for (a, c) in ((1, 2, 3),)]", "cannot unpack (1, 2, 3) (3 items) into 2 names"),
        ("[c for c in 5]", "cannot iterate over an int"),
        ("[x for x in range(2 ** 40)]", "comprehensions go through more than 100,000 elements in all"),
        ("x + len([x for x in (1,)])", "unknown name 'x'"),
        ("log(0)", "log(): math domain error"),
        ("sqrt(-1)", "sqrt(): math domain error"),
        ("exp(1000)", "number too large"),
    ],
)
def test_a_wrong_comprehension_or_math_function_is_a_located_error(write_spec, expr, message):
    path = write_spec(f"input 3x8x8\nnetwork n:\n    conv({expr}, 1)\n")
    with pytest.raises(ArchspecError) as err:
        archspec.load(path)
    d = err.value.diagnostics[0]
    assert message in d.message and d.span.line == 3 and d.span.col > 5


def test_math_functions(write_spec):
    """RegNet's stage widths take logarithms: `round(log(w / w0) / log(wm))`."""
    a = load_text(
        write_spec,
        """
        input 3x8x8
        network n:
            conv(int(log2(64)) + int(round(log(1000, 10))) + int(sqrt(16)) + int(round(exp(log(5)))) + int(log10(100)), 1)
        """,
    )
    assert a.layers[0].output[0] == 6 + 3 + 4 + 5 + 2


def test_keywords_are_whole_words_so_names_may_begin_with_them(write_spec):
    # `additive`, `multi`, `concatenated`, `truename`, `nonexistent` begin with a keyword
    # (add, mul, concat, true, none); the lexer took the keyword and the spec failed to parse
    a = load_text(
        write_spec,
        """
        param truename = 2
        param nonexistent = 3
        param falsehood = true
        input 3x8x8
        block additive(c):
            add:
                conv(c, 3, padding=1)
                identity
        block multi(c):
            mul:
                conv(c, 1)
                identity
        network n:
            concatenated: additive(3)
            multiplied: multi(3)
            conv(truename + nonexistent, 1)
        """,
    )
    assert paths(a)[0].startswith("concatenated.")
    assert any(p.startswith("multiplied.") for p in paths(a))
    assert a.output_shape == (5, 8, 8)
