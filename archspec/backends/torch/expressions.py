"""The Writer's expressions: the spec's expressions (`archspec.ir.expr`) as Python `ast`.

A part of `classes.Writer`: in __init__, names are the function's variables (a file parameter
becomes a keyword argument) and `in.channels` the channels flowing in; in forward, names are
attributes __init__ keeps (`self.stride`); `in.height` is taken from the graph (`_in_field`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from archspec.backends.torch.names import attribute_name
from archspec.backends.torch.python import Translator, attr, const, identifier, name
from archspec.backends.torch.scope import Frame, free_name
from archspec.backends.unsupported import Unsupported
from archspec.ir import expr as irx


class Expressions:
    """A part of `classes.Writer`; see the module's docstring."""

    def _var(self, spec: str, frame: Frame) -> ast.expr:
        if spec in frame.vars:
            return frame.vars[spec]
        globals_ = self.defs.globals.get(frame.file, {})
        if spec in globals_:
            py = free_name(identifier(spec), frame.used)
            frame.used.add(py)
            frame.vars[spec] = name(py)
            frame.globals.add(spec)
            return name(py)
        raise Unsupported(f"the name '{spec}'", None)

    def _expr(self, e: irx.Expr, frame: Frame, iterated: bool = False) -> ast.expr:
        t = Translator(lambda n, span: self._var(n, frame), lambda f, span: self._in_field(f, frame, span))
        out = t(e, iterated)
        self.functions |= t.used
        return out

    def _in_field(self, f: str, frame: Frame, span, channels: Callable[[], ast.expr] | None = None) -> ast.expr:
        """`in.<f>`: the channels flowing in (`channels()`, `in_channels` in __init__) where the field
        reads the axis that holds them; any other axis is taken from the graph, fixed when the file
        is written. `in.shape` is both: `(in_channels, 8, 8)`, or `(8, 8, in_channels)` channels last."""
        channels = channels or (lambda: frame.in_channels)
        axes = set(frame.in_axes) or {0}
        if f in ("channels", "features") and axes == {0}:
            return channels()
        if not frame.in_shapes:  # a splice: `in` is the value flowing into it, whose shape is not tracked
            why = " of a spec that permutes its channels last" if f in ("channels", "features") else ""
            raise Unsupported(f"in.{f} inside a spliced block (`*block(...)`){why}: call the block instead", span)
        if len(axes) > 1 and f != "rank":
            raise Unsupported(f"in.{f} in a block whose instances take their channels on different axes (a permute before some)", span)
        (axis,) = axes
        ranks = {len(shape) for shape in frame.in_shapes}
        read = {"channels": (0,), "features": (0,), "height": (1,), "width": (2,), "rank": ()}.get(f, tuple(range(max(ranks))))
        if read == (axis,) and f != "shape":
            return channels()
        if any(k != axis for k in read):  # a size of `in`, taken from the graph: it holds while what it depends on does
            frame.fixed |= frame.in_spatial
        values = {_field_of(tuple(0 if k == axis else v for k, v in enumerate(shape)), f) for shape in frame.in_shapes}  # only the axes read must agree
        if len(values) != 1:
            raise Unsupported(f"in.{f} in a block whose instances take different values of it", span)
        value = values.pop()
        if f == "shape":
            return ast.Tuple([channels() if k == axis else const(v) for k, v in enumerate(value)], ast.Load())
        return const(value)

    def _fwd(self, e: irx.Expr, frame: Frame, iterated: bool = False) -> ast.expr:
        """An expression forward evaluates: names read from attributes __init__ keeps."""

        def var(n: str, span) -> ast.expr:
            if n in frame.loop_vars:
                return frame.vars[n]
            if n in frame.fwd_lets:  # computed again in forward's loop
                return name(frame.fwd_lets[n])
            if n in frame.stale:
                raise Unsupported(f"'{n}' in forward: a loop updates it from its value before the loop (write the value from the loop's own names, `c = c0 * 2 ** i`)", span)
            value = self._var(n, frame)
            if isinstance(value, ast.Constant):  # a spliced block's argument: forward reads the value itself
                return const(value.value)
            key = ast.dump(value)  # by what __init__ holds: a splice's `n` and its caller's may differ
            if key not in frame.attrs:
                frame.attrs[key] = (attribute_name(identifier(n), {a for a, _ in frame.attrs.values()} | frame.members), value)
            return attr("self", frame.attrs[key][0])

        def kept_channels() -> ast.expr:
            if "__in_channels__" not in frame.attrs:
                frame.attrs["__in_channels__"] = ("in_channels", frame.in_channels)
            return attr("self", "in_channels")

        def in_field(f: str, span) -> ast.expr:
            return self._in_field(f, frame, span, kept_channels)

        t = Translator(var, in_field)
        out = t(e, iterated)
        self.functions |= t.used
        return out



def _field_of(shape: tuple[int, ...], f: str) -> Any:
    """`in.shape`, `in.rank`, `in.height`, `in.width` of a shape (the last two None for features), and
    `in.channels` (its first axis, as the analysis reads it, whether or not a permute moved the channels)."""
    if f in ("channels", "features"):
        return shape[0]
    return {"shape": shape, "rank": len(shape), "height": shape[1] if len(shape) == 3 else None, "width": shape[2] if len(shape) == 3 else None}[f]
