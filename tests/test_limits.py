"""The limits of docs/limits.md, tested where a crafted case (tests/hostile_cases.py) cannot say
enough: closed forms equal Python's own results, budgets count what they should, the CLI's
last line of defence."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archspec import cli
from archspec.diagnostics import Span
from archspec.expressions import BUILTINS, MAX_SEQ, MAX_WORK, Budget, Env, EvalError, budget, evaluate
from archspec.ir import expr as irx

SPAN = Span("<test>", 1, 1)


def _range(start: int, stop: int, step: int) -> irx.Expr:
    return irx.Apply("range", (irx.Const(start, SPAN), irx.Const(stop, SPAN), irx.Const(step, SPAN)), (), SPAN)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-7, 7).filter(bool), st.sampled_from(["sum", "min", "max"]))
def test_closed_forms_of_a_range_equal_pythons(start, stop, step, fn):
    r = range(start, stop, step)
    e = irx.Apply(fn, (_range(start, stop, step),), (), SPAN)
    if not r and fn != "sum":
        with pytest.raises(EvalError):
            evaluate(e, Env({}))
        return
    assert evaluate(e, Env({})) == {"sum": sum, "min": min, "max": max}[fn](r)


def test_closed_forms_need_no_iteration():
    start = time.process_time()
    assert evaluate(irx.Apply("sum", (_range(0, 2**31, 1),), (), SPAN), Env({})) == (2**31 - 1) * 2**31 // 2
    with pytest.raises(EvalError, match="number too large"):
        evaluate(irx.Apply("sum", (_range(0, 2**62, 1),), (), SPAN), Env({}))
    assert BUILTINS["max"](range(10**15)) == 10**15 - 1
    assert time.process_time() - start < 0.5


def test_a_tuple_is_measured_in_full_once():
    b = Budget()
    t = (1,) * 1000
    u = (t, t, t)
    assert b.measure(u) == (3 + 3000, 2)
    before = b.work
    assert b.measure(u) == (3003, 2)
    assert b.work == before  # measured once


def test_one_budget_for_a_whole_elaboration():
    big = irx.BinOp("*", irx.TupleOf((irx.Const(1, SPAN),), SPAN), irx.Const(MAX_SEQ, SPAN), SPAN)
    with budget():
        with pytest.raises(EvalError, match="in all"):
            for _ in range(MAX_WORK // MAX_SEQ + 2):
                evaluate(big, Env({}))
    for _ in range(MAX_WORK // MAX_SEQ + 2):  # outside one, each call gets its own
        evaluate(big, Env({}))


def test_an_internal_error_is_one_line_and_exit_70(monkeypatch, capsys):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "main", broken)
    monkeypatch.delenv("ARCHSPEC_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 70
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "Traceback" not in err
