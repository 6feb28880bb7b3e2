"""Python for the torch backend: IR expressions as Python `ast` nodes, and the layout of the file.

Generated source is built as `ast` nodes and unparsed, never pasted from strings a spec
could shape: a spec's values reach the file only as `ast.Constant`s and its names only as
identifiers (`identifier`). `layout` unparses statements and breaks long calls over lines
as a person would.
"""

from __future__ import annotations

import ast
import copy
import keyword
import re
from collections.abc import Callable
from typing import Any

from archspec.backends.unsupported import Unsupported
from archspec.ir import expr as irx
from archspec.naming import MODULE_ATTRS


def plain_attribute(label: str) -> bool:
    """Whether a member can be written `self.label`; otherwise add_module adds it and getattr reads it."""
    return label.isidentifier() and not keyword.iskeyword(label) and label not in MODULE_ATTRS and not label.startswith("_")


def identifier(name: str) -> str:
    """A spec name as a Python identifier: `class` -> `class_`, `3x` -> `_3x`."""
    text = re.sub(r"\W", "_", name)
    if not text or text[0].isdigit():
        text = "_" + text
    return text + "_" if keyword.iskeyword(text) or text in ("True", "False", "None", "self", *_AMBIGUOUS) else text


_AMBIGUOUS = ("l", "O", "I")  # names pycodestyle refuses (E741: like 1 and 0): the paper's `l` is `l_`


def const(v: Any, pairs: bool = False) -> ast.expr:
    """A value as a literal, tuples element-wise. With `pairs` (an op's size argument, which
    PyTorch takes as an int for a square), a pair of equal ints is one int, as people write them:
    `nn.AdaptiveAvgPool2d(7)`; never a parameter's value, where (4, 4) is two stages."""
    if isinstance(v, tuple):
        if pairs and len(v) == 2 and type(v[0]) is int and v[0] == v[1]:
            return ast.Constant(v[0])
        return ast.Tuple([const(x) for x in v], ast.Load())
    if isinstance(v, range):
        return call("range", *[const(x) for x in (v.start, v.stop, v.step)][: 1 if v.start == 0 and v.step == 1 else 3][-1:])
    if v is None or isinstance(v, (bool, int, float, str)):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            return ast.UnaryOp(ast.USub(), ast.Constant(-v))
        return ast.Constant(v)
    raise Unsupported(f"a value of type {type(v).__name__} has no Python literal")


def name(n: str) -> ast.Name:
    return ast.Name(n, ast.Load())


def attr(value: ast.expr | str, field: str) -> ast.Attribute:
    return ast.Attribute(name(value) if isinstance(value, str) else value, field, ast.Load())


def call(fn: ast.expr | str, *args: ast.expr, **kwargs: ast.expr) -> ast.Call:
    f = fn if isinstance(fn, ast.expr) else _dotted(fn)
    return ast.Call(f, list(args), [ast.keyword(k, v) for k, v in kwargs.items()])


def _dotted(path: str) -> ast.expr:
    parts = path.split(".")
    node: ast.expr = name(parts[0])
    for p in parts[1:]:
        node = attr(node, p)
    return node


def assign(target: str | ast.expr, value: ast.expr) -> ast.Assign:
    t = ast.Name(target, ast.Store()) if isinstance(target, str) else target
    if isinstance(t, ast.Attribute):
        t = ast.Attribute(t.value, t.attr, ast.Store())
    return ast.Assign([t], value, lineno=0)


def expr_stmt(value: ast.expr) -> ast.Expr:
    return ast.Expr(value)


def same(a: ast.AST | None, b: ast.AST | None) -> bool:
    return a is b or (a is not None and b is not None and ast.dump(a) == ast.dump(b))


# ---- IR expressions -> Python ----

_BINOPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "**": ast.Pow}
_CMPOPS = {"==": ast.Eq, "!=": ast.NotEq, "<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE, "in": ast.In, "not in": ast.NotIn}
_BUILTINS = {
    "range": "range",
    "len": "len",
    "enumerate": "enumerate",
    "zip": "zip",
    "min": "min",
    "max": "max",
    "sum": "sum",
    "abs": "abs",
    "int": "int",
    "float": "float",
    "round": "round",
    "str": "str",
    "tuple": "tuple",
    "ceil": "math.ceil",
    "floor": "math.floor",
    "sqrt": "math.sqrt",
    "exp": "math.exp",
    "log": "math.log",
    "log2": "math.log2",
    "log10": "math.log10",
    "make_divisible": "make_divisible",
}
PURE_FUNCTIONS = frozenset(_BUILTINS.values())  # what an expression may call: nothing with an effect, nothing that builds a module
# Names the generated code refers to (builtins, modules, helpers): a spec name equal to one is renamed
PYTHON_NAMES = frozenset(
    {v for v in _BUILTINS.values() if "." not in v}
    | {"self", "super", "getattr", "isinstance", "torch", "nn", "F", "math", "copy", "OrderedDict", "Chunk", "PaddedConv2d", "center_crop"}
)
_LAZY = ("enumerate", "zip")  # iterators in Python, tuples in the language: wrapped in tuple() unless iterated
_CONSUMES = ("len", "min", "max", "sum", "tuple", "enumerate", "zip")  # a list serves them as the tuple would: `sum([...])`


class Translator:
    """IR expressions to Python, in one generated function's names.

    `var(name)` gives the Python expression for a spec name (a parameter, a local, `self.x`
    in forward); `in_field(field)` the expression for `in.<field>`.
    """

    def __init__(self, var: Callable[[str, Any], ast.expr], in_field: Callable[[str, Any], ast.expr]):
        self.var, self.in_field = var, in_field
        self.used: set[str] = set()  # helper functions the expressions call (math, make_divisible)
        self.bound: list[dict[str, str]] = []  # the names comprehensions bind, innermost last

    def __call__(self, e: irx.Expr, iterated: bool = False) -> ast.expr:
        return fold(self._py(e, iterated))

    def _py(self, e: irx.Expr, iterated: bool = False) -> ast.expr:
        if isinstance(e, irx.Const):
            return const(e.value)
        if isinstance(e, irx.Var):
            for scope in reversed(self.bound):
                if e.name in scope:
                    return name(scope[e.name])
            return self.var(e.name, e.span)
        if isinstance(e, irx.Comprehension):
            return self._comprehension(e, bare=iterated)
        if isinstance(e, irx.Field) and isinstance(e.value, irx.Input):
            return self.in_field(e.name, e.span)
        if isinstance(e, irx.Input):
            return self.in_field("shape", e.span)
        if isinstance(e, irx.Field):
            raise Unsupported(f"the field '.{e.name}' of a value", e.span)
        if isinstance(e, irx.TupleOf):
            return ast.Tuple([self._py(x) for x in e.items], ast.Load())
        if isinstance(e, irx.BinOp):
            return ast.BinOp(self._py(e.left), _BINOPS[e.op](), self._py(e.right))
        if isinstance(e, irx.Neg):
            return ast.UnaryOp(ast.USub() if e.op == "-" else ast.UAdd(), self._py(e.operand))
        if isinstance(e, irx.Compare):
            return ast.Compare(self._py(e.operands[0]), [_CMPOPS[o]() for o in e.ops], [self._py(x) for x in e.operands[1:]])
        if isinstance(e, irx.Logic):
            return ast.BoolOp(ast.And() if e.op == "and" else ast.Or(), [self._py(x) for x in e.values])
        if isinstance(e, irx.Not):
            return ast.UnaryOp(ast.Not(), self._py(e.operand))
        if isinstance(e, irx.Choice):
            return ast.IfExp(self._py(e.test), self._py(e.body), self._py(e.orelse))
        if isinstance(e, irx.Index):
            return ast.Subscript(self._py(e.value), self._py(e.index), ast.Load())
        if isinstance(e, irx.Apply):
            fn = _BUILTINS.get(e.fn)
            if fn is None:
                raise Unsupported(f"the function '{e.fn}'", e.span)
            if "." in fn or fn == "make_divisible":
                self.used.add(fn.split(".")[0])
            args = [self._comprehension(a, bare=True) if isinstance(a, irx.Comprehension) and e.fn in _CONSUMES else self._py(a) for a in e.args]
            kwargs = {k: self._py(v) for k, v in e.kwargs}
            if fn == "zip" and "strict" not in kwargs:  # the language's zip stops at the shortest, as Python's: said, as ruff asks
                kwargs["strict"] = ast.Constant(False)
            out = call(fn, *args, **kwargs)
            return call("tuple", out) if e.fn in _LAZY and not iterated else out
        if isinstance(e, irx.Format):
            parts: list[ast.expr] = [
                ast.Constant(p) if isinstance(p, str) else ast.FormattedValue(self._py(p), -1, None) for p in e.parts
            ]
            return ast.JoinedStr(parts)
        raise Unsupported(f"the expression {type(e).__name__}", getattr(e, "span", None))


    def _comprehension(self, e: irx.Comprehension, bare: bool = False) -> ast.expr:
        """`[f(n) for n in xs if c]` -> `tuple([f(n) for n in xs if c])`: the language's values are
        tuples; `bare` where what takes it only iterates it (`sum([...])`, `for x in [...]`)."""
        iterable = self._py(e.iterable, iterated=True)
        scope = {n: _bound_name(n) for n in irx.target_names(e.target)}
        self.bound.append(scope)
        try:
            target = _target(e.target, scope)
            element = self._py(e.element)
            conditions = [self._py(e.condition)] if e.condition is not None else []
        finally:
            self.bound.pop()
        listed = ast.ListComp(element, [ast.comprehension(target, iterable, conditions, 0)])
        return listed if bare else call("tuple", listed)


def _bound_name(spec_name: str) -> str:
    text = identifier(spec_name)
    return text + "_" if text in PYTHON_NAMES else text


def _target(target, scope: dict[str, str]) -> ast.expr:
    if isinstance(target, str):
        return ast.Name(scope[target], ast.Store())
    return ast.Tuple([_target(t, scope) for t in target], ast.Store())


def fold(e: ast.expr) -> ast.expr:
    """Constant-fold arithmetic on plain ints (`64 * 4` -> 256), so substituted sizes read as numbers."""

    class Folder(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
            self.generic_visit(node)
            if isinstance(node.value, ast.Tuple) and _is_int(node.slice) and -len(node.value.elts) <= node.slice.value < len(node.value.elts):  # type: ignore[attr-defined]
                return node.value.elts[node.slice.value]  # type: ignore[attr-defined]
            return node

        def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
            self.generic_visit(node)
            left, right = node.left, node.right
            if _is_int(left) and _is_int(right) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
                a, b = left.value, right.value  # type: ignore[attr-defined]
                if isinstance(node.op, ast.FloorDiv) and b == 0:
                    return node
                v = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) if not isinstance(node.op, ast.FloorDiv) else a // b
                if v is not None and v >= 0 and abs(v) < 2**53:
                    return ast.Constant(v)
            if isinstance(node.op, ast.Mult) and _is_int(right) and right.value == 1:  # type: ignore[attr-defined]
                return left
            if isinstance(node.op, ast.Add) and _is_int(right) and right.value == 0:  # type: ignore[attr-defined]
                return left
            if isinstance(node.op, ast.Add) and isinstance(left, ast.BinOp) and isinstance(left.op, ast.Sub) and same(left.right, right):
                return left.left  # a concat of `conv(out - in.channels)` and the input: `out - channels + channels` is `out`
            return node

    return Folder().visit(e)


def _is_int(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant) and type(e.value) is int


def substitute(e: ast.expr, values: dict[str, ast.expr]) -> ast.expr:
    """`e` with each free name replaced by its value (a callee's out-channel formula at a call site)."""

    class Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return values.get(node.id, node)

    return fold(Sub().visit(copy.deepcopy(e)))


def names_in(e: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}


# ---- layout ----

WIDTH = 100


def layout(stmts: list[ast.stmt], indent: int = 0) -> list[str]:
    """Statements as lines of source, long calls broken one argument a line."""
    lines: list[str] = []
    pad = "    " * indent
    for s in stmts:
        if isinstance(s, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in s.bases)
            lines.append(f"{pad}class {s.name}({bases}):")
            lines += _body(s.body, indent + 1, blank_between_defs=True)
        elif isinstance(s, ast.FunctionDef):
            lines += _function(s, indent)
        elif isinstance(s, (ast.If, ast.For)):
            lines += _compound(s, indent)
        else:
            lines += _simple(s, indent)
    return lines


def _body(stmts: list[ast.stmt], indent: int, blank_between_defs: bool = False) -> list[str]:
    out: list[str] = []
    for i, s in enumerate(stmts):
        if blank_between_defs and i and isinstance(s, ast.FunctionDef):
            out.append("")
        if i == 0 and isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            out.append("    " * indent + docstring(s.value.value))
            continue
        out += layout([s], indent)
    return out


def docstring(text: str) -> str:
    """Text as a triple-quoted literal that reads as the text and always ends where it should:
    backslashes and quotes a spec may put in it (a parameter's string, a file name) are escaped."""
    body = text.replace("\\", "\\\\").replace('"', '\\"') if '"' in text or "\\" in text else text
    return f'"""{body}"""'


def _function(f: ast.FunctionDef, indent: int) -> list[str]:
    pad = "    " * indent
    args = f.args
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    parts = []
    for a, d in zip(args.args, defaults):
        text = a.arg + (f": {ast.unparse(a.annotation)}" if a.annotation is not None else "")
        if d is not None:
            text += (" = " if a.annotation is not None else "=") + ast.unparse(d)
        parts.append(text)
    ret = f" -> {ast.unparse(f.returns)}" if f.returns is not None else ""
    head = f"{pad}def {f.name}({', '.join(parts)}){ret}:"
    if len(head) > WIDTH:
        head = f"{pad}def {f.name}(\n" + "".join(f"{pad}    {p},\n" for p in parts) + f"{pad}){ret}:"
    return head.split("\n") + _body(f.body, indent + 1)


def _compound(s: ast.If | ast.For, indent: int) -> list[str]:
    pad = "    " * indent
    if isinstance(s, ast.For):
        target = ast.unparse(s.target)
        if isinstance(s.target, ast.Tuple) and target.startswith("("):
            target = target[1:-1]
        lines = [f"{pad}for {target} in {ast.unparse(s.iter)}:"]
        return lines + _body(s.body, indent + 1)
    lines = [f"{pad}if {ast.unparse(s.test)}:"] + _body(s.body, indent + 1)
    orelse = s.orelse
    while len(orelse) == 1 and isinstance(orelse[0], ast.If):
        lines += [f"{pad}elif {ast.unparse(orelse[0].test)}:"] + _body(orelse[0].body, indent + 1)
        orelse = orelse[0].orelse
    if orelse:
        lines += [f"{pad}else:"] + _body(orelse, indent + 1)
    return lines


def _simple(s: ast.stmt, indent: int) -> list[str]:
    pad = "    " * indent
    text = pad + ast.unparse(s)
    if len(text) <= WIDTH:
        return [text]
    value = getattr(s, "value", None)
    if isinstance(value, ast.Call):
        prefix = text[: len(text) - len(ast.unparse(value))] if not isinstance(s, ast.Return) else pad + "return "
        if isinstance(s, ast.Assign):
            prefix = pad + " = ".join(ast.unparse(t) for t in s.targets) + " = "
        elif isinstance(s, ast.Expr):
            prefix = pad
        return _wrapped_call(prefix, value, indent)
    return [text]


def _wrapped_call(prefix: str, c: ast.Call, indent: int) -> list[str]:
    pad = "    " * indent
    head = prefix + ast.unparse(c.func) + "("
    lines = [head]
    items = [a for a in c.args] + list(c.keywords)
    for item in items:
        if isinstance(item, ast.keyword):
            text = (f"{item.arg}=" if item.arg else "**") + ast.unparse(item.value)
            inner: ast.expr = item.value
            lead = f"{item.arg}=" if item.arg else "**"
        else:
            text, inner, lead = ast.unparse(item), item, ""
        line = f"{pad}    {text},"
        if len(line) > WIDTH and isinstance(inner, ast.Call):
            sub = _wrapped_call(f"{pad}    {lead}", inner, indent + 1)
            sub[-1] += ","
            lines += sub
        else:
            lines.append(line)
    lines.append(pad + ")")
    return lines
