"""A communicator object over mpi4py: pass it in, never a module-level singleton.

All calls use mpi4py's uppercase (buffer) API: no pickling on the hot path. Host tensors go straight to MPI;
tensors on a GPU travel through the communicator's transport (:mod:`gnnpart.comm.transport`): staged through
pinned host memory (``mpi``, the default), straight from GPU memory (``mpi-cuda``), or through NCCL (``nccl``).
"""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.comm.transport import MPITransport, make_transport


class Communicator:
    """Rank, size and the collectives gnnpart uses.

    Args:
        comm (mpi4py.MPI.Comm, optional): the MPI communicator (default ``MPI.COMM_WORLD``).

    Attributes:
        transport: how tensors travel (``transport.name``: ``mpi``, ``mpi-cuda`` or ``nccl``); see
            :meth:`use_transport`.
    """

    def __init__(self, comm=None):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.transport = MPITransport(self.comm)
        self._hosts = None

    def __repr__(self) -> str:
        return f"Communicator(rank={self.rank}, size={self.size}, transport={self.transport.name})"

    def use_transport(self, name: str, device) -> None:
        """Move GPU tensors with transport ``name`` (``mpi``, ``mpi-cuda``, ``nccl``) from now on; every rank calls it.

        Args:
            name (str): the transport.
            device (torch.device | str): this rank's device (``mpi-cuda`` and ``nccl`` need a GPU).
        """
        if name != self.transport.name:
            self.transport.close()
            self.transport = make_transport(name, self.comm, torch.device(device))

    def reset_transport(self) -> None:
        """Release the transport (an NCCL group is destroyed) and move GPU tensors through MPI again, as a new
        communicator does; every rank calls it."""
        self.transport.close()
        self.transport = MPITransport(self.comm)

    def hosts(self) -> tuple[np.ndarray, list[str]]:
        """Which ranks share a host: ``(host [size], names)``, each rank's host as an index into ``names`` (the
        hosts' names, in the order of their first rank), from MPI's shared-memory split (``COMM_TYPE_SHARED``:
        the ranks that can share memory are one host, whatever their names say). Collective the first time
        (every rank calls it then), kept after."""
        if self._hosts is None:
            import socket

            if self.size == 1:
                self._hosts = (np.zeros(1, dtype=np.int64), [socket.gethostname()])
            else:
                local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
                try:
                    leader = local.bcast(self.rank, root=0)  # the host's first rank names it
                finally:
                    local.Free()
                leaders = np.array(self.comm.allgather(leader), dtype=np.int64)
                names = self.comm.allgather(socket.gethostname())
                firsts = sorted(set(leaders.tolist()))
                host = np.searchsorted(np.array(firsts), leaders).astype(np.int64)
                self._hosts = (host, [names[r] for r in firsts])
        return self._hosts

    def local_rank(self) -> int:
        """This rank's index among the ranks of its node (``COMM_TYPE_SHARED``)."""
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
        try:
            return local.Get_rank()
        finally:
            local.Free()

    def allreduce_(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over all ranks, in place; returns ``t``.

        Args:
            t (torch.Tensor): a contiguous tensor (CPU or GPU), ``[*]`` (any shape), the same shape on every rank.
        """
        if self.size > 1:
            self.transport.allreduce_(t)
        return t

    def broadcast_(self, t: torch.Tensor, root: int = 0) -> torch.Tensor:
        """Overwrite ``t`` on every rank with root's ``t``; returns ``t``.

        Args:
            t (torch.Tensor): a contiguous tensor (CPU or GPU), ``[*]``, the same shape on every rank.
            root (int): the rank whose values are kept (default 0).
        """
        if self.size > 1:
            self.transport.broadcast_(t, root)
        return t

    def sum_scalars(self, values) -> list[float]:
        """Sum a short list of numbers over all ranks (in float64), in one ``Allreduce``.

        Args:
            values (list[float]): the same length on every rank.
        """
        buf = torch.tensor(list(values), dtype=torch.float64)
        return self.allreduce_(buf).tolist()

    def max_scalar(self, value: float) -> float:
        """The largest of one number over all ranks (in float64).

        Args:
            value (float): this rank's number.
        """
        from mpi4py import MPI

        return float(self.comm.allreduce(float(value), op=MPI.MAX)) if self.size > 1 else float(value)

    def gather_rows(self, rows: np.ndarray, root: int) -> np.ndarray | None:
        """Every rank's rows, concatenated in rank order, on rank ``root`` (None elsewhere); no pickle.

        Args:
            rows (np.ndarray): ``[n_r, *]`` this rank's rows (the same trailing shape and dtype on every rank).
            root (int): the rank that receives them.
        """
        rows = np.ascontiguousarray(rows)
        if self.size == 1:
            return rows.copy()
        counts = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([rows.shape[0]], dtype=np.int64), counts)
        width = int(np.prod(rows.shape[1:], dtype=np.int64))
        sizes = counts * width
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        out = np.empty((int(counts.sum()),) + rows.shape[1:], dtype=rows.dtype) if self.rank == root else None
        target = [out.reshape(-1), sizes, offsets, self.MPI._typedict[rows.dtype.char]] if out is not None else None
        self.comm.Gatherv(rows.reshape(-1), target, root=root)
        return out

    def alltoallv(self, send: torch.Tensor, send_counts: np.ndarray, recv: torch.Tensor, recv_counts: np.ndarray) -> None:
        """Personalised all-to-all: ``send_counts[r]`` elements to rank ``r``, ``recv_counts[r]`` from it.

        Args:
            send (torch.Tensor): contiguous ``[sum(send_counts)]`` (any dtype; counted in elements; CPU or GPU).
            send_counts (np.ndarray): int ``[size]``.
            recv (torch.Tensor): contiguous ``[sum(recv_counts)]`` of the same dtype, on send's device, written.
            recv_counts (np.ndarray): int ``[size]``.
        """
        self.ialltoallv(send, send_counts, recv, recv_counts).Wait()

    def ialltoallv(self, send, send_counts, recv, recv_counts):
        """Non-blocking :meth:`alltoallv`; returns a request (``.Wait()``).

        The caller keeps ``send`` and ``recv`` alive until the request completes (see :class:`~gnnpart.comm.Handle`).

        Args:
            send (torch.Tensor), send_counts (np.ndarray), recv (torch.Tensor), recv_counts (np.ndarray): as
                :meth:`alltoallv`, with shapes ``[sum(send_counts)]`` and ``[sum(recv_counts)]``.
        """
        return self.transport.ialltoallv(send, np.asarray(send_counts), recv, np.asarray(recv_counts))

    def barrier(self) -> None:
        """Wait until every rank has called it."""
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (after a failure on this one).

        Args:
            code (int): the exit status (default 1).
        """
        self.comm.Abort(code)
