"""Diagnostics: one value made by every stage, rendered in one place.

A wrong spec never surfaces as a Python traceback. Each stage reports what it
found as `Diagnostic` values (message, span, notes, help); the API raises one
exception type, `ArchspecError`, carrying them; the CLI renders them the way
rustc and clang do: `file:line:col: error: ...`, the source line, a caret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A region of a source file (1-based lines and columns, end exclusive)."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Note:
    message: str
    span: Span | None = None


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    notes: tuple[Note, ...] = ()
    help: str | None = None
    severity: str = "error"


class ArchspecError(Exception):
    """The one exception the API raises for a wrong spec or wrong input.

    `diagnostics` holds every error one pass could find; `message` and `span`
    are those of the first, for callers that want a single answer.
    """

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic, sources: dict[str, str] | None = None):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        # a loop body that fails fails the same way on every pass: report it once
        self.diagnostics = list(dict.fromkeys(diagnostics))
        self.sources = dict(sources or {})
        super().__init__(self.render())

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    @property
    def span(self) -> Span | None:
        return self.diagnostics[0].span

    def render(self, color: bool = False) -> str:
        return render(self.diagnostics, self.sources, color=color)


MAX_ERRORS = 100  # reported in one run: a loop of 100,000 bad layers must not print 100,000 errors


TOO_MANY = "too many errors"  # the message that ends a run of MAX_ERRORS; not an error of the spec's own


class TooManyErrors(Exception):
    """A pass has reported MAX_ERRORS errors; it stops, and the run reports those."""


@dataclass
class Reporter:
    """Collects diagnostics during one pass, so that a pass can report them all (up to MAX_ERRORS)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Span | None = None, *, notes=(), help: str | None = None) -> None:
        self.add(Diagnostic(message, span, tuple(notes), help))

    def add(self, diag: Diagnostic) -> None:
        self.diagnostics.append(diag)
        if len(self.diagnostics) >= MAX_ERRORS:
            self.diagnostics.append(
                Diagnostic(f"{TOO_MANY}: stopping after {MAX_ERRORS}", None, help="fix these and run again (docs/limits.md)")
            )
            raise TooManyErrors

    def __bool__(self) -> bool:
        return bool(self.diagnostics)


def _source_line(span: Span, sources: dict[str, str], lines_of: dict[str, list[str]] | None = None) -> str | None:
    if lines_of is not None and span.file in lines_of:
        lines = lines_of[span.file]
    else:
        text = sources.get(span.file)
        if text is None:
            text = _read_small(Path(span.file))
            if text is None:
                return None
            sources[span.file] = text
        lines = text.splitlines()
        if lines_of is not None:
            lines_of[span.file] = lines
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1]
    return None


def _read_small(path: Path) -> str | None:
    """A spec file's text for an excerpt: a regular file of at most 1 MiB, else nothing."""
    try:
        if not path.is_file() or path.stat().st_size > 1024 * 1024:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _excerpt(span: Span, sources: dict[str, str], lines_of: dict[str, list[str]] | None = None) -> list[str]:
    line = _source_line(span, sources, lines_of)
    if line is None:
        return []
    line = line.expandtabs(4).rstrip()
    start = max(span.col - 1, 0)
    if span.end_line == span.line and span.end_col and span.end_col > span.col:
        width = span.end_col - span.col
    else:
        width = max(len(line) - start, 1)
    width = max(1, min(width, max(len(line) - start, 1)))
    return ["    " + line, "    " + " " * start + "^" + "~" * (width - 1)]


def render(diagnostics: list[Diagnostic], sources: dict[str, str] | None = None, color: bool = False) -> str:
    """Render diagnostics as text: location, message, excerpt with caret, notes, help."""
    sources = sources if sources is not None else {}
    red, blue, bold, reset = ("\x1b[31m", "\x1b[34m", "\x1b[1m", "\x1b[0m") if color else ("",) * 4
    out: list[str] = []
    lines_of: dict[str, list[str]] = {}  # each file split once, however many errors it has
    for d in diagnostics:
        where = f"{d.span}: " if d.span else ""
        out.append(f"{bold}{where}{red}{d.severity}:{reset}{bold} {d.message}{reset}")
        if d.span:
            out.extend(_excerpt(d.span, sources, lines_of))
        for note in d.notes:
            where = f"{note.span}: " if note.span else ""
            out.append(f"{where}{blue}note:{reset} {note.message}")
            if note.span:
                out.extend(_excerpt(note.span, sources, lines_of))
        if d.help:
            out.append(f"{blue}help:{reset} {d.help}")
    return "\n".join(out)
