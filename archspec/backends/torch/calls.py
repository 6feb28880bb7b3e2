"""The Writer's calls: an op (through its record in `lowering.LOWERINGS`), a block, a splice.

A part of `classes.Writer`. Sizes are the spec's expressions; a `flatten` takes its spatial size
from the graph, and the spatial sizes that reach it are tracked (`Frame.spatial`) so that the
network's constructor can refuse parameters that would change it.
"""

from __future__ import annotations

import ast
import math
from dataclasses import replace

from archspec.backends.torch.annotations import int_valued
from archspec.backends.torch.lowering import LOWERINGS, layout_refusal
from archspec.backends.torch.ops import agreed, bind_args, constructor, drop_inplace, is_inplace, is_literal, synthetic_node
from archspec.backends.torch.python import (
    Translator,
    assign,
    attr,
    call,
    const,
    fold,
    identifier,
    name,
    names_in,
    plain_attribute,
    substitute,
)
from archspec.backends.torch.scope import IN, Emitted, Flow, Frame, advance, free_name
from archspec.backends.unsupported import Unsupported
from archspec.ir import Node, defs
from archspec.ir import expr as irx
from archspec.ops import OPS


class Calls:
    """A part of `classes.Writer`; see the module's docstring."""

    def _op(self, c: defs.Call, flow: Flow, frame: Frame, init: list, fwd: list | None, label) -> Flow:
        record = LOWERINGS[c.callee]
        nodes = self.by_site.get(c.key, [])
        exprs = bind_args(c, [a.name for a in OPS[c.callee].attrs])
        if "like" in exprs and (not is_literal(exprs["like"]) or c.key in frame.sized_in_forward):
            return self._sized_like(c, exprs, nodes, flow, frame, fwd, label)
        if "like" in exprs and frame.spatial is not None:  # the size of that value, a number of the file: it holds while what that depended on does
            frame.fixed |= _like_spatial(exprs["like"], frame)
        node = nodes[0] if nodes else synthetic_node(c, flow.rank)

        def arg_py(n: str) -> ast.expr:
            if n in exprs and not is_literal(exprs[n]):
                return self._expr(exprs[n], frame)
            return const(agreed(nodes, n, c) if nodes else node.attrs[n], pairs=True)

        ctor = constructor(c, node, flow.channels, arg_py, lambda e: self._expr(e, frame), lambda e: int_valued(e, frame.ints))
        module = ctor.module
        if ctor.helper is not None:
            self.helpers.add(ctor.helper)
        channels = record.channels(flow.channels, arg_py) if record.channels is not None else flow.channels
        # torch.chunk's parts where some instance splits unevenly, or where the channels flowing in are
        # computed: another constructor argument may make them uneven (`c // 4` is not the first of 10's 3)
        if record.uneven is not None and (names_in(flow.channels) or any(record.uneven[0](n, self.g.nodes[n.inputs[0]].shape) for n in nodes)):
            channels = record.uneven[1](flow.channels, arg_py)
        for n in nodes:
            why = layout_refusal(n, self.g, self.axes)
            if why is not None:
                raise Unsupported(why, c.span)
        op = OPS[c.callee]
        # a fixed output size: what came before no longer matters, unless another branch of a join
        # passes it on (SE's `mul: identity; _: adaptive_avgpool(1) ...`); a value kept before and
        # read later brings its own back (`NamedValues._ref`)
        if frame.spatial is not None and op.fixes_spatial and frame.depth == 0 and not frame.joining and not frame.params_in_args(c):
            frame.spatial.clear()
        else:  # the arguments that set the spatial size (a window's kernel, stride, padding)
            frame.spatial_reads(*(e for n, e in exprs.items() if n in op.spatial))
        if record.flattens:
            pooled = self._pooled(c, nodes, frame)
            channels = _mul(_mul(flow.channels, pooled[0]), pooled[1]) if pooled is not None else self._flatten(flow, nodes, c)
            if frame.spatial and pooled is None:  # the size it multiplies in (1 too) holds while what it depends on does
                frame.fixed |= frame.spatial
        rank = (record.rank(node) if record.rank is not None else None) or flow.rank
        channels = fold(channels)
        overwritable = record.overwritable
        if record.module is not None and is_inplace(module) and not flow.fresh:
            module = drop_inplace(module)
        stateless = record.state is None and not ctor.computed  # computed arguments need the module
        if fwd is not None and label is None and stateless and record.call is not None:
            x = flow.var
            inplace = record.call_inplace is not None and flow.fresh
            text = (record.call_inplace if inplace else record.call)(node, x)
            expr = ast.parse(text, mode="eval").body
            if not (isinstance(expr, ast.Name) and expr.id == x):
                fwd.append(assign(flow.out, expr))
                flow = replace(flow, var=flow.out)
            flow = replace(flow, count=advance(flow.count))
            return replace(flow, channels=channels, rank=rank, fresh=False)
        if record.apply is not None:  # a parameter of this block (`self.layer_scale`), applied in forward
            if fwd is None or flow.target is not None or not (isinstance(label, str) and plain_attribute(label)):
                raise Unsupported(f"{c.written} without a label, or outside a block with a forward: it is a parameter of its block", c.span)
            init.append(assign(attr("self", label), module))
            fwd.append(assign(flow.out, ast.parse(record.apply(f"self.{label}", flow.var), mode="eval").body))
            return replace(flow, channels=channels, rank=rank, var=flow.out, count=advance(flow.count), fresh=False)
        out = replace(flow, channels=channels, rank=rank)
        out = self._add_member(label, module, out, frame, init, fwd, flow)
        return replace(out, fresh=overwritable)

    def _sized_like(self, c: defs.Call, exprs: dict, nodes: list[Node], flow: Flow, frame: Frame, fwd: list | None, label) -> Flow:
        """`crop(like="up{i}")`, `upsample(like=...)` of a value named in a loop (a U-Net's decoder
        written as one), or a literal like= whose instances take other sizes (a block called at
        two): forward reads the size from the value itself, `center_crop(x, values[f'up{i}'])`,
        not from a number of the graph."""
        if fwd is None or frame.tops is None:
            raise Unsupported(f"{c.written} with a like= sized in forward, where this class cannot keep values by name", c.span)
        if label is not None:
            raise Unsupported(f"a label on {c.written} with a like= sized in forward (it is a call in forward, no member): name the value after it", c.span)
        for arg, e in exprs.items():
            if arg != "like" and not is_literal(e):
                raise Unsupported(f"'{arg}' of {c.written} computed from parameters beside a like= sized in forward", c.span)
        like = self._like_value(c, exprs["like"], frame)
        if c.callee == "crop":
            self.helpers.add("center_crop")
            value = call("center_crop", name(flow.var), like)
        else:
            node = nodes[0] if nodes else synthetic_node(c, flow.rank)
            a = {k: agreed(nodes, k, c) if nodes else node.attrs[k] for k in ("mode", "align_corners")}
            size = ast.Subscript(attr(like, "shape"), ast.Slice(ast.UnaryOp(ast.USub(), const(2)), None, None), ast.Load())
            keywords = {"size": size, "mode": const(a["mode"])} | ({"align_corners": const(a["align_corners"])} if a["mode"] == "bilinear" else {})
            value = call("F.interpolate", name(flow.var), **keywords)
        if frame.spatial is not None:  # the size of the value it names, with what that depended on
            frame.spatial |= _like_spatial(exprs["like"], frame)
        fwd.append(assign(flow.out, value))
        return replace(flow, var=flow.out, count=advance(flow.count), fresh=False)

    def _like_value(self, c: defs.Call, like: irx.Expr, frame: Frame) -> ast.expr:
        """The tensor a like= names, in forward: the local that keeps a literal name's value
        (`identity` for "input"), or the dict entry of a computed one (`values[f'up{i}']`)."""
        if is_literal(like):
            spec_name = like.value  # type: ignore[attr-defined]
            if spec_name in frame.named:
                return name(frame.named[spec_name][0])
            if frame.kept is None or spec_name not in frame.computed:
                raise Unsupported(f"like=\"{spec_name}\" of {c.written}, whose value this class does not keep", c.span)
            return ast.Subscript(name(frame.kept[0]), const(spec_name), ast.Load())
        outer = irx.free_names(like) & set(self.defs.globals.get(frame.file, {})) - frame.loop_vars
        if outer:  # forward keeps only the values the compiled parameters name
            raise Unsupported(f"like= of {c.written} computed from the file's parameter '{sorted(outer)[0]}': another value of it would name a value forward does not keep", c.span)
        tensors, _ = self._kept(frame)
        return ast.Subscript(name(tensors), self._fwd(like, frame), ast.Load())

    def _pooled(self, c: defs.Call, nodes: list[Node], frame: Frame) -> tuple[ast.expr, ast.expr] | None:
        """The spatial size a flatten multiplies in, where the spec computes it: in every instance
        the flatten flattens an adaptive pool of the same statement, scope and definition (a pool
        in a spliced block reads the block's names) whose size reads a
        name (SPP-net's `for b in levels: adaptive_maxpool(b); flatten`): (b, b), or (h, w) as
        written. None elsewhere: the graph's number is the size."""
        pools = [self.g.nodes[n.inputs[0]] for n in nodes]
        if not pools or len({p.site for p in pools}) != 1 or any(p.scope != n.scope for p, n in zip(pools, nodes, strict=True)):
            return None
        found, own = self._call_at(pools[0].site), self._call_at(c.key)
        if found is None or own is None or found[0] != own[0]:
            return None
        pool = found[1]
        if pool.kind != "op" or not OPS[pool.callee].fixes_spatial:
            return None
        size = bind_args(pool, [a.name for a in OPS[pool.callee].attrs]).get("size")
        if size is None or is_literal(size):
            return None
        if isinstance(size, irx.TupleOf) and len(size.items) == 2:
            h, w = size.items
            return self._expr(h, frame), self._expr(w, frame)
        if int_valued(size, frame.ints):
            return self._expr(size, frame), self._expr(size, frame)
        return None

    def _call_at(self, key: str) -> tuple[str, defs.Call] | None:
        """The call statement of a key (`call@net.arch:9:5`) and the definition it is in ("" for
        the network); None for another statement's key (a join's)."""
        if self.calls_by_key is None:
            bodies = {"": self.defs.network.body, **{n: b.body for n, b in self.defs.blocks.items()}}
            self.calls_by_key = {s.key: (n, s) for n, body in bodies.items() for s in defs.walk(body) if isinstance(s, defs.Call)}
        return self.calls_by_key.get(key)

    def _flatten(self, flow: Flow, nodes: list[Node], c: defs.Call) -> ast.expr:
        nodes = nodes or [n for n in self.g.idle if n.site == c.key]  # an `idle` member's: built, never run
        spatial = {math.prod(self._spatial_shape(n.inputs[0])) for n in nodes}  # the axes beside the channels, wherever they are
        if len(spatial) != 1:
            raise Unsupported("a flatten whose input size differs between instances" if spatial else "a flatten no instance reaches", c.span)
        (s,) = spatial
        if s == 1:
            return flow.channels
        shape = self._spatial_shape(nodes[0].inputs[0])
        return ast.BinOp(ast.BinOp(flow.channels, ast.Mult(), const(shape[0])), ast.Mult(), const(shape[1])) if len(shape) == 2 else _mul(flow.channels, const(s))

    def _spatial_shape(self, node_id: int) -> tuple[int, ...]:
        """A value's shape without its channels' axis (`lowering.channel_axes`): (H, W) of [C, H, W] or [H, W, C]."""
        shape = self.g.node(node_id).shape
        axis = self.axes[node_id] if len(shape) == 3 else 0
        return shape[:axis] + shape[axis + 1 :]

    def _block_call(self, c: defs.Call, flow: Flow, frame: Frame, init: list, fwd: list | None, label) -> Flow:
        em = self.block(c.callee)
        d = self.defs.blocks[c.callee]
        bound = bind_args(c, [p.name for p in d.params])
        defaults = {p.name: p.default for p in d.params if p.default is not None}
        frame.fixed |= self._call_fixes(em, bound, defaults, d.file == frame.file, frame)
        self._call_moves(em, bound, defaults, d.file == frame.file, frame, [a.value for a in c.args])
        args, kwargs = self._call_args(c, em, frame, d)
        if em.takes_in:
            args.insert(0, flow.channels)
        module = call(em.name, *args, **kwargs)
        channels = None
        if em.out is not None:
            values: dict[str, ast.expr] = {IN: flow.channels}
            by_spec: dict[str, ast.expr] = {}
            file_values = self.defs.globals.get(d.file, {})
            for spec, py in em.params:
                if spec in bound:
                    by_spec[spec] = self._expr(bound[spec], frame)
                elif spec in em.globals:
                    by_spec[spec] = self._var(spec, frame) if d.file == frame.file else const(file_values[spec])
                elif spec in defaults:  # the default, over the values of the parameters before it
                    default = Translator(lambda n, span: by_spec[n] if n in by_spec else const(file_values[n]), lambda f, span: _channels_only(f, flow, span))
                    by_spec[spec] = default(defaults[spec])
                values[py] = by_spec[spec]
            channels = substitute(em.out, values)
        return self._member_with_out(label, module, em, channels, flow, frame, init, fwd)

    def _call_args(self, c: defs.Call, em: Emitted, frame: Frame, d: defs.BlockDef) -> tuple[list, dict]:
        args = [self._expr(a.value, frame) for a in c.args if a.name is None]
        kwargs = {dict(em.params).get(a.name, identifier(a.name)): self._expr(a.value, frame) for a in c.args if a.name is not None}
        if d.file == frame.file:  # the same file's parameters: the caller has them too (the network: as arguments)
            for g in em.globals:
                kwargs[dict(em.params)[g]] = self._var(g, frame)
        return args, kwargs

    def _splice(self, c: defs.Call, flow: Flow, frame: Frame, init: list, fwd: list | None) -> Flow:
        """`*block(...)`: the block's statements, written in place with its arguments as local names."""
        d = self.defs.blocks[c.callee]
        bound = bind_args(c, [p.name for p in d.params])
        inner = Frame({}, flow.channels, [], frame.used, set(), frame.attrs, frame.globals, d.file, {}, frame.depth, frame.fwd_used)
        inner.reserved, inner.channel_vars = frame.reserved | {identifier(n) for n in defs.bound_names(d.body)}, frame.channel_vars
        inner.spatial, inner.fixed, inner.network_params = frame.spatial, frame.fixed, frame.network_params
        inner.in_spatial = set(frame.spatial or ())  # `in` is what flows into the splice
        inner.in_axes = [2] if any(self.axes.values()) else []  # where its channels are is not followed here: with any channels last, in.channels is refused
        inner.depends = {p.name: frame.params_in(bound[p.name]) if p.name in bound else set() for p in d.params}
        # the values it names and reads are the caller's (the analysis names them in the caller's scope)
        inner.wanted, inner.read, inner.named, inner.computed, inner.computed_reads = frame.wanted, frame.read, frame.named, frame.computed, frame.computed_reads
        inner.kept, inner.tops, inner.joining, inner.kept_spatial = frame.kept, frame.tops, frame.joining, frame.kept_spatial
        if not isinstance(flow.channels, (ast.Name, ast.Constant)):
            var = frame.channels_var()
            init.append(assign(var, flow.channels))
            flow = replace(flow, channels=name(var))
            inner.in_channels = name(var)
        for p in d.params:
            if p.name in bound:
                value = self._expr(bound[p.name], frame)
            else:
                value = self._expr(p.default, inner)
            if isinstance(value, (ast.Name, ast.Constant)):
                inner.vars[p.name] = value
            else:
                py = free_name(identifier(p.name), frame.used)
                frame.used.add(py)
                init.append(assign(py, value))
                inner.vars[p.name] = name(py)
        out = self._stmts(d.body, flow, inner, init, fwd)
        frame.kept = inner.kept  # made while writing the splice, if it kept values by computed names
        return out



def _mul(a: ast.expr, b: ast.expr) -> ast.expr:
    return fold(ast.BinOp(a, ast.Mult(), b))


def _like_spatial(like: irx.Expr, frame: Frame) -> set[str]:
    """What the spatial size of the value a like= names depended on: the input's, a literal name's
    as kept (`NamedValues._keep_spatial`), or for a computed name any kept one's."""
    if not is_literal(like):
        return set().union(*frame.kept_spatial.values())
    named = like.value  # type: ignore[attr-defined]
    return set(frame.in_spatial) if named == "input" else set(frame.kept_spatial.get(named, set()))


def _channels_only(f: str, flow: Flow, span) -> ast.expr:
    """`in.channels` of a callee's default, seen from its caller: the channels flowing in."""
    if f in ("channels", "features"):
        return flow.channels
    raise Unsupported(f"a default that reads in.{f}", span)
