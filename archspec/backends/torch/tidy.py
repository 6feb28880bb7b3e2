"""Reading and tidying the Python the writer has built (lists of `ast` statements).

The writer emits each step as it goes; some choices need the whole function: a chain of
appends becomes `nn.Sequential(a, b, c)`, a local or a copy nothing reads is left
out, a copy of a name that neither side changes again is read as the original, a loop's
unread target gets a `_`, `members` fixes the registration order, a loop that
makes every member turns its class into an `nn.ModuleDict`. These passes only drop or
reorder what the writer made, or read it; they never write spec values.
"""

from __future__ import annotations

import ast
import copy

from archspec.backends.torch.python import PURE_FUNCTIONS, assign, attr, call, const, expr_stmt, name, names_in, plain_attribute, same


def is_self(e: ast.expr) -> bool:
    return isinstance(e, ast.Name) and e.id == "self"


def drop_unread_locals(body: list[ast.stmt]) -> list[ast.stmt]:
    """Leave out the locals nothing reads: a channel count kept for a value nothing sized by it
    reads (`low_classifier_channels = classes` before an `add`), a spec's `k = c * 2` that no layer
    uses. Only arithmetic and the language's own functions (`int`, `math.ceil`), never a module."""
    while True:
        read = {n.id for st in body for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        kept = [_without_dead_counts(st, read) for st in body if not _dead_count(st, read)]
        if len(kept) == len(body) and all(a is b for a, b in zip(kept, body)):
            return body
        body = kept


def without_name_copies(body: list[ast.stmt]) -> list[ast.stmt]:
    """`high_channels = inter_channels` where neither name is assigned again: later reads of the
    copy read the original (LR-ASPP's, FPN's `m4_channels = m5_channels`). Only a statement of the
    function's own level, a name copied onto another, each assigned nowhere else after it."""
    k = 0
    while k < len(body):
        st = body[k]
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) and isinstance(st.value, ast.Name):
            copy_, original = st.targets[0].id, st.value.id
            if copy_ not in assigned_names(body[:k] + body[k + 1 :]) and original not in assigned_names(body[k + 1 :]):
                body = body[:k] + [replace_name(later, copy_, name(original)) for later in body[k + 1 :]]
                continue
        k += 1
    return body


def without_dead_stores(body: list[ast.stmt], live_after: frozenset[str] = frozenset()) -> list[ast.stmt]:
    """A forward without the copies nothing reads: `x = values['box0']` that the next line
    overwrites, `x = _21` before a loop that assigns x before reading it. Only copies of a name
    or a kept value are dropped (never a call), and only where nothing after may read them
    (`_live`; `forwarded` drops a read-back after a store)."""
    out: list[ast.stmt] = []
    for k, st in enumerate(body):
        if isinstance(st, ast.For):  # after its body: the next iteration, then what follows the loop
            st = ast.For(st.target, st.iter, without_dead_stores(st.body, frozenset(_live(body[k + 1 :], live_after) | _loads([st]))) or [ast.Pass()], st.orelse)
        if _copy(st) and st.targets[0].id not in _live(body[k + 1 :], live_after):  # type: ignore[attr-defined]
            continue
        out.append(st)
    return out


def forwarded(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that read a kept value back from the variable that holds it: `values[k] = x`
    and later `up = values[k]` becomes `up = x` while neither x nor the dict nor k's names have
    been assigned since (a loop body starts knowing nothing: an earlier iteration may have
    changed them). A copy of a name onto itself is left out."""
    out, _ = _forwarded(body, {})
    return out


def _forwarded(body: list[ast.stmt], known: dict[str, tuple[str, set[str]]]) -> tuple[list[ast.stmt], dict]:
    """`known`: a kept value's subscript (as ast.dump) -> the variable holding it and the names it depends on."""
    out: list[ast.stmt] = []
    for st in body:
        if isinstance(st, (ast.Assign, ast.Expr, ast.Return)) and st.value is not None:
            st = copy.copy(st)
            st.value = _known_read(st.value, known)
        if isinstance(st, ast.Assign) and _copy(st) and isinstance(st.value, ast.Name) and st.value.id == st.targets[0].id:  # type: ignore[attr-defined]
            continue
        if isinstance(st, ast.If):
            st = ast.If(_known_read(st.test, known), _forwarded(st.body, dict(known))[0], _forwarded(st.orelse, dict(known))[0])
        elif isinstance(st, ast.For):
            st = ast.For(st.target, _known_read(st.iter, known), _forwarded(st.body, {})[0], st.orelse)
        changed = assigned_names([st]) | {n.value.id for n in ast.walk(st) if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)}
        known = {k: (v, deps) for k, (v, deps) in known.items() if not (deps | {v}) & changed}
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Subscript) and isinstance(st.value, ast.Name):
            key = ast.Subscript(st.targets[0].value, st.targets[0].slice, ast.Load())
            if not any(isinstance(n, ast.Call) for n in ast.walk(key)):
                known[ast.dump(key)] = (st.value.id, names_in(key))
        out.append(st)
    return out, known


