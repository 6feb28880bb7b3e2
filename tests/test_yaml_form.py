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


_MEMBERS_ARCH = """
param n = 2
input 8x16x16
block cbs(c, k=1):
    conv: conv(c, k, padding=k // 2, bias=false)
    bn: batchnorm
    silu
block c2f(c2, n):
    members cv1, cv2, m
    c = c2 // 2
    cv1: cbs(2 * c, 1)
    chunk(2, 1)
    m:
        for i in range(n):
            "{i}": cbs(c, 3)
    concat:
        @cv1
        for i in range(n):
            @"{i}"
    cv2: cbs(c2, 1)
block head():
    a: conv(4, 1)
    "y0" = @a
    idle dfl: conv(1, 1, bias=false)
network twin:
    members body, head
    body: c2f(8, n)
    head: head()
"""

_MEMBERS_YAML = """
params: {n: 2}
input: 8x16x16
blocks:
  cbs:
    params: [c, k=1]
    body:
      - conv: conv(c, k, padding=k // 2, bias=false)
      - bn: batchnorm
      - silu
  c2f:
    params: [c2, n]
    members: [cv1, cv2, m]
    body:
      - c = c2 // 2
      - cv1: cbs(2 * c, 1)
      - chunk(2, 1)
      - m:
          - for: i in range(n)
            body:
              - "{i}": cbs(c, 3)
      - concat:
          - "@cv1"
          - for: i in range(n)
            body: ['@"{i}"']
      - cv2: cbs(c2, 1)
  head:
    body:
      - a: conv(4, 1)
      - '"y0" = @a'
      - idle dfl: conv(1, 1, bias=false)
network:
  name: twin
  members: [body, head]
  body:
    - body: c2f(8, n)
    - head: head()
"""


def test_members_idle_and_loop_branches_have_a_yaml_spelling(write_spec):
    """YOLOv8's constructs (issue 17) in the YAML form: the same layers, idle flags, totals and
    generated module as the .arch twin; only the file name differs."""
    arch = write_spec(_MEMBERS_ARCH, "twin.arch")
    yml = write_spec(_MEMBERS_YAML, "twin.yaml")
    a, y = archspec.load(arch), archspec.load(yml)
    assert [(x.path, x.op, x.output, x.idle) for x in y.layers] == [(x.path, x.op, x.output, x.idle) for x in a.layers]
    assert any(x.idle for x in y.layers) and y.total == a.total
    torch_a = archspec.compile_torch(arch).replace("twin.arch", "twin.yaml")
    torch_y = archspec.compile_torch(yml)
    assert _without_lines(torch_y) == _without_lines(torch_a)
    assert "self.register_module('cv2', None)" in torch_y


def _without_lines(source: str) -> str:
    """A generated file without the spec's line numbers (the docstrings': `twin.yaml:10`)."""
    import re

    return re.sub(r"(twin\.yaml):\d+", r"\1", source)


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("members: [cv1, cv2, m]", "members: [cv1, cv1]", r"members: 'cv1' is listed twice"),
        ("members: [cv1, cv2, m]", "members: [cv1, cvx, m]", r"'cvx' is not a member.*\n(.*\n)*help: did you mean 'cv2'"),
        ("- idle dfl: conv", "- idle: conv", r"'idle' takes the member's name"),
    ],
    ids=["twice", "unknown", "idle-without-name"],
)
def test_yaml_members_and_idle_errors_are_located(write_spec, old, new, message):
    import re

    assert old in _MEMBERS_YAML
    path = write_spec(_MEMBERS_YAML.replace(old, new), "bad.yaml")
    r = run_cli("check", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = next(k for k, x in enumerate(_MEMBERS_YAML.replace(old, new).splitlines(), 1) if new in x)
    assert re.search(rf"bad\.yaml:{line}:\d+: error: ", r.stderr), r.stderr
    assert re.search(message, r.stderr), r.stderr
