"""The command line: a thin layer over the Python API.

Exit status: 0 fine, 1 the spec (or a value for it) is wrong, 2 the command line is wrong,
70 an internal error (a bug in archspec: reported in one message, without a traceback).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from archspec.api import Analysis, analyse_program, load, parse_shape, parse_value
from archspec.diagnostics import TOO_MANY, ArchspecError
from archspec.elaborate import DEFAULT_MAX_LAYERS
from archspec.syntax import ast


def _stderr_color() -> bool:
    return sys.stderr.isatty()


def _fail(*errors: ArchspecError) -> None:
    """Print every diagnostic of every failed spec, then exit 1."""
    for err in errors:
        click.echo(err.render(color=_stderr_color()), err=True)
    found = [d for err in errors for d in err.diagnostics]
    n = sum(1 for d in found if not d.message.startswith(TOO_MANY))
    if n > 1:
        click.echo(f"{n} errors" + (", and perhaps more" if n < len(found) else ""), err=True)
    sys.exit(1)


def _overrides(values: tuple[str, ...]) -> dict:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        out[key] = _set_value(key, value)
    return out


_BARE_WORD = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _set_value(key: str, value: str):
    """A --set value is a literal of the language; a bare word (1x1, relu) is taken as a string."""
    try:
        expr = parse_value(value, f"--set {key}")
    except ArchspecError as err:
        if _BARE_WORD.match(value.strip()):
            return value.strip()
        raise click.BadParameter(f"{key}: {value!r} is not a literal ({err.message})", param_hint="--set") from None
    if isinstance(expr, ast.Name) and expr.id not in ("true", "false", "none"):
        return expr.id
    return expr


class ShapeParam(click.ParamType):
    name = "CxHxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_shape(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def _spec_options(f):
    f = click.option(
        "--max-layers", type=click.IntRange(min=1), default=DEFAULT_MAX_LAYERS, show_default=True, help="Refuse networks with more layers."
    )(f)
    f = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec parameter (a literal: 10, 0.5, (1, 2), a word; or an expression of literals: 2**3).")(
        f
    )
    f = click.option(
        "--input", "input_shape", type=ShapeParam(), multiple=True, help="Override the input shape, e.g. 3x224x224 (cost: several, a row each)."
    )(f)
    f = click.option("--variant", default=None, metavar="NAME", help="Use the parameters of one of the spec's `variant` lines (--set still overrides them).")(f)
    return f


def _one_input(inputs: tuple) -> tuple[int, ...] | None:
    """The one --input of a command that takes one: given twice, it is an error, not the last one."""
    if len(inputs) > 1:
        raise click.UsageError(f"--input is given {len(inputs)} times: only `archspec cost` takes several (a row per size)")
    return inputs[0] if inputs else None


def analyse(spec: str, input_shape: tuple, sets, max_layers, variant, program=None) -> Analysis:
    """`input_shape`: every --input given (a command that takes one refuses two)."""
    try:
        return analyse_program(spec, program, input=_one_input(input_shape), max_layers=max_layers, variant=variant, **_overrides(sets))
    except ArchspecError as err:
        _fail(err)
        raise  # unreachable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archspec")
def main() -> None:
    """archspec: compile neural-network architecture specs.

    Check shapes, count parameters and multiply-adds, and emit standalone PyTorch modules.
    """


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_spec_options
def check(spec, input_shape, sets, max_layers, variant):
    """Check every shape of SPEC; print its input, output and totals."""
    from archspec.report import summary_line
    from archspec.syntax.load import load_program

    try:
        program = load_program(spec)
    except ArchspecError as err:
        _fail(err)
    main = program.main
    if main.network is None and main.blocks:
        names = ", ".join(b.name for b in main.blocks)
        click.echo(
            f"{spec}: a library of {len(main.blocks)} block(s): {names} (no network; its blocks are checked where a network calls them)"
        )
        return
    a = analyse(spec, input_shape, sets, max_layers, variant, program)
    click.echo(summary_line(a))


@main.command(short_help="Count parameters, buffers and multiply-adds; compare specs.")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Aggregate layers by scope to this depth.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table", show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Scale macs and activations to this batch size.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16", "float64", "int8"]),
    default=None,
    help="Also report the bytes of the activations in this type (a table column, a JSON and CSV field).",
)
@click.option("--sizes", default=None, metavar="START:STOP[:STEP]", help="Square input sizes to compare, e.g. 128:512:32 (a row each, and the macs formula).")
@_spec_options
def cost(specs, depth, fmt, batch, dtype, sizes, input_shape, sets, max_layers, variant):
    """Count parameters, buffers and multiply-adds of one SPEC, or compare several (specs, or with
    several --input / --sizes, input sizes of one spec)."""
    from archspec import report

    if sizes is not None or len(input_shape) > 1:
        return _cost_sizes(specs, fmt, batch, dtype, sizes, input_shape, sets, max_layers, variant)
    analyses = []
    errors: list[ArchspecError] = []
    for spec in specs:
        try:
            analyses.append(load(spec, input=_one_input(input_shape), max_layers=max_layers, variant=variant, **_overrides(sets)))
        except ArchspecError as err:
            errors.append(err)
    if errors:
        _fail(*errors)
    if fmt == "json":
        click.echo(report.to_json(analyses, depth, batch, dtype))
    elif fmt == "csv":
        click.echo(report.to_csv(analyses, depth, batch, dtype), nl=False)
    elif fmt == "markdown":
        click.echo(report.to_markdown(analyses, depth, batch, dtype), nl=False)
    else:
        report.print_table(analyses, depth, batch, _stdout_console(), dtype)


def _stdout_console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)  # piped output is not cut to 80 columns


def _cost_sizes(specs, fmt, batch, dtype, sizes, input_shape, sets, max_layers, variant) -> None:
    """`archspec cost SPEC --sizes 128:512:32` / `--input A --input B`: a row per input size."""
    import json

    from archspec import report
    from archspec.sizes import macs_formula, parse_sizes, sweep
    from archspec.syntax.load import load_program

    if len(specs) != 1:
        raise click.UsageError("several input sizes (--sizes, or --input more than once) compare sizes of one spec, not several specs")
    try:
        squares = parse_sizes(sizes) if sizes is not None else []
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--sizes") from None
    spec = specs[0]
    overrides = _overrides(sets)
    try:
        program = load_program(spec)
        base = analyse_program(spec, program, max_layers=max_layers, variant=variant, **overrides)
        shapes = list(input_shape) + [(base.input_shape[0], s, s) for s in squares]
        analyses = sweep(spec, shapes, program, max_layers=max_layers, variant=variant, **overrides)
    except ArchspecError as err:
        _fail(err)
    formula = macs_formula(spec, base, program, max_layers=max_layers, variant=variant, **overrides)
    rows = report.sweep_rows(analyses, batch, dtype)
    if fmt == "json":
        terms = None if formula is None else {k: str(getattr(formula, k)) for k in ("hw", "h", "w", "const")} | {"stride": formula.stride}
        click.echo(json.dumps({"spec": spec, "network": base.network, "batch": batch, "sizes": rows, "macs_formula": terms}, indent=1))
    elif fmt == "csv":
        click.echo(report.dicts_to_csv(rows), nl=False)
    elif fmt == "markdown":
        cols = list(rows[0])
        body = [[str(r[c]) if c in ("input", "output") else f"{r[c]:,}" for c in cols] for r in rows]
        click.echo(report.md_table(cols, body, set(range(2, len(cols)))) + "\n" + report.formula_line(formula, base.input_shape))
    else:
        report.print_sweep(analyses, batch, _stdout_console(), dtype, formula, base.input_shape)


class BatchParam(click.ParamType):
    name = "N|dynamic"

    def convert(self, value, param, ctx):
        if value in ("dynamic", None) or isinstance(value, int):
            return value
        if str(value).isdigit() and int(value) > 0:
            return int(value)
        self.fail(f"expected a positive int or 'dynamic', got {value!r}", param, ctx)


DIAGRAMS = ("dot", "svg", "png", "pdf")
# which compile options apply to which targets: one given for another target is a usage error
_APPLIES = {
    "opset": ("onnx",), "batch": ("onnx",), "weights": ("onnx",), "seed": ("onnx",), "fold_batchnorm": ("onnx",), "functions": ("onnx",),
    "detail": DIAGRAMS, "depth": DIAGRAMS, "rankdir": DIAGRAMS, "unfold": DIAGRAMS,
}  # fmt: skip


@main.command("compile", short_help="Compile SPEC to a PyTorch module, an ONNX model or a diagram.")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--to", "target", type=click.Choice(["torch", "onnx", *DIAGRAMS]), required=True, help="What to emit: a PyTorch module, an ONNX model, or a diagram.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here (torch, dot, svg: instead of stdout; onnx, png, pdf: default SPEC_NAME.EXT).")
@click.option("--opset", type=click.IntRange(min=13), default=None, help="ONNX opset (default: the newest the installed onnxruntime runs).")
@click.option("--batch", type=BatchParam(), default="dynamic", show_default=True, help="ONNX batch dimension: an int, or dynamic (named N).")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True), default=None, help="ONNX initializers from a .pt/.pth or .safetensors state dict.")
@click.option("--seed", type=int, default=0, show_default=True, help="ONNX: seed of the deterministic initialisation (without --weights).")
@click.option("--fold-batchnorm", is_flag=True, help="ONNX: fold each batch norm after a conv into the conv's weights.")
@click.option("--functions", is_flag=True, help="ONNX: each block instance a call of a local function of its definition.")
@click.option("--detail", type=click.Choice(["layers", "blocks"]), default="layers", show_default=True, help="Diagram: every layer, or each block as one node.")
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Diagram: draw scopes this many levels deep as one node each.")
@click.option("--rankdir", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB", show_default=True, help="Diagram: top to bottom, or left to right.")
@click.option("--unfold", is_flag=True, help="Diagram: draw every block of a run of identical ones (default: once, marked xN).")
@_spec_options
@click.pass_context
def compile_(ctx, spec, target, output, opset, batch, weights, seed, fold_batchnorm, functions, detail, depth, rankdir, unfold, input_shape, sets, max_layers, variant):
    """Compile SPEC into a standalone PyTorch module (a .py file that needs only torch), an ONNX
    model, or a diagram (DOT, or SVG/PNG/PDF drawn by Graphviz)."""
    for name, targets in _APPLIES.items():
        if target not in targets and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError(f"--{name.replace('_', '-')} applies to --to {'|'.join(targets)}, not --to {target}")
    if target == "onnx":
        return _compile_onnx(spec, output, opset, batch, weights, seed, fold_batchnorm, functions, input_shape, sets, max_layers, variant)
    if target in DIAGRAMS:
        return _compile_diagram(spec, target, output, detail, depth, rankdir.upper(), unfold, input_shape, sets, max_layers, variant)
    from archspec.backends.torch.runtime import source

    a = analyse(spec, input_shape, sets, max_layers, variant)
    try:
        text = source(a.graph, a.spec)
    except ArchspecError as err:
        _fail(err)
    if output is None:
        click.echo(text, nl=False)
        return
    _write_output(Path(output), text, spec)


def _compile_diagram(spec, fmt, output, detail, depth, rankdir, unfold, input_shape, sets, max_layers, variant) -> None:
    from archspec.backends.diagram.dot import Options, diagram, render

    a = analyse(spec, input_shape, sets, max_layers, variant)
    path = Path(output) if output else None if fmt in ("dot", "svg") else Path(f"{Path(spec).stem}.{fmt}")
    if path is not None:
        _check_output(path, spec)  # before running dot: a bad path costs no rendering
    try:
        data = render(diagram(a.graph, a.spec, Options(detail, depth, rankdir, unfold)), fmt)
    except ArchspecError as err:
        _fail(err)
    if path is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    _write_output(path, data, spec)
    click.echo(f"{path}: {a.network}, {fmt}, {len(data):,} bytes")


def _compile_onnx(spec, output, opset, batch, weights, seed, fold_batchnorm, functions, input_shape, sets, max_layers, variant) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        click.echo("error: --to onnx needs the onnx package: pip install 'archspec[onnx]'", err=True)
        sys.exit(1)
    from archspec.api import to_onnx
    from archspec.backends.onnx.export import newest_opset, serialize

    a = analyse(spec, input_shape, sets, max_layers, variant)
    if opset is not None and opset > newest_opset():
        click.echo(f"error: --opset {opset}: the installed onnx/onnxruntime run opsets up to {newest_opset()}", err=True)
        sys.exit(2)
    try:
        model = to_onnx(a, opset=opset, batch=batch, weights=weights, seed=seed, fold_batchnorm=fold_batchnorm, functions=functions)
    except ArchspecError as err:
        _fail(err)
    path = Path(output) if output else Path(Path(spec).stem + ".onnx")
    data_path = path.with_name(path.name + ".data")
    nodes, inits, opset_used = len(model.graph.node), len(model.graph.initializer), model.opset_import[0].version
    calls = f" ({len(model.functions)} functions)" if model.functions else ""
    data, external = serialize(model, data_path.name)
    extra = ""
    if external:  # over protobuf's 2 GiB: the weights go beside the model, written first
        _write_output(data_path, external, spec, also=path)
        extra = f", weights in {data_path} ({sum(map(len, external)):,} bytes)"
    try:
        _write_output(path, data, spec)
    except SystemExit:
        if external:
            data_path.unlink(missing_ok=True)  # no half of a model left behind
        raise
    click.echo(f"{path}: {a.network}, {nodes} nodes{calls}, {inits} initializers, opset {opset_used}{extra}")


def _check_output(path: Path, spec: str) -> None:
    from archspec.output import OutputError, check_target

    try:
        check_target(path, inputs=(Path(spec),))
    except OutputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


def _write_output(path: Path, text: str | bytes | list[bytes], spec: str, also: Path | None = None) -> None:
    """Write an output file safely (see archspec/output.py), or exit 1 saying why not; `also`,
    a second file to be written after it, is checked first, so that neither is written alone."""
    from archspec.output import OutputError, check_target, write_atomically

    try:
        if also is not None:
            check_target(also, inputs=(Path(spec),))
        write_atomically(path, text, inputs=(Path(spec),))
    except OutputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


@main.command("verify", short_help="Run SPEC's module (or ONNX model); check it against the analysis.")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--onnx", "onnx_", is_flag=True, help="Run the ONNX model in onnxruntime and compare it with the torch module.")
@_spec_options
def verify_(spec, device, batch, onnx_, input_shape, sets, max_layers, variant):
    """Build SPEC's PyTorch module, run it, and check it against the static analysis (or, with
    --onnx, check the ONNX model against the module)."""
    a = analyse(spec, input_shape, sets, max_layers, variant)
    try:
        import torch
    except ImportError:
        click.echo("error: verify needs PyTorch: pip install 'archspec[torch]'", err=True)
        sys.exit(1)
    if onnx_:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            click.echo("error: verify --onnx needs onnx and onnxruntime: pip install 'archspec[onnx]'", err=True)
            sys.exit(1)
    if device == "cuda":
        if not torch.cuda.is_available():
            click.echo("error: --device cuda: CUDA is not available on this machine", err=True)
            sys.exit(1)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    from rich.console import Console
    from rich.table import Table

    from archspec.backends.torch.runtime import verify

    progress = Console(stderr=True)
    what = f"{'exporting and running' if onnx_ else 'building and running'} {a.network} ({_count(len(a.layers), 'layer')}, batch {batch})"
    if not progress.is_terminal:
        click.echo(f"verify: {what} ...", err=True)  # a log shows what the silent seconds are
    try:
        with progress.status(f"verify: {what}", spinner="dots"):
            result = _verify(a, onnx_, device, batch, verify)
    except ArchspecError as err:
        _fail(err)
    table = Table(title=f"verify {spec} {'with onnxruntime' if onnx_ else 'on ' + device} (batch {batch})")
    for col in ("check", "static", "measured", ""):
        table.add_column(col, justify="right" if col in ("static", "measured") else "left")
    for c in result.checks:
        table.add_row(
            c.what,
            f"{c.expected:,}" if isinstance(c.expected, int) else str(c.expected),
            f"{c.measured:,}" if isinstance(c.measured, int) else str(c.measured),
            "ok" if c.ok else "DIFFERS",
        )
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(table)
    for name, want, got in result.layer_mismatches[:20]:
        click.echo(f"  {name}: static {want}, measured {got}")
    if not result.ok:
        click.echo(f"{spec}: the module differs from the static analysis", err=True)
        sys.exit(1)
    if onnx_:
        click.echo(f"{spec}: the ONNX model computes what the torch module computes (onnxruntime, CPU)")
        return
    n = result.layers_checked
    click.echo(f"{spec}: params, buffers and flops agree on {device}; {_count(n, 'leaf module')} {'gives its static shape' if n == 1 else 'give their static shapes'}")


def _count(n: int, noun: str) -> str:
    """`1 layer`, `12 layers`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _spec_files(paths: tuple[str, ...]) -> list[Path]:
    """The spec files under each path (a folder: its specs, recursively, but no `lib` folder)."""
    from archspec.syntax.load import SPEC_SUFFIXES

    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix in SPEC_SUFFIXES and f.is_file() and "lib" not in f.relative_to(p).parts[:-1])
        elif p.exists():
            found.append(p)
        else:
            raise click.BadParameter(f"{p}: no such file or folder", param_hint="PATHS")
    return found


