"""Benchmark the analysis path (issue 3's speed targets), measured against peers in one run.

1. Whole-process time of `archspec cost specs/resnet152.arch --format json` divided by
   that of `python -c "import torch"` (target: below 0.5): the analysis is done before a
   torch-based counter has imported torch. Runs alternate, medians are compared.
2. Time to analyse a generated 10,000-block network divided by a 1,000-block one
   (target: below 12, i.e. linear).

    python benchmarks/bench_analysis.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archspec

ROOT = Path(__file__).resolve().parent.parent

GENERATED = """\
input 16x32x32
block unit(c):
    add:
        _:
            conv(c, 3, padding=1, bias=false)
            batchnorm
            relu
    relu
network generated:
    repeat {n}: unit(16)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def process_ratio(runs: int) -> tuple[float, float, float]:
    ours = [sys.executable, "-m", "archspec", "cost", "specs/resnet152.arch", "--format", "json"]
    peer = [sys.executable, "-c", "import torch"]
    timed(ours), timed(peer)  # warm the file cache
    a, b = [], []
    for _ in range(runs):
        a.append(timed(ours))
        b.append(timed(peer))
    return statistics.median(a), statistics.median(b), statistics.median(a) / statistics.median(b)


def analyse_time(n: int, runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"gen{n}.arch"
        path.write_text(GENERATED.format(n=n))
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            a = archspec.load(path)
            _ = a.total
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ours, torch_import, ratio = process_ratio(args.runs)
    print(f"archspec cost resnet152 --format json: {ours:.3f} s; python -c 'import torch': {torch_import:.3f} s")
    print(f"  ratio {ratio:.2f} (target < 0.5): {'PASS' if ratio < 0.5 else 'FAIL'}")
    small, large = analyse_time(1_000, max(3, args.runs // 2)), analyse_time(10_000, max(3, args.runs // 2))
    print(f"analyse 1,000 blocks: {small:.3f} s; 10,000 blocks: {large:.3f} s (5 ops per block)")
    print(f"  ratio {large / small:.1f} (target < 12): {'PASS' if large / small < 12 else 'FAIL'}")


if __name__ == "__main__":
    main()
