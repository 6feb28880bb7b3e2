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
being written). This file writes a class: its signature, defaults, checks and forward. The
statements are written by the Writer's parts, a file a job: `statements.py` (lines,
labels, loops, ifs), `calls.py` (ops, blocks, splices), `levels.py` (named levels and how a
member joins its container), `values.py` (values kept by name), `joins.py`, and
`expressions.py`. An op's constructor comes from its record in `lowering.LOWERINGS`,
with sizes substituted as expressions and other computed arguments through marker values.

Concrete values come from the flat graph only where the spec leaves them to shapes: the
spatial size a `flatten` multiplies in, `in.height`. Where a definition's instances
disagree on such a value, the backend says so (`Unsupported`) rather than guess; where a
network parameter could change it, the network's constructor refuses other values.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import replace
from typing import Any

from archspec.backends.torch.annotations import annotation, annotation_by_use, int_names
from archspec.backends.torch.body import computed_likes, has_join, literal_likes, own_refs, reads_as_forward, spliced, whole_splice
from archspec.backends.torch.calls import Calls
from archspec.backends.torch.expressions import Expressions
from archspec.backends.torch.joins import Joins
from archspec.backends.torch.levels import Levels
from archspec.backends.torch.lowering import HELPERS, channel_axes
from archspec.backends.torch.names import class_name, literal_start
from archspec.backends.torch.ops import bind_args
from archspec.backends.torch.python import PYTHON_NAMES, assign, attr, call, const, expr_stmt, identifier, name, names_in, substitute
from archspec.backends.torch.scope import IN, IN_SPATIAL, Emitted, Flow, Frame, ancestors, free_name
from archspec.backends.torch.statements import Statements
from archspec.backends.torch.tidy import (
    appends,
    as_module_dict,
    constant_tests_decided,
    drop_unread_locals,
    forwarded,
    indexed_sequentials,
    inlined_copies,
    loop_targets_unused_as_underscore,
    reads_name,
    reads_only,
    register_in_order,
    without_dead_stores,
    without_name_copies,
    without_unread_keys,
    without_unread_lets,
)
from archspec.backends.torch.values import NamedValues
from archspec.backends.unsupported import Unsupported
from archspec.expressions import Env, evaluate
from archspec.ir import Graph, Node, defs
from archspec.ir import expr as irx


