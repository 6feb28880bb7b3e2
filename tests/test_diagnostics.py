"""Bad input: located errors (file:line:col, the source line, a caret), exit 1, never a traceback."""

from __future__ import annotations

import re
import textwrap
import time

import pytest

import archspec
from archspec import ArchspecError
from tests.conftest import run_cli

LOCATED = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$", re.M)


def check_fails(write_spec, text: str, *args: str, name: str = "bad.arch"):
    path = write_spec(textwrap.dedent(text).lstrip("\n"), name)
    r = run_cli("check", str(path), *args)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    return r.stderr, [m.groupdict() for m in LOCATED.finditer(r.stderr)]


CASES = [
    ("syntax: missing colon", "input 3x8x8\nnetwork n\n    relu\n", 2, "missing ':'"),
    ("syntax: unbalanced paren", "input 3x8x8\nnetwork n:\n    conv(8, 3\n    relu\n", 3, "this '\\(' is never closed"),
    ("syntax: stray character", "input 3x8x8\nnetwork n:\n    conv(8, 3) $\n", 3, "unexpected character '\\$'"),
    ("syntax: an operator is no name", "param a = 2\ninput 3x8x8\nnetwork n:\n    conv(a + not a, 3)\n", 4, "unexpected 'not'"),
    # a bracket closed later is not "never closed": the token inside is what is wrong
    ("syntax: a slice", "param rows = (1, 2, 3)\nparam k = sum(rows[:2])\ninput 3x8x8\nnetwork n:\n    conv(k, 1)\n", 2, "slices are not in the language"),
    ("syntax: a reserved word as a parameter", "input 3x8x8\nblock b(init=1):\n    conv(4, 1)\nnetwork n:\n    b()\n", 2, "'init' is a reserved word"),
    ("syntax: bad indentation", "input 3x8x8\nnetwork n:\n    relu\n        relu\n", 4, "unexpected indentation"),
    ("unknown op", "input 3x8x8\nnetwork n:\n    convv(8, 3)\n", 3, "unknown op or block 'convv'"),
    ("unknown argument", "input 3x8x8\nnetwork n:\n    conv(8, 3, strde=2)\n", 3, "conv has no argument 'strde'"),
    ("unknown name", "input 3x8x8\nnetwork n:\n    conv(width, 3)\n", 3, "unknown name 'width'"),
    ("wrong argument type", 'input 3x8x8\nnetwork n:\n    conv(8, "three")\n', 3, "'kernel' must be an int or a pair"),
    ("too many arguments", "input 3x8x8\nnetwork n:\n    relu(1)\n", 3, "relu takes at most 0 positional"),
    ("missing argument", "input 3x8x8\nnetwork n:\n    conv(8)\n", 3, "missing argument 'kernel'"),
    ("unknown block parameter", "input 3x8x8\nblock b(c):\n    conv(c, 1)\nnetwork n:\n    b(c=1, d=2)\n", 5, "no parameter 'd'"),
    (
        "channel mismatch in add",
        "input 3x8x8\nnetwork n:\n    add:\n        conv(4, 1)\n        conv(5, 1)\n",
        5,
        r"add: branch shapes differ: \[4, 8, 8\] and \[5, 8, 8\]",
    ),
    (
        "spatial mismatch in concat",
        "input 3x8x8\nnetwork n:\n    concat:\n        conv(4, 1)\n        conv(4, 3)\n",
        5,
        "concat: branch 2 gives",
    ),
    ("mul does not broadcast", "input 3x8x8\nnetwork n:\n    mul:\n        identity\n        maxpool(2)\n", 5, "do not broadcast"),
    ("spatial size shrinks to zero", "input 3x8x8\nnetwork n:\n    repeat 4: conv(4, 3)\n", 3, "shrinks to zero or below"),
    (
        "conv after flatten",
        "input 3x8x8\nnetwork n:\n    flatten\n    conv(4, 3)\n",
        4,
        r"conv expects a \[C, H, W\] input but gets \[192\]",
    ),
    ("linear before flatten", "input 3x8x8\nnetwork n:\n    linear(4)\n", 3, "linear expects a flat"),
    (
        "recursion through blocks",
        "input 3x8x8\nblock a():\n    b()\nblock b():\n    a()\nnetwork n:\n    a()\n",
        5,
        "recursion through blocks: a -> b -> a",
    ),
    ("huge repeat", "input 3x8x8\nnetwork n:\n    repeat 1000000000: relu\n", 3, "exceeds the limit of 100,000 layers"),
    ("duplicate name", "input 3x8x8\nnetwork n:\n    a: relu\n    a: relu\n", 4, "the name 'a' is used twice"),
    (
        "a name made in every iteration",
        "input 3x8x8\nnetwork n:\n    s:\n        repeat 2:\n            a: relu\n",
        5,
        r"the name 'a' is used twice in 's'(.|\n)*help: a loop makes it once per iteration",
    ),
    ("index out of range", "param t = (1, 2)\ninput 3x8x8\nnetwork n:\n    conv(t[2], 1)\n", 4, "index 2 is out of range"),
    ("division by zero", "input 3x8x8\nnetwork n:\n    conv(8 // 0, 1)\n", 3, "division by zero"),
    ("no input shape", "network n:\n    relu\n", 1, "gives no input shape"),
    ("groups do not divide", "input 6x8x8\nnetwork n:\n    conv(8, 3, groups=4)\n", 3, "not divisible by groups=4"),
    # the resampling ops of dense prediction (issue 17)
    ("crop larger than its input", "input 3x8x8\nnetwork n:\n    relu\n    crop((4, 9))\n", 4, r"the crop 4x9 is larger than its input \[3, 8, 8\]"),
    ("upsample: scale and size", "input 3x8x8\nnetwork n:\n    upsample(scale=2, size=16)\n", 3, "give either scale or size, not both"),
    ("upsample: neither", "input 3x8x8\nnetwork n:\n    upsample\n", 3, "give either scale or size, not neither"),
    ("upsample: a size that is no size", "input 3x8x8\nnetwork n:\n    upsample(size=(0, 4))\n", 3, "'size' must be at least 1"),
    ("upsample: an unknown mode", 'input 3x8x8\nnetwork n:\n    upsample(scale=2, mode="cubic")\n', 3, "'mode' must be one of \"nearest\", \"bilinear\""),
    ("upsample: corners of nearest", "input 3x8x8\nnetwork n:\n    upsample(scale=2, align_corners=true)\n", 3, "align_corners applies to mode=\"bilinear\" only"),
    ("conv_transpose: output_padding", "input 3x8x8\nnetwork n:\n    conv_transpose(4, 3, stride=2, output_padding=2)\n", 3, "output_padding 2 must be smaller than the stride"),
    ("pad: reflect too far", 'input 3x4x4\nnetwork n:\n    pad(4, mode="reflect")\n', 3, "reflect padding must be smaller than the input"),
    ("pixel_shuffle: channels", "input 6x4x4\nnetwork n:\n    pixel_shuffle(2)\n", 3, "6 channels are not divisible by factor \\* factor = 4"),
]


