"""A part on disk becomes what one MPI rank holds: :class:`Rank`.

``Rank.open(part_dir, comm)`` (or ``Rank.from_partition(part, comm)`` for a loaded part) is the one call that
builds it, for training (:class:`gnnpart.train.Trainer`), inference (:mod:`gnnpart.infer`) and the command line
alike:

1. the placement: the rank's ``torch.device`` and the communicator's transport (:mod:`gnnpart.rank.device`);
2. the exchange plan, from the part's send and receive lists, and the :class:`~gnnpart.comm.HaloExchange`;
3. the :class:`~gnnpart.nn.LocalGraph` (local CSR, global degrees and ids, edge features);
4. the features (in the model's dtype, optionally each row divided by its sum), the labels, the split masks,
   and the task the labels ask for.

Every tensor lives on the rank's device. Nothing here trains: a rank of a partition without labels is as good
for inference as any other.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from gnnpart.comm.communicator import Communicator
from gnnpart.comm.halo import HaloExchange
from gnnpart.comm.plan import ExchangePlan
from gnnpart.comm.sum_plan import SumPlan, all_sums, build_sum_plan, check_aggregate_at
from gnnpart.data.labels import SPLITS
from gnnpart.data.typed import GraphTypes
from gnnpart.nn.local_graph import LocalGraph
from gnnpart.partition.cover import pair_cover
from gnnpart.partition.store import Partition, graph_identity, load_partition, read_meta
from gnnpart.rank.device import Placement
from gnnpart.tasks import resolve_task


def _check_rank_count(size: int, parts: int, where) -> None:
    if parts != size:
        raise ValueError(f"the job has {size} ranks, but {where} has {parts} parts: start one rank per part")


def exchange_plan(part: Partition, size: int) -> ExchangePlan:
    """The exchange plan of a loaded part, from its send and receive lists (the one place that reads them).

    Args:
        part (Partition): the part.
        size (int): the number of ranks; it must be the number of parts.
    """
    _check_rank_count(size, part.num_parts, "the partition")
    recv = {peer: slots for peer, (slots, _remote) in part.recv.items()}
    return ExchangePlan.from_peers(part.num_inner, part.num_local, part.send, recv, size)


def sum_plan(part: Partition, comm: Communicator, plan: ExchangePlan, aggregate_at: str) -> SumPlan | None:
    """The pre-aggregation plan ``aggregate_at`` asks for (None for ``receiver``); every rank calls it at once.

    Args:
        part (Partition): this rank's part (its in-edges give the cut edges it receives).
        comm (Communicator): the job's communicator.
        plan (ExchangePlan): today's plan of the part.
        aggregate_at (str): ``receiver``, ``sender`` or ``auto`` (a minimum vertex cover per pair of ranks,
            :func:`gnnpart.partition.cover.pair_cover`).
    """
    if aggregate_at == "receiver":
        return None
    if aggregate_at == "sender":
        choose = all_sums
    else:
        def choose(src, dst):
            cover = pair_cover(src, dst)
            return cover.rows, cover.sums
    return build_sum_plan(comm, plan, part.indptr, part.indices, aggregate_at, choose)


class Rank:
    """Everything one MPI rank holds for its part of a partition.

    Build it with :meth:`open` or :meth:`from_partition`; every rank of the job does, with the same arguments.

    Attributes:
        comm (Communicator): the job's communicator (its transport set by the placement).
        placement (Placement): the device and transport asked for.
        device (torch.device): where every tensor of the rank lives.
        part (Partition): the loaded part (its arrays, and the partition's ``meta``).
        meta (dict): the partition's ``meta.json``.
        plan (ExchangePlan): which rows go to which rank, and which halo slots each fills.
        exchange (HaloExchange): this rank's halo exchanges.
        graph (LocalGraph): what a layer sees of the graph.
        x (torch.Tensor): ``[I, F]`` features of the inner nodes, in ``dtype`` (normalised if asked).
        y (torch.Tensor): the labels of the inner nodes (class ids, or float targets; see :mod:`gnnpart.tasks`).
        masks (dict): ``{"train"|"val"|"test": bool [I]}``.
        task (Task): the task the labels ask for (or the one asked for).
        dtype (torch.dtype): the dtype of the features (and of a model run on them).
        normalize_features (bool): whether each feature row was divided by its sum.
        sum_plan_s (float): seconds this rank spent building its pre-aggregation plan (0 with ``receiver``).
        types (GraphTypes | None): the node types and relations of a typed graph (None for an untyped one).
    """

    def __init__(self, part: Partition, comm: Communicator, placement: Placement, dtype: torch.dtype,
                 normalize_features: bool, task: str | None, overlap: bool, aggregate_at: str = "receiver"):
        self.plan = exchange_plan(part, comm.size)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"`dtype` must be a floating torch.dtype (got {dtype!r})")
        self.comm, self.part, self.meta, self.placement = comm, part, part.meta, placement
        self.task = resolve_task(task, part.task)
        self.dtype, self.normalize_features = dtype, bool(normalize_features)
        self.device = dev = placement.resolve(comm)
        comm.use_transport(placement.transport, dev)
        self.plan = self.plan.to(dev)
        global_ids = torch.from_numpy(np.ascontiguousarray(part.global_ids)).long().to(dev)
        self.exchange = HaloExchange(comm, self.plan, global_ids)
        start = time.perf_counter()
        sums = sum_plan(part, comm, self.plan, aggregate_at)
        self.sum_plan_s = time.perf_counter() - start
        self.types = GraphTypes.from_json(part.meta)
        self.graph = LocalGraph(self.exchange, part.global_ids, part.indptr, part.indices, part.in_degree,
                                edge_attr=part.edge_attr, device=dev, overlap=overlap, sums=sums,
                                node_type=part.node_type, edge_type=part.edge_type, types=self.types)
        x = torch.from_numpy(np.array(part.x, dtype=np.float32))
        if self.normalize_features:
            x = x / x.sum(dim=1, keepdim=True).clamp(min=1e-12)
        self.x = x.to(device=dev, dtype=dtype)
        self.y = self.task.labels(part.y, dev)
        self.masks = {split: torch.from_numpy(np.asarray(getattr(part, f"{split}_mask"))).to(dev) for split in SPLITS}

    @classmethod
    def from_partition(cls, part: Partition, comm: Communicator | None = None, *, placement: Placement | None = None,
                       dtype: torch.dtype = torch.float32, normalize_features: bool = False, task: str | None = None,
                       overlap: bool = True, aggregate_at: str = "receiver") -> "Rank":
        """The rank of a loaded part.

        Args:
            part (Partition): this rank's part (``load_partition(dir, comm.rank)``).
            comm (Communicator, optional): the job's communicator (default: ``COMM_WORLD``); its size must be the
                number of parts.
            placement (Placement, optional): device and transport (default CPU, ``mpi``).
            dtype (torch.dtype): dtype of the features, and of the model run on them (default float32).
            normalize_features (bool): divide each feature row by its sum (PyG's ``NormalizeFeatures``).
            task (str, optional): ``multiclass``, ``multilabel`` or ``regression``; default the one the labels
                imply (:func:`gnnpart.tasks.resolve_task` refuses one they cannot serve).
            overlap (bool): the built-in layers aggregate their inner sources while the halo rows travel (default
                True; the same bits either way, :mod:`gnnpart.nn.overlap`).
            aggregate_at (str): where the sum-like layers (GCN, GraphSAGE, GIN) add their cut edges: ``receiver``
                (default: every boundary row is sent, today's exchange), ``sender`` (a partial sum per cut target)
                or ``auto`` (the fewest rows and partial sums: a minimum vertex cover per pair of ranks, computed
                here from the part's edges, every rank at once). Other layers send rows whatever it says. See
                :mod:`gnnpart.comm.sum_plan`.

        Raises:
            ValueError: the rank count is not the number of parts, or an argument is bad (named).
            ConfigError: a GPU device without a usable GPU, or a transport that cannot run here.
        """
        return cls(part, comm if comm is not None else Communicator(), placement or Placement(), dtype,
                   normalize_features, task, overlap, check_aggregate_at(aggregate_at))

    @classmethod
    def open(cls, part_dir, comm: Communicator | None = None, *, mmap: bool = True, **options) -> "Rank":
        """The rank of part ``comm.rank`` of the partition directory ``part_dir``.

        Args:
            part_dir (str | Path): the partition directory (from ``gnnpart partition``).
            comm (Communicator, optional): as :meth:`from_partition`.
            mmap (bool): map the part's files instead of reading them (default True; what the CLI does).
            **options: the keyword arguments of :meth:`from_partition` (``placement``, ``dtype``,
                ``normalize_features``, ``task``, ``overlap``, ``aggregate_at``).
        """
        comm = comm if comm is not None else Communicator()
        meta = read_meta(part_dir)
        _check_rank_count(comm.size, meta["num_parts"], part_dir)
        return cls.from_partition(load_partition(part_dir, comm.rank, mmap=mmap), comm, **options)

    # ------------------------------------------------------------------------------ what the rank is
    @property
    def num_inner(self) -> int:
        """The nodes this rank owns (``I``)."""
        return self.part.num_inner

    @property
    def num_nodes(self) -> int:
        """The nodes of the whole graph."""
        return int(self.meta["num_nodes"])

    @property
    def inner_ids(self) -> np.ndarray:
        """int64 ``[I]``: the global id of each inner node (where its rows go in a global array)."""
        return np.asarray(self.part.global_ids[: self.part.num_inner], dtype=np.int64)

    def graph_identity(self) -> dict:
        """What the graph is: its dataset spec and node count (the same on every partition of it)."""
        return graph_identity(self.meta)

    def close(self) -> None:
        """Release what the transport holds (an NCCL group is destroyed before the process ends); the
        communicator moves GPU tensors through MPI again. Every rank calls it; the communicator's transport is
        shared by every Rank made on it."""
        self.comm.reset_transport()

    def __enter__(self) -> "Rank":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Rank({self.comm.rank} of {self.comm.size}: {self.num_inner} inner and {self.part.num_halo} halo "
                f"nodes of {self.meta.get('dataset')}, {self.device}, task {self.task.name})")
