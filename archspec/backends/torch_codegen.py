"""The PyTorch backend: the typed IR becomes one readable, standalone Python file.

What the file looks like (torchvision's style): a header naming the spec, its parameters
and totals; one `nn.Module` class per block (subclassing `nn.Sequential` where the block
is a plain chain); `nn.Sequential` for plain chains; a `forward` that says what the spec
says (`out = out + identity`, `torch.cat([...], 1)`); the network class; a factory.

How: scopes are visited bottom-up. Each scope gets a constructor *template*: source
with holes for the sizes of its layers (`nn.Conv2d({0}, {1}, {2}, ...)`). Instances of
one block whose templates and forwards agree share a class (a variant); a variant that
only adds optional members (a `downsample` feeding an add) absorbs the one without them;
sizes that differ between instances become `__init__` parameters (named after the
block's own arguments where the values say so), sizes that agree stay literals. Child
classes appear in their parent's template as markers, resolved once the child's
parameters are named.

Two more passes make one class per block definition and a torchvision-like signature:
blocks whose instances still differ (an `if` branch, a repeat count) are classified again
as one class that mirrors those statements (torch_branches.py); and each int network
parameter is tried at another value (`probes`): one that only moves sizes equal to itself
becomes a constructor argument (`ResNet18(classes: int = 1000)`).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from archspec.backends.torch_branches import LIST, Instance, MemberLine, Unsupported, merge, python_expr
from archspec.backends.torch_lowering import HELPERS, LOWERINGS, lit
from archspec.cost import layer_costs, total
from archspec.ir import Graph, Node

_ACRONYMS = {
    "vgg": "VGG",
    "resnet": "ResNet",
    "resnext": "ResNeXt",
    "densenet": "DenseNet",
    "mobilenet": "MobileNet",
    "shufflenet": "ShuffleNet",
    "squeezenet": "SqueezeNet",
    "googlenet": "GoogLeNet",
    "alexnet": "AlexNet",
    "lenet": "LeNet",
    "nin": "NiN",
    "se": "SE",
    "bn": "BN",
}


_HOLE = re.compile(r"\{(\d+)\}")  # a size to fill in: {3}


class CodegenError(Exception):
    """The IR has a shape the torch backend cannot lower yet."""


def class_name(name: str) -> str:
    """`dense_layer` -> `DenseLayer`, `resnet50` -> `ResNet50`, `mobilenet_v2` -> `MobileNetV2`."""
    out = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        if not part:
            continue
        m = re.match(r"([A-Za-z]+)(.*)", part)
        word, rest = (m.group(1), m.group(2)) if m else ("", part)
        piece = _ACRONYMS.get(word.lower(), word[:1].upper() + word[1:]) + rest
        if out and out[-1][-1:].isdigit() and piece[:1].isdigit():
            piece = "_" + piece  # shufflenet_v2_x1_0 -> ShuffleNetV2X1_0
        out.append(piece)
    text = "".join(out) or "Net"
    return "N" + text if text[0].isdigit() else text


def identifier(name: str) -> str:
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = "_" + text
    return text + "_" if keyword.iskeyword(text) else text


@dataclass
class Template:
    """Constructor source with `{i}` holes, and the values that fill them for one instance."""

    source: str
    values: list[Any] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # a name for each hole, if it must become a parameter


@dataclass
class Variant:
    """One generated class: a block's instances that share structure and forward."""

    name: str
    block: str
    base: str  # "nn.Module" or "nn.Sequential"
    body: str  # the __init__ body (or Sequential's arguments) with holes
    forward: str
    hints: list[str]
    instances: list[str] = field(default_factory=list)  # scope paths
    members: list[str] = field(default_factory=list)  # names of its direct members
    key: str = ""  # "#k": its name in call markers until classes are named
    line_members: list[str] = field(default_factory=list)  # the member each body line builds
    optional: list[str] = field(default_factory=list)  # members built only when asked (downsample=True)
    params: list[tuple[str, list[int]]] = field(default_factory=list)  # (name, holes) after naming
    built: bool = False  # body is whole __init__ statements (an `if` or loop of the spec mirrored; torch_branches)
    forced: set[int] = field(default_factory=set)  # holes that are parameters even where instances agree
    pinned: dict[int, str] = field(default_factory=dict)  # hole -> the network parameter it is (`classes`)
    derived: dict[int, str] = field(default_factory=dict)  # hole -> the expression the spec computes it by


