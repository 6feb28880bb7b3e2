"""Benchmark the ONNX backend against `torch.onnx.export` of the generated module of the same spec.

For resnet50, mobilenet_v2, googlenet and densenet121, with the same weights in both (the
generated module's state_dict, passed to `archspec.to_onnx(weights=...)`), both at batch 1
and the same opset:

1. Node count: archspec's graph against the exporter's (target: no more nodes). Nodes in
   ONNX local functions are counted too (the dynamo exporter can write them), and so are the
   nodes onnxruntime is left with after its own graph optimisations (for the reading only).
2. File size in bytes: archspec's serialized model against the exporter's files on disk
   (the .onnx file and any external data beside it).
3. onnxruntime CPU latency at batch 1: the same SessionOptions for both (a fixed number of
   threads, ORT_ENABLE_ALL, no spinning threads between runs), runs alternate, medians
   compared (target: ratio within 1.05).

A sanity line per network says how far the two models' outputs are apart on one random
input (and from the torch module's), atol 1e-4. It is a report: it prints PASS/FAIL per
target and exits 0 unless something crashes.

The dynamo exporter (torch.onnx.export's default) needs `onnxscript`: pip install 'archspec[torch,onnx,bench]'.
`--exporter torchscript` uses the legacy exporter (`dynamo=False`, opset <= 20) instead.

`--fold-batchnorm` folds archspec's batch norms into the convs before them, as the exporter's
optimiser does (without it, archspec writes each as its own BatchNormalization node).

    python benchmarks/bench_onnx.py [--rounds 30] [--threads 2] [--opset N] [--exporter dynamo|torchscript] [--fold-batchnorm]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

import archspec
from archspec.backends.onnx.export import newest_opset

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ("resnet50", "mobilenet_v2", "googlenet", "densenet121")
TARGET = 1.05  # onnxruntime latency, archspec's graph / the exporter's
ATOL = 1e-4
TORCHSCRIPT_NEWEST = 20  # the legacy exporter refuses newer opsets


def node_count(model: onnx.ModelProto) -> int:
    """Nodes of the main graph plus those inside its local functions."""
    return len(model.graph.node) + sum(len(f.node) for f in model.functions)


def op_types(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in [*model.graph.node, *(n for f in model.functions for n in f.node)])


def export(module: torch.nn.Module, x: torch.Tensor, folder: Path, opset: int, exporter: str) -> tuple[Path, int]:
    """`torch.onnx.export` into an empty folder: the .onnx path, and the bytes of every file it wrote."""
    path = folder / "model.onnx"
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), opset_version=opset, dynamo=exporter == "dynamo")
    return path, sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def options(threads: int, optimized_to: Path | None = None) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    # the two sessions alternate on few cores: threads left spinning after one's run would take the other's CPU
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_to is not None:
        opts.optimized_model_filepath = str(optimized_to)
    return opts


def session(model: str | bytes, threads: int) -> ort.InferenceSession:
    return ort.InferenceSession(model, options(threads), providers=["CPUExecutionProvider"])


def after_ort(model: str | bytes, threads: int, folder: Path, name: str) -> onnx.ModelProto:
    """The graph onnxruntime runs once it has applied its own fusions (Conv+BatchNorm and so on)."""
    out = folder / f"{name}.ort.onnx"
    ort.InferenceSession(model, options(threads, out), providers=["CPUExecutionProvider"])
    return onnx.load(str(out), load_external_data=False)


def latency(sess: ort.InferenceSession, feed: dict[str, np.ndarray]) -> float:
    start = time.perf_counter()
    sess.run(None, feed)
    return time.perf_counter() - start


def compare(name: str, args: argparse.Namespace, folder: Path) -> dict:
    torch.manual_seed(0)
    module = archspec.build(ROOT / "specs" / f"{name}.arch").eval()
    x = torch.randn(1, *archspec.load(ROOT / "specs" / f"{name}.arch").input_shape)
    ours = archspec.to_onnx(
        ROOT / "specs" / f"{name}.arch", batch=1, opset=args.opset, weights=module.state_dict(), fold_batchnorm=args.fold_batchnorm
    )
    ours_bytes = ours.SerializeToString()
    here = folder / name
    here.mkdir()
    theirs_path, theirs_size = export(module, x, here, args.opset, args.exporter)
    theirs_files = sorted(f.name for f in here.iterdir())
    theirs = onnx.load(str(theirs_path))  # with its external data, if any

    a, b = session(ours_bytes, args.threads), session(str(theirs_path), args.threads)
    feed_a, feed_b = {a.get_inputs()[0].name: x.numpy()}, {b.get_inputs()[0].name: x.numpy()}
    with torch.inference_mode():
        expected = module(x).numpy()
    out_a, out_b = a.run(None, feed_a)[0], b.run(None, feed_b)[0]
    agree = float(np.abs(out_a - out_b).max())
    from_torch = max(float(np.abs(out_a - expected).max()), float(np.abs(out_b - expected).max()))
    scale = float(np.abs(expected).max())

    for _ in range(args.warmup):
        latency(a, feed_a), latency(b, feed_b)
    ta, tb = [], []
    for _ in range(args.rounds):
        ta.append(latency(a, feed_a))
        tb.append(latency(b, feed_b))
    ours_ort = after_ort(ours_bytes, args.threads, here, "ours")
    theirs_ort = after_ort(str(theirs_path), args.threads, here, "theirs")
    return {
        "name": name,
        "nodes": (node_count(ours), node_count(theirs)),
        "functions": len(theirs.functions),
        "files": theirs_files,
        "ort_ops": (op_types(ours_ort), op_types(theirs_ort)),
        "size": (len(ours_bytes), theirs_size),
        "ms": (statistics.median(ta) * 1e3, statistics.median(tb) * 1e3),
        "agree": agree,
        "from_torch": from_torch,
        "scale": scale,
        "ops": (op_types(ours), op_types(theirs)),
        "opsets": (
            {o.domain or "ai.onnx": o.version for o in ours.opset_import},
            {o.domain or "ai.onnx": o.version for o in theirs.opset_import},
        ),
    }


def report(r: dict) -> None:
    (na, nb), (sa, sb), (ma, mb) = r["nodes"], r["size"], r["ms"]
    oa, ob = (sum(c.values()) for c in r["ort_ops"])
    ratio = ma / mb
    nodes_ok = "PASS" if na <= nb else "FAIL"
    lat_ok = "PASS" if ratio <= TARGET else "FAIL"
    print(f"| {r['name']} | {na} / {nb} | {oa} / {ob} | {sa:,} / {sb:,} | {ma:.2f} / {mb:.2f} | {ratio:.3f} | {nodes_ok} | {lat_ok} |")


def differences(ours: Counter, theirs: Counter) -> str:
    """The op types whose counts differ, as `Op ours/exporter's`."""
    diff = [f"{op} {ours[op]}/{theirs[op]}" for op in sorted(set(ours) | set(theirs)) if ours[op] != theirs[op]]
    return ", ".join(diff) or "none"


def details(r: dict) -> None:
    ok = "ok" if r["agree"] <= ATOL and r["from_torch"] <= ATOL else "MISMATCH"
    print(
        f"{r['name']}: outputs: max |ours - exporter's| {r['agree']:.2e}, max |either - torch| {r['from_torch']:.2e}"
        f" (largest |output| {r['scale']:.3g}; atol {ATOL}): {ok}"
    )
    print(
        f"  opsets: ours {r['opsets'][0]}, exporter's {r['opsets'][1]}; local functions in the exporter's: {r['functions']}; its files: {', '.join(r['files'])}"
    )
    print(f"  op types that differ (ours/exporter's): {differences(*r['ops'])}")
    print(f"  after onnxruntime's optimisations: {differences(*r['ort_ops'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads, the same for both")
    parser.add_argument("--opset", type=int, default=None, help="default: archspec's (the newest onnxruntime runs); <= 20 for torchscript")
    parser.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    parser.add_argument("--fold-batchnorm", action="store_true", help="archspec's --fold-batchnorm, as the exporter's optimiser folds them")
    parser.add_argument("networks", nargs="*", default=list(NETWORKS))
    args = parser.parse_args()
    if args.opset is None:
        args.opset = newest_opset() if args.exporter == "dynamo" else min(newest_opset(), TORCHSCRIPT_NEWEST)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    print(
        f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}, "
        f"exporter: torch.onnx.export(dynamo={args.exporter == 'dynamo'}) ({args.exporter}), opset {args.opset}, batch 1, "
        f"{args.threads} onnxruntime threads, ORT_ENABLE_ALL, {args.rounds} alternating rounds"
    )
    with tempfile.TemporaryDirectory() as tmp:
        results = [compare(name, args, Path(tmp)) for name in args.networks]
    print()
    print(
        f"| network | nodes (ours / exporter's) | nodes after onnxruntime's fusions | file bytes | latency ms | ratio | nodes <= | latency <= {TARGET} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        report(r)
    print()
    for r in results:
        details(r)


if __name__ == "__main__":
    main()
