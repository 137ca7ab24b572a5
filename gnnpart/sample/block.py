"""What a layer sees of a sampled batch: one bipartite :class:`Block` per layer, and :class:`Blocks`, the stack a
model runs on in place of its rank's :class:`~gnnpart.nn.LocalGraph`.

A block's targets come first among its sources (as in DGL's blocks and PyG's trimmed ``NeighborLoader``), and the
targets of layer ``l`` are the sources of layer ``l + 1``: the model's input has one row per source of the first
block, each layer maps one row per source of its block to one row per target, and the last layer's targets are
the batch's seeds on this rank. A layer sees the block as it sees a ``LocalGraph`` (``num_inner`` targets,
``num_local`` sources, ``halo(h)`` one row per source, ``targets(h)`` one row per target, the in-edges in CSR,
global in-degrees, edge features): it never learns it was sampled. Its aggregation over a target's ``k`` sampled
in-edges (of ``deg`` in the whole graph) is scaled by ``deg / k``: a sum's unbiased estimate, and, for a mean,
the mean over the sampled neighbours (what DGL's and PyG's samplers give).

:class:`Blocks` follows the model through its layers (hooks before and after each halo layer), so that between
layers (dropout, activations, per-row norms) ``inner_ids`` are the rows the model holds: the first block's sources
before the first layer, the targets of layer ``l`` after it.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from gnnpart.data.csr import coo_to_csr
from gnnpart.nn.contract import HaloLayer
from gnnpart.nn.kernels import spmm_sum


class Block:
    """One layer's bipartite graph: targets, and sources (the targets first), with the sampled in-edges.

    Args:
        target_ids (np.ndarray): int64 ``[T]`` global ids of the targets.
        source_ids (np.ndarray): int64 ``[S]`` global ids of the sources (``source_ids[:T] == target_ids``).
        counts (np.ndarray): int64 ``[T]`` sampled in-edges of each target.
        cols (np.ndarray): int64 ``[E]`` each sampled edge's source, a position in ``source_ids`` (targets' edges
            in target order).
        source_degree (np.ndarray): ``[S]`` each source's in-degree in the whole graph.
        edge_attr (np.ndarray, optional): float32 ``[E, D]`` features of the sampled edges.

    Attributes:
        num_targets (int), num_sources (int), num_edges (int).
        scale (np.ndarray): float64 ``[T]``, ``deg / k`` of each target (1 when every in-edge was kept; 0 without
            any).
    """

    def __init__(self, target_ids, source_ids, counts, cols, source_degree, edge_attr=None):
        self.target_ids = np.asarray(target_ids, dtype=np.int64)
        self.source_ids = np.asarray(source_ids, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.source_degree = np.asarray(source_degree, dtype=np.float64)
        self.edge_attr = None if edge_attr is None else np.asarray(edge_attr, dtype=np.float32)
        self.num_targets, self.num_sources = len(self.target_ids), len(self.source_ids)
        self.num_edges = len(self.cols)
        deg = self.source_degree[: self.num_targets]
        self.scale = np.where(self.counts > 0, deg / np.maximum(self.counts, 1), 0.0)
        self.indptr = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.edge_dst = np.repeat(np.arange(self.num_targets, dtype=np.int64), self.counts)

    def __repr__(self) -> str:
        return f"Block(targets={self.num_targets}, sources={self.num_sources}, edges={self.num_edges})"


class _OnDevice:
    """A block's tensors on the device a model runs on (made when the batch is handed to the model)."""

    def __init__(self, block: Block, device: torch.device, dtype: torch.dtype):
        def tensor(array, kind):
            t = torch.from_numpy(np.ascontiguousarray(array)).to(kind)
            if device.type == "cuda":
                return t.pin_memory().to(device, non_blocking=True)
            return t

        t_indptr, t_indices = coo_to_csr(block.cols, block.edge_dst, block.num_sources, block.num_targets,
                                         dedup=False)
        self.block = block
        self.num_inner, self.num_local = block.num_targets, block.num_sources
        self.global_ids = tensor(block.source_ids, torch.long)
        self.inner_ids = self.global_ids[: block.num_targets]
        self.in_degree = tensor(block.source_degree, torch.float32)
        self.indptr = tensor(block.indptr, torch.long)
        self.indices = tensor(block.cols, torch.long)
        self.t_indptr = tensor(t_indptr, torch.long)
        self.t_indices = tensor(t_indices, torch.long)
        self.edge_dst = tensor(block.edge_dst, torch.long)
        self.scale = tensor(block.scale, dtype).unsqueeze(1)
        self.edge_attr = None if block.edge_attr is None else tensor(block.edge_attr, torch.float32)
        self.cache: dict = {}


