"""Shared helpers: fixture data (copied from the reference, see fixtures/README.md) and spec runners."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPECS = ROOT / "specs"

# reference names (torchvision's) that are one variant of a spec: name -> (spec file, variant)
VARIANTS = {f"shufflenet_v2_{v}": ("shufflenet_v2.arch", v) for v in ("x0_5", "x1_0", "x1_5", "x2_0")} | {
    f"efficientnet_b{i}": ("efficientnet.arch", f"b{i}") for i in range(8)
} | {f"mnasnet{a}": ("mnasnet.arch", f"mnasnet{a}") for a in ("0_5", "0_75", "1_0", "1_3")} | {
    name: ("regnet.arch", name)
    for name in [f"regnet_{k}_{s}" for k in "xy" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")] + ["regnet_y_128gf"]
} | {name: ("wide_resnet.arch", name) for name in ("wide_resnet50_2", "wide_resnet101_2")} | {
    f"efficientnet_v2_{v}": ("efficientnet_v2.arch", v) for v in "sml"
} | {f"convnext_{v}": ("convnext.arch", f"convnext_{v}") for v in ("tiny", "small", "base", "large")} | {
    f"xception{d}": ("xception.arch", f"xception{d}") for d in (41, 65, 71)
} | {f"yolov8{s}": ("yolov8.arch", s) for s in "nsmlx"}


def reference_spec(name: str) -> tuple[Path, dict]:
    """The spec file and `load` arguments that reproduce the reference model `name`."""
    if name in VARIANTS:
        spec, variant = VARIANTS[name]
        return SPECS / spec, {"variant": variant}
    return SPECS / f"{name}.arch", {}

# Whether torch is installed, found without importing it: this file and every test module that
# imports no torch must load where it is missing, so that the tests needing none still run there.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="needs torch (pip install '.[torch]')")

# Under pytest-xdist (addopts -n auto) each worker gets its share of the cores for torch's
# threads, here and in the processes the tests start, instead of every worker taking them all.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def torchvision_figures() -> dict:
    return fixture("torchvision_figures.json")["models"]


@pytest.fixture(scope="session")
def torchvision_measured() -> dict:
    return fixture("torchvision_measured.json")["models"]


@pytest.fixture(scope="session")
def seed_figures() -> dict:
    return fixture("seed_figures.json")


@pytest.fixture(scope="session")
def paper_figures() -> dict:
    return fixture("paper_figures.json")


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python -m archspec ARGS` the way a user would, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        input=input,
        timeout=120,
    )


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec file into a temporary folder and return its path."""

    def write(text: str, name: str = "net.arch") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


def heavy_imports(*argv: str) -> list[str]:
    """The torch/onnx modules a fresh process has imported after running `archspec ARGV`."""
    code = (
        "import contextlib, io, sys, archspec.cli\n"
        f"sys.argv = ['archspec', *{list(argv)!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        archspec.cli.run()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxruntime')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.replace("'", '"'))


def verify_or_skip(*args, **kwargs):
    """`torch.runtime.verify(...)`; where torch is not installed, skips the rest of the test
    instead, so the source checks before it still run there."""
    pytest.importorskip("torch")
    from archspec.backends.torch.runtime import verify

    return verify(*args, **kwargs)
