"""The Writer's containers: named levels (`features:`) and how a member joins its container.

A part of `classes.Writer`: a level is an `nn.Sequential`, a class of its own when it joins, or
written into its parent's forward when values made inside it are read outside it.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from archspec.backends.torch.annotations import annotation
from archspec.backends.torch.body import computed_likes, has_join, reads_outer_values, spliced
from archspec.backends.torch.names import class_name, local_name, snake_case
from archspec.backends.torch.python import assign, attr, call, const, expr_stmt, name, names_in, plain_attribute, substitute
from archspec.backends.torch.scope import IN, Emitted, Flow, Frame, Position, advance, position_name
from archspec.backends.torch.tidy import appends, is_self
from archspec.backends.torch.values import may_be_read
from archspec.backends.unsupported import Unsupported
from archspec.ir import defs
from archspec.ir import expr as irx


class Levels:
    """A part of `classes.Writer`; see the module's docstring."""

    def _level(self, label, body: tuple, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A named level (`features:`, a numbered branch): an nn.Sequential, or a class of its own if it joins."""
        seen = spliced(body, self.defs.blocks)  # a spliced block's joins and names are the level's
        if fwd is not None and (self._makes_read_values(seen, frame) or reads_outer_values(seen) or computed_likes(seen)):
            return self._level_inline(label, body, flow, frame, init, fwd)
        if has_join(seen):
            return self._level_class(label, body, flow, frame, init, fwd, span)
        local = frame.internal(local_name(label))
        inner = Flow(flow.channels, flow.rank, 0, name(local))
        built: list[ast.stmt] = []
        inner = self._stmts(body, inner, frame, built, None)
        out = Flow(inner.channels, inner.rank, flow.count, flow.target, flow.var, flow.out, False, flow.prefix)
        items = appends(built, local)
        if items is not None:  # a plain chain: nn.Sequential(a, b, c)
            return self._add_member(label, call("nn.Sequential", *items), out, frame, init, fwd, flow)
        init.append(assign(local, call("nn.Sequential")))
        init.extend(built)
        return self._add_member(label, name(local), out, frame, init, fwd, flow)

    def _makes_read_values(self, body: tuple, frame: Frame) -> bool:
        """Whether a level names a value that is read outside it (`encoder:` making the skips)."""
        for s in defs.walk(body):
            if isinstance(s, defs.Labeled) and isinstance(s.label, str) and s.label in frame.wanted:
                return True
            if isinstance(s, defs.Bind) and s.name in frame.wanted:
                return True
            if isinstance(s, defs.Labeled) and not isinstance(s.label, str) and may_be_read(s.label, frame):
                return True
            if isinstance(s, defs.Bind) and not isinstance(s.name, str) and may_be_read(s.name, frame):
                return True
        return False

    def _level_inline(self, label, body: tuple, flow: Flow, frame: Frame, init: list, fwd: list) -> Flow:
        """A level whose values are read outside it: its members go into a container (`self.encoder`,
        as the state_dict names them) and the parent's forward calls them one by one, keeping values."""
        local = frame.internal(local_name(label))
        mark = len(init)
        init.append(assign(local, call("nn.Sequential")))
        if label is None:  # a numbered branch (`upsample(like="c{j}"); conv(...)` of a join): by its position
            if flow.count is None:
                raise Unsupported("a numbered member of a class with a forward, after branches that make different numbers of members", None)
            key = position_name(flow.count)
        else:
            key = const(label) if isinstance(label, str) else label
        reach = _member(flow.prefix if flow.prefix is not None else name("self"), label, _in_forward(key, flow.count, label))
        inner = Flow(flow.channels, flow.rank, 0, name(local), flow.var, flow.out, flow.fresh, prefix=reach)
        inner = self._stmts(body, inner, frame, init, fwd)
        count = advance(flow.count)
        if not any(local in names_in(st) for st in init[mark + 1 :]):  # a level of no module (a join): no empty container
            del init[mark]
            frame.used.discard(local)
        elif flow.target is not None:
            init.append(expr_stmt(call(attr(flow.target, "add_module"), key, name(local))))
        elif isinstance(label, str) and plain_attribute(label):
            init.append(assign(attr("self", label), name(local)))
        else:
            init.append(expr_stmt(call(attr("self", "add_module"), key, name(local))))
        return Flow(inner.channels, inner.rank, count, flow.target, inner.var, flow.out, inner.fresh, flow.prefix)

    def _level_class(self, label, body: tuple, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A named level whose body joins: a class written for it, taking the names its body reads."""
        if any(irx.reads_input(e) for st in defs.walk(body) for e in defs.expressions(st)):
            raise Unsupported("`in` inside a level that joins (it is the block's input, and the level becomes a class of its own): assign what it reads outside the level (`c = in.channels`) and use that", span)
        key = f"{span}"
        free = sorted(n for n in defs.free_names(body) if n in frame.vars or n in self.defs.globals.get(frame.file, {}))
        em = self.level_classes.get(key)
        if em is None:
            start = _written(label).split("{")[0]  # "res" of "res{i}"
            stem = start if class_name(start) and not start.isdigit() else "Level"
            globals_values = self.defs.globals.get(frame.file, {})
            types = {n: frame.types.get(n) if n in frame.types else annotation([globals_values[n]]) if n in globals_values else _loop_type(n, frame) for n in free}
            em = self._write(class_name(stem) + "Block", (), body, frame.file, [], extra=free, extra_types=types, docstring=f"The level `{_written(label)}` of {span.file}:{span.line}.", rank=flow.rank)
            self.level_classes[key] = em
        args = [flow.channels] if em.takes_in else []
        kwargs = {py: self._var(spec, frame) for spec, py in em.params}
        bound = {spec: irx.Var(spec) for spec, _ in em.params}
        frame.fixed |= self._call_fixes(em, bound, {}, True, frame)
        self._call_moves(em, bound, {}, True, frame, list(bound.values()))
        module = call(em.name, *args, **kwargs)
        channels = substitute(em.out, {IN: flow.channels, **{py: self._var(spec, frame) for spec, py in em.params}}) if em.out is not None else None
        return self._member_with_out(label, module, em, channels, flow, frame, init, fwd)

    def _member_with_out(self, label, module, em: Emitted, channels, flow: Flow, frame: Frame, init, fwd) -> Flow:
        if channels is None:  # the class knows its output channels only once built: keep it in a variable
            local = frame.module_locals.get(em.name) or frame.internal(snake_case(em.name))
            frame.module_locals[em.name] = local  # each use reads it at once: one name serves every call
            init.append(assign(local, module))
            out = replace(flow, channels=attr(local, "out_channels"), rank=em.rank)
            out = self._add_member(label, name(local), out, frame, init, fwd, flow)
            var = self._channels_var(flow, frame)
            init.append(assign(var, attr(local, "out_channels")))
            return replace(out, channels=name(var), fresh=False)
        out = replace(flow, channels=channels, rank=em.rank)
        return replace(self._add_member(label, module, out, frame, init, fwd, flow), fresh=False)

    def _add_member(self, label, module: ast.expr, out: Flow, frame: Frame, init: list, fwd: list | None, before: Flow) -> Flow:
        """Add a module to the current container (or as an attribute, in a forward class) and call it in forward."""
        if label is None:
            if before.count is None and before.target is None:
                raise Unsupported("a numbered member of a class with a forward, after branches that make different numbers of members", None)
            member_name: ast.expr = position_name(before.count) if before.count is not None else None  # type: ignore[assignment]
        else:
            member_name = const(label) if isinstance(label, str) else label
        count = advance(before.count)
        target = before.target
        if target is not None:
            if label is None and before.prefix is not None:  # forward calls some ops inline: name members by position
                init.append(expr_stmt(call(attr(target, "add_module"), member_name, module)))
            elif label is None:
                init.append(expr_stmt(call(attr(target, "append"), module)))
            elif isinstance(label, str) and plain_attribute(label) and is_self(target):
                init.append(assign(attr("self", label), module))
            else:
                init.append(expr_stmt(call(attr(target, "add_module"), member_name, module)))
            if before.prefix is not None and fwd is not None:  # a level lowered into forward: call the member
                fwd.append(assign(before.out, call(_member(before.prefix, label, _in_forward(member_name, before.count, label)), name(before.var))))
                return replace(out, count=count, var=before.out)
            return replace(out, count=count)
        # a class with a forward: members are attributes
        if isinstance(label, str) and plain_attribute(label):
            init.append(assign(attr("self", label), module))
            ref: ast.expr = attr("self", label)
        else:
            init.append(expr_stmt(call(attr("self", "add_module"), member_name, module)))
            ref = call("getattr", name("self"), _in_forward(member_name, before.count, label))
        fwd.append(assign(before.out, call(ref, name(before.var))))  # type: ignore[union-attr]
        return replace(out, count=count, var=before.out)



def _in_forward(member_name: ast.expr, count, label) -> ast.expr:
    """How forward names a member: as __init__ does, but a computed position from the attributes it keeps."""
    return position_name(count, forward=True) if label is None and isinstance(count, Position) else member_name


def _member(owner: ast.expr, label, key: ast.expr) -> ast.expr:
    """How forward reaches a member of `owner`: `self.conv1`, `self.encoder.layer1`, or with a
    label that is no attribute name, `getattr(self, '0')`."""
    if isinstance(label, str) and plain_attribute(label):
        return attr(owner, label)
    return call("getattr", owner, key)


def _written(label) -> str:
    """A level's label as the spec writes it, for its class's docstring: `res{i}` of the f-string
    that names its members (`f'res{i}'`)."""
    if isinstance(label, str):
        return label
    return "".join(p.value if isinstance(p, ast.Constant) else "{" + ast.unparse(p.value) + "}" for p in label.values)


def _loop_type(n: str, frame: Frame) -> ast.expr | None:
    """The annotation of a name a level reads that is no parameter (a loop's `n`, a local): `int` or
    `tuple[int, ...]` where it holds that wherever it is read (`annotations.int_names`)."""
    if n in frame.ints.scalars:
        return name("int")
    if n in frame.ints.tuples:
        return ast.parse("tuple[int, ...]", mode="eval").body
    return None
