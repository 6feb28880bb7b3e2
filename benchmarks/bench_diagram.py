"""Benchmark the diagram backend (issue 16's target: every spec's DOT in under a second, at
both details), and, for information, Graphviz's time to lay out and draw the SVG.

    python benchmarks/bench_diagram.py [--rounds 3] [--render]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import time
from pathlib import Path

import archspec
from archspec.backends.diagram.dot import render

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0  # DOT text of one spec at one detail, load included


def seconds(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="also time `dot -Tsvg` (needs Graphviz)")
    args = parser.parse_args()
    specs = sorted(p for p in [*ROOT.glob("specs/*.arch"), *ROOT.glob("specs/*.yaml"), *ROOT.glob("specs/d2l/*.arch")] if p.name != "lib.arch")
    draw = args.render and shutil.which("dot") is not None
    print(f"{'spec':<28} {'layers s':>9} {'blocks s':>9} {'nodes':>6}" + (f" {'svg s':>7}" if draw else ""))
    worst = 0.0
    for path in specs:
        row = []
        for detail in ("layers", "blocks"):
            row.append(seconds(lambda d=detail, p=path: archspec.diagram(p, detail=d).source, args.rounds))
        dot = archspec.diagram(path)
        nodes = len(re.findall(r"^\s*[ns]\d+ \[", dot.source, re.M))  # drawn layers and blocks, folded
        worst = max(worst, *row)
        line = f"{str(path.relative_to(ROOT / 'specs')):<28} {row[0]:>9.3f} {row[1]:>9.3f} {nodes:>6}"
        if draw:
            line += f" {seconds(lambda g=dot: render(g, 'svg'), 1):>7.2f}"
        print(line)
    print(f"slowest DOT: {worst:.3f} s (target < {TARGET_S} s): {'PASS' if worst < TARGET_S else 'FAIL'}")


if __name__ == "__main__":
    main()
