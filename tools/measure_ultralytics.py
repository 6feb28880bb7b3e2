"""Measure Ultralytics' YOLOv8 at every scale: the independent source of
tests/fixtures/ultralytics_measured.json.

Run it in an environment with ultralytics (not a dependency of archspec):

    python tools/measure_ultralytics.py n s m l x > tests/fixtures/ultralytics_measured.json

For each scale of `yolov8.yaml` (80 classes), as shared/reference/later_figures.json measures
yolov8n: params, buffers (without num_batches_tracked), macs = FlopCounterMode's total / 2 for one
3x640x640 image in training mode (the raw head outputs, no box decoding: Detect's `dfl` does not
run), each output's shape, and the state_dict keys with their shapes, in order.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

import torch
import ultralytics
from torch.utils.flop_counter import FlopCounterMode
from ultralytics.nn.tasks import DetectionModel


def raw_outputs(preds) -> list[torch.Tensor]:
    """Detect's raw outputs per level, `cat(box, cls)` as [N, 4 * reg_max + classes, H, W]: what
    ultralytics 8.3 returns in training mode; 8.4 returns them flattened in a dict (`boxes`,
    `scores`, `feats`), which this undoes."""
    if isinstance(preds, (list, tuple)):
        return list(preds)
    feats, out, start = preds["feats"], [], 0
    for f in feats:
        n, _, h, w = f.shape
        both = torch.cat([preds["boxes"][..., start : start + h * w], preds["scores"][..., start : start + h * w]], 1)
        out.append(both.view(n, -1, h, w))
        start += h * w
    return out


def measure(scale: str) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        model = DetectionModel(f"yolov8{scale}.yaml", verbose=False)
    model.train()
    x = torch.randn(1, 3, 640, 640)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        ys = raw_outputs(model(x))
    return {
        "input": [3, 640, 640],
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")),
        "macs": counter.get_total_flops() // 2,
        "outputs": [list(y.shape[1:]) for y in ys],
        "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
    }


def main() -> None:
    out = {
        "source": f"tools/measure_ultralytics.py: ultralytics {ultralytics.__version__}, torch {torch.__version__}, yolov8.yaml, random weights, batch 1, training mode",
        "models": {f"yolov8{s}": measure(s) for s in sys.argv[1:]},
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
