"""The Writer's joins: `concat`, `add` and `mul` of branches, optional ones included.

A part of `classes.Writer`: each branch reads the value flowing in (or a named one) into a local of
its own in forward, and `torch.cat` or `+` joins them; the channels are the spec's sum.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import replace

from archspec.backends.torch.body import refs_only
from archspec.backends.torch.lowering import LOWERINGS
from archspec.backends.torch.names import branch_name
from archspec.backends.torch.python import assign, attr, call, const, fold, name, plain_attribute
from archspec.backends.torch.scope import Flow, Frame, end_loop, free_name
from archspec.backends.torch.tidy import members_built, retarget
from archspec.backends.unsupported import Unsupported
from archspec.ir import defs


class Joins:
    """A part of `classes.Writer`; see the module's docstring."""

    def _join(self, s: defs.Join, flow: Flow, frame: Frame, init: list, fwd: list) -> Flow:
        branches = []
        for b in s.branches:
            if isinstance(b, defs.If):
                raise Unsupported("an if among the branches of a join (an optional branch with a label is written: `shortcut if s != 1: conv(c, 1, stride=s)`)", b.span)
            if isinstance(b, (defs.Repeat, defs.For)):
                if s.kind != "concat" or not refs_only(b.body):
                    raise Unsupported("a loop among the branches of a join other than a concat of named values", b.span)
                branches.append((b, None))
                continue
            guard = b.guard if isinstance(b, defs.Labeled) else None
            if guard is not None:
                b = defs.Labeled(b.label, None, b.body, b.inline, b.span)
            branches.append((b, guard))
        x = flow.var
        results: list[tuple[str, ast.expr | None, Flow]] = []  # (variable, guard as Python, flow)
        count = flow.count
        taken_vars = {x}
        frame.joining += 1
        for b, guard in branches:
            if isinstance(b, (defs.Repeat, defs.For)):
                results.append(self._loop_of_refs(b, flow, frame))
                continue
            var = free_name(branch_name(b), frame.fwd_used | taken_vars)
            taken_vars.add(var)
            frame.fwd_used.add(var)
            start = Flow(flow.channels, flow.rank, count, flow.target if flow.prefix is not None else None, x, var, False, prefix=flow.prefix)
            b_init: list[ast.stmt] = []
            b_fwd: list[ast.stmt] = []
            if isinstance(b, defs.Line) and len(b.items) > 1 and isinstance(b.items[0], defs.Ref):  # `@skip; conv(...)`: from that value
                start = replace(self._ref(b.items[0], start, frame, b_fwd), out=var)
                b = defs.Line(b.items[1:], b.span)
            if isinstance(b, defs.Line) and len(b.items) > 1:
                end = self._level(None, (b,), start, frame, b_init, b_fwd, b.span)
            else:
                end = self._stmt(b, start, frame, b_init, b_fwd)
            count = end.count if guard is None else None  # where it is not taken, what follows takes its position
            if guard is not None:
                test = self._expr(guard, frame)
                member = [m for m in members_built(b_init) if plain_attribute(m)]
                init.append(ast.If(test, b_init, [assign(attr("self", m), ast.Constant(None)) for m in member]))
                if not member:
                    raise Unsupported("an optional branch that builds no named member", b.span)
                cond = ast.Compare(attr("self", member[0]), [ast.IsNot()], [ast.Constant(None)])
                results.append((end.var, cond, end))
                optional_at = len(fwd)  # where forward tests for it
                fwd.append(ast.If(cond, b_fwd, []))
            else:
                init.extend(b_init)
                fwd.extend(b_fwd)
                results.append((end.var, None, end))
        kind = s.kind
        record = LOWERINGS[kind]
        fixed = [v for v, g, _ in results if g is None]
        optional = [(v, g) for v, g, _ in results if g is not None]
        if not optional:
            vars_ = [v for v in fixed]
            if kind in ("add", "mul") and len(vars_) < 2:
                vars_.insert(0, x)
            expr = ast.parse(record.join(vars_), mode="eval").body
            fwd.append(assign(flow.out, expr))
        elif kind in ("add", "mul") and len(fixed) == 1 and len(optional) == 1:
            (v, _), (f,) = optional[0], fixed
            other = free_name("identity", frame.fwd_used | taken_vars)
            frame.fwd_used.add(other)
            # the input, or the optional branch where it exists (`identity = self.proj(x)`), wherever it is written
            fwd[optional_at : optional_at + 1] = [assign(other, name(x)), retarget(fwd[optional_at], v, other)]
            operands = [f, other] if results[0][1] is None else [other, f]  # the spec's order
            expr = ast.parse(record.join(operands), mode="eval").body
            fwd.append(assign(flow.out, expr))
        else:
            raise Unsupported(f"a {kind} with optional branches other than one beside one fixed branch", s.span)
        channels = self._join_channels(kind, results, flow)
        ranks = {r.rank for _, _, r in results}
        target = flow.target if flow.prefix is not None else None  # members after it go where those before went
        frame.joining -= 1
        return Flow(channels, ranks.pop() if len(ranks) == 1 else flow.rank, count, target, flow.out, flow.out, True, flow.prefix)

    def _loop_of_refs(self, loop: defs.Repeat | defs.For, flow: Flow, frame: Frame) -> tuple[str, None, Flow]:
        """`for i in range(n): @"y{i}"` among a concat's branches (C2f's): the values it reads, as
        one starred comprehension in the `torch.cat` list, and their channels summed."""
        before = dict(frame.vars)  # a comprehension's names end with it
        target, targets, init_iter = self._loop_header(loop, frame)
        fwd_iter = self._fwd_iterable(loop, frame)
        frame.loop_vars |= set(targets)
        tensors, channels = [], []
        for st in loop.body:
            for ref in st.items:
                got: list[ast.stmt] = []
                out = self._ref(ref, replace(flow, out="__value__"), frame, got)
                tensors.append(got[-1].value if got else name(out.var))
                channels.append(out.channels)
        end_loop(frame, targets, before)

        def over(elt: ast.expr, iterable: ast.expr) -> ast.expr:
            return ast.ListComp(elt, [ast.comprehension(copy.deepcopy(target), copy.deepcopy(iterable), [], 0)])

        items = ", ".join(ast.unparse(ast.Starred(over(t, fwd_iter), ast.Load())) for t in tensors)
        total: ast.expr | None = None
        for c in channels:
            term = call("sum", over(c, init_iter))
            total = term if total is None else ast.BinOp(total, ast.Add(), term)
        return items, None, replace(flow, channels=total if total is not None else const(0))

    def _join_channels(self, kind: str, results, flow: Flow) -> ast.expr:
        if kind != "concat":
            fixed = [r.channels for _, g, r in results if g is None]
            return fixed[0] if fixed else flow.channels
        total: ast.expr | None = None
        for _, g, r in results:
            term = r.channels if g is None else ast.IfExp(g, r.channels, ast.Constant(0))
            total = term if total is None else ast.BinOp(total, ast.Add(), term)
        return fold(total) if total is not None else flow.channels

