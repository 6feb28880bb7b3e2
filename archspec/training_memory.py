"""Memory before training: what autograd keeps for backward, exactly, the bytes of the weights,
their gradients and the optimizer's state, and the peak of a step (`liveness`).

`saved_bytes` walks the graph in execution order with each op's rule of what PyTorch's autograd
saves in a training forward (its derivative formula's saved inputs and outputs; where CUDA and
the CPU differ, in a 16-bit norm's statistics and dropout's mask, `device` picks): a convolution
or linear its input, a batch norm its input and two per-channel statistics, ReLU and sigmoid their
output, a max pool its input and int64 indices, dropout its mask; an add or a concat nothing. A value is one storage: views (flatten, permute, chunk, crop) and in-place
activations share their input's, and a storage saved by two ops counts once, as
`torch.autograd.graph.saved_tensors_hooks` sees it (tests/test_memory*.py compare them). An op
without a rule here is refused by name, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from archspec.cost import DTYPE_BYTES
from archspec.ir import Graph, Node
from archspec.liveness import inference_peak, requires_grad, storages, training_peak

FLOAT32 = 4
INT64 = 8
BOOL = 1


@dataclass(frozen=True)
class Saved:
    """One tensor autograd keeps: a value of the graph (by its storage) or an op's own (`what`)."""

    key: tuple
    nbytes: int
    what: str


class NotModelled(Exception):
    """An op whose saved tensors this module has no rule for."""

    def __init__(self, message: str, node: Node):
        super().__init__(message)
        self.message, self.node = message, node


DEVICES = ("cuda", "cpu")


def saved(g: Graph, batch: int = 1, dtype: str = "float32", device: str = "cuda") -> list[tuple[Node, list[Saved]]]:
    """Per layer, the tensors its training forward saves (before counting shared storages once),
    as PyTorch saves them on `device`: CUDA keeps the statistics of a 16-bit batch or layer norm
    in float32 and dropout's bool mask; the CPU keeps the statistics in the dtype and dropout's
    noise."""
    size = DTYPE_BYTES[dtype]
    stat = FLOAT32 if device == "cuda" else size
    root = storages(g)
    grad = requires_grad(g)
    out: list[tuple[Node, list[Saved]]] = []

    def value(i: int, what: str) -> Saved:  # the whole storage: a view (a chunk, a crop) keeps all of it
        return Saved(("value", root[i]), batch * math.prod(g.nodes[root[i]].shape) * size, what)

    def own(n: Node, name: str, elements: int, itemsize: int | None = None) -> Saved:
        itemsize = {None: size, "stat": stat, "mask": BOOL if device == "cuda" else size}.get(itemsize, itemsize)
        return Saved(("own", n.id, name), elements * itemsize, name)

    for n in g.nodes[1:]:
        rule = RULES.get(n.op)
        if rule is None:
            raise NotModelled(f"memory: what autograd saves for '{n.op}' ({n.path}) is not modelled yet", n)
        ins = list(n.inputs)
        out.append((n, rule(n, ins, grad, value, own, batch) if grad[n.id] else []))
    return out


Rule = Callable[..., list[Saved]]


def _input(n, ins, grad, value, own, batch):
    return [value(ins[0], "input")]


def _result(n, ins, grad, value, own, batch):
    return [value(n.id, "output")]


def _nothing(n, ins, grad, value, own, batch):
    return []


def _batchnorm(n, ins, grad, value, own, batch):
    c = n.attrs["channels"]
    return [value(ins[0], "input"), own(n, "save_mean", c, "stat"), own(n, "save_invstd", c, "stat")]


def _layernorm(n, ins, grad, value, own, batch):
    shape = n.shape
    rows = batch * (math.prod(shape[1:]) if n.attrs["channels_first"] else math.prod(shape[:-1]))
    return [value(ins[0], "input"), own(n, "mean", rows, "stat"), own(n, "rstd", rows, "stat")]


