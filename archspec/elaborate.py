"""Elaboration: the spec's definitions (`archspec.ir.defs`, lowered from the AST by
`archspec.definitions`) become the flat IR graph, which keeps them beside it.

Parameters and expressions are evaluated, `repeat`/`for`/`if` expanded, blocks
called, items named, and every node's shape inferred as it is added (a spec
may read `in.channels`, and a shortcut may exist only when shapes differ).
Errors are collected: an item that fails yields an unknown value, later items
are still checked, and one pass reports everything it can.

Naming follows nn.Sequential: every item of a scope takes the next position
(`features.0`, `features.1`, ...), a label replaces the number (`conv1`), and
`_:`, `*block(...)`, `repeat`, `for` and `if` add no level of their own.
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from archspec.definitions import lower_program
from archspec.diagnostics import ArchspecError, Diagnostic, Note, Reporter, Span, TooManyErrors
from archspec.expressions import Env, EvalError, InShape, _suggest, budget, describe, evaluate
from archspec.ir import Definitions, Graph, Node, Scope, Shape, defs
from archspec.ir import expr as irx
from archspec.ir.graph import IDLE_BASE
from archspec.naming import label_problem
from archspec.ops import OPS, OpError, lookup, public_names
from archspec.ops.registry import REQUIRED
from archspec.ops.shapes import fmt
from archspec.ops.structure import JoinError
from archspec.ops.types import coerce, show
from archspec.syntax.load import Program

DEFAULT_MAX_LAYERS = 100_000
MAX_TENSOR = 2**31  # elements of one tensor (a layer's output for one image, its weights): 8 GiB in float32
TENSOR_HELP = "no tensor that large can be built (docs/limits.md)"
MAX_BLOCK_DEPTH = 100


def tensor_limit(what: str, count: int, unit: str = "elements an image") -> str | None:
    """The refusal of a tensor past MAX_TENSOR (an input, an output, a layer's weights), or None."""
    if count <= MAX_TENSOR:
        return None
    return f"{what} holds {count:,} {unit}, more than the limit of {MAX_TENSOR:,}"


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a runaway spec from running for minutes."""

    max_layers: int = DEFAULT_MAX_LAYERS

    @property
    def max_steps(self) -> int:
        """Statements run, loop iterations and block calls, all together: a loop of asserts or a
        chain of blocks that builds no layer must stop too."""
        return 3 * self.max_layers


class _Fail(Exception):
    """An item failed; its diagnostic is reported and elaboration goes on."""

    def __init__(self, message: str, span: Span | None, notes=(), help: str | None = None):
        super().__init__(message)
        self.diag = Diagnostic(message, span, tuple(notes), help)


class _Abort(Exception):
    """Elaboration cannot go on (a limit was hit, a block recursed)."""

    def __init__(self, diag: Diagnostic):
        super().__init__(diag.message)
        self.diag = diag


class Val(NamedTuple):
    """A value flowing through the network: a node and its shape, or unknown after an error.
    (A NamedTuple: one is made per layer, and a frozen dataclass costs several times more.)"""

    node: int | None
    shape: Shape | None

    @property
    def known(self) -> bool:
        return self.node is not None


UNKNOWN = Val(None, None)


class _Ctx:
    """A naming scope: its dotted path and the next free position."""

    JOINS = ("add", "mul", "concat")

    def __init__(self, prefix: str):
        self.prefix = prefix  # the dotted path, "" for the network
        self.count = 0
        self.taken: dict[str, Span | None] = {}
        self.prefixed = dict.fromkeys(self.JOINS, 0)  # names taken that start with each join's kind

    def take(self, name: str, span: Span | None) -> None:
        self.taken[name] = span
        if name[:1] in "amc":  # the first letters of the joins' kinds: most names skip the loop
            for kind in self.JOINS:
                if name.startswith(kind):
                    self.prefixed[kind] += 1

    def join_name(self, kind: str) -> str:
        """`add`, then `add_1`, `add_2`, ...: counted as names are taken, not by scanning them (O(1))."""
        if kind not in self.taken:
            return kind
        n = self.prefixed[kind]
        while f"{kind}_{n}" in self.taken:
            n += 1
        return f"{kind}_{n}"

    def claim(self, label: str | None, span: Span | None) -> str:
        if label is None:
            name = str(self.count)
        else:
            problem = label_problem(label)
            if problem:
                raise _Fail(problem[0], span, help=problem[1])
            name = label
        if name in self.taken:
            where = f"'{self.prefix}'" if self.prefix else "the network"
            prev = self.taken[name]
            again = prev is not None and prev == span  # the same statement, run twice: a loop
            help_ = 'a loop makes it once per iteration: give each its own name, e.g. "conv{i}": ... in a for loop' if again else None
            raise _Fail(f"the name '{name}' is used twice in {where}", span, notes=[Note("first used here", prev)] if prev and not again else [], help=help_)
        self.take(name, span)
        self.count += 1
        return name

    def dotted(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def child(self, name: str) -> _Ctx:
        return _Ctx(self.dotted(name))


class _Values:
    """The values one block instance (or the network) has named so far: by a label or a Bind.
    Values are local to it, as a function's variables are: a called block starts its own."""

    def __init__(self, owner: str, body: tuple):
        self.owner, self.body = owner, body  # "the network" / "block 'name'", and its definition's body
        self.named: dict[str, tuple[Val, Span | None]] = {}


@dataclass(frozen=True)
class _Block:
    definition: defs.BlockDef
    globals: Env  # the parameters of the file that defines it


class Elaborator:
    def __init__(self, program: Program, overrides: dict[str, irx.Expr] | None, input_shape: Shape | None, limits: Limits, variant: str | None = None):
        self.program = program
        self.modules = lower_program(program)
        self.overrides = overrides or {}
        self.variant = variant
        self.input_override = input_shape
        self.limits = limits
        self.rep = Reporter()
        self.nodes: list[Node] = []
        self.idle: list[Node] = []  # `idle` members' nodes, and how many running nodes each follows
        self.idle_after: list[int] = []
        self.idling = 0
        self.members_checked: set = set()
        self.ref_names: dict[str, set[str]] = {}
        self.scopes: dict[str, Scope] = {}
        self.steps = 0
        self.active: dict[str, int] = {}  # block name -> calls of it on call_stack: recursion found in O(1)
        self.call_stack: list[tuple[str, Span]] = []
        self.blocks: dict[str, _Block] = {}
        self.values: list[_Values] = []  # the value scopes of the block instances being elaborated

    # ---- entry ----
    def run(self) -> Graph:
        main = self.modules[self.program.main.file]
        try:
            chosen = self._variant(main)
            params = self._params(main, self.overrides, chosen)
            self._collect_blocks(params)
            if main.network is None:
                self._fatal(
                    "no network in this spec",
                    self.program.main.span,
                    help="add `network name:` with an indented body (a file of blocks only is a library to import)",
                )
            net = main.network
            shape = self._input_shape(main, params)
            if self.rep:
                raise ArchspecError(self.rep.diagnostics, self.program.sources)
            self.scopes[""] = Scope("", "network", net.name, dict(params), net.span, net.span)
            self.nodes.append(Node(0, "input", {"shape": shape}, (), "input", "", shape, net.input.span if net.input else net.span))
            env = Env({}, Env(dict(params)), in_shape=shape)
            self.values.append(_Values("the network", net.body))
            self._name("input", Val(0, shape), net.span)  # `@input`, `like="input"`
            self._check_members(net.members, net.members_span, net.body, "the network")
            out = self._seq(net.body, Val(0, shape), env, _Ctx(""))
            outputs = self._outputs(net, out)
            if not self.rep:
                self._check_unrun_calls(net)
        except _Abort as a:
            self.rep.diagnostics.append(a.diag)
            raise ArchspecError(self.rep.diagnostics, self.program.sources) from None
        except _Fail as f:
            try:
                self._report(f.diag)
            except TooManyErrors:
                pass
            raise ArchspecError(self.rep.diagnostics, self.program.sources) from None
        except TooManyErrors:
            raise ArchspecError(self.rep.diagnostics, self.program.sources) from None
        if self.rep or not out.known or not all(v.known for _, v in outputs):
            raise ArchspecError(self.rep.diagnostics or [Diagnostic("the network produced no value", net.span)], self.program.sources)
        graph = Graph(net.name, main.file, shape, self.nodes, outputs[0][1].node, self.scopes, dict(params))
        graph.overridden = frozenset(self.overrides) | {k for k, _, _ in (chosen.values if chosen else ())}
        graph.variant = self.variant
        graph.variants = tuple(v.name for v in main.variants)
        graph.idle, graph.idle_after = tuple(self.idle), tuple(self.idle_after)
        graph.ref_names = {k: frozenset(v) for k, v in self.ref_names.items()}
        if net.outputs:
            graph.outputs = tuple((n, v.node) for n, v in outputs)
        graph.definitions = Definitions(
            net,
            {name: b.definition for name, b in self.blocks.items()},
            {b.definition.file: dict(b.globals.values) for b in self.blocks.values()} | {net.file: dict(params)},
        )
        if net.init is not None:
            graph.init = self._init(net.init, params)
        return graph

    def _outputs(self, net: defs.NetworkDef, last: Val) -> list[tuple[str, Val]]:
        """What the network returns: the values `return` names, or its last value."""
        if not net.outputs:
            return [("output", last)]
        scope = self.values[-1]
        out = []
        for n in net.outputs:
            if n not in scope.named:
                self._report(Diagnostic(f"return: the network makes no value named '{n}'", net.outputs_span, help=self._close_value(n, scope)))
                out.append((n, UNKNOWN))
            else:
                out.append((n, scope.named[n][0]))
        return out

    def _check_unrun_calls(self, net: defs.NetworkDef) -> None:
        """Check the calls no instance ran (an untaken `if`, `repeat 0`) as far as can be without
        values: known op or block, arguments that bind. Backends write every branch of the
        definitions, so `check` passing must mean that code is sound too."""
        seen: set[str] = set()
        bodies = [(net.body, set(self.scopes[""].args))]
        note = Note("no instance runs this code, but generated code contains it", None)
        while bodies:
            body, names_known = bodies.pop()
            self._check_unrun_names(body, names_known | defs.bound_names(body), note)
            for s in defs.walk(body):
                if not isinstance(s, defs.Call):
                    continue
                try:
                    if s.kind == "unknown":
                        raise _Fail(f"unknown op or block '{s.written}'", s.span, help=self._did_you_mean(s.written))
                    if s.kind == "block":
                        d = self.blocks[s.callee].definition
                        names = [p.name for p in d.params]
                        required = [p.name for p in d.params if p.default is None]
                        if s.callee not in seen:
                            seen.add(s.callee)
                            bodies.append((d.body, set(names) | set(self.blocks[s.callee].globals.values)))
                        callee, noun = f"block {d.name}", "parameter"
                    else:
                        op = OPS[s.callee]
                        if s.splice:
                            raise _Fail(f"'*' splices a block, and '{s.written}' is not one", s.span)
                        names = _signature(op)[0]
                        required = [a.name for a in op.attrs if a.default is REQUIRED]
                        callee, noun = op.name, "argument"
                    positional = [(None, a) for a in s.args if a.name is None]
                    keyword = {a.name: (None, a) for a in s.args if a.name is not None}
                    bound = _bind(callee, f"{callee} takes at most", noun, names, positional, keyword)
                    missing = [n for n in required if n not in bound]
                    if missing:
                        raise _Fail(f"{callee}: missing {noun} '{missing[0]}'", s.span)
                    if s.kind == "op":
                        self._check_literal_args(op, bound)
                except _Fail as f:
                    self._report(Diagnostic(f.diag.message, f.diag.span, f.diag.notes + (note,), f.diag.help))

    def _check_unrun_names(self, body: tuple, known: set[str], note: Note) -> None:
        """Every name an unrun statement reads is bound somewhere, and every `in.x` is a field of `in`."""
        for s in defs.walk(body):
            stack = [(e, known) for e in defs.expressions(s)]
            while stack:
                e, names = stack.pop()
                if isinstance(e, irx.Var) and e.name not in names:
                    self._report(Diagnostic(f"unknown name '{e.name}'", e.span, (note,), _suggest(e.name, names)))
                elif isinstance(e, irx.Field) and isinstance(e.value, irx.Input) and e.name not in InShape.FIELDS:
                    self._report(Diagnostic(f"'in' has no field '{e.name}'", e.span, (note,), "fields: " + ", ".join(InShape.FIELDS)))
                if isinstance(e, irx.Comprehension):  # its target's names are known in its element and condition
                    inner = names | irx.target_names(e.target)
                    stack += [(e.iterable, names), (e.element, inner)] + ([(e.condition, inner)] if e.condition is not None else [])
                else:
                    stack.extend((c, names) for c in irx.children(e))

    def _check_literal_args(self, op, bound: dict) -> None:
        """An unrun op call's arguments that need no values (`dwconv(true)`) must be of the right kind."""
        kinds = {a.name: a.kind for a in op.attrs}
        for attr, (_, a) in bound.items():
            if irx.free_names(a.value) or irx.reads_input(a.value):
                continue
            try:
                coerce(kinds[attr], attr, evaluate(a.value, Env({})))
            except EvalError as e:
                raise _Fail(e.message, e.span, help=e.help) from None
            except OpError as err:
                raise _Fail(f"{op.name}: {err.message}", a.value.span) from None

    INIT_SCHEMES = ("default", "kaiming")

    def _init(self, call: defs.Call, params: dict) -> dict[str, Any]:
        """`init kaiming(zero_residual=true)`: how generated modules initialise their weights."""
        if call.written not in self.INIT_SCHEMES:
            close = difflib.get_close_matches(call.written, self.INIT_SCHEMES, n=1)
            raise ArchspecError(
                Diagnostic(
                    f"unknown initialisation '{call.written}'",
                    call.span,
                    help=f"did you mean '{close[0]}'?" if close else "schemes: default, kaiming",
                ),
                self.program.sources,
            )
        out: dict[str, Any] = {"scheme": call.written, "zero_residual": False}
        for a in call.args:
            try:
                value = evaluate(a.value, Env(dict(params)))
            except EvalError as err:
                raise ArchspecError(Diagnostic(err.message, err.span, help=err.help), self.program.sources) from None
            if a.name != "zero_residual" or not isinstance(value, bool):
                raise ArchspecError(Diagnostic("init takes one argument, zero_residual=true|false", a.span), self.program.sources)
            out["zero_residual"] = value
        return out

    def _fatal(self, message: str, span: Span | None, help: str | None = None, notes=()):
        raise _Abort(Diagnostic(message, span, tuple(notes), help))

    # ---- parameters, input, blocks ----
    def _variant(self, module: defs.ModuleDef) -> defs.Variant | None:
        """Check every `variant` line of the spec (each names parameters it has, once) and find the chosen one."""
        declared = {p.name for p in module.params}
        seen: dict[str, defs.Variant] = {}
        for v in module.variants:
            if v.name in seen:
                self.rep.error(f"variant '{v.name}' is defined twice", v.span, notes=[Note("first defined here", seen[v.name].span)])
            seen.setdefault(v.name, v)
            names: set[str] = set()
            for name, _, span in v.values:
                if name not in declared:
                    close = difflib.get_close_matches(name, list(declared), n=1)
                    self.rep.error(
                        f"variant {v.name}: the spec has no parameter '{name}'",
                        span,
                        help=f"did you mean '{close[0]}'?" if close else "a variant sets parameters declared with `param`",
                    )
                elif name in names:
                    self.rep.error(f"variant {v.name}: '{name}' is set twice", span)
                names.add(name)
        if self.variant is None:
            return None
        if self.variant not in seen:
            known = ", ".join(seen) or "none"
            close = difflib.get_close_matches(self.variant, list(seen), n=1)
            self._fatal(
                f"--variant {self.variant}: the spec has no variant '{self.variant}' (its variants: {known})",
                module.variants[0].span if module.variants else Span(module.file, 1, 1),
                help=f"did you mean '{close[0]}'?" if close else "a spec's variants are its `variant NAME: ...` lines",
            )
        return seen[self.variant]

    def _params(self, module: defs.ModuleDef, overrides: dict[str, irx.Expr], variant: defs.Variant | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        declared = {p.name: p for p in module.params}
        chosen = {name: (e, span) for name, e, span in (variant.values if variant else ())}
        for name in overrides:
            if name not in declared:
                known = ", ".join(declared) or "none"
                close = difflib.get_close_matches(name, list(declared), n=1)
                self.rep.error(
                    f"--set {name}: the spec has no parameter '{name}' (its parameters: {known})",
                    module.params[0].span if module.params and module.params[0].span else Span(module.file, 1, 1),  # where they are declared
                    help=f"did you mean '{close[0]}'?" if close else None,
                )
        for p in module.params:
            env = Env(values)
            try:
                default = evaluate(p.default, env)
            except EvalError as e:
                self.rep.error(e.message, e.span, help=e.help)
                continue
            if p.name in chosen and p.name not in overrides:  # `--set` wins over the variant
                e, span = chosen[p.name]
                try:
                    value = evaluate(e, Env({}))
                except EvalError as err:
                    self.rep.error(f"variant {variant.name}: {err.message}", err.span, help="a variant's values are literals: 10, 0.5, true, \"same\", (1, 2)")  # type: ignore[union-attr]
                    continue
                if not _same_kind(default, value):
                    self.rep.error(
                        f"variant {variant.name}: {p.name}={show(value)}, but the parameter is {describe(default)} (default {show(default)}), not {describe(value)}",  # type: ignore[union-attr]
                        span,
                        notes=[Note("the parameter is declared here", p.span)],
                    )
                    continue
                default = value
            if p.name in overrides:
                try:
                    value = evaluate(overrides[p.name], Env({}))
                except EvalError as e:
                    self.rep.error(f"--set {p.name}: {e.message}", p.span, help='--set values are literals: 10, 0.5, true, "same", (1, 2)')
                    continue
                if not _same_kind(default, value):
                    word = isinstance(default, str) and isinstance(value, (bool, type(None)))  # `none`, `true`: literals, not words
                    self.rep.error(
                        f"--set {p.name}={show(value)}: the parameter is {describe(default)} (default {show(default)}), not {describe(value)}",
                        p.span,
                        help=f"for the string, quote it: --set '{p.name}=\"{show(value)}\"'" if word else None,
                    )
                    continue
                default = value
            if p.name in values:
                self.rep.error(f"parameter '{p.name}' is declared twice", p.span)
            values[p.name] = default
        return values

    def _input_shape(self, module: defs.ModuleDef, params: dict) -> Shape:
        net = module.network
        if self.input_override is not None:
            shape = tuple(self.input_override)
            span = None
        elif net.input is None:
            self._fatal(
                "the spec gives no input shape",
                net.span,
                help="add `input 3x224x224` at the top, or pass --input 3x224x224",
            )
        else:
            span = net.input.span
            try:
                shape = evaluate(net.input, Env(dict(params)))
            except EvalError as e:
                self._fatal(e.message, e.span, e.help)
            if isinstance(shape, int) and not isinstance(shape, bool):
                shape = (shape,)
        if not (
            isinstance(shape, tuple)
            and len(shape) in (1, 3)
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            what = "--input" if span is None else "input"
            self._fatal(f"{what}: expected [C, H, W] or [F] of positive ints, got {show(shape)}", span or Span(module.file, 1, 1))
        refusal = tensor_limit(f"{'--input' if span is None else 'input'}: {show(shape)}", math.prod(shape))
        if refusal:
            self._fatal(refusal, span or Span(module.file, 1, 1), help=TENSOR_HELP)
        return shape

    def _collect_blocks(self, params: dict[str, Any]) -> None:
        """Blocks see the parameters of the file that defines them: the network's (after --set) in the main file."""
        for file, module in self.modules.items():
            globals_ = Env(dict(params) if file == self.program.main.file else self._params(module, {}))
            for b in module.blocks:
                if lookup(b.name) is not None:
                    self.rep.error(f"block '{b.name}' has the name of a built-in op", b.span, help="rename the block")
                    continue
                if b.name in self.blocks:
                    prev = self.blocks[b.name].definition
                    self.rep.error(f"block '{b.name}' is defined twice", b.span, notes=[Note("first defined here", prev.span)])
                    continue
                self.blocks[b.name] = _Block(b, globals_)

    # ---- statements ----
    def _seq(self, stmts: tuple, value: Val, env: Env, ctx: _Ctx) -> Val:
        for stmt in stmts:
            value = self._stmt(stmt, value, env, ctx)
        return value

    def _stmt(self, stmt, value: Val, env: Env, ctx: _Ctx) -> Val:
        self._tick(stmt.span)
        try:
            if isinstance(stmt, defs.Line):
                for item in stmt.items:
                    value = self._item(item, value, env, ctx, None)
                return value
            if isinstance(stmt, defs.Labeled):
                return self._labeled(stmt, value, env, ctx)
            if isinstance(stmt, (defs.Repeat, defs.For)):
                for _ in self._iterations(stmt, env):
                    value = self._seq(stmt.body, value, env, ctx)
                return value
            if isinstance(stmt, defs.If):
                return self._seq(self._choose(stmt, env), value, env, ctx)
            if isinstance(stmt, defs.Join):
                return self._combinator(stmt, value, env, ctx)
            if isinstance(stmt, defs.Idle):
                return self._idle(stmt, value, env, ctx)
            raise AssertionError(stmt)
        except _Fail as f:
            self._report(f.diag)
            return UNKNOWN

    def _idle(self, stmt: defs.Idle, value: Val, env: Env, ctx: _Ctx) -> Val:
        """Build the item (its nodes go to the graph's `idle`) and go on with the value before it:
        forward does not run it, and the values it names cannot be read."""
        named = dict(self.values[-1].named)
        self.idling += 1
        try:
            self._stmt(stmt.item, value, env, ctx)
        finally:
            self.idling -= 1
            self.values[-1].named = named
        return value

    def _iterations(self, stmt: defs.Repeat | defs.For, env: Env):
        """Run a loop: each iteration binds its targets (a `for`'s) and yields."""
        if isinstance(stmt, defs.Repeat):
            n = self._eval(stmt.count, env)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise _Fail(f"repeat needs a non-negative int, got {show(n)}", stmt.count.span)
            if n > self.limits.max_layers:
                self._fatal(
                    f"repeat {n:,} exceeds the limit of {self.limits.max_layers:,} layers",
                    stmt.count.span,
                    help="raise the limit with --max-layers if this is intended",
                )
            yield from range(n)
            return
        seq = self._eval(stmt.iter, env)
        if not isinstance(seq, (tuple, range, str)):
            raise _Fail(f"for needs a tuple or range to iterate over, got {describe(seq)}", stmt.iter.span)
        if len(seq) > self.limits.max_steps:
            self._fatal(
                f"for over {len(seq):,} items exceeds the limit of {self.limits.max_steps:,} iterations",
                stmt.iter.span,
                help="the limit is 3 x --max-layers; raise that if this is intended (docs/limits.md)",
            )
        for item in seq:
            self._tick(stmt.span)
            self._bind_target(stmt.target, item, env, stmt.span)
            yield item

    def _report(self, diag: Diagnostic) -> None:
        """Record an error; inside blocks, say which calls led there (innermost two)."""
        calls = [Note(f"in block '{name}', called here", span) for name, span in reversed(self.call_stack[-2:])]
        if calls:
            diag = Diagnostic(diag.message, diag.span, diag.notes + tuple(calls), diag.help, diag.severity)
        self.rep.add(diag)

    def _tick(self, span: Span) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self._fatal(
                f"elaboration takes more than {self.limits.max_steps:,} steps (statements, loop iterations and block calls)",
                span,
                help="the limit is 3 x --max-layers; raise that if this is intended (docs/limits.md)",
            )

    def _choose(self, stmt: defs.If | defs.Labeled, env: Env) -> tuple:
        """The body of the branch of an `if` that runs (the else branch, or none); for a guarded
        label, the label without its guard if the guard holds, else nothing."""
        if isinstance(stmt, defs.Labeled):
            return (defs.Labeled(stmt.label, None, stmt.body, stmt.inline, stmt.span),) if self._eval(stmt.guard, env) else ()
        for cond, body in stmt.branches:
            if self._eval(cond, env):
                return body
        return stmt.orelse

    def _bind_target(self, target, value, env: Env, span: Span) -> None:
        if isinstance(target, str):
            env.values[target] = value
            return
        if not isinstance(value, tuple) or len(value) != len(target):
            n = len(value) if isinstance(value, tuple) else "a non-tuple"
            raise _Fail(f"cannot unpack {show(value)} ({n} items) into {len(target)} names", span)
        for t, v in zip(target, value):
            self._bind_target(t, v, env, span)

    def _eval(self, e: irx.Expr, env: Env) -> Any:
        try:
            return evaluate(e, env)
        except EvalError as err:
            raise _Fail(err.message, err.span, help=err.help) from None

    def _label(self, stmt: defs.Labeled, env: Env) -> str:
        if isinstance(stmt.label, str):
            return stmt.label
        v = self._eval(stmt.label, env)
        if not isinstance(v, str):
            raise _Fail(f"a name must be a string, got {describe(v)}", stmt.label.span)
        return v

    def _labeled(self, stmt: defs.Labeled, value: Val, env: Env, ctx: _Ctx) -> Val:
        if stmt.guard is not None:
            body = self._choose(stmt, env)
            return self._labeled(body[0], value, env, ctx) if body else value
        label = self._label(stmt, env)
        if label == "_":
            return self._seq(stmt.body, value, env, ctx)
        only = stmt.body[0] if len(stmt.body) == 1 else None
        if stmt.inline and isinstance(only, defs.Line) and len(only.items) == 1 and isinstance(only.items[0], defs.Call) and not only.items[0].splice:
            return self._name(label, self._item(only.items[0], value, env, ctx, label, stmt.span), stmt.span)
        name = ctx.claim(label, stmt.span)
        inner = ctx.child(name)
        self.scopes[inner.prefix] = Scope(inner.prefix, "seq", span=stmt.span)
        return self._name(label, self._seq(stmt.body, value, env, inner), stmt.span)

    def _name(self, name: str, value: Val, span: Span | None) -> Val:
        """Name a value in the current block instance (a label's output, a Bind's): a later `@name`
        reads it; naming again (a loop's next iteration) replaces it."""
        self.values[-1].named[name] = (value, span)
        return value

    def _ref(self, ref: defs.Ref, env: Env) -> Val:
        name = ref.name if isinstance(ref.name, str) else self._eval(ref.name, env)
        if not isinstance(name, str):
            raise _Fail(f"a value's name must be a string, got {describe(name)}", ref.span)
        scope = self.values[-1]
        if name in scope.named:
            if not isinstance(ref.name, str):
                self.ref_names.setdefault(ref.key, set()).add(name)
            return scope.named[name][0]
        later = next((s.span for s in defs.walk(scope.body) if defs.name_made(s) == name), None)
        if later is not None and (later.line, later.col) > (ref.span.line, ref.span.col) and later.file == ref.span.file:
            raise _Fail(f"'@{name}' is read before it is made", ref.span, notes=[Note(f"'{name}' is made here, later", later)])
        outer = next((v for v in reversed(self.values[:-1]) if name in v.named), None)
        if outer is not None:
            raise _Fail(
                f"'@{name}' is not a value of {scope.owner}: values are local to the block or network that makes them",
                ref.span,
                notes=[Note(f"'{name}' is made in {outer.owner}, here", outer.named[name][1])],
                help="pass what the block needs through its input, or make the value inside it",
            )
        raise _Fail(f"unknown value '@{name}': {scope.owner} has made no value of that name here", ref.span, help=self._close_value(name, scope))

    @staticmethod
    def _close_value(name: str, scope: _Values) -> str | None:
        close = difflib.get_close_matches(name, list(scope.named), n=1)
        return f"did you mean '@{close[0]}'?" if close else None

    # ---- items ----
    def _item(self, item, value: Val, env: Env, ctx: _Ctx, label: str | None, label_span: Span | None = None) -> Val:
        try:
            if isinstance(item, defs.Let):
                env.values[item.name] = self._eval(item.value, env)
                return value
            if isinstance(item, defs.Check):
                if not self._eval(item.test, env):
                    message = self._eval(item.message, env) if item.message is not None else "assertion failed"
                    raise _Fail(str(message), item.span)
                return value
            if isinstance(item, defs.Ref):
                return self._ref(item, env)
            if isinstance(item, defs.Bind):
                name = item.name if isinstance(item.name, str) else self._eval(item.name, env)
                if not isinstance(name, str):
                    raise _Fail(f"a value's name must be a string, got {describe(name)}", item.name.span)
                return self._name(name, self._item(item.call, value, env, ctx, None), item.span)
            call: defs.Call = item
            block = self.blocks.get(call.callee) if call.kind == "block" else None
            if call.splice:
                if block is None:
                    raise _Fail(f"'*' splices a block, and '{call.written}' is not one", call.span, help=self._did_you_mean(call.written))
                return self._call_block(block, call, value, env, ctx, None, transparent=True)
            if block is not None:
                return self._call_block(block, call, value, env, ctx, label, transparent=False, label_span=label_span)
            if call.kind != "op":
                raise _Fail(f"unknown op or block '{call.written}'", call.span, help=self._did_you_mean(call.written))
            return self._call_op(OPS[call.callee], call, value, env, ctx, label, label_span)
        except _Fail as f:
            self._report(f.diag)
            return UNKNOWN

    def _did_you_mean(self, name: str) -> str | None:
        close = difflib.get_close_matches(name, public_names() + list(self.blocks), n=1)
        return f"did you mean '{close[0]}'?" if close else None

    def _args(self, call: defs.Call, env: Env) -> tuple[list[tuple[Any, defs.Arg]], dict[str, tuple[Any, defs.Arg]]]:
        positional, keyword = [], {}
        for a in call.args:
            v = self._eval(a.value, env)
            if a.name is None:
                if keyword:
                    raise _Fail("a positional argument follows a keyword argument", a.span)
                positional.append((v, a))
            else:
                if a.name in keyword:
                    raise _Fail(f"argument '{a.name}' is given twice", a.span)
                keyword[a.name] = (v, a)
        return positional, keyword

    def _call_op(self, op, call: defs.Call, value: Val, env: Env, ctx: _Ctx, label: str | None, label_span) -> Val:
        positional, keyword = self._args(call, env)
        names, defaults = _signature(op)
        raw = _bind(op.name, f"{op.name} takes at most", "argument", names, positional, keyword)
        attrs: dict[str, Any] = {}
        for attr in op.attrs:
            if attr.name in raw:
                v, a = raw[attr.name]
                try:
                    attrs[attr.name] = coerce(attr.kind, attr.name, v)
                except OpError as err:
                    raise _Fail(f"{op.name}: {err.message}", a.value.span if a else call.span) from None
            elif attr.default is REQUIRED:
                raise _Fail(f"{op.name}: missing argument '{attr.name}'", call.span, help=f"{op.name} takes ({', '.join(names)})")
            else:
                attrs[attr.name] = defaults[attr.name]
        name = ctx.claim(label, label_span or call.span)
        if not value.known:
            return UNKNOWN
        if attrs.get("like") is not None:  # `upsample(like="input")`: the size of that value, known here
            self._size_like(op.name, attrs, raw, call, env)
        try:
            shape = op.infer(attrs, [value.shape])
        except OpError as err:
            span = raw[err.arg][1].value.span if err.arg in raw and raw[err.arg][1] else call.span
            raise _Fail(err.message, span, notes=self._origin(value), help=err.help) from None
        return self._add(op.name, attrs, [value], ctx, name, shape, call.span, call.key)

    def _size_like(self, op: str, attrs: dict, raw: dict, call: defs.Call, env: Env) -> None:
        span = raw["like"][1].value.span if raw["like"][1] else call.span
        given = [k for k in ("size", "scale") if attrs.get(k) is not None]
        if given:
            raise _Fail(f"{op}: give like or {given[0]}, not both", span)
        other = self._ref(defs.Ref(attrs["like"], span), env)
        if other.shape is None or len(other.shape) != 3:
            raise _Fail(f"{op}: like='{attrs['like']}' names a value of shape {fmt(other.shape or ())}, not an image", span)
        attrs["size"] = tuple(other.shape[1:])

    def _origin(self, value: Val) -> list[Note]:
        if value.node is None or value.node == 0:
            return []
        n = self._node(value.node)
        return [Note(f"its input {fmt(n.shape)} comes from {n.op} '{n.path}'", n.span)]

    def _add(self, op: str, attrs: dict, inputs: list[Val], ctx: _Ctx, name: str, shape: Shape, span: Span | None, site: str) -> Val:
        if len(self.nodes) > self.limits.max_layers:
            self._fatal(
                f"the network exceeds the limit of {self.limits.max_layers:,} layers",
                span,
                help="raise the limit with --max-layers if this is intended",
            )
        refusal = tensor_limit(f"{op}: its output {fmt(tuple(shape))}", math.prod(shape))
        if refusal:
            raise _Fail(refusal, span, help=TENSOR_HELP)
        shape = shape if type(shape) is tuple else tuple(shape)
        made = IDLE_BASE + len(self.idle) if self.idling else len(self.nodes)
        node = Node(made, op, attrs, tuple([v.node for v in inputs]), ctx.dotted(name), ctx.prefix, shape, span, site)
        if self.idling:
            self.idle.append(node)
            self.idle_after.append(len(self.nodes))
        else:
            self.nodes.append(node)
        return Val(node.id, shape)

    def _call_block(self, block: _Block, call: defs.Call, value: Val, env: Env, ctx: _Ctx, label, transparent: bool, label_span=None) -> Val:
        d = block.definition
        self._tick(call.span)
        if self.active.get(d.name):
            names = [n for n, _ in self.call_stack]
            chain = " -> ".join(names[names.index(d.name) :] + [d.name])
            self._fatal(
                f"block '{d.name}' calls itself (recursion through blocks: {chain})",
                call.span,
                notes=[Note("the recursive block starts here", d.span)],
            )
        if len(self.call_stack) >= MAX_BLOCK_DEPTH:
            self._fatal(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", call.span, help="this is a limit (docs/limits.md)")
        positional, keyword = self._args(call, env)
        pnames = [p.name for p in d.params]
        bound = {k: v for k, (v, _) in _bind(f"block {d.name}", f"block {d.name} takes", "parameter", pnames, positional, keyword).items()}
        globals_ = block.globals
        for p in d.params:
            if p.name not in bound:
                if p.default is None:
                    raise _Fail(f"{d.name}: missing argument '{p.name}'", call.span, notes=[Note(f"{d.name} is defined here", d.span)])
                bound[p.name] = self._eval(p.default, Env(dict(bound), globals_))
        if transparent:
            inner = ctx
        else:
            name = ctx.claim(label, label_span or call.span)
            inner = ctx.child(name)
            path = inner.prefix
            self.scopes[path] = Scope(path, "block", d.name, dict(bound), call.span, d.span)
        if not value.known:
            return UNKNOWN
        self._check_members(d.members, d.members_span, d.body, f"block '{d.name}'")
        self.call_stack.append((d.name, call.span))
        self.active[d.name] = self.active.get(d.name, 0) + 1
        self.values.append(_Values(f"block '{d.name}'", d.body))
        self._name("input", value, call.span)  # a block's `@input` is its own input
        try:
            return self._seq(d.body, value, Env(bound, globals_, in_shape=value.shape), inner)
        finally:
            self.values.pop()
            self.call_stack.pop()
            self.active[d.name] -= 1

    # ---- joins ----
    def _combinator(self, stmt: defs.Join, value: Val, env: Env, ctx: _Ctx) -> Val:
        outs = self._branches(stmt.branches, value, env, ctx)
        kind = stmt.kind
        if kind in ("add", "mul") and len(outs) < 2:
            outs.insert(0, (value, stmt.span))  # an absent branch is the identity
        if not outs:
            raise _Fail(f"{kind} needs at least one branch", stmt.span)
        vals = [v for v, _ in outs]
        if not all(v.known for v in vals):
            return UNKNOWN
        op = OPS[kind]
        attrs: dict[str, Any] = {}
        try:
            shape = op.infer(attrs, [v.shape for v in vals])
        except JoinError as err:
            notes = [Note(f"branch {i + 1} gives {fmt(v.shape)}{self._made(v, s)}", s) for i, (v, s) in enumerate(outs) if i in (0, err.culprit)]
            raise _Fail(err.message, outs[err.culprit][1], notes=notes, help=err.help) from None
        name = ctx.join_name(kind)
        ctx.take(name, stmt.span)
        return self._add(kind, attrs, vals, ctx, name, shape, stmt.span, stmt.key)

    def _check_members(self, members: tuple[str, ...], span: Span | None, body: tuple, owner: str) -> None:
        """`members cv1, cv2, m` names members the body makes (by a label at its top level)."""
        if not members or span in self.members_checked:
            return
        self.members_checked.add(span)
        labels = [s.label for s in _top_level(body) if isinstance(s, defs.Labeled) and isinstance(s.label, str)]
        for n in members:
            if n not in labels:
                close = difflib.get_close_matches(n, labels, n=1)
                raise _Fail(
                    f"members: '{n}' is not a member {owner} makes (a label at the top of its body)",
                    span,
                    help=f"did you mean '{close[0]}'?" if close else None,
                )

    def _node(self, i: int) -> Node:
        return self.nodes[i] if i < IDLE_BASE else self.idle[i - IDLE_BASE]

    def _made(self, v: Val, where: Span) -> str:
        """`, made by conv 'down3.1' (line 14)`: where a join's input comes from, which may be far
        back, or in another file than the note's `where` (then `(lib.arch:14)`)."""
        n = self._node(v.node) if v.node is not None else None
        if n is None or n.op == "input":
            return ", the network's input" if n is not None else ""
        if n.span is None:
            return f", made by {n.op} '{n.path}'"
        at = f"line {n.span.line}" if n.span.file == where.file else f"{n.span.file}:{n.span.line}"
        return f", made by {n.op} '{n.path}' ({at})"

    def _branches(self, stmts: tuple, value: Val, env: Env, ctx: _Ctx) -> list[tuple[Val, Span]]:
        """Run the branches of a join that exist here, each on `value`: an `if` contributes its
        chosen branch's, a guarded label itself if its guard holds, a loop its body's once per
        iteration (C2f's `concat: @cv1; for i in range(n): @"y{i}"`)."""
        out: list[tuple[Val, Span]] = []
        for s in stmts:
            if isinstance(s, defs.If):
                out.extend(self._branches(self._choose(s, env), value, env, ctx))
            elif isinstance(s, defs.Labeled) and s.guard is not None:
                if self._choose(s, env):
                    out.append((self._branch(s, value, env, ctx), s.span))
            elif isinstance(s, (defs.Repeat, defs.For)):
                for _ in self._iterations(s, env):
                    out.extend(self._branches(s.body, value, env, ctx))
            elif isinstance(s, defs.Line) and any(isinstance(i, (defs.Let, defs.Check)) for i in s.items):
                raise _Fail("assignments and asserts are not branches; put them before the join", s.span)
            else:
                out.append((self._branch(s, value, env, ctx), s.span))
        return out

    def _branch(self, stmt, value: Val, env: Env, ctx: _Ctx) -> Val:
        if isinstance(stmt, defs.Line) and len(stmt.items) > 1:
            try:
                name = ctx.claim(None, stmt.span)
            except _Fail as f:
                self._report(f.diag)
                return UNKNOWN
            inner = ctx.child(name)
            self.scopes[inner.prefix] = Scope(inner.prefix, "seq", span=stmt.span)
            return self._stmt(stmt, value, env, inner)
        if isinstance(stmt, defs.Labeled):
            stmt = defs.Labeled(stmt.label, None, stmt.body, stmt.inline, stmt.span)
        return self._stmt(stmt, value, env, ctx)


def _top_level(body: tuple):
    """The statements of a body that name its own members: through `if`s, loops, joins and `_:`."""
    for s in body:
        yield s
        if isinstance(s, defs.If):
            for _, b in s.branches:
                yield from _top_level(b)
            yield from _top_level(s.orelse)
        elif isinstance(s, (defs.Repeat, defs.For)):
            yield from _top_level(s.body)
        elif isinstance(s, defs.Join):
            yield from _top_level(s.branches)
        elif isinstance(s, defs.Labeled) and s.label == "_":
            yield from _top_level(s.body)
        elif isinstance(s, defs.Idle):
            yield s.item


@functools.cache
def _signature(op) -> tuple[list[str], dict[str, Any]]:
    """An op's argument names and its defaults, coerced: the same for every call, so computed once."""
    return [a.name for a in op.attrs], {a.name: coerce(a.kind, a.name, a.default) for a in op.attrs if a.default is not REQUIRED}


def _bind(callee: str, takes: str, noun: str, names: list[str], positional: list, keyword: dict) -> dict[str, tuple[Any, defs.Arg]]:
    """Match a call's arguments to an op's attributes or a block's parameters, by position then keyword."""
    if len(positional) > len(names):
        raise _Fail(
            f"{takes} {len(names)} positional argument(s) ({', '.join(names) or 'none'}), got {len(positional)}",
            positional[len(names)][1].span,
        )
    bound = {name: pair for name, pair in zip(names, positional)}
    for k, (v, a) in keyword.items():
        if k not in names:
            close = difflib.get_close_matches(k, names, n=1)
            raise _Fail(
                f"{callee} has no {noun} '{k}'",
                a.span,
                help=f"did you mean '{close[0]}'?" if close else f"{callee} takes: {', '.join(names) or 'no arguments'}",
            )
        if k in bound:
            raise _Fail(f"{callee}: argument '{k}' is given twice", a.span)
        bound[k] = (v, a)
    return bound


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(default, float) or isinstance(value, int))
    if isinstance(default, tuple):
        return isinstance(value, tuple)
    return type(default) is type(value) or default is None


def elaborate(
    program: Program,
    overrides: dict[str, irx.Expr] | None = None,
    input_shape: Shape | None = None,
    limits: Limits | None = None,
    variant: str | None = None,
) -> Graph:
    """Build the IR graph of `program`'s network (with the parameters of `variant`, then `overrides`),
    or raise ArchspecError with every error found."""
    with budget():  # one bound on what all the spec's expressions build, loops included
        return Elaborator(program, overrides, input_shape, limits or Limits(), variant).run()
