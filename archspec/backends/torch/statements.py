"""The Writer's statements: a definition's lines, labels, `repeat`/`for` loops and `if`s.

A part of `classes.Writer` (a mixin, for one job a file): each method writes one statement into
`__init__` (`init`) and `forward` (`fwd`, None in an `nn.Sequential`) and returns what flows after it.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import replace

from archspec.backends.torch.body import claims
from archspec.backends.torch.ops import is_literal
from archspec.backends.torch.python import assign, call, fold, identifier, name, names_in, same
from archspec.backends.torch.scope import Flow, Frame, Position, bind_target, end_loop, free_name
from archspec.backends.torch.tidy import (
    assigned_names,
    branches_written,
    members_built,
    negate,
    placeholder,
    replace_name,
    tests_needed,
)
from archspec.backends.torch.values import may_be_read
from archspec.backends.unsupported import Unsupported
from archspec.expressions import Env, evaluate
from archspec.ir import defs
from archspec.ir import expr as irx
from archspec.ops import OPS


class Statements:
    """A part of `classes.Writer`; see the module's docstring."""

    def _stmts(self, body: tuple, flow: Flow, frame: Frame, init: list, fwd: list | None) -> Flow:
        for s in body:
            try:
                flow = self._stmt(s, flow, frame, init, fwd)
            except Unsupported as u:
                if u.span is None:  # found below a statement that knows no place: it is this one's
                    u.span = s.span
                raise
        return flow

    def _stmt(self, s, flow: Flow, frame: Frame, init: list, fwd: list | None) -> Flow:
        if isinstance(s, defs.Line):
            for item in s.items:
                flow = self._item(item, flow, frame, init, fwd, None)
            return flow
        if isinstance(s, defs.Labeled):
            return self._labeled(s, flow, frame, init, fwd)
        if isinstance(s, (defs.Repeat, defs.For)):
            target, targets, iterable = self._loop_header(s, frame)
            return self._loop(target, iterable, s.body, targets, flow, frame, init, fwd, s)
        if isinstance(s, defs.If):
            chosen = _decided(s)
            if chosen is not None:  # `if 1:`: only that body is ever built (the other may not even be of the same rank)
                return self._stmts(chosen, flow, frame, init, fwd)
            if any(self._may_move_spatial(b) for b in [*(b for _, b in s.branches), s.orelse]):
                frame.spatial_reads(*(c for c, _ in s.branches))
            return self._if([(c, b) for c, b in s.branches], s.orelse, flow, frame, init, fwd)
        if isinstance(s, defs.Join):
            if fwd is None:
                raise Unsupported("a join in a sequential scope", s.span)
            return self._join(s, flow, frame, init, fwd)
        if isinstance(s, defs.Idle):
            if fwd is None:  # an nn.Sequential runs every member it holds
                raise Unsupported("an idle member inside a sequential level", s.span)
            built = self._stmt(s.item, flow, frame, init, [])  # built in __init__; what forward would do is dropped
            return replace(flow, count=built.count)  # it takes its position, as the analysis numbers the members after it
        raise Unsupported(f"the statement {type(s).__name__}", getattr(s, "span", None))

    def _let_in_forward(self, item: defs.Let, local: str, frame: Frame, fwd: list) -> None:
        """`j = 1 - i` in a loop forward runs too: forward computes it again each iteration (a
        value __init__ kept would be the last iteration's); one that updates a value from before
        the loop (`c = c * 2`) cannot be, and forward may not read it. Forward's copy is left
        out where forward does not read it (`without_unread_lets`)."""
        if item.name in irx.free_names(item.value) and item.name not in frame.fwd_lets:
            frame.stale.add(item.name)
            return
        value = self._fwd(item.value, frame)
        if frame.fwd_lets.get(item.name) != local:  # the name __init__ gives it: a computed label (`f'c{j}'`) reads it in both
            if local in frame.fwd_used:
                raise Unsupported(f"'{item.name}' in a loop, named as a value forward already holds: rename it", item.span)
            frame.fwd_used.add(local)
            frame.fwd_lets[item.name] = local
        st = assign(local, value)
        frame.fwd_let_stmts.append(st)
        fwd.append(st)

    def _item(self, item, flow: Flow, frame: Frame, init: list, fwd: list | None, label, label_span=None) -> Flow:
        if isinstance(item, defs.Let):
            if frame.names_read is not None and item.name not in frame.names_read:  # `h = in.height` nothing reads: nothing to write
                return flow
            py = frame.vars.get(item.name)
            if not isinstance(py, ast.Name) or item.name in frame.loop_vars:
                py = name(free_name(identifier(item.name), frame.used))
                frame.used.add(py.id)
            value = self._expr(item.value, frame)
            if fwd is not None and frame.loop_vars:
                self._let_in_forward(item, py.id, frame, fwd)
            else:  # outside a loop forward reads what __init__ keeps
                frame.fwd_lets.pop(item.name, None)
                frame.stale.discard(item.name)
            frame.vars[item.name] = py
            frame.depends[item.name] = frame.params_in(item.value)
            init.append(assign(py.id, value))
            if frame.depth == 0 and py.id not in frame.lets:
                frame.lets[py.id] = value
            else:
                frame.lets[py.id] = None  # type: ignore[assignment]
            return flow
        if isinstance(item, defs.Check):
            test = self._expr(item.test, frame)
            message = self._expr(item.message, frame) if item.message is not None else ast.Constant("assertion failed")
            init.append(ast.If(negate(test), [ast.Raise(call("ValueError", message), None)], []))
            return flow
        if isinstance(item, defs.Ref):
            return self._ref(item, flow, frame, fwd)
        if isinstance(item, defs.Bind):
            out = self._item(item.call, flow, frame, init, fwd, None)
            if isinstance(item.name, str):
                return self._keep(item.name, out, frame, init, fwd, item.span)
            return self._keep_computed(item.name, out, frame, init, fwd, item.span) if may_be_read(item.name, frame) else out
        c: defs.Call = item
        if c.kind == "op":
            return self._op(c, flow, frame, init, fwd, label)
        if c.kind == "block" and c.splice:
            return self._splice(c, flow, frame, init, fwd)
        if c.kind == "block":
            return self._block_call(c, flow, frame, init, fwd, label)
        raise Unsupported(f"the call of '{c.written}'", c.span)

    def _labeled(self, s: defs.Labeled, flow: Flow, frame: Frame, init: list, fwd: list | None) -> Flow:
        if s.guard is not None:
            if self._may_move_spatial(s.body):
                frame.spatial_reads(s.guard)
            plain = defs.Labeled(s.label, None, s.body, s.inline, s.span)
            return self._if([(s.guard, (plain,))], (), flow, frame, init, fwd)
        label = s.label if isinstance(s.label, str) else self._expr(s.label, frame)
        if label == "_":
            return self._stmts(s.body, flow, frame, init, fwd)
        only = s.body[0] if len(s.body) == 1 else None
        if s.inline and isinstance(only, defs.Line) and len(only.items) == 1 and isinstance(only.items[0], defs.Call) and not only.items[0].splice:
            out = self._item(only.items[0], flow, frame, init, fwd, label)
        else:
            out = self._level(label, s.body, flow, frame, init, fwd, s.span)
        if isinstance(label, str):
            return self._keep(label, out, frame, init, fwd, s.span)
        if may_be_read(s.label, frame):
            return self._keep_computed(s.label, out, frame, init, fwd, s.span)
        return out

    def _loop_header(self, s: defs.Repeat | defs.For, frame: Frame, branches: bool = False) -> tuple[ast.expr, tuple[str, ...], ast.expr]:
        """A loop's target (its names bound in the frame), the spec names it binds, and what
        __init__ iterates: `range(count)` for a repeat. A loop of a join's `branches` runs them
        side by side: how often it runs changes the channels, not the size."""
        if not branches and self._may_move_spatial(s.body):  # how often it runs changes the spatial size
            frame.spatial_reads(s.count if isinstance(s, defs.Repeat) else s.iter)
        if isinstance(s, defs.Repeat):
            return ast.Name("_", ast.Store()), (), call("range", self._expr(s.count, frame))
        targets = defs.target_names(s.target)
        for t in targets:
            frame.depends[t] = frame.params_in(s.iter)
        target = bind_target(s.target, frame)
        return target, targets, self._expr(s.iter, frame, iterated=True)

    def _may_move_spatial(self, body: tuple, within: frozenset[str] = frozenset()) -> bool:
        """Whether running a body once more, or not at all, may change the spatial size flowing: an
        op of it gives, in some instance, a size other than it takes, fixes the size, or runs in no
        instance; or it reads a value kept by name. Only then do a loop's count and an if's test
        move the size (`for j in range(s): conv(c, 3, padding=1)` keeps it, whatever `s` is)."""
        for s in defs.walk(body):
            if isinstance(s, defs.Ref):
                return True
            if not isinstance(s, defs.Call):
                continue
            if s.kind == "block":
                if s.callee in within or self._may_move_spatial(self.defs.blocks[s.callee].body, within | {s.callee}):
                    return True
                continue
            nodes = self.by_site.get(s.key)
            if s.kind != "op" or OPS[s.callee].fixes_spatial or not nodes:
                return True
            if any(n.shape[1:] != self.g.nodes[n.inputs[0]].shape[1:] for n in nodes):
                return True
        return False

    def _fwd_iterable(self, s: defs.Repeat | defs.For, frame: Frame) -> ast.expr:
        """What forward iterates for a loop: its parameters read from the attributes __init__ keeps."""
        return call("range", self._fwd(s.count, frame)) if isinstance(s, defs.Repeat) else self._fwd(s.iter, frame, iterated=True)

    def _loop(self, target, iterable, body, targets, flow: Flow, frame: Frame, init: list, fwd: list | None, s, write=None) -> Flow:
        """`for` in __init__ (and in forward where it runs something), the body written by `write`
        (`_stmts`; a join's loop of branches writes each statement as a branch)."""
        before = dict(frame.vars)
        frame.loop_vars |= set(targets)
        entry = flow.channels
        mark = len(init)
        if write is None:  # a loop of branches leaves the channels as they are
            flow = self._materialize(flow, frame, init, body)
        counter = init[mark] if len(init) > mark else None  # by identity: the body may insert at init's top
        if fwd is not None and flow.var != flow.out:  # each iteration reads what the one before wrote
            fwd.append(assign(flow.out, name(flow.var)))
            flow = replace(flow, var=flow.out)
        inner_init: list[ast.stmt] = []
        inner_fwd: list[ast.stmt] | None = None if fwd is None else []
        start = self._loop_start(flow.count, frame)
        inner = replace(flow, fresh=False, count=start)
        frame.depth += 1
        out = (write or self._stmts)(body, inner, frame, inner_init, inner_fwd)
        frame.depth -= 1
        if not same(out.channels, flow.channels):
            if counter is not None and same(out.channels, entry) and not (names_in(entry) | {flow.channels.id}) & assigned_names(inner_init):
                # every iteration gives what the loop starts with, and nothing inside (an inner loop) updates the count: no variable needed after all
                del init[next(k for k, st in enumerate(init) if st is counter)]
                inner_init = [replace_name(st, flow.channels.id, entry) for st in inner_init]
                if inner_fwd:
                    inner_fwd = [replace_name(st, flow.channels.id, entry) for st in inner_fwd]
                flow = replace(flow, channels=entry)
            else:
                inner_init.append(assign(flow.channels.id, out.channels))
        fwd_iterable = lambda: self._fwd_iterable(s, frame)  # noqa: E731 - built only where forward loops
        if start is None:
            count = None if claims(body) else flow.count
        else:
            target, iterable, fwd_iterable, count = self._positions(s, start, out.count, target, iterable, fwd_iterable, inner_init, inner_fwd or [], frame)
        fwd_target = copy.deepcopy(target)
        init.append(ast.For(target, iterable, inner_init or [ast.Pass()], []))  # unused targets become `_i` once the class is written
        if fwd is not None and inner_fwd:
            fwd.append(ast.For(fwd_target, fwd_iterable(), inner_fwd, []))
        end_loop(frame, targets, before)
        return Flow(flow.channels, out.rank, count, flow.target, out.var, out.out, False, flow.prefix)

    def _loop_start(self, count, frame: Frame) -> Position | None:
        """The position a loop's first iteration starts at: where the loop starts plus a marker
        that `_positions` replaces, once the body has shown how many positions an iteration takes."""
        if count is None:
            return None
        marker = name(frame.internal("__position__"))
        base = count if isinstance(count, Position) else Position(count)
        return Position(base.offset, (*base.terms, (marker, lambda: copy.deepcopy(marker))))

    def _positions(self, s, start: Position, end, target, iterable, fwd_iterable, inner_init: list, inner_fwd: list, frame: Frame):
        """Numbered members inside a loop named by the iteration (`f'{2 * i + 1}'`: a start, and the
        positions an iteration takes times its index), and the position after the loop (`n + 2`).
        Gives the loop's target and iterables (with an index where the names need one) and that count."""
        marker = start.terms[-1][0].id  # type: ignore[attr-defined]
        stmts = [*inner_init, *inner_fwd]
        named = any(marker in names_in(st) for st in stmts)
        bound = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} | assigned_names(inner_init)  # what changes from one iteration to the next
        step = None  # what an iteration adds: the end less the start, if it is the same for every iteration
        if isinstance(end, Position) and [ast.dump(t) for t, _ in end.terms[: len(start.terms)]] == [ast.dump(t) for t, _ in start.terms]:
            step = Position(end.offset - start.offset, end.terms[len(start.terms) :])
            if names_in(step.init()) & bound:  # an inner loop whose count is this one's variable
                step = None
        if step is None:
            if named:
                raise Unsupported(
                    "a numbered (unlabelled) member in this loop, whose iterations make different numbers of members: "
                    "label the members it makes (`\"conv{i}\": conv(...)`), which names them by the label, not by position",
                    None,
                )
            return target, iterable, fwd_iterable, None
        before = Position(start.offset, start.terms[:-1])
        if step == Position(0):
            return target, iterable, fwd_iterable, before if before.terms else before.offset
        runs, fwd_runs = _length(iterable), fwd_iterable  # before an index is bound: `range(n)`, not `enumerate(...)`
        if named:
            index, target, iterable, fwd_iterable = self._indexed(s, target, iterable, fwd_iterable, stmts, frame)
            for st in inner_init:
                replace_name(st, marker, _times(step.init(), name(index)))
            for st in inner_fwd:
                replace_name(st, marker, _times(step.fwd(), name(index)))
        if runs is None:  # how often it runs is Python's to know (a zip): nothing numbered after it
            return target, iterable, fwd_iterable, None
        taken = fold(_times(step.init(), runs))
        if isinstance(taken, ast.Constant):  # `range(3)`: known when the file is written
            return target, iterable, fwd_iterable, Position(before.offset + taken.value, before.terms) if before.terms else before.offset + taken.value
        after = (taken, lambda: fold(_times(step.fwd(), _length(fwd_runs()))))  # type: ignore[arg-type]
        return target, iterable, fwd_iterable, Position(before.offset, (*before.terms, after))

    def _indexed(self, s, target, iterable, fwd_iterable, stmts: list, frame: Frame):
        """A loop's index for the names of its numbered members: its own variable where it counts
        from 0 by 1 (`for j in range(n)`), else one it now binds (`for i in range(n)`, `enumerate`)."""
        if isinstance(target, ast.Name) and target.id != "_" and _counts_from_zero(iterable):
            return target.id, target, iterable, fwd_iterable
        if isinstance(target, ast.Tuple) and isinstance(target.elts[0], ast.Name) and _call_of(iterable, "enumerate"):  # `for i, c in enumerate(...)`
            return target.elts[0].id, target, iterable, fwd_iterable
        taken = frame.used | frame.fwd_used | {n.id for st in stmts for n in ast.walk(st) if isinstance(n, ast.Name)}
        index = free_name("i", taken)
        frame.used.add(index)
        frame.fwd_used.add(index)
        if isinstance(s, defs.Repeat):
            return index, ast.Name(index, ast.Store()), iterable, fwd_iterable
        pair = ast.Tuple([ast.Name(index, ast.Store()), target], ast.Store())
        return index, pair, call("enumerate", iterable), lambda: call("enumerate", fwd_iterable())

    def _materialize(self, flow: Flow, frame: Frame, init: list, body) -> Flow:
        """Before a loop that changes the channels, they become a variable the loop updates."""
        if isinstance(flow.channels, ast.Name) and flow.channels.id in frame.channel_vars:
            return flow
        var = frame.channels_var()
        init.append(assign(var, flow.channels))
        return replace(flow, channels=name(var))

    def _channels_var(self, flow: Flow, frame: Frame) -> str:
        """The variable that takes channels known only once built (or that branches set): the one
        flowing in where it is the container's running count, else a new one."""
        if flow.target is not None and isinstance(flow.channels, ast.Name) and flow.channels.id in frame.channel_vars:
            return flow.channels.id
        return frame.channels_var()

    def _if(self, branches: list, orelse: tuple, flow: Flow, frame: Frame, init: list, fwd: list | None, write=None) -> Flow:
        outs: list[Flow] = []
        inits: list[list] = []
        fwds: list[list] = []
        bodies = [b for _, b in branches] + [orelse]
        used, named = set(frame.fwd_used), set()  # only one branch runs: each may name its locals afresh
        for body in bodies:
            i: list[ast.stmt] = []
            f: list[ast.stmt] | None = None if fwd is None else []
            frame.depth += 1
            frame.fwd_used.clear()  # in place: a splice's frame shares the set with its caller's
            frame.fwd_used.update(used)
            outs.append((write or self._stmts)(body, replace(flow), frame, i, f))
            named |= frame.fwd_used
            frame.depth -= 1
            inits.append(i)
            fwds.append(f or [])
        frame.fwd_used.update(named)
        channels = outs[0].channels
        if not all(same(o.channels, channels) for o in outs):
            var = self._channels_var(flow, frame)
            for o, i in zip(outs, inits):
                if not same(o.channels, name(var)):
                    i.append(assign(var, o.channels))
            channels = name(var)
        counts = {o.count for o in outs}
        tests = [self._expr(c, frame) for c, _ in branches]
        if fwd is not None:  # a member some branches do not build is an empty Sequential there (TorchScript needs it)
            built = [members_built(i) for i in inits]
            everyone = sorted(set().union(*built), key=lambda m: [m in b for b in built].index(True))
            for i, b in zip(inits, built):
                i.extend(placeholder(m) for m in everyone if m not in b)
        keep = tests_needed(inits)
        init.extend(branches_written([tests[k] for k in keep], [inits[k] for k in keep] + [inits[-1]]))
        var = outs[0].var
        if fwd is not None and not all(o.var == var for o in outs):  # one branch leaves a kept value (`@a`), another x: x
            var = flow.out
            for o, f in zip(outs, fwds):
                if o.var != var:
                    f.append(assign(var, name(o.var)))
        if fwd is not None and any(fwds):  # forward tests only what changes the calls it makes, not which module a member is
            keep = tests_needed(fwds)
            fwd.extend(branches_written([self._fwd(branches[k][0], frame) for k in keep], [fwds[k] for k in keep] + [fwds[-1]]))
        ranks = {o.rank for o in outs}
        if len(ranks) > 1:
            raise Unsupported("branches of an if that give values of different rank", None)
        fresh = all(o.fresh for o in outs)
        return Flow(channels, outs[0].rank, counts.pop() if len(counts) == 1 else None, flow.target, var, outs[0].out, fresh, flow.prefix)


