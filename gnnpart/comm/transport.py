"""How bytes travel between ranks: the transports behind :class:`~gnnpart.comm.Communicator`.

Every exchange and all-reduce of gnnpart goes through one transport, chosen with ``transport`` (``--transport``;
the names and the rule that ties them to a device: :mod:`gnnpart.comm.transport_choice`):

* ``mpi`` (default, works everywhere): CPU tensors go straight to MPI. GPU tensors are staged through pinned host
  buffers: a copy to the host on a side stream (``non_blocking``), a synchronise, the MPI call, then a copy back to
  the GPU when the message has arrived. The MPI wheels on PyPI (MPICH, Open MPI) have no CUDA support, so this is
  the path they need.
* ``mpi-cuda``: GPU buffers go straight to mpi4py (through ``__cuda_array_interface__``) after a stream
  synchronise. Only for an MPI library that says it is CUDA-aware (:func:`mpi_cuda_support`); otherwise refused.
* ``nccl``: a ``torch.distributed`` NCCL group bootstrapped from the MPI ranks (rank 0 picks a free port and
  broadcasts its address over MPI: loopback on one node, else ``MASTER_ADDR`` or rank 0's host name): the halo
  through ``all_to_all_single``, gradients through ``all_reduce``. NCCL needs one GPU per rank: ranks that share
  a GPU are refused. Its calls are asynchronous, so ``halo_s`` and ``allreduce_s`` time only their enqueueing.

Host tensors (counts, scalars, CPU rows) always travel through MPI, whatever the transport. The bytes counted
are those of the message, the same for every transport (the pipeline counts them, not the transport).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import os
import socket

import numpy as np
import torch

from gnnpart.comm.transport_choice import check_transport
from gnnpart.errors import ConfigError

NCCL_TIMEOUT_S = 300
"""How long NCCL waits for every rank to join its group (and a collective to complete) before it fails."""


def _displs(counts: np.ndarray) -> np.ndarray:
    displs = np.zeros_like(counts)
    np.cumsum(counts[:-1], out=displs[1:])
    return displs


def _host(t: torch.Tensor) -> np.ndarray:
    if t.device.type != "cpu" or not t.is_contiguous():
        raise ValueError(f"MPI host buffers must be contiguous CPU tensors (got device {t.device}, "
                         f"contiguous={t.is_contiguous()})")
    return t.detach().numpy()


def mpi_cuda_support() -> bool:
    """Whether the loaded MPI library says it can read and write GPU memory.

    Asks Open MPI's ``MPIX_Query_cuda_support()`` or MPICH's ``MPIX_GPU_query_support(MPIX_GPU_SUPPORT_CUDA, &ok)``,
    whichever the library has; False when it has neither.
    """
    from mpi4py import MPI  # noqa: F401 - loads the MPI library whose symbols are probed

    libraries = [ctypes.CDLL(None)]
    path = ctypes.util.find_library("mpi")
    if path:
        try:
            libraries.append(ctypes.CDLL(path))
        except OSError:
            pass
    for lib in libraries:
        query = getattr(lib, "MPIX_Query_cuda_support", None)
        if query is not None:
            query.restype = ctypes.c_int
            return bool(query())
        query = getattr(lib, "MPIX_GPU_query_support", None)
        if query is not None:
            ok = ctypes.c_int(0)
            query.restype = ctypes.c_int
            if query(ctypes.c_int(0), ctypes.byref(ok)) == 0:  # 0: MPIX_GPU_SUPPORT_CUDA; 0 returned: MPI_SUCCESS
                return bool(ok.value)
    return False


class _Done:
    """A request that has already completed."""

    def Wait(self):  # noqa: N802 - the mpi4py request interface
        return None


class PinnedPool:
    """Pinned host buffers kept between messages; a buffer is lent to one message at a time."""

    def __init__(self):
        self._free: list[torch.Tensor] = []

    def take(self, nbytes: int) -> torch.Tensor:
        """A pinned uint8 ``[nbytes]`` buffer (the smallest free one that fits, else a new one).

        Args:
            nbytes (int): bytes needed.
        """
        fits = [i for i, b in enumerate(self._free) if b.numel() >= nbytes]
        if fits:
            best = min(fits, key=lambda i: self._free[i].numel())
            return self._free.pop(best)[:nbytes]
        return torch.empty(max(nbytes, 1), dtype=torch.uint8, pin_memory=True)[:nbytes]

    def give(self, buf: torch.Tensor) -> None:
        """Return a buffer that :meth:`take` lent.

        Args:
            buf (torch.Tensor): uint8 ``[nbytes]``, as :meth:`take` returned it.
        """
        self._free.append(buf._base if buf._base is not None else buf)


class _StagedRequest:
    """An MPI request on pinned host buffers; :meth:`Wait` copies what arrived into the GPU buffer.

    It holds the host buffers (``lent`` go back to the pool after the copy; ``keep`` is only kept alive) until then.
    """

    def __init__(self, request, pool: PinnedPool, lent: list, keep, host_recv, recv: torch.Tensor):
        self.request, self.pool, self.lent, self.keep = request, pool, lent, keep
        self.host_recv, self.recv = host_recv, recv

    def Test(self) -> bool:  # noqa: N802 - the mpi4py request interface
        """Let MPI move the message on; True when it has arrived (the copy to the GPU waits for :meth:`Wait`)."""
        return self.request is None or self.request.Test()

    def Wait(self):  # noqa: N802 - the mpi4py request interface
        if self.request is None:
            return
        self.request.Wait()
        self.request = None
        if self.recv.numel():
            self.recv.copy_(self.host_recv)  # synchronous: the pinned buffer is free for the next message after it
        for buf in self.lent:
            self.pool.give(buf)
        self.lent, self.keep = [], None


class MPITransport:
    """``mpi``: host tensors straight to MPI; GPU tensors staged through pinned host buffers.

    Args:
        comm (mpi4py.MPI.Comm): the job's communicator.
    """

    name = "mpi"

    def __init__(self, comm):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.pool = PinnedPool()
        self._stream = None

    def _to_host(self, t: torch.Tensor) -> torch.Tensor:
        """A pinned host copy of GPU tensor ``t`` (made on a side stream after the current stream's work)."""
        host = self.pool.take(t.numel() * t.element_size())
        if t.numel():
            if self._stream is None:
                self._stream = torch.cuda.Stream(device=t.device)
            self._stream.wait_stream(torch.cuda.current_stream(t.device))
            with torch.cuda.stream(self._stream):
                host.view(t.dtype).copy_(t.reshape(-1), non_blocking=True)
            self._stream.synchronize()
        return host

    def ialltoallv(self, send: torch.Tensor, send_counts: np.ndarray, recv: torch.Tensor, recv_counts: np.ndarray):
        """Post a personalised all-to-all; returns a request with ``Wait()``.

        Args:
            send (torch.Tensor): contiguous ``[sum(send_counts)]`` (CPU or GPU; counted in elements).
            send_counts (np.ndarray): int ``[size]``, elements to each rank.
            recv (torch.Tensor): contiguous ``[sum(recv_counts)]`` of send's dtype, written when the request completes.
            recv_counts (np.ndarray): int ``[size]``, elements from each rank.
        """
        if send.device.type == "cpu" and recv.device.type == "cpu":
            return self.comm.Ialltoallv([_host(send), (send_counts, _displs(send_counts))],
                                        [_host(recv), (recv_counts, _displs(recv_counts))])
        if send.dtype != recv.dtype:
            raise ValueError(f"alltoallv: `send` and `recv` must have one dtype (got {send.dtype} and {recv.dtype})")
        lent = []
        if send.device.type == "cpu":
            host_send = send.contiguous()
        else:
            host_send = self._to_host(send)
            lent.append(host_send)
            host_send = host_send.view(send.dtype)  # counts are in elements of send's dtype
        host_recv = self.pool.take(recv.numel() * recv.element_size())
        lent.append(host_recv)
        host_recv = host_recv.view(recv.dtype)
        request = self.comm.Ialltoallv([host_send.numpy(), (send_counts, _displs(send_counts))],
                                       [host_recv.numpy(), (recv_counts, _displs(recv_counts))])
        return _StagedRequest(request, self.pool, lent, host_send, host_recv.view(recv.shape), recv)

    def allreduce_(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over all ranks in place (GPU tensors through a pinned host copy).

        Args:
            t (torch.Tensor): contiguous ``[*]``, the same shape on every rank.
        """
        if t.device.type == "cpu":
            self.comm.Allreduce(self.MPI.IN_PLACE, _host(t), op=self.MPI.SUM)
            return t
        host = self._to_host(t)
        view = host.view(t.dtype)
        self.comm.Allreduce(self.MPI.IN_PLACE, view.numpy(), op=self.MPI.SUM)
        t.copy_(view.view(t.shape))
        self.pool.give(host)
        return t

    def broadcast_(self, t: torch.Tensor, root: int = 0) -> torch.Tensor:
        """Overwrite ``t`` with root's values (GPU tensors through a pinned host copy).

        Args:
            t (torch.Tensor): contiguous ``[*]``, the same shape on every rank.
            root (int): the rank whose values are kept.
        """
        if t.device.type == "cpu":
            self.comm.Bcast(_host(t), root=root)
            return t
        host = self._to_host(t)
        view = host.view(t.dtype)
        self.comm.Bcast(view.numpy(), root=root)
        t.copy_(view.view(t.shape))
        self.pool.give(host)
        return t

    def close(self) -> None:
        """Nothing to release."""


class MPICudaTransport(MPITransport):
    """``mpi-cuda``: GPU buffers straight to a CUDA-aware MPI (after a stream synchronise).

    Args:
        comm (mpi4py.MPI.Comm): the job's communicator.

    Raises:
        ConfigError: the MPI library does not say it is CUDA-aware.
    """

    name = "mpi-cuda"

    def __init__(self, comm):
        super().__init__(comm)
        if not mpi_cuda_support():
            raise ConfigError("`transport` mpi-cuda: the MPI library is not CUDA-aware (neither MPIX_Query_cuda_support "
                              "nor MPIX_GPU_query_support says so); use `transport` mpi (staged through host memory) "
                              "or an MPI built with CUDA")

    def ialltoallv(self, send, send_counts, recv, recv_counts):
        if send.device.type == "cpu" and recv.device.type == "cpu":
            return super().ialltoallv(send, send_counts, recv, recv_counts)
        torch.cuda.current_stream(recv.device).synchronize()
        return self.comm.Ialltoallv([send.contiguous(), (send_counts, _displs(send_counts))],
                                    [recv, (recv_counts, _displs(recv_counts))])

    def allreduce_(self, t):
        if t.device.type == "cpu":
            return super().allreduce_(t)
        torch.cuda.current_stream(t.device).synchronize()
        self.comm.Allreduce(self.MPI.IN_PLACE, t, op=self.MPI.SUM)
        return t

    def broadcast_(self, t, root=0):
        if t.device.type == "cpu":
            return super().broadcast_(t, root)
        torch.cuda.current_stream(t.device).synchronize()
        self.comm.Bcast(t, root=root)
        return t


class _Work:
    """A ``torch.distributed`` work object behind the mpi4py request interface."""

    def __init__(self, work):
        self.work = work

    def Wait(self):  # noqa: N802
        if self.work is not None:
            self.work.wait()
            self.work = None


class NCCLTransport(MPITransport):
    """``nccl``: GPU tensors through a NCCL process group made from the MPI ranks.

    Args:
        comm (mpi4py.MPI.Comm): the job's communicator.
        device (torch.device): this rank's GPU.

    Raises:
        ConfigError: NCCL is missing, the device is not a GPU, or two ranks share one GPU.
    """

    name = "nccl"

    def __init__(self, comm, device: torch.device):
        super().__init__(comm)
        import torch.distributed as dist

        if device.type != "cuda":
            raise ConfigError(f"`transport` nccl needs `device` cuda (got {device})")
        if not dist.is_available() or not dist.is_nccl_available():
            raise ConfigError("`transport` nccl: this torch has no NCCL; use `transport` mpi")
        uuid = str(torch.cuda.get_device_properties(device).uuid)
        host = socket.gethostname()
        places = comm.allgather((host, uuid))
        if len(set(places)) != len(places):
            raise ConfigError(f"`transport` nccl needs one GPU per rank, but {len(places)} ranks share "
                              f"{len(set(places))} GPU(s); use `transport` mpi, or fewer ranks per GPU")
        address = None
        if comm.Get_rank() == 0:
            with socket.socket() as s:
                s.bind(("", 0))
                port = s.getsockname()[1]
            ip = os.environ.get("MASTER_ADDR") or "127.0.0.1"  # one node: loopback (a name lookup can hang)
            if len({h for h, _ in places}) > 1 and not os.environ.get("MASTER_ADDR"):
                try:
                    ip = socket.gethostbyname(host)
                except OSError:
                    ip = host
            address = f"tcp://{ip}:{port}"
        address = comm.bcast(address, root=0)
        self.dist = dist
        if dist.is_initialized() and dist.get_world_size() != comm.Get_size():
            raise ConfigError(f"`transport` nccl: this process already has an NCCL group of {dist.get_world_size()} "
                              f"ranks, not {comm.Get_size()}: close the other communicator's transport first")
        if not dist.is_initialized():
            dist.init_process_group("nccl", init_method=address, rank=comm.Get_rank(), world_size=comm.Get_size(),
                                    device_id=device, timeout=datetime.timedelta(seconds=NCCL_TIMEOUT_S))
        self.device = device

    def ialltoallv(self, send, send_counts, recv, recv_counts):
        if send.device.type == "cpu" and recv.device.type == "cpu":
            return super().ialltoallv(send, send_counts, recv, recv_counts)
        work = self.dist.all_to_all_single(recv, send.contiguous(), output_split_sizes=[int(c) for c in recv_counts],
                                           input_split_sizes=[int(c) for c in send_counts], async_op=True)
        return _Work(work)

    def allreduce_(self, t):
        if t.device.type == "cpu":
            return super().allreduce_(t)
        self.dist.all_reduce(t)
        return t

    def broadcast_(self, t, root=0):
        if t.device.type == "cpu":
            return super().broadcast_(t, root)
        self.dist.broadcast(t, src=root)
        return t

    def close(self) -> None:
        """Destroy the NCCL group."""
        if self.dist.is_initialized():
            self.dist.destroy_process_group()


def make_transport(name: str, comm, device: torch.device):
    """The transport called ``name`` for ``comm`` and this rank's ``device``.

    Args:
        name (str): one of :data:`TRANSPORTS`.
        comm (mpi4py.MPI.Comm): the job's communicator.
        device (torch.device): this rank's device.
    """
    check_transport(name, torch.device(device).type)
    if name == "mpi":
        return MPITransport(comm)
    if name == "mpi-cuda":
        return MPICudaTransport(comm)
    return NCCLTransport(comm, torch.device(device))
