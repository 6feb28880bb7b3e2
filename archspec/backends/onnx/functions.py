"""Blocks as ONNX local functions (`--functions`): each block instance of the flat graph
becomes one call of a `FunctionProto` of its definition.

The spec's block definitions (the IR's `graph.definitions`) say what a block is; the graph's
scopes say which nodes each instance holds. An instance's nodes, with its path taken off every
name (`layer2.0.conv1` -> `conv1`), are its function's body. Instances of one definition whose
bodies have the same ops, wiring and attribute names share one function; an attribute whose
value differs between them (a stride, a kernel size) becomes an attribute of the function,
which each call sets (`ref_attr_name`). Instances that differ in structure (a bottleneck with
a downsample and one without) get a function each: `bottleneck`, `bottleneck_2`. A function
calls the functions of the blocks inside it. The weights stay the graph's initializers, named
by the state_dict keys, and reach each call as inputs. Runtimes inline the calls
(onnxruntime's outputs are bit-identical to the flat graph's); Netron shows each block as
one node to open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from archspec.ir import Graph

DOMAIN = "archspec.blocks"  # the functions' domain: every call's, and the model's import of it


@dataclass
class _Instance:
    """One block instance: its run of the flat order and, once known, its local body."""

    path: str
    block: str
    start: int
    stop: int  # the run is nodes[start:stop]
    children: list[_Instance] = field(default_factory=list)
    ins: list[tuple[str, str]] = field(default_factory=list)  # (formal, actual): values read, then weights
    outs: list[tuple[str, str]] = field(default_factory=list)  # (formal, actual)
    items: list[Any] = field(default_factory=list)  # each body node (a NodeProto) or an inner instance, in order
    local: dict[str, str] = field(default_factory=dict)  # actual name -> the body's name
    group: _Group | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the value of each of its group's attributes (AttributeProto)


@dataclass
class _Group:
    """Instances of one function: one definition, one structure."""

    name: str
    block: str
    instances: list[_Instance]
    attributes: list[str] = field(default_factory=list)  # the function's attributes, those its instances set differently


def as_functions(graph: Graph, nodes: list, initializers: set[str], outputs: set[str], opset: int) -> tuple[list, list]:
    """`nodes` (the flat graph's, in order) with each outermost block instance replaced by a
    call, and the functions the calls need, each after those it calls."""
    tops = _instances(graph, nodes)
    everything = _flatten(tops)
    last_read: dict[str, int] = {}  # each value's last reader, by position (outputs: past the end)
    for k, n in enumerate(nodes):
        for i in n.input:
            last_read[i] = k
    last_read.update({o: len(nodes) for o in outputs})
    for inst in everything:
        _localize(inst, nodes, initializers, last_read)
    groups = _group(everything, set(graph.definitions.blocks))
    for g in groups:  # inner groups first: a call's attributes need the callee's
        _attributes(g)
    functions = [_function(g, graph, opset) for g in groups]
    out: list = []
    k = 0
    for inst in tops:  # in the flat order
        out += nodes[k : inst.start]
        out.append(_call(inst, inst.ins, inst.outs, {a: inst.values[a] for a in inst.group.attributes}, inst.path))  # type: ignore[union-attr]
        k = inst.stop
    out += nodes[k:]
    return out, functions


def _instances(graph: Graph, nodes: list) -> list[_Instance]:
    """The block instances whose nodes are one run of the flat order, nested as their paths are."""
    blocks = {s.path: s.block for s in graph.scopes.values() if s.kind == "block"}
    inside: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        parts = n.name.split(".")
        for d in range(1, len(parts)):
            path = ".".join(parts[:d])
            if path in blocks:
                inside.setdefault(path, []).append(k)
    found = [
        _Instance(path, blocks[path], ks[0], ks[-1] + 1)  # type: ignore[arg-type]
        for path, ks in inside.items()
        if ks[-1] - ks[0] + 1 == len(ks)  # one run of the order; else left flat
    ]
    found.sort(key=lambda i: (i.start, -i.stop))
    tops: list[_Instance] = []
    stack: list[_Instance] = []
    for inst in found:
        while stack and not (stack[-1].start <= inst.start and inst.stop <= stack[-1].stop):
            stack.pop()
        (stack[-1].children if stack else tops).append(inst)
        stack.append(inst)
    return tops


def _flatten(instances: list[_Instance]) -> list[_Instance]:
    return [x for i in instances for x in (*_flatten(i.children), i)]


def _localize(inst: _Instance, nodes: list, initializers: set[str], last_read: dict[str, int]) -> None:
    """Its body's items and names: its path taken off, values read from outside `in:0`, `in:1`
    (no path or label holds ':'), weights by their key without the path."""
    prefix = inst.path + "."
    run = nodes[inst.start : inst.stop]
    made = {o for n in run for o in n.output}

    def rename(v: str) -> str:
        if v not in inst.local:
            inst.local[v] = v[len(prefix) :] if v.startswith(prefix) else v
        return inst.local[v]

    values: list[str] = []
    weights: list[str] = []
    seen: set[str] = set()
    for n in run:
        for i in n.input:
            if i and i not in made and i not in seen:
                seen.add(i)
                (weights if i in initializers else values).append(i)
    for k, v in enumerate(values):
        inst.local[v] = f"in:{k}"
    for n in run:  # a value renamed as a graph output (`output`) keeps its layer's name inside
        if len(n.output) == 1 and not n.output[0].startswith(prefix) and n.name.startswith(prefix):
            inst.local.setdefault(n.output[0], n.name[len(prefix) :])
    inst.ins = [(inst.local[v], v) for v in values] + [(rename(w), w) for w in weights]
    k = inst.start
    children = {c.start: c for c in inst.children}
    while k < inst.stop:
        if k in children:
            inst.items.append(children[k])
            k = children[k].stop
        else:
            inst.items.append(nodes[k])
            k += 1
    for n in run:
        for o in n.output:
            rename(o)
    inst.outs = [(inst.local[o], o) for n in run for o in n.output if last_read.get(o, -1) >= inst.stop]  # read after it


def _structure(inst: _Instance) -> bytes:
    """What two instances of one function share: ops, wiring, attribute names; not their values."""

    parts = [inst.block.encode(), "|".join(f for f, _ in inst.ins).encode(), "|".join(f for f, _ in inst.outs).encode()]
    for item in inst.items:
        if isinstance(item, _Instance):
            ins = [inst.local.get(a, a) for _, a in item.ins]
            outs = [inst.local.get(a, a) for _, a in item.outs]
            parts.append(f"call {id(item.group)} {ins} {outs} {_inner(inst, item.path)}".encode())
        else:
            bare = _local_node(inst, item)
            for a in bare.attribute:
                kind, name = a.type, a.name
                a.Clear()
                a.name, a.type = name, kind
            parts.append(bare.SerializeToString(deterministic=True))
    return b"\0".join(parts)


def _group(instances: list[_Instance], taken: set[str]) -> list[_Group]:
    """Instances by structure, inner blocks' groups first; names `block`, `block_2`, ..."""
    by_key: dict[bytes, _Group] = {}
    counts: dict[str, int] = {}
    names = set(taken)
    for inst in sorted(instances, key=lambda i: -i.path.count(".")):
        key = _structure(inst)
        g = by_key.get(key)
        if g is None:
            counts[inst.block] = counts.get(inst.block, 0) + 1
            name = inst.block if counts[inst.block] == 1 else _free(f"{inst.block}_{counts[inst.block]}", names)
            names.add(name)
            g = by_key[key] = _Group(name, inst.block, [])
        g.instances.append(inst)
        inst.group = g
    return list(by_key.values())


def _slots(inst: _Instance) -> dict[str, Any]:
    """Each attribute an instance sets, by a name of its own: `conv2_strides` for a body node's,
    `block_0_kernel_shape` for what it passes an inner call (that call's attribute)."""
    out: dict[str, Any] = {}
    for item in inst.items:
        if isinstance(item, _Instance):
            for a in item.group.attributes:  # type: ignore[union-attr]
                out[_slot_name(_inner(inst, item.path), a)] = item.values[a]
        else:
            for a in item.attribute:
                out[_slot_name(_inner(inst, item.name), a.name)] = a
    return out


def _attributes(g: _Group) -> None:
    """The group's attributes: the slots whose values differ between its instances; each
    instance's values for them."""
    slots = [_slots(i) for i in g.instances]
    first = slots[0]
    g.attributes = [s for s in first if any(x[s].SerializeToString(deterministic=True) != first[s].SerializeToString(deterministic=True) for x in slots[1:])]
    for inst, s in zip(g.instances, slots):
        inst.values = {a: s[a] for a in g.attributes}


def _function(g: _Group, graph: Graph, opset: int):
    import onnx

    inst = g.instances[0]
    params = set(g.attributes)
    body = []
    for item in inst.items:
        if isinstance(item, _Instance):
            attrs = {}
            for a in item.group.attributes:  # type: ignore[union-attr]
                slot = _slot_name(_inner(inst, item.path), a)
                attrs[a] = _ref(a, slot, item.values[a]) if slot in params else item.values[a]
            ins = [(f, inst.local.get(act, act)) for f, act in item.ins]
            outs = [(f, inst.local[act]) for f, act in item.outs]
            body.append(_call(item, ins, outs, attrs, _inner(inst, item.path)))
        else:
            node = _local_node(inst, item)
            for a in node.attribute:
                slot = _slot_name(node.name, a.name)
                if slot in params:
                    a.CopyFrom(_ref(a.name, slot, a))
            body.append(node)
    d = graph.definitions.blocks.get(g.block)
    where = f" of {d.span.file}:{d.span.line}" if d is not None else ""
    shared = ", ".join(i.path for i in g.instances[:3]) + (f" and {len(g.instances) - 3} more" if len(g.instances) > 3 else "")
    fn = onnx.helper.make_function(
        DOMAIN,
        g.name,
        [f for f, _ in inst.ins],
        [f for f, _ in inst.outs],
        body,
        [onnx.helper.make_opsetid("", opset), onnx.helper.make_opsetid(DOMAIN, 1)],
        attributes=list(g.attributes),
        doc_string=f"The block `{g.block}`{where}: {shared}.",
    )
    return fn


def _call(inst: _Instance, ins, outs, attrs: dict[str, Any], name: str):
    """A node calling `inst`'s function with `attrs` (AttributeProtos, values or references)."""
    import onnx

    node = onnx.helper.make_node(inst.group.name, [a for _, a in ins], [a for _, a in outs], name=name, domain=DOMAIN)  # type: ignore[union-attr]
    for a, value in attrs.items():
        copy = node.attribute.add()
        copy.CopyFrom(value)
        copy.name = a
    return node


def _ref(name: str, slot: str, like) -> Any:
    """An attribute `name` that takes the function's attribute `slot`."""
    import onnx

    a = onnx.AttributeProto()
    a.name, a.type, a.ref_attr_name = name, like.type, slot
    return a


def _slot_name(where: str, attribute: str) -> str:
    return re.sub(r"\W", "_", f"{where}_{attribute}")


def _free(base: str, taken: set[str]) -> str:
    n, k = base, 2
    while n in taken:
        n, k = f"{base}_{k}", k + 1
    return n


def _local_node(inst: _Instance, node):
    """A copy of one of the instance's nodes as its body holds it: every name local."""
    import onnx

    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    copy.input[:] = [inst.local.get(i, i) if i else i for i in node.input]
    copy.output[:] = [inst.local[o] for o in node.output]
    copy.name = _inner(inst, node.name)
    return copy


def _inner(inst: _Instance, path: str) -> str:
    """A path inside the instance as its body names it: without the instance's (`layer2.0.conv1` -> `conv1`)."""
    prefix = inst.path + "."
    return path[len(prefix) :] if path.startswith(prefix) else path
