"""What a layer sees of the graph on one rank: the local CSR, global degrees, ids and the halo exchange."""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.comm.halo import HaloExchange
from gnnpart.data.csr import coo_to_csr, csr_rows
from gnnpart.nn.kernels import hash_dropout, spmm_sum
from gnnpart.partition.store import Partition


class LocalGraph:
    """One rank's view of the graph, built from its :class:`Partition`.

    Args:
        part (Partition): this rank's part.
        exchange (HaloExchange): halo exchange of this rank (any rank count, 1 included).
        seed (int): seed of the partition-independent dropout.

    Attributes:
        num_inner (int), num_local (int): owned rows, and owned + halo rows.
        global_ids (torch.Tensor): int64 ``[L]``; ``inner_ids`` is its first ``I`` entries.
        in_degree (torch.Tensor): float ``[L]`` global in-degree of each local node.
        epoch (int): set by the trainer each epoch; keys the dropout masks.
        training (bool): dropout is applied only while training.
    """

    def __init__(self, part: Partition, exchange: HaloExchange, seed: int = 0):
        self.part = part
        self.exchange = exchange
        self.seed = int(seed)
        self.epoch = 0
        self.training = True
        self.num_inner = part.num_inner
        self.num_local = part.num_local
        self.global_ids = torch.from_numpy(np.ascontiguousarray(part.global_ids)).long()
        self.inner_ids = self.global_ids[: self.num_inner]
        self.in_degree = torch.from_numpy(np.asarray(part.in_degree, dtype=np.float32))
        self.indptr = torch.from_numpy(np.ascontiguousarray(part.indptr)).long()
        self.indices = torch.from_numpy(np.ascontiguousarray(part.indices)).long()
        rows = csr_rows(part.indptr)
        t_indptr, t_indices = coo_to_csr(part.indices, rows, self.num_local, self.num_inner, dedup=False)
        self.t_indptr = torch.from_numpy(t_indptr)
        self.t_indices = torch.from_numpy(t_indices)
        self.edge_dst = torch.from_numpy(rows)  # inner local id of each edge's destination
        self.cache: dict = {}
        self.gates = None  # HaloGates of the layers with a `learned` policy (set by the trainer)

    # ---------------------------------------------------------------------- building blocks
    def halo(self, h_inner: torch.Tensor, layer=None) -> torch.Tensor:
        """``[I, F]`` -> ``[L, F]``: inner rows followed by the halo rows fetched from their owners.

        In training, the exchange follows the layer's halo policy; a layer with learned gates sends only the
        channels its gate keeps (in evaluation too: the gates are part of the model).
        """
        def move(rows, full_width=None):
            return self.exchange.exchange(rows, layer, self.training, self.epoch, full_width)

        if self.gates is not None and self.gates.has(layer):
            return self.gates.gated_halo(h_inner, layer, move)
        return move(h_inner)

    def aggregate(self, h_local: torch.Tensor) -> torch.Tensor:
        """``[L, F]`` -> ``[I, F]``: for each inner node, the sum of its in-neighbours' rows (differentiable)."""
        return _Aggregate.apply(h_local, self)

    def dropout(self, h: torch.Tensor, layer: int, p: float, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Dropout of rows ``ids`` (default: the inner nodes) keyed by (seed, epoch, layer, global id, channel)."""
        if not self.training or p == 0.0:
            return h
        return hash_dropout(h, self.inner_ids if ids is None else ids, self.seed, self.epoch, layer, p)


class _Aggregate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_local, graph: LocalGraph):
        ctx.graph = graph
        return spmm_sum(graph.indptr, graph.indices, h_local.contiguous())

    @staticmethod
    def backward(ctx, grad):
        g = ctx.graph
        return spmm_sum(g.t_indptr, g.t_indices, grad.contiguous()), None
