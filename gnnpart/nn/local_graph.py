"""What a layer sees of the graph on one rank: the local CSR, global degrees, ids and the halo exchange."""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.comm import HaloExchange, HaloPolicy, PolicyExchange
from gnnpart.data.csr import coo_to_csr, csr_rows
from gnnpart.hashing import hash_dropout
from gnnpart.nn.kernels import spmm_sum
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
        epoch (int): set by the trainer each epoch; keys the dropout masks and the exchanges' draws.
        training (bool): dropout and halo policies apply only while training.
        gates (HaloGates | None): the learned halo gates of the model (see :meth:`use_policies`).
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
        self.gates = None
        self.policies: dict = {}
        self._exchanges: dict = {}

    def use_policies(self, policies, gates=None) -> None:
        """Exchange layer ``i``'s rows under ``policies[i]`` (:class:`~gnnpart.comm.HaloPolicy`) in training.

        Evaluation exchanges exactly, except for learned gates, which are part of the model. A layer whose policy
        has a ``learned`` term but no gate in ``gates`` (its exchange happens once, at setup) exchanges without it.

        Args:
            policies (list[HaloPolicy]): one per layer.
            gates (HaloGates, optional): the model's learned halo gates.
        """
        self.exchange.drain()
        self.policies, self.gates, self._exchanges = dict(enumerate(policies)), gates, {}

    def _exchange_for(self, layer) -> PolicyExchange:
        """The exchange of ``layer`` in the current mode (made on first use, then kept with its state)."""
        made = self._exchanges.get((layer, self.training))
        if made is None:
            gated = self.gates is not None and self.gates.has(layer)
            policy = self.policies.get(layer, HaloPolicy())
            if not gated:
                policy = policy.without("learned")
            if not self.training:
                policy = policy.for_evaluation()
            made = self.exchange.policy_exchange(policy, key=layer, seed=self.seed)
            if gated:
                made.channels.bind(lambda: self.gates.kept(layer))
            self._exchanges[(layer, self.training)] = made
        return made

    # ---------------------------------------------------------------------- building blocks
    def halo(self, h_inner: torch.Tensor, layer=None) -> torch.Tensor:
        """``[I, F]`` -> ``[L, F]``: inner rows followed by the halo rows fetched from their owners.

        In training, the exchange follows the layer's halo policy; a layer with learned gates sends only the
        channels its gate keeps and multiplies the halo rows by the gate (in evaluation too: the gates are part
        of the model).

        Shapes:
            ``[I, F]`` -> ``[L, F]``.
        """
        local = self._exchange_for(layer).exchange(h_inner, self.epoch)
        if self.gates is not None and self.gates.has(layer):
            local = self.gates.gate_halo(local, layer, self.num_inner)
        return local

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
