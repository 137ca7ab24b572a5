"""The sampler's kernels (``gnnpart._C``: ``csrc/sampling/``), their plain references, and the sampler's keys.

* :func:`sample_neighbors`: the ``fanout`` in-edges of each target whose sources hash lowest under a key that
  depends only on (seed, epoch, batch, hop) and the two ends' global ids, so any rank draws the same ones.
* :func:`block_sources`: a block's sources (the targets first, then each sampled node once, in the order it
  first appears) and each sampled edge's source as a position among them.

The references (``*_reference``) compute the same in numpy, for the tests.
"""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart



@torch.library.register_fake("gnnpart::sample_neighbors")
def _sample_neighbors_fake(indptr, edge_gids, rows, row_gids, fanout, key):
    kept = torch.library.get_ctx().new_dynamic_size()
    return rows.new_empty(rows.shape), rows.new_empty(kept)


@torch.library.register_fake("gnnpart::block_sources")
def _block_sources_fake(targets, sampled):
    ctx = torch.library.get_ctx()
    return targets.new_empty(ctx.new_dynamic_size()), sampled.new_empty(sampled.shape), \
        sampled.new_empty(ctx.new_dynamic_size())


_MASK = (1 << 64) - 1
BATCH_STREAM = 0x62617463  # "batc": the key of the batches' order, apart from the neighbours' draws
HOP_STREAM = 0x686F70  # "hop"


def mix64(z: int) -> int:
    """SplitMix64's finaliser, as ``csrc/hashing/hash.h`` computes it (Python integers, for keys)."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def mix64_array(z: np.ndarray) -> np.ndarray:
    """:func:`mix64` of every entry of a uint64 array."""
    z = np.asarray(z, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _signed(key: int) -> int:
    return key - (1 << 64) if key >= 1 << 63 else key


def hop_key(seed: int, epoch: int, batch: int, hop: int) -> int:
    """The key of one hop's draw of one batch (int64, as the op takes it)."""
    key = mix64(mix64(mix64(mix64(int(seed) & _MASK) ^ HOP_STREAM) ^ (int(epoch) & _MASK)) ^ (int(batch) & _MASK))
    return _signed(mix64(key ^ (int(hop) & _MASK)))


def batch_keys(seed: int, epoch: int, gids: np.ndarray) -> np.ndarray:
    """uint64 ``[n]``: each training node's key in epoch ``epoch``'s order (a hash of seed, epoch and its id)."""
    stream = mix64(mix64(mix64(int(seed) & _MASK) ^ BATCH_STREAM) ^ (int(epoch) & _MASK))
    return mix64_array(np.uint64(stream) ^ np.asarray(gids, dtype=np.int64).astype(np.uint64))


def sample_neighbors(indptr: torch.Tensor, edge_gids: torch.Tensor, rows: torch.Tensor, row_gids: torch.Tensor,
                     fanout: int, key: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample up to ``fanout`` in-edges of each row of ``rows``.

    Args:
        indptr (torch.Tensor): int64 ``[R + 1]``, a CSR of in-edges.
        edge_gids (torch.Tensor): int64 ``[E]``, each edge's source as a global id (read in order: a rank keeps
            them beside its CSR, so that drawing reads no id at random).
        rows (torch.Tensor): int64 ``[T]``, the rows (targets) to sample.
        row_gids (torch.Tensor): int64 ``[T]``, their global ids.
        fanout (int): edges per row at most (a shorter row keeps all of its edges).
        key (int): the draw (:func:`hop_key`).

    Returns:
        ``(counts [T], edges [sum(counts)])``: how many edges each target kept, and the kept edges' positions in
        the CSR, each row's in ascending order of their draw.
    """
    return _ops.sample_neighbors(indptr, edge_gids, rows, row_gids, int(fanout), int(key))


def block_sources(targets: torch.Tensor, sampled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A block's sources from its targets and the global ids of its sampled edges' sources.

    Args:
        targets (torch.Tensor): int64 ``[T]`` distinct global ids.
        sampled (torch.Tensor): int64 ``[S]`` global ids (repeats allowed).

    Returns:
        ``(sources [U], cols [S], first [U - T])``: the targets then each new id in the order of its first
        appearance; each sampled edge's source as a position in ``sources``; where each new id first appears in
        ``sampled``.
    """
    return _ops.block_sources(targets, sampled)


def _edge_draws(row_key: np.ndarray, source_gids: np.ndarray) -> np.ndarray:
    return mix64_array(row_key ^ (source_gids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))


def sample_neighbors_reference(indptr, edge_gids, rows, row_gids, fanout: int, key: int):
    """:func:`sample_neighbors` in numpy (sorting every row's draws), for the tests."""
    indptr, edge_gids, rows, row_gids = (np.asarray(a, dtype=np.int64) for a in (indptr, edge_gids, rows, row_gids))
    stream = np.uint64(key & _MASK)
    counts, edges = [], []
    with np.errstate(over="ignore"):
        for r, g in zip(rows, row_gids):
            begin, end = indptr[r], indptr[r + 1]
            row_key = mix64_array(stream ^ np.uint64(g))
            draws = _edge_draws(row_key, edge_gids[begin:end])
            order = np.lexsort((edge_gids[begin:end], draws))[:fanout]
            counts.append(len(order))
            edges.append(begin + order)
    return np.array(counts, dtype=np.int64), (np.concatenate(edges) if edges else np.zeros(0, np.int64))


def block_sources_reference(targets, sampled):
    """:func:`block_sources` in plain Python, for the tests."""
    position = {int(t): i for i, t in enumerate(targets)}
    sources, cols, first = [int(t) for t in targets], [], []
    for j, g in enumerate(int(s) for s in sampled):
        if g not in position:
            position[g] = len(sources)
            sources.append(g)
            first.append(j)
        cols.append(position[g])
    return (np.array(sources, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(first, dtype=np.int64))
