"""Rendering analyses as text: tables (rich), JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from archspec import units
from archspec.api import Analysis
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


def rows(a: Analysis, depth: int | None, batch: int = 1) -> list[dict[str, Any]]:
    if depth is None:
        return [
            {
                "path": x.path,
                "op": x.op,
                "output": shape_str(x.output),
                "params": x.cost.params,
                "buffers": x.cost.buffers,
                "macs": x.cost.macs * batch,
            }
            for x in a.layers
        ]
    return [
        {
            "path": g.path,
            "op": f"{g.ops} ops",
            "output": shape_str(g.output),
            "params": g.cost.params,
            "buffers": g.cost.buffers,
            "macs": g.cost.macs * batch,
        }
        for g in a.groups(depth)
    ]


def total_row(a: Analysis, batch: int = 1) -> dict[str, Any]:
    t = a.total
    return {
        "path": "total",
        "op": "",
        "output": outputs_str(a),
        "params": t.params,
        "buffers": t.buffers,
        "macs": t.macs * batch,
    }


def to_json(analyses: list[Analysis], depth: int | None, batch: int, dtype: str | None) -> str:
    docs = [a.to_dict(batch=batch, depth=depth, dtype=dtype) for a in analyses]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1)


def to_csv(analyses: list[Analysis], depth: int | None, batch: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    multi = len(analyses) > 1
    w.writerow((["spec"] if multi else []) + list(COLUMNS))
    for a in analyses:
        for r in rows(a, depth, batch) + [total_row(a, batch)]:
            w.writerow(([a.spec] if multi else []) + [r[c] for c in COLUMNS])
    return buf.getvalue()


def _md_table(header: list[str], body: list[list[str]], right: set[int]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def to_markdown(analyses: list[Analysis], depth: int | None, batch: int) -> str:
    if len(analyses) > 1:
        return _md_table(["metric"] + [a.network for a in analyses], comparison_body(analyses, batch), set(range(1, len(analyses) + 1)))
    a = analyses[0]
    body = [
        [f"`{r['path']}`", r["op"], r["output"], f"{r['params']:,}", f"{r['buffers']:,}", f"{r['macs']:,}"] for r in rows(a, depth, batch)
    ]
    t = total_row(a, batch)
    body.append(["**total**", "", t["output"], f"**{t['params']:,}**", f"**{t['buffers']:,}**", f"**{t['macs']:,}**"])
    return _md_table(list(COLUMNS), body, {3, 4, 5})


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


def print_table(analyses: list[Analysis], depth: int | None, batch: int, console) -> None:
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
    t = total_row(a, batch)
    for col in COLUMNS:
        right = col in ("params", "buffers", "macs")
        footer = f"{t[col]:,}" if right else ("total" if col == "path" else (t["output"] if col == "output" else ""))
        table.add_column(col, justify="right" if right else "left", footer=footer, overflow="fold")
    for r in rows(a, depth, batch):
        table.add_row(r["path"], r["op"], r["output"], f"{r['params']:,}", f"{r['buffers']:,}", f"{r['macs']:,}")
    console.print(table)
    console.print(summary_line(a), highlight=False, soft_wrap=True)
