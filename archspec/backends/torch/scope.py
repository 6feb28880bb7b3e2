"""What the torch backend keeps track of while it writes a class.

`Flow` is where lowering stands in a body (the channels flowing, as a Python expression; the
rank; the next free member position; the container members join; forward's variable).
`Frame` holds the names of the function being written. `Emitted` is a written class, as its
callers see it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from archspec.backends.torch.annotations import Ints
from archspec.backends.torch.python import PYTHON_NAMES, identifier, name
from archspec.ir import defs
from archspec.ir import expr as irx

IN = "__in__"  # stands for the caller's channels in a class's output-channel formula
IN_SPATIAL = "__in_spatial__"  # stands for the spatial size flowing into a block, in what a size depends on


@dataclass
class Emitted:
    """A written class, as its callers see it."""

    name: str
    params: list[tuple[str, str]]  # (spec name, Python name), in order
    globals: list[str]  # parameters of its file it reads: keyword arguments its callers pass on
    takes_in: bool  # the first argument is the channels flowing in
    out: ast.expr | None  # its output channels over its parameters' Python names and IN; None: read `.out_channels`
    rank: int  # rank of its output (3: C x H x W, 1: features)
    sequential: bool
    source: ast.ClassDef | None = None
    # what the spatial sizes it took from the graph (a flatten's, `in.height`) depend on: its
    # parameters' spec names, and IN_SPATIAL for the size flowing in; a caller maps them to its own
    spatial_deps: frozenset[str] = frozenset()
    # what the spatial size of its output depends on, in the same terms (without IN_SPATIAL where
    # it fixes the size, as a global pool does); None: not known, every argument may move it
    out_spatial: frozenset[str] | None = None


@dataclass(frozen=True, eq=False)
class Position:
    """A member's position known only once the module is built: inside a loop (`2 * i + 1`) or
    after one (`n + 2`). An int plus terms, each as __init__ writes it and as forward does; forward's
    is built on demand, as it reads attributes __init__ keeps only where forward needs them."""

    offset: int
    terms: tuple[tuple[ast.expr, Callable[[], ast.expr]], ...] = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Position) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (self.offset, tuple(ast.dump(t) for t, _ in self.terms))

    def init(self) -> ast.expr:
        return _sum([t for t, _ in self.terms], self.offset)

    def fwd(self) -> ast.expr:
        return _sum([f() for _, f in self.terms], self.offset)


def _sum(terms: list[ast.expr], offset: int) -> ast.expr:
    out: ast.expr | None = None
    for t in terms:
        out = t if out is None else ast.BinOp(out, ast.Add(), t)
    if out is None:
        return ast.Constant(offset)
    return ast.BinOp(out, ast.Add(), ast.Constant(offset)) if offset else out


def advance(count: int | Position | None, k: int = 1) -> int | Position | None:
    """The position `k` members on (None stays unknown)."""
    if isinstance(count, Position):
        return Position(count.offset + k, count.terms)
    return None if count is None else count + k


def position_name(count: int | Position, forward: bool = False) -> ast.expr:
    """A numbered member's name: `'3'`, or `f'{2 * i + 1}'` where its position is computed."""
    if isinstance(count, Position):
        return ast.JoinedStr([ast.FormattedValue(count.fwd() if forward else count.init(), -1, None)])
    return ast.Constant(str(count))


@dataclass
class Flow:
    """Where lowering stands in a body: what flows, and where members go."""

    channels: ast.expr
    rank: int
    count: int | Position | None  # the next free position among the members of the naming scope (None: not known)
    target: ast.expr | None  # the container members join: `self`, a local nn.Sequential; None in a forward class
    var: str = "x"  # forward: the variable holding the running value
    out: str = "x"  # forward: the variable the next step writes
    fresh: bool = False  # the running value was just made by an op whose output may be overwritten in place
    # a level lowered into its parent's forward (it makes values read outside it): how forward reaches
    # the container `target` (`self.encoder`), whose members it calls one by one
    prefix: ast.expr | None = None


