"""Run the crafted hostile inputs of tests/hostile_cases.py and print what archspec did with each.

    python tools/hostile.py [-k SUBSTRING] [--timeout 10] [--scaled] [-v]

Each case runs `python -m archspec ...` in a fresh folder, under a wall-clock timeout, and is
graded: `pass` (the outcome the case requires, within 2 s of CPU and 1 GB; with --scaled, 2 s
times this machine's speed_factor), or what went wrong:
`traceback`, `hang`, `slow`, `memory`, `unlocated` (an error without file:line:col), `code ran`
(the canary file appeared), `wrong exit`, `clobbered` (an output it must not replace changed).
The test suite (tests/test_hostile.py) asserts the same grades.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import resource
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_cases import Case, cases  # noqa: E402

TIME_LIMIT_S = 2.0
# What a machine's speed is measured by: the start-up every ONNX case pays (importing onnx, most
# of it loading ml_dtypes' compiled extension), timed as CPU like the cases themselves. It took
# 0.78 s on the idle 2-core Xeon where TIME_LIMIT_S was checked; it is none of archspec's work,
# so a slower archspec cannot hide in it.
CALIBRATION = [sys.executable, "-c", "import onnx"]
CALIBRATION_S = 0.78
MEMORY_LIMIT_KB = 1024 * 1024
LOCATED = re.compile(r"^[^\n]*:\d+:\d+: error: ", re.MULTILINE)
# Import a compiled module and call every factory it defines: the generated code runs in full.
IMPORT = """
import importlib.util, inspect, sys
spec = importlib.util.spec_from_file_location("hostile_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for name, f in vars(module).items():
    if inspect.isfunction(f) and f.__module__ == "hostile_module" and not name.startswith("_"):
        if all(p.default is not p.empty for p in inspect.signature(f).parameters.values()):
            f()  # the factories: every argument has the spec's default
"""


@dataclass
class Outcome:
    case: Case
    grade: str
    seconds: float
    rss_kb: int
    rc: int | None
    stderr: str


def _expand(text: str, canary: Path) -> str:
    return text.replace("{canary}", str(canary))


def _prepare(case: Case, folder: Path, canary: Path) -> dict[Path, bytes]:
    """Write the case's files and set-up; return the files that must survive unchanged."""
    for name, text in case.files.items():
        path = folder / _expand(name, canary)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_expand(text, canary))
    kept: dict[Path, bytes] = {}
    if case.setup.startswith("fifo:"):
        os.mkfifo(folder / case.setup[5:])
    elif case.setup.startswith("symlink:"):
        link, target = case.setup[8:].split("->")
        (folder / link).symlink_to(target)
        kept[folder / target] = (folder / target).read_bytes()
    elif case.setup.startswith("readonly:"):
        path = folder / case.setup[9:]
        path.chmod(0o444)
        kept[path] = path.read_bytes()
    return kept


def _run(argv: list[str], cwd: Path, timeout: float, stdin: str | None = None) -> tuple[int | None, str, float, int]:
    """Run a command; return (exit status or None on timeout, stderr, CPU seconds, peak RSS in KiB).

    CPU time, not wall time, is what is graded: the test suite runs these beside other tests,
    and a loaded machine must not turn a pass into `slow`."""
    # Linux hands a child the peak RSS of the process it was spawned from (at exec), so a
    # figure no larger than ours may be ours: then the child's own peak, polled, is used.
    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    own = 0
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        if stdin is not None:
            proc.stdin.write(stdin.encode())
        proc.stdin.close()
        deadline = start + timeout
        status = None
        while time.perf_counter() < deadline:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            own = max(own, _peak_rss_kb(proc.pid))
            time.sleep(0.01)
        else:
            os.killpg(proc.pid, 9)
            _, _, usage = os.wait4(proc.pid, 0)
            status = None
        proc.returncode = 0  # reaped by wait4 above
        seconds = usage.ru_utime + usage.ru_stime
        err.seek(0)
        text = err.read().decode(errors="replace")
    rc = None if status is None else os.waitstatus_to_exitcode(status)
    return rc, text, seconds, usage.ru_maxrss if usage.ru_maxrss > inherited else own


def _peak_rss_kb(pid: int) -> int:
    """The running process's own peak resident set (VmHWM), 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def speed_factor(runs: int = 3) -> float:
    """How many times slower than where TIME_LIMIT_S was set this machine runs now (load
    included): the median CPU seconds of CALIBRATION over CALIBRATION_S; 1.0 without onnx."""
    if importlib.util.find_spec("onnx") is None:
        return 1.0
    with tempfile.TemporaryDirectory() as tmp:
        seconds = sorted(_run(CALIBRATION, Path(tmp), 60.0)[2] for _ in range(runs))
    return seconds[len(seconds) // 2] / CALIBRATION_S


def grade(case: Case, timeout: float = 10.0, time_limit: float = TIME_LIMIT_S) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "work"
        folder.mkdir()
        canary = Path(tmp) / "CANARY"
        kept = _prepare(case, folder, canary)
        argv = [sys.executable, "-m", "archspec", *(_expand(a, canary) for a in case.argv)]
        rc, stderr, seconds, rss = _run(argv, folder, timeout, case.stdin)
        verdict = _verdict(case, rc, stderr, seconds, rss, case.cpu_s or time_limit)
        if verdict == "pass" and case.import_output and rc == 0:
            irc, ierr, _, _ = _run([sys.executable, "-c", IMPORT, str(folder / case.import_output)], folder, 60)
            if irc != 0:
                verdict, stderr = "module broken", ierr
        if canary.exists():
            verdict = "code ran"
        for path, data in kept.items():
            if not path.exists() or path.read_bytes() != data or (case.setup.startswith("readonly:") and path.stat().st_mode & stat.S_IWUSR):
                verdict = "clobbered"
        for path in folder.rglob("*.tmp*"):
            verdict = f"left {path.name}"
        return Outcome(case, verdict, seconds, rss, rc, stderr)


def _verdict(case: Case, rc: int | None, stderr: str, seconds: float, rss: int, time_limit: float) -> str:
    if rc is None:
        return "hang"
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    if rss > MEMORY_LIMIT_KB:
        return "memory"
    if seconds > time_limit:
        return "slow"
    if case.expect == "ok" or (case.expect == "any" and rc == 0):
        return "pass" if rc == 0 else "wrong exit"
    if rc not in (1, 2):
        return "wrong exit"
    if rc == 1 and not (LOCATED.search(stderr) or (not case.located and stderr.startswith("error: "))):
        return "unlocated"
    return "pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only cases whose id contains this")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("-v", action="store_true", help="print the error output of failing cases")
    parser.add_argument("--scaled", action="store_true", help="scale the 2 s limit by this machine's speed (speed_factor)")
    args = parser.parse_args()
    factor = speed_factor()
    print(f"speed factor {factor:.2f} (CPU of `import onnx` over its {CALIBRATION_S} s where the limit was set)")
    limit = TIME_LIMIT_S * max(1.0, factor) if args.scaled else TIME_LIMIT_S
    failed = 0
    for case in cases():
        if args.k not in case.id:
            continue
        o = grade(case, args.timeout, limit)
        failed += o.grade != "pass"
        print(f"{o.grade:12} {o.seconds:6.2f}s {o.rss_kb // 1024:5d}MiB rc={o.rc!s:4} {case.id}")
        if args.v and o.grade != "pass":
            print("    " + "\n    ".join(o.stderr.strip().splitlines()[-6:]))
    print(f"{failed} failing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
