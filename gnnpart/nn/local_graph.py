"""What a layer sees of the graph on one rank: the local CSR, global degrees, ids and the halo exchange.

Local ids: ``0 .. I-1`` are the rank's own (inner) nodes, ``I .. L-1`` its halo nodes (in-neighbours owned by
other ranks). Every edge of the local graph ends at an inner node; its source is any local node. Each row lists
its inner sources before its halo sources, so that the built-in layers can aggregate the inner part while the halo
rows travel (:mod:`gnnpart.nn.overlap`).
"""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.comm.exchange_pipeline import PolicyExchange
from gnnpart.comm.halo import HaloExchange
from gnnpart.comm.policy.spec import SUMS_REFUSE, TERMS, HaloPolicy
from gnnpart.comm.sum_plan import SumPlan
from gnnpart.data.csr import coo_to_csr, csr_rows
from gnnpart.nn.contract import HaloLayer
from gnnpart.nn.kernels import spmm_sum
from gnnpart.nn.overlap import OverlappedAggregate, inner_first
from gnnpart.nn.pre_aggregate import pre_aggregate


def refuse_with_sums(policy: HaloPolicy, layer_id, aggregate_at: str) -> None:
    """Refuse, in one line, a policy with a term of :data:`SUMS_REFUSE` on a layer that pre-aggregates."""
    for term in TERMS:
        if term.name in SUMS_REFUSE and term.active(policy):
            raise ValueError(f"aggregate_at={aggregate_at!r} does not compose with `{term.name}` (the halo policy "
                             f"`{policy}` of layer {layer_id}): {SUMS_REFUSE[term.name]}; use aggregate_at='receiver' "
                             f"(--aggregate-at receiver) or another policy")


def check_sums_compose(layers, policies, gates, aggregate_at: str, evaluation: bool = False) -> None:
    """Refuse, in one line, a layer that pre-aggregates (``sums_halo``, exchanging each epoch) under a policy that
    cannot compose with partial sums (:func:`refuse_with_sums`): the rank's own check, also made by a launcher
    before any rank starts.

    Args:
        layers (list[HaloLayer]): the model's layers, by ``layer_id``.
        policies (list[HaloPolicy]): one per layer.
        gates (HaloGates | None): the model's learned gates (a ``learned`` term without a gate is inactive).
        aggregate_at (str): ``sender`` or ``auto`` (``receiver`` refuses nothing).
        evaluation (bool): check the policies as evaluation applies them (only learned gates remain).
    """
    if aggregate_at == "receiver":
        return
    for layer in layers:
        if not (layer.sums_halo and layer.exchanges_each_epoch):
            continue
        policy = policies[layer.layer_id]
        if gates is None or not gates.has(layer.layer_id):
            policy = policy.without("learned")
        refuse_with_sums(policy.for_evaluation() if evaluation else policy, layer.layer_id, aggregate_at)


