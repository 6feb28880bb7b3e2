"""One class for a block whose instances differ: the constructor mirrors the block's `if`s and `repeat`s.

Most blocks give every instance the same layers, so one class with sizes as `__init__`
parameters covers them (torch_codegen). Some do not: MobileNetV2's body has an expansion
conv only when `t != 1`, a ShuffleNet unit has a `branch1` only when it downsamples, the
slides' VGG block repeats its conv `convs` times. For those, the IR records which `if`
branch and which loop iteration made each layer (Node.guard / Scope.guard) and how each
top-level statement went in each instance (Scope.decisions). From that this module
rebuilds the statement itself in the class:

    layers: list[nn.Module] = []
    if t != 1:
        layers.append(ConvBNRelu6(...))
    ...
    super().__init__(*layers)

and, where the instances' forwards differ, a forward that branches on the same condition
(`if self.stride == 1: ...`). Only top-level `if`s (and guarded labels) and `repeat`s whose
iterations build the same layers are mirrored; anything else returns None and the caller
keeps one class per variant, which is still correct code.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from archspec.backends.torch_lowering import lit
from archspec.ir import Decision, Guard
from archspec.ir import expr as irx

_HOLE = re.compile(r"\{(\d+)\}")
# the list an nn.Sequential's statements fill: named when the class is written, apart from its parameters
LIST = "\u00a4layers\u00a4"


@dataclass
class MemberLine:
    """One member of one instance as its constructor builds it."""

    name: str  # "conv", or "0" in a numbered chain
    ident: str  # the source item that made it, "file:line:col": the same line in every instance
    guard: Guard
    src: str  # the constructor source, holes {0}, {1}, ... local to it
    values: list[Any]
    hints: list[str]


@dataclass
class Instance:
    scope: str
    lines: list[MemberLine]
    decisions: dict[str, Decision]
    forward: str  # "" for an nn.Sequential


@dataclass
class Merged:
    body: str  # __init__ statements with holes (an nn.Sequential's end in the list LIST)
    forward: str
    values: dict[str, list[Any]]  # scope -> the value of every hole
    hints: list[str]
    forced: set[int]  # holes that stay parameters even where all instances agree (conditions, counts)
    members: list[str]


class Unsupported(Exception):
    """What this module does not mirror; callers fall back to what they did before."""


@dataclass
class _Slots:
    """The merged class's holes: a name hint and one value per instance (None where it has no such layer)."""

    scopes: list[str]
    hints: list[str] = field(default_factory=list)
    columns: list[list[Any]] = field(default_factory=list)
    forced: set[int] = field(default_factory=set)

    def add(self, hint: str, values: list[Any], forced: bool = False) -> int:
        self.hints.append(hint)
        self.columns.append(values)
        if forced:
            self.forced.add(len(self.hints) - 1)
        return len(self.hints) - 1

    def fill(self, candidates: list[list[Any]]) -> dict[str, list[Any]]:
        """Give absent values a stand-in: a block argument, the input's channels or another hole
        that agrees wherever both are known (so that both become one parameter), else any known
        value (the instance never builds that layer)."""
        complete = candidates + [c for c in self.columns if None not in c]
        for col in self.columns:
            known = [(i, v) for i, v in enumerate(col) if v is not None]
            if len(known) == len(col) or not known:
                continue
            if (
                len({lit(v) for _, v in known}) == 1
            ):  # values compare as the code writes them: (2, 2) is 2  # a literal wherever it is built
                col[:] = [known[0][1]] * len(col)
                continue
            twin = next((c for c in complete if all(lit(c[i]) == lit(v) for i, v in known)), None)
            for i in range(len(col)):
                if col[i] is None:
                    col[i] = twin[i] if twin is not None else known[0][1]
        return {s: [c[k] for c in self.columns] for k, s in enumerate(self.scopes)}


def merge(instances: list[Instance], sequential: bool, file: str, candidates: list[list[Any]]) -> Merged | None:
    """One class for all `instances` of a block, or None when their differences are not mirrored here.

    `candidates` are per-instance values the class's parameters may be named after (the
    input's channels, the block's arguments and variables): absent values are taken from them."""
    try:
        return _Merger(instances, sequential, file, candidates).run()
    except Unsupported:
        return None


