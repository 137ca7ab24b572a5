"""The halo exchange overlapped with the inner-source part of the aggregation, forward and backward.

Each rank's in-edges are ordered once, at setup, so that every row lists its inner sources before its halo
sources (:func:`inner_first`). The aggregation ``A (s * [h; halo(h)])`` of a layer then runs in two parts:

* forward: post the halo rows, add each row's inner-source edges while they travel (in chunks of rows, letting MPI
  move the message between chunks), wait, then add the halo-source edges onto the same rows;
* backward: sum the gradients of the halo rows first and post them, add the inner rows' gradients while they
  travel, then add what the owners receive.

Every output element adds its edges in the same order as :func:`gnnpart.nn.kernels.spmm_sum` over the reordered
CSR, so overlapping changes no bit of the result (tested). The time spent posting, blocked and decoding is the
exchange's exposed time (``halo_wait_s``); ``halo_s`` is its span from posting to decoding.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from gnnpart.nn.kernels import spmm_sum_add_

CHUNKS = 8
"""Row chunks of the inner-source product on the CPU; the message in flight is tested between two. (On a GPU the
product is one kernel launch, and the message is tested once, after it.)"""


def inner_first(indptr: np.ndarray, indices: np.ndarray, num_inner: int) -> tuple[np.ndarray, np.ndarray]:
    """The edge order that lists each row's inner sources, then its halo sources (each in CSR order).

    Args:
        indptr (np.ndarray): int64 ``[I + 1]``.
        indices (np.ndarray): int64 ``[E]`` local source ids (``< I``: inner, else halo).
        num_inner (int): ``I``.

    Returns:
        ``(order, split)``: int64 ``[E]``, the old position of each new edge (None when the order is already
        inner-first), and int64 ``[I]``, where each row's halo-source edges begin in the new order.
    """
    halo = indices >= num_inner
    inner_before = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(~halo, out=inner_before[1:])
    split = indptr[:-1] + (inner_before[indptr[1:]] - inner_before[indptr[:-1]])
    rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    rank_inner = inner_before[:-1] - inner_before[indptr[:-1]][rows]  # inner edges before each edge in its row
    new_pos = np.where(halo, split[rows] + (np.arange(len(indices), dtype=np.int64) - indptr[:-1][rows]) - rank_inner,
                       indptr[:-1][rows] + rank_inner)
    del rows, rank_inner, inner_before
    if np.array_equal(new_pos, np.arange(len(indices), dtype=np.int64)):
        return None, split
    order = np.empty_like(new_pos)
    order[new_pos] = np.arange(len(indices), dtype=np.int64)
    return order, split


def add_in_chunks(out, begin, end, indices, x, offset, handle) -> None:
    """``spmm_sum_add_`` over row chunks, testing ``handle`` (a message in flight) between chunks (the same bits
    as one call).

    Args:
        out (torch.Tensor): ``[R, F]``, added into in place.
        begin (torch.Tensor), end (torch.Tensor): int64 ``[R]``, each row's edge range in ``indices``.
        indices (torch.Tensor): int64 ``[E]``, rows of ``x`` (plus ``offset``).
        x (torch.Tensor): ``[N, F]``.
        offset (int): subtracted from every index.
        handle (Handle): the message in flight (``handle.test()`` lets MPI move it).

    Shapes:
        ``[R, F]``, ``[R]``, ``[R]``, ``[E]``, ``[N, F]`` -> ``out``.
    """
    rows = out.shape[0]
    step = max(1, -(-rows // CHUNKS)) if out.device.type == "cpu" else max(rows, 1)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        spmm_sum_add_(out[r0:r1], begin[r0:r1], end[r0:r1], indices, x, offset)
        handle.test()


def count_overlapped(px, span: float, exposed: float) -> None:
    """Count an overlapped exchange's time; a rank that sends and receives no row has no span beyond its calls.

    Args:
        px (PolicyExchange): the exchange (its plan and byte counter).
        span (float): seconds from posting to having the rows or gradients.
        exposed (float): the part of ``span`` spent on the exchange alone.
    """
    plan = px.link.plan
    idle = plan.num_halo == 0 and plan.send_index.numel() == 0
    px.link.stats.add_time(exposed if idle else span, exposed)


class OverlappedAggregate(torch.autograd.Function):
    """``[I, F]`` -> ``[I, F]``: ``A (s * [h; halo(h)])`` with the exchange overlapped (see the module).

    ``apply(h, scale, px, graph, epoch, layer_id)``: ``scale`` is ``[L, 1]`` or None; ``px`` the layer's
    :class:`~gnnpart.comm.PolicyExchange`; ``graph`` the :class:`~gnnpart.nn.LocalGraph`, whose CSR is inner-first,
    and where the phases are recorded for the watchdog (the inner product is computing; the wait is an exchange).
    """

    @staticmethod
    def forward(ctx, h, scale, px, graph, epoch: int, layer_id: int):
        num_inner = graph.num_inner
        if h.dim() != 2 or h.shape[0] != num_inner:
            raise ValueError(f"`h_inner` must be [{num_inner}, F], one row per inner node (got {tuple(h.shape)})")
        width = h.shape[1]
        graph.enter(f"halo exchange of layer {layer_id}")
        px.link.settle(h)  # a GPU's queued work is not the exchange's (see Link.settle)
        t0 = time.perf_counter()
        handle = px.send_rows(h, epoch)
        posted = time.perf_counter()
        graph.enter(f"layer {layer_id}: inner aggregation, the halo rows in flight")
        src = h.detach() if scale is None else h.detach() * scale[:num_inner]
        out = torch.zeros(num_inner, width, dtype=h.dtype, device=h.device)
        add_in_chunks(out, graph.indptr[:-1], graph.halo_split, graph.indices, src.contiguous(), 0, handle)
        graph.enter(f"halo exchange of layer {layer_id}")
        px.link.settle(out)  # the inner aggregation is computation, not the wait
        waiting = time.perf_counter()
        halo = handle.wait()
        landed = time.perf_counter()
        count_overlapped(px, landed - t0, (posted - t0) + (landed - waiting))
        if scale is not None:
            halo = halo * scale[num_inner:]
        spmm_sum_add_(out, graph.halo_split, graph.indptr[1:], graph.indices, halo.contiguous(), num_inner)
        graph.enter(f"layer {layer_id}: computing")
        ctx.px, ctx.graph, ctx.epoch, ctx.transfer = px, graph, epoch, handle.transfer
        ctx.save_for_backward(scale)
        return out

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        px, graph = ctx.px, ctx.graph
        num_inner, num_local, width = graph.num_inner, graph.num_local, grad.shape[1]
        grad = grad.contiguous()
        t_ptr, t_idx = graph.t_indptr, graph.t_indices
        grad_halo = torch.zeros(num_local - num_inner, width, dtype=grad.dtype, device=grad.device)
        spmm_sum_add_(grad_halo, t_ptr[num_inner:-1], t_ptr[num_inner + 1:], t_idx, grad, 0)
        if scale is not None:
            grad_halo *= scale[num_inner:]
        px.link.settle(grad_halo)
        t0 = time.perf_counter()
        handle = px.return_grads(grad_halo, ctx.transfer, ctx.epoch)
        posted = time.perf_counter()
        grad_inner = torch.zeros(num_inner, width, dtype=grad.dtype, device=grad.device)
        add_in_chunks(grad_inner, t_ptr[:num_inner], t_ptr[1:num_inner + 1], t_idx, grad, 0, handle)
        if scale is not None:
            grad_inner *= scale[:num_inner]
        px.link.settle(grad_inner)
        waiting = time.perf_counter()
        handle.wait(grad_inner)
        landed = time.perf_counter()
        count_overlapped(px, landed - t0, (posted - t0) + (landed - waiting))
        return grad_inner, None, None, None, None, None
