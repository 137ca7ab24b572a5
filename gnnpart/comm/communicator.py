"""A communicator object over mpi4py: pass it in, never a module-level singleton.

All calls use mpi4py's uppercase (buffer) API on contiguous CPU tensors: no
pickling on the hot path. Tensors on a GPU are staged through host memory.
"""
from __future__ import annotations

import numpy as np
import torch


def _host(t: torch.Tensor) -> np.ndarray:
    if t.device.type != "cpu" or not t.is_contiguous():
        raise ValueError(f"MPI buffers must be contiguous CPU tensors (got device {t.device}, contiguous={t.is_contiguous()})")
    return t.detach().numpy()


class Communicator:
    """Rank, size and the collectives gnnpart uses.

    Args:
        comm (mpi4py.MPI.Comm, optional): the MPI communicator (default ``MPI.COMM_WORLD``).
    """

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()

    def __repr__(self) -> str:
        return f"Communicator(rank={self.rank}, size={self.size})"

    def allreduce_(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over all ranks, in place; returns ``t``.

        Args:
            t (torch.Tensor): a contiguous CPU tensor, ``[*]`` (any shape), the same shape on every rank.
        """
        if self.size > 1:
            self.comm.Allreduce(self.MPI.IN_PLACE, _host(t), op=self.MPI.SUM)
        return t

    def broadcast_(self, t: torch.Tensor, root: int = 0) -> torch.Tensor:
        """Overwrite ``t`` on every rank with root's ``t``; returns ``t``.

        Args:
            t (torch.Tensor): a contiguous CPU tensor, ``[*]``, the same shape on every rank.
            root (int): the rank whose values are kept (default 0).
        """
        if self.size > 1:
            self.comm.Bcast(_host(t), root=root)
        return t

    def sum_scalars(self, values) -> list[float]:
        """Sum a short list of numbers over all ranks (in float64), in one ``Allreduce``.

        Args:
            values (list[float]): the same length on every rank.
        """
        buf = torch.tensor(list(values), dtype=torch.float64)
        return self.allreduce_(buf).tolist()

    def alltoallv(self, send: torch.Tensor, send_counts: np.ndarray, recv: torch.Tensor, recv_counts: np.ndarray) -> None:
        """Personalised all-to-all: ``send_counts[r]`` elements to rank ``r``, ``recv_counts[r]`` from it.

        Args:
            send (torch.Tensor): contiguous CPU ``[sum(send_counts)]`` (any dtype; counted in elements).
            send_counts (np.ndarray): int ``[size]``.
            recv (torch.Tensor): contiguous CPU ``[sum(recv_counts)]`` of the same dtype, written.
            recv_counts (np.ndarray): int ``[size]``.
        """
        self.comm.Alltoallv([_host(send), (send_counts, _displs(send_counts))],
                            [_host(recv), (recv_counts, _displs(recv_counts))])

    def ialltoallv(self, send, send_counts, recv, recv_counts):
        """Non-blocking :meth:`alltoallv`; returns the MPI request (``.Wait()``).

        The caller keeps ``send`` and ``recv`` alive until the request completes (see :class:`~gnnpart.comm.Handle`).

        Args:
            send (torch.Tensor), send_counts (np.ndarray), recv (torch.Tensor), recv_counts (np.ndarray): as
                :meth:`alltoallv`, with shapes ``[sum(send_counts)]`` and ``[sum(recv_counts)]``.
        """
        return self.comm.Ialltoallv([_host(send), (send_counts, _displs(send_counts))],
                                    [_host(recv), (recv_counts, _displs(recv_counts))])

    def barrier(self) -> None:
        """Wait until every rank has called it."""
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (after a failure on this one).

        Args:
            code (int): the exit status (default 1).
        """
        self.comm.Abort(code)


def _displs(counts: np.ndarray) -> np.ndarray:
    displs = np.zeros_like(counts)
    np.cumsum(counts[:-1], out=displs[1:])
    return displs
