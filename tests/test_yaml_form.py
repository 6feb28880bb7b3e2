"""The YAML form: the same AST as .arch, validated by pydantic, errors at YAML line and column."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from tests.conftest import run_cli


def test_every_construct_has_a_yaml_spelling(write_spec):
    arch = write_spec(
        textwrap.dedent(
            """
            param widths = (4, 8)
            param gate = true
            input 3x16x16
            block unit(c, stride=1):
                add:
                    _:
                        conv1: conv(c, 3, stride=stride, padding=1)
                        relu
                    down if stride != 1 or in.channels != c:
                        conv(c, 1, stride=stride)
            network n:
                for i, c in enumerate(widths):
                    "stage{i + 1}": unit(c, stride=2)
                repeat 2: relu
                if gate:
                    mul:
                        identity
                        se: global_avgpool; sigmoid
                else:
                    relu
                concat:
                    a: conv(2, 1)
                    b: *unit(3)
            """
        )
    )
    yml = write_spec(
        textwrap.dedent(
            """
            params:
              widths: [4, 8]
              gate: true
            input: 3x16x16
            blocks:
              unit:
                params: [c, stride=1]
                body:
                  - add:
                      - _:
                          - conv1: conv(c, 3, stride=stride, padding=1)
                          - relu
                      - down if stride != 1 or in.channels != c:
                          - conv(c, 1, stride=stride)
            network:
              name: n
              body:
                - for: i, c in enumerate(widths)
                  body:
                    - "stage{i + 1}": unit(c, stride=2)
                - repeat: 2
                  body: [relu]
                - if: gate
                  then:
                    - mul:
                        - identity
                        - se: [global_avgpool, sigmoid]
                  else: [relu]
                - concat:
                    - a: conv(2, 1)
                    - b: ["*unit(3)"]
            """
        ),
        "net.yaml",
    )
    a, y = archspec.load(arch), archspec.load(yml)
    assert [(x.path, x.op, x.output) for x in y.layers] == [(x.path, x.op, x.output) for x in a.layers]
    assert y.total == a.total
    off = archspec.load(yml, gate=False)
    assert "se.0" not in {x.path for x in off.layers}


@pytest.mark.parametrize(
    "text,line,message",
    [
        ("input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - conv(8, 3\n", 5, r"never closed"),
        ("input: 3x8x8\nnetwork:\n  name: n\n  bodyy: [relu]\n", 4, "unknown field .bodyy."),
        ("input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - convv(8, 3)\n", 5, "unknown op or block 'convv'"),
        ("input: [3, 8\nnetwork:\n", 2, "YAML: expected ','"),
        ("input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - repeat: 2\n", 5, "missing field .body."),
        ("- just\n- a list\n", 1, "a YAML spec is a mapping"),
    ],
    ids=["syntax-in-item", "unknown-key", "unknown-op", "bad-yaml", "missing-body", "not-a-mapping"],
)
def test_yaml_errors_are_located(write_spec, text, line, message):
    import re

    path = write_spec(text, "bad.yaml")
    r = run_cli("check", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    first = re.search(r"bad\.yaml:(\d+):(\d+): error: (.*)", r.stderr)
    assert first and int(first.group(1)) == line, r.stderr
    assert re.search(message, r.stderr), r.stderr


def test_item_error_column_points_inside_the_yaml_string(write_spec):
    path = write_spec("input: 3x8x8\nnetwork:\n  name: n\n  body:\n    - 'conv(8, 3, strde=2)'\n", "bad.yaml")
    with pytest.raises(archspec.ArchspecError) as info:
        archspec.load(path)
    assert (info.value.span.line, info.value.span.col) == (5, 19)


def test_schema_validates_the_shipped_yaml_specs():
    import yaml

    from archspec.syntax.yaml_form import SpecFile
    from tests.conftest import SPECS

    for path in SPECS.glob("*.yaml"):
        SpecFile.model_validate(yaml.safe_load(path.read_text()))
