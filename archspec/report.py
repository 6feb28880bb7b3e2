"""Rendering analyses as text: tables (rich), JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from archspec import units
from archspec.api import Analysis
from archspec.cost import DTYPE_BYTES
from archspec.units import human, shape_str

FORMATS = ("table", "json", "csv", "markdown")
COLUMNS = ("path", "op", "output", "params", "buffers", "macs")


def outputs_str(a: Analysis) -> str:
    """`1000`, or with several named outputs `1000 (logits), 1000 (aux1)`."""
    return units.outputs_str(a.graph)


def summary_line(a: Analysis) -> str:
    t = a.total
    variant = f" (variant {a.variant})" if a.variant else ""
    return (
        f"{a.spec}: {a.network}{variant}: {shape_str(a.input_shape)} -> {outputs_str(a)}, "
        f"{t.params:,} params, {t.buffers:,} buffers, {t.macs:,} macs ({human(t.macs)}), {len(a.layers)} layers"
    )


def rows(a: Analysis, depth: int | None, batch: int = 1, dtype: str | None = None) -> list[dict[str, Any]]:
    """The table's rows: every layer, or each scope `depth` levels deep; with `dtype`, the bytes
    of each output (`activation_bytes`) too."""
    items = [(x.path, x.shown, x.output, x.cost) for x in a.layers] if depth is None else [(g.path, f"{g.ops} ops", g.output, g.cost) for g in a.groups(depth)]
    out = []
    for path, op, output, c in items:
        row = {"path": path, "op": op, "output": shape_str(output), "params": c.params, "buffers": c.buffers, "macs": c.macs * batch}
        if dtype:
            row["activation_bytes"] = c.activations * batch * DTYPE_BYTES[dtype]
        out.append(row)
    return out


def total_row(a: Analysis, batch: int = 1, dtype: str | None = None) -> dict[str, Any]:
    t = a.total
    row = {"path": "total", "op": "", "output": outputs_str(a), "params": t.params, "buffers": t.buffers, "macs": t.macs * batch}
    if dtype:
        row["activation_bytes"] = t.activations * batch * DTYPE_BYTES[dtype]
    return row


def columns(dtype: str | None) -> tuple[str, ...]:
    return COLUMNS + (("activation_bytes",) if dtype else ())


def to_json(analyses: list[Analysis], depth: int | None, batch: int, dtype: str | None) -> str:
    docs = [a.to_dict(batch=batch, depth=depth, dtype=dtype) for a in analyses]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1)


def to_csv(analyses: list[Analysis], depth: int | None, batch: int, dtype: str | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    multi = len(analyses) > 1
    cols = columns(dtype)
    w.writerow((["spec"] if multi else []) + list(cols))
    for a in analyses:
        for r in rows(a, depth, batch, dtype) + [total_row(a, batch, dtype)]:
            w.writerow(([a.spec] if multi else []) + [r[c] for c in cols])
    return buf.getvalue()


def dicts_to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows of one shape as CSV, a header of their keys (the size and sweep tables)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def md_table(header: list[str], body: list[list[str]], right: set[int]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def to_markdown(analyses: list[Analysis], depth: int | None, batch: int, dtype: str | None = None) -> str:
    if len(analyses) > 1:
        return md_table(["metric"] + [a.network for a in analyses], comparison_body(analyses, batch), set(range(1, len(analyses) + 1)))
    a = analyses[0]
    cols = columns(dtype)
    numbers = cols[3:]
    body = [[f"`{r['path']}`", r["op"], r["output"]] + [f"{r[c]:,}" for c in numbers] for r in rows(a, depth, batch, dtype)]
    t = total_row(a, batch, dtype)
    body.append(["**total**", "", t["output"]] + [f"**{t[c]:,}**" for c in numbers])
    return md_table(list(cols), body, set(range(3, len(cols))))


def comparison_body(analyses: list[Analysis], batch: int) -> list[list[str]]:
    metrics = [
        ("input", lambda a: shape_str(a.input_shape)),
        ("output", outputs_str),
        ("layers", lambda a: f"{len(a.layers):,}"),
        ("params", lambda a: f"{a.total.params:,}"),
        ("buffers", lambda a: f"{a.total.buffers:,}"),
        ("macs", lambda a: f"{a.total.macs * batch:,}"),
        ("flops", lambda a: f"{a.total.flops * batch:,}"),
        ("activations", lambda a: f"{a.total.activations * batch:,}"),
    ]
    return [[name] + [fn(a) for a in analyses] for name, fn in metrics]


LIST_COLUMNS = ("spec", "network", "variant", "input", "output", "params", "macs")


def list_row(a: Analysis) -> dict[str, Any]:
    """One line of `archspec list`: a spec (with one of its variants) and its totals."""
    return {
        "spec": a.spec,
        "network": a.network,
        "variant": a.variant or "",
        "input": shape_str(a.input_shape),
        "output": outputs_str(a),
        "params": a.total.params,
        "macs": a.total.macs,
    }


def print_list(rows_: list[dict[str, Any]], console) -> None:
    from rich.table import Table

    table = Table(title=f"{len(rows_)} networks")
    for col in LIST_COLUMNS:
        table.add_column(col, justify="right" if col in ("params", "macs") else "left", overflow="fold")
    for r in rows_:
        table.add_row(*(f"{r[c]:,}" if c in ("params", "macs") else str(r[c]) for c in LIST_COLUMNS))
    console.print(table)


def print_sweep(analyses: list[Analysis], batch: int, console, dtype: str | None = None, formula=None, spec_input=None) -> None:
    """`archspec cost SPEC --sizes ...`: one row per input size."""
    from rich.table import Table

    a0 = analyses[0]
    table = Table(title=f"{a0.network}{f' {a0.variant}' if a0.variant else ''} ({a0.spec}) by input size" + (f" (batch {batch})" if batch != 1 else ""))
    heads = ["input", "output", "params", "macs", "activations"] + ([f"{dtype} activation bytes"] if dtype else [])
    for h in heads:
        table.add_column(h, justify="left" if h in ("input", "output") else "right")
    for r in sweep_rows(analyses, batch, dtype):
        table.add_row(r["input"], r["output"], f"{r['params']:,}", f"{r['macs']:,}", f"{r['activations']:,}", *([f"{r['activation_bytes']:,}"] if dtype else []))
    console.print(table)
    console.print(formula_line(formula, spec_input), highlight=False, soft_wrap=True)


def sweep_rows(analyses: list[Analysis], batch: int, dtype: str | None = None) -> list[dict[str, Any]]:
    out = []
    for a in analyses:
        t = a.total
        row = {"input": shape_str(a.input_shape), "output": outputs_str(a), "params": t.params, "macs": t.macs * batch, "activations": t.activations * batch}
        if dtype:
            row["activation_bytes"] = t.activations * batch * DTYPE_BYTES[dtype]
        out.append(row)
    return out


def formula_line(formula, shape: tuple[int, ...] | None = None) -> str:
    if formula is None:
        return "macs: no formula in H and W (the network's sizes do not divide evenly, or a layer needs a fixed size)"
    off = shape is not None and len(shape) == 3 and (shape[1] % formula.stride or shape[2] % formula.stride)
    return f"{formula}, one image" + (f"; the spec's input {shape_str(shape)} is not such a size" if off else "")


def to_html(a: Analysis, depth: int = 1) -> str:
    """The cost table by scope (`depth` levels) as HTML, for a notebook: every spec string escaped."""
    from html import escape

    cells = lambda row, tag: "".join(f"<{tag}>{escape(str(v))}</{tag}>" for v in row)  # noqa: E731
    head = cells(COLUMNS, "th")
    body = [cells([r["path"], r["op"], r["output"], f"{r['params']:,}", f"{r['buffers']:,}", f"{r['macs']:,}"], "td") for r in rows(a, depth)]
    t = total_row(a)
    body.append(cells(["total", "", t["output"], f"{t['params']:,}", f"{t['buffers']:,}", f"{t['macs']:,}"], "th"))
    table = "<table><thead><tr>" + head + "</tr></thead><tbody>" + "".join(f"<tr>{r}</tr>" for r in body) + "</tbody></table>"
    return f"<p><code>{escape(summary_line(a))}</code></p>{table}"


def print_table(analyses: list[Analysis], depth: int | None, batch: int, console, dtype: str | None = None) -> None:
    from rich.table import Table

    if len(analyses) > 1:
        table = Table(title="comparison" + (f" (batch {batch})" if batch != 1 else ""))
        table.add_column("metric")
        for a in analyses:
            table.add_column(a.network, justify="right")
        for r in comparison_body(analyses, batch):
            table.add_row(*r)
        console.print(table)
        return
    a = analyses[0]
    table = Table(title=f"{a.network}{f' {a.variant}' if a.variant else ''} ({a.spec})", show_footer=True)
    t = total_row(a, batch, dtype)
    cols = columns(dtype)
    for col in cols:
        right = col in ("params", "buffers", "macs", "activation_bytes")
        footer = f"{t[col]:,}" if right else ("total" if col == "path" else (t["output"] if col == "output" else ""))
        name = f"{dtype} activation bytes" if col == "activation_bytes" else col
        table.add_column(name, justify="right" if right else "left", footer=footer, overflow="fold")
    for r in rows(a, depth, batch, dtype):
        table.add_row(r["path"], r["op"], r["output"], *(f"{r[c]:,}" for c in cols[3:]))
    console.print(table)
    console.print(summary_line(a), highlight=False, soft_wrap=True)
