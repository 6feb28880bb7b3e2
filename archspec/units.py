"""Numbers and shapes as people read them: 1.82G, 64x56x56, `1000 (fc), 1000 (aux1)` (tables,
diagrams, the generated file's header)."""

from __future__ import annotations


def human(n: int, unit: str = "") -> str:
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            return f"{n / size:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape)


def outputs_str(graph) -> str:
    """A graph's outputs: `1000`, or with several named ones `1000 (fc), 1000 (aux1)`."""
    if not graph.outputs:
        return shape_str(graph.output_shape)
    return ", ".join(f"{shape_str(graph.nodes[i].shape)} ({name})" for name, i in graph.outputs)