def _known_read(e: ast.expr, known: dict[str, tuple[str, set[str]]]) -> ast.expr:
    """`e` with each read of a kept value that a variable still holds written as that variable."""

    class R(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
            held = known.get(ast.dump(node)) if isinstance(node.ctx, ast.Load) else None
            return name(held[0]) if held else self.generic_visit(node)

    return R().visit(copy.deepcopy(e))


def inlined_copies(body: list[ast.stmt]) -> list[ast.stmt]:
    """A forward without locals that only pass a kept value on: `box0 = values['box0']` read once,
    by the statement that follows, is written there (`torch.cat([values['box0'], ...], 1)`). Only
    a copy dead after that statement (nothing later may read it, or the statement overwrites it),
    and only into a plain statement after nothing but other copies that leave its names alone."""
    return _inlined(body, set())


def _inlined(body: list[ast.stmt], live_after: set[str]) -> list[ast.stmt]:
    """`live_after`: the names something after this block may read (the rest of the enclosing
    blocks; for a loop body, the loop itself too)."""
    out = []
    for k, st in enumerate(body):
        later = _live(body[k + 1 :], live_after)
        if isinstance(st, ast.If):
            st = ast.If(st.test, _inlined(st.body, later), _inlined(st.orelse, later))
        elif isinstance(st, ast.For):
            st = ast.For(st.target, st.iter, _inlined(st.body, later | _loads([st])), st.orelse)
        out.append(st)
    k = 0
    while k < len(out):
        st = out[k]
        if _copy(st):
            var, value = st.targets[0].id, st.value  # type: ignore[attr-defined]
            j = k + 1
            while j < len(out) and _copy(out[j]) and out[j].targets[0].id not in names_in(value) | {var} and var not in names_in(out[j].value):  # type: ignore[attr-defined]
                j += 1
            if j < len(out) and _inlinable(out[j], var, var not in _live(out[j + 1 :], live_after)):
                out[j] = replace_name(out[j], var, value)
                del out[k]
                continue
        k += 1
    return out


def _live(rest: list[ast.stmt], live_after: set[str] | frozenset[str]) -> set[str]:
    """The names that may be read after a point: those `rest` reads before assigning them, and
    those read after the block (`live_after`) that `rest` does not surely assign first (none
    where `rest` returns)."""
    exposed, killed = _exposed(rest)
    if any(isinstance(st, ast.Return) for st in rest):
        return exposed
    return exposed | (set(live_after) - killed)


def _loads(stmts: list[ast.stmt]) -> set[str]:
    """The names `stmts` may read before assigning them (what must be live where they start)."""
    exposed, _ = _exposed(stmts)
    return exposed


def _exposed(stmts: list[ast.stmt]) -> tuple[set[str], set[str]]:
    """The names read before being assigned, and the names surely assigned, by `stmts`."""
    exposed: set[str] = set()
    killed: set[str] = set()
    for st in stmts:
        if isinstance(st, ast.If):
            body, body_kills = _exposed(st.body)
            orelse, orelse_kills = _exposed(st.orelse)
            exposed |= (names_in(st.test) | body | orelse) - killed
            killed |= body_kills & orelse_kills
        elif isinstance(st, ast.For):  # its body may not run: it kills nothing for sure
            exposed |= (names_in(st.iter) | _exposed(st.body)[0]) - killed
        elif isinstance(st, ast.Assign) and all(isinstance(t, ast.Name) for t in st.targets):
            exposed |= names_in(st.value) - killed
            killed |= {t.id for t in st.targets}  # type: ignore[attr-defined]
        else:
            exposed |= {n.id for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - killed
    return exposed, killed


def _inlinable(st: ast.stmt, var: str, dead_after: bool) -> bool:
    """Whether `st` reads `var` once and nothing after it reads the copy's value."""
    if not isinstance(st, (ast.Assign, ast.Expr, ast.Return)):
        return False
    reads = sum(1 for n in ast.walk(st) if isinstance(n, ast.Name) and n.id == var and isinstance(n.ctx, ast.Load))
    overwrites = isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == var for t in st.targets)
    return reads == 1 and (dead_after or overwrites)


def without_unread_lets(body: list[ast.stmt], lets: list[ast.stmt]) -> list[ast.stmt]:
    """A forward without the copies of a loop's variables (`j = 1 - i`, `lets`) that nothing in it reads."""
    ids = {id(st) for st in lets}
    read = {n.id for st in body for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}

    def kept(stmts: list[ast.stmt]) -> list[ast.stmt]:
        return [_bodies_mapped(st, kept) for st in stmts if not (id(st) in ids and st.targets[0].id not in read)]  # type: ignore[attr-defined]

    return kept(body) if ids else body


def without_unread_keys(body: list[ast.stmt]) -> list[ast.stmt]:
    """A function without the entries of its dicts that nothing can read: `values[f'up{i}'] = x`
    where every read is `values[f'layer{...}']` (the literal parts of the keys disagree), or
    YOLOv8's `values[f'{i}'] = x` for i in 0..2 where the only computed read is `values[f'{level}']`
    for level in ('15', '18', '21') (`_key_sets`: the keys a loop over literals can make), and a
    dict none of whose entries is read. Only entries of plain values (no call) are dropped, and
    only from a dict the function uses by key alone."""
    reads: dict[str, list[tuple[int, ast.expr]]] = {}  # by dict: (the top-level statement it is in, the key)
    whole: set[str] = set()
    keyed: set[int] = set()
    top: dict[int, int] = {}
    for k, st in enumerate(body):
        for n in ast.walk(st):
            top[id(n)] = k
            if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name):
                keyed.add(id(n.value))
                if isinstance(n.ctx, ast.Load):
                    reads.setdefault(n.value.id, []).append((k, n.slice))
    sets = _key_sets(body)
    for n in ast.walk(ast.Module(body, [])):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and id(n) not in keyed:
            whole.add(n.id)

    def unread(st: ast.stmt) -> bool:
        if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Subscript)):
            return False
        d = st.targets[0].value
        return (
            isinstance(d, ast.Name)
            and d.id not in whole
            and not any(isinstance(n, ast.Call) for n in ast.walk(st.value))
            and not any(_may_equal(st.targets[0].slice, r, sets) for k, r in reads.get(d.id, []) if k >= top.get(id(st), 0))
        )  # the function's own statements run once, in order: an earlier one never reads a later store

    def kept(stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for st in stmts:
            st = _bodies_mapped(st, kept)
            if not unread(st):
                out.append(st)
        return out

    body = kept(body)
    used = {n.id for st in body for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return [st for st in body if _empty_dict(st) is None or _empty_dict(st) in used]  # a dict nothing uses now


def _empty_dict(st: ast.stmt) -> str | None:
    """The name `values: dict[...] = {}` (or `values = {}`) declares, if `st` is such a statement."""
    target = st.target if isinstance(st, ast.AnnAssign) else st.targets[0] if isinstance(st, ast.Assign) and len(st.targets) == 1 else None
    if isinstance(target, ast.Name) and isinstance(st.value, ast.Dict) and not st.value.keys:  # type: ignore[union-attr]
        return target.id
    return None


def _may_equal(a: ast.expr, b: ast.expr, sets: dict[int, frozenset[str]] | None = None) -> bool:
    """Whether two keys may be the same string: the strings each can be (where both are known,
    `_key_sets`) meet, or else their literal starts and ends agree."""
    ka, kb = (sets or {}).get(id(a)), (sets or {}).get(id(b))
    if ka is not None and kb is not None:
        return bool(ka & kb)
    pa, pb = _literal_ends(a), _literal_ends(b)
    if pa is None or pb is None:
        return True
    (sa, ea, holes_a), (sb, eb, holes_b) = pa, pb
    if not holes_a and not holes_b:
        return sa == sb
    return (sa.startswith(sb) or sb.startswith(sa)) and (ea.endswith(eb) or eb.endswith(ea))


_MANY_KEYS = 4096  # past this many strings a key is only judged by its literal ends


def _key_sets(body: list[ast.stmt]) -> dict[int, frozenset[str]]:
    """The strings each subscript key of `body` can be (by the key's id), where that is known: a
    literal, or an f-string whose holes are plain names of loops over literals (`range(3)`,
    `enumerate(('15', '18', '21'))`, a literal tuple) that the loop's body never assigns."""
    found: dict[int, frozenset[str]] = {}

    def walk(stmts: list[ast.stmt], env: dict[str, frozenset[str]]) -> None:
        for st in stmts:
            if isinstance(st, ast.For):
                inner = dict(env)
                bound = _loop_values(st.target, st.iter)
                assigned = assigned_names(st.body)
                for n in names_in(st.target):
                    inner.pop(n, None)
                    if bound is not None and n in bound:
                        inner[n] = bound[n]
                for n in assigned:
                    inner.pop(n, None)
                _keys_in([st.iter], env, found)
                walk(st.body, inner)
                walk(st.orelse, {})
            elif isinstance(st, ast.If):
                _keys_in([st.test], env, found)
                walk(st.body, env)
                walk(st.orelse, env)
            else:
                _keys_in([st], env, found)

    walk(body, {})
    return found


def _keys_in(nodes: list[ast.AST], env: dict[str, frozenset[str]], found: dict[int, frozenset[str]]) -> None:
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Subscript):
                keys = _strings(n.slice, env)
                if keys is not None:
                    found[id(n.slice)] = keys


def _strings(e: ast.expr, env: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """Every string `e` can be in `env`, or None where that is not known."""
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return frozenset([e.value])
    if not isinstance(e, ast.JoinedStr):
        return None
    out = {""}
    for part in e.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            options: frozenset[str] = frozenset([part.value])
        elif isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None and isinstance(part.value, ast.Name) and part.value.id in env:
            options = env[part.value.id]
        else:
            return None
        out = {a + b for a in out for b in options}
        if len(out) > _MANY_KEYS:
            return None
    return frozenset(out)


def _loop_values(target: ast.expr, it: ast.expr) -> dict[str, frozenset[str]] | None:
    """The strings (as an f-string writes them) each name of a loop's target takes, for a loop
    over literals: `range` of ints, a literal tuple or list, `enumerate` of one."""
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and not it.keywords:
        if it.func.id == "range" and 1 <= len(it.args) <= 3 and all(isinstance(a, ast.Constant) and type(a.value) is int for a in it.args):
            values = range(*[a.value for a in it.args])  # type: ignore[attr-defined]
            if len(values) <= _MANY_KEYS and isinstance(target, ast.Name):
                return {target.id: frozenset(str(v) for v in values)}
            return None
        if it.func.id == "enumerate" and len(it.args) == 1 and isinstance(target, ast.Tuple) and len(target.elts) == 2:
            items = _literal_items(it.args[0])
            if items is None:
                return None
            out = {}
            count, item = target.elts
            if isinstance(count, ast.Name):
                out[count.id] = frozenset(str(k) for k in range(len(items)))
            if isinstance(item, ast.Name):
                out[item.id] = frozenset(items)
            return out
        return None
    items = _literal_items(it)
    if items is not None and isinstance(target, ast.Name):
        return {target.id: frozenset(items)}
    return None


def _literal_items(e: ast.expr) -> list[str] | None:
    """The items of a literal tuple or list of ints and strings, as an f-string writes them."""
    if not isinstance(e, (ast.Tuple, ast.List)) or not all(isinstance(x, ast.Constant) and type(x.value) in (int, str) for x in e.elts):
        return None
    return [str(x.value) for x in e.elts]  # type: ignore[attr-defined]


def _literal_ends(e: ast.expr) -> tuple[str, str, bool] | None:
    """A key's literal start and end and whether it has computed parts; None for any other key."""
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return e.value, e.value, False
    if not isinstance(e, ast.JoinedStr):
        return None
    parts = e.values
    start = parts[0].value if parts and isinstance(parts[0], ast.Constant) else ""
    end = parts[-1].value if parts and isinstance(parts[-1], ast.Constant) else ""
    return start, end, True


def constant_tests_decided(body: list[ast.stmt]) -> list[ast.stmt]:
    """`if True: a else: b` -> `a`: a test the writer made constant (a spliced block's `if project`
    with `project=true`) decides there and then, as a careful writer would leave it out."""
    out: list[ast.stmt] = []
    for st in body:
        if isinstance(st, ast.If) and isinstance(st.test, ast.Constant):
            out.extend(constant_tests_decided(st.body if st.test.value else st.orelse))
            continue
        out.append(_bodies_mapped(st, constant_tests_decided))
    return out


def _bodies_mapped(st: ast.stmt, f) -> ast.stmt:
    """An if or a loop with `f` applied to each body it holds (`pass` where one is left empty); any other statement as it is."""
    if isinstance(st, ast.If):
        return ast.If(st.test, f(st.body) or [ast.Pass()], f(st.orelse))
    if isinstance(st, ast.For):
        return ast.For(st.target, st.iter, f(st.body) or [ast.Pass()], st.orelse)
    return st


def _copy(st: ast.stmt) -> bool:
    """`x = y` or `x = values[...]`: a copy of a reference, nothing computed."""
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
        return False
    v = st.value
    return isinstance(v, ast.Name) or (isinstance(v, ast.Subscript) and isinstance(v.value, ast.Name) and not any(isinstance(n, ast.Call) for n in ast.walk(v)))


def _without_dead_counts(st: ast.stmt, read: set[str]) -> ast.stmt:
    """A loop or an if with the counts it updates and nothing reads left out (`channels = ...` as its last step)."""
    if not isinstance(st, (ast.For, ast.If)):
        return st

    def kept(body: list[ast.stmt]) -> list[ast.stmt]:
        return [_without_dead_counts(s, read) for s in body if not _dead_count(s, read)]

    new = _bodies_mapped(st, kept)
    if ast.dump(new) == ast.dump(st):
        return st
    return new


def _dead_count(st: ast.stmt, read: set[str]) -> bool:
    if not (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)):
        return False
    calls = [ast.unparse(n.func) for n in ast.walk(st.value) if isinstance(n, ast.Call)]
    return st.targets[0].id not in read and all(f in PURE_FUNCTIONS for f in calls)


def unused_as_underscore(target: ast.expr, body: list[ast.stmt]) -> ast.expr:
    """A forward loop's target with the names its body does not read prefixed `_`, as ruff asks
    (`for i, _n in enumerate(layers)`: __init__ read `n`, forward only needs `i`)."""
    read = {n.id for st in body for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for n in ast.walk(target):
        if isinstance(n, ast.Name) and n.id not in read and not n.id.startswith("_"):
            n.id = "_" + n.id.rstrip("_")  # `_O`, not `_O_`: ruff's unused names end in a letter or digit
    return target


def loop_targets_unused_as_underscore(body: list[ast.stmt]) -> None:
    """Every loop of a function with `unused_as_underscore`, once the passes that rewrite bodies
    have run (`indexed_sequentials` turns `b.add_module(f'{i}', ...)` into `b.append(...)`)."""
    for n in ast.walk(ast.Module(body, [])):
        if isinstance(n, ast.For):
            unused_as_underscore(n.target, n.body)


def retarget(stmt: ast.stmt, old: str, new: str) -> ast.stmt:
    """`if self.d is not None: d = self.d(x)` -> the same, writing `new`."""

    class R(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(new, node.ctx) if node.id == old else node

    return R().visit(stmt)


_INVERSE = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In}


def appends(stmts: list[ast.stmt], target: str) -> list[ast.expr] | None:
    """The modules of statements that only append to `target`, in order; None for anything else."""
    items = []
    for st in stmts:
        if not (
            isinstance(st, ast.Expr)
            and isinstance(st.value, ast.Call)
            and isinstance(st.value.func, ast.Attribute)
            and st.value.func.attr == "append"
            and isinstance(st.value.func.value, ast.Name)
            and st.value.func.value.id == target
        ):
            return None
        items.append(st.value.args[0])
    return items


def assigned_names(stmts: list[ast.stmt]) -> set[str]:
    out: set[str] = set()
    for st in stmts:
        for n in ast.walk(st):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                out.add(n.id)
    return out


def replace_name(st: ast.stmt, old: str, new: ast.expr) -> ast.stmt:
    class R(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return copy.deepcopy(new) if node.id == old and isinstance(node.ctx, ast.Load) else node

    return R().visit(st)


def members_built(stmts: list[ast.stmt]) -> list[str]:
    """The members `self.x = ...` / `self.add_module("3", ...)` statements build, nested ones too."""
    out: list[str] = []
    for st in stmts:
        for n in ast.walk(st):
            if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Attribute) and is_self(n.targets[0].value):
                if not isinstance(n.value, ast.Constant):
                    out.append(n.targets[0].attr)
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr == "add_module"
                and is_self(n.func.value)
                and isinstance(n.args[0], ast.Constant)
            ):
                out.append(n.args[0].value)
    return out


def register_in_order(init: list[ast.stmt], members: tuple[str, ...]) -> None:
    """`members cv1, cv2, m`: where the members would be registered in another order, register
    the rest of the list first (`self.register_module("cv2", None)`); assigning the module later
    keeps that place, so the state_dict lists them as the spec says."""
    built = [m for m in members_built(init) if m in members]
    listed = [m for m in members if m in built]
    first = next((k for k, (a, b) in enumerate(zip(built, listed)) if a != b), None)
    if first is None:
        return
    at = next(i for i, st in enumerate(init) if built[first] in members_built([st]))
    early = listed[first:]
    if early[-1] == built[first] and isinstance(init[at], (ast.Assign, ast.Expr)):  # listed last and built right here: its own place
        early.pop()
    init[at:at] = [expr_stmt(call(attr("self", "register_module"), const(m), ast.Constant(None))) for m in early]


def placeholder(member: str) -> ast.stmt:
    empty = call("nn.Sequential")
    if plain_attribute(member):
        return assign(attr("self", member), empty)
    return expr_stmt(call(attr("self", "add_module"), const(member), empty))


def as_module_dict(init: list[ast.stmt], fwd: list[ast.stmt]) -> bool:
    """A class whose members are all made by one loop, one an iteration, and whose forward loops over
    them (DenseNet's dense block): an nn.ModuleDict whose forward iterates `self.items()`, as
    torchvision's `_DenseBlock` does, so that TorchScript can compile it. Rewrites `fwd` in place."""
    loops = [st for st in init if isinstance(st, ast.For)]
    if len(loops) != 1 or len(fwd) != 2 or not isinstance(fwd[0], ast.For):
        return False
    adds = [n for n in ast.walk(loops[0]) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_module"]
    refs = [
        n
        for n in ast.walk(fwd[0])
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Call) and isinstance(n.func.func, ast.Name) and n.func.func.id == "getattr"
    ]
    others = [n for st in fwd[0].body for n in ast.walk(st) if isinstance(n, ast.Attribute) and is_self(n.value)]
    if len(adds) != 1 or len(refs) != 1 or not isinstance(adds[0].args[0], ast.JoinedStr) or others:
        return False
    if any(isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Attribute) for st in init if st is not loops[0] and not _attr_store(st)):
        return False
    refs[0].func = name("layer")
    fwd[0].target = ast.Tuple([ast.Name("_", ast.Store()), ast.Name("layer", ast.Store())], ast.Store())
    fwd[0].iter = call(attr("self", "items"))
    init[:] = [st for st in init if not (_attr_store(st) and st.targets[0].attr != "out_channels")]  # forward reads none now
    return True