@main.command("list", short_help="List every spec and variant under PATHS with their totals.")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--max-layers", type=click.IntRange(min=1), default=DEFAULT_MAX_LAYERS, show_default=True, help="Refuse networks with more layers.")
def list_(paths, fmt, max_layers):
    """List every spec under PATHS (default: specs/) with each of its variants and their totals.

    Files of blocks only (libraries) are left out; a spec that fails is reported and the exit
    status is 1."""
    import json

    from archspec import report
    from archspec.syntax.load import load_program

    rows, errors = [], []
    for path in _spec_files(paths or ("specs",)):
        try:
            program = load_program(path)
            if program.main.network is None:
                continue
            variants = [v.name for v in program.main.variants] or [None]
            for variant in variants:
                rows.append(report.list_row(analyse_program(path, program, max_layers=max_layers, variant=variant)))
        except ArchspecError as err:
            errors.append(err)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
    elif rows or not errors:  # not an empty table above the errors of the only spec
        from rich.console import Console

        report.print_list(rows, Console() if sys.stdout.isatty() else Console(width=200))
    if errors:
        _fail(*errors)


def _sweep_values(item: str) -> tuple[str, tuple]:
    """`width=0.5,0.75,1.0` -> ("width", (0.5, 0.75, 1.0)); tuples in parentheses, bare words as strings."""
    from archspec.definitions import lower_expr
    from archspec.expressions import Env, EvalError, evaluate

    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier() or not text.strip():
        raise click.BadParameter(f"expected NAME=V1,V2,..., got {item!r}", param_hint="--set")
    try:
        values = evaluate(lower_expr(parse_value(f"({text},)", f"--set {key}")), Env({}))
    except (ArchspecError, EvalError):
        words = [w.strip() for w in text.split(",")]
        if not all(_BARE_WORD.match(w) for w in words):
            raise click.BadParameter(f"{key}: {text!r} is not a list of literals (10, 0.5, (1, 2), a word)", param_hint="--set") from None
        values = tuple(words)
    return key, values


