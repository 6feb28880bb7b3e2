"""Questions the Writer asks of a definition's body before writing it: does it join, does it
claim member positions, is the whole network one splice. Pure functions over `archspec.ir.defs`.
"""

from __future__ import annotations

from dataclasses import replace

from archspec.backends.torch.lowering import LOWERINGS
from archspec.backends.torch.names import literal_start
from archspec.backends.torch.ops import bind_args, is_literal
from archspec.ir import defs
from archspec.ir import expr as irx
from archspec.ops import OPS


def has_join(body) -> bool:
    """Whether a scope's own statements join (through `_:`, `if`, loops; not inside named levels or blocks)."""
    for s in body:
        if isinstance(s, defs.Join):
            return True
        if isinstance(s, defs.Labeled) and (s.label == "_" or s.guard is not None and s.label == "_") and has_join(s.body):
            return True
        if isinstance(s, (defs.Repeat, defs.For)) and has_join(s.body):
            return True
        if isinstance(s, defs.If) and (any(has_join(b) for _, b in s.branches) or has_join(s.orelse)):
            return True
    return False


def reads_as_forward(body) -> bool:
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


def claims(body) -> bool:
    """Whether statements take positions in their naming scope (every call does, and every named level)."""
    for s in defs.walk(body):
        if isinstance(s, defs.Call) or isinstance(s, defs.Labeled) and s.label != "_":
            return True
    return False


def whole_splice(body) -> defs.Call | None:
    if len(body) == 1 and isinstance(body[0], defs.Line) and len(body[0].items) == 1:
        c = body[0].items[0]
        if isinstance(c, defs.Call) and c.splice and c.kind == "block":
            return c
    return None


def refs_only(body: tuple) -> bool:
    """Whether a body only reads named values, one a line (`@"y{i}"`)."""
    return all(isinstance(st, defs.Line) and all(isinstance(i, defs.Ref) for i in st.items) for st in body)


def reads_outer_values(body: tuple) -> bool:
    """Whether a level reads a value made before it (`classifier:` reading the backbone's `@low`):
    a class of its own could not see it, so the parent's forward runs the level's members. A read
    that a name computed inside may give (`@"v0"`, `@"v{j}"` of `"v{j}": ...`: the literal starts
    agree, and are not empty) is the level's own."""
    made, starts = _names_made(body)
    starts -= {""}

    def inner(r: defs.Ref) -> bool:
        start = r.name if isinstance(r.name, str) else literal_start(r.name)
        return r.name in made or r.name == "input" or any(start.startswith(p) for p in starts)

    return not all(inner(r) for r in defs.refs(body))


def _names_made(body: tuple) -> tuple[set[str], set[str]]:
    """The names a body gives its values: the literal ones, and the literal starts of the computed ones."""
    made = {n for n in map(defs.name_made, defs.walk(body)) if n is not None}
    return made, {literal_start(n) for n in map(_computed_name, defs.walk(body)) if n is not None}


def _computed_name(s):
    """The name a statement or item gives its value, where it is computed (`"v{i}": ...`)."""
    if isinstance(s, defs.Labeled) and not isinstance(s.label, str):
        return s.label
    if isinstance(s, defs.Bind) and not isinstance(s.name, str):
        return s.name
    return None


def own_refs(body: tuple, outputs: set[str]) -> list[defs.Ref]:
    """The value references a class's own forward resolves: not those inside a named level that
    joins and keeps its values to itself (none read outside it, none of the `outputs`), which
    becomes a class of its own (a network that is otherwise a plain chain stays an nn.Sequential)."""
    levels = [
        s
        for s in defs.walk(body)
        if isinstance(s, defs.Labeled) and s.guard is None and isinstance(s.label, str) and s.label != "_" and has_join(s.body) and not reads_outer_values(s.body)
    ]
    while True:
        inside = {id(r) for s in levels for r in defs.refs(s.body)}
        rest = [r for r in defs.refs(body) if id(r) not in inside]
        read = {r.name if isinstance(r.name, str) else literal_start(r.name) for r in rest} | outputs
        computed = {literal_start(r.name) for r in rest if not isinstance(r.name, str)}
        kept = [s for s in levels if not _may_make(s, read, computed)]
        if len(kept) == len(levels):
            return rest
        levels = kept


def _may_make(level: defs.Labeled, read: set[str], computed: set[str]) -> bool:
    """Whether a level may make a value read outside it: one of the names `read` (or a name that
    starts as one of the `computed` reads do), by a literal name or a computed one."""
    made, starts = _names_made(level.body)
    made.add(level.label)  # type: ignore[arg-type]
    if made & read or any(m.startswith(c) for m in made for c in computed):
        return True
    return any(r.startswith(p) or p.startswith(r) for p in starts for r in read | computed)


def spliced(body: tuple, blocks: dict) -> tuple:
    """`body` with each `*block(...)` replaced by that block's statements (its arguments left
    unbound): what the questions above see of a scope that splices a block in, whose joins and
    named values are the scope's own."""
    out: list = []
    for s in body:
        if isinstance(s, defs.Line) and any(_is_splice(i) for i in s.items):
            rest = tuple(i for i in s.items if not _is_splice(i))
            if rest:
                out.append(replace(s, items=rest))
            for c in s.items:
                if _is_splice(c):
                    out.extend(spliced(blocks[c.callee].body, blocks))
        elif isinstance(s, defs.If):
            out.append(replace(s, branches=tuple((t, spliced(b, blocks)) for t, b in s.branches), orelse=spliced(s.orelse, blocks)))
        elif isinstance(s, defs.Join):
            out.append(replace(s, branches=spliced(s.branches, blocks)))
        elif isinstance(s, (defs.Labeled, defs.Repeat, defs.For)):
            out.append(replace(s, body=spliced(s.body, blocks)))
        elif isinstance(s, defs.Idle):
            out.append(replace(s, item=spliced((s.item,), blocks)[0]))
        else:
            out.append(s)
    return tuple(out)


def _is_splice(item) -> bool:
    return isinstance(item, defs.Call) and item.kind == "block" and item.splice


def literal_likes(body: tuple) -> list[tuple[defs.Call, str]]:
    """The ops of `body` whose `like=` is a literal name (`upsample(like="a")`, `like="input"`), with it."""
    return [(c, like.value) for c, like in _likes(body) if isinstance(like, irx.Const) and isinstance(like.value, str)]


def computed_likes(body: tuple) -> list[tuple[defs.Call, irx.Expr]]:
    """The ops of `body` whose `like=` the spec computes (`crop(like="up{i}")`), with that name:
    reads of a value by name, which forward keeps for them (`Calls._sized_like`)."""
    return [(c, like) for c, like in _likes(body) if not is_literal(like)]


def _likes(body: tuple) -> list[tuple[defs.Call, irx.Expr]]:
    """Every op call of `body` that gives a `like=`, with its expression."""
    found = []
    for s in defs.walk(body):
        if isinstance(s, defs.Call) and s.kind == "op" and s.callee in OPS and any(a.name == "like" for a in OPS[s.callee].attrs):
            like = bind_args(s, [a.name for a in OPS[s.callee].attrs]).get("like")
            if like is not None:
                found.append((s, like))
    return found