def indexed_sequentials(init: list[ast.stmt], fwd: list[ast.stmt]) -> None:
    """Containers whose members are named by position, as nn.Sequential names them: built by
    appending (`nn.Sequential(a, b, c)` where nothing comes between) and reached by index in
    forward (`self.backbone[4](x)`, not `getattr(self.backbone, '4')(x)`; `self.m[i](x)` in a
    loop over `range` or `enumerate`). Only a container whose members are all added by statements
    of `init` itself, named '0', '1', ... in order, or all by one loop that names each by its
    count (`f'{i}'` for `i in range(n)`), so that the index is the member. Rewrites both in place."""
    sequentials = {st.targets[0].id for st in init if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name) and same(st.value, call("nn.Sequential"))}
    added: dict[str, list[tuple[ast.stmt, ast.Call]]] = {}
    for st in init:
        for n in ast.walk(st):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name) and n.func.attr in ("add_module", "append"):
                added.setdefault(n.func.value.id, []).append((st, n))
    positional, counted = set(), set()
    for local in sequentials:
        calls = added.get(local, [])
        keys = [_key(c) if c.func.attr == "add_module" else str(i) for i, (_, c) in enumerate(calls)]
        if calls and all(isinstance(st, ast.Expr) and st.value is c for st, c in calls) and keys == [str(i) for i in range(len(calls))]:
            positional.add(local)
        elif len(calls) == 1 and _named_by_count(*calls[0]):
            counted.add(local)
        else:
            continue
        for _, c in calls:
            if c.func.attr == "add_module":
                c.func.attr, c.args = "append", c.args[1:]
    paths = _container_paths(init)
    by_name = {paths[local] for local in positional if local in paths}
    by_count = {paths[local] for local in counted if local in paths}

    class Index(ast.NodeTransformer):
        counters: list[str | None] = []  # the loops forward is in: each one's count, if it has one

        def visit_For(self, node: ast.For) -> ast.For:
            self.counters.append(_counter(node))
            self.generic_visit(node)
            self.counters.pop()
            return node

        def visit_Call(self, node: ast.Call) -> ast.expr:
            self.generic_visit(node)
            if not (isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) == 2):
                return node
            owner, key = node.args
            if isinstance(key, ast.Constant) and _path(owner) in by_name:
                return ast.Subscript(owner, const(int(key.value)), ast.Load())
            count = _counted_by(key)
            if count is not None and count in self.counters and _path(owner) in by_count:
                return ast.Subscript(owner, name(count), ast.Load())
            return node

    fwd[:] = [Index().visit(st) for st in fwd]
    for local in sorted(positional):
        _built_at_once(init, local)


