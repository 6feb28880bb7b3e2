"""The AST: frozen dataclasses, each node carrying its source span.

Both front ends (the .arch parser and the YAML loader) produce these nodes, so
everything after parsing is the same whichever form a user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from archspec.diagnostics import Span

# ---- expressions ----


@dataclass(frozen=True)
class Lit:
    value: Any
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class InRef:
    """`in`: the shape flowing into the enclosing block (or the network)."""

    span: Span


@dataclass(frozen=True)
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Compare:
    operands: tuple[Expr, ...]
    ops: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class CondExpr:
    test: Expr
    body: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True)
class Index:
    value: Expr
    index: Expr
    span: Span


@dataclass(frozen=True)
class Attr:
    value: Expr
    name: str
    span: Span


@dataclass(frozen=True)
class Comprehension:
    """`[element for target in iterable if condition]`: a tuple, built element by element."""

    element: Expr
    target: Any  # str or nested tuples of str, as a `for` statement's
    iterable: Expr
    condition: Expr | None
    span: Span


@dataclass(frozen=True)
class FuncCall:
    """A built-in function in an expression: `range(4)`, `len(arch)`."""

    name: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class FString:
    """A string with `{expr}` holes, used for computed names: "denseblock{i+1}"."""

    parts: tuple[Union[str, Expr], ...]
    span: Span


Expr = Union[Lit, Name, InRef, TupleExpr, BinOp, Unary, Compare, BoolOp, Not, CondExpr, Index, Attr, FuncCall, FString, Comprehension]


@dataclass(frozen=True)
class Arg:
    name: str | None  # None for a positional argument
    value: Expr
    span: Span


# ---- items and statements ----


@dataclass(frozen=True)
class Call:
    """An op or a block applied to the incoming value: `conv(64, 3, padding=1)`."""

    name: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class Splice:
    """`*block(...)`: a block's items spliced into the enclosing scope, adding no name level."""

    call: Call
    span: Span


@dataclass(frozen=True)
class Assign:
    """`hidden = c * 4` (a variable), `enc1 = double_conv(64)` or `"y{i}" = bottleneck(c)` (a value),
    `"box{i}" = @"{i}"` (a value named again)."""

    name: Union[str, FString]
    value: Union[Expr, "Ref"]
    span: Span


@dataclass(frozen=True)
class Assert:
    """`assert cond, "message"`: a spec's own check, e.g. on a parameter's allowed values."""

    test: Expr
    message: Expr | None
    span: Span


@dataclass(frozen=True)
class Ref:
    """`@name` or `@"down{i}"`: the value made earlier under that name becomes the current one."""

    name: Union[str, FString]
    span: Span


@dataclass(frozen=True)
class Line:
    """Items written on one line, separated by `;`."""

    items: tuple[Union[Call, Splice, Assign, Assert, Ref], ...]
    span: Span


@dataclass(frozen=True)
class Labeled:
    """`name: ...`: names an item, or opens a named scope. `_` opens none.

    `inline` is true when the body follows the colon on the same line; a single
    inline call is then named directly (`fc: linear(10)` gives `fc.weight`).
    """

    label: Union[str, FString]
    guard: Expr | None
    body: tuple[Stmt, ...]
    inline: bool
    span: Span


@dataclass(frozen=True)
class Repeat:
    count: Expr
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class For:
    target: Any  # str or nested tuples of str
    iter: Expr
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Combinator:
    """`concat:`, `add:` or `mul:`: every statement of the body is one branch."""

    kind: str
    branches: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Idle:
    """`idle dfl: ...`: a labelled item built (its parameters counted) that forward never runs."""

    item: Labeled
    span: Span


Stmt = Union[Line, Labeled, Repeat, For, If, Combinator, Idle]


# ---- top level ----


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Variant:
    """`variant b3: width = 1.2, depth = 1.4`: a named set of parameter values (literals, as `--set`'s)."""

    name: str
    values: tuple[tuple[str, Expr, Span], ...]
    span: Span


@dataclass(frozen=True)
class Members:
    """`members cv1, cv2, m`: the order the block registers these members in (its state_dict's)."""

    names: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    members: Members | None = None


@dataclass(frozen=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True)
class Network:
    name: str
    body: tuple[Stmt, ...]
    span: Span
    outputs: tuple[str, ...] = ()  # `return logits, aux2, aux1`: the named values it returns (none: its last value)
    outputs_span: Span | None = None
    members: Members | None = None


@dataclass(frozen=True)
class Module:
    """One spec file: imports, parameters, the input shape, blocks and at most one network."""

    file: str
    imports: tuple[Import, ...]
    params: tuple[Param, ...]
    input: Expr | None
    blocks: tuple[BlockDef, ...]
    network: Network | None
    span: Span
    init: Call | None = None  # `init kaiming(zero_residual=true)`: how the generated module initialises weights
    variants: tuple[Variant, ...] = ()  # `variant NAME: param = value, ...`, in order


# ---- limits ----

MAX_DEPTH = 100  # levels of AST nesting: every later stage walks the tree recursively


def too_deep(root: Any, limit: int = MAX_DEPTH) -> Span | None:
    """The span of the first node nested more than `limit` levels deep, or None.

    Iterative, so that it can look at any tree either front end builds: the .arch parser's
    tree depth is checked, but `1 + 1 + ...` is a flat list there and a deep chain here."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, tuple):
            stack.extend((item, depth) for item in node)
            continue
        if not hasattr(node, "__dataclass_fields__") or isinstance(node, Span):
            continue
        if depth > limit:
            return node.span
        stack.extend((getattr(node, name), depth + 1) for name in node.__dataclass_fields__ if name != "span")
    return None
