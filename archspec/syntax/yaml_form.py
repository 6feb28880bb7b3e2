"""The YAML front end: the same language as nested YAML, loaded into the same AST.

Structure (blocks, bodies, loops, joins, labels) is YAML; leaves are the
language's own items and expressions as strings ("conv(64, 3, padding=1)",
"(n, c) in arch"). The document is validated by pydantic models, whose JSON
Schema `archspec schema` prints; every error points at its YAML line and column.

    params: {classes: 1000}
    input: 3x224x224
    blocks:
      vgg_block:
        params: [convs, channels]
        body:
          - repeat: convs
            body: [conv(channels, 3, padding=1), relu]
          - maxpool(2, stride=2)
    network:
      name: vgg16
      body:
        - features:
            - for: (n, c) in arch
              body: ["*vgg_block(n, c)"]
        - avgpool: adaptive_avgpool(7)
"""

from __future__ import annotations

import re
from typing import Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from archspec.diagnostics import ArchspecError, Diagnostic, Span
from archspec.naming import name_problem
from archspec.syntax import ast
from archspec.syntax.parse import members_problem, parse_expr, parse_item

KEYWORDS = ("repeat", "for", "if", "concat", "add", "mul")

# ---- the schema (pydantic v2) ----

Scalar = Union[int, float, bool, str, None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RepeatStmt(_Strict):
    repeat: Union[int, str] = Field(description="how many times: an int or an expression")
    body: list[Stmt]


class ForStmt(_Strict):
    for_: str = Field(alias="for", description='"TARGET in EXPR", e.g. "(n, c) in arch"')
    body: list[Stmt]


class ElifClause(_Strict):
    elif_: Union[str, bool] = Field(alias="elif")
    then: list[Stmt]


class IfStmt(_Strict):
    if_: Union[str, bool] = Field(alias="if", description="a condition expression")
    then: list[Stmt]
    elifs: list[ElifClause] = Field(default_factory=list, alias="elif_clauses")
    else_: list[Stmt] = Field(default_factory=list, alias="else")


class ConcatStmt(_Strict):
    concat: list[Stmt] = Field(description="branches joined along channels")


class AddStmt(_Strict):
    add: list[Stmt] = Field(description="branches summed; an absent branch is the identity")


class MulStmt(_Strict):
    mul: list[Stmt] = Field(description="branches multiplied element-wise")


class Labeled(RootModel[dict[str, Union[str, list["Stmt"]]]]):
    """`{name: item}` names one item; `{name: [items]}` opens a scope; `{"name if cond": ...}` guards it;
    `{"idle name": item}` builds a member that forward never runs (the .arch form's `idle name: ...`)."""

    @model_validator(mode="after")
    def _one_key(self):
        if len(self.root) != 1:
            raise ValueError("a label maps exactly one name to an item or a list of items")
        (key,) = self.root
        if key.split()[0] in KEYWORDS:
            raise ValueError(f"'{key.split()[0]}' needs its own fields (see the schema)")
        if key.split() == ["idle"]:
            raise ValueError("'idle' takes the member's name: {\"idle dfl\": \"dfl()\"}")
        return self


Stmt = Union[str, RepeatStmt, ForStmt, IfStmt, ConcatStmt, AddStmt, MulStmt, Labeled]


_MEMBERS = "the order it registers these members in, where it differs from the order they run (the .arch form's `members a, b`)"


class BlockSpec(_Strict):
    params: list[str] = Field(default_factory=list, description='parameter names, with defaults as "stride=1"')
    members: list[str] = Field(default_factory=list, description=_MEMBERS)
    body: list[Stmt]


class NetworkSpec(_Strict):
    name: str
    members: list[str] = Field(default_factory=list, description=_MEMBERS)
    body: list[Stmt]
    outputs: list[str] = Field(default_factory=list, description="the named values it returns (the .arch form's `return a, b`); none: its last value")


class SpecFile(_Strict):
    """An archspec spec in YAML: the twin of a .arch file."""

    imports: list[str] = Field(default_factory=list)
    params: dict[str, Union[Scalar, list[Any]]] = Field(default_factory=dict, description="values, or expressions as strings")
    variants: dict[str, dict[str, Union[Scalar, list[Any]]]] = Field(
        default_factory=dict, description="named sets of parameter values (literals), chosen with --variant NAME"
    )
    input: Union[str, list[int], None] = Field(default=None, description='"3x224x224" or [3, 224, 224]')
    blocks: dict[str, BlockSpec] = Field(default_factory=dict)
    network: NetworkSpec | None = None
    init: str | None = Field(default=None, description='weight initialisation of generated modules, e.g. "kaiming(zero_residual=true)"')


for _m in (RepeatStmt, ForStmt, ElifClause, IfStmt, ConcatStmt, AddStmt, MulStmt, Labeled, BlockSpec, NetworkSpec, SpecFile):
    _m.model_rebuild()


def json_schema() -> dict:
    return SpecFile.model_json_schema(by_alias=True)


# ---- loading: YAML nodes (with marks) -> AST ----


class _Conv:
    def __init__(self, file: str):
        self.file = file
        self._scalars = yaml.SafeLoader("")  # builds a scalar node's value (YAML 1.1 ints, floats, bools) without a reparse

    def span(self, node: yaml.Node) -> Span:
        m, e = node.start_mark, node.end_mark
        return Span(self.file, m.line + 1, m.column + 1, e.line + 1, e.column + 1)

    def fail(self, message: str, node: yaml.Node, help: str | None = None):
        raise ArchspecError(Diagnostic(message, self.span(node), help=help))

    def _offset(self, node: yaml.ScalarNode) -> tuple[int, int]:
        quoted = 1 if node.style in ("'", '"') else 0
        return node.start_mark.line, node.start_mark.column + quoted

    def expr(self, node: yaml.Node) -> ast.Expr:
        if isinstance(node, yaml.SequenceNode):
            return ast.TupleExpr(tuple(self.expr(x) for x in node.value), self.span(node))
        if not isinstance(node, yaml.ScalarNode):
            self.fail("expected a value", node)
        if node.tag.endswith(":str"):
            line, col = self._offset(node)
            return parse_expr(node.value, self.file, line, col)
        return ast.Lit(self._scalars.construct_object(node), self.span(node))

    def param_value(self, node: yaml.Node) -> ast.Expr:
        """A parameter's value: YAML data, an expression string, or a bare word taken as a string (3x3)."""
        try:
            return self.expr(node)
        except ArchspecError:
            if isinstance(node, yaml.ScalarNode) and re.fullmatch(r"[A-Za-z0-9_.\-]+", str(node.value)):
                return ast.Lit(str(node.value), self.span(node))
            raise

    def name(self, node: yaml.Node, what: str, text: str | None = None) -> str:
        """A name the YAML form declares (parameter, block, network): the same rule as the .arch grammar's NAME."""
        text = str(node.value) if text is None else text
        problem = name_problem(text, what) if isinstance(node, yaml.ScalarNode) else f"a {what} name is a plain word"
        if problem:
            self.fail(problem, node)
        return text

    def item(self, node: yaml.ScalarNode):
        line, col = self._offset(node)
        return parse_item(str(node.value), self.file, line, col)

    @staticmethod
    def mapping(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        return {k.value: (k, v) for k, v in node.value}

    def body(self, node: yaml.Node) -> tuple:
        return tuple(self.stmt(x) for x in node.value)

    def stmt(self, node: yaml.Node):
        span = self.span(node)
        if isinstance(node, yaml.ScalarNode):
            return ast.Line((self.item(node),), span)
        m = self.mapping(node)
        if "repeat" in m:
            return ast.Repeat(self.expr(m["repeat"][1]), self.body(m["body"][1]), span)
        if "for" in m:
            k, v = m["for"]
            text = str(v.value)
            match = re.match(r"^(.*?)\s+in\s+(.*)$", text)
            if not match:
                self.fail('"for" takes "TARGET in EXPR", e.g. "(n, c) in arch"', v)
            line, col = self._offset(v)
            target = _target(match.group(1), v, self)
            iterable = parse_expr(match.group(2), self.file, line, col + match.start(2))
            return ast.For(target, iterable, self.body(m["body"][1]), span)
        if "if" in m:
            branches = [(self.expr(m["if"][1]), self.body(m["then"][1]))]
            for clause in m.get("elif_clauses", (None, yaml.SequenceNode("", [])))[1].value:
                c = self.mapping(clause)
                branches.append((self.expr(c["elif"][1]), self.body(c["then"][1])))
            orelse = self.body(m["else"][1]) if "else" in m else ()
            return ast.If(tuple(branches), orelse, span)
        for kind in ("concat", "add", "mul"):
            if kind in m:
                return ast.Combinator(kind, self.body(m[kind][1]), span)
        ((k, v),) = m.values()
        idle = re.match(r"idle\s+(?=\S)", str(k.value))
        label, guard = self.label(k, idle.end() if idle else 0)
        if isinstance(v, yaml.ScalarNode):
            labeled = ast.Labeled(label, guard, (ast.Line((self.item(v),), self.span(v)),), True, span)
        else:
            labeled = ast.Labeled(label, guard, self.body(v), False, span)
        return ast.Idle(labeled, span) if idle else labeled

    def members(self, m: dict) -> ast.Members | None:
        """A block's or the network's `members:` list, checked as the .arch form's `members` line is."""
        if "members" not in m or not isinstance(m["members"][1], yaml.SequenceNode) or not m["members"][1].value:
            return None
        node = m["members"][1]
        names = tuple(self.name(n, "member") for n in node.value)
        problem = members_problem(names)
        if problem:
            self.fail(problem, node)
        return ast.Members(names, self.span(node))

    def label(self, key: yaml.ScalarNode, skip: int = 0):
        """A label key (`down`, `"stage{i}"`, `down if cond`), read from its `skip`-th character."""
        text = str(key.value)[skip:]
        line, col = self._offset(key)
        col += skip
        name, _, cond = text.partition(" if ")
        name = name.strip()
        guard = parse_expr(cond, self.file, line, col + text.index(" if ") + 4) if cond else None
        if "{" in name:
            parsed = parse_expr(f'"{name}"', self.file, line, col - 1)
            return parsed, guard
        return name, guard


def _target(text: str, node, conv: _Conv):
    text = text.strip()
    line, col = conv._offset(node)
    e = parse_expr(f"({text},)" if not text.startswith("(") else text, conv.file, line, col)

    def walk(x):
        if isinstance(x, ast.Name):
            return x.id
        if isinstance(x, ast.TupleExpr):
            return tuple(walk(i) for i in x.items)
        conv.fail("a for target is a name or a tuple of names", node)

    t = walk(e)
    return t[0] if isinstance(t, tuple) and len(t) == 1 and not text.startswith("(") else t


def _locate(root: yaml.Node, loc: tuple, key: bool = False) -> yaml.Node:
    """Follow a pydantic error location through the YAML node tree, as far as it goes.

    With `key`, return the mapping key of the last step (where an unknown field is written,
    or the field that lacks a required entry), not its value.
    """
    node = root
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                return node
            if key and i == len(loc) - 1:
                return pair[0]
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
    return node


_MEMBER = {"repeat": "RepeatStmt", "for": "ForStmt", "if": "IfStmt", "concat": "ConcatStmt", "add": "AddStmt", "mul": "MulStmt"}


def _is_tag(part) -> bool:
    """Parts of a pydantic error location that name a union member, not a place in the document."""
    return isinstance(part, str) and (
        part[:1].isupper() or part.startswith(("function-", "union[", "list[", "dict[")) or part in ("str", "int", "float", "bool")
    )


def _relevant(loc: tuple, data: Any) -> bool:
    """Keep only the errors of the union member a statement was meant to be.

    A failing list item is reported once per member of `Stmt`; the document says which
    was meant: a string is an item, `{repeat: ...}` a repeat, any other mapping a label.
    """
    node = data
    for part in loc:
        if _is_tag(part):
            if isinstance(node, str):
                want = "str"
            elif isinstance(node, dict):
                want = next((_MEMBER[k] for k in node if k in _MEMBER), "Labeled")
            else:
                return True
            if want not in part:
                return False
            continue
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return True
    return True


MAX_YAML_NODES = 100_000  # values in the document, every alias counted as often as it is used
_YAML_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+)")


def _check_events(text: str, file: str) -> None:
    """Refuse what would make PyYAML recurse, expand or convert without bound, before it builds anything.

    The event stream is produced without recursion; composing it into nodes recurses once a
    level, aliases multiply what later stages walk ("billion laughs"), and int() of a long
    digit string raises ValueError."""

    def fail(message: str, mark) -> ArchspecError:
        return ArchspecError(
            Diagnostic(message, Span(file, mark.line + 1, mark.column + 1), help="this is a limit (docs/limits.md)"), {file: text}
        )

    sizes: dict[str, int] = {}  # anchor -> values in the anchored node, aliases expanded
    open_: list[list] = []  # [anchor, values so far] of each collection being read
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            n = sizes.get(event.anchor, 1)
        elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            n = 1
            if isinstance(event, yaml.ScalarEvent):
                if event.style is None and len(event.value) > 30 and _YAML_INT.fullmatch(event.value):
                    raise fail(f"number too long: {len(event.value):,} digits", event.start_mark)
                if event.anchor:
                    sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, n = open_.pop()
            if anchor:
                sizes[anchor] = n
            if open_:
                open_[-1][1] += n
            continue
        else:
            continue
        total += n
        if total > MAX_YAML_NODES:
            raise fail(f"the YAML document holds more than {MAX_YAML_NODES:,} values (aliases counted as often as used)", event.start_mark)
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= ast.MAX_DEPTH:
                raise fail(f"nested too deeply: more than {ast.MAX_DEPTH} levels of YAML lists and mappings", event.start_mark)
            open_.append([event.anchor, 1])
        elif open_:
            open_[-1][1] += n


def _compose_and_construct(text: str):
    """The node tree (for positions) and the plain data built from it, in one parse."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def parse_yaml(text: str, file: str) -> ast.Module:
    conv = _Conv(file)
    try:
        _check_events(text, file)
        root, data = _compose_and_construct(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else Span(file, 1, 1)
        raise ArchspecError(Diagnostic(f"YAML: {err.problem or err.context}", span), {file: text}) from None
    except yaml.YAMLError as err:  # e.g. a control character the YAML reader refuses
        pos = getattr(err, "position", 0) or 0
        line = text.count("\n", 0, pos) + 1
        span = Span(file, line, pos - (text.rfind("\n", 0, pos) + 1) + 1)
        raise ArchspecError(Diagnostic(f"YAML: {getattr(err, 'reason', None) or err}", span), {file: text}) from None
    if root is None or not isinstance(data, dict):
        raise ArchspecError(
            Diagnostic("a YAML spec is a mapping with `network:` (and optionally params, input, blocks, imports)", Span(file, 1, 1)),
            {file: text},
        )
    try:
        SpecFile.model_validate(data)
    except ValidationError as err:
        diags = []
        seen = set()
        # an unknown field is the likelier cause of a missing one: report it first
        for e in sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden"):
            if not _relevant(e["loc"], data):
                continue
            loc = tuple(p for p in e["loc"] if not _is_tag(p))
            if e["type"] == "missing":
                node = _locate(root, loc[:-1], key=True)
                message = f"YAML {'.'.join(str(p) for p in loc[:-1]) or 'document'}: missing field '{loc[-1]}'"
            elif e["type"] == "extra_forbidden":
                node = _locate(root, loc, key=True)
                message = f"YAML {'.'.join(str(p) for p in loc)}: unknown field '{loc[-1]}'"
            else:
                node = _locate(root, loc)
                message = f"YAML {'.'.join(str(p) for p in loc) or 'document'}: {e['msg']}"
            where = (node.start_mark.line, node.start_mark.column)
            if where in seen:
                continue
            seen.add(where)
            diags.append(Diagnostic(message, conv.span(node)))
        if not diags:  # every error named a union member the document did not mean: report the first as it is
            first = err.errors()[0]
            loc = tuple(p for p in first["loc"] if not _is_tag(p))
            diags.append(Diagnostic(f"YAML {'.'.join(map(str, loc)) or 'document'}: {first['msg']}", conv.span(_locate(root, loc))))
        raise ArchspecError(diags[:5], {file: text}) from None
    try:
        module = _module(root, conv, file)
    except ArchspecError as err:
        err.sources.setdefault(file, text)
        raise
    deep = ast.too_deep(module)
    if deep is not None:
        raise ArchspecError(
            Diagnostic(f"nested too deeply: more than {ast.MAX_DEPTH} levels", deep, help="this is a limit (docs/limits.md)"), {file: text}
        )
    return module


def _module(root: yaml.MappingNode, conv: _Conv, file: str) -> ast.Module:
    m = conv.mapping(root)
    span = conv.span(root)
    imports = tuple(ast.Import(str(n.value), conv.span(n)) for n in m["imports"][1].value) if "imports" in m else ()
    params = tuple(ast.Param(conv.name(k, "parameter"), conv.param_value(v), conv.span(k)) for k, v in m["params"][1].value) if "params" in m else ()
    variants = tuple(
        ast.Variant(
            conv.name(k, "variant"),
            tuple((conv.name(pk, "parameter"), conv.param_value(pv), conv.span(pk)) for pk, pv in v.value),
            conv.span(k),
        )
        for k, v in (m["variants"][1].value if "variants" in m else ())
        if isinstance(v, yaml.MappingNode)
    )
    input_expr = None
    if "input" in m and not (isinstance(m["input"][1], yaml.ScalarNode) and m["input"][1].tag.endswith(":null")):
        node = m["input"][1]
        if isinstance(node, yaml.ScalarNode) and re.fullmatch(r"\d+(x\d+)+", str(node.value)):
            input_expr = ast.TupleExpr(tuple(ast.Lit(int(d), conv.span(node)) for d in str(node.value).split("x")), conv.span(node))
        else:
            input_expr = conv.expr(node)
    blocks = []
    if "blocks" in m:
        for k, v in m["blocks"][1].value:
            bm = conv.mapping(v)
            ps = []
            for p in bm["params"][1].value if "params" in bm else ():
                name, eq, default = str(p.value).partition("=")
                line, col = conv._offset(p)
                ps.append(ast.Param(conv.name(p, "parameter", name.strip()), parse_expr(default, file, line, col + len(name) + 1) if eq else None, conv.span(p)))
            blocks.append(ast.BlockDef(conv.name(k, "block"), tuple(ps), conv.body(bm["body"][1]), conv.span(k), conv.members(bm)))
    network = None
    if "network" in m and isinstance(m["network"][1], yaml.MappingNode):
        nm = conv.mapping(m["network"][1])
        outputs: tuple[str, ...] = ()
        outputs_span = None
        if "outputs" in nm and isinstance(nm["outputs"][1], yaml.SequenceNode):
            outputs = tuple(conv.name(o, "value") for o in nm["outputs"][1].value)
            outputs_span = conv.span(nm["outputs"][1])
            if len(set(outputs)) != len(outputs):
                conv.fail("a value is returned twice", nm["outputs"][1])
        network = ast.Network(
            conv.name(nm["name"][1], "network"), conv.body(nm["body"][1]), conv.span(m["network"][0]), outputs, outputs_span, conv.members(nm)
        )
    init = None
    if "init" in m and isinstance(m["init"][1], yaml.ScalarNode) and not m["init"][1].tag.endswith(":null"):
        init = conv.item(m["init"][1])
        if not isinstance(init, ast.Call):
            conv.fail('init takes a scheme: "default" or "kaiming(zero_residual=true)"', m["init"][1])
    return ast.Module(file, imports, params, input_expr, tuple(blocks), network, span, init, variants)