class TorchCodegen:
    def __init__(self, graph: Graph, spec: str, factory: str, probes: dict[str, Graph] | None = None):
        self.g = graph
        self.probes = probes or {}
        self.spec = spec
        self.factory = factory
        self.children: dict[str, list[str]] = {p: [] for p in graph.scopes}
        self.members: dict[str, list[tuple[str, Any]]] = {p: [] for p in graph.scopes}
        self.span: dict[str, tuple[int, int]] = {}
        self.consumers: dict[int, list[int]] = {}
        self.variants: dict[str, Variant] = {}  # signature -> variant
        self.class_of: dict[str, tuple[Variant, Template]] = {}  # scope path -> (variant, call template)
        self.by_key: dict[str, Variant] = {}  # "#k" -> variant, for call markers
        self.translate: dict[str, tuple[dict[int, int], dict[str, bool]]] = {}  # merged keys: hole map, absent members
        self.helpers: set[str] = set()
        self.branchy: set[str] = set()  # blocks whose instances differ: one class mirroring their `if`s and loops
        self.unmerged: set[str] = set()  # ... where that could not be done
        self._index()

    # ---- structure ----
    def _index(self) -> None:
        for path in sorted(self.g.scopes, key=lambda p: (p.count("."), p)):
            if path:
                parent = path.rsplit(".", 1)[0] if "." in path else ""
                self.children[parent].append(path)
        for node in self.g.layers():
            for i in node.inputs:
                self.consumers.setdefault(i, []).append(node.id)
            scope = node.scope
            while True:
                lo, hi = self.span.get(scope, (node.id, node.id))
                self.span[scope] = (min(lo, node.id), max(hi, node.id))
                if not scope:
                    break
                scope = scope.rsplit(".", 1)[0] if "." in scope else ""
        for node in self.g.layers():
            self.members[node.scope].append(("node", node))
        for path, kids in self.children.items():
            for kid in kids:
                if kid not in self.span:
                    raise CodegenError(f"scope '{kid}' holds no layers")
                self.members[path].append(("scope", kid))
        for path in self.members:
            self.members[path].sort(key=lambda m: m[1].id if m[0] == "node" else self.span[m[1]][0])

    def _member_io(self, scope: str, member) -> tuple[list[int], int]:
        """A member's input node ids and output node id."""
        kind, m = member
        if kind == "node":
            return list(m.inputs), m.id
        ext = self._outer_inputs(m)
        if len(ext) != 1:
            raise CodegenError(f"scope '{m}' reads {len(ext)} outer values; the torch backend handles one")
        return ext, self.span[m][1]

    @staticmethod
    def _name(path: str) -> str:
        return path.rsplit(".", 1)[-1]

    def _member_name(self, member) -> str:
        kind, m = member
        return self._name(m.path if kind == "node" else m)

    def _numbered(self, scope: str) -> bool:
        """Whether a scope's members are named 0, 1, 2, ... as nn.Sequential names them."""
        return all(self._member_name(m) == str(i) for i, m in enumerate(self.members[scope]))

    def _outer_inputs(self, scope: str) -> list[int]:
        """The ids of the nodes outside `scope` that its nodes read."""
        lo, hi = self.span[scope]
        return sorted({i for n in self.g.nodes[lo : hi + 1] for i in n.inputs if not lo <= i <= hi})

    def _scope_input(self, scope: str) -> int:
        return self._outer_inputs(scope)[0] if scope else 0

    def _is_chain(self, scope: str) -> bool:
        prev = self._scope_input(scope)
        for member in self.members[scope]:
            if member[0] == "node" and LOWERINGS[member[1].op].join:
                return False
            ins, out = self._member_io(scope, member)
            if ins != [prev]:
                return False
            prev = out
        return prev == self.span[scope][1]

    def _may_overwrite(self, node_id: int) -> bool:
        """An in-place activation may overwrite a value only if nothing else reads it, autograd included."""
        return LOWERINGS[self.g.nodes[node_id].op].overwritable and len(self.consumers.get(node_id, [])) == 1

    # ---- constructors ----
    def _leaf_template(self, node: Node) -> Template:
        t = Template("")
        holes: dict[str, int] = {}

        def arg(name: str) -> str:
            if name not in LOWERINGS[node.op].sizes:
                return lit(node.attrs[name])
            if name not in holes:
                holes[name] = len(t.values)
                t.values.append(node.attrs[name])
                label = self._name(node.path)
                t.hints.append(name if label.isdigit() else f"{identifier(label)}_{name}")
            return "{" + str(holes[name]) + "}"

        source = LOWERINGS[node.op].module(node, arg)
        if "inplace=True" in source and not self._may_overwrite(node.inputs[0]):
            source = source.replace("inplace=True", "")
        for helper in HELPERS:
            if source.startswith(helper + "("):
                self.helpers.add(helper)
        t.source = source
        return t

    def _scope_template(self, scope: str) -> Template:
        if scope in self.class_of:
            # the call is written once the class's parameters are named: a marker with all its holes
            variant, raw = self.class_of[scope]
            holes = "".join(f"|{{{i}}}" for i in range(len(raw.values)))
            return Template(f"\u00a7{variant.name}|{self._name(scope)}{holes}\u00a7", list(raw.values), list(raw.hints))  # name: "#k"
        # a plain chain that is not a block: nn.Sequential, inline in its parent
        parts, values, hints = [], [], []
        numbered = self._numbered(scope)
        for member in self.members[scope]:
            sub = self._leaf_template(member[1]) if member[0] == "node" else self._scope_template(member[1])
            src = _shift(sub.source, len(values))
            values += sub.values
            hints += sub.hints
            name = self._member_name(member)
            parts.append(src if numbered else f'("{name}", {src})')
        if numbered:
            return Template("nn.Sequential(" + ", ".join(parts) + ")", values, hints)
        return Template("nn.Sequential(OrderedDict([" + ", ".join(parts) + "]))", values, hints)

    # ---- classes ----
    def _needs_class(self, scope: str) -> bool:
        return scope == "" or self.g.scopes[scope].kind == "block" or not self._is_chain(scope)

    def build(self) -> str:
        self._structure()
        for name, probe in self.probes.items():
            self._pin(name, probe)
        self._name_classes()
        self._name_parameters()
        return self._render()

    def _structure(self) -> None:
        """Classes and their holes, before naming."""
        self._classify_all()
        split = {v.block for v in self.variants.values() if v.instances[0]}
        split = {b for b in split if sum(1 for v in self.variants.values() if v.instances[0] and v.block == b) > 1}
        if split:  # start again, writing those blocks as one class each (children first, so parents see one)
            self.variants, self.class_of, self.by_key, self.translate, self.helpers = {}, {}, {}, {}, set()
            self.branchy = split
            self._classify_all()

    def _pin(self, name: str, probe: Graph) -> None:
        """Make network parameter `name` a constructor argument if, with its value changed by one,
        the same classes come out and exactly the sizes equal to it change with it."""
        value = self.g.params[name]
        other = TorchCodegen(probe, self.spec, self.factory)
        try:
            other._structure()
        except CodegenError:
            return
        mine, theirs = list(self.variants.values()), list(other.variants.values())
        shape = lambda v: (v.block, v.base, v.body, v.forward, v.instances)  # noqa: E731
        if len(mine) != len(theirs) or any(shape(a) != shape(b) for a, b in zip(mine, theirs)):
            return
        moved: dict[tuple[str, int], set[str]] = {}
        for variant in mine:
            for s in variant.instances:
                a, b = self.class_of[s][1].values, other.class_of[s][1].values
                if len(a) != len(b):
                    return
                for i, (x, y) in enumerate(zip(a, b)):
                    if lit(x) == lit(y):
                        continue
                    if lit(x) != repr(value) or lit(y) != repr(value + 1):
                        return  # a size computed from it, or a change of structure: not a plain size
                    moved.setdefault((variant.key, i), set()).add(s)
        for (key, i), scopes in moved.items():
            variant = self.by_key[key]
            if scopes == set(variant.instances):
                variant.pinned[i] = name  # a literal of the class: now the parameter itself
            elif len({lit(self.class_of[s][1].values[i]) for s in variant.instances}) == 1:
                return  # instances that agree on a size, and only some of them follow the parameter
            # else a parameter of the class already, which its caller passes: pinned there

    def _classify_all(self) -> None:
        for scope in sorted(self.g.scopes, key=lambda p: (-p.count(".") if p else 1, p)):
            if self._needs_class(scope):
                self._classify(scope)
        self._merge_optional()

    def _name_classes(self) -> None:
        """A block's simplest variant takes its name; others add what they have more (`BottleneckWithDownsample`)."""
        taken: set[str] = set(HELPERS)
        by_block: dict[str, list[Variant]] = {}
        for v in self.variants.values():
            by_block.setdefault(v.block if v.instances[0] else "", []).append(v)
        net = by_block.pop("", [])
        for v in net:
            v.name = class_name(self.g.name)
            taken.add(v.name)
        for block, variants in by_block.items():
            base = class_name(block)
            variants.sort(key=lambda v: len(v.members))
            plain = set(variants[0].members)
            for v in variants:
                extra = [m for m in v.members if m not in plain and not m.isdigit()]
                described = extra and len(extra) <= 2
                name = base if v is variants[0] else base + "With" + "And".join(class_name(m) for m in extra) if described else base
                candidate, n = name, 2
                while candidate in taken:
                    candidate, n = f"{name}{n}", n + 1
                v.name = candidate
                taken.add(candidate)

    def _classify(self, scope: str) -> None:
        if scope in self.class_of:
            return  # classified early, as part of a merged block's instances
        info = self.g.scopes[scope]
        if info.kind == "block" and info.block in self.branchy and info.block not in self.unmerged:
            if self._classify_merged(info.block):
                return
        block = info.block if info.kind in ("block", "network") else self._name(scope)
        sequential = self._is_chain(scope) and self._numbered(scope)
        values: list[Any] = []
        hints: list[str] = []
        lines: list[str] = []
        folded = None if sequential else self._fold_repeats(scope)
        for member in self.members[scope] if folded is None else ():
            kind, m = member
            if not self._has_line(member, sequential):
                continue  # written in forward
            sub = self._leaf_template(m) if kind == "node" else self._scope_template(m)
            src = _shift(sub.source, len(values))
            values += sub.values
            hints += sub.hints
            name = self._member_name(member)
            if sequential:
                lines.append(src)
            elif name.isidentifier() and not keyword.iskeyword(name):
                lines.append(f"self.{name} = {src}")
            else:
                lines.append(f'self.add_module("{name}", {src})')
        if folded is not None:
            body, forward, values, hints, line_members = folded
        else:
            forward = "" if sequential else self._forward(scope)
            body = "\n".join(lines)
            line_members = [self._member_name(m) for m in self.members[scope] if self._has_line(m, sequential)]
        signature = (block, sequential, body, forward)
        key = repr(signature)
        variant = self.variants.get(key)
        if variant is None:
            # named once every variant is known (_name_classes); until then, by its number
            variant = Variant(f"#{len(self.variants)}", block, "nn.Sequential" if sequential else "nn.Module", body, forward, hints)
            variant.key = variant.name
            self.by_key[variant.key] = variant
            variant.line_members = line_members
            variant.members = [self._member_name(m) for m in self.members[scope]]
            self.variants[key] = variant
        variant.instances.append(scope)
        self.class_of[scope] = (variant, Template("", values, hints))

    def _classify_merged(self, block: str) -> bool:
        """All instances of `block` as one class whose constructor (and forward) mirror the spec's
        `if`s and `repeat`s (torch_branches). False, and remembered, when that cannot be done."""
        scopes = [p for p, sc in self.g.scopes.items() if sc.kind == "block" and sc.block == block]
        for below in sorted(self._descendants(scopes), key=lambda p: (-p.count("."), p)):  # instances may sit at any depth
            if self._needs_class(below):
                self._classify(below)
        kinds = {self._is_chain(s) and self._numbered(s) for s in scopes}
        defined = self.g.scopes[scopes[0]].defined
        merged = None
        if len(kinds) == 1 and defined is not None:
            sequential = kinds.pop()
            instances = [self._instance(s, sequential) for s in scopes]
            info = [self.g.scopes[s] for s in scopes]
            candidates = [[self.g.nodes[self._scope_input(s)].shape[0] for s in scopes]]
            candidates += [[sc.args.get(a) for sc in info] for a in info[0].args]
            candidates += [[sc.locals.get(a) for sc in info] for a in info[0].locals]
            merged = merge(instances, sequential, defined.file, candidates)
        if merged is None:
            self.unmerged.add(block)
            return False
        variant = Variant(
            f"#{len(self.variants)}", block, "nn.Sequential" if sequential else "nn.Module", merged.body, merged.forward, merged.hints
        )
        variant.key, variant.built, variant.forced = variant.name, True, merged.forced
        variant.members = variant.line_members = merged.members
        self.by_key[variant.key] = variant
        self.variants[repr(("merged", block))] = variant
        for s in scopes:
            variant.instances.append(s)
            self.class_of[s] = (variant, Template("", merged.values[s], list(merged.hints)))
        return True

    def _descendants(self, scopes: list[str]) -> set[str]:
        found: set[str] = set()
        todo = [kid for s in scopes for kid in self.children[s]]
        while todo:
            path = todo.pop()
            found.add(path)
            todo += self.children[path]
        return found

    def _instance(self, scope: str, sequential: bool) -> Instance:
        """One instance's members as its own constructor would build them, with the branches that made them."""
        lines = []
        for member in self.members[scope]:
            if not self._has_line(member, sequential):
                continue
            kind, m = member
            sub = self._leaf_template(m) if kind == "node" else self._scope_template(m)
            origin = m if kind == "node" else self.g.scopes[m]
            source = (
                re.sub("^(\u00a7#\\d+\\|)\\d+\\|", r"\g<1>0|", sub.source) if sequential else sub.source
            )  # position: not part of the line
            lines.append(MemberLine(self._member_name(member), str(origin.span), origin.guard, source, sub.values, sub.hints))
        return Instance(scope, lines, self.g.scopes[scope].decisions, "" if sequential else self._forward(scope))

    def _fold_repeats(self, scope: str):
        """A block that is only a run of one class joined onto the running value (DenseNet's dense
        block: layer j reads everything so far, `out = cat([out, layer(out)])`) becomes a loop, so
        that blocks with 6 or 24 layers share one class, as torchvision's _DenseBlock does.

        The per-layer sizes must be constant or grow by a constant step (in_channels + j * growth).
        Returns (body, forward, values, hints, line_members), or None when the block is not such a run.
        """
        # an unnamed `identity` (the running value as a branch) is its input
        alias = {m.id: m.inputs[0] for k, m in self.members[scope] if k == "node" and m.op == "identity" and self._name(m.path).isdigit()}
        members = [(k, m) for k, m in self.members[scope] if not (k == "node" and m.id in alias)]
        if len(members) < 4 or len(members) % 2 or any(k != ("scope", "node")[i % 2] for i, (k, _) in enumerate(members)):
            return None
        units = [(members[i][1], members[i + 1][1]) for i in range(0, len(members), 2)]
        if any(u not in self.class_of or not LOWERINGS[j.op].join for u, j in units):
            return None
        if len({self.class_of[u][0].key for u, _ in units}) != 1 or len({j.op for _, j in units}) != 1:
            return None
        first = re.fullmatch(r"([A-Za-z_]\w*?)(\d+)", self._name(units[0][0]))
        if not first or any(self._name(u) != f"{first.group(1)}{int(first.group(2)) + k}" for k, (u, _) in enumerate(units)):
            return None
        prev, order = self._scope_input(scope), set()
        for u, j in units:
            ins, out = self._member_io(scope, ("scope", u))
            inputs = [alias.get(i, i) for i in j.inputs]
            if ins != [prev] or sorted(inputs) != sorted([prev, out]) or len(inputs) != 2:
                return None
            order.add(inputs[0] == prev)
            prev = j.id
        if prev != self.span[scope][1] or len(order) != 1:
            return None
        raws = [self.class_of[u][1].values for u, _ in units]
        child = self.class_of[units[0][0]]
        values: list[Any] = []
        hints: list[str] = []
        exprs = []
        for i in range(len(raws[0])):
            seq = [r[i] for r in raws]
            steps = {b - a for a, b in zip(seq, seq[1:])} if all(type(x) is int for x in seq) else set()
            if len({repr(x) for x in seq}) == 1:
                exprs.append(f"{{{len(values)}}}")
                values.append(seq[0])
                hints.append(child[1].hints[i])
            elif len(steps) == 1:
                exprs.append(f"{{{len(values)}}} + j * {{{len(values) + 1}}}")
                values += [seq[0], steps.pop()]
                hints += [child[1].hints[i], "step"]
            else:
                return None
        values.append(len(units))
        hints.append("layers")
        prefix, start = first.group(1), int(first.group(2))
        call = f"\u00a7{child[0].key}|{prefix}|" + "|".join(exprs) + "\u00a7"
        body = f'for j in range({{{len(values) - 1}}}):\n    self.add_module(f"{prefix}{{j + {start}}}", {call})'
        join = LOWERINGS[units[0][1].op].join(["out", "layer(out)"] if order.pop() else ["layer(out)", "out"])
        forward = f"out = x\nfor layer in self.children():\n    out = {join}\nreturn out"
        return body, forward, values, hints, [f"{prefix}*"]

    def _has_line(self, member, sequential: bool) -> bool:
        """Whether a member is built in __init__ (joins and unnamed stateless calls live in forward)."""
        kind, m = member
        return not (kind == "node" and (LOWERINGS[m.op].join or (LOWERINGS[m.op].call and self._name(m.path).isdigit() and not sequential)))

    # ---- optional members: one class for a block with and without its shortcut ----
    def _merge_optional(self) -> None:
        """Fold a block's variant B into a variant A that only adds named members (a `downsample`,
        an `se`) whose outputs feed add or mul: A builds them when asked (`downsample=True`) and
        its forward passes the input through where they are absent, as torchvision's BasicBlock does."""
        for a in sorted(self.variants.values(), key=lambda v: -len(v.line_members)):
            if a.key not in self.by_key or self.by_key[a.key] is not a or a.base != "nn.Module" or not a.instances[0] or a.built:
                continue
            for b in list(self.variants.values()):
                if b is a or b.block != a.block or b.base != "nn.Module" or self.by_key.get(b.key) is not b or b.built:
                    continue
                merged = self._try_merge(a, b)
                if merged:
                    self.by_key[b.key] = a

    def _try_merge(self, a: Variant, b: Variant) -> bool:
        extra = [m for m in a.line_members if m not in b.line_members]
        if not extra or [m for m in a.line_members if m not in extra] != b.line_members:
            return False
        rep_a, rep_b = a.instances[0], b.instances[0]
        for name in extra:
            if name.isdigit() or not name.isidentifier():
                return False
            path = f"{rep_a}.{name}" if rep_a else name
            if path not in self.span:
                return False
            out = self.span[path][1]
            if not all(self.g.nodes[c].op in ("add", "mul") for c in self.consumers.get(out, [])):
                return False
        # the same layers without the extra members, the same forward where they pass their input through
        lines = a.body.splitlines()
        holes_of = [_HOLE.findall(line) for line in lines]
        core = [i for i, m in enumerate(a.line_members) if m not in extra]
        core_holes = [int(h) for i in core for h in holes_of[i]]
        renumber = {h: k for k, h in enumerate(core_holes)}
        core_body = "\n".join(_HOLE.sub(lambda m: "{" + str(renumber[int(m.group(1))]) + "}", lines[i]) for i in core)
        if core_body != b.body:
            return False
        if self._forward(rep_a, frozenset(extra), canonical=True) != self._forward(rep_b, canonical=True):
            return False
        # every hole of the extra members must equal a core hole across a's instances (b has no values for it)
        vec = lambda h: tuple(repr(self.class_of[s][1].values[h]) for s in a.instances)  # noqa: E731
        stand_in, constant = {}, {}
        for i, m in enumerate(a.line_members):
            if m in extra:
                for h in map(int, holes_of[i]):
                    if len(set(vec(h))) == 1:  # a literal in the class: any instance's value will do
                        constant[h] = self.class_of[a.instances[0]][1].values[h]
                        continue
                    twin = next((c for c in core_holes if vec(c) == vec(h)), None)
                    if twin is None:
                        return False
                    stand_in[h] = twin
        n = len(a.hints)
        for s in b.instances:
            vals = self.class_of[s][1].values
            new = [None] * n
            for h, k in renumber.items():
                new[h] = vals[k]
            for h, twin in stand_in.items():
                new[h] = new[twin]
            for h, value in constant.items():
                new[h] = value
            self.class_of[s] = (a, Template("", new, list(a.hints)))
            a.instances.append(s)
        to_a = dict(renumber) | {h: renumber[t] for h, t in stand_in.items()}
        self.translate[b.key] = (to_a, {e: False for e in extra})
        for e in extra:
            if e not in a.optional:
                a.optional.append(e)
        del self.variants[next(k for k, v in self.variants.items() if v is b)]
        return True

    def _name_parameters(self) -> None:
        """Holes that differ between a class's instances become parameters; equal ones stay literals.

        A class is named after the classes its body calls (their parameters are its arguments).
        """
        for variant in self._callees_first():
            insts = variant.instances
            variant.body = self._resolve_calls(variant.body, variant.hints)
            referenced = sorted({int(i) for i in _HOLE.findall(variant.body)})
            groups: dict[str, tuple[tuple, list[int]]] = {}
            for i in referenced:
                vec = tuple(self.class_of[s][1].values[i] for s in insts)
                if i in variant.pinned:
                    groups.setdefault(f"pinned {variant.pinned[i]}", (vec, []))[1].append(i)
                elif (len(insts) > 1 and len(set(map(repr, vec))) > 1) or i in variant.forced:
                    groups.setdefault(repr(tuple(lit(v) for v in vec)), (vec, []))[1].append(i)
            used: set[str] = set()
            named = {key: key.split(" ", 1)[1] for key in groups if key.startswith("pinned ")}
            used.update(named.values())
            for by_argument in (True, False):  # a block argument's name goes to its own values first
                for key, (vec, holes) in groups.items():
                    if key not in named:
                        name = self._param_name(variant, insts, vec, holes, used, by_argument)
                        if name is not None:
                            named[key] = name
                            used.add(name)
            variant.params = [(named[key], holes) for key, (vec, holes) in groups.items()]
            if insts[0] and not variant.built:
                self._derive(variant)
            self._whole_tuples_only(variant)
            order = {"in_channels": -1}
            block_args = list(self.g.scopes[insts[0]].args) if insts[0] else []
            order.update({a: i for i, a in enumerate(block_args)})
            variant.params.sort(key=lambda p: (order.get(_base(p[0]), len(order)), p[0], p[1][0]))

    def _derive(self, variant: Variant) -> None:
        """A parameter the block computes from its other parameters is written as the spec computes
        it (`padding=(kernel - 1) // 2`, `in_channels // 2`) and leaves the signature. Only for sizes
        named after nothing of the spec, and only where every name of the expression is another
        parameter of the class or the same in every instance."""
        insts = variant.instances
        scope = self.g.scopes[insts[0]]
        own = [self._own_nodes(s) for s in insts]
        if len({len(o) for o in own}) != 1:
            return
        vector = lambda holes: tuple(lit(self.class_of[s][1].values[holes[0]]) for s in insts)  # noqa: E731
        spelled = {vector(holes): _py_name(name) for name, holes in variant.params}
        for name, holes in list(variant.params):
            if _base(name) in scope.args or name in scope.locals or name == "in_channels":
                continue  # named after the spec already
            want = vector(holes)
            for k, node in enumerate(own[0]):
                for attr in (node.exprs or {}).keys() & set(LOWERINGS[node.op].sizes):
                    if any(not o[k].exprs or attr not in o[k].exprs for o in own) or tuple(lit(o[k].attrs[attr]) for o in own) != want:
                        continue
                    text = _expression([o[k].exprs[attr] for o in own], {v: n for v, n in spelled.items() if v != want})
                    if text is not None:
                        variant.params.remove((name, holes))
                        variant.derived.update({h: text for h in holes})
                        break
                if (name, holes) not in variant.params:
                    break

    def _own_nodes(self, scope: str) -> list[Node]:
        """The layers a class builds itself: its members and those of its inline chains."""
        out: list[Node] = []
        for kind, m in self.members[scope]:
            if kind == "node":
                out.append(m)
            elif m not in self.class_of:
                out += self._own_nodes(m)
        return out

    def _whole_tuples_only(self, variant: Variant) -> None:
        """`c2[0]` may stand for a hole only if every element of `c2` does: calls pass the whole tuple."""
        scopes = [self.g.scopes[s] for s in variant.instances]
        for base in {_base(n) for n, _ in variant.params if "[" in n}:
            indices = {int(n[len(base) + 1 : -1]) for n, _ in variant.params if _base(n) == base and "[" in n}
            if any(not isinstance(sc.args.get(base), tuple) or set(range(len(sc.args[base]))) != indices for sc in scopes):
                variant.params = [(variant.hints[h[0]] if _base(n) == base else n, h) for n, h in variant.params]

    def _callees_first(self) -> list[Variant]:
        order: list[Variant] = []
        seen: set[str] = set()

        def visit(v: Variant) -> None:
            if v.key in seen:
                return
            seen.add(v.key)
            for key in re.findall("\u00a7(#\\d+)\\|", v.body):
                visit(self.by_key[key])
            order.append(v)

        for v in self.variants.values():
            visit(v)
        return order

    def _resolve_calls(self, body: str, hints: list[str]) -> str:
        """Replace call markers (a class and all its holes) by `Class(param={hole}, ...)`."""

        def call(m: re.Match) -> str:
            parts = m.group(1).split("|")
            variant = self.by_key[parts[0]]
            member, holes = parts[1], parts[2:]
            hole_map, absent = self.translate.get(parts[0], (None, {}))
            passed, elements = [], {}
            for name, idx in variant.params:  # a parameter of the parent passed on: name it after the child's
                hole = holes[hole_map[idx[0]] if hole_map is not None else idx[0]]
                hint = identifier(name.replace("[", "_").rstrip("]"))
                if _HOLE.fullmatch(hole):  # (in a folded loop it is an expression)
                    hints[int(hole.strip("{}"))] = hint if member.isdigit() else f"{identifier(member)}_{hint}"
                if "[" not in name:
                    passed.append(f"{_py_name(name)}={hole}")
                    continue
                base = _base(name)
                if base not in elements:
                    passed.append(f"{identifier(base)}=\u00b6{base}\u00b6")  # the whole tuple, filled in below
                elements.setdefault(base, {})[int(name[len(base) + 1 : -1])] = hole
            for base, items in elements.items():
                tup = "(" + ", ".join(items[i] for i in sorted(items)) + ("," if len(items) == 1 else "") + ")"
                passed = [p.replace(f"\u00b6{base}\u00b6", tup) for p in passed]
            passed += [f"{e}={e not in absent}" for e in variant.optional]
            return f"{variant.name}({', '.join(passed)})"

        return re.sub("\u00a7([^\u00a7]*)\u00a7", call, body)

    def _param_name(
        self, variant: Variant, insts: list[str], vec: tuple, holes: list[int], used: set[str], by_argument: bool
    ) -> str | None:
        """A block argument (or an element of one) with these values; else, once arguments are
        taken, `in_channels`, a local variable of the block (`hidden`), or the layer's hint."""
        scopes = [self.g.scopes[s] for s in insts]
        for arg in scopes[0].args:
            if arg not in used and all(_same(sc.args.get(arg), v) for sc, v in zip(scopes, vec)):
                return arg
        for arg, value in scopes[0].args.items():  # an element of a tuple argument: c2[0], the slides' (c2a, c2b)
            if isinstance(value, tuple):
                for i in range(len(value)):
                    name = f"{arg}[{i}]"
                    if name not in used and all(
                        isinstance(sc.args.get(arg), tuple) and len(sc.args[arg]) > i and _same(sc.args[arg][i], v)
                        for sc, v in zip(scopes, vec)
                    ):
                        return name
        if by_argument:
            return None
        if "in_channels" not in used and all(self.g.nodes[self._scope_input(s)].shape[0] == v for s, v in zip(insts, vec)):
            return "in_channels"
        for local in scopes[0].locals:
            if local not in used and all(_same(sc.locals.get(local), v) for sc, v in zip(scopes, vec)):
                return local
        name, n = variant.hints[holes[0]], 2
        while name in used:
            name, n = f"{variant.hints[holes[0]]}_{n}", n + 1
        return name

    # ---- forward ----
    def _forward(self, scope: str, drop: frozenset[str] = frozenset(), canonical: bool = False) -> str:
        """The forward of a class scope. `drop` leaves members out (their output is their input);
        `canonical` sorts the operands of add and mul, so that forwards can be compared."""
        members = self.members[scope]
        io = [self._member_io(scope, m) for m in members]
        last_use: dict[int, int] = {}
        for k, (ins, _) in enumerate(io):
            for i in ins:
                last_use[i] = k
        var: dict[int, str] = {self._scope_input(scope): "x"}
        live: set[str] = {"x"}
        lines: list[str] = []
        for k, (member, (ins, out)) in enumerate(zip(members, io)):
            kind, m = member
            args = [var[i] for i in ins]
            dead = [i for i in ins if last_use.get(i) == k]
            for i in dead:
                if all(var.get(j) != var[i] for j in var if j != i and last_use.get(j, -1) > k):
                    live.discard(var[i])
            name = self._member_name(member)
            if name in drop:
                var[out] = args[0]
                live.add(args[0])
                continue
            if kind == "node" and LOWERINGS[m.op].join:
                expr = LOWERINGS[m.op].join(sorted(args) if canonical and m.op in ("add", "mul") else args)
            elif kind == "node" and LOWERINGS[m.op].call and name.isdigit():
                # in place only on a value made here that nothing reads later (never on the caller's x)
                inplace = (
                    LOWERINGS[m.op].call_inplace
                    and ins[0] in dead
                    and ins[0] != self._scope_input(scope)
                    and self._may_overwrite(ins[0])
                    and not any(var.get(j) == args[0] and last_use.get(j, -1) > k for j in var if j != ins[0])
                )
                expr = (LOWERINGS[m.op].call_inplace if inplace else LOWERINGS[m.op].call)(m, args[0])
                if expr == args[0]:
                    var[out] = args[0]
                    live.add(args[0])
                    continue
            else:
                attr = f"self.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f'getattr(self, "{name}")'
                expr = f"{attr}({args[0]})"
            consumers = self.consumers.get(out, [])
            feeds_join = consumers and all(LOWERINGS[self.g.nodes[c].op].join for c in consumers)
            free_dead = [var[i] for i in dead if var[i] not in live]
            if kind == "scope" and feeds_join and not name.isdigit() and identifier(name) not in live:
                target = identifier(name)  # a branch: branch1 = self.branch1(x)
            elif kind == "node" and LOWERINGS[m.op].join and "out" not in live:
                target = "out"
            elif free_dead:
                target = "out" if "out" in free_dead else free_dead[0]
            else:
                target = next(v for v in ("out", "out2", "out3", "out4", "out5", "out6") if v not in live)
            lines.append(f"{target} = {expr}")
            var[out] = target
            live.add(target)
        result = var[self.span[scope][1]] if scope else var[self.g.output]
        lines.append(f"return {result}")
        return "\n".join(lines)

    # ---- rendering ----
    def _render(self) -> str:
        g = self.g
        layers = layer_costs(g)
        t = total(layers)
        params = ", ".join(f"{k}={v!r}" for k, v in g.params.items()) or "none"
        shape = "x".join(map(str, g.input_shape))
        out_shape = "x".join(map(str, g.output_shape))
        net = self.class_of[""][0]
        classes = []
        for variant in self.variants.values():
            classes.append(self._render_class(variant))
        imports = ["import torch", "from torch import nn"]
        body_text = "\n".join(classes) + "".join(HELPERS[h] for h in sorted(self.helpers))
        if "F." in body_text:
            imports.append("from torch.nn import functional as F")
        if "OrderedDict" in body_text:
            imports.insert(0, "from collections import OrderedDict\n")
        header = (
            f'"""{net.name}: generated by archspec from {self.spec}.\n\n'
            f"Parameters: {params}\n"
            f"Input: {shape} (batch first: N x {shape}); output: {out_shape}\n"
            f"Totals, one image: {t.params:,} params, {t.buffers:,} buffers, {t.macs:,} multiply-adds.\n\n"
            f"Regenerate with: archspec compile {self.spec} --to torch\n"
            '"""\n\n'
        )
        helper_src = "".join("\n\n" + HELPERS[h] for h in sorted(self.helpers))
        args = self._defaults(net)
        signature = ", ".join(f"{_py_name(k)}: {_annotation([v])} = {lit(v)}" for k, v in args.items())
        call = ", ".join(f"{_py_name(k)}={_py_name(k)}" for k in args)
        factory = f'\n\ndef {self.factory}({signature}) -> {net.name}:\n    """{net.name} as {self.spec} describes it."""\n    return {net.name}({call})\n'
        return header + "\n".join(imports) + "\n" + helper_src + "".join("\n\n" + c for c in classes) + factory

    def _render_class(self, v: Variant) -> str:
        param_of = {h: _py_name(name) for name, holes in v.params for h in holes} | v.derived
        insts = v.instances
        # literal values come from any instance (they agree); parameters by name
        values = self.class_of[insts[0]][1].values
        body = _fill(v.body, [param_of.get(i, lit(x)) for i, x in enumerate(values)])
        body = self._drop_default_args(_drop_default_sizes(body))
        if v.optional:  # members built only when asked; forward passes the input through without them
            lines = body.splitlines()
            body = "\n".join(f"self.{m} = None\nif {m}:\n    {line}" if m in v.optional else line for line, m in zip(lines, v.line_members))
            for e in v.optional:
                v.forward = re.sub(
                    rf"^(\w+) = self\.{e}\((\w+)\)$", rf"\1 = self.{e}(\2) if self.{e} is not None else \2", v.forward, flags=re.M
                )
        defaults = self._defaults(v)
        typed, seen = [], set()
        for name, holes in v.params:
            if name in defaults or _base(name) in seen:
                continue
            seen.add(_base(name))
            if "[" in name:  # a tuple argument, passed whole
                n = len(self.g.scopes[insts[0]].args[_base(name)])
                typed.append(f"{identifier(_base(name))}: tuple[{', '.join(['int'] * n)}]")
            else:
                typed.append(f"{_py_name(name)}: {_annotation([self.class_of[s][1].values[holes[0]] for s in insts])}")
        typed += [f"{e}: bool" for e in v.optional]
        typed += [
            f"{_py_name(name)}: {_annotation([self.class_of[s][1].values[holes[0]] for s in insts])} = {lit(defaults[name])}"
            for name, holes in v.params
            if name in defaults
        ]
        args = "".join(f", {p}" for p in typed)
        where = self.g.scopes[insts[0]].defined
        kind = "network" if not insts[0] else ("block" if self.g.scopes[insts[0]].kind == "block" else "scope")
        doc = f'"""The {kind} `{v.block}`' + (f" of {where.file}:{where.line}" if where else "") + '."""'
        signature = f"    def __init__(self{args}) -> None:"
        if len(signature) > 100:  # one parameter a line, as ruff format writes it
            signature = "    def __init__(\n" + "".join(f"        {p},\n" for p in ["self", *typed]) + "    ) -> None:"
        weights = self._init_method() if not insts[0] else ""
        if v.base == "nn.Sequential" and v.built:  # a list that the spec's `if`s and loops fill
            local = "layers"  # unless a parameter is named so (a block argument `layers`)
            while local in {p.split(":", 1)[0] for p in typed}:
                local += "_"
            init = "".join(_wrap(f"        {line}") + "\n" for line in body.replace(LIST, local).splitlines())
            then = "        self._init_weights()\n" if weights else ""
            return f"class {v.name}(nn.Sequential):\n    {doc}\n\n{signature}\n{init}        super().__init__(*{local})\n{then}" + weights
        if v.base == "nn.Sequential":
            items = "".join(_wrap(f"            {line},") + "\n" for line in body.splitlines())
            then = "        self._init_weights()\n" if weights else ""
            return (
                f"class {v.name}(nn.Sequential):\n    {doc}\n\n{signature}\n        super().__init__(\n{items}        )\n{then}" + weights
            )
        init = "".join(_wrap(f"        {line}") + "\n" for line in body.splitlines())
        fwd = "".join(f"        {line}\n" for line in v.forward.splitlines())
        if weights:
            init += "        self._init_weights()\n"
        return (
            f"class {v.name}(nn.Module):\n    {doc}\n\n"
            f"{signature}\n        super().__init__()\n{init}\n"
            f"    def forward(self, x: torch.Tensor) -> torch.Tensor:\n{fwd}" + weights
        )

    def _drop_default_args(self, body: str) -> str:
        """Leave out `stride=1` in `BasicConv(..., stride=1)` where the class's own default says so."""
        for v in self.variants.values():
            defaults = {_py_name(k): lit(x) for k, x in self._defaults(v).items()}
            if not defaults:
                continue
            out, pos = [], 0
            for m in re.finditer(rf"\b{re.escape(v.name)}\(", body):
                start, depth, end = m.end(), 1, m.end()
                while depth:
                    depth += {"(": 1, ")": -1}.get(body[end], 0)
                    end += 1
                args = [a for a in _split_args(body[start : end - 1]) if defaults.get(a.partition("=")[0]) != a.partition("=")[2]]
                out.append(body[pos:start] + ", ".join(args) + ")")
                pos = end
            body = "".join(out) + body[pos:]
        return body

    def _defaults(self, v: Variant) -> dict[str, Any]:
        """Parameters named after a block argument with a literal default keep that default; the
        network's own parameters default to their values in the spec."""
        if not v.instances[0]:
            return {name: self.g.params[name] for name, _ in v.params if name in self.g.params}
        if self.g.scopes[v.instances[0]].kind != "block":
            return {}
        defaults = self.g.scopes[v.instances[0]].defaults
        return {name: defaults[name] for name, _ in v.params if name in defaults}

    def _init_method(self) -> str:
        """The spec's `init kaiming(...)` as a method of the network class; nothing for PyTorch's defaults."""
        init = self.g.init
        if init["scheme"] == "default" and not init["zero_residual"]:
            return ""
        lines = ["", "    def _init_weights(self) -> None:"]
        if init["scheme"] == "kaiming":
            lines += [
                '        """Kaiming initialisation (He et al. 2015), as the spec asks."""',
                "        for m in self.modules():",
                "            if isinstance(m, nn.Conv2d):",
                '                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")',
                "                if m.bias is not None:",
                "                    nn.init.zeros_(m.bias)",
                "            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:",
                "                nn.init.ones_(m.weight)",
                "                nn.init.zeros_(m.bias)",
            ]
        else:
            lines.append('        """PyTorch\'s default initialisation, and zeroed residual batch norms."""')
        if init["zero_residual"]:
            names = residual_batchnorms(self.g)
            lines.append("        # the last batch norm of each residual branch starts at zero (Goyal et al. 2017)")
            lines.append("        for name in (" + ", ".join(f'"{n}"' for n in names) + ("," if len(names) == 1 else "") + "):")
            lines.append("            nn.init.zeros_(self.get_submodule(name).weight)")
        return "\n".join(lines) + "\n"


