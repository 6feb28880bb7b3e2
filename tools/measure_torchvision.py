"""Measure torchvision's own models: the independent source of tests/fixtures/torchvision_measured.json.

Run it in an environment with torchvision (not a dependency of archspec):

    python tools/measure_torchvision.py > tests/fixtures/torchvision_measured.json
    python tools/measure_torchvision.py efficientnet_b0 ... efficientnet_b7 > tests/fixtures/efficientnet_measured.json

For each model: trainable params, buffers (batch-norm running statistics, without
num_batches_tracked), macs = FlopCounterMode's total / 2, the output shape, and the
state_dict keys with their shapes.
"""

from __future__ import annotations

import json
import sys

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from torchvision import models

MODELS = {
    "alexnet": {},
    "vgg11": {},
    "vgg13": {},
    "vgg16": {},
    "vgg19": {},
    "vgg11_bn": {},
    "vgg13_bn": {},
    "vgg16_bn": {},
    "vgg19_bn": {},
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
    "resnet18": {},
    "resnet34": {},
    "resnet50": {},
    "resnet101": {},
    "resnet152": {},
    "resnext50_32x4d": {},
    "resnext101_32x8d": {},
    "wide_resnet50_2": {},
    "densenet121": {},
    "densenet161": {},
    "densenet169": {},
    "densenet201": {},
    "mobilenet_v2": {},
    "shufflenet_v2_x1_0": {},
    "squeezenet1_0": {},
    "squeezenet1_1": {},
}

# with the auxiliary heads (issue 17): the model function and its arguments; measured in training
# mode, where the heads run, with every output's shape
AUX = {
    "googlenet_aux": ("googlenet", {"aux_logits": True, "init_weights": False}),
    "inception_v3_aux": ("inception_v3", {"aux_logits": True, "init_weights": False}),
}


# EfficientNet's compound-scaled resolutions (Tan & Le 2019, table 1 and section 4); Inception v3's 299
SIZES = {"inception_v3": 299} | {f"efficientnet_b{i}": r for i, r in enumerate((224, 240, 260, 300, 380, 456, 528, 600))}
SIZES |= {"efficientnet_v2_s": 384, "efficientnet_v2_m": 480, "efficientnet_v2_l": 480}  # torchvision's evaluation crops
EFFICIENTNETS = {f"efficientnet_b{i}": {} for i in range(8)}  # measured on their own: efficientnet_measured.json


def measure(name: str, kwargs: dict) -> dict:
    fn, kwargs = AUX[name] if name in AUX else (name, kwargs)
    model = getattr(models, fn)(weights=None, **kwargs).eval()
    size = SIZES.get(fn, 224)
    x = torch.randn(2 if name in AUX else 1, 3, size, size)  # batch 2: batch norm trains on the heads' 1x1 maps
    if name in AUX:
        model.train()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model(x)
    flops = counter.get_total_flops() // x.shape[0]
    out = {
        "input": [3, size, size],
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "buffers": sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")),
        "macs": flops // 2,
        "output": list((y[0] if isinstance(y, tuple) else y).shape[1:]),
        "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
    }
    if isinstance(y, tuple):
        out["outputs"] = {field: list(t.shape[1:]) for field, t in zip(y._fields, y)}
    return out


def main() -> None:
    names = sys.argv[1:] or list(MODELS) + list(AUX)
    out = {
        "source": f"tools/measure_torchvision.py: torchvision {torchvision.__version__}, torch {torch.__version__}, random weights, batch 1",
        "models": {n: measure(n, MODELS.get(n, EFFICIENTNETS.get(n, {}))) for n in names},
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