def _maxpool(n, ins, grad, value, own, batch):
    return [value(ins[0], "input"), own(n, "indices", batch * math.prod(n.shape), INT64)]


def _dropout(n, ins, grad, value, own, batch):
    # CUDA's fused kernel (native_dropout) keeps a bool mask; on the CPU `input * noise` keeps the noise
    return [own(n, "mask", batch * math.prod(n.shape), "mask")] if n.attrs["p"] > 0 else []


def _relu6(n, ins, grad, value, own, batch):
    # hardtanh's backward reads its input: out of place it keeps it, in place (relu6_) a copy of it
    # made before it is overwritten; either way a storage no other op keeps
    return [own(n, "input", batch * math.prod(n.shape))]


def _mul(n, ins, grad, value, own, batch):
    # each factor is kept for the other's gradient
    return [value(i, "factor") for k, i in enumerate(ins) if any(grad[j] for m, j in enumerate(ins) if m != k)]


def _lrn(n, ins, grad, value, own, batch):
    # F.local_response_norm: x * x, padded along the channels and averaged (avg_pool3d keeps the
    # padded squares), times alpha plus k to the beta (pow keeps its base), then x / that (div
    # keeps both): the input and three tensors of its own
    c, h, w = n.shape
    size = n.attrs["size"]
    return [
        value(ins[0], "input"),
        own(n, "padded_squares", batch * (c + size - 1) * h * w),
        own(n, "pow_base", batch * c * h * w),
        own(n, "denominator", batch * c * h * w),
    ]


def _pad(n, ins, grad, value, own, batch):
    # zeros (or a constant) need nothing to go back; reflect and replicate read their input
    return [] if n.attrs["mode"] == "constant" else [value(ins[0], "input")]


def _adaptive(n, ins, grad, value, own, batch):
    return [] if n.shape[1:] == (1, 1) else [value(ins[0], "input")]  # to 1x1 PyTorch takes the mean


def _stochastic_depth(n, ins, grad, value, own, batch):
    if n.attrs["p"] == 0:
        return []
    return [own(n, "noise", batch if n.attrs["mode"] == "row" else 1)]  # [N, 1, 1, 1] (row) or [1, 1, 1, 1]: `input * noise` keeps it


RULES: dict[str, Rule] = {
    "conv": _input, "dwconv": _input, "conv_transpose": _input, "linear": _input,
    "batchnorm": _batchnorm, "layernorm": _layernorm, "layer_scale": _input, "lrn": _lrn,
    "relu": _result, "relu6": _relu6, "sigmoid": _result, "tanh": _result, "softmax": _result,
    "hardswish": _input, "hardsigmoid": _input, "silu": _input, "gelu": _input, "leaky_relu": _input,
    "maxpool": _maxpool, "adaptive_maxpool": _maxpool, "global_maxpool": _maxpool, "avgpool": _input, "adaptive_avgpool": _adaptive, "global_avgpool": _nothing,
    "dropout": _dropout, "stochastic_depth": _stochastic_depth,
    "add": _nothing, "concat": _nothing, "mul": _mul, "scale": _nothing,
    "flatten": _nothing, "permute": _nothing, "crop": _nothing, "identity": _nothing, "chunk": _nothing, "channel_shuffle": _nothing,
    "upsample": _nothing, "pixel_shuffle": _nothing, "pad": _pad,
}  # fmt: skip


def saved_bytes(kept: list[tuple[Node, list[Saved]]]) -> tuple[int, dict[str, int]]:
    """The bytes of the unique storages autograd keeps for backward (`saved`'s items; parameters
    and buffers not counted), in total and by the layer that first saves each."""
    seen: set[tuple] = set()
    per_layer: dict[str, int] = {}
    total = 0
    for n, items in kept:
        mine = 0
        for s in items:
            if s.key in seen:
                continue
            seen.add(s.key)
            mine += s.nbytes
        per_layer[n.path] = mine
        total += mine
    return total, per_layer


