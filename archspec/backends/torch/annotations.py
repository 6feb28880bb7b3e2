"""The Python types a generated constructor's arguments are annotated with, from the values a
spec's parameter takes (`int`, `tuple[int, ...]`, `int | tuple[int, ...]`), or, where no value
shows one, from the op arguments it is passed to."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any, NamedTuple

from archspec.backends.torch.ops import bind_args
from archspec.backends.torch.python import name
from archspec.backends.unsupported import Unsupported
from archspec.ir import defs
from archspec.ir import expr as irx
from archspec.ops import OPS


def annotation(values: list[Any]) -> ast.expr | None:
    """The type of the values a parameter takes (`int`, `tuple[int, ...]`; `int | tuple[int, ...]`
    where they differ, Inception's kernel of 3 or (1, 7)); None without values, or with one Python names no type for."""
    kinds: list[ast.expr] = []
    empty = () in values  # an empty tuple agrees with any tuple's type
    if empty and not any(isinstance(v, tuple) and v for v in values):
        kinds.append(name("tuple"))
    for v in values:
        if v == ():
            continue
        k = _kind(v)
        if k is None:
            return None
        if not any(ast.dump(k) == ast.dump(o) for o in kinds):
            kinds.append(k)
    if {ast.dump(k) for k in kinds} == {ast.dump(name("int")), ast.dump(name("float"))}:
        return name("float")  # an int is a float to a type checker
    out = kinds[0] if kinds else None
    for k in kinds[1:]:
        out = ast.BinOp(out, ast.BitOr(), k)  # type: ignore[arg-type]
    return out


_ATTR_TYPES = {"int": "int", "int0": "int", "float": "float", "float+": "float", "prob": "float", "bool": "bool"}


def annotation_by_use(param: str, body: tuple) -> ast.expr | None:
    """The type of a parameter no value of the compiled network shows (a block only another value
    of a network parameter calls: RegNetX's squeeze-and-excitation), from the op arguments it is
    passed to as it is (`conv(squeeze, 1)`: a conv's channels are an int); None where they disagree or none is scalar."""
    kinds = set()
    for s in defs.walk(body):
        if isinstance(s, defs.Call) and s.kind == "op" and s.callee in OPS:
            attrs = {a.name: a.kind for a in OPS[s.callee].attrs}
            try:
                bound = bind_args(s, list(attrs))
            except Unsupported:  # a call no instance reaches may be wrong: it says nothing of the type
                continue
            for attr_name, e in bound.items():
                if isinstance(e, irx.Var) and e.name == param:
                    kinds.add(_ATTR_TYPES.get(attrs.get(attr_name, "")))
    return name(kinds.pop()) if len(kinds) == 1 and None not in kinds else None


class Ints(NamedTuple):
    """The names that hold an int wherever a body reads them, and those that hold a tuple of ints."""

    scalars: frozenset[str] = frozenset()
    tuples: frozenset[str] = frozenset()


def int_valued(e: irx.Expr, ints: Ints) -> bool:
    """Whether an expression is an int whatever the parameters' values: a literal, a name of
    `ints` (`int_names`) or an item of one of its tuples, `in.channels`, arithmetic of those (not
    `/`), `int(...)` and `round(...)`."""
    if isinstance(e, irx.Const):
        return type(e.value) is int
    if isinstance(e, irx.Var):
        return e.name in ints.scalars
    if isinstance(e, irx.Index):
        return isinstance(e.value, irx.Var) and e.value.name in ints.tuples and int_valued(e.index, ints)
    if isinstance(e, irx.Field):
        return isinstance(e.value, irx.Input)
    if isinstance(e, irx.Neg):
        return int_valued(e.operand, ints)
    if isinstance(e, irx.BinOp):
        return e.op != "/" and int_valued(e.left, ints) and int_valued(e.right, ints)
    if isinstance(e, irx.Choice):
        return int_valued(e.body, ints) and int_valued(e.orelse, ints)
    return isinstance(e, irx.Apply) and e.fn in ("int", "round") and len(e.args) == 1 and not e.kwargs


def int_names(body: tuple, types: dict[str, ast.expr | None]) -> Ints:
    """The names that hold an int wherever a body reads them: parameters annotated `int`, and
    variables and loop targets every binding of which is one (`p = r * 2` in `for r in rates`
    with `rates: tuple[int, ...]`). The largest such set: a checked spec binds a name before it
    reads it, so each binding reads only ints bound earlier."""
    bindings: dict[str, list[Callable[[Ints], bool]]] = {n: [lambda ints, t=t: _is(t, "int")] for n, t in types.items()}
    lets = [s for s in defs.walk(body) if isinstance(s, defs.Let)]
    loops = [s for s in defs.walk(body) if isinstance(s, defs.For)]
    rebound = {s.name for s in lets} | {n for s in loops for n in defs.target_names(s.target)}
    int_tuples = frozenset(n for n, t in types.items() if _is(t, "tuple[int, ...]") and n not in rebound)
    for s in lets:
        bindings.setdefault(s.name, []).append(lambda ints, e=s.value: int_valued(e, ints))
    for s in loops:
        for n, test in _loop_bindings(s.target, s.iter, int_tuples):
            bindings.setdefault(n, []).append(test)
    ints = set(bindings)
    changed = True
    while changed:
        now = Ints(frozenset(ints), int_tuples)
        ints = {n for n in ints if all(b(now) for b in bindings[n])}
        changed = ints != now.scalars
    return Ints(frozenset(ints), int_tuples)


def _loop_bindings(target: Any, iterable: irx.Expr, int_tuples: frozenset[str]) -> list[tuple[str, Callable[[Ints], bool]]]:
    """Each name a loop binds, with whether it is an int given the ints bound so far
    (`int_tuples`: the parameters that are tuples of ints)."""
    if isinstance(iterable, irx.Apply) and iterable.fn == "enumerate" and len(iterable.args) == 1 and not isinstance(target, str) and len(target) == 2:
        index, item = target
        counted = [(index, lambda ints: True)] if isinstance(index, str) else [(n, lambda ints: False) for n in defs.target_names(index)]
        return counted + _loop_bindings(item, iterable.args[0], int_tuples)
    if isinstance(target, str):
        return [(target, lambda ints: _iterates_ints(iterable, ints, int_tuples))]
    return [(n, lambda ints: False) for n in defs.target_names(target)]


def _iterates_ints(iterable: irx.Expr, ints: Ints, int_tuples: frozenset[str]) -> bool:
    """Whether every item a loop takes from `iterable` is an int: a range, a tuple written out of ints, an int tuple parameter."""
    if isinstance(iterable, irx.Apply) and iterable.fn == "range":
        return True
    if isinstance(iterable, irx.TupleOf):
        return all(int_valued(e, ints) for e in iterable.items)
    return isinstance(iterable, irx.Var) and iterable.name in int_tuples


def _is(annotation: ast.expr | None, python: str) -> bool:
    return annotation is not None and ast.unparse(annotation) == python


def _kind(v: Any) -> ast.expr | None:
    if isinstance(v, bool):
        return name("bool")
    if isinstance(v, int):
        return name("int")
    if isinstance(v, float):
        return name("float")
    if isinstance(v, str):
        return name("str")
    if isinstance(v, tuple):
        if v and all(type(x) is int for x in v):
            return ast.Subscript(name("tuple"), ast.Tuple([name("int"), ast.Constant(...)], ast.Load()), ast.Load())
        return name("tuple")
    return None
