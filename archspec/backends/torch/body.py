"""Questions the Writer asks of a definition's body before writing it: does it join, does it
claim member positions, is the whole network one splice. Pure functions over `archspec.ir.defs`.
"""

from __future__ import annotations

from archspec.backends.torch.lowering import LOWERINGS
from archspec.ir import defs


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
    a class of its own could not see it, so the parent's forward runs the level's members."""
    made = {n for n in map(defs.name_made, defs.walk(body)) if n is not None}
    return any(not isinstance(r.name, str) or (r.name not in made and r.name != "input") for r in defs.refs(body))