@dataclass
class Frame:
    """Names in scope while writing one definition's body."""

    vars: dict[str, ast.expr]  # spec name -> its Python expression in __init__
    in_channels: ast.expr  # what `in.channels` is
    in_shapes: list[tuple[int, ...]]  # the shapes `in` had in the instances
    used: set[str] = field(default_factory=set)  # Python names taken in the function
    loop_vars: set[str] = field(default_factory=set)  # spec names bound by a loop around the current statement
    attrs: dict[str, tuple[str, ast.expr]] = field(default_factory=dict)  # what __init__ holds (ast.dump) -> the self attribute forward reads it from, and that value
    globals: set[str] = field(default_factory=set)  # file parameters it read
    file: str = ""  # the spec file whose parameters are its globals
    lets: dict[str, ast.expr] = field(default_factory=dict)  # Python local -> its value, for locals assigned once at the top
    depth: int = 0  # how many ifs and loops the current statement sits in
    joining: int = 0  # how many joins' branches it sits in
    fwd_used: set[str] = field(default_factory=lambda: {"x", *PYTHON_NAMES})  # names taken in forward
    reserved: set[str] = field(default_factory=set)  # the spec's own names in the body: internal names avoid them
    channel_vars: set[str] = field(default_factory=set)  # locals that hold the running channel count
    module_locals: dict[str, str] = field(default_factory=dict)  # class -> the local that holds a new instance of it
    # the parameters (the network's, or a block's and IN_SPATIAL) the spatial size flowing now depends
    # on, those a size taken from the graph depends on (a flatten's, `in.height`: fixed when the file is
    # written), what `in`'s spatial size depends on, and what each local depends on
    spatial: set[str] | None = None
    fixed: set[str] = field(default_factory=set)
    in_spatial: set[str] = field(default_factory=set)
    names_read: set[str] | None = None  # every name the body's expressions read; None (a splice's): not known, every local is written
    likes: set[str] = field(default_factory=set)  # the names a literal like= reads (`crop(like="up4")`): their spatial size is a number of the file
    sized_in_forward: set[str] = field(default_factory=set)  # keys of the literal like= ops whose instances take other sizes: forward reads the size
    in_axes: list[int] = field(default_factory=list)  # where the instances' channels were (lowering.channel_axes): 2 after a permute to channels last
    depends: dict[str, set[str]] = field(default_factory=dict)
    # values the body reads by name (`@down1`, and the network's outputs), and where each is kept:
    # (forward local, its channels in __init__, rank)
    wanted: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)  # those a `@name` reads (not only returned): their channels matter
    named: dict[str, tuple[str, ast.expr, int]] = field(default_factory=dict)
    # values named in loops (`"down{i}": ...`, read as `@"down{1 - i}"`): kept in dicts, forward's
    # tensors and __init__'s channels, keyed by the name; both made at the top when first needed
    computed: set[str] = field(default_factory=set)  # the literal starts of the names such reads compute ("down")
    computed_reads: set[str] = field(default_factory=set)  # the names those reads gave, in the graph's instances
    kept: tuple[str, str] | None = None  # (forward's dict, __init__'s dict)
    # what the spatial size of each value kept by name depended on (a computed name's under ""):
    # a later `@name` brings it back into `spatial`
    kept_spatial: dict[str, set[str]] = field(default_factory=dict)
    tops: tuple[list, list] | None = None  # (__init__'s, forward's) top-level statements
    # variables a loop assigns (`j = 1 - i`), which forward computes again in its own loop: spec name
    # -> forward's local; those it cannot (`c = c * 2`, from a value before the loop) are stale there
    fwd_lets: dict[str, str] = field(default_factory=dict)
    fwd_let_stmts: list[ast.stmt] = field(default_factory=list)
    stale: set[str] = field(default_factory=set)
    ints: Ints = Ints()  # spec names that hold an int (or a tuple of ints) wherever read: annotations.int_names
    types: dict[str, ast.expr | None] = field(default_factory=dict)  # spec name of a parameter -> its annotation (a level class's take them)
    members: set[str] = field(default_factory=set)  # the labels of the body: attributes forward reads avoid them (`if se: se: ...`)

    def params_in(self, e: irx.Expr | None) -> set[str]:
        """The network parameters an expression reads, directly or through locals and loop variables."""
        out: set[str] = set()
        for n in irx.free_names(e) if e is not None else ():
            out |= self.depends.get(n, {n} if n in self.network_params else set())
        return out

    def spatial_reads(self, *exprs: irx.Expr | None) -> None:
        if self.spatial is not None:
            for e in exprs:
                self.spatial |= self.params_in(e)

    network_params: frozenset[str] = frozenset()

    def params_in_args(self, c: defs.Call) -> set[str]:
        return set().union(*(self.params_in(a.value) for a in c.args)) if c.args else set()

    def internal(self, base: str) -> str:
        """A fresh local for the backend's own use (a Sequential being built, the channel count)."""
        n = free_name(base, self.used | self.reserved)
        self.used.add(n)
        return n

    def channels_var(self) -> str:
        taken = self.used | self.reserved
        n = self.internal(next((b for b in ("channels", "out_channels") if b not in taken), "channels"))
        self.channel_vars.add(n)
        return n


def ancestors(scope: str):
    parts = scope.split(".") if scope else []
    for i in range(len(parts), -1, -1):
        yield ".".join(parts[:i])


def free_name(base: str, used) -> str:
    if base not in used:
        return base
    i = 2
    while f"{base}{i}" in used:
        i += 1
    return f"{base}{i}"


def end_loop(frame: Frame, targets: tuple[str, ...], before: dict) -> None:
    """After a loop: its names are no longer loop variables, and the frame's names are those of
    `before` again (where the loop rebound one)."""
    frame.loop_vars -= set(targets)
    for k in targets:
        frame.vars.pop(k, None)
    frame.vars.update({k: v for k, v in before.items() if k not in frame.vars})


def bind_target(t, frame: Frame) -> ast.expr:
    if isinstance(t, str):
        py = free_name(identifier(t), frame.used - {identifier(t)} if t not in frame.vars else frame.used)
        frame.used.add(py)
        frame.vars[t] = name(py)
        return ast.Name(py, ast.Store())
    return ast.Tuple([bind_target(x, frame) for x in t], ast.Store())
