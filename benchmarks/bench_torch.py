"""Benchmark the torch backend (issue 4's targets), measured against peers in one run.

1. Forward latency on the CPU, batch 1 and 8, of the generated resnet50 and vgg16 against
   the same networks written directly in PyTorch (torchvision where installed): runs
   alternate, medians are compared (target: ratio within 1.02, issue 13).
2. Whole-process time of `archspec compile specs/resnet152.arch --to torch` (target: < 1 s).

    python benchmarks/bench_torch.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import archspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_models import reference  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.02  # forward latency, generated / hand-written


def latency(model: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x)
    return time.perf_counter() - start


def compare(name: str, batch: int, rounds: int) -> None:
    ours = archspec.build(ROOT / "specs" / f"{name}.arch").eval()
    peer, what = reference(name)
    peer = peer.eval()
    peer.load_state_dict(ours.state_dict())  # same weights: the same arithmetic
    x = torch.randn(batch, 3, 224, 224)
    a, b = [], []
    with torch.inference_mode():
        for _ in range(2):
            latency(ours, x), latency(peer, x)
        for _ in range(rounds):
            a.append(latency(ours, x))
            b.append(latency(peer, x))
    ratio = statistics.median(a) / statistics.median(b)
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(
        f"{name} batch {batch}: generated {statistics.median(a) * 1e3:.1f} ms, {what} {statistics.median(b) * 1e3:.1f} ms, ratio {ratio:.3f} (target <= {TARGET}): {verdict}"
    )


def compile_time(runs: int) -> None:
    cmd = [sys.executable, "-m", "archspec", "compile", "specs/resnet152.arch", "--to", "torch"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - start)
    t = statistics.median(times)
    print(f"archspec compile specs/resnet152.arch --to torch: {t:.3f} s whole process (target < 1 s): {'PASS' if t < 1 else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compile_time(5)
    for name in ("resnet50", "vgg16"):
        for batch in (1, 8):
            compare(name, batch, args.rounds if batch == 1 else max(3, args.rounds // 2))


if __name__ == "__main__":
    main()