def _key(c: ast.Call) -> str | None:
    return c.args[0].value if isinstance(c.args[0], ast.Constant) else None


def _counter(loop: ast.stmt) -> str | None:
    """The variable of a loop that counts 0, 1, ...: `i` of `for i in range(n)` or `for i, x in enumerate(xs)`."""
    if not (isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call) and isinstance(loop.iter.func, ast.Name) and len(loop.iter.args) == 1 and not loop.iter.keywords):
        return None
    if loop.iter.func.id == "range" and isinstance(loop.target, ast.Name):
        return loop.target.id
    if loop.iter.func.id == "enumerate" and isinstance(loop.target, ast.Tuple) and isinstance(loop.target.elts[0], ast.Name):
        return loop.target.elts[0].id
    return None


def _counted_by(key: ast.expr) -> str | None:
    """`i` of the key `f'{i}'`."""
    if isinstance(key, ast.JoinedStr) and len(key.values) == 1:
        v = key.values[0]
        if isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name) and v.conversion == -1 and v.format_spec is None:
            return v.value.id
    return None


def _named_by_count(st: ast.stmt, c: ast.Call) -> bool:
    """Whether a container's one registration is a statement of a loop of `init` that adds a member
    every iteration, named by the loop's count: `for i in range(n): m.add_module(f'{i}', ...)`."""
    return (
        _counter(st) is not None
        and c.func.attr == "add_module"  # type: ignore[attr-defined]
        and _counted_by(c.args[0]) == _counter(st)
        and any(isinstance(b, ast.Expr) and b.value is c for b in st.body)  # type: ignore[attr-defined]
        and not any(isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(st))
        and not st.orelse  # type: ignore[attr-defined]
    )