@main.command(short_help="Cost every combination of some parameters' values (a design sweep).")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, required=True, metavar="NAME=V1,V2,...", help="A parameter and the values to try; several --set: every combination.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Also write a PNG of params against macs, the Pareto front marked (matplotlib: pip install 'archspec[plot]').")
@click.option("--input", "input_shape", type=ShapeParam(), default=None, help="Override the input shape, e.g. 3x224x224.")
@click.option("--variant", default=None, metavar="NAME", help="Start from one of the spec's `variant` lines.")
@click.option("--max-layers", type=click.IntRange(min=1), default=DEFAULT_MAX_LAYERS, show_default=True, help="Refuse networks with more layers.")
def sweep(spec, sets, fmt, plot_path, input_shape, variant, max_layers):
    """Cost every combination of some parameters' values (a design sweep): params, macs,
    activations and the peak of a training step (batch 1, float32, AdamW) of each, and which are
    on the params-macs Pareto front."""
    import json

    from archspec import report
    from archspec import sweep as sweeps
    from archspec.syntax.load import load_program

    choices = dict(_sweep_values(item) for item in sets)
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            click.echo("error: --plot needs matplotlib: pip install 'archspec[plot]'", err=True)
            sys.exit(1)
        _check_output(Path(plot_path), spec)
    try:
        sweeps.combinations(choices)
        program = load_program(spec)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--set") from None
    except ArchspecError as err:
        _fail(err)
    from rich.console import Console
    from rich.progress import Progress

    kw = dict(input=input_shape, max_layers=max_layers, variant=variant)
    with Progress(console=Console(stderr=True), transient=True) as bar:  # drawn on a terminal only
        task = bar.add_task(f"sweep {spec}", total=None)
        points = sweeps.run(spec, choices, program, progress=lambda done, total: bar.update(task, completed=done, total=total), **kw)
    rows = [{**p.values, "output": p.output, "params": p.params, "macs": p.macs, "activations": p.activations, "train_peak_bytes": p.train_peak_bytes, "pareto": p.pareto, "error": p.error} for p in points]
    if fmt == "json":
        click.echo(json.dumps({"spec": spec, "points": rows}, indent=1, default=str))
    elif fmt == "csv":
        click.echo(report.dicts_to_csv(rows), nl=False)
    else:
        from rich.table import Table

        table = Table(title=f"sweep {spec} ({len(points)} combinations)")
        numbers = ("params", "macs", "activations", "train peak, b1")
        for name in [*choices, "output", *numbers, "Pareto"]:
            table.add_column(name, justify="right" if name in numbers else "left")
        for p in points:
            cells = [str(v) for v in p.values.values()]
            if p.error is not None:
                table.add_row(*cells, f"error: {p.error}", "", "", "", "", "")
            else:
                peak = f"{p.train_peak_bytes / 2**20:,.1f} MiB"
                table.add_row(*cells, p.output, f"{p.params:,}", f"{p.macs:,}", f"{p.activations:,}", peak, "*" if p.pareto else "")
        _stdout_console().print(table)
    if plot_path is not None and any(p.error is None for p in points):
        data = sweeps.plot(points, f"{Path(spec).stem}: " + " x ".join(choices))
        _write_output(Path(plot_path), data, spec)
        click.echo(f"{plot_path}: {sum(p.error is None for p in points)} points, {sum(p.pareto for p in points)} on the Pareto front", err=True)
    if any(p.error is not None for p in points):
        sys.exit(1)


