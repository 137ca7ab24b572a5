"""Pre-aggregation's plan: per pair of ranks, which boundary rows go as rows and which targets get a partial sum.

For a layer whose aggregation is a sum ``h_t = sum_s w_s x_s`` (GCN, GraphSAGE-mean, GIN), rank ``p`` can send a
target ``t`` of rank ``q`` the partial sum of its sources on ``p`` instead of their rows. Every cut edge ``s -> t``
must then travel either as ``s``'s row or inside ``t``'s partial sum. Three ways to choose (``aggregate_at``):

* ``receiver``: every boundary source as a row (today's exchange; no :class:`SumPlan` is made);
* ``sender``: every cut target as a partial sum, no rows;
* ``auto``: a minimum vertex cover of the pair's cut edges (:func:`gnnpart.partition.cover.pair_cover`): the
  fewest rows and partial sums that carry the cut. An edge whose source is a row travels as that row, even when
  its target also gets a partial sum, so every partial sum adds only sources that are not sent as rows.

The choice is a function given to :func:`build_sum_plan` (the rank passes the cover; this layer knows no
partition).

The receiving rank ``q`` knows its cut edges (they end at its inner nodes), so it computes the choice for every
sender and tells each one, at setup, which positions of its send list stay rows and which of them each partial
sum adds. The result is one augmented :class:`~gnnpart.comm.ExchangePlan` per rank, which the exchange pipeline
(every value codec, ``delta`` and ``stale``) uses as it uses today's:

* sender side: rows ``[R + M]``, the ``R`` inner rows it sends as rows to any peer (:attr:`SumPlan.kept`), then
  the ``M`` partial sums it computes (peer after peer); each peer is sent its kept rows, then its partial sums;
* receiver side: a halo block ``[H', F]``, each sender's kept rows then its partial sums, peer after peer; the
  block is added into the targets through :attr:`SumPlan.recv_indptr` (a CSR over the block).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the command line reads AGGREGATE_AT without torch
    import torch

    from gnnpart.comm.plan import ExchangePlan

AGGREGATE_AT = ("receiver", "sender", "auto")
"""Where a sum-like layer's cut edges are added: at the receiver (rows), the sender (partial sums) or the cheaper
mix (a minimum vertex cover)."""


def check_aggregate_at(value) -> str:
    """``value`` if it is one of :data:`AGGREGATE_AT`, else a ``ValueError`` naming it."""
    if value not in AGGREGATE_AT:
        raise ValueError(f"`aggregate_at` must be one of {', '.join(AGGREGATE_AT)} (got {value!r})")
    return value


@dataclass
class SumPlan:
    """One rank's pre-aggregation plan (see the module); tensors on the plan's device.

    Attributes:
        mode (str): ``sender`` or ``auto``.
        plan (ExchangePlan): the augmented plan: ``num_inner`` is ``R + M``, its halo block holds ``H'`` rows.
        base (ExchangePlan): today's plan, of which this one is a rearrangement.
        kept (torch.Tensor): int64 ``[R]``, the inner local ids this rank sends as rows (ascending): the first
            ``R`` rows of the augmented plan.
        sum_indptr (torch.Tensor), sum_indices (torch.Tensor): int64 ``[M + 1]`` / ``[E_s]``, the CSR of the partial
            sums this rank computes (row: partial sum, columns: inner local ids); ``sum_t_indptr``,
            ``sum_t_indices`` (``[I + 1]``) is its transpose, for the backward pass.
        recv_indptr (torch.Tensor), recv_indices (torch.Tensor): int64 ``[I + 1]`` / ``[E_r]``, for each inner
            target the entries of the halo block it adds (kept rows of its halo sources, and its partial sums);
            ``recv_t_indptr``, ``recv_t_indices`` (``[H' + 1]``) is its transpose.
        sums_sent (torch.Tensor): bool ``[S']``, which entries of ``plan``'s send list are partial sums.
        sums_received (torch.Tensor): bool ``[H']``, which rows of the halo block are partial sums.
    """

    mode: str
    plan: ExchangePlan
    base: ExchangePlan
    kept: torch.Tensor
    sum_indptr: torch.Tensor
    sum_indices: torch.Tensor
    sum_t_indptr: torch.Tensor
    sum_t_indices: torch.Tensor
    recv_indptr: torch.Tensor
    recv_indices: torch.Tensor
    recv_t_indptr: torch.Tensor
    recv_t_indices: torch.Tensor
    sums_sent: torch.Tensor
    sums_received: torch.Tensor

    @property
    def num_sums(self) -> int:
        """Partial sums this rank computes and sends (``M``)."""
        return self.plan.num_inner - self.kept.shape[0]

    def rows(self) -> dict:
        """What this rank's messages carry, against today's: ``{"rows", "sums", "rows_received", "sums_received",
        "today_sent", "today_received"}``: rows of one forward message, sent and received (a backward message sends
        what the forward one received, and receives what it sent)."""
        sent_sums = int(self.sums_sent.sum())
        got_sums = int(self.sums_received.sum())
        return {"rows": self.plan.send_index.shape[0] - sent_sums, "sums": sent_sums,
                "rows_received": self.plan.num_halo - got_sums, "sums_received": got_sums,
                "today_sent": self.base.send_index.shape[0], "today_received": self.base.num_halo}


def all_sums(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The choice of ``sender``: no rows, a partial sum for every target of the cut edges ``src -> dst``.

    Args:
        src (np.ndarray), dst (np.ndarray): int64 ``[E]``, the cut edges' sources and targets.
    """
    return np.zeros(0, dtype=np.int64), np.unique(dst)


def _csr(rows: np.ndarray, cols: np.ndarray, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, indices)`` of the pairs grouped by row, each row's pairs in their given order (repeats kept)."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=num_rows), out=indptr[1:])
    return indptr, np.ascontiguousarray(cols[order], dtype=np.int64)


def build_sum_plan(comm, base: ExchangePlan, indptr, indices, mode: str, choose) -> SumPlan:
    """This rank's :class:`SumPlan`; every rank calls it at once (one all-to-all of counts, one of the choices).

    Args:
        comm (Communicator): the job's communicator.
        base (ExchangePlan): today's plan (on any device; the result's tensors are on its device).
        indptr (array), indices (array): int64 ``[I + 1]`` / ``[E]``, this rank's in-edge CSR (sources as local
            ids; ``>= I``: a halo slot of ``base``).
        mode (str): ``sender`` or ``auto`` (recorded in the plan).
        choose (callable): ``choose(src, dst) -> (rows, sums)``: for one sender's cut edges ``src -> dst``
            (positions in its send list, my inner ids), the sources it sends as rows and the targets it sends
            partial sums for; every edge must have its source in ``rows`` or its target in ``sums``
            (:func:`all_sums` for ``sender``, a minimum vertex cover for ``auto``).
    """
    import torch

    from gnnpart.comm.plan import ExchangePlan

    if mode not in ("sender", "auto"):
        raise ValueError(f"`mode` must be sender or auto (got {mode!r}); receiver needs no sum plan")
    indptr, indices = np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)
    size, num_inner = base.size, base.num_inner
    recv_index = base.recv_index.cpu().numpy()
    recv_peer = base.recv_peer.cpu().numpy()
    recv_offset = base.recv_offset.cpu().numpy()
    send_index = base.send_index.cpu().numpy()
    send_offset = base.send_offset.cpu().numpy()
    # my cut edges as receiver: (position in the sender's block, my inner target), by sender
    position = np.full(base.num_local - num_inner, -1, dtype=np.int64)
    position[recv_index - num_inner] = np.arange(len(recv_index), dtype=np.int64)
    targets = np.repeat(np.arange(num_inner, dtype=np.int64), np.diff(indptr))
    cut = indices >= num_inner
    edge_pos = position[indices[cut] - num_inner]  # position in my receive list
    edge_dst = targets[cut]
    edge_peer = recv_peer[edge_pos]

    kept = np.zeros(len(recv_index), dtype=bool)  # which received rows stay rows
    summed = np.zeros(num_inner, dtype=bool)  # the targets of one sender's partial sums
    my_sums = []  # per sender: (targets of its partial sums, the positions each adds, their counts)
    messages = []
    order = np.argsort(edge_peer, kind="stable")
    bounds = np.searchsorted(edge_peer[order], np.arange(size + 1))
    for p in range(size):
        e = order[bounds[p]: bounds[p + 1]]
        block = edge_pos[e] - recv_offset[p] if len(e) else np.zeros(0, dtype=np.int64)
        dst = edge_dst[e]
        rows, sums = choose(block, dst) if len(e) else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        rows, sums = np.unique(np.asarray(rows, dtype=np.int64)), np.asarray(sums, dtype=np.int64)  # rows ascending:
        # the sender lays out its kept rows in the order given, the receiver its block in ascending position order
        kept[recv_offset[p] + rows] = True
        by_sum = ~kept[recv_offset[p] + block]  # edges carried by partial sums
        summed[sums] = True
        if not summed[dst[by_sum]].all():
            raise ValueError(f"the choice for rank {p} leaves cut edges neither sent as rows nor in a partial sum")
        summed[sums] = False
        s_dst, s_src = dst[by_sum], block[by_sum]
        sort = np.argsort(s_dst, kind="stable")
        s_dst, s_src = s_dst[sort], s_src[sort]
        sum_targets, counts = np.unique(s_dst, return_counts=True)  # an empty partial sum is never sent
        my_sums.append(sum_targets)
        messages.append(np.concatenate([[len(rows), len(sum_targets)], rows, counts, s_src]).astype(np.int64))
    # tell every sender its choice; receive mine as a sender
    send_counts = np.array([len(m) for m in messages], dtype=np.int64)
    recv_counts = np.empty(size, dtype=np.int64)
    comm.alltoallv(torch.from_numpy(send_counts), np.ones(size, np.int64), torch.from_numpy(recv_counts),
                   np.ones(size, np.int64))
    got = torch.empty(int(recv_counts.sum()), dtype=torch.int64)
    comm.alltoallv(torch.from_numpy(np.concatenate(messages)), send_counts, got, recv_counts)
    got = got.numpy()

    # sender side: my kept rows and partial sums for each receiver
    send, sum_rows, sum_cols, sum_mask = {}, [], [], []
    num_sums, at = 0, 0
    for q in range(size):
        m = got[at: at + recv_counts[q]]
        at += recv_counts[q]
        n_rows, n_sums = int(m[0]), int(m[1])
        rows = m[2: 2 + n_rows]
        counts = m[2 + n_rows: 2 + n_rows + n_sums]
        src = m[2 + n_rows + n_sums:]
        mine = send_index[send_offset[q]: send_offset[q] + base.send_rows[q]]
        if len(rows) and (rows.min() < 0 or rows.max() >= len(mine)) or len(src) and (
                src.min() < 0 or src.max() >= len(mine)) or counts.sum() != len(src):
            raise RuntimeError(f"rank {q} sent a pre-aggregation plan that does not fit this rank's send list to it")
        send[q] = (mine[rows], num_sums + np.arange(n_sums, dtype=np.int64))
        sum_mask.append(np.r_[np.zeros(n_rows, bool), np.ones(n_sums, bool)])
        sum_rows.append(num_sums + np.repeat(np.arange(n_sums, dtype=np.int64), counts))
        sum_cols.append(mine[src])
        num_sums += n_sums
    # receiver side: my halo block, each sender's kept rows then its partial sums
    kept_ids = np.unique(np.concatenate([rows for rows, _ in send.values()] + [np.zeros(0, np.int64)]))
    aug_inner = len(kept_ids) + num_sums
    send = {q: np.concatenate([np.searchsorted(kept_ids, rows), len(kept_ids) + sums])
            for q, (rows, sums) in send.items()}
    recv, block_of_kept, at = {}, np.full(len(recv_index), -1, dtype=np.int64), 0
    sum_slot, got_mask = [], []
    for p in range(size):
        positions = np.arange(recv_offset[p], recv_offset[p] + base.recv_rows[p])
        keep = positions[kept[positions]]
        block_of_kept[keep] = at + np.arange(len(keep))
        n = len(keep) + len(my_sums[p])
        recv[p] = aug_inner + at + np.arange(n, dtype=np.int64)
        sum_slot.append(at + len(keep) + np.arange(len(my_sums[p]), dtype=np.int64))
        got_mask.append(np.r_[np.zeros(len(keep), bool), np.ones(len(my_sums[p]), bool)])
        at += n
    block = at
    halo_edge = block_of_kept[edge_pos]
    by_row = halo_edge >= 0
    r_rows = np.concatenate([edge_dst[by_row]] + my_sums)
    r_cols = np.concatenate([halo_edge[by_row]] + sum_slot)
    plan = ExchangePlan.from_peers(aug_inner, aug_inner + block, send, recv, size)
    s_rows, s_cols = np.concatenate(sum_rows), np.concatenate(sum_cols)
    sum_ptr, sum_idx = _csr(s_rows, s_cols, num_sums)
    sum_t_ptr, sum_t_idx = _csr(s_cols, s_rows, num_inner)
    r_ptr, r_idx = _csr(r_rows, r_cols, num_inner)
    r_t_ptr, r_t_idx = _csr(r_cols, r_rows, block)
    dev = base.device

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    return SumPlan(mode, plan.to(dev), base, t(kept_ids), t(sum_ptr), t(sum_idx), t(sum_t_ptr), t(sum_t_idx),
                   t(r_ptr), t(r_idx), t(r_t_ptr), t(r_t_idx), t(np.concatenate(sum_mask)),
                   t(np.concatenate(got_mask)))
