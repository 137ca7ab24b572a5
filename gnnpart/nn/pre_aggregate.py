"""A sum-like layer's aggregation with partial sums: ``A (s * [h; halo(h)])`` along a
:class:`~gnnpart.comm.sum_plan.SumPlan`.

Forward, on every rank at once:

1. scale the inner rows (``hs = s * h``) and compute the partial sums this rank sends (``P = C hs``, a CSR of its
   cut edges that the plan assigns to partial sums);
2. post ``[hs[kept]; P]`` (the rows it sends as rows, then its partial sums) through the layer's exchange on the
   augmented plan (every codec, ``delta`` and ``stale``
   compose: a partial sum travels as a row does);
3. add each row's inner-source edges while the message travels (as :mod:`gnnpart.nn.overlap` does);
4. wait, then add the received block into the targets: kept rows along their edges, each partial sum into its
   target.

Backward mirrors it: the block's gradients (each kept row's summed over its edges, each partial sum's its target's)
go back to the senders, which add a row's into its owner's gradient and spread a partial sum's over its sources
with the same scale (through ``C``'s transpose, by autograd); the inner edges' gradients are added while they
travel. The sums are the ones rows give, added in another order: equal to today's exchange within rounding.
"""
from __future__ import annotations

import time

import torch

from gnnpart.nn.kernels import spmm_sum, spmm_sum_add_
from gnnpart.nn.overlap import add_in_chunks, count_overlapped


def pre_aggregate(h: torch.Tensor, scale: torch.Tensor | None, px, graph, epoch: int, layer_id: int) -> torch.Tensor:
    """``[I, F]`` -> ``[I, F]``: the sum over each inner node's in-edges of ``scale * h``, halo included, with the
    cut carried by rows and partial sums (see the module). Differentiable in ``h``.

    Args:
        h (torch.Tensor): ``[I, F]`` this rank's rows.
        scale (torch.Tensor | None): ``[L, 1]`` a factor per local row (only the inner rows' are used: a partial
            sum is scaled by its sources' owner).
        px (PolicyExchange): the layer's exchange on ``graph.sums.plan``.
        graph (LocalGraph): the rank's graph (its CSR inner-first, its :attr:`~gnnpart.nn.LocalGraph.sums`).
        epoch (int), layer_id (int): the epoch (keys the exchange's draws) and the calling layer.
    """
    num_inner = graph.num_inner
    if h.dim() != 2 or h.shape[0] != num_inner:
        raise ValueError(f"`h_inner` must be [{num_inner}, F], one row per inner node (got {tuple(h.shape)})")
    sums = graph.sums
    hs = h if scale is None else h * scale[:num_inner]
    rows = hs[sums.kept]  # the rows it sends as rows, then its partial sums
    if sums.num_sums:
        partial = spmm_sum(sums.sum_indptr, sums.sum_indices, hs.contiguous(), sums.sum_t_indptr, sums.sum_t_indices)
        rows = torch.cat([rows, partial])
    return _PreAggregate.apply(hs, rows, px, graph, int(epoch), layer_id)


class _PreAggregate(torch.autograd.Function):
    """``(hs [I, F], rows [R + M, F])`` -> ``[I, F]``: the inner edges of ``hs`` plus the received block."""

    @staticmethod
    def forward(ctx, hs, rows, px, graph, epoch: int, layer_id: int):
        sums = graph.sums
        num_inner, width = graph.num_inner, hs.shape[1]
        graph.enter(f"halo exchange of layer {layer_id}")
        px.link.settle(rows)
        t0 = time.perf_counter()
        handle = px.send_rows(rows, epoch)
        posted = time.perf_counter()
        out = torch.zeros(num_inner, width, dtype=hs.dtype, device=hs.device)
        if graph.overlap:
            graph.enter(f"layer {layer_id}: inner aggregation, the halo rows and partial sums in flight")
            add_in_chunks(out, graph.indptr[:-1], graph.halo_split, graph.indices, hs.detach().contiguous(), 0, handle)
            graph.enter(f"halo exchange of layer {layer_id}")
            px.link.settle(out)
        waiting = time.perf_counter()
        block = handle.wait()
        landed = time.perf_counter()
        count_overlapped(px, landed - t0, (posted - t0) + (landed - waiting))
        if not graph.overlap:
            graph.enter(f"layer {layer_id}: computing")
            spmm_sum_add_(out, graph.indptr[:-1], graph.halo_split, graph.indices, hs.detach().contiguous(), 0)
        spmm_sum_add_(out, sums.recv_indptr[:-1], sums.recv_indptr[1:], sums.recv_indices, block.contiguous(), 0)
        graph.enter(f"layer {layer_id}: computing")
        ctx.px, ctx.graph, ctx.epoch, ctx.transfer = px, graph, epoch, handle.transfer
        ctx.num_rows = rows.shape[0]
        return out

    @staticmethod
    def backward(ctx, grad):
        px, graph, sums = ctx.px, ctx.graph, ctx.graph.sums
        num_inner, width = graph.num_inner, grad.shape[1]
        grad = grad.contiguous()
        block = sums.plan.num_halo
        grad_block = torch.zeros(block, width, dtype=grad.dtype, device=grad.device)
        spmm_sum_add_(grad_block, sums.recv_t_indptr[:-1], sums.recv_t_indptr[1:], sums.recv_t_indices, grad, 0)
        px.link.settle(grad_block)
        t0 = time.perf_counter()
        handle = px.return_grads(grad_block, ctx.transfer, ctx.epoch)
        posted = time.perf_counter()
        t_ptr, t_idx = graph.t_indptr, graph.t_indices
        grad_hs = torch.zeros(num_inner, width, dtype=grad.dtype, device=grad.device)
        if graph.overlap:
            add_in_chunks(grad_hs, t_ptr[:num_inner], t_ptr[1:num_inner + 1], t_idx, grad, 0, handle)
            px.link.settle(grad_hs)
        grad_rows = torch.zeros(ctx.num_rows, width, dtype=grad.dtype, device=grad.device)
        waiting = time.perf_counter()
        handle.wait(grad_rows)
        landed = time.perf_counter()
        count_overlapped(px, landed - t0, (posted - t0) + (landed - waiting))
        if not graph.overlap:
            spmm_sum_add_(grad_hs, t_ptr[:num_inner], t_ptr[1:num_inner + 1], t_idx, grad, 0)
        return grad_hs, grad_rows, None, None, None, None
