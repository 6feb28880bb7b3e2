"""The Python API: everything the CLI does, as functions and a result object.

>>> import archspec
>>> net = archspec.load("specs/resnet50.arch", classes=10)
>>> net.output_shape, net.total.params, net.total.macs
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from archspec import units
from archspec.cost import DTYPE_BYTES, Group, LayerCost, Totals, by_depth, layer_costs, total
from archspec.definitions import lower_expr
from archspec.diagnostics import ArchspecError, Diagnostic, Span
from archspec.elaborate import TENSOR_HELP, Limits, elaborate, tensor_limit
from archspec.ir import Graph
from archspec.ir import expr as irx
from archspec.syntax import ast
from archspec.syntax.load import Program, load_program


@dataclass
class Analysis:
    """A spec, elaborated and costed: shapes, per-layer cost, totals."""

    spec: str
    graph: Graph

    @property
    def network(self) -> str:
        return self.graph.name

    @property
    def variant(self) -> str | None:
        """The `variant` it was loaded with (None: the parameters' own defaults)."""
        return self.graph.variant

    @property
    def variants(self) -> tuple[str, ...]:
        """Every variant the spec defines."""
        return self.graph.variants

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.graph.input_shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The (first) output's shape."""
        return self.graph.output_shape

    @property
    def outputs(self) -> list[tuple[str, tuple[int, ...]]]:
        """Each output's name and shape: those `return` names, or [("output", the last value's)]."""
        return [(n, self.graph.nodes[i].shape) for n, i in self.graph.returns]

    @cached_property
    def layers(self) -> list[LayerCost]:
        return layer_costs(self.graph)

    @cached_property
    def total(self) -> Totals:
        return total(self.layers)

    def groups(self, depth: int) -> list[Group]:
        return by_depth(self.layers, depth)

    def __repr__(self) -> str:
        """One line, for a notebook cell or a debugger (the graph itself is thousands of nodes)."""
        t = self.total
        variant = f" {self.variant}" if self.variant else ""
        return (
            f"<Analysis {self.network}{variant} ({self.spec}): {units.shape_str(self.input_shape)} -> {units.outputs_str(self.graph)}, "
            f"{t.params:,} params, {t.macs:,} macs, {len(self.layers)} layers>"
        )

    def _repr_html_(self) -> str:
        """Jupyter's rich view: the summary line and the cost table by top-level scope."""
        from archspec.report import to_html

        return to_html(self)

    def _repr_svg_(self) -> str | None:
        """Jupyter shows the network as its diagram (blocks, folded); None without Graphviz's dot."""
        from archspec.backends.diagram.dot import render

        try:
            return render(diagram(self, detail="blocks"), "svg").decode("utf-8")
        except ArchspecError:
            return None  # Jupyter then shows the text form

    def to_dict(self, batch: int = 1, depth: int | None = None, dtype: str | None = None) -> dict[str, Any]:
        """The JSON form of DESIGN.md: spec, network, input, output, total, layers."""
        t = self.total.as_dict()
        scaled = {k: (v * batch if k in ("macs", "flops", "activations") else v) for k, v in t.items()}
        if dtype:
            scaled["activation_bytes"] = scaled["activations"] * DTYPE_BYTES[dtype]
        d: dict[str, Any] = {
            "spec": self.spec,
            "network": self.network,
            **({"variant": self.variant} if self.variant else {}),
            "input": list(self.input_shape),
            "output": list(self.output_shape),
            "outputs": [{"name": n, "shape": list(shape)} for n, shape in self.outputs],
            "total": scaled,
            "layers": [
                {
                    "path": layer.path,
                    "op": layer.op,
                    "input": [list(s) for s in layer.inputs],
                    "output": list(layer.output),
                    "params": layer.cost.params,
                    "buffers": layer.cost.buffers,
                    "macs": layer.cost.macs * batch,
                    **({"idle": True} if layer.idle else {}),
                }
                for layer in self.layers
            ],
        }
        if batch != 1:
            d["batch"] = batch
        if depth is not None:
            d["groups"] = [
                {
                    "path": g.path,
                    "ops": g.ops,
                    "output": list(g.output),
                    "params": g.cost.params,
                    "buffers": g.cost.buffers,
                    "macs": g.cost.macs * batch,
                }
                for g in self.groups(depth)
            ]
        return d


def parse_value(text: str, what: str = "--set") -> ast.Expr:
    """Parse a `--set` value as the language's own literal syntax."""
    from archspec.syntax.parse import parse_expr

    return parse_expr(text, f"<{what}>")


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse `3x224x224` (or `3,224,224`) into a shape; raises ValueError on anything else."""
    parts = text.lower().replace(",", "x").split("x")
    if not parts or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected CxHxW (e.g. 3x224x224) or F, got {text!r}")
    shape = tuple(int(p) for p in parts)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ValueError(f"expected CxHxW or F with positive sizes, got {text!r}")
    return shape


def load(
    path: str | Path,
    *,
    input: tuple[int, ...] | str | None = None,
    max_layers: int | None = None,
    variant: str | None = None,
    **overrides: Any,
) -> Analysis:
    """Parse, elaborate and cost a spec. `variant` picks one of its `variant` lines; keyword
    arguments override its parameters (over the variant's values).

    Raises `ArchspecError` (with every diagnostic found) for a wrong spec.
    """
    return analyse_program(path, None, input=input, max_layers=max_layers, variant=variant, **overrides)


def loads(
    text: str,
    *,
    name: str = "<string>.arch",
    input: tuple[int, ...] | str | None = None,
    max_layers: int | None = None,
    variant: str | None = None,
    **overrides: Any,
) -> Analysis:
    """`load` for a spec held in a string: `name` is what errors quote (ending in .yaml for the
    YAML form); its imports are read relative to the current folder."""
    return analyse_program(name, load_program(name, text), input=input, max_layers=max_layers, variant=variant, **overrides)


def analyse_program(
    path: str | Path,
    program: Program | None,
    *,
    input: tuple[int, ...] | str | None = None,
    max_layers: int | None = None,
    variant: str | None = None,
    **overrides: Any,
) -> Analysis:
    """`load`, for a program already parsed from `path` (the CLI's `check` reads it first)."""
    exprs: dict[str, irx.Expr] = {}
    for k, v in overrides.items():
        if irx.is_expr(v):
            exprs[k] = v
        elif hasattr(v, "span"):  # a parsed --set value
            exprs[k] = lower_expr(v)
        else:
            exprs[k] = _literal(v)
    if isinstance(input, str):
        try:
            input = parse_shape(input)
        except ValueError as err:
            raise ArchspecError(Diagnostic(f"--input: {err}")) from None
    # the analysis allocates many small objects and frees none of them: a cyclic garbage
    # collection pass over them all, every few thousand nodes, would make it quadratic
    enabled = gc.isenabled()
    gc.disable()
    try:
        program = program or load_program(path)
        limits = Limits(max_layers) if max_layers else Limits()
        analysis = Analysis(str(path), elaborate(program, exprs, input, limits, variant))
        _ = analysis.total  # per-layer costs, computed here too
        _check_weights(analysis, program.sources)
        return analysis
    finally:
        if enabled:
            gc.enable()


def _check_weights(a: Analysis, sources: dict[str, str]) -> None:
    """Refuse a layer whose weights no tensor can hold (`conv(2 ** 40, 3)`), where it is written."""
    for node, layer in zip(a.graph.layers(), a.layers):
        refusal = tensor_limit(f"{layer.op} '{layer.path}'", layer.cost.params, "parameters in one layer")
        if refusal:
            raise ArchspecError(Diagnostic(refusal, node.span, help=TENSOR_HELP), sources)


def _literal(v: Any) -> irx.Expr:
    span = Span("<api>", 1, 1)
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple):
        return irx.TupleOf(tuple(_literal(x) for x in v), span)
    return irx.Const(v, span)


def memory(path: str | Path | Analysis, *, batch: int = 1, dtype: str = "float32", optimizer: str = "adamw", mode: str = "train", device: str = "cuda", **overrides: Any):
    """What a training step holds (`archspec memory`): a `training_memory.Memory` with params,
    gradients, optimizer state, buffers and the activations autograd saves, in bytes; raises
    ArchspecError at an op whose saved tensors are not modelled yet."""
    from archspec.training_memory import NotModelled
    from archspec.training_memory import memory as predict

    a = path if isinstance(path, Analysis) else load(path, **overrides)
    try:
        return predict(a.graph, batch, dtype, optimizer, mode, device)
    except NotModelled as err:
        raise ArchspecError(Diagnostic(err.message, err.node.span, help="docs/memory.md lists the ops it models")) from None


def _need_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModuleNotFoundError(f"archspec.{what} needs PyTorch: pip install 'archspec[torch]'") from None


def build(path: str | Path, *, input: tuple[int, ...] | str | None = None, **overrides: Any):
    """The spec's PyTorch module, built from the same source `archspec compile --to torch` writes."""
    _need_torch("build")
    from archspec.backends.torch.runtime import build_module

    a = load(path, input=input, **overrides)
    return build_module(a.graph, a.spec)


def compile_torch(path: str | Path, *, input: tuple[int, ...] | str | None = None, **overrides: Any) -> str:
    """The generated PyTorch source of a spec, as a string."""
    from archspec.backends.torch.runtime import source

    a = load(path, input=input, **overrides)
    return source(a.graph, a.spec)


def to_onnx(
    path: str | Path | Analysis,
    *,
    opset: int | None = None,
    batch: int | str = "dynamic",
    weights: str | dict | None = None,
    seed: int = 0,
    input: tuple[int, ...] | str | None = None,
    fold_batchnorm: bool = False,
    functions: bool = False,
    **overrides: Any,
):
    """The spec's ONNX model (`onnx.ModelProto`), as `archspec compile --to onnx` writes it.

    `weights`: a state dict (names -> numpy arrays or tensors) or a `.pt`/`.safetensors` path;
    without, a deterministic initialisation from `seed`. `batch`: an int, or "dynamic" (`N`).
    `fold_batchnorm`: batch norms after a conv folded into its weights; `functions`: each block
    instance a call of an ONNX local function of its definition (docs/onnx.md)."""
    from archspec.backends.onnx.export import read_weights, to_model

    a = path if isinstance(path, Analysis) else load(path, input=input, **overrides)
    if isinstance(weights, (str, Path)):
        weights = read_weights(str(weights))
    elif weights is not None:
        weights = {k: (v.detach().float().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    return to_model(
        a.graph, a.spec, opset=opset, batch="N" if batch == "dynamic" else batch, weights=weights, seed=seed, fold_batchnorm=fold_batchnorm, functions=functions
    )


def verify(path: str | Path | Analysis, *, device: str = "cpu", batch: int = 2, **overrides: Any):
    """Build the spec's module and check it against the analysis (see `archspec verify`)."""
    _need_torch("verify")
    from archspec.backends.torch.runtime import verify as run

    a = path if isinstance(path, Analysis) else load(path, **overrides)
    return run(a.graph, a.spec, device=device, batch=batch)


def diagram(
    path: str | Path | Analysis,
    *,
    detail: str = "layers",
    depth: int | None = None,
    rankdir: str = "TB",
    unfold: bool = False,
    input: tuple[int, ...] | str | None = None,
    **overrides: Any,
):
    """The spec's diagram as a `graphviz.Digraph`, as `archspec compile --to dot` writes it:
    `.source` is the DOT text, `.render()`/`.pipe()` draw it, and Jupyter shows it as is."""
    from archspec.backends.diagram.dot import Options
    from archspec.backends.diagram.dot import diagram as draw

    if detail not in ("layers", "blocks") or rankdir not in ("TB", "LR") or (depth is not None and depth < 1):
        raise ValueError("detail is 'layers' or 'blocks', rankdir 'TB' or 'LR', depth a positive int or None")
    a = path if isinstance(path, Analysis) else load(path, input=input, **overrides)
    return draw(a.graph, a.spec, Options(detail, depth, rankdir, unfold))