class LocalGraph:
    """One rank's view of the graph: its local CSR, global degrees and ids, and its halo exchange.

    Built from arrays (:class:`gnnpart.rank.Rank` passes a part's), so layers know nothing of the partition format.

    Args:
        exchange (HaloExchange): halo exchange of this rank (any rank count, 1 included); its plan gives ``I``
            and ``L``.
        global_ids (array): int64 ``[L]``, the global id of each local node (inner nodes first).
        indptr (array), indices (array): int64 ``[I + 1]`` / ``[E]``, the CSR of the inner nodes' in-edges, sources
            as local ids.
        in_degree (array): ``[L]``, the global in-degree of each local node.
        edge_attr (array, optional): float32 ``[E, D]`` features of the edges, in the order of ``indices``.
        seed (int): seed of the partition-independent draws (dropout masks, sampling); the Trainer sets it.
        device (torch.device | str, optional): where the graph's tensors live (default the CPU).
        overlap (bool): overlap the exchange with the inner-source aggregation in :meth:`aggregate_halo` (default
            True; the results are the same bits either way).
        sums (SumPlan, optional): a pre-aggregation plan (:mod:`gnnpart.comm.sum_plan`, built by the rank from the
            same CSR): :meth:`aggregate_halo` then carries the cut as rows and partial sums. Default None: every
            boundary row is sent (``aggregate_at="receiver"``).
        node_type (array, optional): int64 ``[L]``, each local node's type (a typed graph).
        edge_type (array, optional): int64 ``[E]``, each edge's relation, in the order of ``indices``.
        types (GraphTypes, optional): the names, relations and feature widths ``node_type``/``edge_type`` index.

    Attributes:
        device (torch.device): where every tensor of the graph lives (the rank's device).
        num_inner (int), num_local (int): owned rows (``I``), and owned + halo rows (``L``).
        global_ids (torch.Tensor): int64 ``[L]``; ``inner_ids`` is its first ``I`` entries.
        in_degree (torch.Tensor): float ``[L]`` global in-degree of each local node.
        indptr (torch.Tensor), indices (torch.Tensor): int64 ``[I + 1]`` / ``[E]``, the CSR of the in-edges of the
            inner nodes (sources as local ids), each row's inner sources first, then its halo sources (each in the
            given order).
        halo_split (torch.Tensor): int64 ``[I]``, where each row's halo-source edges begin.
        overlap (bool): see the argument.
        sums (SumPlan | None): see the argument.
        aggregate_at (str): ``receiver`` without :attr:`sums`, else its mode (``sender`` or ``auto``).
        edge_attr (torch.Tensor | None): float32 ``[E, D]`` features of the local edges, in the order of
            :attr:`edge_index` (None without edge features).
        node_type (torch.Tensor | None): int64 ``[L]`` type of each local node (None for an untyped graph).
        edge_type (torch.Tensor | None): int64 ``[E]`` relation of each local edge, in the order of
            :attr:`edge_index`.
        types (GraphTypes | None): the graph's node types and relations (:mod:`gnnpart.data.typed`).
        seed (int): keys dropout masks and the exchanges' draws (set by the trainer).
        epoch (int): set by the trainer each epoch; keys dropout masks and the exchanges' draws.
        gates (HaloGates | None): the model's learned halo gates (see :meth:`use_policies`).
        progress: where the graph records what the rank is doing (``progress.enter(phase)``; the trainer's
            watchdog reads it), or None.
        owner: what the graph serves now (a Trainer sets itself; :meth:`reset` clears it), so that a Trainer whose
            rank another model took since can take it back.
        cache (dict): per-graph values layers compute once (normalisations, cached aggregations).
    """

    def __init__(self, exchange: HaloExchange, global_ids, indptr, indices, in_degree, edge_attr=None, seed: int = 0,
                 device=None, overlap: bool = True, sums: SumPlan | None = None, node_type=None, edge_type=None,
                 types=None):
        self.device = torch.device("cpu" if device is None else device)
        self.exchange = exchange
        self.seed = int(seed)
        self.epoch = 0
        self.num_inner = exchange.plan.num_inner
        self.num_local = exchange.plan.num_local
        dev = self.device

        def tensor(array, dtype):
            return torch.from_numpy(np.ascontiguousarray(array)).to(device=dev, dtype=dtype)

        self.global_ids = tensor(global_ids, torch.long)
        self.inner_ids = self.global_ids[: self.num_inner]
        self.in_degree = tensor(np.asarray(in_degree, dtype=np.float32), torch.float32)
        self.overlap = bool(overlap)
        if sums is not None and (sums.base.num_inner, sums.base.num_local) != (self.num_inner, self.num_local):
            raise ValueError(f"`sums` was built for {sums.base.num_inner} inner and {sums.base.num_local} local rows, "
                             f"not this graph's {self.num_inner} and {self.num_local}")
        self.sums = sums
        self.aggregate_at = "receiver" if sums is None else sums.mode
        indptr, indices = np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)
        if indptr.shape != (self.num_inner + 1,):
            raise ValueError(f"`indptr` must have I + 1 = {self.num_inner + 1} entries (got shape {indptr.shape})")
        order, split = inner_first(indptr, indices, self.num_inner)
        if order is not None:
            indices = indices[order]
            edge_attr = None if edge_attr is None else np.asarray(edge_attr)[order]
            edge_type = None if edge_type is None else np.asarray(edge_type)[order]
        if (node_type is None) != (types is None) or (edge_type is None) != (types is None):
            raise ValueError("`node_type`, `edge_type` and `types` are given together (a typed graph) or not at all")
        self.types = types
        self.node_type = None if node_type is None else tensor(node_type, torch.long)
        self.edge_type = None if edge_type is None else tensor(edge_type, torch.long)
        self.indptr = tensor(indptr, torch.long)
        self.indices = tensor(indices, torch.long)
        self.halo_split = tensor(split, torch.long)
        rows = csr_rows(indptr)
        t_indptr, t_indices = coo_to_csr(indices, rows, self.num_local, self.num_inner, dedup=False)
        self.t_indptr = tensor(t_indptr, torch.long)
        self.t_indices = tensor(t_indices, torch.long)
        self.edge_dst = tensor(rows, torch.long)  # inner local id of each edge's destination
        self.edge_attr = None if edge_attr is None else tensor(edge_attr, torch.float32)
        self.cache: dict = {}
        self.gates = None
        self.progress = None
        self.owner = None
        self.policies: dict = {}
        self._exchanges: dict = {}

    @property
    def comm(self):
        """The job's :class:`~gnnpart.comm.Communicator` (for layers that reduce over ranks, e.g. batch norm)."""
        return self.exchange.comm

    @property
    def edge_index(self) -> torch.Tensor:
        """int64 ``[2, E]``: (source local id, target inner id) of every local edge, in CSR order.

        This is the bipartite form PyG convs take with ``(x_local, x_inner)``: sources index ``[L]`` rows, targets
        ``[I]`` rows.
        """
        if "edge_index" not in self.cache:
            self.cache["edge_index"] = torch.stack([self.indices, self.edge_dst])
        return self.cache["edge_index"]

    @property
    def adj_t(self):
        """The transposed adjacency ``[I, L]`` (row = target, column = source): a ``torch_sparse.SparseTensor``
        where torch_sparse is installed, else a ``torch.sparse_csr_tensor`` of ones."""
        if "adj_t" not in self.cache:
            try:
                from torch_sparse import SparseTensor
            except ImportError:
                ones = torch.ones(self.indices.shape[0], device=self.device)
                adj = torch.sparse_csr_tensor(self.indptr, self.indices, ones, (self.num_inner, self.num_local))
            else:
                adj = SparseTensor(rowptr=self.indptr, col=self.indices, sparse_sizes=(self.num_inner, self.num_local))
            self.cache["adj_t"] = adj
        return self.cache["adj_t"]

    def reset(self) -> None:
        """Forget what a previous model left: caches (a layer's cached aggregation is keyed by the layer), policies,
        gates, progress and epoch. A graph serves one model at a time; the Trainer and
        :meth:`gnnpart.infer.TrainedModel.build` call this when they take it."""
        self.exchange.forget_policies()
        self.cache.clear()
        self.policies, self.gates, self._exchanges = {}, None, {}
        self.progress, self.epoch, self.owner = None, 0, None

    # ---------------------------------------------------------------------- halo exchange
    def use_policies(self, policies, gates=None, layers=None) -> None:
        """Exchange layer ``i``'s rows under ``policies[i]`` (:class:`~gnnpart.comm.HaloPolicy`) in training.

        Evaluation exchanges exactly, except for learned gates, which are part of the model. A layer whose policy
        has a ``learned`` term but no gate in ``gates`` (its exchange happens once, at setup) exchanges without it.

        Args:
            policies (list[HaloPolicy]): one per layer (by ``layer_id``).
            gates (HaloGates, optional): the model's learned halo gates.
            layers (list[HaloLayer], optional): the model's layers, by ``layer_id``; with :attr:`sums`, a
                pre-aggregating layer (``sums_halo``) whose policy cannot compose with partial sums is refused now
                (a layer of a custom kind is refused at its first ``aggregate_halo``).

        Raises:
            ValueError: such a layer and policy, naming both and the reason.
        """
        if self.sums is not None:
            check_sums_compose(layers or (), policies, gates, self.aggregate_at)
        self.exchange.drain()
        self.policies, self.gates, self._exchanges = dict(enumerate(policies)), gates, {}

    def _exchange_for(self, layer: HaloLayer, sums: bool = False) -> PolicyExchange:
        """The exchange of ``layer`` in its current mode (made on first use, then kept with its state); with
        ``sums``, the one that carries rows and partial sums along :attr:`sums`."""
        training = layer.training and layer.exchanges_each_epoch
        key = (layer.layer_id, training) + (("sums",) if sums else ())
        made = self._exchanges.get(key)
        if made is None:
            gated = self.gates is not None and self.gates.has(layer.layer_id)
            policy = self.policies.get(layer.layer_id, HaloPolicy())
            if not gated:
                policy = policy.without("learned")
            if not training:
                policy = policy.for_evaluation()
            if sums:
                refuse_with_sums(policy, layer.layer_id, self.aggregate_at)
            made = self.exchange.policy_exchange(policy, key=layer.layer_id, seed=self.seed,
                                                 sums=self.sums if sums else None)
            if gated:
                made.channels.bind(lambda: self.gates.kept(layer.layer_id))
            self._exchanges[key] = made
        return made

    def targets(self, h: torch.Tensor) -> torch.Tensor:
        """The targets' own rows of a layer's input: on a ``LocalGraph`` the input is one row per inner node, the
        targets, so ``h`` itself (a sampled block's input has a row per source, the targets first:
        :class:`gnnpart.sample.Blocks`).

        Shapes:
            ``[I, F]`` -> ``[I, F]``.
        """
        return h

    def halo(self, h_inner: torch.Tensor, layer: HaloLayer) -> torch.Tensor:
        """``[I, F]`` -> ``[L, F]``: inner rows followed by the halo rows fetched from their owners.

        The exchange follows ``layer``'s mode: its halo policy in training, exact in evaluation; a layer with a
        learned gate sends only the channels its gate keeps and multiplies the halo rows by the gate (in evaluation
        too: the gates are part of the model).

        Args:
            h_inner (torch.Tensor): this rank's rows.
            layer (HaloLayer): the calling layer (``graph.halo(x, self)``).

        Shapes:
            ``[I, F]`` -> ``[L, F]``.
        """
        self._check_caller(layer, "halo")
        self.enter(f"halo exchange of layer {layer.layer_id}")
        local = self._exchange_for(layer).exchange(h_inner, self.epoch)
        self.enter(f"layer {layer.layer_id}: computing")
        if self.gates is not None and self.gates.has(layer.layer_id):
            local = self.gates.gate_halo(local, layer.layer_id, self.num_inner)
        return local

    def halo_exact(self, h_inner: torch.Tensor, layer: HaloLayer) -> torch.Tensor:
        """``[I, ...]`` -> ``[L, ...]``: like :meth:`halo`, but always exact and without gates, whatever the layer's
        policy: for rows that must arrive as they are (a conv's positions, a multi-hop conv's later hops). Its bytes
        are counted as ``layer``'s; rows of any shape travel flattened to ``[I, F]``; integer rows (node types)
        travel as float64 and come back as their own dtype.

        Args:
            h_inner (torch.Tensor): this rank's rows.
            layer (HaloLayer): the calling layer.
        """
        self._check_caller(layer, "halo_exact")
        key = (layer.layer_id, "exact")
        made = self._exchanges.get(key)
        if made is None:
            made = self._exchanges[key] = self.exchange.policy_exchange(key=layer.layer_id, seed=self.seed)
        rows = h_inner.reshape(h_inner.shape[0], -1)
        dtype = rows.dtype
        if not rows.is_floating_point():
            rows = rows.double()
        self.enter(f"halo exchange of layer {layer.layer_id}")
        local = made.exchange(rows, self.epoch)
        self.enter(f"layer {layer.layer_id}: computing")
        return local.to(dtype).reshape(self.num_local, *h_inner.shape[1:])

    def aggregate_halo(self, h_inner: torch.Tensor, layer: HaloLayer, scale: torch.Tensor | None = None) -> torch.Tensor:
        """``aggregate(scale * halo(h_inner, layer))``, with the exchange overlapped with the inner-source part.

        The same bits as the two calls (tested), and differentiable the same way: backward sends the halo rows'
        gradients to their owners while the inner rows' gradients are added. It falls back to the two calls when
        :attr:`overlap` is off or the layer has a learned gate (the gate multiplies the halo rows inside the model).

        With :attr:`aggregate_at` ``sender`` or ``auto``, the cut is carried by rows and partial sums
        (:mod:`gnnpart.nn.pre_aggregate`): equal to the two calls within rounding; a layer whose policy samples,
        picks top-k channels or has a learned gate is refused (each acts on one node's row).

        Args:
            h_inner (torch.Tensor): ``[I, F]`` this rank's rows.
            layer (HaloLayer): the calling layer (``graph.aggregate_halo(x, self)``).
            scale (torch.Tensor, optional): ``[L, 1]``, a factor for each local row before the sum (not learned).

        Shapes:
            ``[I, F]`` -> ``[I, F]``.
        """
        gated = self.gates is not None and layer.layer_id is not None and self.gates.has(layer.layer_id)
        if self.sums is not None:
            self._check_caller(layer, "aggregate_halo")
            if gated:
                raise ValueError(f"layer {layer.layer_id} has a learned halo gate, which multiplies each halo node's "
                                 f"row at the receiver; with aggregate_at={self.aggregate_at!r} a partial sum has "
                                 "already added several rows: use aggregate_at='receiver' (--aggregate-at receiver) with "
                                 "`learned`")
            return pre_aggregate(h_inner, scale, self._exchange_for(layer, sums=True), self, self.epoch,
                                 layer.layer_id)
        if not self.overlap or gated:
            local = self.halo(h_inner, layer)
            return self.aggregate(local if scale is None else scale * local)
        self._check_caller(layer, "aggregate_halo")
        out = OverlappedAggregate.apply(h_inner, scale, self._exchange_for(layer), self, self.epoch, layer.layer_id)
        self.enter(f"layer {layer.layer_id}: computing")
        return out

    def enter(self, phase: str) -> None:
        """Record what the rank is doing now, for the trainer's watchdog (no-op without one).

        Args:
            phase (str): e.g. ``"halo exchange of layer 1"`` (a phase naming an exchange is one that waits for
                other ranks).
        """
        if self.progress is not None:
            self.progress.enter(phase)

    def _check_caller(self, layer, call: str) -> None:
        if not isinstance(layer, HaloLayer):
            raise TypeError(f"graph.{call}(x, layer) needs the calling HaloLayer as `layer` (got "
                            f"{type(layer).__name__}); call it as graph.{call}(x, self) from a gnnpart.nn.HaloLayer")
        if layer.layer_id is None:
            raise ValueError(f"{type(layer).__name__} has no `layer_id`: build the model's layers with "
                             "gnnpart.nn.halo_layers(model) (the Trainer does) before running it")

    # ---------------------------------------------------------------------- building blocks
    def aggregate(self, h_local: torch.Tensor) -> torch.Tensor:
        """``[L, F]`` -> ``[I, F]``: for each inner node, the sum of its in-neighbours' rows (differentiable)."""
        return spmm_sum(self.indptr, self.indices, h_local.contiguous(), self.t_indptr, self.t_indices)

    def _gcn_degrees(self, improved: bool, add_self_loops: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(deg [L], has_loop [I, 1])``: every local node's degree as ``gcn_norm`` takes it on the whole graph (the
        global in-degree, plus ``fill`` where a node has no self loop), and which inner nodes have a self loop."""
        key = ("gcn_degrees", improved, add_self_loops)
        if key not in self.cache:
            src, dst = self.edge_index
            loop = src == dst  # inner ids are the same in source and target space
            has_loop = torch.zeros(self.num_inner, 1, device=self.device)
            has_loop[dst[loop]] = 1.0
            has_loop_local = self.exchange.exchange_async(has_loop).wait()[:, 0]
            deg = self.in_degree.double()
            if add_self_loops:
                deg = deg + (1.0 - has_loop_local.double()) * (2.0 if improved else 1.0)
            self.cache[key] = (deg, has_loop)
        return self.cache[key]

    def out_degree(self) -> torch.Tensor:
        """float64 ``[L]``: every local node's out-degree in the whole graph, self loops left out (as PyG's
        ``get_laplacian`` counts it). A node's out-edges live with their targets' parts, so each rank counts its
        local edges by source and the counts of halo sources go back to their owners, as halo gradients do; the
        halo nodes' totals then come from their owners (collective: every rank calls it)."""
        if "out_degree" not in self.cache:
            src, dst = self.edge_index
            counts = torch.bincount(src[src != dst], minlength=self.num_local).double()
            ones = torch.zeros(self.num_inner, 1, dtype=torch.float64, device=self.device, requires_grad=True)
            with torch.enable_grad():
                local = self.exchange.exchange(ones)
                (inner,) = torch.autograd.grad(local[:, 0], ones, grad_outputs=counts)
            self.cache["out_degree"] = self.exchange.exchange_async(inner).wait()[:, 0]
        return self.cache["out_degree"]

    def degree_completed_edges(self, improved: bool = False, add_self_loops: bool = True):
        """The local edges, and a self loop on every halo node whose weight is that node's whole-graph degree, with
        weights (1 on the local edges): given to a conv that runs PyG's ``gcn_norm`` itself, they make it compute
        the whole graph's normalisation for every local edge.

        ``gcn_norm`` takes a node's degree as the sum of the weights of the edges into it; an inner node has all its
        in-edges here, a halo node none, so its loop carries the whole degree (``add_remaining_self_loops`` then adds
        it no other). The loops go into halo nodes, whose outputs are not kept.

        Returns:
            ``(edge_index [2, E + H], edge_weight [E + H])``.
        """
        key = ("degree_completed", improved, add_self_loops)
        if key not in self.cache:
            deg, _ = self._gcn_degrees(improved, add_self_loops)
            halo = torch.arange(self.num_inner, self.num_local, device=self.device)
            edge_index = torch.cat([self.edge_index, halo.unsqueeze(0).repeat(2, 1)], dim=1)
            weight = torch.cat([torch.ones(self.edge_index.shape[1], dtype=torch.float64, device=self.device),
                                deg[self.num_inner:]])
            self.cache[key] = (edge_index, weight)
        return self.cache[key]

    def gcn_norm(self, improved: bool = False, add_self_loops: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The edges and weights of PyG's ``gcn_norm`` on the whole graph, for the local edges.

        ``w(j -> i) = 1 / sqrt(deg(j) deg(i))`` with ``deg`` the global in-degree plus a self loop of weight
        ``fill`` (2 if ``improved`` else 1) on every node that has none (``add_self_loops``), as
        ``add_remaining_self_loops`` does. Whether a halo node has a self loop is fetched from its owner once.

        Returns:
            ``(edge_index [2, E'], edge_weight [E'])``: the local edges, then a self loop for every inner node that
            has none (with ``add_self_loops``).
        """
        key = ("gcn_norm", improved, add_self_loops)
        if key not in self.cache:
            src, dst = self.edge_index
            deg, has_loop = self._gcn_degrees(improved, add_self_loops)
            fill = 2.0 if improved else 1.0
            dinv = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
            weight = dinv[src] * dinv[dst]
            edge_index = self.edge_index
            if add_self_loops:
                missing = (has_loop[:, 0] == 0).nonzero().view(-1)
                edge_index = torch.cat([edge_index, missing.unsqueeze(0).repeat(2, 1)], dim=1)
                weight = torch.cat([weight, fill * dinv[missing] ** 2])
            self.cache[key] = (edge_index, weight)
        return self.cache[key]

