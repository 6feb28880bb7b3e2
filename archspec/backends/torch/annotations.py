"""The Python types a generated constructor's arguments are annotated with, from the values a
spec's parameter takes (`int`, `tuple[int, ...]`, `int | tuple[int, ...]`), or, where no value
shows one, from the op arguments it is passed to."""

from __future__ import annotations

import ast
from typing import Any

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


def int_valued(e: irx.Expr, types: dict[str, ast.expr | None]) -> bool:
    """Whether an expression is an int whatever the parameters' values: a literal, a parameter
    annotated `int`, `in.channels`, arithmetic of those (not `/`), `int(...)` and `round(...)`."""
    if isinstance(e, irx.Const):
        return type(e.value) is int
    if isinstance(e, irx.Var):
        t = types.get(e.name)
        return t is not None and ast.dump(t) == ast.dump(name("int"))
    if isinstance(e, irx.Field):
        return isinstance(e.value, irx.Input)
    if isinstance(e, irx.Neg):
        return int_valued(e.operand, types)
    if isinstance(e, irx.BinOp):
        return e.op != "/" and int_valued(e.left, types) and int_valued(e.right, types)
    if isinstance(e, irx.Choice):
        return int_valued(e.body, types) and int_valued(e.orelse, types)
    return isinstance(e, irx.Apply) and e.fn in ("int", "round") and len(e.args) == 1 and not e.kwargs


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
