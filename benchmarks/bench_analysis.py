"""Benchmark the analysis path (issue 3's speed targets), measured against peers in one run.

1. Whole-process time of `archspec cost specs/resnet152.arch --format json` divided by
   that of `python -c "import torch"` (target: below 0.5): the analysis is done before a
   torch-based counter has imported torch. Runs alternate, medians are compared.
2. Time to analyse a generated 10,000-block network divided by a 1,000-block one
   (target: below 12, i.e. linear).
3. Scaling on shapes that were quadratic once (issue 14): a join-heavy, a concat-heavy and a
   deeply nested network at about 1k, 10k and 100k layers; each 10x in layers may cost at
   most 11x in time.

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


# Networks of about `n` layers, each 3 ops a unit (a join and its two branches, or conv+bn+relu)
SHAPES = {
    "joins": "input 4x8x8\nblock r():\n    add:\n        identity\n        relu\nnetwork joins:\n    repeat {units}: r\n",
    "concats": "input 4x8x8\nnetwork concats:\n    repeat {units}:\n        concat:\n            identity\n            conv(1, 1)\n",
    "nested": "input 4x8x8\n"
    + "".join(f"block b{i}():\n    b{i + 1}\n" for i in range(30))
    + "block b30():\n    conv(4, 1)\n    batchnorm\n    relu\nnetwork nested:\n    repeat {units}: b0\n",
}


def scaling(shape: str, layers: int, runs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{shape}{layers}.arch"
        path.write_text(SHAPES[shape].format(units=layers // 3))
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            archspec.load(path, max_layers=10 * layers)
            times.append(time.perf_counter() - start)
        return statistics.median(times)


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
    for shape in SHAPES:
        t = [scaling(shape, n, 3 if n < 100_000 else 1) for n in (1_000, 10_000, 100_000)]
        ratios = [t[1] / t[0], t[2] / t[1]]
        verdict = "PASS" if max(ratios) <= 11 else "FAIL"
        print(f"{shape}: 1k {t[0]:.3f} s, 10k {t[1]:.3f} s, 100k {t[2]:.3f} s; ratios {ratios[0]:.1f}, {ratios[1]:.1f} (target <= 11): {verdict}")


if __name__ == "__main__":
    main()