def residual_batchnorms(g: Graph) -> list[str]:
    """The batch norm that ends each residual branch: the add input with the most convolutions since the fork."""
    found = []
    for node in g.layers():
        if node.op != "add":
            continue
        chains = []
        for i in node.inputs:
            chain, n = [], g.nodes[i]
            while n.inputs and len(n.inputs) == 1:
                chain.append(n)
                n = g.nodes[n.inputs[0]]
            chain.append(n)
            chains.append(chain)
        shared = set.intersection(*({c.id for c in chain} for chain in chains))
        best, best_convs = None, 0
        for i, chain in zip(node.inputs, chains):
            convs = 0
            for c in chain:
                if c.id in shared:
                    break
                convs += c.op in ("conv", "dwconv")
            if g.nodes[i].op == "batchnorm" and g.nodes[i].attrs["affine"] and convs > best_convs:
                best, best_convs = g.nodes[i].path, convs
        if best is not None:
            found.append(best)
    return found


def _expression(decisions: list, spelled: dict[tuple, str]) -> str | None:
    """The expression of `decisions` (one per instance) as Python over the class's parameters:
    each name must equal a parameter (by its values in every instance) or be one constant."""

    def name(_: str, value_of) -> str:
        values = tuple(lit(value_of(d)) for d in decisions)
        if None in (value_of(d) for d in decisions):
            raise Unsupported
        if len(set(values)) == 1:
            return values[0]
        if values in spelled:
            return spelled[values]
        raise Unsupported

    try:
        return python_expr(decisions[0].exprs[0], name)
    except Unsupported:
        return None


