"""Issue 14: every crafted hostile input (tests/hostile_cases.py) gets a located error or a correct
result, within 2 s and 1 GB, never a traceback, a hang, code run from the spec or a file clobbered."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from archspec.output import OutputError, check_target
from tests.conftest import HAVE_TORCH, ROOT
from tests.hostile_cases import cases
from tools.hostile import TIME_LIMIT_S, grade, speed_factor

HAVE_ONNX = importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None
CASES = [c for c in cases() if "system" not in c.tags]  # writing to /dev/*: checked below without writing
# `python tools/hostile.py` grades at 2 s of CPU on an idle machine; beside the rest of the suite
# (every core busy, caches shared) the same work takes up to a third longer, so the test allows
# 1.5 times that, and more on a machine that is slower still: the limit scales with the machine's
# speed measured in this run (tools.hostile.speed_factor, a start-up that is none of archspec's work)
LOAD_ALLOWANCE = 1.5
# The "linear" cases (tens of thousands of joins) do work in proportion to their size: their
# seconds are the machine's speed (1.5-1.9 s where the limit was set, 5.3 s on an AVX2 machine
# 2.8 times slower), so the suite checks how their time grows (test_many_joins_take_linear_time)
# and only that they end, well inside the grader's 10 s timeout
LINEAR_LIMIT_S = 9.0
LINEAR = [c for c in CASES if "linear" in c.tags]


@functools.cache
def time_limit() -> float:
    """TIME_LIMIT_S on this machine under this run's load, measured once per worker."""
    return TIME_LIMIT_S * max(LOAD_ALLOWANCE, speed_factor())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case):
    if case.import_output and not HAVE_TORCH:
        pytest.skip("importing the compiled module needs torch")
    if "onnx" in case.tags and not HAVE_ONNX:
        pytest.skip("needs onnx (pip install '.[onnx]')")
    outcome = grade(case, time_limit=LINEAR_LIMIT_S if "linear" in case.tags else time_limit())
    assert outcome.grade == "pass", f"{outcome.grade} (rc={outcome.rc}, {outcome.seconds:.2f} s):\n{outcome.stderr[-2000:]}"


@pytest.mark.parametrize("case", LINEAR, ids=[c.id for c in LINEAR])
def test_many_joins_take_linear_time(case):
    """Three times the repeats takes at most 4.5 times the CPU (linear work gives under 3, the
    start-up being the same; quadratic work gives 9)."""
    (count,) = {int(n) for text in case.files.values() for n in re.findall(r"repeat (\d+)", text)}
    third = replace(case, id=case.id + "-third", files={k: v.replace(f"repeat {count}", f"repeat {count // 3}") for k, v in case.files.items()})
    small, big = grade(third, time_limit=LINEAR_LIMIT_S), grade(case, time_limit=LINEAR_LIMIT_S)
    assert small.grade == big.grade == "pass", (small.grade, big.grade)
    assert big.seconds <= 4.5 * small.seconds, f"{count // 3} repeats: {small.seconds:.2f} s of CPU, {count}: {big.seconds:.2f} s"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_devices_are_never_output_targets(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    with pytest.raises(OutputError, match="a device"):
        check_target(Path(device))


def test_the_spec_is_not_its_own_output():
    spec = ROOT / "specs" / "resnet18.arch"
    with pytest.raises(OutputError, match="the spec being compiled"):
        check_target(spec, inputs=(spec,))
