"""An op's PyTorch constructor, from its lowering record (`lowering.LOWERINGS`) and a call.

The record writes the constructor's source from a node's attributes (`nn.Conv2d(64, 128, 3)`);
here that source becomes a Python `ast` expression in which the sizes are the spec's
expressions (`nn.Conv2d(in_channels, width, 3)`). Other computed arguments go through marker
values: the record is asked to write a number no spec writes there, and the number is
replaced by the expression; a computed `bool` switches the one keyword it changes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from archspec.backends.torch.lowering import HELPERS, LOWERINGS
from archspec.backends.unsupported import Unsupported
from archspec.expressions import Env, evaluate
from archspec.ir import Node, defs
from archspec.ir import expr as irx
from archspec.ops import OPS
from archspec.ops.types import coerce

_CONSTRUCTOR_DEFAULTS = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1}

# marker values for computed arguments, by kind: numbers no spec writes as a literal there
MARKED = {
    "int": lambda k: 918_273_645 + k,
    "int0": lambda k: 918_273_645 + k,
    "pair": lambda k: 918_273_645 + k,
    "pair?": lambda k: 918_273_645 + k,
    "pad": lambda k: 918_273_645 + k,
    "pad4": lambda k: 918_273_645 + k,
    "size": lambda k: 918_273_645 + k,
    "size?": lambda k: 918_273_645 + k,
    "scale?": lambda k: float(918_273_645 + k),  # a factor: _scale writes a whole one as an int
    "float": lambda k: 0.918273645 + k,
    "float+": lambda k: 0.918273645 + k,
    "prob": lambda k: 0.918273645 + k / 1e6,
}


class Constructor:
    """An op's module as `__init__` builds it."""

    def __init__(self, module: ast.expr, helper: str | None, computed: bool):
        self.module = module
        self.helper = helper  # the helper class of lowering.py it instantiates (PaddedConv2d), if any
        self.computed = computed  # some argument is computed: forward cannot call a function in its place


def constructor(
    c: defs.Call,
    node: Node,
    channels: ast.expr,
    arg_py: Callable[[str], ast.expr],
    expr: Callable[[irx.Expr], ast.expr],
    is_int: Callable[[irx.Expr], bool],
) -> Constructor:
    """The module for `c`: `node` gives its literal arguments, `arg_py` a size's Python expression,
    `expr` any other computed argument's, `channels` the channels flowing in; `is_int` whether an
    expression is an int for every value of the parameters."""
    op_attrs = OPS[c.callee].attrs
    record = LOWERINGS[c.callee]
    exprs = bind_args(c, [a.name for a in op_attrs])
    sizes = set(record.sizes)
    values: dict[str, ast.expr] = {}
    for n in sizes:
        values[n] = record.derived[n](channels, arg_py) if n in record.derived else arg_py(n)
        if n in record.to_torch:
            values[n] = record.to_torch[n](values[n])
    # other arguments the spec computes (`dropout(p)`): the record writes a marker number in their
    # place, which becomes the expression; the record's own comparisons see a non-default value
    markers: dict[Any, ast.expr] = {}
    attrs = dict(node.attrs)
    flags: dict[str, ast.expr] = {}  # computed bool arguments (`bias=b`): the keyword they switch
    for k, a in enumerate(op_attrs):
        if a.name in sizes or a.name not in exprs or is_literal(exprs[a.name]):
            continue
        if a.kind == "bool":
            flags[a.name] = expr(exprs[a.name])
            continue
        if a.kind not in MARKED:
            raise Unsupported(f"'{a.name}' of {c.written} computed from parameters (the torch backend writes this argument only as a literal)", c.span)
        mark = MARKED[a.kind](k)
        attrs[a.name] = (mark, mark) if a.kind in ("pair", "pair?", "pad", "size", "size?", "scale?") else (mark,) * 4 if a.kind == "pad4" else mark
        markers[mark] = expr(_four_sides(exprs[a.name], a.name, is_int, c) if a.kind == "pad4" else exprs[a.name])
    for a in op_attrs:  # a pool's stride the spec leaves out is the kernel, whatever the kernel is: not the first instance's
        if a.kind == "pair?" and a.name not in exprs:
            attrs[a.name] = None
    node = replace(node, attrs=attrs)
    fills = {f"_ARG_{n}": v for n, v in values.items()}
    source = record.module(node, lambda n: f"_ARG_{n}" if n in sizes else repr(node.attrs[n]))
    module = parse_module(source, fills, markers, c)
    for flag, value in flags.items():
        key = _switched_keyword(c, node, flag, sizes, fills, markers)
        module.keywords = [k for k in module.keywords if k.arg != key] + [ast.keyword(key, value)]  # type: ignore[union-attr]
    helper = next((h for h in HELPERS if source.startswith(h)), None)
    return Constructor(module, helper, bool(sizes or markers or flags))


def _four_sides(e: irx.Expr, attr: str, is_int: Callable[[irx.Expr], bool], c: defs.Call) -> irx.Expr:
    """A computed four-sided padding as PyTorch's pads take it: an int (every side) or (left,
    right, top, bottom) as written; the spec's (h, w) is (w, w, h, h), which PyTorch would read as
    (left, right) only. A name that may hold a pair is refused, not guessed."""
    if isinstance(e, irx.TupleOf) and len(e.items) in (2, 4):
        if len(set(e.items)) == 1 and is_int(e.items[0]):
            return e.items[0]  # `(p, p)`: nn.ZeroPad2d(p)
        if len(e.items) == 4:
            return e
        h, w = e.items
        return irx.TupleOf((w, w, h, h), e.span)
    if is_int(e):
        return e
    raise Unsupported(
        f"'{attr}' of {c.written} computed from a name that may hold a pair (h, w), which PyTorch's padding reads as (left, right): "
        f"the torch backend writes a pad's sides from an int, or from a tuple written out (`{c.written}((h, w))`, `{c.written}((left, right, top, bottom))`)",
        c.span,
    )