OPTIMIZERS = {"none": 0, "sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}  # state tensors per parameter


@dataclass(frozen=True)
class Memory:
    """What one training step holds, by the predicted figures (docs/memory.md)."""

    batch: int
    dtype: str
    optimizer: str
    params_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    buffers_bytes: int
    saved_bytes: int
    layers: dict[str, int]
    infer_activations_peak: int  # the inference peak of live activations, by DAG liveness
    train_transient_peak: int = 0  # a step's peak beyond weights, buffers and optimizer state
    device: str = "cuda"

    @property
    def infer_peak_bytes(self) -> int:
        """Inference: the weights and buffers, and the peak of live activations."""
        return self.params_bytes + self.buffers_bytes + self.infer_activations_peak

    @property
    def train_bytes(self) -> int:
        """Weights, gradients, optimizer state, buffers and the activations kept for backward."""
        return self.params_bytes + self.grads_bytes + self.optimizer_bytes + self.buffers_bytes + self.saved_bytes

    @property
    def train_peak_bytes(self) -> int:
        """A training step's peak: the weights, buffers and optimizer state, and the largest of
        the forward's and backward's live tensors (`liveness.training_peak`) and the optimizer
        step's (every gradient, and Adam's one parameter-sized temporary)."""
        return self.params_bytes + self.optimizer_bytes + self.buffers_bytes + self.train_transient_peak


def memory(g: Graph, batch: int = 1, dtype: str = "float32", optimizer: str = "adamw", mode: str = "train", device: str = "cuda") -> Memory:
    """`mode="infer"`: no gradients, optimizer state or saved activations (and no rule needed for them)."""
    from archspec.backends.torch.state_dict import state_dict_shapes
    from archspec.cost import layer_costs, total

    size = DTYPE_BYTES[dtype]
    t = total(layer_costs(g))
    keys = state_dict_shapes(g)
    tracked = sum(1 for k in keys if k.endswith("num_batches_tracked"))  # an int64 scalar each
    tensors = sum(1 for k in keys if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    states = OPTIMIZERS[optimizer]
    # Adam and AdamW keep two moments per parameter and a float32 `step` per parameter tensor
    optimizer_bytes = states * t.params * size + (FLOAT32 * tensors if optimizer in ("adam", "adamw") else 0)
    peak = inference_peak(g, batch, size)
    buffers = t.buffers * size + INT64 * tracked
    if mode == "infer":
        return Memory(batch, dtype, "none", t.params * size, 0, 0, buffers, 0, {}, peak, 0, device)
    kept = saved(g, batch, dtype, device)
    saved_total, layers = saved_bytes(kept)
    # the optimizer step: every gradient, foreach Adam's sqrt of the second moments, the input
    step = t.params * size * (2 if optimizer in ("adam", "adamw") else 1) + batch * math.prod(g.nodes[0].shape) * size
    transient = max(training_peak(g, kept, batch, size), step)
    return Memory(batch, dtype, optimizer, t.params * size, t.params * size, optimizer_bytes, buffers, saved_total, layers, peak, transient, device)


def fit(g: Graph, budget: int, dtype: str = "float32", optimizer: str = "adamw", mode: str = "train", device: str = "cuda") -> int:
    """The largest batch whose predicted peak fits in `budget` bytes (0: not even one): a training
    step's (`train_peak_bytes`), or with `mode="infer"` inference's (`infer_peak_bytes`). Both
    grow with the batch (the input at least), so a doubling and then a bisection find it."""

    def need(batch: int) -> int:
        m = memory(g, batch, dtype, optimizer, mode, device)
        return m.infer_peak_bytes if mode == "infer" else m.train_peak_bytes

    if need(1) > budget:
        return 0
    fits, too_many = 1, 2
    while need(too_many) <= budget:
        fits, too_many = too_many, too_many * 2
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        fits, too_many = (middle, too_many) if need(middle) <= budget else (fits, middle)
    return fits
