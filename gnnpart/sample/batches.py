"""An epoch's batches of training nodes, the same for any partition.

Epoch ``e`` orders the graph's ``T`` training nodes by a hash of ``(seed, e, global id)`` (ties by id) and cuts the
order into ``ceil(T / B)`` batches of ``B`` (the last may be shorter). Each rank hashes its own training nodes; the
ranks share the keys once an epoch (an all-gather of 8 bytes a training node) so that each knows where its nodes
fall in the global order. A rank trains on its nodes of each batch, and every rank takes every step, with seeds
or without.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnpart.sample.sample_ops import batch_keys


@dataclass(frozen=True)
class EpochBatches:
    """One epoch's batches, seen from one rank.

    Attributes:
        num_batches (int): the global number of batches, ``ceil(T / B)``.
        seeds (list[np.ndarray]): for each batch, this rank's training nodes in it (local ids, in the global order).
        total (int): ``T``, the training nodes of every rank.
    """

    num_batches: int
    seeds: list
    total: int


def epoch_batches(comm, train_local: np.ndarray, train_gids: np.ndarray, batch_size: int, seed: int,
                  epoch: int) -> EpochBatches:
    """Split epoch ``epoch``'s training nodes into batches (collective over ``comm``, an mpi4py communicator or None
    alone).

    Args:
        train_local (np.ndarray): int64 ``[n]``, this rank's training nodes as local ids.
        train_gids (np.ndarray): int64 ``[n]``, their global ids.
        batch_size (int): ``B``.
        seed (int), epoch (int): key the order.
    """
    keys = batch_keys(seed, epoch, train_gids)
    if comm is None or comm.Get_size() == 1:
        all_keys, all_gids = keys, np.asarray(train_gids, dtype=np.int64)
    else:
        counts = np.array(comm.allgather(len(keys)), dtype=np.int64)
        all_keys = np.empty(int(counts.sum()), dtype=np.uint64)
        all_gids = np.empty(int(counts.sum()), dtype=np.int64)
        from mpi4py import MPI

        comm.Allgatherv(np.ascontiguousarray(keys), [all_keys, counts, None, MPI.UINT64_T])
        comm.Allgatherv(np.ascontiguousarray(train_gids, dtype=np.int64), [all_gids, counts, None, MPI.INT64_T])
    total = len(all_keys)
    order = np.lexsort((all_gids, all_keys))  # the global order: by key, ties by id
    position = np.empty(total, dtype=np.int64)
    position[order] = np.arange(total, dtype=np.int64)
    first = 0 if comm is None or comm.Get_size() == 1 else int(np.sum(counts[: comm.Get_rank()]))
    mine = position[first: first + len(keys)]  # where this rank's nodes stand in the global order
    num_batches = max(1, -(-total // batch_size))
    batch = mine // batch_size
    by_position = np.argsort(mine, kind="stable")
    train_local = np.asarray(train_local, dtype=np.int64)[by_position]
    batch = batch[by_position]
    bounds = np.searchsorted(batch, np.arange(num_batches + 1))
    seeds = [train_local[bounds[b]: bounds[b + 1]] for b in range(num_batches)]
    return EpochBatches(num_batches, seeds, total)