class _Merger:
    def __init__(self, instances: list[Instance], sequential: bool, file: str, candidates: list[list[Any]]):
        self.candidates = candidates
        self.insts = instances
        self.sequential = sequential
        self.file = file
        self.slots = _Slots([i.scope for i in instances])
        self.cond_holes: dict[tuple[str, int], tuple[str, dict[int, str]]] = {}  # (if key, branch) -> (source, hole -> name)
        self.members: list[str] = []

    def run(self) -> Merged:
        entries = self._entries()
        body: list[str] = [f"{LIST}: list[nn.Module] = []"] if self.sequential else []
        for kind, key in entries:
            if kind == "line":
                body += self._plain(key)
            elif kind == "if":
                body += self._if(key)
            else:
                body += self._repeat(key)
        forward, attrs = self._forward()
        body = attrs + body
        values = self.slots.fill(self.candidates)
        return Merged("\n".join(body), forward, values, self.slots.hints, self.slots.forced, self.members)

    # ---- structure ----
    def _entries(self) -> list[tuple[str, str]]:
        """The top-level statements that made the members, in source order, checked against each instance's order."""
        found: dict[tuple[str, str], tuple[int, int]] = {}
        for inst in self.insts:
            for line in inst.lines:
                if len(line.guard) > 1:
                    raise Unsupported  # nested branches or loops
                if line.guard:
                    key = line.guard[0][0]
                    kind = key.split("@", 1)[0]
                    if kind not in ("if", "repeat") or (kind == "repeat" and not self.sequential):
                        raise Unsupported
                    found[(kind, key)] = self._position(key.split("@", 1)[1])
                else:
                    found[("line", line.ident)] = self._position(line.ident)
        entries = sorted(found, key=lambda e: found[e])
        for inst in self.insts:
            expected = []
            for kind, key in entries:
                if kind == "line":
                    expected.append(key)
                else:
                    expected += [line.ident for line in _under(inst, key)]
            if expected != [line.ident for line in inst.lines]:
                raise Unsupported  # the members do not run in source order (a splice, a loop around them)
        return entries

    def _position(self, where: str) -> tuple[int, int]:
        parts = where.rsplit(":", 2)
        if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
            raise Unsupported  # no source position to order by
        file, line, col = parts
        if file != self.file:
            raise Unsupported  # made inside a spliced block of another file
        return int(line), int(col)

    def _decision(self, inst: Instance, key: str) -> Decision:
        d = inst.decisions.get(key)
        if d is None:
            raise Unsupported
        return d

    # ---- constructor lines ----
    def _line(self, name: str, src: str, hints: list[str], columns: list[list[Any]]) -> str:
        """A member's constructor statement, its holes made the class's."""
        holes = [self.slots.add(hints[j], columns[j]) for j in range(len(hints))]
        self.members.append(name)
        return self._statement(name, _HOLE.sub(lambda m: "{" + str(holes[int(m.group(1))]) + "}", src))

    def _statement(self, name: str, src: str) -> str:
        if self.sequential:
            return f"{LIST}.append({src})"
        if name.isidentifier():
            return f"self.{name} = {src}"
        return f'self.add_module("{name}", {src})'

    def _plain(self, ident: str) -> list[str]:
        lines = []
        for inst in self.insts:
            found = [line for line in inst.lines if line.ident == ident and not line.guard]
            if len(found) != 1:
                raise Unsupported
            lines.append(found[0])
        first = _least_inplace(lines)
        if any(_canon(line.src) != _canon(first.src) or (line.name != first.name and not self.sequential) for line in lines):
            raise Unsupported
        return [self._line(first.name, first.src, first.hints, [[line.values[j] for line in lines] for j in range(len(first.hints))])]

    def _if(self, key: str) -> list[str]:
        taken = [self._decision(inst, key).taken for inst in self.insts]
        observed = sorted(set(taken))
        branch: dict[int, list[list[MemberLine]]] = {}  # branch -> per instance taking it, its lines
        for inst, k in zip(self.insts, taken):
            branch.setdefault(k, []).append(_under(inst, key))
        shapes = {}
        for k, per in branch.items():
            shape = [(line.name if not self.sequential else "", _canon(line.src)) for line in per[0]]
            if any([(line.name if not self.sequential else "", _canon(line.src)) for line in lines] != shape for lines in per):
                raise Unsupported
            shapes[k] = shape
        # lines that every branch starts or ends with are built whatever the condition says
        head = 0
        while all(len(shapes[k]) > head and shapes[k][head] == shapes[observed[0]][head] for k in observed):
            head += 1
        tail = 0
        while all(len(shapes[k]) - head > tail and shapes[k][-1 - tail] == shapes[observed[0]][-1 - tail] for k in observed):
            tail += 1
        out = [self._branch_line(key, taken, k=None, index=i) for i in range(head)]
        middle = {k: list(range(head, len(shapes[k]) - tail)) for k in observed}
        if len(observed) > 1 and any(middle.values()):
            real = {k: [self._branch_line(key, taken, k, i) for i in middle[k]] for k in observed}
            # a member that only some branches build is an empty nn.Sequential in the others, as
            # torchvision's ShuffleNet has it: no weights, and a forward that TorchScript compiles
            pads: dict[int, list[str]] = {k: [] for k in observed}
            if not self.sequential:
                names = dict.fromkeys(shapes[k][i][0] for k in observed for i in middle[k])
                for k in observed:
                    pads[k] = [self._statement(n, "nn.Sequential()") for n in names if all(shapes[k][i][0] != n for i in middle[k])]
            first, second = observed[0], observed[-1]
            if len(observed) == 2 and not real[first]:  # if stride != 1: build it, else: the empty stand-in
                out += [f"if {negate(self._cond(key, first, False))}:"] + _indent(real[second] + pads[second])
                out += ["else:"] + _indent(pads[first]) if pads[first] else []
            else:
                out += self._chain(key, observed, {k: real[k] + pads[k] for k in observed}, self_attrs=False)
        elif len(observed) == 1:
            out += [self._branch_line(key, taken, observed[0], i) for i in middle[observed[0]]]
        out += [self._branch_line(key, taken, k=None, index=-tail + i) for i in range(tail)]
        return out

    def _branch_line(self, key: str, taken: list[int], k: int | None, index: int) -> str:
        """Line `index` of branch k (k None: of every branch, hoisted out of the if)."""
        columns_of: list[list[Any] | None] = []
        built = []
        for inst, t in zip(self.insts, taken):
            lines = _under(inst, key)
            line = lines[index] if k is None or t == k else None
            if line is not None:
                built.append(line)
            columns_of.append(line.values if line is not None else None)
        first = _least_inplace(built)
        columns = [[vals[j] if vals is not None else None for vals in columns_of] for j in range(len(first.hints))]
        return self._line(first.name, first.src, first.hints, columns)

    def _chain(self, key: str, observed: list[int], bodies: dict[int, list[str]], self_attrs: bool) -> list[str]:
        """`if c0: ... elif c1: ... else: ...` over the branches some instance took: each instance
        took one of them, so the last needs no condition of its own."""
        if len(observed) == 2 and not bodies[observed[0]]:
            return [f"if {negate(self._cond(key, observed[0], self_attrs))}:"] + _indent(bodies[observed[1]])
        last = observed[-1]
        out = []
        for n, k in enumerate(observed[:-1]):
            out.append(f"{'if' if n == 0 else 'elif'} {self._cond(key, k, self_attrs)}:")
            out += _indent(bodies[k] or ["pass"])
        if bodies[last] and self_attrs:  # every branch of a forward returns: the last needs no `else`
            out += bodies[last]
        elif bodies[last]:
            out += ["else:"] + _indent(bodies[last])
        return out

    def _cond(self, key: str, k: int, self_attrs: bool) -> str:
        """Branch k's condition as Python: holes for its names (parameters), or `self.name` in forward."""
        if (key, k) not in self.cond_holes:
            decisions = [self._decision(inst, key) for inst in self.insts]
            exprs = decisions[0].exprs
            if k >= len(exprs):
                raise Unsupported
            names: dict[str, int] = {}

            def hole(name: str, value_of) -> str:
                if name not in names:
                    names[name] = self.slots.add(name, [value_of(d) for d in decisions], forced=True)
                return "{" + str(names[name]) + "}"

            source = python_expr(exprs[k], hole)
            self.cond_holes[(key, k)] = (source, {h: n for n, h in names.items()})
        source, names = self.cond_holes[(key, k)]
        if not self_attrs:
            return source
        return _HOLE.sub(lambda m: f"self.{_attribute(names[int(m.group(1))])}", source)

    def _repeat(self, key: str) -> list[str]:
        counts = [self._decision(inst, key).taken for inst in self.insts]
        units: list[list[list[MemberLine]]] = []  # per instance, per iteration, its lines
        for inst, n in zip(self.insts, counts):
            units.append([[line for line in inst.lines if line.guard == ((key, i),)] for i in range(n)])
        shapes = {tuple(_canon(line.src) for line in it) for per in units for it in per}
        if len(shapes) != 1:
            raise Unsupported
        iterations = [it for per in units for it in per]
        unit = [_least_inplace([it[pos] for it in iterations]) for pos in range(len(iterations[0]))]
        split = False
        body = []
        for pos, line in enumerate(unit):
            exprs = {}
            for j, hint in enumerate(line.hints):
                runs = [[it[pos].values[j] for it in per] for per in units]
                if all(len({repr(v) for v in run}) <= 1 for run in runs):
                    exprs[j] = "{" + str(self.slots.add(hint, [run[0] if run else None for run in runs])) + "}"
                elif all(len({repr(v) for v in run[1:]}) <= 1 for run in runs):  # the first iteration reads the block's input
                    first = self.slots.add(hint, [run[0] if run else None for run in runs])
                    rest = self.slots.add(hint, [run[1] if len(run) > 1 else None for run in runs])
                    exprs[j] = f"{{{first}}} if i == 0 else {{{rest}}}"
                    split = True
                else:
                    raise Unsupported
            self.members.append(line.name)
            body.append(self._statement(line.name, _HOLE.sub(lambda m, e=exprs: e[int(m.group(1))], line.src)))
        decision = self._decision(self.insts[0], key)
        count = python_expr(decision.exprs[0], lambda name, value_of: self._count_hole(key, name, value_of))
        return [f"for {'i' if split else '_'} in range({count}):"] + _indent(body)

    def _count_hole(self, key: str, name: str, value_of) -> str:
        decisions = [self._decision(inst, key) for inst in self.insts]
        return "{" + str(self.slots.add(name, [value_of(d) for d in decisions], forced=True)) + "}"

    # ---- forward ----
    def _forward(self) -> tuple[str, list[str]]:
        """One forward when the instances agree; else one that branches on the top-level `if` that
        decides it, reading the condition's values from attributes set in __init__."""
        if self.sequential:
            return "", []
        texts = {inst.forward for inst in self.insts}
        if len(texts) == 1:
            return texts.pop(), []
        keys = sorted(
            {k for inst in self.insts for k, d in inst.decisions.items() if d.kind == "if"},
            key=lambda k: self._position(k.split("@", 1)[1]),
        )
        for key in keys:
            if not all(key in inst.decisions for inst in self.insts):
                continue
            by_branch: dict[int, set[str]] = {}
            for inst in self.insts:
                by_branch.setdefault(inst.decisions[key].taken, set()).add(inst.forward)
            if all(len(t) == 1 for t in by_branch.values()):
                observed = sorted(by_branch)
                bodies = {k: by_branch[k].pop().splitlines() for k in observed}
                forward = "\n".join(self._chain(key, observed, bodies, self_attrs=True))
                attrs = []
                for k in observed[:-1]:
                    for hole, name in self.cond_holes[(key, k)][1].items():
                        line = f"self.{_attribute(name)} = {{{hole}}}"
                        if name in self.members:
                            raise Unsupported
                        if line not in attrs:
                            attrs.append(line)
                return forward, attrs
        raise Unsupported


