"""Model ops of ``gnnpart._C`` (``csrc/nn/``): partition-independent dropout and CSR aggregation, with references."""
from __future__ import annotations

import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart

@torch.library.register_fake("gnnpart::hash_dropout")
def _hash_dropout_fake(x, ids, seed, epoch, layer, p):
    return torch.empty_like(x)


@torch.library.register_fake("gnnpart::spmm_sum")
def _spmm_sum_fake(indptr, indices, x):
    return x.new_empty(indptr.shape[0] - 1, x.shape[1])


def _hash_dropout_setup(ctx, inputs, output):
    _, ids, seed, epoch, layer, p = inputs
    ctx.save_for_backward(ids)
    ctx.args = (seed, epoch, layer, p)


def _hash_dropout_backward(ctx, grad):
    (ids,) = ctx.saved_tensors
    return _ops.hash_dropout(grad.contiguous(), ids, *ctx.args), None, None, None, None, None


torch.library.register_autograd("gnnpart::hash_dropout", _hash_dropout_backward, setup_context=_hash_dropout_setup)


def hash_dropout(x: torch.Tensor, ids: torch.Tensor, seed: int, epoch: int, layer: int, p: float) -> torch.Tensor:
    """Dropout with a mask hashed from (seed, epoch, layer, ids[row], channel); differentiable in ``x``."""
    if p == 0.0:
        return x
    return _ops.hash_dropout(x, ids, int(seed), int(epoch), int(layer), float(p))


def spmm_sum(indptr: torch.Tensor, indices: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out[r] = sum(x[indices[indptr[r]:indptr[r+1]]])`` (not differentiable; see gnnpart.nn.aggregate)."""
    if x.device.type == "cpu":
        return _ops.spmm_sum(indptr, indices, x)
    rows = indptr.numel() - 1
    adj = torch.sparse_csr_tensor(indptr, indices, torch.ones_like(indices, dtype=x.dtype), (rows, x.shape[0]))
    return adj @ x



# plain-PyTorch references (tests compare the ops with them)
def hash_dropout_reference(x, ids, seed, epoch, layer, p):
    """The same hash in Python integers (slow; for tests)."""
    mask64 = (1 << 64) - 1

    def mix(z):
        z = (z + 0x9E3779B97F4A7C15) & mask64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask64
        return z ^ (z >> 31)

    stream = mix(mix(mix(seed & mask64) ^ (epoch & mask64)) ^ (layer & mask64))
    threshold = int(p * 65536.0 + 0.5)
    keep = torch.zeros(x.shape, dtype=torch.bool)
    for r, gid in enumerate(ids.tolist()):
        key = mix(stream ^ (gid & mask64))
        for c in range(x.shape[1]):
            bits = mix((key + (c // 4) * 0xD1B54A32D192ED03) & mask64)
            keep[r, c] = ((bits >> (16 * (c % 4))) & 0xFFFF) >= threshold
    return torch.where(keep, x / (1 - p), torch.zeros_like(x))


def spmm_sum_reference(indptr, indices, x):
    rows = torch.repeat_interleave(torch.arange(indptr.numel() - 1), indptr.diff())
    return torch.zeros(indptr.numel() - 1, x.shape[1], dtype=x.dtype).index_add(0, rows, x[indices])
