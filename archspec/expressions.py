"""Evaluation of the IR's expressions (`archspec.ir.expr`): arithmetic, tuples, indexing, comparisons,
built-in functions and `in` (the shape flowing into the enclosing block).

Values are plain Python ints, floats, bools, strings, tuples and None. Results are
bounded so that a hostile spec (`10 ** 10 ** 10`, `(0,) * 10 ** 12`) fails fast.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from archspec.diagnostics import Span
from archspec.ir import expr as ir
from archspec.ops.types import show

MAX_INT = 2**62
MAX_SEQ = 1_000_000  # elements of one string or tuple, nested tuples counted in full
MAX_VALUE_DEPTH = 100  # tuples inside tuples: comparing or printing deeper ones recurses in C
MAX_WORK = 10_000_000  # elements of all the tuples and strings one elaboration builds
MAX_ROUND_DIGITS = 400  # round(x, n): 10 ** n is computed
MAX_COMPREHENSION_STEPS = 100_000  # elements all the `[... for ...]` of one elaboration go through


class EvalError(Exception):
    def __init__(self, message: str, span: Span | None, help: str | None = None):
        super().__init__(message)
        self.message, self.span, self.help = message, span, help


@dataclass(frozen=True)
class InShape:
    """`in`: the incoming shape, with the names a spec reads (`in.channels`, `in.height`)."""

    shape: tuple[int, ...]

    FIELDS = ("channels", "height", "width", "features", "shape", "rank")

    def get(self, name: str, span: Span) -> Any:
        s = self.shape
        if name == "shape":
            return s
        if name == "rank":
            return len(s)
        if name in ("channels", "features"):
            return s[0]
        if name in ("height", "width"):
            if len(s) != 3:
                raise EvalError(f"in.{name}: the incoming shape {list(s)} has no {name}", span)
            return s[1] if name == "height" else s[2]
        raise EvalError(f"'in' has no field '{name}'", span, help=_suggest(name, self.FIELDS, "fields: " + ", ".join(self.FIELDS)))


def _suggest(name: str, candidates, fallback: str | None = None) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean '{close[0]}'?" if close else fallback


def describe(v: Any) -> str:
    return {bool: "a bool", int: "an int", float: "a float", str: "a string", tuple: "a tuple", type(None): "none"}.get(
        type(v), type(v).__name__
    )


@dataclass
class Budget:
    """What one elaboration's expressions may build in all: each loop iteration can build a large
    tuple, so a bound on each value alone would still let 10^6 iterations of 10^6 elements run."""

    work: int = 0
    steps: int = 0  # comprehension elements visited
    sizes: dict[int, tuple[tuple, int, int]] = field(default_factory=dict)  # id -> (the tuple, elements, depth)

    def measure(self, t: tuple) -> tuple[int, int]:
        """(elements, depth) of a tuple, nested tuples counted in full; each tuple measured once."""
        known = self.sizes.get(id(t))
        if known is not None and known[0] is t:
            return known[1], known[2]
        size, depth = len(t), 1
        for x in t:
            if isinstance(x, tuple):
                n, d = self.measure(x) if len(x) else (0, 1)
                size, depth = size + n, max(depth, d + 1)
                if size > MAX_SEQ or depth > MAX_VALUE_DEPTH:
                    break  # over a limit already: no need to measure the rest
        self.sizes[id(t)] = (t, size, depth)
        self.work += size
        return size, depth


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("archspec_budget", default=None)


@contextlib.contextmanager
def budget() -> Iterator[Budget]:
    """One budget for every evaluation inside the `with` (an elaboration); outside one, each
    top-level `evaluate` call gets its own."""
    token = _BUDGET.set(Budget())
    try:
        yield _BUDGET.get()
    finally:
        _BUDGET.reset(token)


def _check(v: Any, span: Span, new: bool = False) -> Any:
    """Refuse a value over a limit; `new`: it was just built here, so it counts against the budget."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
        raise EvalError(f"number too large: more than {MAX_INT}", span, help=_LIMIT_HELP)
    if isinstance(v, complex):
        raise EvalError("the result is not a real number", span)
    if isinstance(v, (tuple, str)):
        if len(v) > MAX_SEQ:
            raise EvalError(f"sequence too long: more than {MAX_SEQ:,} elements", span, help=_LIMIT_HELP)
        b = _BUDGET.get()
        if b is not None and (new or isinstance(v, tuple)):
            before = b.work
            if isinstance(v, tuple):
                size, depth = b.measure(v)
                if size > MAX_SEQ:
                    raise EvalError(f"value too large: more than {MAX_SEQ:,} elements, nested tuples counted", span, help=_LIMIT_HELP)
                if depth > MAX_VALUE_DEPTH:
                    raise EvalError(f"tuples nested more than {MAX_VALUE_DEPTH} deep", span, help=_LIMIT_HELP)
            elif new:
                b.work += len(v)
            if b.work > MAX_WORK and b.work > before:
                raise EvalError(f"the spec's expressions build more than {MAX_WORK:,} elements in all", span, help=_LIMIT_HELP)
    return v