@pytest.mark.parametrize("text,line,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_gives_a_located_error(write_spec, text, line, message):
    stderr, errors = check_fails(write_spec, text)
    assert errors, stderr
    first = errors[0]
    assert first["file"].endswith("bad.arch")
    assert int(first["line"]) == line, stderr
    assert re.search(message, stderr), stderr
    # the source line is quoted with a caret under the span
    assert re.search(r"^\s+\^~*$", stderr, re.M), stderr


def test_one_pass_reports_every_independent_error(write_spec):
    # branches of a join read the same (known) input, so their errors are independent
    stderr, errors = check_fails(
        write_spec,
        """
        input 3x8x8
        block b(c):
            conv(c, 1)
        network n:
            concat:
                a: convv(8, 3)
                b: conv(8, 3, strde=2)
                c:
                    conv(8, 3)
                    flatten
                    conv(4, 3)
            d: b(1, 2)
        """,
    )
    assert [int(e["line"]) for e in errors] == [6, 7, 11, 12], stderr
    assert "4 errors" in stderr


def test_caret_points_at_the_offending_argument(write_spec):
    stderr, errors = check_fails(write_spec, "input 3x8x8\nnetwork n:\n    conv(8, 3, stride=0)\n")
    assert errors[0]["col"] == "23", stderr
    assert "'stride' must be at least 1" in stderr


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty spec"),
        (b"# only a comment\n", "empty spec"),
        (b"\x00\x01binary", "not a text file"),
        (b"\xff\xfe bad", "not a UTF-8 text file"),
    ],
    ids=["empty", "comment-only", "binary", "not-utf8"],
)
def test_empty_and_binary_files(tmp_path, content, message):
    path = tmp_path / "x.arch"
    path.write_bytes(content)
    r = run_cli("check", str(path))
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_import_cycle_and_missing_import(write_spec):
    write_spec('import "b.arch"\n', "a.arch")
    write_spec('import "a.arch"\n', "b.arch")
    main = write_spec('import "a.arch"\ninput 3x8x8\nnetwork n:\n    relu\n', "main.arch")
    r = run_cli("check", str(main))
    assert r.returncode == 1 and "import cycle" in r.stderr and "Traceback" not in r.stderr
    missing = write_spec('import "nowhere.arch"\ninput 3x8x8\nnetwork n:\n    relu\n', "m.arch")
    r = run_cli("check", str(missing))
    assert r.returncode == 1 and re.search(r"m\.arch:1:1: error: imported file not found", r.stderr)


