"""Keeping replicas identical: broadcast weights at start, all-reduce gradients as one flat buffer."""
from __future__ import annotations

import time

import torch

from gnnpart.comm.communicator import Communicator


def broadcast_parameters(comm: Communicator, params, root: int = 0) -> None:
    """Copy root's values of ``params`` (and buffers) to every rank, in one flat broadcast (float64 on the wire).

    Args:
        comm (Communicator): the job's communicator.
        params (Iterable[torch.Tensor]): tensors of any shape (``[*]``), the same shapes on every rank.
        root (int): the rank whose values are kept (default 0).
    """
    params = list(params)
    if comm.size == 1 or not params:
        return
    flat = torch.cat([p.detach().reshape(-1).to(torch.float64) for p in params])
    comm.broadcast_(flat, root)
    offset = 0
    with torch.no_grad():
        for p in params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p).to(p.dtype))
            offset += p.numel()


class GradientAllreduce:
    """Sums the gradients of ``params`` over all ranks with one ``Allreduce`` of one flat buffer.

    Each parameter's ``.grad`` is a view into the buffer, so backward accumulates straight into it
    and no copy is made before or after the reduction. Call :meth:`zero_grad` instead of the
    optimizer's (which would replace the views).

    Args:
        comm (Communicator): the job's communicator.
        params (Iterable[torch.nn.Parameter]): the model's parameters (those without ``requires_grad`` are skipped).

    Attributes:
        buffer (torch.Tensor): ``[P]``, every gradient, flat (``P`` = their total size), on the parameters' device.
        seconds (float), bytes (int): time in, and bytes of, the all-reduces since the caller last zeroed them.
    """

    def __init__(self, comm: Communicator, params):
        self.comm = comm
        self.params = [p for p in params if p.requires_grad]
        dtype = self.params[0].dtype if self.params else torch.float32
        device = self.params[0].device if self.params else torch.device("cpu")
        self.buffer = torch.zeros(sum(p.numel() for p in self.params), dtype=dtype, device=device)
        self._attach()
        self.seconds = 0.0
        self.bytes = 0

    def _attach(self) -> None:
        offset = 0
        for p in self.params:
            p.grad = self.buffer[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    def zero_grad(self) -> None:
        """Zero the gradients (re-attaching the views if something replaced a ``.grad``)."""
        storage = self.buffer.untyped_storage().data_ptr()
        if any(p.grad is None or p.grad.untyped_storage().data_ptr() != storage for p in self.params):
            self._attach()
        self.buffer.zero_()

    def allreduce(self) -> None:
        """Sum the gradients over all ranks (call after backward, before ``optimizer.step()``)."""
        start = time.perf_counter()
        self.comm.allreduce_(self.buffer)
        self.seconds += time.perf_counter() - start
        self.bytes += self.buffer.numel() * self.buffer.element_size()
