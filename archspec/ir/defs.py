"""The IR's definitions: each block and the network as the spec wrote them, checked.

`archspec.definitions` fills these from the AST (either front end); elaboration unrolls
them into the flat graph (`archspec.ir.graph`), whose block scopes name the definition
they instantiate. Unlike the AST they hold no syntax: calls are resolved to an op (by
its canonical name) or a block, and expressions are `archspec.ir.expr` trees.

Every statement has a `key` (`if@specs/lib/mobilenet.arch:19:5`): graph nodes and
scopes record the keys of the `if` branches and loop iterations they sit in (`guard`),
and block scopes how their top-level statements went (`decisions`), so a backend can
match what was built to the statement that built it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from archspec.diagnostics import Span
from archspec.ir.expr import Expr
from archspec.ir.expr import free_names as expr_names


class _Keyed:
    """A statement whose key is its kind and where it starts: `call@specs/lib/resnet.arch:30:13`."""

    KIND = ""
    span: Span

    @functools.cached_property  # read for every node elaboration makes: computed once a statement
    def key(self) -> str:
        return f"{self.KIND}@{self.span}"


@dataclass(frozen=True)
class Arg:
    """One argument of a call as written: `name` is None for a positional one."""

    name: str | None
    value: Expr
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Call(_Keyed):
    """An op or block applied to the incoming value.

    `kind` is "op" (`callee` is the op's canonical name, aliases resolved), "block", or
    "unknown" (neither: an error, reported only if elaboration reaches it). `splice`
    (`*block(...)`) adds the block's items to the enclosing scope, with no level of its own.
    """

    KIND = "call"
    callee: str
    kind: str
    args: tuple[Arg, ...]
    span: Span = field(compare=False)
    splice: bool = False
    written: str = ""  # the name as written (an alias, say), for messages


@dataclass(frozen=True)
class Let(_Keyed):
    """`name = value`: a variable of the enclosing block (or network)."""

    KIND = "let"
    name: str
    value: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Check(_Keyed):
    """`assert test, "message"`: the spec's own check on its values."""

    KIND = "assert"
    test: Expr
    message: Expr | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Ref(_Keyed):
    """`@name` / `@"down{i}"`: the value the enclosing block or network made under that name (by a
    label or a `Bind`) becomes the current value. `name` is a string or a Format expression."""

    KIND = "ref"
    name: Union[str, Expr]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Bind(_Keyed):
    """`enc1 = double_conv(64)`: the call applied to the current value, its result named `name`
    (a string, or a Format expression: `"y{i}" = bottleneck(c)` in a loop); `"box{i}" = @"{i}"`:
    a value named again (`call` is then that Ref)."""

    KIND = "bind"
    name: str | Expr
    call: Call | Ref
    span: Span = field(compare=False)


Item = Union[Call, Let, Check, Ref, Bind]


@dataclass(frozen=True)
class Line(_Keyed):
    """Items on one line (`conv(...); batchnorm`); in a join, several make one numbered branch."""

    KIND = "line"
    items: tuple[Item, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Labeled:
    """`name: ...`: names a single inline call, or opens a named level; `_` opens none.

    `label` is a string or a Format expression (`"layer{i + 1}"`). With a `guard`
    (`downsample if cond: ...`) the statement is an `if` of one branch: its key then
    starts with `if@`, as an `if`'s does.
    """

    label: Union[str, Expr]
    guard: Expr | None
    body: tuple[Stmt, ...]
    inline: bool
    span: Span = field(compare=False)

    @property
    def key(self) -> str:
        return f"if@{self.span}" if self.guard is not None else f"label@{self.span}"


@dataclass(frozen=True)
class Repeat(_Keyed):
    KIND = "repeat"
    count: Expr
    body: tuple[Stmt, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class For(_Keyed):
    KIND = "for"
    target: Any  # a name, or nested tuples of names: `for (t, c, n, s) in setting`
    iter: Expr
    body: tuple[Stmt, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class If(_Keyed):
    KIND = "if"
    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class Join:
    """`concat:`, `add:` or `mul:`: each statement of the body is one branch."""

    kind: str
    branches: tuple[Stmt, ...]
    span: Span = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.kind}@{self.span}"


@dataclass(frozen=True)
class Idle:
    """`idle dfl: ...`: a member built with its parameters (Ultralytics' DFL, used only to decode
    boxes at inference) that forward does not run: its nodes are the graph's `idle`, not `nodes`."""

    item: Labeled
    span: Span = field(compare=False)


Stmt = Union[Line, Labeled, Repeat, For, If, Join, Idle]


@dataclass(frozen=True)
class Param:
    """A parameter of a block or of a spec file, with its default (None: required)."""

    name: str
    default: Expr | None
    span: Span = field(compare=False)


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span = field(compare=False)
    file: str  # the spec file that defines it: its parameters are the block's globals
    assigned: frozenset[str] = frozenset()  # the variables its body assigns (`hidden = ...`), not loop variables
    members: tuple[str, ...] = ()  # `members cv1, cv2, m`: the order it registers those members in
    members_span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NetworkDef:
    """The network: its body, the main file's parameters (symbolic) and the input shape."""

    name: str
    params: tuple[Param, ...]
    input: Expr | None
    body: tuple[Stmt, ...]
    span: Span = field(compare=False)
    file: str
    init: Call | None = None  # `init kaiming(zero_residual=...)`
    outputs: tuple[str, ...] = ()  # `return logits, aux2, aux1`: the named values it returns (none: its last value)
    outputs_span: Span | None = field(default=None, compare=False)
    members: tuple[str, ...] = ()  # `members ...`: the order it registers those members in
    members_span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Variant:
    """`variant b3: width = 1.2, depth = 1.4`: parameter values chosen together by one name."""

    name: str
    values: tuple[tuple[str, Expr, Span], ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class ModuleDef:
    """One spec file, lowered: its parameters, its blocks and (in the main file) the network."""

    file: str
    params: tuple[Param, ...]
    blocks: tuple[BlockDef, ...]
    network: NetworkDef | None
    variants: tuple[Variant, ...] = ()


@dataclass
class Definitions:
    """What a graph was elaborated from: the network and every block it could call by name
    (the main file's and its imports'), in definition order."""

    network: NetworkDef
    blocks: dict[str, BlockDef] = field(default_factory=dict)
    globals: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> its parameters' values, which its blocks read


# ---- walking a body ----


def walk(body: tuple) -> Iterator[Stmt | Item]:
    """Every statement and item of a body, nested ones too, in source order (a Bind's call too)."""
    for s in body:
        yield s
        if isinstance(s, Line):
            for item in s.items:
                yield item
                if isinstance(item, Bind):
                    yield item.call
        if isinstance(s, If):
            for _, b in s.branches:
                yield from walk(b)
            yield from walk(s.orelse)
        elif isinstance(s, Join):
            yield from walk(s.branches)
        elif isinstance(s, (Labeled, Repeat, For)):
            yield from walk(s.body)
        elif isinstance(s, Idle):
            yield from walk((s.item,))


def expressions(s: Stmt | Item) -> list[Expr]:
    """The expressions a statement itself reads (not those of the statements it holds)."""
    if isinstance(s, Call):
        return [a.value for a in s.args]
    if isinstance(s, Let):
        return [s.value]
    if isinstance(s, Check):
        return [s.test] + ([s.message] if s.message is not None else [])
    if isinstance(s, Labeled):
        return ([s.guard] if s.guard is not None else []) + ([] if isinstance(s.label, str) else [s.label])
    if isinstance(s, (Ref, Bind)):
        return [] if isinstance(s.name, str) else [s.name]
    if isinstance(s, Repeat):
        return [s.count]
    if isinstance(s, For):
        return [s.iter]
    if isinstance(s, If):
        return [c for c, _ in s.branches]
    return []


def target_names(target: Any) -> tuple[str, ...]:
    """The names a `for` binds: `(t, c, n, s)` -> ("t", "c", "n", "s")."""
    if isinstance(target, str):
        return (target,)
    return tuple(n for t in target for n in target_names(t))


def bound_names(body: tuple) -> set[str]:
    """The names a body binds: its assignments and its loops' targets."""
    out: set[str] = set()
    for s in walk(body):
        if isinstance(s, Let):
            out.add(s.name)
        elif isinstance(s, For):
            out |= set(target_names(s.target))
    return out


def free_names(body: tuple) -> set[str]:
    """The names a body reads that it does not bind itself: parameters, the file's parameters."""
    found: set[str] = set()
    for s in walk(body):
        for e in expressions(s):
            found |= expr_names(e)
    return found - bound_names(body)


def assigned_names(body: tuple) -> frozenset[str]:
    """The variables a body assigns (`hidden = ...`), not loop targets."""
    return frozenset(s.name for s in walk(body) if isinstance(s, Let))


def name_made(s) -> str | None:
    """The name a statement or item gives its value, if it is literal: a label's, a Bind's."""
    if isinstance(s, Labeled) and isinstance(s.label, str) and s.label != "_":
        return s.label
    if isinstance(s, Bind) and isinstance(s.name, str):
        return s.name
    return None


def refs(body: tuple) -> list[Ref]:
    """The value references of a body, nested ones too (not those inside the blocks it calls)."""
    return [s for s in walk(body) if isinstance(s, Ref)]