def _py_name(name: str) -> str:
    """A parameter as Python spells it: a spec's `from` or `class` is `from_`, `class_`; `c2[0]` stays."""
    base = _base(name)
    return identifier(base) + name[len(base) :]


def _base(name: str) -> str:
    """`c2[0]` -> `c2`: the argument a parameter expression reads."""
    return name.split("[", 1)[0]


def _annotation(values: list[Any]) -> str:
    """The type hint of a constructor parameter, from the values its instances pass."""
    kinds = set()
    for v in values:
        if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] and all(isinstance(x, int) for x in v):
            kinds.add("int")
        elif isinstance(v, tuple):
            kinds.add("tuple[int, int]")
        elif isinstance(v, bool):
            kinds.add("bool")
        else:
            kinds.add(type(v).__name__)
    return " | ".join(sorted(kinds))


def _same(arg: Any, value: Any) -> bool:
    """A block argument and a layer attribute agree (`stride=2` and a stride of (2, 2) do)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and not isinstance(arg, tuple):
        value = value[0]
    return type(arg) is type(value) and arg == value


def _drop_default_sizes(body: str) -> str:
    """Convolutions always carry stride, padding and groups holes (they may vary between instances):
    drop them where they are PyTorch's defaults."""
    out, pos = [], 0
    for m in re.finditer(r"\b(?:nn\.Conv2d|PaddedConv2d)\(", body):
        start = m.end()
        depth, end = 1, start
        while depth:
            depth += {"(": 1, ")": -1}.get(body[end], 0)
            end += 1
        args = [a for a in _split_args(body[start : end - 1]) if a not in ("stride=1", "padding=0", "groups=1")]
        out.append(body[pos:start] + ", ".join(args) + ")")
        pos = end
    return "".join(out) + body[pos:]


