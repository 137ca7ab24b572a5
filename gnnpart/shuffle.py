"""Moving rows between ranks in bounded all-to-alls, and looking up values held by the rank whose slice owns an id.

:func:`exchange` sends every row of an array to its destination rank in rounds in which no rank sends or
receives more than about ``block_bytes`` (so no count or offset exceeds the int of an MPI without large counts,
and a round's buffers stay bounded), and returns the rows a rank receives in a canonical order: by source rank,
then in the source's order. Two arrays sent with the same destinations therefore arrive aligned, whatever their
widths.
"""
from __future__ import annotations

import numpy as np

BLOCK_BYTES = 256 << 20
"""Bytes a rank sends in one round of :func:`exchange` (at most; a single row larger than this goes alone)."""


def exchange(comm, dest: np.ndarray, array: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Send ``array[i]`` to rank ``dest[i]`` for every row (collective over ``comm``).

    The rows for each destination are split into ``T`` consecutive chunks, one per round, ``T`` agreed by the
    ranks so that no rank sends or receives more than about ``block_bytes`` in a round (so no count or offset
    of a round exceeds an MPI's int, and the round's buffers stay bounded).

    Args:
        comm: mpi4py communicator.
        dest (np.ndarray): int ``[M]`` destination rank of each row.
        array (np.ndarray): ``[M, ...]`` the rows (any fixed-size dtype).
        block_bytes (int): bytes a rank sends, and receives, per round (about; at least one row a round).

    Returns:
        np.ndarray: the rows this rank receives, ordered by source rank, each source's rows in its own order.
    """
    from mpi4py import MPI

    size = comm.Get_size()
    array = np.asarray(array)
    row_shape, dtype = array.shape[1:], array.dtype
    if size == 1:
        return array
    dest = np.asarray(dest, dtype=np.int64)
    order = np.argsort(dest, kind="stable")
    counts = np.bincount(dest, minlength=size).astype(np.int64)
    recv_counts = np.empty_like(counts)
    comm.Alltoall(counts, recv_counts)
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    if row_bytes == 0:  # rows of no width: only their number travels
        return np.empty((int(recv_counts.sum()),) + row_shape, dtype=dtype)
    most = max(int(counts.sum()), int(recv_counts.sum()), 1) * row_bytes
    rounds = int(comm.allreduce(-(-most // max(block_bytes, row_bytes)), op=MPI.MAX))
    starts = np.concatenate([[0], np.cumsum(counts)])
    pieces: list[list[np.ndarray]] = [[] for _ in range(size)]
    for t in range(rounds):
        lo, hi = starts[:-1] + counts * t // rounds, starts[:-1] + counts * (t + 1) // rounds
        send_counts = hi - lo
        got_counts = recv_counts * (t + 1) // rounds - recv_counts * t // rounds
        window = np.concatenate([order[a:b] for a, b in zip(lo, hi)]) if len(order) else order
        send = np.ascontiguousarray(array[window]).view(np.uint8).reshape(-1)
        got = np.empty(int(got_counts.sum()) * row_bytes, dtype=np.uint8)
        comm.Alltoallv([send, (send_counts * row_bytes, None), MPI.BYTE],
                       [got, (got_counts * row_bytes, None), MPI.BYTE])
        rows = got.view(dtype).reshape((-1,) + row_shape)
        offsets = np.concatenate([[0], np.cumsum(got_counts)])
        for source in range(size):
            pieces[source].append(rows[offsets[source]:offsets[source + 1]])
    parts = [p for source in pieces for p in source]
    return np.concatenate(parts) if parts else np.empty((0,) + row_shape, dtype=dtype)


def holder_of(bounds: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The rank whose slice ``[bounds[r], bounds[r + 1])`` holds each id."""
    return np.searchsorted(bounds, ids, side="right") - 1


def lookup(comm, bounds: np.ndarray, ids: np.ndarray, table: np.ndarray, lo: int,
           block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """``table``'s row of every id in ``ids``, wherever the id lives (collective).

    Args:
        bounds (np.ndarray): the slices, as :func:`gnnpart.partition.graph_slice.slice_bounds`.
        ids (np.ndarray): int64 global ids this rank asks about (distinct, to keep the messages small).
        table (np.ndarray): ``[hi - lo, ...]`` this rank's rows, for its nodes ``[lo, hi)``.
        lo (int): this rank's first node.

    Returns:
        np.ndarray: ``[len(ids), ...]`` the rows, in the order of ``ids``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    holders = holder_of(bounds, ids)
    asked = exchange(comm, holders, ids, block_bytes)  # by asking rank, each in its order of (holder, position)
    sources = np.repeat(np.arange(comm.Get_size()), _counts_from(comm, holders))
    answers = exchange(comm, sources, table[asked - lo], block_bytes)
    out = np.empty((len(ids),) + table.shape[1:], dtype=table.dtype)
    out[np.argsort(holders, kind="stable")] = answers
    return out


def _counts_from(comm, holders: np.ndarray) -> np.ndarray:
    """How many ids each rank asked this rank about (in the order :func:`exchange` delivers them)."""
    counts = np.bincount(holders, minlength=comm.Get_size()).astype(np.int64)
    got = np.empty_like(counts)
    if comm.Get_size() == 1:
        return counts
    comm.Alltoall(counts, got)
    return got