_LIMIT_HELP = "this is a limit (docs/limits.md)"


def _pow(a, b):
    if isinstance(b, int) and abs(b) > 256 and isinstance(a, int) and abs(a) > 1:
        raise OverflowError("exponent too large")
    return a**b


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": _pow,
}
_COMPARE = {
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _make_divisible(v, divisor=8, min_value=None):
    """torchvision's `_make_divisible`: round channels to a multiple of `divisor`, never down by more than 10%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _seq(fn):
    def wrapped(*args):
        for a in args:
            if isinstance(a, (tuple, range)) and len(a) > MAX_SEQ:
                raise ValueError(f"sequence too long: more than {MAX_SEQ:,} elements")
        return fn(*args)

    return wrapped


def _over_range(fn: Callable[..., Any], closed: Callable[[range], Any]):
    """min/max/sum of a range in closed form (a range is lazy: `sum(range(2 ** 62))` must not loop)."""
    checked = _seq(fn)

    def wrapped(*args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], range):
            r = args[0]
            return closed(r) if r else fn(r)  # an empty one: Python's own error (or 0 for sum)
        return checked(*args, **kwargs)

    return wrapped


def _round(x, ndigits=None):
    if isinstance(ndigits, int) and not isinstance(ndigits, bool) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(f"ndigits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}")
    return round(x) if ndigits is None else round(x, ndigits)


BUILTINS: dict[str, Callable[..., Any]] = {
    "range": lambda *a: range(*a),
    "len": len,
    "enumerate": _seq(lambda xs, start=0: tuple(enumerate(xs, start))),
    "zip": _seq(lambda *xs: tuple(zip(*xs))),
    "min": _over_range(min, lambda r: min(r[0], r[-1])),
    "max": _over_range(max, lambda r: max(r[0], r[-1])),
    "sum": _over_range(sum, lambda r: (r[0] + r[-1]) * len(r) // 2),
    "abs": abs,
    "int": int,
    "float": float,
    "round": _round,
    "str": str,
    "tuple": _seq(tuple),
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "make_divisible": _make_divisible,
}


class Env:
    """Variables visible at a point: a block's arguments over its module's parameters."""

    def __init__(self, values: dict[str, Any], parent: Env | None = None, in_shape: tuple[int, ...] | None = None):
        self.values = values
        self.parent = parent
        self.in_shape = in_shape if in_shape is not None or parent is None else parent.in_shape

    def lookup(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.values:
                return env.values[name]
            env = env.parent
        raise KeyError(name)

    def names(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out |= set(env.values)
            env = env.parent
        return out


def evaluate(e: ir.Expr, env: Env) -> Any:
    """Evaluate an expression; every failure is an EvalError pointing at the sub-expression."""
    if _BUDGET.get() is None:
        with budget():
            return evaluate(e, env)
    try:
        return _check(_eval(e, env), e.span)
    except EvalError:
        raise
    except ZeroDivisionError:
        raise EvalError("division by zero", e.span) from None
    except OverflowError:
        raise EvalError("number too large", e.span, help=_LIMIT_HELP) from None
    except (TypeError, ValueError, IndexError, KeyError) as err:
        raise EvalError(_py_message(err), e.span) from None


def _py_message(err: Exception) -> str:
    msg = str(err).replace("'tuple'", "tuple").replace("'int'", "int").replace("'str'", "string").replace("'float'", "float")
    return msg or type(err).__name__


def _eval(e: ir.Expr, env: Env) -> Any:
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.Var):
        try:
            return env.lookup(e.name)
        except KeyError:
            raise EvalError(f"unknown name '{e.name}'", e.span, help=_suggest(e.name, env.names())) from None
    if isinstance(e, ir.Input):
        if env.in_shape is None:
            raise EvalError("'in' is only known inside a network or block", e.span)
        return InShape(env.in_shape)
    if isinstance(e, ir.TupleOf):
        return _check(tuple(evaluate(x, env) for x in e.items), e.span, new=True)
    if isinstance(e, ir.BinOp):
        left, right = evaluate(e.left, env), evaluate(e.right, env)
        if e.op == "*" and isinstance(left, (tuple, str)) and isinstance(right, int):
            _check_repeat(len(left), right, e.span)
        if e.op == "*" and isinstance(right, (tuple, str)) and isinstance(left, int):
            _check_repeat(len(right), left, e.span)
        if e.op == "%" and isinstance(left, str):
            raise EvalError("cannot apply '%' to a string (use a string with {holes})", e.span)
        try:
            return _check(_BINOPS[e.op](left, right), e.span, new=True)
        except TypeError:
            raise EvalError(f"cannot apply '{e.op}' to {describe(left)} and {describe(right)}", e.span) from None
    if isinstance(e, ir.Neg):
        v = evaluate(e.operand, env)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise EvalError(f"cannot apply unary '{e.op}' to {describe(v)}", e.span)
        return -v if e.op == "-" else v
    if isinstance(e, ir.Compare):
        values = [evaluate(x, env) for x in e.operands]
        for op, a, b in zip(e.ops, values, values[1:]):
            try:
                if not _COMPARE[op](a, b):
                    return False
            except TypeError:
                raise EvalError(f"cannot compare {describe(a)} and {describe(b)} with '{op}'", e.span) from None
        return True
    if isinstance(e, ir.Logic):
        v: Any = None
        for x in e.values:
            v = evaluate(x, env)
            if (e.op == "and" and not v) or (e.op == "or" and v):
                return v
        return v
    if isinstance(e, ir.Not):
        return not evaluate(e.operand, env)
    if isinstance(e, ir.Choice):
        return evaluate(e.body, env) if evaluate(e.test, env) else evaluate(e.orelse, env)
    if isinstance(e, ir.Index):
        v, i = evaluate(e.value, env), evaluate(e.index, env)
        if isinstance(v, InShape):
            v = v.shape
        if not isinstance(v, (tuple, str, range)):
            raise EvalError(f"cannot index {describe(v)}", e.span)
        if isinstance(i, bool) or not isinstance(i, int):
            raise EvalError(f"an index must be an int, got {describe(i)}", e.index.span)
        if not -len(v) <= i < len(v):
            raise EvalError(f"index {i} is out of range for {show(tuple(v)) if not isinstance(v, str) else v!r} (length {len(v)})", e.span)
        return v[i]
    if isinstance(e, ir.Field):
        v = evaluate(e.value, env)
        if isinstance(v, InShape):
            return v.get(e.name, e.span)
        raise EvalError(f"{describe(v)} has no field '{e.name}'", e.span)
    if isinstance(e, ir.Apply):
        fn = BUILTINS.get(e.fn)
        if fn is None:
            raise EvalError(
                f"unknown function '{e.fn}'",
                e.span,
                help=_suggest(e.fn, BUILTINS, "functions: " + ", ".join(sorted(BUILTINS))),
            )
        args = [evaluate(a, env) for a in e.args]
        kwargs = {k: evaluate(a, env) for k, a in e.kwargs}
        try:
            return _check(fn(*args, **kwargs), e.span, new=True)
        except (TypeError, ValueError) as err:
            raise EvalError(f"{e.fn}(): {_py_message(err)}", e.span, help=_LIMIT_HELP if "ndigits must be" in str(err) else None) from None
    if isinstance(e, ir.Comprehension):
        return _comprehension(e, env)
    if isinstance(e, ir.Format):
        parts = []
        for p in e.parts:
            parts.append(p if isinstance(p, str) else _check(str(evaluate(p, env)), e.span, new=True))
        return _check("".join(parts), e.span, new=True)
    raise AssertionError(f"unknown expression {e!r}")


def _comprehension(e: ir.Comprehension, env: Env) -> tuple:
    """`[element for target in iterable if condition]`, each element in a scope of its own."""
    items = evaluate(e.iterable, env)
    if isinstance(items, InShape):
        items = items.shape
    if not isinstance(items, (tuple, range, str)):
        raise EvalError(f"cannot iterate over {describe(items)}", e.iterable.span)
    b = _BUDGET.get()
    if b is not None and b.steps + len(items) > MAX_COMPREHENSION_STEPS:
        raise EvalError(f"comprehensions go through more than {MAX_COMPREHENSION_STEPS:,} elements in all", e.span, help=_LIMIT_HELP)
    if b is not None:
        b.steps += len(items)
    out = []
    for item in items:
        scope = Env({}, env)
        _bind(e.target, item, scope, e.span)
        if e.condition is None or evaluate(e.condition, scope):
            out.append(evaluate(e.element, scope))
    return _check(tuple(out), e.span, new=True)


def _bind(target: Any, value: Any, env: Env, span: Span | None) -> None:
    if isinstance(target, str):
        env.values[target] = value
        return
    if not isinstance(value, tuple) or len(value) != len(target):
        n = f"{len(value)} items" if isinstance(value, tuple) else describe(value)
        raise EvalError(f"cannot unpack {show(value) if isinstance(value, tuple) else describe(value)} ({n}) into {len(target)} names", span)
    for t, v in zip(target, value):
        _bind(t, v, env, span)


def _check_repeat(length: int, times: int, span: Span) -> None:
    if length * times > MAX_SEQ:
        raise EvalError(f"sequence too long: more than {MAX_SEQ:,} elements", span)
