"""Model ops of ``gnnpart._C`` (``csrc/nn/``): CSR aggregation, with its reference.

Dropout lives in :mod:`gnnpart.hashing` (its mask is the hash that the halo exchange's sampling shares).
"""
from __future__ import annotations

import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart


@torch.library.register_fake("gnnpart::spmm_sum")
def _spmm_sum_fake(indptr, indices, x):
    return x.new_empty(indptr.shape[0] - 1, x.shape[1])


def spmm_sum(indptr: torch.Tensor, indices: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out[r] = sum(x[indices[indptr[r]:indptr[r+1]]])`` (not differentiable; see gnnpart.nn.aggregate)."""
    if x.device.type == "cpu":
        return _ops.spmm_sum(indptr, indices, x)
    rows = indptr.numel() - 1
    adj = torch.sparse_csr_tensor(indptr, indices, torch.ones_like(indices, dtype=x.dtype), (rows, x.shape[0]))
    return adj @ x


# plain-PyTorch references (tests compare the ops with them)
def spmm_sum_reference(indptr, indices, x):
    rows = torch.repeat_interleave(torch.arange(indptr.numel() - 1), indptr.diff())
    return torch.zeros(indptr.numel() - 1, x.shape[1], dtype=x.dtype).index_add(0, rows, x[indices])
