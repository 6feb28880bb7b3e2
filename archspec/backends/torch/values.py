"""The Writer's named values: a value kept by name for a later `@name` (U-Net's skips).

A part of `classes.Writer`: forward keeps such a value in a local of its own, and __init__ its
channels; a value named in a loop (`"down{i}": ...`) goes into a dict by its computed name.
"""

from __future__ import annotations

import ast
from dataclasses import replace

from archspec.backends.torch.names import literal_start
from archspec.backends.torch.python import assign, const, identifier, name
from archspec.backends.torch.scope import Flow, Frame, free_name
from archspec.backends.unsupported import Unsupported
from archspec.ir import defs
from archspec.ir import expr as irx


class NamedValues:
    """A part of `classes.Writer`; see the module's docstring."""

    def _keep(self, spec_name: str, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A value read later by name: forward keeps it in a local of its own (`down1 = self.down1(x)`),
        and __init__ its channels, which later layers are sized by."""
        by_computed = spec_name in frame.computed_reads  # a computed `@"{level}"` reads it
        if spec_name in frame.likes:  # `upsample(like="a")` takes a's size as a number: what it depends on
            self._keep_spatial(spec_name, frame)
        if spec_name not in frame.wanted and not by_computed:
            return flow
        self._keep_spatial(spec_name, frame)
        if fwd is None:
            raise Unsupported(f"a value named '{spec_name}' inside a sequential level and read outside it", span)
        if spec_name in frame.named:
            local = frame.named[spec_name][0]
        else:
            local = free_name("identity" if spec_name == "input" else identifier(spec_name), frame.fwd_used)  # `input` is Python's builtin
            frame.fwd_used.add(local)
        channels = flow.channels
        if spec_name in frame.read and not isinstance(channels, ast.Constant):  # the running count may be reassigned: keep this one
            before = frame.named[spec_name][1] if spec_name in frame.named else None
            var = before.id if isinstance(before, ast.Name) else free_name(f"{identifier(spec_name)}_channels", frame.used)
            frame.used.add(var)
            init.append(assign(var, channels))
            channels = name(var)
        frame.named[spec_name] = (local, channels, flow.rank)
        if by_computed:
            tensors, kept_channels = self._kept(frame)
            init.append(assign(ast.Subscript(name(kept_channels), const(spec_name), ast.Store()), channels))
            after = [assign(ast.Subscript(name(tensors), const(spec_name), ast.Store()), name(local))]
        else:
            after = []
        last = fwd[-1] if fwd else None
        kept = {v[0] for k, v in frame.named.items() if k != spec_name}  # a value with two names keeps both
        if frame.depth == 0 and isinstance(last, ast.Assign) and isinstance(last.targets[0], ast.Name) and last.targets[0].id == flow.var and flow.var not in kept:
            last.targets[0] = ast.Name(local, ast.Store())  # the step that made it writes it there
            fwd.extend(after)
            return replace(flow, var=local, fresh=False)
        if local != flow.var:
            fwd.append(assign(local, name(flow.var)))
        fwd.extend(after)
        return replace(flow, var=local if frame.depth == 0 else flow.var, fresh=False)

    def _kept(self, frame: Frame) -> tuple[str, str]:
        """The dicts that keep values named in loops: `values` in forward, `values_channels` in __init__."""
        if frame.kept is None:
            tensors = free_name("values", frame.fwd_used)
            frame.fwd_used.add(tensors)
            channels = free_name("values_channels", frame.used)
            frame.used.add(channels)
            init_top, fwd_top = frame.tops  # type: ignore[misc]
            init_top.insert(0, ast.parse(f"{channels}: dict[str, int] = {{}}").body[0])
            fwd_top.insert(0, ast.parse(f"{tensors}: dict[str, torch.Tensor] = {{}}").body[0])
            frame.kept = (tensors, channels)
        return frame.kept

    def _keep_computed(self, label: irx.Expr, flow: Flow, frame: Frame, init: list, fwd: list | None, span) -> Flow:
        """A value named in a loop (`"down{i}": ...`): kept by its name for a later `@"down{...}"`."""
        if fwd is None:
            raise Unsupported("a value named in a loop inside a sequential level", span)
        tensors, channels = self._kept(frame)
        self._keep_spatial("", frame)
        init.append(assign(ast.Subscript(name(channels), self._expr(label, frame), ast.Store()), flow.channels))
        fwd.append(assign(ast.Subscript(name(tensors), self._fwd(label, frame), ast.Store()), name(flow.var)))
        return replace(flow, fresh=False)

    def _keep_spatial(self, spec_name: str, frame: Frame) -> None:
        """What the kept value's spatial size depends on, for a later `@name` (every computed name under "")."""
        if frame.spatial is not None:
            frame.kept_spatial.setdefault(spec_name, set()).update(frame.spatial)
            if spec_name in frame.computed:  # a literal `@box0` of a value a computed name makes reads the dict
                frame.kept_spatial.setdefault("", set()).update(frame.spatial)

    def _ref(self, ref: defs.Ref, flow: Flow, frame: Frame, fwd: list | None) -> Flow:
        """`@down1`: what flows now is that kept value (its forward local, its channels)."""
        if frame.spatial is not None:  # and its spatial size, with what that depended on
            literal = isinstance(ref.name, str) and ref.name in frame.kept_spatial
            frame.spatial |= frame.kept_spatial[ref.name] if literal else set().union(*frame.kept_spatial.values())  # type: ignore[index]
        if fwd is None:
            raise Unsupported(f"'@{ref.name if isinstance(ref.name, str) else '...'}' inside a sequential level", ref.span)
        if not isinstance(ref.name, str):
            if frame.tops is None:
                raise Unsupported("a value read by a computed name where this class cannot keep values by name", ref.span)
            tensors, channels = self._kept(frame)  # read before the first keep: a loop's later iteration reads an earlier one's
            fwd.append(assign(flow.out, ast.Subscript(name(tensors), self._fwd(ref.name, frame), ast.Load())))
            return replace(flow, channels=ast.Subscript(name(channels), self._expr(ref.name, frame), ast.Load()), var=flow.out, fresh=False)
        if ref.name not in frame.named and frame.kept is not None and ref.name in frame.computed:
            tensors, channels = frame.kept  # made under a computed name
            fwd.append(assign(flow.out, ast.Subscript(name(tensors), const(ref.name), ast.Load())))
            return replace(flow, channels=ast.Subscript(name(channels), const(ref.name), ast.Load()), var=flow.out, fresh=False)
        if ref.name not in frame.named:
            raise Unsupported(f"'@{ref.name}', made where this class cannot keep it", ref.span)
        local, channels, rank = frame.named[ref.name]
        return replace(flow, channels=channels, rank=rank, var=local, fresh=False)



def may_be_read(label: irx.Expr, frame: Frame) -> bool:
    """Whether a computed label's value may be what a computed `@"..."` of the body reads: their
    literal starts agree ("down{i}" and `@"down{3 - i}"`; one that starts computed agrees with all)."""
    start = literal_start(label)
    return any(start.startswith(p) or p.startswith(start) for p in frame.computed)