def _under(inst: Instance, key: str) -> list[MemberLine]:
    """An instance's members made inside the top-level statement `key`."""
    return [line for line in inst.lines if line.guard and line.guard[0][0] == key]


def _canon(src: str) -> str:
    """Lines compare without their in-place flags: whether an activation may overwrite its input
    depends on what surrounds each instance."""
    return src.replace(", inplace=True", "").replace("inplace=True", "")


def _least_inplace(lines: list[MemberLine]) -> MemberLine:
    """The line to write for all: out of place if any instance needs it so (always correct)."""
    return next((line for line in lines if "inplace=True" not in line.src), lines[0])


# nn.Module's own attributes and methods, which a condition's value must not replace
_MODULE_NAMES = frozenset(
    "training forward train eval to cuda cpu type float double half bfloat16 apply parameters buffers children modules"
    " named_parameters named_buffers named_children named_modules state_dict load_state_dict zero_grad requires_grad_"
    " register_buffer register_parameter register_module add_module get_submodule extra_repr dump_patches".split()
)


def _attribute(name: str) -> str:
    """The attribute that keeps a condition's value for forward: `self.stride`, `self.training_`, `self.from_`."""
    return name + "_" if name in _MODULE_NAMES or keyword.iskeyword(name) else name


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


# ---- expressions: the spec's condition as Python ----