class Writer(Statements, NamedValues, Levels, Calls, Joins, Expressions):
    """Writes every class a graph's definitions need, callees first."""

    def __init__(self, graph: Graph):
        self.g = graph
        self.defs = graph.definitions
        self.emitted: dict[str, Emitted] = {}
        self.order: list[Emitted] = []
        self.level_classes: dict[str, Emitted] = {}
        self.class_names: set[str] = set()
        self.factory = ""  # the file's function named after the spec, which no class may be named
        self.helpers: set[str] = set()  # helper classes of lowering.py the modules use (PaddedConv2d, Chunk)
        self.functions: set[str] = set()  # math, make_divisible
        self.outputs_class: str | None = None  # the NamedTuple the network's forward returns, for several outputs
        self.by_site: dict[str, list[Node]] = {}
        self.axes = channel_axes(graph)  # where each value's channels are: first, or last after a permute
        self.calls_by_key: dict[str, tuple[str, defs.Call]] | None = None  # Calls._call_at, made on first use
        for n in graph.nodes:
            if n.site:
                self.by_site.setdefault(n.site, []).append(n)
        self.instances: dict[str, list[str]] = {}
        for s in graph.scopes.values():
            if s.kind == "block":
                self.instances.setdefault(s.block, []).append(s.path)
        self.scope_input: dict[str, tuple[int, ...]] = {}
        self.scope_axis: dict[str, int] = {}  # where the channels of the value flowing into a scope are
        for n in graph.nodes[1:]:
            for s in ancestors(n.scope):
                if s not in self.scope_input:
                    self.scope_input[s] = graph.nodes[n.inputs[0]].shape if n.inputs else graph.input_shape
                    self.scope_axis[s] = self.axes[n.inputs[0]] if n.inputs else 0

    def block(self, block: str) -> Emitted:
        if block in self.emitted:
            return self.emitted[block]
        d = self.defs.blocks[block]
        shapes = [self.scope_input.get(p, ()) for p in self.instances.get(block, [])]
        axes = [self.scope_axis.get(p, 0) for p in self.instances.get(block, [])]
        values = {p.name: [self.g.scopes[s].args.get(p.name) for s in self.instances.get(block, [])] for p in d.params}
        only = whole_splice(self.defs.network.body)
        if only is not None and only.callee == block:  # `*densenet(32, ...)`: no instance of its own; the values it is called with
            env = Env(dict(self.g.params), Env(dict(self.defs.globals.get(self.defs.network.file, {}))))
            for spec, e in bind_args(only, [p.name for p in d.params]).items():
                try:
                    values[spec].append(evaluate(e, env))
                except Exception:  # an argument the graph alone cannot evaluate: no annotation from it
                    values[spec].append(None)
        em = self._write(
            class_name(d.name), d.params, d.body, d.file, shapes, in_axes=axes, docstring=f"The block `{d.name}` of {d.span.file}:{d.span.line}.", values=values, members=d.members
        )
        self.emitted[block] = em
        return em

    def network(self, class_: str) -> Emitted:
        net = self.defs.network
        body = net.body
        only = whole_splice(body)
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
        extra_types: dict[str, ast.expr | None] | None = None,
        values: dict[str, list] | None = None,
        rank: int | None = None,
        members: tuple[str, ...] = (),
        in_axes: list[int] | None = None,
    ) -> Emitted:
        """A class for `body`: the constructor takes `in_channels` (unless a network) and `params`."""
        cls = self._unique_class(cls)
        seen = spliced(body, self.defs.blocks)  # a spliced block's joins and names are this body's
        frame, in_name, py_params = self._frame(params, body, seen, file, in_shapes, network, extra or [])
        frame.in_axes = in_axes or []
        frame.types = {**self._types(params, body, file, network, values or {}), **(extra_types or {})}
        frame.ints = int_names(seen, frame.types)
        idle = any(isinstance(x, defs.Idle) for x in defs.walk(seen))  # an nn.Sequential would run it
        sequential = not has_join(seen) and not (network and reads_as_forward(body)) and not frame.wanted and not frame.computed and not idle and not members  # nn.Sequential runs in registration order
        init: list[ast.stmt] = []
        fwd: list[ast.stmt] | None = None if sequential else []
        frame.tops = (init, fwd) if fwd is not None else None
        if rank is None:
            rank = len(in_shapes[0]) if in_shapes and in_shapes[0] else 3
        flow = Flow(frame.in_channels, rank, 0, name("self") if sequential else None)
        if ("input" in frame.wanted or "input" in frame.computed_reads) and fwd is not None:  # `@input`: forward's argument, kept before x is reassigned
            start = self._keep("input", replace(flow, var="_"), frame, init, fwd, None)
            fwd[:] = [assign(start.var, name("x")) if _copy_of(st, "_") else st for st in fwd]
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
        for a, value in frame.attrs.values():
            init.append(assign(attr("self", a), value))
        args, arg_defaults, prologue = self._signature(params, extra or [], dict(py_params), globals_, frame, network, in_name)
        init[:0] = prologue
        if network:
            init.extend(self._outputs_made(frame))
        init[:] = without_name_copies(drop_unread_locals(without_unread_keys(drop_unread_locals(forwarded(constant_tests_decided(init))))))  # a dead count may be a key's last read
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
            indexed_sequentials(init_fn.body, class_body[-1].body)  # type: ignore[attr-defined]
            fwd_body = without_unread_lets(class_body[-1].body, frame.fwd_let_stmts)  # type: ignore[attr-defined]
            class_body[-1].body = without_unread_keys(inlined_copies(forwarded(without_dead_stores(constant_tests_decided(fwd_body)))))  # type: ignore[attr-defined]
        for fn in class_body:
            if isinstance(fn, ast.FunctionDef):
                loop_targets_unused_as_underscore(fn.body)
        source = ast.ClassDef(cls, [base], [], class_body, [])
        takes_in = not network and reads_name(init_fn, in_name)
        deps = frozenset() if network else frozenset(frame.fixed)
        out_spatial = None if network else frozenset(frame.spatial or ())
        em = Emitted(cls, py_params, globals_, takes_in, substitute(out, {in_name: name(IN)}) if closed else None, flow.rank, sequential, source, deps, out_spatial)
        if not takes_in and not network:
            init_fn.args.args = [a for a in init_fn.args.args if a.arg != in_name]
        self.order.append(em)
        return em

    def _frame(self, params, body: tuple, seen: tuple, file: str, in_shapes, network: bool, extra: list[str]) -> tuple[Frame, str, list[tuple[str, str]]]:
        """The names a class's functions start with: its parameters' Python names (first the
        spec's `params`, then `extra`), the channels flowing in, and the values the body reads by
        name (in `seen`, the body with its splices' statements)."""
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
        body = seen  # a spliced block's names are this body's
        frame.members = {s.label for s in defs.walk(body) if isinstance(s, defs.Labeled) and isinstance(s.label, str)}
        refs = own_refs(body, {n for n, _ in self.g.outputs} if network else set())  # a level that becomes a class resolves its own
        frame.read = {r.name for r in refs if isinstance(r.name, str)}
        frame.computed = {literal_start(r.name) for r in refs if not isinstance(r.name, str)}
        made = {n for n in map(defs.name_made, defs.walk(body)) if n is not None}
        # a literal `@box0` of a value only a computed name makes (`"box{i}" = ...`): read from the dict
        frame.computed |= {r.name for r in refs if isinstance(r.name, str) and r.name not in made and r.name != "input"}
        frame.computed_reads = {n for r in refs if not isinstance(r.name, str) for n in self.g.ref_names.get(r.key, ())}
        for c, like in computed_likes(body):  # `crop(like="up{i}")` reads the value forward keeps by that name
            frame.computed.add(literal_start(like))
            frame.computed_reads |= {n.attrs["like"] for n in self.by_site.get(c.key, [])}
        frame.wanted = set(frame.read)
        frame.names_read = {n for st in defs.walk(body) for e in defs.expressions(st) for n in irx.free_names(e)}
        for c, like in literal_likes(body):
            frame.likes.add(like)
            if len({n.attrs["size"] for n in self.by_site.get(c.key, [])}) > 1:  # a block called at two sizes, a loop: forward reads the size
                frame.sized_in_forward.add(c.key)
                frame.wanted.add(like)
                if like not in made and like != "input":  # made under a computed name: kept in the dict
                    frame.computed.add(like)
                    frame.computed_reads.add(like)
        if network and self.g.outputs:
            frame.wanted |= {n for n, _ in self.g.outputs}
            frame.computed |= {n for n, _ in self.g.outputs if n not in made}  # `return p0` of `"p{i}": ...`: kept in the dict
        return frame, in_name, py_params

    def _types(self, params, body: tuple, file: str, network: bool, values: dict[str, list]) -> dict[str, ast.expr | None]:
        """Each parameter's annotation, from the values it takes: its default, the instances', the
        compiled network's; where none shows one, from the op arguments it is passed to."""
        globals_values = self.defs.globals.get(file, {})
        out: dict[str, ast.expr | None] = {}
        for p in params:
            seen = [*_default_value(p, globals_values), *(values.get(p.name) or [])] + ([self.g.params[p.name]] if network else [])
            known = [v for v in seen if v is not None]
            out[p.name] = annotation(known) if known else annotation_by_use(p.name, body)
        return out

    def _signature(self, params, extra: list[str], py_of: dict[str, str], globals_: list[str], frame: Frame, network: bool, in_name: str):
        """`__init__`'s arguments with their annotations and defaults, and the statements that compute
        the defaults Python cannot write (`b=a * 2`: `None`, then `if b is None: b = a * 2`)."""
        globals_values = self.defs.globals.get(frame.file, {})
        args = [] if network else [ast.arg(in_name, name("int"))]
        for n in [p.name for p in params] + extra:
            args.append(ast.arg(py_of[n], copy.deepcopy(frame.types.get(n))))
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
                arg = args[[a.arg for a in args].index(py.id)]  # type: ignore[attr-defined]
                if arg.annotation is not None:  # torchvision's `Optional[...]`
                    arg.annotation = ast.BinOp(arg.annotation, ast.BitOr(), ast.Constant(None))
            else:
                arg_defaults.append(literal)
        for g in globals_:
            args.append(ast.arg(py_of[g], annotation([globals_values[g]])))
            arg_defaults.append(const(globals_values[g]))
        return args, arg_defaults, prologue

    def _outputs_made(self, frame: Frame) -> list[ast.stmt]:
        """`if 'o1' not in values_channels: raise ValueError(...)`: an output the network makes under a
        computed name (`"o{i}": ...` for i in range(n); `return o0, o1`) that another value of a
        parameter would not make, refused where --set is (forward would raise KeyError)."""
        if frame.kept is None:
            return []
        checks: list[ast.stmt] = []
        for n, _ in self.g.outputs:
            if n not in frame.named and n in frame.computed:
                message = f"return: the network makes no value named '{n}' with these arguments"
                checks.append(ast.If(ast.Compare(const(n), [ast.NotIn()], [name(frame.kept[1])]), [ast.Raise(call("ValueError", ast.Constant(message)), None)], []))
        return checks

    def _forward(self, cls: str, fwd: list[ast.stmt], flow: Flow, frame: Frame, network: bool) -> ast.FunctionDef:
        """`forward(self, x)`: the statements written, then the return (the network's named outputs
        as a NamedTuple where it has several)."""
        returns: ast.expr = attr("torch", "Tensor")
        if network and self.g.outputs:
            kept = {n: name(frame.named[n][0]) for n, _ in self.g.outputs if n in frame.named}
            if frame.kept is not None:  # made under a computed name: read from the dict
                kept |= {n: ast.Subscript(name(frame.kept[0]), const(n), ast.Load()) for n, _ in self.g.outputs if n not in kept and n in frame.computed}
            missing = [n for n, _ in self.g.outputs if n not in kept]
            if missing:
                raise Unsupported(f"the output '{missing[0]}', named where the network's forward cannot keep it", self.defs.network.outputs_span)
            self.outputs_class = self._unique_class(cls + "Outputs")
            fwd.append(ast.Return(call(self.outputs_class, *[kept[n] for n, _ in self.g.outputs])))
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
            message = f"{p} changes the spatial size a flatten multiplies in, in.height reads or a like= takes, which is fixed in this file: compile the spec with --set {p}=..."
            checks.append(ast.If(ast.Compare(frame.vars[p], [ast.NotEq()], [const(self.g.params[p])]), [ast.Raise(call("ValueError", ast.Constant(message)), None)], []))
        return checks

    def _call_fixes(self, em: Emitted, bound: dict[str, irx.Expr], defaults: dict[str, irx.Expr], same_file: bool, frame: Frame) -> set[str]:
        """What the spatial sizes a called class took from the graph depend on, in the caller's terms."""
        return self._in_caller(em.spatial_deps, bound, defaults, same_file, frame)

    def _call_moves(self, em: Emitted, bound: dict[str, irx.Expr], defaults: dict[str, irx.Expr], same_file: bool, frame: Frame, args) -> None:
        """The spatial size flowing after a call of a class: what its output depends on, in the
        caller's terms (every argument where that is not known); a class that fixes the size (a
        global pool at its end) leaves nothing of what came before, where the call surely runs."""
        if frame.spatial is None:
            return
        if em.out_spatial is None:
            frame.spatial_reads(*args)
            return
        moved = self._in_caller(em.out_spatial, bound, defaults, same_file, frame)
        if IN_SPATIAL not in em.out_spatial and frame.depth == 0 and not frame.joining:
            frame.spatial.clear()  # in place: a splice's frame shares the set
        frame.spatial |= moved

    def _in_caller(self, deps: frozenset[str], bound: dict[str, irx.Expr], defaults: dict[str, irx.Expr], same_file: bool, frame: Frame) -> set[str]:
        """Spatial dependencies of a called class in the caller's terms: the size flowing in now
        for IN_SPATIAL, and each parameter's argument."""
        out = set(frame.spatial or ()) if IN_SPATIAL in deps else set()
        for spec in deps - {IN_SPATIAL}:
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
        frame.types = self._types(net.params, net.body, net.file, True, {})
        frame.ints = int_names(net.body, frame.types)
        args_def, defaults, prologue = self._signature(net.params, [], py_of, [], frame, network=True, in_name="")
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
        while cls in self.class_names or cls == self.factory or cls in (*HELPERS, "F", "nn", "torch", "math", "OrderedDict"):
            cls, i = f"{base}{i}", i + 1
        self.class_names.add(cls)
        return cls



def _default_value(p: defs.Param, globals_values: dict) -> list[Any]:
    """A parameter's default as a value, where it needs no other parameter (else none)."""
    if p.default is None:
        return []
    try:
        return [evaluate(p.default, Env({}, Env(dict(globals_values))))]
    except Exception:
        return []


def _copy_of(st: ast.stmt, var: str) -> bool:
    """Whether `st` is `local = var`."""
    return isinstance(st, ast.Assign) and isinstance(st.value, ast.Name) and st.value.id == var