_PER_LAYER = ("num_local", "global_ids", "in_degree", "indptr", "indices", "t_indptr", "t_indices", "edge_dst",
              "edge_attr", "cache")
"""What a layer reads of its own block (inside a layer: :class:`Blocks` answers with its current block's)."""


class Blocks:
    """A sampled batch as a model sees it: the layers' blocks, in layer order, and where the model is.

    Args:
        blocks (list[Block]): one per halo layer, by ``layer_id``; block ``l``'s targets are block ``l + 1``'s
            sources.
        comm (Communicator): the job's communicator (for layers that ask it).
        seed (int): keys the dropout masks.
        step (int): the global step (epoch times batches, plus the batch): dropout masks differ by step.
        device (torch.device): where the tensors live.
        dtype (torch.dtype): the model's dtype.

    Attributes:
        sampled (bool): True (a layer that must refuse sampled neighbourhoods asks it).
        seeds (np.ndarray): the last block's targets: the rows of the model's output.
        input_ids (np.ndarray): the first block's sources: the rows of the model's input.
    """

    sampled = True

    def __init__(self, blocks: list, comm, seed: int, step: int, device, dtype: torch.dtype = torch.float32):
        if not blocks:
            raise ValueError("`blocks` must hold one block per layer (got none)")
        for lower, upper in zip(blocks[:-1], blocks[1:]):
            if not np.array_equal(lower.target_ids, upper.source_ids):
                raise ValueError("each block's targets must be the next block's sources")
        self.blocks = list(blocks)
        self.comm, self.seed, self.epoch = comm, int(seed), int(step)
        self.device = torch.device(device)
        self.dtype = dtype
        self.progress = None
        self.owner = None
        self.policies: dict = {}
        self.gates = None
        self.sums = None
        self.aggregate_at = "receiver"
        self.overlap = False
        self.types = self.node_type = self.edge_type = None
        self.seeds = self.blocks[-1].target_ids
        self.input_ids = self.blocks[0].source_ids
        self._on_device = [_OnDevice(b, self.device, dtype) for b in self.blocks]
        self._at = None  # the block of the layer running now
        self._rows = self._on_device[0].global_ids  # the global ids of the rows the model holds between layers

    def __repr__(self) -> str:
        return f"Blocks({', '.join(repr(b) for b in self.blocks)})"

    # ---------------------------------------------------------------------- where the model is
    @contextmanager
    def following(self, model):
        """Run ``model`` on these blocks: hooks before and after each of its halo layers tell the blocks which
        layer runs (removed when the block ends)."""
        handles = []
        for module in model.modules():
            if isinstance(module, HaloLayer):
                handles.append(module.register_forward_pre_hook(self._pre_hook))
                handles.append(module.register_forward_hook(self._post_hook))
        self._at, self._rows = None, self._on_device[0].global_ids
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _pre_hook(self, layer, args):
        if any(a is self for a in args):
            if layer.layer_id is None or not 0 <= layer.layer_id < len(self.blocks):
                raise ValueError(f"{type(layer).__name__} has layer_id {layer.layer_id}, and the batch has "
                                 f"{len(self.blocks)} blocks (one per halo layer)")
            self._at = self._on_device[layer.layer_id]
            rows = args[0].shape[0] if args and isinstance(args[0], torch.Tensor) else None
            if rows is not None and rows != self._at.num_local:
                raise ValueError(f"layer {layer.layer_id} ({type(layer).__name__}) got {rows} rows; on a sampled "
                                 f"batch a layer takes one row per source of its block ({self._at.num_local}): "
                                 "run the model's layers in order, each on the last one's output")

    def _post_hook(self, layer, args, output):
        if any(a is self for a in args):
            self._rows = self._at.inner_ids
            self._at = None
            if isinstance(output, torch.Tensor) and output.shape[0] != len(self._rows):
                raise ValueError(f"layer {layer.layer_id} ({type(layer).__name__}) returned {output.shape[0]} rows; "
                                 f"on a sampled batch it must return one row per target of its block "
                                 f"({len(self._rows)}): read the targets' own rows with graph.targets(h)")

    def _block(self, what: str) -> _OnDevice:
        if self._at is None:
            raise ValueError(f"graph.{what} of a sampled batch is a layer's, and no halo layer is running: call it "
                             "from a HaloLayer's forward")
        return self._at

    # ---------------------------------------------------------------------- what LocalGraph offers
    @property
    def num_inner(self) -> int:
        """Inside a layer: its targets; between layers: the rows the model holds."""
        return self._at.num_inner if self._at is not None else len(self._rows)

    @property
    def inner_ids(self) -> torch.Tensor:
        """int64 global ids of the rows :attr:`num_inner` counts (dropout masks are keyed by them)."""
        return self._at.inner_ids if self._at is not None else self._rows

    def __getattr__(self, name):
        if name in _PER_LAYER:
            return getattr(self._block(name), name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def edge_index(self) -> torch.Tensor:
        """int64 ``[2, E]``: (source position, target position) of every sampled edge."""
        block = self._block("edge_index")
        if "edge_index" not in block.cache:
            block.cache["edge_index"] = torch.stack([block.indices, block.edge_dst])
        return block.cache["edge_index"]

    def targets(self, h: torch.Tensor) -> torch.Tensor:
        """The targets' rows of a layer's input (``[S, ...]`` -> ``[T, ...]``): the first ``T``."""
        return h[: self._block("targets").num_inner]

    def halo(self, h: torch.Tensor, layer=None) -> torch.Tensor:
        """``[S, F]`` -> ``[S, F]``: on a batch every source's row is the layer's input already."""
        block = self._block("halo")
        if h.shape[0] != block.num_local:
            raise ValueError(f"graph.halo(h) on a sampled batch takes one row per source ({block.num_local}), got "
                             f"{h.shape[0]}")
        return h

    halo_exact = halo

    def aggregate(self, h_local: torch.Tensor) -> torch.Tensor:
        """``[S, F]`` -> ``[T, F]``: each target's sum over its sampled in-edges, scaled by ``deg / k``."""
        block = self._block("aggregate")
        out = spmm_sum(block.indptr, block.indices, h_local.contiguous(), block.t_indptr, block.t_indices)
        return out * block.scale.to(out.dtype)

    def aggregate_halo(self, h: torch.Tensor, layer=None, scale: torch.Tensor | None = None) -> torch.Tensor:
        """``aggregate(scale * halo(h))`` (nothing travels on a batch)."""
        local = self.halo(h, layer)
        return self.aggregate(local if scale is None else scale * local)

    def enter(self, phase: str) -> None:
        """Record what the rank is doing (for the trainer's watchdog)."""
        if self.progress is not None:
            self.progress.enter(phase)

    def reset(self) -> None:
        """Nothing to reset: a batch's blocks serve one step."""

    def _whole_graph(self, what: str):
        raise ValueError(f"graph.{what}() needs every node's whole neighbourhood (the whole graph's degrees or edges), "
                         "which a sampled batch does not hold: this layer cannot train mini-batch; train it full-graph "
                         "(without --batch-size)")

    def gcn_norm(self, *args, **kwargs):
        self._whole_graph("gcn_norm")

    def degree_completed_edges(self, *args, **kwargs):
        self._whole_graph("degree_completed_edges")

    def out_degree(self):
        self._whole_graph("out_degree")