def _times(step: ast.expr, index: ast.expr) -> ast.expr:
    """`index`, `2 * index`, `(2 + m) * index`: the positions `index` iterations take."""
    if isinstance(step, ast.Constant) and step.value == 1:
        return index
    return ast.BinOp(step, ast.Mult(), index)


def _counts_from_zero(iterable: ast.expr) -> bool:
    """`range(n)`: its values are the iteration's index."""
    return _call_of(iterable, "range")


def _call_of(e: ast.expr, function: str) -> bool:
    """`function(x)`, of one argument."""
    return isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == function and len(e.args) == 1 and not e.keywords


def _length(e: ast.expr) -> ast.expr | None:
    """How many times a loop over `e` runs: `n` for `range(n)` (a repeat's too), the length of a
    tuple (`len(layers)`, through `enumerate`); None for what only Python knows (a zip)."""
    if _call_of(e, "range"):
        return e.args[0]  # type: ignore[attr-defined]
    if _call_of(e, "enumerate"):
        return _length(e.args[0])  # type: ignore[attr-defined]
    if isinstance(e, ast.Tuple):
        return ast.Constant(len(e.elts))
    if isinstance(e, ast.Call):
        return call("len", e) if isinstance(e.func, ast.Name) and e.func.id == "range" else None
    return call("len", e)


def _decided(s: defs.If) -> tuple | None:
    """The body an `if` runs where its tests are literals (`if 1:`, `elif false:`); None where one reads a name."""
    for test, body in s.branches:
        if not is_literal(test):
            return None
        if evaluate(test, Env({})):
            return body
    return s.orelse