def _split_args(text: str) -> list[str]:
    """Split a call's arguments at top-level commas."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def _wrap(line: str, width: int = 100) -> str:
    """Break a long constructor call one argument per line, the way a person (or ruff format) would."""
    if len(line) <= width:
        return line
    m = re.match(r"^(\s*)(.*?\()(.*)\)(,?)$", line)
    if not m or "(" not in m.group(2):
        return line
    indent, head, inner, comma = m.groups()
    if inner.startswith("OrderedDict([") and inner.endswith("])"):
        head, inner, tail = head + "OrderedDict([", inner[len("OrderedDict([") : -2], "])"
    else:
        tail = ""
    args = _split_args(inner)
    if len(args) == 1 and not tail and "(" in args[0] and "=" not in args[0].split("(", 1)[0]:  # layers.append(Call(...))
        return f"{indent}{head}\n{_wrap(f'{indent}    {args[0]}', width)}\n{indent}){comma}"
    if len(args) < 2 and not tail:
        return line
    body = "".join(_wrap(f"{indent}    {a},", width) + "\n" for a in args)
    return f"{indent}{head}\n{body}{indent}{tail}){comma}"


def _shift(source: str, by: int) -> str:
    return _HOLE.sub(lambda m: "{" + str(int(m.group(1)) + by) + "}", source) if by else source


def _fill(source: str, values: list[str]) -> str:
    return _HOLE.sub(lambda m: values[int(m.group(1))], source)


def generate(graph: Graph, spec: str, factory: str, probes: dict[str, Graph] | None = None) -> str:
    """The PyTorch source of `graph`: deterministic, torch-only, ruff-clean.

    `probes` holds, per int network parameter, the graph with that parameter changed by one:
    a parameter whose change only moves sizes equal to it becomes a constructor argument."""
    return TorchCodegen(graph, spec, factory, probes or {}).build()
