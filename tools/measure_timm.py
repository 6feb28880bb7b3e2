"""Measure timm's models: the independent source of tests/fixtures/timm_measured.json.

Run it in an environment with timm (not a dependency of archspec):

    python tools/measure_timm.py xception41 xception65 xception71 > tests/fixtures/timm_measured.json

For each model, as tools/measure_torchvision.py measures torchvision's: params, buffers
(without num_batches_tracked), macs = FlopCounterMode's total / 2 at the model's default input
size, the output shape, and the state_dict keys with their shapes.
"""

from __future__ import annotations

import json
import sys

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode


def measure(name: str) -> dict:
    model = timm.create_model(name, pretrained=False).eval()
    size = list(model.pretrained_cfg["input_size"])
    x = torch.randn(1, *size)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model(x)
    return {
        "input": size,
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")),
        "macs": counter.get_total_flops() // 2,
        "output": list(y.shape[1:]),
        "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
    }


def main() -> None:
    out = {
        "source": f"tools/measure_timm.py: timm {timm.__version__}, torch {torch.__version__}, random weights, batch 1",
        "models": {n: measure(n) for n in sys.argv[1:]},
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