def _container_paths(init: list[ast.stmt]) -> dict[str, tuple[str, ...]]:
    """Each container local's place under self: `self.backbone = backbone` -> ('backbone',)."""
    paths: dict[str, tuple[str, ...]] = {}
    for st in reversed(init):  # a container is built before it is added to its parent
        for n in ast.walk(st):
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Name) and isinstance(n.targets[0], ast.Attribute) and is_self(n.targets[0].value):
                paths[n.value.id] = (n.targets[0].attr,)
            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "add_module" and len(n.args) == 2 and isinstance(n.args[1], ast.Name) and isinstance(n.args[0], ast.Constant):
                owner = n.func.value
                base = () if is_self(owner) else paths.get(owner.id) if isinstance(owner, ast.Name) else None
                if base is not None:
                    paths[n.args[1].id] = (*base, n.args[0].value)
    return paths


def _path(e: ast.expr) -> tuple[str, ...] | None:
    """Where forward's `self.a.b`, `getattr(self.a, '0')` or `self.a[0]` points under self."""
    if is_self(e):
        return ()
    inner: tuple[str, ...] | None
    if isinstance(e, ast.Attribute):
        inner = _path(e.value)
        return None if inner is None else (*inner, e.attr)
    if isinstance(e, ast.Subscript) and isinstance(e.slice, ast.Constant):
        inner = _path(e.value)
        return None if inner is None else (*inner, str(e.slice.value))
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "getattr" and isinstance(e.args[1], ast.Constant):
        inner = _path(e.args[0])
        return None if inner is None else (*inner, e.args[1].value)
    return None


