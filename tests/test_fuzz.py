"""Bad input never escapes as a Python exception: mutated specs either load or raise ArchspecError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from tests.conftest import SPECS

SOURCES = {
    p.name: p.read_text()
    for p in [
        SPECS / "resnet18.arch",
        SPECS / "d2l" / "googlenet.arch",
        SPECS / "vgg16.yaml",
        SPECS / "lib" / "densenet.arch",
        SPECS / "mobilenet_v2.arch",  # blocks whose instances take different branches: one class each
        SPECS / "shufflenet_v2.arch",
    ]
}
TOKENS = [
    "(",
    ")",
    ":",
    ",",
    "=",
    "*",
    "in",
    "if",
    "repeat",
    "for",
    "add:",
    "concat:",
    "mul:",
    "\n",
    "    ",
    "\t",
    '"',
    "{",
    "}",
    "-1",
    "0",
    "1e400",
    "x",
    "#",
    "\\",
    "input",
    "param",
    "block",
    "network",
    "init",
    "assert",
    "**",
    "//",
    "[",
    "]",
    "_:",
    "in.channels",
    "none",
    "()",
]


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SOURCES)))
    text = SOURCES[name]
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        token = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)))
        end = min(len(text), pos + draw(st.integers(0, 12)))
        if kind == "insert":
            text = text[:pos] + token + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[end:]
        else:
            text = text[:pos] + token + text[end:]
    return name, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_load_or_fail_with_a_located_error(tmp_path, case):
    name, text = case
    folder = tmp_path / "specs"
    (folder / "lib").mkdir(parents=True, exist_ok=True)
    for lib in ("resnet", "mobilenet", "shufflenet"):
        (folder / "lib" / f"{lib}.arch").write_text((SPECS / "lib" / f"{lib}.arch").read_text())
    path = folder / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        analysis = archspec.load(path, max_layers=5000)
    except archspec.ArchspecError as err:
        assert err.diagnostics and err.render()
        return
    # what loads also lowers to valid Python (or is refused by name, never by a crash)
    from archspec.backends.torch.runtime import source

    try:
        compile(source(analysis.graph, analysis.spec), "generated.py", "exec")
    except archspec.ArchspecError as err:  # what the torch backend cannot write yet, said by name
        assert "torch backend" in err.render()
