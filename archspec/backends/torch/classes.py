"""The torch backend's core: each definition of the IR (`archspec.ir.defs`) becomes a class.

One class per block definition, and one for the network, written from the definition
itself: the block's parameters are the constructor's, with the spec's names and defaults;
`if`, `repeat` and `for` stay statements (in `__init__`, and in `forward` where they
decide what runs); sizes are the spec's expressions over those parameters; the channels
flowing in are the constructor's first argument, `in_channels`.

A scope without joins is an `nn.Sequential` (a subclass for a block), its members appended
in order, so that the state_dict names (`features.0`, `layer1.0.conv1`) are those the
elaborator gave. A scope with joins gets a `forward` that mirrors the spec: branches read
the value flowing in, and `torch.cat` or `+` joins them.

A network that is a straight run of named members gets a `forward` too, as torchvision
writes its networks; a class whose members one loop makes, one an iteration, is an
`nn.ModuleDict` iterating `self.items()` (DenseNet's block), so that TorchScript compiles it.

How the pieces fit: `Writer` walks a definition's statements with a `Flow` (what flows: the
channel count as a Python expression, the rank, the next free member position, the
container members join, the forward variable) and a `Frame` (the names of the function
being written). An op's constructor comes from its record in `lowering.LOWERINGS`,
with sizes substituted as expressions and other computed arguments through marker values.

Concrete values come from the flat graph only where the spec leaves them to shapes: the
spatial size a `flatten` multiplies in, `in.height`. Where a definition's instances
disagree on such a value, the backend says so (`Unsupported`) rather than guess; where a
network parameter could change it, the network's constructor refuses other values.
"""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import replace
from typing import Any

from archspec.backends.torch.lowering import HELPERS, LOWERINGS
from archspec.backends.torch.names import attribute_name, branch_name, class_name, literal_start, local_name, snake_case
from archspec.backends.torch.ops import TRACKED_ORDERS, agreed, bind_args, constructor, drop_inplace, is_inplace, is_literal, synthetic_node
from archspec.backends.torch.python import (
    PYTHON_NAMES,
    Translator,
    assign,
    attr,
    call,
    const,
    expr_stmt,
    fold,
    identifier,
    name,
    names_in,
    plain_attribute,
    same,
    substitute,
)
from archspec.backends.torch.scope import IN, IN_SPATIAL, Emitted, Flow, Frame, ancestors, bind_target, end_loop, free_name
from archspec.backends.torch.tidy import (
    appends,
    as_module_dict,
    assigned_names,
    drop_dead_counts,
    if_chain,
    is_self,
    members_built,
    negate,
    placeholder,
    reads_name,
    reads_only,
    register_in_order,
    replace_name,
    retarget,
    unused_as_underscore,
    without_dead_stores,
)
from archspec.backends.unsupported import Unsupported
from archspec.expressions import Env, evaluate
from archspec.ir import Graph, Node, defs
from archspec.ir import expr as irx
from archspec.ops import OPS

# ops whose arguments set the spatial size
_WINDOWS = frozenset({"conv", "dwconv", "maxpool", "avgpool", "conv_transpose", "upsample", "pixel_shuffle", "pad", "crop"})
_RESETS = frozenset({"adaptive_avgpool", "adaptive_maxpool", "global_avgpool", "global_maxpool"})  # ops that fix it
_NOT_SPATIAL = frozenset({"out", "groups", "bias", "multiplier", "value", "mode", "align_corners", "count_include_pad"})  # their arguments that do not


def _mul(a: ast.expr, b: ast.expr) -> ast.expr:
    return fold(ast.BinOp(a, ast.Mult(), b))


