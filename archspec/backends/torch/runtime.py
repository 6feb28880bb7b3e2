"""Running what the torch backend writes: `build` (generated source -> nn.Module) and `verify`.

`build` executes the very source `archspec compile --to torch` writes, so the file on
disk and the in-memory module are one code path. `verify` runs the module and checks it
against the static analysis: every leaf module's output shape (forward hooks), parameter
and buffer counts, and FlopCounterMode's count, which must be exactly 2 * macs.
"""

from __future__ import annotations

import linecache
import sys
import types
from dataclasses import dataclass, field

from archspec.backends.torch.codegen import factory_name, generate
from archspec.cost import layer_costs, total
from archspec.ir import Graph


def source(graph: Graph, spec: str) -> str:
    """The module's source, as `archspec compile --to torch` writes it."""
    return generate(graph, spec)


def build_module(graph: Graph, spec: str, **arguments):
    """Execute the generated source in a fresh module and call its factory (with `arguments`).

    The module is registered (sys.modules, linecache) as an imported file would be, so that
    tracebacks show its lines and `torch.jit.script`, which reads a class's source, works."""
    code = source(graph, spec)
    module = types.ModuleType(f"archspec_generated_{factory_name(spec)}")
    module.__file__ = f"<archspec {spec}>"
    linecache.cache[module.__file__] = (len(code), None, code.splitlines(keepends=True), module.__file__)
    sys.modules[module.__name__] = module
    exec(compile(code, module.__file__, "exec"), module.__dict__)
    return getattr(module, factory_name(spec))(**arguments)


@dataclass
class Check:
    what: str
    expected: object
    measured: object

    @property
    def ok(self) -> bool:
        return self.expected == self.measured


@dataclass
class Verification:
    device: str
    batch: int
    checks: list[Check] = field(default_factory=list)
    layer_mismatches: list[tuple[str, object, object]] = field(default_factory=list)
    layers_checked: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.layer_mismatches


def verify(graph: Graph, spec: str, device: str = "cpu", batch: int = 2) -> Verification:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = build_module(graph, spec).to(device).eval()
    result = Verification(device, batch)
    x = torch.randn(batch, *graph.input_shape, device=device)
    layers = layer_costs(graph)

    expected_shapes = {layer.path: (batch, *layer.output) for layer in layers}
    seen: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, mod in model.named_modules():
        if not name or list(mod.children()) or isinstance(mod, torch.nn.Sequential):
            continue  # containers, also an empty one standing for a member some branch does not build
        if name in expected_shapes:
            hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape))))
        elif name not in graph.scopes:  # a scope built only of calls is a leaf module with no layer of its own
            result.layer_mismatches.append((name, "no such layer in the spec", type(mod).__name__))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model(x)
    for h in hooks:
        h.remove()
    for name, shape in seen.items():
        want = expected_shapes.get(name)
        if want != shape:
            result.layer_mismatches.append((name, want, shape))
    result.layers_checked = len(seen)

    t = total(layers)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    ys = list(y) if isinstance(y, tuple) else [y]  # several outputs come as a NamedTuple
    returns = graph.returns
    if graph.outputs:
        result.checks.append(Check("outputs", [n for n, _ in returns], list(getattr(y, "_fields", ())) or len(ys)))
    result.checks += [
        Check("output shape" + (f" of '{n}'" if graph.outputs else ""), (batch, *graph.nodes[i].shape), tuple(out.shape))
        for (n, i), out in zip(returns, ys)
    ]
    result.checks += [
        Check("params", t.params, params),
        Check("buffers", t.buffers, buffers),
        Check("flops (FlopCounterMode) = 2 * macs", 2 * t.macs * batch, counter.get_total_flops()),
        Check("leaf modules whose output shape matches", len(seen), len(seen) - len(result.layer_mismatches)),
    ]
    model.train()
    model.zero_grad()
    out = model(x)
    loss = sum(o.float().sum() for o in (out if isinstance(out, tuple) else (out,)))
    if loss.requires_grad:  # a network without parameters has nothing to differentiate
        loss.backward()
    grads = sum(1 for p in model.parameters() if p.grad is not None)
    used = _feeding_outputs(graph)  # a layer no output depends on gets no gradient
    # a parameter of a module's own (`layer_scale`) is named as its op's node; others after their module
    expected = sum(1 for n, _ in model.named_parameters() if n in used or n.rpartition(".")[0] in used)
    result.checks.append(Check("parameters with a gradient after backward", expected, grads))
    return result


def _feeding_outputs(graph: Graph) -> set[str]:
    """The paths of the layers some output depends on."""
    seen: set[int] = set()
    todo = [i for _, i in graph.returns]
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(graph.nodes[i].inputs)
    return {graph.nodes[i].path for i in seen}
