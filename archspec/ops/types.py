"""Argument kinds: how a spec's value is checked and normalised for an op attribute."""

from __future__ import annotations

import math
from typing import Any

from archspec.ops.registry import OpError


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(name: str, v: Any, minimum: int) -> tuple[int, int]:
    if _is_int(v):
        v = (v, v)
    if isinstance(v, tuple) and len(v) == 2 and all(_is_int(x) for x in v):
        if min(v) < minimum:
            raise OpError(f"'{name}' must be at least {minimum}, got {_show(v)}", name)
        return v
    raise OpError(f"'{name}' must be an int or a pair of ints, got {_show(v)}", name)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "(" + ", ".join(_show(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if v is None:
        return "none"
    return repr(v)


def coerce(kind: str, name: str, v: Any) -> Any:
    """Check `v` against `kind`; return the normalised value or raise OpError."""
    if kind == "int":  # a positive int
        if not _is_int(v) or v < 1:
            raise OpError(f"'{name}' must be a positive int, got {_show(v)}", name)
        return v
    if kind == "int0":  # a non-negative int
        if not _is_int(v) or v < 0:
            raise OpError(f"'{name}' must be a non-negative int, got {_show(v)}", name)
        return v
    if kind == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise OpError(f"'{name}' must be a finite number, got {_show(v)}", name)
        return float(v)
    if kind == "float+":  # eps, k: added to a variance or a sum, so never negative
        v = coerce("float", name, v)
        if v < 0:
            raise OpError(f"'{name}' must not be negative, got {_show(v)}", name)
        return v
    if kind == "prob":
        v = coerce("float", name, v)
        if not 0.0 <= v <= 1.0:
            raise OpError(f"'{name}' must lie between 0 and 1, got {_show(v)}", name)
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise OpError(f"'{name}' must be true or false, got {_show(v)}", name)
        return v
    if kind == "pair":  # kernel, stride, dilation: >= 1
        return _pair(name, v, 1)
    if kind == "pair?":  # a pool's stride: none means the kernel size
        return None if v is None else _pair(name, v, 1)
    if kind == "pad":  # pool padding: int or pair, >= 0
        return _pair(name, v, 0)
    if kind == "conv_pad":
        # int | (h, w) | (left, right, top, bottom) | "same" | "valid"
        if v in ("same", "valid"):
            return v
        if isinstance(v, tuple) and len(v) == 4 and all(_is_int(x) and x >= 0 for x in v):
            return v
        if _is_int(v) or (isinstance(v, tuple) and len(v) == 2):
            return _pair(name, v, 0)
        raise OpError(
            f'\'{name}\' must be an int, a pair (h, w), a 4-tuple (left, right, top, bottom), "same" or "valid", got {_show(v)}',
            name,
        )
    if kind == "size":  # adaptive pool output size: int or pair
        return _pair(name, v, 1)
    if kind == "dim":
        if not _is_int(v):
            raise OpError(f"'{name}' must be an int, got {_show(v)}", name)
        return v
    if kind.startswith("one of "):  # a string from a fixed set: `one of nearest|bilinear`
        options = kind[len("one of ") :].split("|")
        if v not in options:
            raise OpError(f"'{name}' must be one of {', '.join(_show(o) for o in options)}, got {_show(v)}", name)
        return v
    if kind == "value?":  # the name of a value of the network or block (`like="input"`)
        if v is None or isinstance(v, str):
            return v
        raise OpError(f"'{name}' must name a value, as a string (\"input\", \"enc1\"), got {_show(v)}", name)
    if kind == "scale?":  # a resize factor: none, a positive number, or a pair of them
        if v is None:
            return None
        pair = v if isinstance(v, tuple) else (v, v)
        if len(pair) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in pair):
            return tuple(float(x) for x in pair)
        raise OpError(f"'{name}' must be a positive number or a pair (h, w) of them, got {_show(v)}", name)
    if kind == "size?":  # an output size: none, an int or a pair, >= 1
        return None if v is None else _pair(name, v, 1)
    if kind == "axes":  # a tuple of axis numbers, batch axis left out: permute's order
        if isinstance(v, tuple) and v and all(_is_int(x) and x >= 0 for x in v):
            return v
        raise OpError(f"'{name}' must be a tuple of axis numbers (0 is the first axis after the batch), got {_show(v)}", name)
    if kind == "pad4":  # int | (h, w) | (left, right, top, bottom), >= 0, as (left, right, top, bottom)
        if isinstance(v, tuple) and len(v) == 4 and all(_is_int(x) and x >= 0 for x in v):
            return v
        if _is_int(v) or (isinstance(v, tuple) and len(v) == 2):
            h, w = _pair(name, v, 0)
            return (w, w, h, h)
        raise OpError(f"'{name}' must be an int, a pair (h, w) or a 4-tuple (left, right, top, bottom) of non-negative ints, got {_show(v)}", name)
    raise AssertionError(f"unknown attribute kind {kind}")


show = _show
