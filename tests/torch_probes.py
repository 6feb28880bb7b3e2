"""Probes of what PyTorch holds, shared by the memory tests: a storage's identity, the storages
autograd saves, and the peak of live tensors. Imports torch: import it where torch is installed."""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def storage_key(t) -> int:
    """A tensor's storage: the storage object itself (meta storages have no data pointer)."""
    return t.untyped_storage()._cdata


def saved_storage_bytes(model, x) -> int:
    """The bytes of the unique storages `torch.autograd.graph.saved_tensors_hooks` sees saved in
    one forward of `model` on `x`, its parameters and buffers left out."""
    own = {storage_key(t) for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):
        if storage_key(t) not in own:
            seen[storage_key(t)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


class LiveTensors(TorchDispatchMode):
    """The peak of the storages alive at once among the tensors aten ops return (each alive until
    its last Python reference, or autograd's, is gone), those in `skip` left out."""

    def __init__(self, skip: set[int]):
        super().__init__()
        self.skip, self.sizes, self.refs = skip, {}, {}
        self.current = self.peak = 0

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if not self.refs[key]:
            self.current -= self.sizes.pop(key)
            del self.refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes() and storage_key(t) not in self.skip:
                key = storage_key(t)
                if key not in self.refs:
                    self.refs[key], self.sizes[key] = 0, t.untyped_storage().nbytes()
                    self.current += self.sizes[key]
                self.refs[key] += 1
                weakref.finalize(t, self._release, key)
        self.peak = max(self.peak, self.current)
        return out
