"""YOLOv8 (issue 17): one spec for Ultralytics' five scales, each exact against Ultralytics'
`DetectionModel("yolov8{n,s,m,l,x}.yaml")` (tests/fixtures/ultralytics_measured.json, measured by
tools/measure_ultralytics.py; yolov8n also in later_figures.json): params, buffers, macs at
640x640, the three raw outputs' shapes, and the state_dict keys, shapes and order, so that its
checkpoints load with strict=True. And the language it needed: a `for` among a join's branches,
values named by computed names and named again, `idle` members, `members` order."""

from __future__ import annotations

import json

import pytest

import archspec
from archspec.backends.torch.state_dict import state_dict_shapes
from tests.conftest import FIXTURES, HAVE_TORCH, SPECS, needs_torch, run_cli

MEASURED = json.loads((FIXTURES / "ultralytics_measured.json").read_text())["models"]
SCALES = "nsmlx"


@pytest.fixture(scope="module")
def scales() -> dict:
    return {s: archspec.load(SPECS / "yolov8.arch", variant=s) for s in SCALES}


@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_is_ultralytics_to_the_last_key(scale, scales):
    want, a = MEASURED[f"yolov8{scale}"], scales[scale]
    t = a.total
    assert list(a.input_shape) == want["input"]
    assert (t.params, t.buffers, t.macs) == (want["params"], want["buffers"], want["macs"])
    assert [list(shape) for _, shape in a.outputs] == want["outputs"]
    assert list(state_dict_shapes(a.graph).items()) == [(k, tuple(v)) for k, v in want["state_dict"].items()]


def test_yolov8n_is_the_shared_reference(scales):
    want = json.loads((FIXTURES / "later_figures.json").read_text())["models"]["yolov8n"]
    a = scales["n"]
    assert (a.total.params, a.total.buffers, a.total.macs) == (want["params"], want["buffers"], want["macs"])
    keys = [(k, list(v)) for k, v in state_dict_shapes(a.graph).items() if not k.endswith("num_batches_tracked")]
    assert keys == list(want["state_dict"].items())


@needs_torch
@pytest.mark.parametrize("scale", SCALES)
def test_the_generated_module_loads_ultralytics_keys_strictly(scale):
    """Built on the meta device (no memory): every key Ultralytics' model has, in its order."""
    import torch

    want = MEASURED[f"yolov8{scale}"]["state_dict"]
    with torch.device("meta"):
        model = archspec.build(SPECS / "yolov8.arch", variant=scale)
    assert list(model.state_dict()) == list(want)
    model.load_state_dict({k: torch.empty(v, device="meta") for k, v in want.items()}, strict=True, assign=True)


@needs_torch
def test_the_module_runs_what_the_spec_counts_and_not_the_idle_dfl():
    """`verify` at yolov8n's 640x640: FlopCounterMode's count of the module is 2 x the spec's macs,
    which leave the idle DFL out; the DFL's 16 parameters are in the module, and get no gradient."""
    result = archspec.verify(SPECS / "yolov8.arch", variant="n", batch=1)
    assert result.ok, result
    import torch

    model = archspec.build(SPECS / "yolov8.arch", variant="n")
    dfl = model.get_submodule("model.22.dfl.conv")
    assert dfl.weight.shape == torch.Size([1, 16, 1, 1])
    outs = model(torch.randn(1, 3, 64, 64))
    sum(o.sum() for o in outs).backward()
    assert dfl.weight.grad is None


def test_yolov8_compiles_to_every_backend(tmp_path):
    for to in ("torch", "onnx", "dot"):
        if to == "torch" and not HAVE_TORCH:
            continue
        r = run_cli("compile", "specs/yolov8.arch", "--variant", "n", "--to", to, "-o", str(tmp_path / f"y.{to}"))
        assert r.returncode == 0, r.stderr