def test_missing_file(tmp_path):
    r = run_cli("check", str(tmp_path / "nope.arch"))
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_set_errors_are_spec_errors(write_spec):
    path = write_spec("param classes = 10\ninput 3x8x8\nnetwork n:\n    relu\n")
    for arg, message in [
        ("nope=1", "no parameter 'nope'"),
        ("classes=(1, 2)", "the parameter is an int"),
        ("classes=true", "the parameter is an int"),
        ("classes=abc", "the parameter is an int (default 10), not a string"),
    ]:
        r = run_cli("check", str(path), "--set", arg)
        assert r.returncode == 1, (arg, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
    # a bare `none` or `true` is a literal, not a word: a string parameter says how to quote it
    words = write_spec('param norm = "bn"\ninput 3x8x8\nnetwork n:\n    relu\n', name="words.arch")
    r = run_cli("check", str(words), "--set", "norm=none")
    assert r.returncode == 1 and "not none" in r.stderr and """help: for the string, quote it: --set 'norm="none"'""" in r.stderr
    assert run_cli("check", str(words), "--set", 'norm="none"').returncode == 0


@pytest.mark.parametrize(
    "args",
    [["--input", "3x"], ["--input", "abc"], ["--input", "0x8x8"], ["--set", "noequals"], ["--set", "x=(1,"], ["--frob"]],
    ids=["input-truncated", "input-word", "input-zero", "set-no-equals", "set-bad-literal", "unknown-flag"],
)
def test_command_line_misuse_exits_2(write_spec, args):
    path = write_spec("param x = 1\ninput 3x8x8\nnetwork n:\n    relu\n")
    r = run_cli("check", str(path), *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr


def test_huge_networks_are_refused_fast(write_spec):
    path = write_spec("input 3x8x8\nnetwork n:\n    repeat 100000:\n        repeat 100000: relu\n")
    start = time.monotonic()
    r = run_cli("check", str(path))
    elapsed = time.monotonic() - start
    assert r.returncode == 1 and "exceeds the limit" in r.stderr
    assert elapsed < 30  # a generous bound against a hang; the benchmark measures speed
    r = run_cli("check", str(path), "--max-layers", "10")
    assert "limit of 10 layers" in r.stderr


def test_runaway_expressions_are_refused(write_spec):
    stderr, errors = check_fails(write_spec, "input 3x8x8\nnetwork n:\n    x = 10 ** 10 ** 10\n    y = (1,) * 10 ** 9\n    relu\n")
    assert "number too large" in stderr and "sequence too long" in stderr


def test_api_raises_one_exception_type_with_location(write_spec):
    import archspec

    path = write_spec("input 3x8x8\nnetwork n:\n    conv(8, 3)\n    flatten\n    conv(4, 3)\n")
    with pytest.raises(archspec.ArchspecError) as info:
        archspec.load(path)
    err = info.value
    assert err.span.line == 5 and err.span.col == 5
    assert "conv expects" in err.message
    assert len(err.diagnostics) == 1 and err.diagnostics[0].notes


def test_a_note_names_the_file_of_a_layer_made_in_an_imported_one(write_spec):
    """A join's branch made in a library: the note is at the call, in the spec, so the layer's
    line alone would point into the wrong file; it is `(lib.arch:2)`, and a line of the spec stays `(line 6)`."""
    write_spec("block down(c):\n    conv(c, 3, stride=2, padding=1)\n", name="lib.arch")
    path = write_spec('import "lib.arch"\ninput 3x16x16\nnetwork n:\n    add:\n        down(8)\n        conv(8, 1)\n')
    with pytest.raises(ArchspecError) as err:
        archspec.load(path)
    notes = [n.message for n in err.value.diagnostics[0].notes]
    assert notes[0].endswith(f"made by conv '0.0' ({path.parent / 'lib.arch'}:2)"), notes
    assert notes[1].endswith("made by conv '1' (line 6)"), notes
