"""The IR's expressions: what a spec computes, kept symbolic.

A small tree of frozen dataclasses, independent of the syntax that produced it (both
front ends lower to it). `archspec.expressions.evaluate` gives an expression's value in
an environment; a backend may instead write it out (the torch backend writes Python).
Every node keeps the span it came from for diagnostics; spans take no part in equality,
so two spellings of `kernel // 2` at different places compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Union

from archspec.diagnostics import Span


def _span() -> Any:
    return field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Const:
    """A literal: an int, float, bool, string, None, or a tuple of those."""

    value: Any
    span: Span | None = _span()


@dataclass(frozen=True)
class Var:
    """A name: a parameter, a block argument, a variable assigned or bound by `for`."""

    name: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Input:
    """`in`: the shape flowing into the enclosing block (or the network)."""

    span: Span | None = _span()


@dataclass(frozen=True)
class Field:
    """`value.name`; on `in`, one of its fields (`in.channels`)."""

    value: Expr
    name: str
    span: Span | None = _span()


@dataclass(frozen=True)
class TupleOf:
    items: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / // % **
    left: Expr
    right: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Neg:
    """Unary `-` or `+`."""

    op: str
    operand: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Compare:
    """A comparison chain: `a < b <= c`, also `in` and `not in`."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Logic:
    """`and` / `or` over two or more values (Python's short-circuit semantics)."""

    op: str
    values: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Choice:
    """`body if test else orelse`."""

    test: Expr
    body: Expr
    orelse: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Index:
    value: Expr
    index: Expr
    span: Span | None = _span()


@dataclass(frozen=True)
class Apply:
    """A built-in function (`range`, `len`, `make_divisible`, ...): never anything else."""

    fn: str
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...] = ()
    span: Span | None = _span()


@dataclass(frozen=True)
class Format:
    """A string with holes, for computed names: "layer{i + 1}"."""

    parts: tuple[Union[str, Expr], ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Comprehension:
    """`[element for target in iterable if condition]`; `target` binds names (a str, or nested
    tuples of str) for `element` and `condition` only."""

    element: Expr
    target: Any
    iterable: Expr
    condition: Expr | None = None
    span: Span | None = _span()


Expr = Union[Const, Var, Input, Field, TupleOf, BinOp, Neg, Compare, Logic, Not, Choice, Index, Apply, Format, Comprehension]


def children(e: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of `e`, in source order."""
    out: list[Expr] = []
    for f in fields(e):
        if f.name == "span":
            continue
        v = getattr(e, f.name)
        for x in v if isinstance(v, tuple) else (v,):
            if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str):
                x = x[1]  # a keyword argument (name, value)
            if is_expr(x):
                out.append(x)
    return tuple(out)


def is_expr(x: Any) -> bool:
    return isinstance(x, (Const, Var, Input, Field, TupleOf, BinOp, Neg, Compare, Logic, Not, Choice, Index, Apply, Format, Comprehension))


def target_names(target: Any) -> set[str]:
    """The names a `for` target binds: `n`, or `(t, c, n, s)` nested."""
    return {target} if isinstance(target, str) else set().union(*(target_names(t) for t in target)) if target else set()


def free_names(e: Expr) -> set[str]:
    """The variable names an expression reads (`in` is not one: it is the block's input)."""
    if isinstance(e, Var):
        return {e.name}
    if isinstance(e, Comprehension):
        inner = free_names(e.element) | (free_names(e.condition) if e.condition is not None else set())
        return free_names(e.iterable) | (inner - target_names(e.target))
    found: set[str] = set()
    for c in children(e):
        found |= free_names(c)
    return found


def reads_input(e: Expr) -> bool:
    """Whether the expression reads `in` (so its value depends on the shape flowing in)."""
    return isinstance(e, Input) or any(reads_input(c) for c in children(e))
