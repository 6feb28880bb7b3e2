"""Small helpers shared by the shape rules."""

from __future__ import annotations

from archspec.ops.registry import OpError, Shape


def fmt(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def need_image(op: str, x: Shape) -> tuple[int, int, int]:
    """Image ops take [C, H, W]; say so in the user's terms when they get something else."""
    if len(x) != 3:
        hint = " (a flat vector: did a flatten come too early?)" if len(x) == 1 else ""
        raise OpError(f"{op} expects a [C, H, W] input but gets {fmt(x)}{hint}")
    return x  # type: ignore[return-value]


def need_flat(op: str, x: Shape) -> int:
    if len(x) != 1:
        raise OpError(
            f"{op} expects a flat [features] input but gets {fmt(x)}",
            help="add `flatten` (or a global pool and `flatten`) before it",
        )
    return x[0]


def window_out(op: str, size: int, k: int, s: int, p_lo: int, p_hi: int, d: int, ceil: bool, axis: str) -> int:
    """PyTorch's output-size formula for convolution and pooling windows (ceil_mode included).

    With ceil_mode the last, partial window counts, but only if it starts inside the input
    (or its left padding), as in ATen's pooling_output_shape.
    """
    span = size + p_lo + p_hi - d * (k - 1) - 1
    out = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p_lo:
        out -= 1
    if out < 1:
        raise OpError(
            f"{op}: the {axis} shrinks to zero or below: input {axis} {size} with kernel {k}"
            + (f", dilation {d}" if d != 1 else "")
            + f" and padding {p_lo + p_hi} leaves no room for one window"
        )
    return out
