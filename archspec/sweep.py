"""Design sweeps: every combination of some parameters' values, with each one's cost and training
memory, and the
ones no other beats on both params and macs (the Pareto front).

`archspec sweep SPEC --set width=0.5,0.75,1.0 --set depth=1.0,1.2` elaborates the spec once per
combination; a combination the spec refuses is a row with its error, the others go on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archspec.api import analyse_program
from archspec.diagnostics import ArchspecError
from archspec.syntax.load import Program, load_program

MAX_COMBINATIONS = 1000


@dataclass
class Point:
    """One combination: its parameter values and what it costs (or why the spec refused it)."""

    values: dict[str, Any]
    params: int | None = None
    macs: int | None = None
    activations: int | None = None
    train_peak_bytes: int | None = None  # a training step's peak at batch 1, float32, AdamW (docs/memory.md)
    output: str | None = None
    error: str | None = None
    pareto: bool = False


def combinations(choices: dict[str, tuple]) -> list[dict[str, Any]]:
    """Every combination of the values, the first parameter varying slowest."""
    names = list(choices)
    total = 1
    for values in choices.values():
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise ValueError(f"{total:,} combinations: more than the limit of {MAX_COMBINATIONS:,}")
    return [dict(zip(names, combo)) for combo in itertools.product(*choices.values())]


def run(path: str | Path, choices: dict[str, tuple], program: Program | None = None, progress=None, **kw: Any) -> list[Point]:
    """Cost every combination; `progress(done, total)` is told after each."""
    from archspec import units
    from archspec.training_memory import memory

    program = program or load_program(path)
    combos = combinations(choices)
    points = []
    for i, values in enumerate(combos):
        try:
            a = analyse_program(path, program, **kw, **values)
            t = a.total
            points.append(Point(values, t.params, t.macs, t.activations, memory(a.graph).train_peak_bytes, units.outputs_str(a.graph)))
        except ArchspecError as err:
            first = err.diagnostics[0] if err.diagnostics else None
            points.append(Point(values, error=first.message if first else str(err)))
        if progress is not None:
            progress(i + 1, len(combos))
    mark_pareto(points)
    return points


def mark_pareto(points: list[Point]) -> None:
    """A point is on the front when no other has at most its params and macs, and less of one."""
    ok = [p for p in points if p.error is None]
    for p in ok:
        p.pareto = not any(
            q is not p and q.params <= p.params and q.macs <= p.macs and (q.params < p.params or q.macs < p.macs) for q in ok  # type: ignore[operator]
        )


def plot(points: list[Point], title: str) -> bytes:
    """A PNG scatter of params against macs, the Pareto front joined and each point labelled."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    ok = [p for p in points if p.error is None]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    ax.scatter([p.params for p in ok], [p.macs for p in ok], color="#7f7f7f", label="combinations", zorder=2)
    front = sorted((p for p in ok if p.pareto), key=lambda p: (p.params, p.macs))
    ax.plot([p.params for p in front], [p.macs for p in front], color="#d62728", marker="o", label="Pareto front", zorder=3)
    for p in ok:
        ax.annotate(", ".join(f"{k}={v}" for k, v in p.values.items()), (p.params, p.macs), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.margins(0.12)  # room for the labels of the points at the edges
    ax.set_xlabel("params")
    ax.set_ylabel("multiply-adds (one image)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: the same sweep, the same bytes
    plt.close(fig)
    return buf.getvalue()
