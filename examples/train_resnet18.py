"""Compile specs/resnet18.arch to PyTorch, import the generated module, train it a few steps.

    python examples/train_resnet18.py [--steps 5] [--classes 10] [--size 64]

The generated file (written to a temporary folder here) needs nothing but torch: it is
what `archspec compile specs/resnet18.arch --to torch -o resnet18.py` writes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import torch

import archspec

SPEC = Path(__file__).resolve().parent.parent / "specs" / "resnet18.arch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--size", type=int, default=64, help="input height and width")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet18.py"
        path.write_text(archspec.compile_torch(SPEC, input=(3, args.size, args.size)))
        spec = importlib.util.spec_from_file_location("resnet18", path)
        generated = importlib.util.module_from_spec(spec)
        sys.modules["resnet18"] = generated
        spec.loader.exec_module(generated)

    torch.manual_seed(0)
    model = generated.resnet18(classes=args.classes)  # `classes` only sets sizes: a constructor argument
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images = torch.randn(16, 3, args.size, args.size)
    labels = torch.randint(0, args.classes, (16,))
    model.train()
    for step in range(1, args.steps + 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