def _built_at_once(init: list[ast.stmt], local: str) -> None:
    """`x = nn.Sequential()` and the appends right after it -> `x = nn.Sequential(a, b, c)`, and
    that written where the next statement takes the container, if nothing after reads `x`:
    `self.backbone = nn.Sequential(a, b, c)`."""
    at = next(i for i, st in enumerate(init) if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name) and st.targets[0].id == local)
    end = at + 1
    while end < len(init) and appends(init[end : end + 1], local) is not None:
        end += 1
    items = appends(init[at + 1 : end], local)
    if not items:
        return
    built = call("nn.Sequential", *items)
    taker = init[end] if end < len(init) else None
    if taker is not None and sum(1 for n in ast.walk(taker) if isinstance(n, ast.Name) and n.id == local) == 1 and not any(local in names_in(st) for st in init[end + 1 :]):
        init[at : end + 1] = [replace_name(taker, local, built)]
    else:
        init[at:end] = [assign(local, built)]


def _attr_store(st: ast.stmt) -> bool:
    return isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Attribute) and isinstance(st.value, (ast.Name, ast.Attribute))


def negate(test: ast.expr) -> ast.expr:
    """`stride_on in (...)` -> `stride_on not in (...)`; anything else -> `not (...)`."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        return ast.Compare(test.left, [_INVERSE[type(test.ops[0])]()], test.comparators)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return test.operand
    return ast.UnaryOp(ast.Not(), test)


def tests_needed(bodies: list[list[ast.stmt]]) -> list[int]:
    """Which tests of an if/elif/else chain still choose something: a branch just before the
    else that does what the else does needs no test (`elif fused: x = self.block(x)` then
    `else: x = self.block(x)`). Tests have no effects, so leaving one out changes nothing."""
    keep = list(range(len(bodies) - 1))
    while keep and same(ast.Module(bodies[keep[-1]], []), ast.Module(bodies[-1], [])):
        keep.pop()
    return keep


def branches_written(tests: list[ast.expr], bodies: list[list[ast.stmt]]) -> list[ast.stmt]:
    """An if/elif/else chain as a careful writer would put it: the statements every branch
    starts with written once before it, and no `if` at all where the branches are the same
    (`out = self.activation(out)` whichever module the constructor chose). `bodies` has one
    more entry than `tests`, the else. A statement moves only where no test reads what it
    assigns, so the tests still see what they saw."""
    tested = set().union(*(names_in(t) for t in tests))
    common: list[ast.stmt] = []
    while all(bodies) and all(same(b[0], bodies[0][0]) for b in bodies) and not assigned_names(bodies[0][:1]) & tested:
        common.append(bodies[0][0])
        bodies = [b[1:] for b in bodies]
    if all(not b for b in bodies):
        return common
    return common + [if_chain(tests, bodies)]


def if_chain(tests: list[ast.expr], bodies: list[list[ast.stmt]]) -> ast.If:
    orelse = bodies[-1]
    node = None
    for test, body in reversed(list(zip(tests, bodies))):
        node = ast.If(test, body or [ast.Pass()], orelse)
        orelse = [node]
    return node  # type: ignore[return-value]


def reads_only(e: ast.expr, allowed: set[str]) -> bool:
    """Whether an output-channel formula reads only the class's parameters (and the channels flowing in)."""
    return not isinstance(e, ast.Attribute) and names_in(e) <= allowed | {"make_divisible", "math", "int", "round", "max", "min", "len", "abs"}


def reads_name(fn: ast.FunctionDef, n: str) -> bool:
    return any(isinstance(x, ast.Name) and x.id == n for x in ast.walk(fn))
