"""Each op's declared spatial behaviour (`OpDef.spatial`, `OpDef.fixes_spatial`) against its shape rule.

The torch backend writes sizes as the spec's formulas, but takes a flatten's spatial size and
`in.height` from the graph; it refuses network parameters that reach such a size through the
arguments an op declares in `spatial`, and forgets what came before an op that `fixes_spatial`.
A missing declaration would let the constructor build a module other than `--set` compiles, so
this test derives both from the shape rules themselves: it runs each op's `infer` on every node
of its samples (tests/op_samples.py) with one argument changed, or the input's height and width
changed, and compares the output's height and width.
"""

from __future__ import annotations

import itertools

import pytest

import archspec
from archspec.ops import OPS, OpError
from tests.op_samples import SAMPLES

# Ops that give no channels-first image: flatten and linear give features; permute moves the
# axes (the torch backend follows its channels first or last: lowering.channel_axes).
_NOT_IMAGES = {"flatten", "linear", "permute"}


def _changed(v):
    """Other values of an argument, as a spec might give them (None: left unset, nothing to vary)."""
    if isinstance(v, bool):
        return [not v]
    if isinstance(v, int):
        return [v + 1, v + 2, v * 2]
    if isinstance(v, float):
        return [v * 1.5, v * 2]
    if isinstance(v, tuple) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return [tuple(x + 1 for x in v), tuple(x * 2 for x in v)] + [v[:i] + (v[i] + 1,) + v[i + 1 :] for i in range(len(v))]
    return []


def _spatial(infer, attrs: dict, inputs) -> tuple | None:
    try:
        out = infer(dict(attrs), inputs)
    except (OpError, ValueError, ZeroDivisionError):
        return None  # not a valid call: says nothing either way
    return tuple(out[1:]) if len(out) == 3 else None


def _image_nodes(tmp_path, op: str):
    """(attrs, input shapes) of every node of `op` in its samples that reads a channels-first image."""
    found = []
    for k, (shape, body) in enumerate(SAMPLES[op]):
        if "permute" in body:
            continue
        path = tmp_path / f"{op}{k}.arch"
        path.write_text(f"input {shape}\n\nnetwork n:\n    {body}\n")
        g = archspec.load(path).graph
        for n in g.nodes:
            inputs = [g.nodes[i].shape for i in n.inputs]
            if n.op == op and inputs and len(inputs[0]) == 3 and len(n.shape) == 3:
                found.append((n.attrs, inputs))
    return found


_IMAGE_OPS = sorted(n for n, op in OPS.items() if n in SAMPLES and n not in _NOT_IMAGES and not op.variadic)


@pytest.mark.parametrize("op", _IMAGE_OPS)
def test_spatial_arguments_are_those_the_shape_rule_reads(op, tmp_path):
    """An argument is in `spatial` exactly when changing it changes the output's height or width."""
    definition = OPS[op]
    names = {a.name for a in definition.attrs}
    assert set(definition.spatial) <= names, f"'{op}' declares spatial arguments it does not have"
    moves = set()
    for attrs, inputs in _image_nodes(tmp_path, op):
        before = _spatial(definition.infer, attrs, inputs)
        for arg in names & set(attrs):
            for v in _changed(attrs[arg]):
                after = _spatial(definition.infer, {**attrs, arg: v}, inputs)
                if after is not None and after != before:
                    moves.add(arg)
    undeclared = moves - set(definition.spatial)
    assert not undeclared, f"'{op}': {sorted(undeclared)} change the output's height and width but are not in its `spatial`"
    # `like` names another value: the elaborator turns it into the size it reads (varied above as `size`)
    by_value = {a.name for a in definition.attrs if a.kind.startswith("value")}
    unshown = set(definition.spatial) - moves - by_value
    assert not unshown, f"'{op}': {sorted(unshown)} are declared spatial but no sample shows them changing the output"


@pytest.mark.parametrize("op", _IMAGE_OPS)
def test_fixes_spatial_only_where_the_input_size_does_not_reach_the_output(op, tmp_path):
    """An op that `fixes_spatial` gives the same height and width whatever the input's. (One that
    does but does not say so, like `crop(size=...)`, is safe: the backend only forgets less.)"""
    definition = OPS[op]
    nodes = _image_nodes(tmp_path, op)
    assert nodes, f"'{op}' has no sample on an image"
    for attrs, inputs in nodes:
        before = _spatial(definition.infer, attrs, inputs)
        for dh, dw in itertools.product((0, 3, 8), repeat=2):
            if (dh, dw) == (0, 0):
                continue
            grown = [(s[0], s[1] + dh, s[2] + dw) for s in inputs]
            after = _spatial(definition.infer, attrs, grown)
            if after is not None and after != before:
                assert not definition.fixes_spatial, f"'{op}' declares fixes_spatial, but its output grows with the input ({inputs} -> {grown})"