def _switched_keyword(c: defs.Call, node: Node, flag: str, sizes: set[str], fills: dict, markers: dict) -> str:
    """The keyword a computed bool argument sets: the record is written both ways, and the one
    keyword that differs (`bias=False` or none) is it, to take the expression: `nn.Conv2d(..., bias=b)`."""
    record = LOWERINGS[c.callee]
    both = []
    for v in (True, False):
        n = replace(node, attrs={**node.attrs, flag: v})
        both.append(parse_module(record.module(n, lambda a, n=n: f"_ARG_{a}" if a in sizes else repr(n.attrs[a])), fills, markers, c))
    on, off = both
    if not (isinstance(on, ast.Call) and isinstance(off, ast.Call)) or ast.dump(on.func) != ast.dump(off.func) or len(on.args) != len(off.args):
        raise Unsupported(f"'{flag}' of {c.written} computed from parameters changes more than one argument of its module", c.span)
    kw_on, kw_off = {k.arg: ast.dump(k.value) for k in on.keywords}, {k.arg: ast.dump(k.value) for k in off.keywords}
    differ = [k for k in kw_on.keys() | kw_off.keys() if kw_on.get(k) != kw_off.get(k)]
    same_args = all(ast.dump(x) == ast.dump(y) for x, y in zip(on.args, off.args))
    if len(differ) != 1 or not same_args:
        raise Unsupported(f"'{flag}' of {c.written} computed from parameters changes more than one argument of its module", c.span)
    return differ[0]


def synthetic_node(c: defs.Call, rank: int) -> Node:
    """A node for a call no instance ran (an untaken branch): its literal arguments, PyTorch-shaped."""
    op = OPS[c.callee]
    exprs = bind_args(c, [a.name for a in op.attrs])
    attrs: dict[str, Any] = {}
    for a in op.attrs:
        e = exprs.get(a.name)
        v = evaluate(e, Env({})) if e is not None and is_literal(e) else (a.default if e is None else None)
        if v is None and e is not None:
            v = {"int": 1, "int0": 0, "pair": 1, "size": 1, "conv_pad": 0, "pad": 0, "float": 0.5, "float+": 0.5, "prob": 0.5, "bool": True}.get(a.kind, a.default)
        attrs[a.name] = coerce(a.kind, a.name, v) if v is not None else None
    shape = (8, 16, 16) if rank == 3 else (8,)
    try:
        out = op.infer(attrs, [shape])
    except Exception:
        out = shape
    return Node(-1, op.name, attrs, (), "", "", tuple(out))


def bind_args(c: defs.Call, names_: list[str]) -> dict[str, irx.Expr]:
    out: dict[str, irx.Expr] = {}
    positional = [a for a in c.args if a.name is None]
    if len(positional) > len(names_):
        raise Unsupported(f"{c.written} takes {len(names_)} positional arguments", c.span)
    for n, a in zip(names_, positional):
        out[n] = a.value
    for a in c.args:
        if a.name is not None:
            out[a.name] = a.value
    return out


def agreed(nodes: list[Node], attr_name: str, c: defs.Call) -> Any:
    values = {repr(n.attrs.get(attr_name)) for n in nodes}
    if len(values) != 1:
        raise Unsupported(f"'{attr_name}' of {c.written} differs between instances and is not written as an expression", c.span)
    return nodes[0].attrs.get(attr_name)


def parse_module(source: str, values: dict[str, ast.expr], markers: dict | None = None, c: defs.Call | None = None) -> ast.expr:
    """A lowering's constructor source, parsed, with each placeholder and marker replaced by its expression."""
    tree = ast.parse(source, mode="eval").body
    found: set = set()

    class Fill(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return values.get(node.id, node)

        def visit_Constant(self, node: ast.Constant) -> ast.expr:
            if markers and type(node.value) in (int, float) and node.value in markers:
                found.add(node.value)
                return markers[node.value]
            return node

    tree = Fill().visit(tree)
    if markers and found != set(markers):
        raise Unsupported(f"an argument of {c.written if c else 'an op'} computed from parameters that its PyTorch module does not take as is", c.span if c else None)
    if isinstance(tree, ast.Call) and ast.unparse(tree.func) in ("nn.Conv2d", "PaddedConv2d", "nn.ConvTranspose2d"):  # leave out their defaults
        tree.keywords = [
            k
            for k in tree.keywords
            if not (k.arg in _CONSTRUCTOR_DEFAULTS and isinstance(k.value, ast.Constant) and k.value.value == _CONSTRUCTOR_DEFAULTS[k.arg])
        ]
    return tree


def is_inplace(module: ast.expr) -> bool:
    return isinstance(module, ast.Call) and any(k.arg == "inplace" for k in module.keywords)


def drop_inplace(module: ast.Call) -> ast.Call:
    module.keywords = [k for k in module.keywords if k.arg != "inplace"]
    return module


def is_literal(e: irx.Expr) -> bool:
    """Whether an expression is a literal: `3`, `(2, 3)`, `-1`."""
    if isinstance(e, irx.TupleOf):
        return all(is_literal(x) for x in e.items)
    if isinstance(e, irx.Neg):
        return is_literal(e.operand)
    return isinstance(e, irx.Const)
