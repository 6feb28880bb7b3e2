"""Cost across input sizes: one analysis per size, and the multiply-adds as a formula in H and W.

A convolutional network's macs are a polynomial in the input's height and width wherever every
division in its shape rules is exact: for inputs that are multiples of its total stride, each
layer's map is (H / s + c) x (W / s + c'), so the total is `a*H*W + b*H + c*W + d`. The formula is
fitted exactly (rationals) on four such sizes and checked on two more; a network whose rounding
or fixed-size layers break it (valid convolutions of odd sizes, a flatten of the map) has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from archspec.api import Analysis, analyse_program
from archspec.diagnostics import ArchspecError
from archspec.syntax.load import Program, load_program


@dataclass(frozen=True)
class MacsFormula:
    """macs(H, W) = hw * H * W + h * H + w * W + const, for H and W multiples of `stride`."""

    hw: Fraction
    h: Fraction
    w: Fraction
    const: Fraction
    stride: int

    def __call__(self, height: int, width: int) -> Fraction:
        return self.hw * height * width + self.h * height + self.w * width + self.const

    def __str__(self) -> str:
        terms = [(c, v) for c, v in [(self.hw, "H*W"), (self.h, "H"), (self.w, "W"), (self.const, "")] if c]
        text = ""
        for i, (c, v) in enumerate(terms):
            sign = ("-" if c < 0 else "") if i == 0 else (" - " if c < 0 else " + ")
            text += f"{sign}{_number(abs(c))}{' * ' + v if v else ''}"
        return f"macs = {text or '0'}  (H and W multiples of {self.stride} that the network accepts)"


def _number(c: Fraction) -> str:
    return f"{c.numerator:,}" if c.denominator == 1 else f"{c.numerator:,}/{c.denominator:,}"


def sweep(path: str | Path, inputs: list[tuple[int, ...]], program: Program | None = None, **kw: Any) -> list[Analysis]:
    """One analysis per input shape (the spec parsed once)."""
    program = program or load_program(path)
    return [analyse_program(path, program, input=shape, **kw) for shape in inputs]


def total_stride(a: Analysis) -> int:
    """The largest factor by which the network shrinks its input's height before any global pool:
    the power of two at or above input height / smallest map height."""
    height = a.input_shape[1]
    smallest = min((n.shape[1] for n in a.graph.layers() if len(n.shape) == 3 and n.shape[1] > 1), default=height)
    ratio = max(1, round(height / smallest))
    return 1 << (ratio - 1).bit_length()


def macs_formula(path: str | Path, a: Analysis, program: Program | None = None, **kw: Any) -> MacsFormula | None:
    """The exact macs formula in H and W, or None where the network has none (or a size fails)."""
    if len(a.input_shape) != 3:
        return None
    s = total_stride(a)
    channels = a.input_shape[0]
    fit = [(8, 8), (8, 9), (9, 8), (9, 9)]
    check = [(10, 12), (13, 11)]
    try:
        macs = {k: r.total.macs for k, r in zip(fit + check, sweep(path, [(channels, i * s, j * s) for i, j in fit + check], program, **kw))}
    except ArchspecError:
        return None
    (h0, w0), (h1, w1) = (8 * s, 8 * s), (9 * s, 9 * s)
    m00, m01, m10, m11 = (Fraction(macs[k]) for k in fit)  # (H0, W0), (H0, W1), (H1, W0), (H1, W1)
    hw = (m11 - m10 - m01 + m00) / ((h1 - h0) * (w1 - w0))
    h = (m10 - m00) / (h1 - h0) - hw * w0
    w = (m01 - m00) / (w1 - w0) - hw * h0
    formula = MacsFormula(hw, h, w, m00 - hw * h0 * w0 - h * h0 - w * w0, s)
    if any(formula(i * s, j * s) != macs[(i, j)] for i, j in check):
        return None
    return formula


def parse_sizes(text: str) -> list[int]:
    """`128:512:32` -> 128, 160, ..., 512 (both ends included); `224` alone -> [224]."""
    parts = text.split(":")
    if len(parts) not in (1, 2, 3) or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected START:STOP[:STEP] in pixels, got {text!r}")
    start = int(parts[0])
    stop = int(parts[1]) if len(parts) > 1 else start
    step = int(parts[2]) if len(parts) == 3 else 1
    if start < 1 or stop < start or step < 1:
        raise ValueError(f"expected 1 <= START <= STOP and STEP >= 1, got {text!r}")
    if (stop - start) // step + 1 > 100:
        raise ValueError(f"{text!r} gives more than 100 sizes")
    return list(range(start, stop + 1, step))