_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6, "neg": 7, "**": 8, "atom": 9}


def python_expr(e: irx.Expr, hole) -> str:
    """A spec expression as Python source. `hole(name, value_of)` stands in for each name
    (value_of reads its value from a Decision); raises Unsupported for what Python spells differently."""
    return _py(e, hole)[0]


def _py(e: irx.Expr, hole) -> tuple[str, int]:
    if isinstance(e, irx.Const) and (isinstance(e.value, (bool, int, float, str)) or e.value is None):
        return repr(e.value), _PREC["atom"]
    if isinstance(e, irx.Var):
        name = e.name
        return hole(name, lambda d: d.bindings.get(name)), _PREC["atom"]
    if isinstance(e, irx.Field) and isinstance(e.value, irx.Input) and e.name in ("channels", "height", "width", "features"):
        index = {"channels": 0, "features": 0, "height": 1, "width": 2}[e.name]
        return hole(f"in_{e.name}", lambda d: d.in_shape[index] if d.in_shape and len(d.in_shape) > index else None), _PREC["atom"]
    if isinstance(e, irx.BinOp) and e.op in _PREC:
        p = _PREC[e.op]
        left, lp = _py(e.left, hole)
        right, rp = _py(e.right, hole)
        return f"{_paren(left, lp, p)} {e.op} {_paren(right, rp, p + 1)}", p
    if isinstance(e, irx.Neg):
        operand, op = _py(e.operand, hole)
        return f"{e.op}{_paren(operand, op, _PREC['neg'])}", _PREC["neg"]
    if isinstance(e, irx.Compare):
        parts = [_paren(*_py(x, hole), _PREC["cmp"] + 1) for x in e.operands]
        text = parts[0] + "".join(f" {op} {p}" for op, p in zip(e.ops, parts[1:]))
        return text, _PREC["cmp"]
    if isinstance(e, irx.Logic):
        p = _PREC[e.op]
        return f" {e.op} ".join(_paren(*_py(x, hole), p + 1) for x in e.values), p
    if isinstance(e, irx.Not):
        operand, op = _py(e.operand, hole)
        return f"not {_paren(operand, op, _PREC['not'])}", _PREC["not"]
    if isinstance(e, irx.TupleOf):
        items = [_py(x, hole)[0] for x in e.items]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")", _PREC["atom"]
    raise Unsupported


def _paren(text: str, prec: int, need: int) -> str:
    return f"({text})" if prec < need else text


_NEGATED = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "in": "not in", "not in": "in"}


def negate(cond: str) -> str:
    """`stride == 1` -> `stride != 1`; anything else -> `not (...)`."""
    m = re.fullmatch(r"([\w.{}]+) (==|!=|<=|>=|<|>|not in|in) ([\w.{}'\"-]+)", cond)
    if m:
        return f"{m.group(1)} {_NEGATED[m.group(2)]} {m.group(3)}"
    return f"not ({cond})"