class BytesParam(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):
        import re as re_

        m = re_.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*", str(value))
        if not m:
            self.fail(f"expected a size such as 80GiB, 16GB or 1000000, got {value!r}", param, ctx)
        unit = m.group(2) or "B"
        scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]
        return int(float(m.group(1)) * scale)


@main.command("memory", short_help="The bytes one training step of SPEC holds, and its peak.")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True)
@click.option("--optimizer", type=click.Choice(["none", "sgd", "sgd-momentum", "adam", "adamw"]), default="adamw", show_default=True)
@click.option("--mode", type=click.Choice(["train", "infer"]), default="train", show_default=True, help="A training step, or inference (weights, buffers, the peak of live activations).")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True, help="Whose conventions: CUDA keeps 16-bit norms' statistics in float32 and a bool dropout mask.")
@click.option("--fit", "budget", type=BytesParam(), default=None, help="Also give the largest batch whose predicted peak fits in this, e.g. 80GiB.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_spec_options
def memory_(spec, batch, dtype, optimizer, mode, device, budget, fmt, input_shape, sets, max_layers, variant):
    """What one training step of SPEC holds: weights, gradients, optimizer state, buffers, the
    activations autograd saves for backward (exactly, as PyTorch saves them) and the step's peak,
    in bytes."""
    import json

    from archspec.api import memory
    from archspec.training_memory import fit

    a = analyse(spec, input_shape, sets, max_layers, variant)
    try:
        m = memory(a, batch=batch, dtype=dtype, optimizer=optimizer, mode=mode, device=device)
    except ArchspecError as err:
        _fail(err)
    largest = fit(a.graph, budget, dtype, optimizer, mode, device) if budget is not None else None
    if mode == "infer":
        figures = {"params_bytes": m.params_bytes, "buffers_bytes": m.buffers_bytes, "infer_activations_peak_bytes": m.infer_activations_peak, "infer_peak_bytes": m.infer_peak_bytes}
    else:
        figures = {
            "params_bytes": m.params_bytes,
            "grads_bytes": m.grads_bytes,
            "optimizer_bytes": m.optimizer_bytes,
            "buffers_bytes": m.buffers_bytes,
            "saved_bytes": m.saved_bytes,
            "train_bytes": m.train_bytes,
            "train_peak_bytes": m.train_peak_bytes,
            "infer_peak_bytes": m.infer_peak_bytes,
        }
    if fmt == "json":
        doc = {"spec": spec, "network": a.network, "mode": mode, "batch": batch, "dtype": dtype, "device": device, **({"optimizer": optimizer} if mode == "train" else {}), **figures}
        if mode == "train":
            doc["layers"] = [{"path": p, "saved_bytes": b} for p, b in m.layers.items()]
        if budget is not None:
            doc["fit"] = {"budget_bytes": budget, "batch": largest}
        click.echo(json.dumps(doc, indent=1))
        return
    from rich.table import Table

    table = Table(title=f"memory of {a.network} ({spec}), batch {batch}, {dtype}, {device}, " + (optimizer if mode == "train" else "inference"))
    table.add_column("what")
    table.add_column("bytes", justify="right")
    table.add_column("", justify="right")
    names = {"params_bytes": "parameters", "grads_bytes": "gradients", "optimizer_bytes": f"optimizer state ({optimizer})",
             "buffers_bytes": "buffers", "saved_bytes": "activations saved for backward", "train_bytes": "sum of the above",
             "train_peak_bytes": "peak of a training step",
             "infer_peak_bytes": "inference: weights, buffers, peak of live activations",
             "infer_activations_peak_bytes": "peak of live activations"}  # fmt: skip
    if mode == "infer":
        names["infer_peak_bytes"] = "total (inference)"
    for k, v in figures.items():
        table.add_row(names[k], f"{v:,}", f"{v / 2**30:,.2f} GiB" if v >= 2**30 else f"{v / 2**20:,.1f} MiB")
    console = _stdout_console()
    console.print(table)
    if budget is not None:
        by = "inference peak: weights, buffers, live activations" if mode == "infer" else "peak of a training step"
        console.print(f"fits in {budget:,} bytes: batch {largest:,} (by the predicted {by})", highlight=False, soft_wrap=True)


def _verify(a: Analysis, onnx_: bool, device: str, batch: int, verify):
    if onnx_:
        from archspec.backends.onnx.runtime import verify_onnx

        return verify_onnx(a.graph, a.spec, batch=batch)
    return verify(a.graph, a.spec, device=device, batch=batch)


@main.command()
def schema():
    """Print the JSON Schema of the YAML spec form (for editors)."""
    import json

    from archspec.syntax.yaml_form import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def run() -> None:
    """Console-script entry: no Python traceback ever reaches a user."""
    try:
        main(standalone_mode=True)
    except ArchspecError as err:  # pragma: no cover - commands handle their own
        _fail(err)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # a bug in archspec: one clear message, never a traceback (exit 70, EX_SOFTWARE)
        import os

        if os.environ.get("ARCHSPEC_TRACEBACK"):
            raise
        click.echo(f"archspec: internal error: {type(err).__name__}: {err}", err=True)
        click.echo("this is a bug in archspec, not in the spec: please report it with the spec (ARCHSPEC_TRACEBACK=1 shows where)", err=True)
        sys.exit(70)


if __name__ == "__main__":  # pragma: no cover
    run()


__all__ = ["main", "run", "Path"]
