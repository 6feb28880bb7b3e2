"""The .arch front end: lark parses `grammar/archspec.lark`; a Transformer builds the AST.

The grammar is data kept apart from this module (as in lark's own examples);
this module only maps rules to AST nodes and turns lark's exceptions into
located diagnostics named after what the user got wrong.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import DedentError, Indenter

from archspec.diagnostics import ArchspecError, Diagnostic, Note, Span
from archspec.syntax import ast


class _ArchIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


def grammar_path() -> Path:
    """The grammar ships inside the package; in a source checkout it lives in grammar/."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "grammar" / "archspec.lark", here.parent / "grammar" / "archspec.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("archspec.lark not found: the package is installed without its grammar")


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        postlex=_ArchIndenter(),
        start=["start", "expr", "item"],
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )


class _ToAst(Transformer):
    """Maps each grammar rule to an AST node; `file` goes into every span."""

    def __init__(self, file: str, line_offset: int = 0, col_offset: int = 0):
        super().__init__()
        self.file = file
        self.line_offset = line_offset
        self.col_offset = col_offset

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", False) or not hasattr(meta, "line"):
            return Span(self.file, 1 + self.line_offset, 1)
        return self._at(meta.line, meta.column, meta.end_line, meta.end_column)

    def _at(self, line, col, end_line=None, end_col=None) -> Span:
        off = self.col_offset if line == 1 else 0
        end_off = self.col_offset if end_line == 1 else 0
        return Span(
            self.file,
            line + self.line_offset,
            col + off,
            None if end_line is None else end_line + self.line_offset,
            None if end_col is None else end_col + end_off,
        )

    def _tok(self, tok: Token) -> Span:
        return self._at(tok.line, tok.column, tok.end_line, tok.end_column)

    # ---- top level ----
    @v_args(meta=True)
    def start(self, meta, children):
        imports, params, inputs, blocks, networks, inits, variants = [], [], [], [], [], [], []
        for c in children:
            if isinstance(c, ast.Variant):
                variants.append(c)
            elif isinstance(c, ast.Call):
                inits.append(c)
            elif isinstance(c, ast.Import):
                imports.append(c)
            elif isinstance(c, ast.Param):
                params.append(c)
            elif isinstance(c, ast.BlockDef):
                blocks.append(c)
            elif isinstance(c, ast.Network):
                networks.append(c)
            else:
                inputs.append(c)
        if len(networks) > 1:
            raise _Located("a spec defines at most one network", networks[1].span)
        if len(inputs) > 1:
            raise _Located("the input shape is given twice", inputs[1][1])
        if len(inits) > 1:
            raise _Located("the initialisation is given twice", inits[1].span)
        return ast.Module(
            self.file,
            tuple(imports),
            tuple(params),
            inputs[0][0] if inputs else None,
            tuple(blocks),
            networks[0] if networks else None,
            self._span(meta),
            inits[0] if inits else None,
            tuple(variants),
        )

    @v_args(meta=True)
    def import_stmt(self, meta, children):
        return ast.Import(self._string(children[0]), self._span(meta))

    @v_args(meta=True)
    def param_stmt(self, meta, children):
        return ast.Param(str(children[0]), children[1], self._span(meta))

    @v_args(meta=True)
    def variant_stmt(self, meta, children):
        return ast.Variant(str(children[0]), tuple(children[1:]), self._span(meta))

    @v_args(meta=True)
    def variant_set(self, meta, children):
        return (str(children[0]), children[1], self._span(meta))

    @v_args(meta=True)
    def input_stmt(self, meta, children):
        value = children[0]
        if isinstance(value, Token):  # 3x224x224
            span = self._tok(value)
            dims = tuple(ast.Lit(int(d), span) for d in value.split("x"))
            value = ast.TupleExpr(dims, span)
        return (value, self._span(meta))

    def init_stmt(self, children):
        return children[0]

    @v_args(meta=True)
    def block_def(self, meta, children):
        name = str(children[0])
        params = children[1] if len(children) == 3 else ()
        for s in _nested(children[-1], _Return):
            raise _Located("return is for the network: a block gives its last value", s.span)
        body, members = _members(children[-1])
        return ast.BlockDef(name, tuple(params), body, self._span(meta), members)

    @v_args(meta=True)
    def network_def(self, meta, children):
        body = children[1]
        outputs, outputs_span = (), None
        if body and isinstance(body[-1], _Return):
            outputs, outputs_span = body[-1].names, body[-1].span
            body = body[:-1]
        for s in _nested(body, _Return):
            raise _Located("return ends the network: it must be the last statement of its body", s.span)
        body, members = _members(body)
        return ast.Network(str(children[0]), body, self._span(meta), outputs, outputs_span, members)

    @v_args(meta=True)
    def members_stmt(self, meta, children):
        names = tuple(str(c) for c in children if c is not None)
        problem = members_problem(names)
        if problem:
            raise _Located(problem, self._span(meta))
        return ast.Members(names, self._span(meta))

    @v_args(meta=True)
    def return_stmt(self, meta, children):
        names = tuple(str(c) for c in children)
        if len(set(names)) != len(names):
            raise _Located("a value is returned twice", self._span(meta))
        return _Return(names, self._span(meta))

    @v_args(meta=True)
    def ref(self, meta, children):
        tok = children[-1]  # after the "@"
        return ast.Ref(self._fstring(tok) if tok.type == "STRING" else str(tok), self._span(meta))

    def params(self, children):
        return tuple(children)

    @v_args(meta=True)
    def param(self, meta, children):
        return ast.Param(str(children[0]), children[1] if len(children) > 1 else None, self._span(meta))

    # ---- statements ----
    def body(self, children):
        return tuple(children)

    @v_args(meta=True)
    def inline(self, meta, children):
        return ast.Line(tuple(children), self._span(meta))

    def simple_line(self, children):
        return children[0]

    def item(self, children):
        return children[0]

    @v_args(meta=True)
    def call(self, meta, children):
        name = children[0]
        args = children[1] if len(children) > 1 else ()
        return ast.Call(str(name), tuple(args), self._span(meta))

    @v_args(meta=True)
    def splice(self, meta, children):
        return ast.Splice(children[0], self._span(meta))

    @v_args(meta=True)
    def assign(self, meta, children):
        tok, value = children
        if tok.type != "STRING":
            return ast.Assign(str(tok), value, self._span(meta))
        if not isinstance(value, (ast.FuncCall, ast.Name, ast.Ref)):
            raise _Located(
                "a quoted name names a value: the right side must be an op or block call, or a value (`@name`)",
                self._span(meta),
                help='`"y{i}" = bottleneck(c)`; a variable has a plain name (`hidden = c * 4`)',
            )
        return ast.Assign(self._fstring(tok), value, self._span(meta))

    @v_args(meta=True)
    def assert_stmt(self, meta, children):
        return ast.Assert(children[0], children[1] if len(children) > 1 else None, self._span(meta))

    def comp_op(self, children):
        return " ".join(str(c) for c in children)

    @v_args(meta=True)
    def labeled(self, meta, children):
        label, rest = children[0], children[1:]
        guard = None
        if len(rest) == 2:
            guard, rest = rest[0], rest[1:]
        body = rest[0]
        inline = not isinstance(body, tuple)
        if isinstance(body, tuple):
            stmts = body
        else:
            stmts = (body,)
        return ast.Labeled(label, guard, stmts, inline, self._span(meta))

    @v_args(meta=True)
    def idle_stmt(self, meta, children):
        return ast.Idle(children[0], self._span(meta))

    def label(self, children):
        tok = children[0]
        if tok.type == "STRING":
            return self._fstring(tok)
        return str(tok)

    def guard(self, children):
        return children[0]

    @v_args(meta=True)
    def repeat_stmt(self, meta, children):
        return ast.Repeat(children[0], self._as_body(children[1]), self._span(meta))

    @v_args(meta=True)
    def for_stmt(self, meta, children):
        return ast.For(children[0], children[1], self._as_body(children[2]), self._span(meta))

    def targets(self, children):
        return children[0] if len(children) == 1 else tuple(children)

    def target_name(self, children):
        return str(children[0])

    def target_tuple(self, children):
        return tuple(children)

    @v_args(meta=True)
    def if_stmt(self, meta, children):
        branches = [(children[0], children[1])]
        orelse: tuple = ()
        for c in children[2:]:
            if c[0] == "elif":
                branches.append((c[1], c[2]))
            else:
                orelse = c[1]
        return ast.If(tuple(branches), orelse, self._span(meta))

    def elif_clause(self, children):
        return ("elif", children[0], children[1])

    def else_clause(self, children):
        return ("else", children[0])

    @v_args(meta=True)
    def combinator(self, meta, children):
        return ast.Combinator(str(children[0]), children[1], self._span(meta))

    @staticmethod
    def _as_body(value):
        return value if isinstance(value, tuple) else (value,)

    # ---- arguments and expressions ----
    def args(self, children):
        return tuple(c if isinstance(c, ast.Arg) else ast.Arg(None, c, c.span) for c in children)

    @v_args(meta=True)
    def kwarg(self, meta, children):
        return ast.Arg(str(children[0]), children[1], self._span(meta))

    def __default__(self, data, children, meta):  # pragma: no cover - every rule is mapped
        raise NotImplementedError(data)

    @v_args(meta=True)
    def cond_expr(self, meta, c):
        return ast.CondExpr(c[1], c[0], c[2], self._span(meta))

    @v_args(meta=True)
    def or_op(self, meta, c):
        return ast.BoolOp("or", tuple(c), self._span(meta))

    @v_args(meta=True)
    def and_op(self, meta, c):
        return ast.BoolOp("and", tuple(c), self._span(meta))

    @v_args(meta=True)
    def not_op(self, meta, c):
        return ast.Not(c[0], self._span(meta))

    @v_args(meta=True)
    def compare(self, meta, c):
        return ast.Compare(tuple(c[0::2]), tuple(str(t) for t in c[1::2]), self._span(meta))

    @v_args(meta=True)
    def binop(self, meta, c):
        left = c[0]
        for op, right in zip(c[1::2], c[2::2]):
            left = ast.BinOp(str(op), left, right, self._join(left.span, right.span))
        return left

    def _join(self, a: Span, b: Span) -> Span:
        return Span(a.file, a.line, a.col, b.end_line, b.end_col)

    @v_args(meta=True)
    def unary(self, meta, c):
        return ast.Unary(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def index(self, meta, c):
        return ast.Index(c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def attr(self, meta, c):
        return ast.Attr(c[0], str(c[1]), self._span(meta))

    @v_args(meta=True)
    def func(self, meta, c):
        return ast.FuncCall(str(c[0]), tuple(c[1]) if len(c) > 1 else (), self._span(meta))

    @v_args(meta=True)
    def int_lit(self, meta, c):
        if len(c[0]) > MAX_DIGITS:  # int() of thousands of digits is slow, then refused by Python itself
            raise _Located(f"number too long: {len(c[0]):,} digits", self._span(meta), help="numbers go up to 2^62 (docs/limits.md)")
        return ast.Lit(int(c[0]), self._span(meta))

    @v_args(meta=True)
    def float_lit(self, meta, c):
        return ast.Lit(float(c[0]), self._span(meta))

    @v_args(meta=True)
    def str_lit(self, meta, c):
        return self._fstring(c[0])

    @v_args(meta=True)
    def true_lit(self, meta, c):
        return ast.Lit(True, self._span(meta))

    @v_args(meta=True)
    def false_lit(self, meta, c):
        return ast.Lit(False, self._span(meta))

    @v_args(meta=True)
    def none_lit(self, meta, c):
        return ast.Lit(None, self._span(meta))

    @v_args(meta=True)
    def name(self, meta, c):
        return ast.Name(str(c[0]), self._span(meta))

    @v_args(meta=True)
    def in_ref(self, meta, c):
        return ast.InRef(self._span(meta))

    @v_args(meta=True)
    def list_comp(self, meta, c):
        return ast.Comprehension(c[0], c[1], c[2], c[3] if len(c) > 3 else None, self._span(meta))

    @v_args(meta=True)
    def tuple_lit(self, meta, c):
        return ast.TupleExpr(tuple(c), self._span(meta))

    # ---- strings ----
    @staticmethod
    def _string(tok: Token) -> str:
        return re.sub(r"\\(.)", r"\1", str(tok)[1:-1])

    def _fstring(self, tok: Token):
        """Strings may hold `{expr}` holes; a string without holes is a plain literal."""
        text = self._string(tok)
        span = self._tok(tok)
        if "{" not in text:
            return ast.Lit(text, span)
        parts: list = []
        pos = 0
        for m in re.finditer(r"\{([^{}]*)\}", text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            hole_col = tok.column + 1 + m.start(1)
            parts.append(parse_expr(m.group(1), self.file, tok.line - 1 + self.line_offset, hole_col - 1))
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        return ast.FString(tuple(parts), span)


@dataclass(frozen=True)
class _Return:
    """`return a, b`: taken out of the network's body into `Network.outputs` (nowhere else allowed)."""

    names: tuple[str, ...]
    span: Span


def _nested(body: tuple, kind: type):
    """Every statement of `kind` in a body, nested ones too (the tree is no deeper than MAX_NESTING here)."""
    for s in body:
        if isinstance(s, kind):
            yield s
        for inner in _bodies(s):
            yield from _nested(inner, kind)


def _bodies(s) -> list[tuple]:
    """The bodies a statement holds."""
    if isinstance(s, ast.If):
        return [b for _, b in s.branches] + [s.orelse]
    if isinstance(s, ast.Idle):
        return [s.item.body]
    if isinstance(s, ast.Combinator):
        return [s.branches]
    if isinstance(s, (ast.Labeled, ast.Repeat, ast.For)):
        return [s.body]
    return []


class _Located(Exception):
    def __init__(self, message: str, span: Span, help: str | None = None):
        super().__init__(message)
        self.message, self.span, self.help = message, span, help


_TOKEN_NAMES = {
    "COLON": "':'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "SEMICOLON": "';'",
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "SHAPE": "a shape such as 3x224x224",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "end of the indented block",
    "$END": "end of file",
}


def _describe(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "_INDENT":
        return "indentation"
    if tok.type in ("_DEDENT", "$END"):
        return "end of the block" if tok.type == "_DEDENT" else "end of file"
    return f"'{tok}'"


def _syntax_error(err: UnexpectedInput, file: str, text: str, line_offset: int, col_offset: int) -> Diagnostic:
    line = (getattr(err, "line", None) or 1) + line_offset
    col = getattr(err, "column", None) or 1
    if line - line_offset == 1:
        col += col_offset
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        return Diagnostic(f"unexpected character {ch!r}", Span(file, line, col, line, col + 1))
    if isinstance(err, UnexpectedEOF):
        return Diagnostic("unexpected end of input", Span(file, line, col))
    assert isinstance(err, UnexpectedToken)
    tok, expected = err.token, set(err.expected)
    if tok.type == "$END" or getattr(tok, "line", None) is None:
        lines = text.splitlines() or [""]
        span = Span(file, len(lines) + line_offset, len(lines[-1]) + 1 + (col_offset if len(lines) == 1 else 0))
    else:
        span = Span(file, tok.line + line_offset, col, tok.end_line, (tok.end_column or col + 1) + (col - tok.column))
    if tok.type in ("_INDENT", "_DEDENT") and getattr(tok, "end_line", None):
        # indentation tokens borrow the newline's position: point at the indented text instead
        span = Span(file, tok.end_line + line_offset, tok.end_column, tok.end_line + line_offset, tok.end_column + 1)
    got = _describe(tok)
    opener = _unclosed_bracket(text, getattr(tok, "start_pos", None))
    if opener is not None and tok.type == "COLON" and text[opener] == "[" and _closes(text, opener):
        return Diagnostic("slices are not in the language", span, help="index one item (`rows[i]`), or build the part with a comprehension (`[rows[k] for k in range(i)]`)")
    if opener is not None and tok.type.isupper() and str(tok).isidentifier() and str(tok) in _RESERVED and _closes(text, opener):
        return Diagnostic(f"'{tok}' is a reserved word", span, help="pick another name (docs/language.md lists the reserved words)")
    if opener is not None and tok.type not in ("RPAR", "RSQB") and not _closes(text, opener):
        line_no = text.count("\n", 0, opener) + 1
        col_no = opener - (text.rfind("\n", 0, opener) + 1) + 1
        where = Span(file, line_no + line_offset, col_no + (col_offset if line_no == 1 else 0), line_no + line_offset, col_no + 1)
        return Diagnostic(
            f"this '{text[opener]}' is never closed",
            where,
            notes=(Note(f"unexpected {got} here", span),),
            help=f"add the missing '{')' if text[opener] == '(' else ']'}'",
        )
    if tok.type == "_INDENT":
        return Diagnostic(
            "unexpected indentation", span, help="indent only the body of a block, network, label, repeat, for, if or combinator"
        )
    if "COLON" in expected and tok.type in ("_NL", "$END", "_DEDENT"):
        return Diagnostic("missing ':' at the end of this line", span)
    if "_INDENT" in expected and expected <= {"_INDENT"}:
        return Diagnostic("expected an indented block after ':'", span)
    if expected & {"RPAR", "RSQB"} and tok.type in ("_NL", "$END", "COLON"):
        return Diagnostic(f"missing ')' or ']' before {got}", span)
    names = sorted({_TOKEN_NAMES.get(e, f"'{e.lower()}'") for e in expected if not e.startswith("__")})
    if len(names) > 6:
        return Diagnostic(f"unexpected {got}", span)
    return Diagnostic(f"unexpected {got}; expected {', '.join(names)}", span)


# reserved words that never belong inside brackets (`and`, `if`, `for`... do, in expressions)
_RESERVED = frozenset("param input init import block network repeat elif assert return idle members concat add mul".split())


def _closes(text: str, opener: int) -> bool:
    """Whether the bracket at `opener` is closed later in the text (strings and comments skipped)."""
    return _unclosed_bracket(text, len(text), start=opener) is None


def _unclosed_bracket(text: str, end: int | None, start: int = 0) -> int | None:
    """The offset of the innermost bracket still open at `end` (strings and comments skipped)."""
    if end is None:
        end = len(text)
    stack: list[int] = []
    i = start
    while i < end:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while j < end and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1  # an escaped quote does not end the string
            i = j + 1
            continue
        if ch == "#":
            nl = text.find("\n", i)
            i = end if nl < 0 else nl
            continue
        if ch in "([":
            stack.append(i)
        elif ch in ")]" and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _check_text(text: str, file: str) -> None:
    if "\x00" in text:
        raise ArchspecError(Diagnostic("not a text file (it contains NUL bytes)", Span(file, 1, 1)), {file: ""})


MAX_NESTING = ast.MAX_DEPTH  # levels of the parse tree: brackets, operators and indented bodies together


def _too_deep(at: Span) -> Diagnostic:
    return Diagnostic(
        f"nested too deeply: more than {MAX_NESTING} levels of brackets, operators and indented bodies",
        at,
        help="this is a limit (docs/limits.md); name intermediate values or split the expression",
    )


def _check_nesting(tree, file: str, text: str, line_offset: int, col_offset: int) -> None:
    """Refuse a parse tree deeper than MAX_NESTING before anything walks it recursively.

    LALR parsing needs no recursion, but turning the tree into the AST, and every stage
    after, does: a thousand brackets must be an error here, not a RecursionError there."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            line = getattr(meta, "line", 1)
            col = getattr(meta, "column", 1)
            at = Span(file, line + line_offset, col + (col_offset if line == 1 else 0))
            raise ArchspecError(_too_deep(at), {file: text})
        stack.extend((c, depth + 1) for c in node.children if hasattr(c, "children"))


MAX_DIGITS = 30  # in an int literal: 2^62 has 19
MAX_TOKENS = 50_000  # per file: the largest spec here has 900; LALR parsing costs ~15 us a token
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _check_tokens(text: str, file: str, line_offset: int) -> None:
    """Refuse a file of more than MAX_TOKENS tokens before lark spends seconds on it."""
    for n, m in enumerate(_TOKEN.finditer(text)):
        if n == MAX_TOKENS:
            line = text.count("\n", 0, m.start()) + 1
            col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
            raise ArchspecError(
                Diagnostic(
                    f"too long: more than {MAX_TOKENS:,} tokens in one file",
                    Span(file, line + line_offset, col),
                    help="this is a limit (docs/limits.md); loops (`repeat`, `for`) and blocks write long networks briefly",
                ),
                {file: text},
            )


def _run(text: str, file: str, start: str, line_offset: int = 0, col_offset: int = 0):
    _check_text(text, file)
    _check_tokens(text, file, line_offset)
    try:
        tree = _parser().parse(text if start != "start" or text.endswith("\n") else text + "\n", start=start)
        _check_nesting(tree, file, text, line_offset, col_offset)
        result = _ToAst(file, line_offset, col_offset).transform(tree)
        deep = ast.too_deep(result)
        if deep is not None:
            raise ArchspecError(_too_deep(deep), {file: text})
        return result
    except UnexpectedInput as err:
        raise ArchspecError(_syntax_error(err, file, text, line_offset, col_offset), {file: text}) from None
    except DedentError:
        raise ArchspecError(Diagnostic("unindent does not match any outer indentation level", Span(file, 1, 1)), {file: text}) from None
    except VisitError as err:
        inner = err.orig_exc
        if isinstance(inner, ArchspecError):
            raise inner from None
        if isinstance(inner, _Located):
            raise ArchspecError(Diagnostic(inner.message, inner.span, help=inner.help), {file: text}) from None
        raise


def parse_module(text: str, file: str) -> ast.Module:
    """Parse one .arch file."""
    return _run(text, file, "start")


def parse_expr(text: str, file: str = "<expr>", line_offset: int = 0, col_offset: int = 0) -> ast.Expr:
    """Parse one expression (a --set value, a YAML value, a name hole)."""
    return _run(text.strip(), file, "expr", line_offset, col_offset)


def parse_item(text: str, file: str = "<item>", line_offset: int = 0, col_offset: int = 0):
    """Parse one item (`conv(64, 3)`, `*block(2)`, `x = 3`): the YAML form's leaves."""
    return _run(text.strip(), file, "item", line_offset, col_offset)


def members_problem(names: tuple[str, ...]) -> str | None:
    """What is wrong with a `members` list on its own (a name listed twice), for both front ends."""
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    return f"members: '{twice}' is listed twice" if twice is not None else None


def _members(body: tuple) -> tuple[tuple, ast.Members | None]:
    """A body's `members` line, taken out of it: one at most, at its top level."""
    found = [s for s in body if isinstance(s, ast.Members)]
    if len(found) > 1:
        raise _Located("members is given twice", found[1].span)
    nested = next(_nested(tuple(s for s in body if not isinstance(s, ast.Members)), ast.Members), None)
    if nested is not None:
        raise _Located("members lists a block's or the network's own members: it belongs at the top of its body", nested.span)
    return tuple(s for s in body if not isinstance(s, ast.Members)), (found[0] if found else None)
