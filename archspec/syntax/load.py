"""Reading spec files: decoding, choosing the front end by extension, following imports.

Imports are resolved relative to the importing file; cycles and missing files
are reported at the `import` line that causes them.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from archspec.diagnostics import ArchspecError, Diagnostic, Note, Span
from archspec.syntax import ast

MAX_FILE_BYTES = 1024 * 1024
MAX_IMPORT_DEPTH = 50  # a chain of imports, each importing the next
MAX_FILES = 1000  # files in one program
SPEC_SUFFIXES = (".arch", ".yaml", ".yml")
LIMIT_HELP = "this is a limit (docs/limits.md)"


@dataclass
class Program:
    """The spec file and every file it imports, parsed; `sources` feeds diagnostics."""

    main: ast.Module
    modules: dict[str, ast.Module] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def read_text(path: Path, shown: str, span: Span | None = None, sources: dict | None = None) -> str:
    """Read a spec file as UTF-8 text, or fail with a located error.

    Only a regular file is read, and at most MAX_FILE_BYTES of it: a FIFO would block forever
    and /dev/zero would fill the memory."""
    sources = sources if sources is not None else {}
    where = span or Span(shown, 1, 1)

    def fail(message: str, at: Span | None = span, help: str | None = None):
        return ArchspecError(Diagnostic(message, at, help=help), sources)

    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise fail(f"{shown} is a directory, not a spec file")
        if not stat.S_ISREG(st.st_mode):
            raise fail(f"{shown} is not a regular file (a device, FIFO or socket): specs are read from files")
        if st.st_size > MAX_FILE_BYTES:
            raise fail(f"{shown} is larger than the limit of {MAX_FILE_BYTES // 1024 // 1024} MiB", where, LIMIT_HELP)
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise fail(f"no such file: {shown}") from None
    except OSError as err:
        raise fail(f"cannot read {shown}: {err.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise fail(f"{shown} is larger than the limit of {MAX_FILE_BYTES // 1024 // 1024} MiB", where, LIMIT_HELP)
    if b"\x00" in data:
        raise ArchspecError(Diagnostic("not a text file (it contains NUL bytes)", Span(shown, 1, 1)), {**sources, shown: ""})
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ArchspecError(Diagnostic("not a UTF-8 text file", Span(shown, line, 1)), {**sources, shown: ""}) from None


def parse_file(text: str, shown: str) -> ast.Module:
    if shown.endswith((".yaml", ".yml")):
        from archspec.syntax.yaml_form import parse_yaml

        return parse_yaml(text, shown)
    from archspec.syntax.parse import parse_module

    return parse_module(text, shown)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_program(path: str | Path, text: str | None = None) -> Program:
    """Parse `path` (or, given, `text` as that file's content) and, depth first, every file it imports."""
    program_sources: dict[str, str] = {}
    modules: dict[str, ast.Module] = {}
    main_text = text

    def visit(p: Path, shown: str, stack: list[tuple[Path, Span | None]], span: Span | None) -> ast.Module:
        nonlocal main_text
        if main_text is not None:  # a spec given as a string: its imports are files all the same
            text, main_text = main_text, None
            if len(text.encode("utf-8")) > MAX_FILE_BYTES:
                raise ArchspecError(Diagnostic(f"the spec is larger than the limit of {MAX_FILE_BYTES // 1024 // 1024} MiB", Span(shown, 1, 1), help=LIMIT_HELP))
        else:
            text = read_text(p, shown, span, program_sources)
        program_sources[shown] = text
        try:
            module = parse_file(text, shown)
        except ArchspecError as err:
            err.sources.update(program_sources)
            raise
        modules[shown] = module
        for imp in module.imports:
            target = (p.parent / imp.path).resolve()
            chain = [q for q, _ in stack] + [p.resolve()]
            if target in chain:
                names = " -> ".join(_display(q) for q in chain[chain.index(target) :] + [target])
                raise ArchspecError(
                    Diagnostic(f"import cycle: {names}", imp.span, notes=tuple(Note("imported from here", s) for _, s in stack if s)),
                    program_sources,
                )
            t_shown = _display(target)
            if t_shown in modules:
                continue
            if target.suffix not in SPEC_SUFFIXES:
                raise ArchspecError(
                    Diagnostic(
                        f"an import names a spec file ({', '.join(SPEC_SUFFIXES)}), not {imp.path!r}",
                        imp.span,
                        help="a spec may only import specs: error messages quote the files they read",
                    ),
                    program_sources,
                )
            if not target.exists():
                raise ArchspecError(Diagnostic(f"imported file not found: {imp.path} (looked for {t_shown})", imp.span), program_sources)
            if len(stack) >= MAX_IMPORT_DEPTH:
                raise ArchspecError(
                    Diagnostic(f"imports nested more than {MAX_IMPORT_DEPTH} deep", imp.span, help="this is a limit (docs/limits.md)"),
                    program_sources,
                )
            if len(modules) >= MAX_FILES:
                raise ArchspecError(
                    Diagnostic(f"more than {MAX_FILES} files imported", imp.span, help="this is a limit (docs/limits.md)"), program_sources
                )
            visit(target, t_shown, stack + [(p.resolve(), imp.span)], imp.span)
        return module

    path = Path(path)
    shown = str(path)
    main = visit(path, shown, [], None)
    if not text_has_content(program_sources[shown]):
        raise ArchspecError(
            Diagnostic(
                "empty spec: nothing to compile", Span(shown, 1, 1), help="a spec defines a network: `network name:` with an indented body"
            ),
            program_sources,
        )
    return Program(main, modules, program_sources)


def text_has_content(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in text.splitlines())
