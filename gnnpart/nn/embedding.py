"""Learnable embeddings of featureless nodes, sharded by owner: :class:`ShardedEmbedding`.

Each rank holds the rows of its own (inner) nodes of a type, and nothing else: the rows of halo nodes reach other
ranks through the first layer's halo exchange, and their gradients come back to the owners through its backward,
as any row's do. So the rows are never all-reduced or broadcast (:func:`sharded_parameters` tells the Trainer
which parameters are shards), and they take sparse gradients (``torch.optim.SparseAdam`` or ``Adagrad`` updates
only the rows a step touched, as DistDGL's ``DistEmbedding`` offers).

A row's first value depends only on the seed, the type and the node's global id (a counter-based hash, as dropout
masks are drawn), so any partition starts from the same embeddings as one process.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hashed_uniform(global_ids: np.ndarray, dim: int, seed: int, stream: int) -> np.ndarray:
    """float64 ``[len(global_ids), dim]`` uniform in ``[-1, 1)``: entry ``(i, c)`` a hash of ``(seed, stream,
    global_ids[i], c)`` alone, so a node's row is the same on every partition."""
    ids = np.asarray(global_ids, dtype=np.uint64).reshape(-1, 1)
    cols = np.arange(dim, dtype=np.uint64).reshape(1, -1)
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(stream))
        z = _mix(key ^ (ids * np.uint64(dim) + cols + np.uint64(1)))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 / 2**53) - 1.0


class ShardedEmbedding(nn.Module):
    """This rank's rows of a learnable ``[N_t, dim]`` embedding: one row per inner node of a type.

    Args:
        global_ids (array): int64 ``[n]``, the global id of each row's node (the rank's inner nodes of the type).
        dim (int): the embedding width.
        seed (int): seed of the first values (with ``stream``, see :func:`hashed_uniform`).
        stream (int): keeps the draws of different types apart (the type's index).
        scale (float): the first values are uniform in ``[-scale, scale)`` (default 1).

    Attributes:
        weight (torch.nn.Parameter): ``[n, dim]``, sparse gradients.
        global_ids (np.ndarray): int64 ``[n]``, the node of each row.
    """

    sharded = True

    def __init__(self, global_ids, dim: int, seed: int = 0, stream: int = 0, scale: float = 1.0):
        super().__init__()
        ids = np.asarray(global_ids, dtype=np.int64)
        self.dim, self.seed, self.stream, self.scale = int(dim), int(seed), int(stream), float(scale)
        self.global_ids = ids.copy()  # not a buffer: each rank's differ, and buffers are broadcast from rank 0
        self.weight = nn.Parameter(torch.empty(len(ids), self.dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        values = hashed_uniform(self.global_ids, self.dim, self.seed, self.stream) * self.scale
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(values).to(self.weight.dtype))

    def forward(self) -> torch.Tensor:
        """All rows, ``[n, dim]``, through a lookup whose gradient is sparse (one entry per row)."""
        rows = torch.arange(self.weight.shape[0], device=self.weight.device)
        return nn.functional.embedding(rows, self.weight, sparse=True)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]} rows, dim={self.dim}"


def sharded_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model``'s :class:`ShardedEmbedding` modules (each rank's own rows: never broadcast or
    all-reduced)."""
    return [m.weight for m in model.modules() if getattr(m, "sharded", False)]


def dense_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters every rank holds the same copy of: all but :func:`sharded_parameters`."""
    shards = {id(p) for p in sharded_parameters(model)}
    return [p for p in model.parameters() if id(p) not in shards]
