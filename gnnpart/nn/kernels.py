"""Model ops of ``gnnpart._C`` (``csrc/nn/``): CSR aggregation, its autograd, and its reference.

``spmm_sum`` has a CPU and a CUDA kernel with the same checks; both add each row's neighbours in CSR order, so
results do not depend on the device or its thread layout (the order is the CSR's: a rank's lists its inner sources
first, see :mod:`gnnpart.nn.overlap`). Its backward pass is the same product over the transposed CSR, registered
with ``torch.library.register_autograd``.

Dropout lives in :mod:`gnnpart.hashing` (its mask is the hash that the halo exchange's sampling shares).
"""
from __future__ import annotations

import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart


@torch.library.register_fake("gnnpart::spmm_sum")
def _spmm_sum_fake(indptr, indices, x, t_indptr=None, t_indices=None):
    return x.new_empty(indptr.shape[0] - 1, x.shape[1])


def _spmm_sum_setup(ctx, inputs, output):
    _, _, x, t_indptr, t_indices = inputs
    ctx.cols = x.shape[0]
    ctx.transposed = (t_indptr, t_indices)


def _spmm_sum_backward(ctx, grad):
    t_indptr, t_indices = ctx.transposed
    if t_indptr is None or t_indices is None:
        raise RuntimeError("spmm_sum: its backward pass needs the transposed CSR: pass `t_indptr` and `t_indices`")
    if t_indptr.shape[0] - 1 != ctx.cols:
        raise RuntimeError(f"spmm_sum: `t_indptr` must have one row per row of `x` ({ctx.cols}), "
                           f"got {t_indptr.shape[0] - 1}")
    return None, None, _ops.spmm_sum(t_indptr, t_indices, grad.contiguous()), None, None


torch.library.register_autograd("gnnpart::spmm_sum", _spmm_sum_backward, setup_context=_spmm_sum_setup)


def spmm_sum(indptr: torch.Tensor, indices: torch.Tensor, x: torch.Tensor, t_indptr: torch.Tensor | None = None,
             t_indices: torch.Tensor | None = None) -> torch.Tensor:
    """``out[r] = sum(x[indices[indptr[r]:indptr[r+1]]])``, added in CSR order, on ``x``'s device.

    Differentiable in ``x`` when the transposed CSR is given (``t_indptr``, ``t_indices``: the same edges by
    source row); the gradient is ``spmm_sum(t_indptr, t_indices, grad)``.

    Args:
        indptr (torch.Tensor): int64 ``[R + 1]``, from 0 to ``E``.
        indices (torch.Tensor): int64 ``[E]``, rows of ``x``.
        x (torch.Tensor): float32/float64 ``[N, F]``.
        t_indptr (torch.Tensor, optional), t_indices (torch.Tensor, optional): int64 ``[N + 1]`` / ``[E]``.

    Shapes:
        ``[R + 1]``, ``[E]``, ``[N, F]`` -> ``[R, F]``.
    """
    return _ops.spmm_sum(indptr, indices, x, t_indptr, t_indices)


def spmm_sum_add_(out: torch.Tensor, begin: torch.Tensor, end: torch.Tensor, indices: torch.Tensor, x: torch.Tensor,
                  offset: int = 0) -> torch.Tensor:
    """``out[r] += x[indices[e] - offset]`` for ``e`` in ``begin[r] .. end[r] - 1``, in that order, in place.

    Each element starts from ``out``'s value and adds the row's edges in order, so adding a row's edges in two
    calls over consecutive ranges gives the bits of one call over both (the overlapped aggregation,
    :mod:`gnnpart.nn.overlap`, relies on it). Not differentiable.

    Args:
        out (torch.Tensor): contiguous ``[R, F]`` of ``x``'s dtype (a row slice of a contiguous tensor works).
        begin (torch.Tensor), end (torch.Tensor): int64 ``[R]``, each row's edge range in ``indices``.
        indices (torch.Tensor): int64 ``[E]``; the range's entries minus ``offset`` are rows of ``x``.
        x (torch.Tensor): float32/float64 ``[N, F]``.
        offset (int): subtracted from every index (default 0).

    Shapes:
        ``[R, F]``, ``[R]``, ``[R]``, ``[E]``, ``[N, F]`` -> ``out``.
    """
    _ops.spmm_sum_add_(out, begin, end, indices, x, int(offset))
    return out


# plain-PyTorch references (tests compare the ops with them)
def spmm_sum_reference(indptr, indices, x, t_indptr=None, t_indices=None):
    """:func:`spmm_sum` in plain PyTorch (differentiable in ``x``)."""
    rows = torch.repeat_interleave(torch.arange(indptr.numel() - 1, device=x.device), indptr.diff())
    return torch.zeros(indptr.numel() - 1, x.shape[1], dtype=x.dtype, device=x.device).index_add(0, rows, x[indices])


def spmm_sum_add_reference(out, begin, end, indices, x, offset=0):
    """:func:`spmm_sum_add_` in plain PyTorch: a loop over rows and edges, adding in the same order (in place)."""
    for r in range(out.shape[0]):
        for e in range(int(begin[r]), int(end[r])):
            out[r] += x[int(indices[e]) - offset]
    return out