class Writer:
    """Writes every class a graph's definitions need, callees first."""

    def __init__(self, graph: Graph):
        self.g = graph
        self.defs = graph.definitions
        self.emitted: dict[str, Emitted] = {}
        self.order: list[Emitted] = []
        self.level_classes: dict[str, Emitted] = {}
        self.class_names: set[str] = set()
        self.helpers: set[str] = set()  # helper classes of lowering.py the modules use (PaddedConv2d, Chunk)
        self.functions: set[str] = set()  # math, make_divisible
        self.outputs_class: str | None = None  # the NamedTuple the network's forward returns, for several outputs
        self.by_site: dict[str, list[Node]] = {}
        for n in graph.nodes:
            if n.site:
                self.by_site.setdefault(n.site, []).append(n)
        self.instances: dict[str, list[str]] = {}
        for s in graph.scopes.values():
            if s.kind == "block":
                self.instances.setdefault(s.block, []).append(s.path)
        self.scope_input: dict[str, tuple[int, ...]] = {}
        for n in graph.nodes[1:]:
            for s in ancestors(n.scope):
                if s not in self.scope_input:
                    self.scope_input[s] = graph.nodes[n.inputs[0]].shape if n.inputs else graph.input_shape

    # ---- classes ----
    def block(self, block: str) -> Emitted:
        if block in self.emitted:
            return self.emitted[block]
        d = self.defs.blocks[block]
        shapes = [self.scope_input.get(p, ()) for p in self.instances.get(block, [])]
        values = {p.name: [self.g.scopes[s].args.get(p.name) for s in self.instances.get(block, [])] for p in d.params}
        em = self._write(
            class_name(d.name), d.params, d.body, d.file, shapes, docstring=f"The block `{d.name}` of {d.span.file}:{d.span.line}.", values=values, members=d.members
        )
        self.emitted[block] = em
        return em

    def network(self, class_: str) -> Emitted:
        net = self.defs.network
        body = net.body
        only = _whole_splice(body)
        if only is not None:  # `*densenet(...)`: the network is that block, with its arguments
            return self._subclass(class_, net, only)
        return self._write(
            class_, net.params, body, net.file, [self.g.input_shape], network=True, docstring=f"The network `{net.name}` of {net.span.file}:{net.span.line}.", members=net.members
        )

    def _write(
        self,
        cls: str,
        params: tuple[defs.Param, ...],
        body: tuple,
        file: str,
        in_shapes: list[tuple[int, ...]],
        network: bool = False,
        docstring: str = "",
        extra: list[str] | None = None,
        values: dict[str, list] | None = None,
        rank: int | None = None,
        members: tuple[str, ...] = (),
    ) -> Emitted:
        """A class for `body`: the constructor takes `in_channels` (unless a network) and `params`."""
        cls = self._unique_class(cls)
        frame, in_name, py_params = self._frame(params, body, file, in_shapes, network, extra or [])
        idle = any(isinstance(x, defs.Idle) for x in defs.walk(body))  # an nn.Sequential would run it
        sequential = not _has_join(body) and not (network and _reads_as_forward(body)) and not frame.wanted and not frame.computed and not idle and not members  # nn.Sequential runs in registration order
        init: list[ast.stmt] = []
        fwd: list[ast.stmt] | None = None if sequential else []
        frame.tops = (init, fwd) if fwd is not None else None
        if rank is None:
            rank = len(in_shapes[0]) if in_shapes and in_shapes[0] else 3
        flow = Flow(frame.in_channels, rank, 0, name("self") if sequential else None)
        if "input" in frame.wanted and fwd is not None:  # `@input`: forward's argument, kept before x is reassigned
            start = self._keep("input", replace(flow, var="_"), frame, init, fwd, None)
            fwd[-1] = assign(start.var, name("x"))
        flow = self._stmts(body, flow, frame, init, fwd)
        globals_ = sorted(frame.globals)  # the file's parameters it read: keyword parameters after the others
        py_params += [(g, frame.vars[g].id) for g in globals_]  # type: ignore[attr-defined]
        out = flow.channels
        for _ in range(8):  # a local assigned once at the top stands for its value
            lets = {k: v for k, v in frame.lets.items() if v is not None}
            if not names_in(out) & set(lets):
                break
            out = substitute(out, lets)
        closed = reads_only(out, {frame.vars[p].id for p, _ in py_params if isinstance(frame.vars.get(p), ast.Name)} | {in_name})  # type: ignore[union-attr]
        if not network and not closed:
            init.append(assign(attr("self", "out_channels"), out))
        for spec, a in frame.attrs.items():
            init.append(assign(attr("self", a), frame.vars[spec] if spec in frame.vars else name(spec)))
        args, arg_defaults, prologue = self._signature(params, extra or [], dict(py_params), globals_, frame, network, values or {}, in_name)
        init[:0] = prologue
        init[:] = drop_dead_counts(init)
        if members:
            register_in_order(init, members)
        if network:  # a size taken from the graph holds for the values these had when compiled
            init[len(prologue) : len(prologue)] = self._fixed_checks(frame.fixed, frame)
        super_call = expr_stmt(call(attr(call("super"), "__init__")))
        items = appends(init, "self") if sequential else None
        if items is not None:  # a plain chain: its layers go straight to nn.Sequential
            super_call, init = expr_stmt(call(attr(call("super"), "__init__"), *items)), []
        init_fn = ast.FunctionDef("__init__", ast.arguments([], [ast.arg("self")] + args, None, [], [], None, arg_defaults), [super_call] + init, [], ast.Constant(None))
        class_body: list[ast.stmt] = [expr_stmt(ast.Constant(docstring))] if docstring else []
        class_body.append(init_fn)
        base = attr("nn", "Sequential") if sequential else attr("nn", "Module")
        if fwd is not None:
            class_body.append(self._forward(cls, fwd, flow, frame, network))
            if as_module_dict(init_fn.body, class_body[-1].body):  # type: ignore[attr-defined]
                base = attr("nn", "ModuleDict")
            class_body[-1].body = without_dead_stores(class_body[-1].body)  # type: ignore[attr-defined]
        source = ast.ClassDef(cls, [base], [], class_body, [])
        takes_in = not network and reads_name(init_fn, in_name)
        deps = frozenset() if network else frozenset(frame.fixed)
        em = Emitted(cls, py_params, globals_, takes_in, substitute(out, {in_name: name(IN)}) if closed else None, flow.rank, sequential, source, deps)
        if not takes_in and not network:
            init_fn.args.args = [a for a in init_fn.args.args if a.arg != in_name]
        self.order.append(em)
        return em

    def _frame(self, params, body: tuple, file: str, in_shapes, network: bool, extra: list[str]) -> tuple[Frame, str, list[tuple[str, str]]]:
        """The names a class's functions start with: its parameters' Python names (first the
        spec's `params`, then `extra`), the channels flowing in, and the values the body reads by name."""
        frame = Frame({}, name("in_channels"), in_shapes, file=file)
        frame.used |= PYTHON_NAMES | self.class_names
        spec_names = defs.bound_names(body) | {p.name for p in params} | set(extra)
        in_name = free_name("in_channels", {identifier(n) for n in spec_names})
        frame.used.add(in_name)
        frame.reserved = {identifier(n) for n in spec_names} | (defs.free_names(body) & set(self.defs.globals.get(file, {})))
        if network:
            frame.in_channels = const(self.g.input_shape[0])
            frame.spatial, frame.network_params = set(), frozenset(p.name for p in params)
        else:  # what a block's sizes depend on: the size flowing in, its parameters, its file's
            frame.in_channels = name(in_name)
            frame.spatial, frame.in_spatial = {IN_SPATIAL}, {IN_SPATIAL}
            frame.network_params = frozenset([p.name for p in params] + extra + list(self.defs.globals.get(file, {})))
        py_params: list[tuple[str, str]] = []
        for n in [p.name for p in params] + extra:
            py = free_name(identifier(n), frame.used)
            frame.used.add(py)
            frame.vars[n] = name(py)
            py_params.append((n, py))
        refs = defs.refs(body)
        frame.read = {r.name for r in refs if isinstance(r.name, str)}
        frame.computed = {literal_start(r.name) for r in refs if not isinstance(r.name, str)}
        made = {n for n in map(defs.name_made, defs.walk(body)) if n is not None}
        # a literal `@box0` of a value only a computed name makes (`"box{i}" = ...`): read from the dict
        frame.computed |= {r.name for r in refs if isinstance(r.name, str) and r.name not in made and r.name != "input"}
        frame.computed_reads = {n for r in refs if not isinstance(r.name, str) for n in self.g.ref_names.get(r.key, ())}
        frame.wanted = set(frame.read)
        if network and self.g.outputs:
            frame.wanted |= {n for n, _ in self.g.outputs}
        return frame, in_name, py_params

    def _signature(self, params, extra: list[str], py_of: dict[str, str], globals_: list[str], frame: Frame, network: bool, values: dict[str, list], in_name: str):
        """`__init__`'s arguments with their annotations and defaults, and the statements that compute
        the defaults Python cannot write (`b=a * 2`: `None`, then `if b is None: b = a * 2`)."""
        globals_values = self.defs.globals.get(frame.file, {})
        args = [] if network else [ast.arg(in_name, name("int"))]
        for p in params:
            seen = values.get(p.name) or []
            kind = _annotation(seen) if seen and len({type(v) for v in seen}) == 1 else None
            args.append(ast.arg(py_of[p.name], _annotation_of(p, globals_values) or kind))
        args += [ast.arg(py_of[n], None) for n in extra]
        arg_defaults: list[ast.expr] = []
        prologue: list[ast.stmt] = []
        for p in params:
            if p.default is None:
                if arg_defaults:
                    raise Unsupported(f"parameter '{p.name}' without a default follows one with a default", p.span)
                continue
            literal = self._default(p, globals_values, network)
            if literal is None:  # `b=a * 2`: Python defaults cannot read other parameters, so None stands for it
                arg_defaults.append(ast.Constant(None))
                py = frame.vars[p.name]
                prologue.append(self._computed_default(p, py, frame))  # type: ignore[arg-type]
                args[[a.arg for a in args].index(py.id)].annotation = None  # type: ignore[attr-defined]
            else:
                arg_defaults.append(literal)
        for g in globals_:
            args.append(ast.arg(py_of[g], _annotation([globals_values[g]])))
            arg_defaults.append(const(globals_values[g]))
        return args, arg_defaults, prologue

    def _forward(self, cls: str, fwd: list[ast.stmt], flow: Flow, frame: Frame, network: bool) -> ast.FunctionDef:
        """`forward(self, x)`: the statements written, then the return (the network's named outputs
        as a NamedTuple where it has several)."""
        returns: ast.expr = attr("torch", "Tensor")
        if network and self.g.outputs:
            missing = [n for n, _ in self.g.outputs if n not in frame.named]
            if missing:
                raise Unsupported(f"the output '{missing[0]}', named where the network's forward cannot keep it", self.defs.network.outputs_span)
            self.outputs_class = self._unique_class(cls + "Outputs")
            fwd.append(ast.Return(call(self.outputs_class, *[name(frame.named[n][0]) for n, _ in self.g.outputs])))
            returns = name(self.outputs_class)
        else:
            fwd.append(ast.Return(name(flow.var)))
        return ast.FunctionDef("forward", ast.arguments([], [ast.arg("self"), ast.arg("x", attr("torch", "Tensor"))], None, [], [], None, []), fwd, [], returns)

    def _default(self, p: defs.Param, globals_values: dict, network: bool) -> ast.expr | None:
        """A parameter's default as a literal (for the network, the value it was compiled with);
        None where it reads the parameters before it."""
        if network:
            if self._derived(p):
                return None
            return const(self.g.params[p.name])
        if irx.free_names(p.default) - set(globals_values) or irx.reads_input(p.default):
            return None
        return const(evaluate(p.default, Env({}, Env(dict(globals_values)))))

    def _computed_default(self, p: defs.Param, py: ast.Name, frame: Frame) -> ast.stmt:
        """`if b is None: b = a * 2`: a default that reads the parameters before it, computed first thing."""
        return ast.If(ast.Compare(py, [ast.Is()], [ast.Constant(None)]), [assign(py.id, self._expr(p.default, frame))], [])

    def _fixed_checks(self, fixed: set[str], frame: Frame) -> list[ast.stmt]:
        """`if s != 2: raise ValueError(...)`: a network parameter that changes a spatial size the
        file took from the graph (a flatten multiplies it in, a block reads `in.height`)."""
        checks: list[ast.stmt] = []
        for p in sorted(fixed):
            message = f"{p} changes the spatial size a flatten multiplies in or in.height reads, which is fixed in this file: compile the spec with --set {p}=..."
            checks.append(ast.If(ast.Compare(frame.vars[p], [ast.NotEq()], [const(self.g.params[p])]), [ast.Raise(call("ValueError", ast.Constant(message)), None)], []))
        return checks

    def _call_fixes(self, em: Emitted, bound: dict[str, irx.Expr], defaults: dict[str, irx.Expr], same_file: bool, frame: Frame) -> set[str]:
        """What the spatial sizes a called class took from the graph depend on, in the caller's
        terms: the size flowing in now for IN_SPATIAL, and each parameter's argument."""
        out = set(frame.spatial or ()) if IN_SPATIAL in em.spatial_deps else set()
        for spec in em.spatial_deps - {IN_SPATIAL}:
            if spec in bound:
                out |= frame.params_in(bound[spec])
            elif spec in defaults:  # a default reads the parameters before it
                out |= set().union(*(frame.params_in(bound[q]) for q in irx.free_names(defaults[spec]) if q in bound))
            elif same_file:  # a parameter of the file: the caller's own
                out |= frame.params_in(irx.Var(spec))
        return out

    def _derived(self, p: defs.Param) -> bool:
        """A network parameter whose default reads the ones before it (`r = 2 if reduced_tail else 1`)
        and that was compiled with that default: the module computes it too, so `reduced_tail=True` works."""
        net = self.defs.network
        return p.name not in self.g.overridden and p.default is not None and bool(irx.free_names(p.default) & {q.name for q in net.params})

    def _subclass(self, cls: str, net: defs.NetworkDef, splice: defs.Call) -> Emitted:
        """A network that is one spliced block: a subclass that passes the block its arguments."""
        base = self.block(splice.callee)
        frame = Frame({}, const(self.g.input_shape[0]), [self.g.input_shape], file=net.file)
        frame.used |= {"self", "super"}
        frame.spatial, frame.network_params = set(), frozenset(p.name for p in net.params)
        for p in net.params:
            frame.vars[p.name] = name(frame.internal(identifier(p.name)))
        d = self.defs.blocks[splice.callee]
        args, kwargs = self._call_args(splice, base, frame, d)
        block_defaults = {p.name: p.default for p in d.params if p.default is not None}
        fixed = self._call_fixes(base, bind_args(splice, [p.name for p in d.params]), block_defaults, d.file == net.file, frame)
        if base.takes_in:
            args.insert(0, const(self.g.input_shape[0]))
        py_of = {p.name: frame.vars[p.name].id for p in net.params}  # type: ignore[attr-defined]
        args_def, defaults, prologue = self._signature(net.params, [], py_of, [], frame, network=True, values={}, in_name="")
        init = ast.FunctionDef(
            "__init__",
            ast.arguments([], [ast.arg("self")] + args_def, None, [], [], None, defaults),
            [*prologue, *self._fixed_checks(fixed, frame), expr_stmt(call(attr(call("super"), "__init__"), *args, **kwargs))],
            [],
            ast.Constant(None),
        )
        doc = expr_stmt(ast.Constant(f"The network `{net.name}` of {net.span.file}:{net.span.line}: {splice.written}(...)."))
        cls = self._unique_class(cls)
        source = ast.ClassDef(cls, [name(base.name)], [], [doc, init], [])
        em = Emitted(cls, [(p.name, frame.vars[p.name].id) for p in net.params], [], False, None, base.rank, base.sequential, source)  # type: ignore[attr-defined]
        self.order.append(em)
        return em

    def _unique_class(self, cls: str) -> str:
        base, i = cls, 2
        while cls in self.class_names or cls in (*HELPERS, "F", "nn", "torch", "math", "OrderedDict"):
            cls, i = f"{base}{i}", i + 1
        self.class_names.add(cls)
        return cls

    # ---- statements ----
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
            frame.spatial_reads(*(c for c, _ in s.branches))
            return self._if([(c, b) for c, b in s.branches], s.orelse, flow, frame, init, fwd)
        if isinstance(s, defs.Join):
            if fwd is None:
                raise Unsupported("a join in a sequential scope", s.span)
            return self._join(s, flow, frame, init, fwd)
        if isinstance(s, defs.Idle):
            if fwd is None:  # an nn.Sequential runs every member it holds
                raise Unsupported("an idle member inside a sequential level", s.span)
            self._stmt(s.item, flow, frame, init, [])  # built in __init__; what forward would do is dropped
            return flow
        raise Unsupported(f"the statement {type(s).__name__}", getattr(s, "span", None))

    def _item(self, item, flow: Flow, frame: Frame, init: list, fwd: list | None, label, label_span=None) -> Flow:
        if isinstance(item, defs.Let):
            py = frame.vars.get(item.name)
            if not isinstance(py, ast.Name) or item.name in frame.loop_vars:
                py = name(free_name(identifier(item.name), frame.used))
                frame.used.add(py.id)
            value = self._expr(item.value, frame)
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
            return self._keep_computed(item.name, out, frame, init, fwd, item.span) if _may_be_read(item.name, frame) else out
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
        if _may_be_read(s.label, frame):
            return self._keep_computed(s.label, out, frame, init, fwd, s.span)
        return out

    def _keep(self, spec_name: str, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A value read later by name: forward keeps it in a local of its own (`down1 = self.down1(x)`),
        and __init__ its channels, which later layers are sized by."""
        by_computed = spec_name in frame.computed_reads  # a computed `@"{level}"` reads it
        if spec_name not in frame.wanted and not by_computed:
            return flow
        if fwd is None:
            raise Unsupported(f"a value named '{spec_name}' inside a sequential level and read outside it", span)
        if spec_name in frame.named:
            local = frame.named[spec_name][0]
        else:
            local = free_name(identifier(spec_name), frame.fwd_used)
            frame.fwd_used.add(local)
        channels = flow.channels
        if spec_name in frame.read and not isinstance(channels, ast.Constant):  # the running count may be reassigned: keep this one
            before = frame.named[spec_name][1] if spec_name in frame.named else None
            var = before.id if isinstance(before, ast.Name) else free_name(f"{identifier(spec_name)}_channels", frame.used)
            frame.used.add(var)
            init.append(assign(var, channels))
            channels = name(var)
        frame.named[spec_name] = (local, channels, flow.rank)
        if by_computed:
            tensors, kept_channels = self._kept(frame)
            init.append(assign(ast.Subscript(name(kept_channels), const(spec_name), ast.Store()), channels))
            after = [assign(ast.Subscript(name(tensors), const(spec_name), ast.Store()), name(local))]
        else:
            after = []
        last = fwd[-1] if fwd else None
        kept = {v[0] for k, v in frame.named.items() if k != spec_name}  # a value with two names keeps both
        if frame.depth == 0 and isinstance(last, ast.Assign) and isinstance(last.targets[0], ast.Name) and last.targets[0].id == flow.var and flow.var not in kept:
            last.targets[0] = ast.Name(local, ast.Store())  # the step that made it writes it there
            fwd.extend(after)
            return replace(flow, var=local, fresh=False)
        if local != flow.var:
            fwd.append(assign(local, name(flow.var)))
        fwd.extend(after)
        return replace(flow, var=local if frame.depth == 0 else flow.var, fresh=False)

    def _kept(self, frame: Frame) -> tuple[str, str]:
        """The dicts that keep values named in loops: `values` in forward, `values_channels` in __init__."""
        if frame.kept is None:
            tensors = free_name("values", frame.fwd_used)
            frame.fwd_used.add(tensors)
            channels = free_name("values_channels", frame.used)
            frame.used.add(channels)
            init_top, fwd_top = frame.tops  # type: ignore[misc]
            init_top.insert(0, ast.parse(f"{channels}: dict[str, int] = {{}}").body[0])
            fwd_top.insert(0, ast.parse(f"{tensors}: dict[str, torch.Tensor] = {{}}").body[0])
            frame.kept = (tensors, channels)
        return frame.kept

    def _keep_computed(self, label: irx.Expr, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A value named in a loop (`"down{i}": ...`): kept by its name for a later `@"down{...}"`."""
        if fwd is None:
            raise Unsupported("a value named in a loop inside a sequential level", span)
        tensors, channels = self._kept(frame)
        init.append(assign(ast.Subscript(name(channels), self._expr(label, frame), ast.Store()), flow.channels))
        fwd.append(assign(ast.Subscript(name(tensors), self._fwd(label, frame), ast.Store()), name(flow.var)))
        return replace(flow, fresh=False)

    def _ref(self, ref: defs.Ref, flow: Flow, frame: Frame, fwd: list | None) -> Flow:
        """`@down1`: what flows now is that kept value (its forward local, its channels)."""
        if fwd is None:
            raise Unsupported(f"'@{ref.name if isinstance(ref.name, str) else '...'}' inside a sequential level", ref.span)
        if not isinstance(ref.name, str):
            if frame.tops is None or frame.kept is None:
                raise Unsupported("a value read by a computed name before any is kept", ref.span)
            tensors, channels = frame.kept
            fwd.append(assign(flow.out, ast.Subscript(name(tensors), self._fwd(ref.name, frame), ast.Load())))
            return replace(flow, channels=ast.Subscript(name(channels), self._expr(ref.name, frame), ast.Load()), var=flow.out, fresh=False)
        if ref.name not in frame.named and frame.kept is not None and ref.name in frame.computed:
            tensors, channels = frame.kept  # made under a computed name
            fwd.append(assign(flow.out, ast.Subscript(name(tensors), const(ref.name), ast.Load())))
            return replace(flow, channels=ast.Subscript(name(channels), const(ref.name), ast.Load()), var=flow.out, fresh=False)
        if ref.name not in frame.named:
            raise Unsupported(f"'@{ref.name}', made where this class cannot keep it", ref.span)
        local, channels, rank = frame.named[ref.name]
        return replace(flow, channels=channels, rank=rank, var=local, fresh=False)

    def _level(self, label, body: tuple, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A named level (`features:`, a numbered branch): an nn.Sequential, or a class of its own if it joins."""
        if fwd is not None and (self._makes_read_values(body, frame) or _reads_outer_values(body)):
            return self._level_inline(label, body, flow, frame, init, fwd)
        if _has_join(body):
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
            if isinstance(s, defs.Labeled) and not isinstance(s.label, str) and _may_be_read(s.label, frame):
                return True
            if isinstance(s, defs.Bind) and not isinstance(s.name, str) and _may_be_read(s.name, frame):
                return True
        return False

    def _level_inline(self, label, body: tuple, flow: Flow, frame: Frame, init: list, fwd: list) -> Flow:
        """A level whose values are read outside it: its members go into a container (`self.encoder`,
        as the state_dict names them) and the parent's forward calls them one by one, keeping values."""
        local = frame.internal(local_name(label))
        mark = len(init)
        init.append(assign(local, call("nn.Sequential")))
        key = const(label) if isinstance(label, str) else label
        reach = _member(flow.prefix if flow.prefix is not None else name("self"), label, key)
        inner = Flow(flow.channels, flow.rank, 0, name(local), flow.var, flow.out, flow.fresh, prefix=reach)
        inner = self._stmts(body, inner, frame, init, fwd)
        count = flow.count + 1 if flow.count is not None else None
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
            stem = label if isinstance(label, str) and not label.isdigit() else "Level"
            em = self._write(class_name(stem) + "Block", (), body, frame.file, [], extra=free, docstring=f"The level `{label if isinstance(label, str) else '...'}` of {span.file}:{span.line}.", rank=flow.rank)
            self.level_classes[key] = em
        args = [flow.channels] if em.takes_in else []
        kwargs = {py: self._var(spec, frame) for spec, py in em.params}
        frame.fixed |= self._call_fixes(em, {spec: irx.Var(spec) for spec, _ in em.params}, {}, True, frame)
        if frame.spatial is not None:
            for spec, _ in em.params:
                frame.spatial |= frame.params_in(irx.Var(spec))
        module = call(em.name, *args, **kwargs)
        channels = substitute(em.out, {IN: flow.channels, **{py: self._var(spec, frame) for spec, py in em.params}}) if em.out is not None else None
        return self._member_with_out(label, module, em, channels, flow, frame, init, fwd)

    def _loop_header(self, s: defs.Repeat | defs.For, frame: Frame) -> tuple[ast.expr, tuple[str, ...], ast.expr]:
        """A loop's target (its names bound in the frame), the spec names it binds, and what
        __init__ iterates: `range(count)` for a repeat."""
        if isinstance(s, defs.Repeat):
            frame.spatial_reads(s.count)
            return ast.Name("_", ast.Store()), (), call("range", self._expr(s.count, frame))
        frame.spatial_reads(s.iter)
        targets = defs.target_names(s.target)
        for t in targets:
            frame.depends[t] = frame.params_in(s.iter)
        target = bind_target(s.target, frame)
        return target, targets, self._expr(s.iter, frame, iterated=True)

    def _fwd_iterable(self, s: defs.Repeat | defs.For, frame: Frame) -> ast.expr:
        """What forward iterates for a loop: its parameters read from the attributes __init__ keeps."""
        return call("range", self._fwd(s.count, frame)) if isinstance(s, defs.Repeat) else self._fwd(s.iter, frame, iterated=True)

    def _loop(self, target, iterable, body, targets, flow: Flow, frame: Frame, init: list, fwd: list | None, s) -> Flow:
        before = dict(frame.vars)
        frame.loop_vars |= set(targets)
        entry = flow.channels
        mark = len(init)
        flow = self._materialize(flow, frame, init, body)
        inner_init: list[ast.stmt] = []
        inner_fwd: list[ast.stmt] | None = None if fwd is None else []
        inner = replace(flow, fresh=False, count=None)  # positions inside a loop are not known statically
        frame.depth += 1
        out = self._stmts(body, inner, frame, inner_init, inner_fwd)
        frame.depth -= 1
        if not same(out.channels, flow.channels):
            if len(init) > mark and same(out.channels, entry) and not names_in(entry) & assigned_names(inner_init):
                # every iteration gives what the loop starts with: no variable needed after all
                del init[mark]
                inner_init = [replace_name(st, flow.channels.id, entry) for st in inner_init]
                if inner_fwd:
                    inner_fwd = [replace_name(st, flow.channels.id, entry) for st in inner_fwd]
                flow = replace(flow, channels=entry)
            else:
                inner_init.append(assign(flow.channels.id, out.channels))
        fwd_target = copy.deepcopy(target)
        init.append(ast.For(unused_as_underscore(target, inner_init), iterable, inner_init or [ast.Pass()], []))
        if fwd is not None and inner_fwd:
            fwd.append(ast.For(unused_as_underscore(fwd_target, inner_fwd), self._fwd_iterable(s, frame), inner_fwd, []))
        end_loop(frame, targets, before)
        count = None if _claims(body) else flow.count
        return Flow(flow.channels, out.rank, count, flow.target, out.var, out.out, False, flow.prefix)

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

    def _if(self, branches: list, orelse: tuple, flow: Flow, frame: Frame, init: list, fwd: list | None) -> Flow:
        outs: list[Flow] = []
        inits: list[list] = []
        fwds: list[list] = []
        bodies = [b for _, b in branches] + [orelse]
        for body in bodies:
            i: list[ast.stmt] = []
            f: list[ast.stmt] | None = None if fwd is None else []
            frame.depth += 1
            outs.append(self._stmts(body, replace(flow), frame, i, f))
            frame.depth -= 1
            inits.append(i)
            fwds.append(f or [])
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
        if all(same(ast.Module(i, []), ast.Module(inits[0], [])) for i in inits):
            init.extend(inits[0])  # every branch builds the same members: only forward differs
        else:
            init.append(if_chain(tests, inits))
        if fwd is not None and any(fwds):
            fwd.append(if_chain([self._fwd(c, frame) for c, _ in branches], fwds))
        ranks = {o.rank for o in outs}
        if len(ranks) > 1:
            raise Unsupported("branches of an if that give values of different rank", None)
        var = outs[0].var
        if not all(o.var == var for o in outs):
            raise Unsupported("branches of an if that leave the value in different variables", None)
        fresh = all(o.fresh for o in outs)
        return Flow(channels, outs[0].rank, counts.pop() if len(counts) == 1 else None, flow.target, var, outs[0].out, fresh, flow.prefix)

    # ---- ops and blocks ----
    def _op(self, c: defs.Call, flow: Flow, frame: Frame, init: list, fwd: list | None, label) -> Flow:
        record = LOWERINGS[c.callee]
        nodes = self.by_site.get(c.key, [])
        exprs = bind_args(c, [a.name for a in OPS[c.callee].attrs])
        node = nodes[0] if nodes else synthetic_node(c, flow.rank)

        def arg_py(n: str) -> ast.expr:
            if n in exprs and not is_literal(exprs[n]):
                return self._expr(exprs[n], frame)
            return const(agreed(nodes, n, c) if nodes else node.attrs[n])

        ctor = constructor(c, node, flow.channels, arg_py, lambda e: self._expr(e, frame))
        module = ctor.module
        if ctor.helper is not None:
            self.helpers.add(ctor.helper)
        channels = record.channels(flow.channels, arg_py) if record.channels is not None else flow.channels
        if c.callee == "permute" and any(len(n.attrs["order"]) != 3 or n.attrs["order"] not in TRACKED_ORDERS for n in nodes):
            raise Unsupported("a permute other than channels last (1, 2, 0), channels first (2, 0, 1) or a swap of height and width", c.span)
        if c.callee == "chunk" and any(self.g.nodes[n.inputs[0]].shape[0] % n.attrs["chunks"] for n in nodes):
            raise Unsupported("a chunk that does not split the channels evenly", c.span)
        if frame.spatial is not None and c.callee in _RESETS and frame.depth == 0 and not frame.params_in_args(c):
            frame.spatial.clear()  # a fixed output size: what came before no longer matters
        elif c.callee in _WINDOWS or c.callee in _RESETS:
            frame.spatial_reads(*(e for n, e in exprs.items() if n not in _NOT_SPATIAL))
        if c.callee == "flatten":
            channels, rank = self._flatten(flow, nodes, c), 1
            if frame.spatial:  # the size it multiplies in (1 too) holds while what it depends on does
                frame.fixed |= frame.spatial
        else:
            rank = 1 if c.callee == "linear" and not node.attrs.get("per_position") else flow.rank
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
            if flow.count is not None:
                flow = replace(flow, count=flow.count + 1)
            return replace(flow, channels=channels, rank=rank, fresh=False)
        if record.apply is not None:  # a parameter of this block (`self.layer_scale`), applied in forward
            if fwd is None or flow.target is not None or not (isinstance(label, str) and plain_attribute(label)):
                raise Unsupported(f"{c.written} without a label, or outside a block with a forward: it is a parameter of its block", c.span)
            init.append(assign(attr("self", label), module))
            fwd.append(assign(flow.out, ast.parse(record.apply(f"self.{label}", flow.var), mode="eval").body))
            count = flow.count + 1 if flow.count is not None else None
            return replace(flow, channels=channels, rank=rank, var=flow.out, count=count, fresh=False)
        out = replace(flow, channels=channels, rank=rank)
        out = self._add_member(label, module, out, frame, init, fwd, flow)
        return replace(out, fresh=overwritable)

    def _flatten(self, flow: Flow, nodes: list[Node], c: defs.Call) -> ast.expr:
        spatial = {math.prod(self.g.nodes[n.inputs[0]].shape[1:]) for n in nodes}
        if len(spatial) != 1:
            raise Unsupported("a flatten whose input size differs between instances" if spatial else "a flatten no instance reaches", c.span)
        (s,) = spatial
        if s == 1:
            return flow.channels
        shape = self.g.nodes[nodes[0].inputs[0]].shape[1:]
        return ast.BinOp(ast.BinOp(flow.channels, ast.Mult(), const(shape[0])), ast.Mult(), const(shape[1])) if len(shape) == 2 else _mul(flow.channels, const(s))

    def _block_call(self, c: defs.Call, flow: Flow, frame: Frame, init: list, fwd: list | None, label) -> Flow:
        em = self.block(c.callee)
        d = self.defs.blocks[c.callee]
        bound = bind_args(c, [p.name for p in d.params])
        defaults = {p.name: p.default for p in d.params if p.default is not None}
        frame.fixed |= self._call_fixes(em, bound, defaults, d.file == frame.file, frame)
        frame.spatial_reads(*(a.value for a in c.args))
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
        inner.depends = {p.name: frame.params_in(bound[p.name]) if p.name in bound else set() for p in d.params}
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
        return out

    def _add_member(self, label, module: ast.expr, out: Flow, frame: Frame, init: list, fwd: list | None, before: Flow) -> Flow:
        """Add a module to the current container (or as an attribute, in a forward class) and call it in forward."""
        if label is None:
            if before.count is None and before.target is None:
                raise Unsupported("a numbered member of a class with a forward, after a loop or branches that make members", None)
            member_name: ast.expr = const(str(before.count)) if before.count is not None else None  # type: ignore[assignment]
        else:
            member_name = const(label) if isinstance(label, str) else label
        count = before.count + 1 if before.count is not None else None
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
                fwd.append(assign(before.out, call(_member(before.prefix, label, member_name), name(before.var))))
                return replace(out, count=count, var=before.out)
            return replace(out, count=count)
        # a class with a forward: members are attributes
        if isinstance(label, str) and plain_attribute(label):
            init.append(assign(attr("self", label), module))
            ref: ast.expr = attr("self", label)
        else:
            init.append(expr_stmt(call(attr("self", "add_module"), member_name, module)))
            ref = call("getattr", name("self"), member_name)
        fwd.append(assign(before.out, call(ref, name(before.var))))  # type: ignore[union-attr]
        return replace(out, count=count, var=before.out)

    # ---- joins ----
    def _join(self, s: defs.Join, flow: Flow, frame: Frame, init: list, fwd: list) -> Flow:
        branches = []
        for b in s.branches:
            if isinstance(b, defs.If):
                raise Unsupported("an if among the branches of a join", b.span)
            if isinstance(b, (defs.Repeat, defs.For)):
                if s.kind != "concat" or not _refs_only(b.body):
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
            count = end.count
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

    # ---- expressions ----
    def _var(self, spec: str, frame: Frame) -> ast.expr:
        if spec in frame.vars:
            return frame.vars[spec]
        globals_ = self.defs.globals.get(frame.file, {})
        if spec in globals_:
            py = free_name(identifier(spec), frame.used)
            frame.used.add(py)
            frame.vars[spec] = name(py)
            frame.globals.add(spec)
            return name(py)
        raise Unsupported(f"the name '{spec}'", None)

    def _expr(self, e: irx.Expr, frame: Frame, iterated: bool = False) -> ast.expr:
        t = Translator(lambda n, span: self._var(n, frame), lambda f, span: self._in_field(f, frame, span))
        out = t(e, iterated)
        self.functions |= t.used
        return out

    def _in_field(self, f: str, frame: Frame, span) -> ast.expr:
        if f in ("channels", "features"):
            return frame.in_channels
        if not frame.in_shapes:  # a splice: `in` is the value flowing into it, whose shape is not tracked
            raise Unsupported(f"in.{f} inside a spliced block (`*block(...)`): call the block instead", span)
        if f != "rank":  # a size of `in`, taken from the graph: it holds while what it depends on does
            frame.fixed |= frame.in_spatial
        values = {_field_of(shape, f) for shape in frame.in_shapes}  # only the field read must agree
        if len(values) != 1:
            raise Unsupported(f"in.{f} in a block whose instances take different values of it", span)
        return const(values.pop())

    def _fwd(self, e: irx.Expr, frame: Frame, iterated: bool = False) -> ast.expr:
        """An expression forward evaluates: names read from attributes __init__ keeps."""

        def var(n: str, span) -> ast.expr:
            if n in frame.loop_vars:
                return frame.vars[n]
            self._var(n, frame)
            a = frame.attrs.get(n)
            if a is None:
                a = attribute_name(identifier(n), set(frame.attrs.values()))
                frame.attrs[n] = a
            return attr("self", a)

        def in_field(f: str, span) -> ast.expr:
            if f in ("channels", "features"):
                if "__in_channels__" not in frame.attrs:
                    frame.attrs["__in_channels__"] = "in_channels"
                    frame.vars["__in_channels__"] = frame.in_channels
                return attr("self", "in_channels")
            return self._in_field(f, frame, span)

        t = Translator(var, in_field)
        out = t(e, iterated)
        self.functions |= t.used
        return out


# ---- helpers ----


def _may_be_read(label: irx.Expr, frame: Frame) -> bool:
    """Whether a computed label's value may be what a computed `@"..."` of the body reads: their
    literal starts agree ("down{i}" and `@"down{3 - i}"`; one that starts computed agrees with all)."""
    start = literal_start(label)
    return any(start.startswith(p) or p.startswith(start) for p in frame.computed)


def _refs_only(body: tuple) -> bool:
    """Whether a body only reads named values, one a line (`@"y{i}"`)."""
    return all(isinstance(st, defs.Line) and all(isinstance(i, defs.Ref) for i in st.items) for st in body)


def _reads_outer_values(body: tuple) -> bool:
    """Whether a level reads a value made before it (`classifier:` reading the backbone's `@low`):
    a class of its own could not see it, so the parent's forward runs the level's members."""
    made = {n for n in map(defs.name_made, defs.walk(body)) if n is not None}
    return any(not isinstance(r.name, str) or (r.name not in made and r.name != "input") for r in defs.refs(body))


def _member(owner: ast.expr, label, key: ast.expr) -> ast.expr:
    """How forward reaches a member of `owner`: `self.conv1`, `self.encoder.layer1`, or with a
    label that is no attribute name, `getattr(self, '0')`."""
    if isinstance(label, str) and plain_attribute(label):
        return attr(owner, label)
    return call("getattr", owner, key)


def _has_join(body) -> bool:
    """Whether a scope's own statements join (through `_:`, `if`, loops; not inside named levels or blocks)."""
    for s in body:
        if isinstance(s, defs.Join):
            return True
        if isinstance(s, defs.Labeled) and (s.label == "_" or s.guard is not None and s.label == "_") and _has_join(s.body):
            return True
        if isinstance(s, (defs.Repeat, defs.For)) and _has_join(s.body):
            return True
        if isinstance(s, defs.If) and (any(_has_join(b) for _, b in s.branches) or _has_join(s.orelse)):
            return True
    return False


def _reads_as_forward(body) -> bool:
    """Whether a network reads best with a forward, as torchvision writes its networks: a straight run
    of named members (`features`, `avgpool`, `classifier`) and unnamed calls (`torch.flatten`)."""
    named = False
    for s in body:
        if isinstance(s, defs.Labeled) and s.guard is None and isinstance(s.label, str) and s.label != "_":
            named = True
        elif isinstance(s, defs.Line):
            for i in s.items:
                if isinstance(i, defs.Call) and (i.kind != "op" or LOWERINGS[i.callee].call is None or LOWERINGS[i.callee].sizes):
                    return False
        else:
            return False
    return named


def _claims(body) -> bool:
    """Whether statements take positions in their naming scope (every call does, and every named level)."""
    for s in defs.walk(body):
        if isinstance(s, defs.Call) or isinstance(s, defs.Labeled) and s.label != "_":
            return True
    return False


def _whole_splice(body) -> defs.Call | None:
    if len(body) == 1 and isinstance(body[0], defs.Line) and len(body[0].items) == 1:
        c = body[0].items[0]
        if isinstance(c, defs.Call) and c.splice and c.kind == "block":
            return c
    return None


def _field_of(shape: tuple[int, ...], f: str) -> Any:
    """`in.shape`, `in.rank`, `in.height`, `in.width` of a shape (the last two None for features)."""
    return {"shape": shape, "rank": len(shape), "height": shape[1] if len(shape) == 3 else None, "width": shape[2] if len(shape) == 3 else None}[f]


def _channels_only(f: str, flow: Flow, span) -> ast.expr:
    """`in.channels` of a callee's default, seen from its caller: the channels flowing in."""
    if f in ("channels", "features"):
        return flow.channels
    raise Unsupported(f"a default that reads in.{f}", span)


def _annotation(values: list[Any]) -> ast.expr | None:
    v = values[0]
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


def _annotation_of(p: defs.Param, globals_values: dict) -> ast.expr | None:
    if p.default is None:
        return None
    try:
        return _annotation([evaluate(p.default, Env({}, Env(dict(globals_values))))])
    except Exception:
        return None
