"""The Writer's joins: `concat`, `add` and `mul` of branches, optional ones included.

A part of `classes.Writer`: each branch reads the value flowing in (or a named one) into a local of
its own in forward, and `torch.cat` or `+` joins them; the channels are the spec's sum.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import replace

from archspec.backends.torch.body import refs_only
from archspec.backends.torch.lowering import LOWERINGS, layout_refusal
from archspec.backends.torch.names import branch_name
from archspec.backends.torch.python import assign, attr, call, const, expr_stmt, fold, name, plain_attribute
from archspec.backends.torch.scope import Flow, Frame, end_loop, free_name
from archspec.backends.torch.tidy import members_built, retarget
from archspec.backends.unsupported import Unsupported
from archspec.ir import defs


class Joins:
    """A part of `classes.Writer`; see the module's docstring."""

    def _join(self, s: defs.Join, flow: Flow, frame: Frame, init: list, fwd: list) -> Flow:
        branches = []
        for b in s.branches:
            if isinstance(b, (defs.If, defs.Repeat, defs.For)):
                branches.append((b, None))
                continue
            guard = b.guard if isinstance(b, defs.Labeled) else None
            if guard is not None and s.kind == "concat":  # a concat's optional branch: one it has or not
                branches.append((defs.If(((guard, (defs.Labeled(b.label, None, b.body, b.inline, b.span),)),), (), b.span), None))
                continue
            if guard is not None:
                b = defs.Labeled(b.label, None, b.body, b.inline, b.span)
            branches.append((b, guard))
        x = flow.var
        results: list[tuple[str, ast.expr | None, Flow]] = []  # (variable, guard as Python, flow)
        count = flow.count
        taken_vars = {x}
        frame.joining += 1
        for b, guard in branches:
            if isinstance(b, (defs.Repeat, defs.For)) and refs_only(b.body) and s.kind == "concat":
                results.append(self._loop_of_refs(b, flow, frame))
                continue
            if isinstance(b, (defs.If, defs.Repeat, defs.For)):  # into the list the one before collects into, if it does
                into = results[-1][2] if results and results[-1][0] == f"*{results[-1][2].var}" and isinstance(results[-1][2].channels, ast.Name) else None
                end = self._branches_collected(b, replace(flow, count=count), frame, init, fwd, taken_vars, into, summed=s.kind != "concat")
                results[len(results) - (into is not None) :] = [(f"*{end.var}", None, end)]
                count = end.count
                continue
            b_init: list[ast.stmt] = []
            b_fwd: list[ast.stmt] = []
            end = self._branch(b, replace(flow, count=count), frame, b_init, b_fwd, taken_vars)
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
        for n in self.by_site.get(s.key, []):
            why = layout_refusal(n, self.g, self.axes)
            if why is not None:
                raise Unsupported(why, s.span)
        fixed = [v for v, g, _ in results if g is None]
        optional = [(v, g) for v, g, _ in results if g is not None]
        collected = [v[1:] for v in fixed if v.startswith("*")]
        if optional and collected:
            raise Unsupported(f"{_article(kind)} with an optional branch and a loop or an if among its branches", s.span)
        if not optional and collected and kind in ("add", "mul"):
            fwd.append(assign(flow.out, self._summed(kind, fixed, collected, x)))
        elif not optional:
            vars_ = [v for v in fixed]
            if kind in ("add", "mul") and len(vars_) < 2:
                vars_.insert(0, x)
            expr = ast.parse(record.join(vars_), mode="eval").body
            if len(vars_) == 1 and vars_[0].startswith("*"):  # only the collected ones (a list, or a comprehension of kept values): torch.cat(outs, 1)
                expr = call("torch.cat", ast.parse(vars_[0][1:], mode="eval").body, const(1))
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
        elif kind in ("add", "mul") and len(fixed) >= 2:  # RepVGG's dense + 1x1 (+ identity where the shape is kept)
            fwd.append(assign(flow.out, ast.parse(record.join(fixed), mode="eval").body))
            for v, cond in optional:  # each where it exists, after the fixed ones
                fwd.append(ast.If(copy.deepcopy(cond), [assign(flow.out, ast.parse(record.join([flow.out, v]), mode="eval").body)], []))
        else:
            raise Unsupported(f"{_article(kind)} with optional branches other than one beside one fixed branch or beside two or more", s.span)
        channels = self._join_channels(kind, results, flow)
        ranks = {r.rank for _, _, r in results}
        target = flow.target if flow.prefix is not None else None  # members after it go where those before went
        frame.joining -= 1
        return Flow(channels, ranks.pop() if len(ranks) == 1 else flow.rank, count, target, flow.out, flow.out, True, flow.prefix)

    @staticmethod
    def _summed(kind: str, fixed: list[str], collected: list[str], x: str) -> ast.expr:
        """An add (a mul) some of whose branches a loop or an if collected in a list: the fixed
        branches and `sum(outs)` (`math.prod(outs)`) in the spec's order. The number of branches
        is known only when forward runs, and with fewer than two the input is the other operand, as
        the language has it: `a + sum(outs) if outs else x + a`; `sum(outs) if len(outs) > 1 else x + sum(outs)`."""
        op, reduce = (ast.Add(), "sum") if kind == "add" else (ast.Mult(), "math.prod")
        terms = [call(reduce, name(v[1:])) if v.startswith("*") else name(v) for v in fixed]
        whole = terms[0]
        for t in terms[1:]:
            whole = ast.BinOp(whole, op, t)
        plain = [v for v in fixed if not v.startswith("*")]
        if len(plain) >= 2:
            return whole
        lists = [name(v) for v in collected]
        if plain:  # one fixed branch: two or more where any was collected
            test = ast.BoolOp(ast.Or(), lists) if len(lists) > 1 else lists[0]
            return ast.IfExp(test, whole, ast.BinOp(name(x), op, name(plain[0])))
        size = call("len", lists[0])
        for more in lists[1:]:
            size = ast.BinOp(size, ast.Add(), call("len", more))
        return ast.IfExp(ast.Compare(size, [ast.Gt()], [const(1)]), whole, ast.BinOp(name(x), op, whole))

    def _branch(self, b, flow: Flow, frame: Frame, init: list, fwd: list, taken_vars: set[str]) -> Flow:
        """One branch of a join, from the value flowing in, computed in a local of its own
        (named after its label): its members into `init`, its steps into `fwd`."""
        var = free_name(branch_name(b), frame.fwd_used | taken_vars)
        taken_vars.add(var)
        frame.fwd_used.add(var)
        start = Flow(flow.channels, flow.rank, flow.count, flow.target if flow.prefix is not None else None, flow.var, var, False, prefix=flow.prefix)
        level = isinstance(b, defs.Line) and len(b.items) > 1  # a numbered level of its own, as the analysis names it
        if level and isinstance(b.items[0], defs.Ref):  # `@skip; conv(...)`: from that value, which takes no position
            start = replace(self._ref(b.items[0], start, frame, fwd), out=var)
            b = defs.Line(b.items[1:], b.span)
        if level and (len(b.items) > 1 or not _stateless_op(b.items[0])):  # `@skip; conv(...)` too: its conv is the level's `0.0`
            return self._level(None, (b,), start, frame, init, fwd, b.span)
        return self._stmt(b, start, frame, init, fwd)

    def _branches_collected(self, b, flow: Flow, frame: Frame, init: list, fwd: list, taken_vars: set[str], into: Flow | None = None, summed: bool = False) -> Flow:
        """A loop or an if among a concat's branches (ASPP's `for r in rates: conv(c, 3,
        padding=r, dilation=r)`): each statement of its body a branch, once an iteration or where
        its test holds; forward collects their outputs in a list, as torchvision's ASPP does
        (`torch.cat([branch, *outs], 1)`), and __init__ sums their channels (both go on with
        those of `into`, the collected branches right before). Among an add's or a mul's
        branches (`summed`), the channels are the last branch's, as every branch's are the same."""
        if into is not None:
            outs, total = into.var, into.channels.id  # type: ignore[attr-defined]
        else:
            outs = free_name("outs", frame.fwd_used | taken_vars)
            taken_vars.add(outs)
            frame.fwd_used.add(outs)
            total = frame.internal("branch_channels" if summed else "concat_channels")
            init.append(assign(total, copy.deepcopy(flow.channels) if summed else const(0)))
            fwd.append(ast.AnnAssign(ast.Name(outs, ast.Store()), ast.Subscript(name("list"), attr("torch", "Tensor"), ast.Load()), ast.List([], ast.Load()), 1))
        x = flow.var

        def write(body: tuple, inner: Flow, frame: Frame, i: list, f: list | None) -> Flow:
            count = inner.count
            for st in body:
                end = self._branch(st, replace(inner, count=count, var=x), frame, i, f, set(taken_vars))  # type: ignore[arg-type]
                f.append(expr_stmt(call(attr(outs, "append"), name(end.var))))  # type: ignore[union-attr]
                i.append(assign(total, end.channels if summed else ast.BinOp(name(total), ast.Add(), end.channels)))
                count = end.count
            return replace(inner, count=count, var=x, out=x, fresh=False)

        start = replace(flow, var=x, out=x, fresh=False)
        if isinstance(b, defs.If):
            if any(self._may_move_spatial(body) for body in [*(body for _, body in b.branches), b.orelse]):
                frame.spatial_reads(*(c for c, _ in b.branches))
            end = self._if(list(b.branches), b.orelse, start, frame, init, fwd, write=write)
        else:
            target, targets, iterable = self._loop_header(b, frame, branches=True)
            end = self._loop(target, iterable, b.body, targets, start, frame, init, fwd, b, write=write)
        return replace(end, channels=name(total), var=outs)

    def _loop_of_refs(self, loop: defs.Repeat | defs.For, flow: Flow, frame: Frame) -> tuple[str, None, Flow]:
        """`for i in range(n): @"y{i}"` among a concat's branches (C2f's): the values it reads, as
        one starred comprehension in the `torch.cat` list, and their channels summed."""
        before = dict(frame.vars)  # a comprehension's names end with it
        target, targets, init_iter = self._loop_header(loop, frame, branches=True)
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


def _article(kind: str) -> str:
    return f"an {kind}" if kind == "add" else f"a {kind}"


def _stateless_op(item) -> bool:
    """An op that holds no tensors (`crop`, `relu`): after `@skip;` it is a call in forward, where
    its position in the branch names nothing in the state_dict."""
    return isinstance(item, defs.Call) and item.kind == "op" and item.callee in LOWERINGS and LOWERINGS[item.callee].state is None
