"""The sampler's all-to-alls: rows of numpy arrays to the ranks that own them, counted in bytes."""
from __future__ import annotations

import time

import numpy as np


class RowMail:
    """Personalised all-to-alls of numpy rows over an mpi4py communicator, each counted in :attr:`bytes`.

    Args:
        comm: the mpi4py communicator (a rank alone: None).
    """

    def __init__(self, comm, poll_s: float | None = None):
        self.comm = comm
        self.poll_s = poll_s
        self.size = 1 if comm is None else comm.Get_size()
        self.rank = 0 if comm is None else comm.Get_rank()
        self.bytes = 0  # received by this rank

    def counts(self, send_counts: np.ndarray) -> np.ndarray:
        """How many rows each rank sends this one, given how many it sends each (``Alltoall``)."""
        send_counts = np.ascontiguousarray(send_counts, dtype=np.int64)
        if self.size == 1:
            return send_counts.copy()
        recv = np.empty_like(send_counts)
        self._wait(self.comm.Ialltoall(send_counts, recv))
        return recv

    def _wait(self, request) -> None:
        """Wait for a non-blocking call: spinning in MPI (``poll_s`` None), or testing it every ``poll_s`` seconds,
        asleep between (a thread beside the rank's compute: MPI's own waits spin, and hold its lock)."""
        if self.poll_s is None:
            request.Wait()
            return
        while not request.Test():
            time.sleep(self.poll_s)

    def send(self, rows: np.ndarray, send_counts: np.ndarray, recv_counts: np.ndarray) -> np.ndarray:
        """``rows`` (grouped by destination rank, ``send_counts[r]`` for rank ``r``) to their ranks; returns what this
        rank gets, grouped by source rank (``recv_counts``)."""
        from mpi4py import MPI

        rows = np.ascontiguousarray(rows)
        shape, dtype = rows.shape[1:], rows.dtype
        row_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        out = np.empty((int(np.sum(recv_counts)),) + shape, dtype=dtype)
        if self.size == 1:
            out[...] = rows
            return out
        self.bytes += out.nbytes
        if row_bytes == 0:
            return out
        send_bytes = np.asarray(send_counts, dtype=np.int64) * row_bytes
        recv_bytes = np.asarray(recv_counts, dtype=np.int64) * row_bytes
        self._wait(self.comm.Ialltoallv([rows.view(np.uint8).reshape(-1), (send_bytes, None), MPI.BYTE],
                                        [out.view(np.uint8).reshape(-1), (recv_bytes, None), MPI.BYTE]))
        return out


def by_destination(dest: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, counts)``: a stable order of the entries grouped by destination rank, and each rank's count."""
    dest = np.asarray(dest, dtype=np.int64)
    return np.argsort(dest, kind="stable"), np.bincount(dest, minlength=size).astype(np.int64)


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every range, concatenated."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) - np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                        lengths)
    return offsets + np.arange(total, dtype=np.int64)
