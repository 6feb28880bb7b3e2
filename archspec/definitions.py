"""AST -> IR definitions: the spec's blocks and network, without syntax.

The one place that reads the AST after parsing. It resolves every call to an op (its
canonical name) or a block, turns expressions into `archspec.ir.expr` trees, and records
what each block assigns. It reports nothing: a call to something that is neither op nor
block is kept as "unknown", and elaboration reports it where it is reached, as it reports
every other error with the values that led there.
"""

from __future__ import annotations

from archspec.ir import defs, expr
from archspec.ops import lookup
from archspec.syntax import ast
from archspec.syntax.load import Program


def lower_program(program: Program) -> dict[str, defs.ModuleDef]:
    """Every file of the program, lowered, in `Program.modules` order (the main file first)."""
    blocks = {b.name for m in program.modules.values() for b in m.blocks if lookup(b.name) is None}
    lowering = _Lowering(blocks)
    return {file: lowering.module(m) for file, m in program.modules.items()}


def lower_expr(e: ast.Expr) -> expr.Expr:
    """One expression (a `--set` value, say)."""
    return _Lowering(set()).expr(e)


class _Lowering:
    def __init__(self, blocks: set[str]):
        self.blocks = blocks

    def module(self, m: ast.Module) -> defs.ModuleDef:
        params = tuple(self.param(p) for p in m.params)
        network = None
        if m.network is not None:
            net = m.network
            network = defs.NetworkDef(
                net.name,
                params,
                self.expr(m.input) if m.input is not None else None,
                self.body(net.body),
                net.span,
                m.file,
                self.call(m.init) if m.init is not None else None,
                net.outputs,
                net.outputs_span,
                net.members.names if net.members else (),
                net.members.span if net.members else None,
            )
        variants = tuple(defs.Variant(v.name, tuple((k, self.expr(e), s) for k, e, s in v.values), v.span) for v in m.variants)
        return defs.ModuleDef(m.file, params, tuple(self.block(b, m.file) for b in m.blocks), network, variants)

    def block(self, b: ast.BlockDef, file: str) -> defs.BlockDef:
        body = self.body(b.body)
        members = b.members.names if b.members else ()
        return defs.BlockDef(b.name, tuple(self.param(p) for p in b.params), body, b.span, file, defs.assigned_names(body), members, b.members.span if b.members else None)

    def param(self, p: ast.Param) -> defs.Param:
        return defs.Param(p.name, self.expr(p.default) if p.default is not None else None, p.span)

    # ---- statements ----
    def body(self, stmts: tuple) -> tuple[defs.Stmt, ...]:
        return tuple(self.stmt(s) for s in stmts)

    def stmt(self, s: ast.Stmt) -> defs.Stmt:
        if isinstance(s, ast.Line):
            return defs.Line(tuple(self.item(i) for i in s.items), s.span)
        if isinstance(s, ast.Labeled):
            label = s.label if isinstance(s.label, str) else self.expr(s.label)
            if isinstance(label, expr.Const) and isinstance(label.value, str):
                label = label.value  # a quoted label without holes ("block", a reserved word) is literal
            guard = self.expr(s.guard) if s.guard is not None else None
            return defs.Labeled(label, guard, self.body(s.body), s.inline, s.span)
        if isinstance(s, ast.Repeat):
            return defs.Repeat(self.expr(s.count), self.body(s.body), s.span)
        if isinstance(s, ast.For):
            return defs.For(s.target, self.expr(s.iter), self.body(s.body), s.span)
        if isinstance(s, ast.If):
            return defs.If(tuple((self.expr(c), self.body(b)) for c, b in s.branches), self.body(s.orelse), s.span)
        if isinstance(s, ast.Combinator):
            return defs.Join(s.kind, self.body(s.branches), s.span)
        if isinstance(s, ast.Idle):
            return defs.Idle(self.stmt(s.item), s.span)
        raise AssertionError(f"unknown statement {s!r}")

    def item(self, i) -> defs.Item:
        if isinstance(i, ast.Assign):
            made = self._made_by(i.value) if not isinstance(i.value, ast.Ref) else None
            if made is not None or not isinstance(i.name, str) or isinstance(i.value, ast.Ref):  # `enc1 = double_conv(64)`: a value, not a variable
                name = i.name if isinstance(i.name, str) else self.expr(i.name)
                if isinstance(name, expr.Const) and isinstance(name.value, str):
                    name = name.value  # a quoted name without holes is literal
                value = self.item(i.value) if isinstance(i.value, ast.Ref) else self.call(made or _as_call(i.value))
                return defs.Bind(name, value, i.span)
            return defs.Let(i.name, self.expr(i.value), i.span)
        if isinstance(i, ast.Ref):
            name = i.name if isinstance(i.name, str) else self.expr(i.name)
            if isinstance(name, expr.Const) and isinstance(name.value, str):
                name = name.value  # `@"6"`: a quoted name without holes is literal
            return defs.Ref(name, i.span)
        if isinstance(i, ast.Assert):
            return defs.Check(self.expr(i.test), self.expr(i.message) if i.message is not None else None, i.span)
        if isinstance(i, ast.Splice):
            return self.call(i.call, splice=True)
        return self.call(i)

    def _made_by(self, e: ast.Expr) -> ast.Call | None:
        """The call an assignment's right side is, if it names an op or a block (`conv(64, 3)`,
        `relu`): those make values. Anything else is an expression (`hidden = c * t`)."""
        callee = e.name if isinstance(e, ast.FuncCall) else e.id if isinstance(e, ast.Name) else None
        if callee is not None and (callee in self.blocks or lookup(callee) is not None):
            return _as_call(e)
        return None

    def call(self, c: ast.Call, splice: bool = False) -> defs.Call:
        args = tuple(defs.Arg(a.name, self.expr(a.value), a.span) for a in c.args)
        if c.name in self.blocks:
            return defs.Call(c.name, "block", args, c.span, splice, c.name)
        op = lookup(c.name)
        if op is not None and not splice:
            return defs.Call(op.name, "op", args, c.span, splice, c.name)
        return defs.Call(c.name, "unknown", args, c.span, splice, c.name)

    # ---- expressions ----
    def expr(self, e: ast.Expr) -> expr.Expr:
        s = e.span
        if isinstance(e, ast.Lit):
            return expr.Const(e.value, s)
        if isinstance(e, ast.Name):
            return expr.Var(e.id, s)
        if isinstance(e, ast.InRef):
            return expr.Input(s)
        if isinstance(e, ast.TupleExpr):
            return expr.TupleOf(tuple(map(self.expr, e.items)), s)
        if isinstance(e, ast.BinOp):
            return expr.BinOp(e.op, self.expr(e.left), self.expr(e.right), s)
        if isinstance(e, ast.Unary):
            return expr.Neg(e.op, self.expr(e.operand), s)
        if isinstance(e, ast.Compare):
            return expr.Compare(tuple(map(self.expr, e.operands)), e.ops, s)
        if isinstance(e, ast.BoolOp):
            return expr.Logic(e.op, tuple(map(self.expr, e.values)), s)
        if isinstance(e, ast.Not):
            return expr.Not(self.expr(e.operand), s)
        if isinstance(e, ast.CondExpr):
            return expr.Choice(self.expr(e.test), self.expr(e.body), self.expr(e.orelse), s)
        if isinstance(e, ast.Index):
            return expr.Index(self.expr(e.value), self.expr(e.index), s)
        if isinstance(e, ast.Attr):
            return expr.Field(self.expr(e.value), e.name, s)
        if isinstance(e, ast.FuncCall):
            return expr.Apply(
                e.name,
                tuple(self.expr(a.value) for a in e.args if a.name is None),
                tuple((a.name, self.expr(a.value)) for a in e.args if a.name is not None),
                s,
            )
        if isinstance(e, ast.Comprehension):
            return expr.Comprehension(self.expr(e.element), e.target, self.expr(e.iterable), self.expr(e.condition) if e.condition is not None else None, s)
        if isinstance(e, ast.FString):
            return expr.Format(tuple(p if isinstance(p, str) else self.expr(p) for p in e.parts), s)
        raise AssertionError(f"unknown expression {e!r}")


def _as_call(e: ast.FuncCall | ast.Name) -> ast.Call:
    """The right side of a value's assignment as the call it is (the parser checked it is one)."""
    if isinstance(e, ast.Name):
        return ast.Call(e.id, (), e.span)
    return ast.Call(e.name, e.args, e.span)
