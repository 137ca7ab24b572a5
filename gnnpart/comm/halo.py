"""Halo exchange: fill halo rows from their owners; send their gradients back in backward.

``HaloExchange.exchange(h_inner)`` takes this rank's ``[I, F]`` rows and
returns the ``[L, F]`` local rows (inner, then halo) with the halo filled. It
is an autograd operation: the gradient of each halo row goes back to its
owner and is added into the owner's gradient row. Rows are packed and
unpacked by ops of ``gnnpart._C`` and moved with one ``Alltoallv``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from gnnpart.comm.communicator import Communicator
from gnnpart.comm.plan import ExchangePlan
from gnnpart.comm.rows import pack_rows, scatter_add_rows_, unpack_rows_


@dataclass
class ExchangeStats:
    """Bytes this rank sent and seconds it spent in halo exchanges, since the last reset."""

    bytes_forward: int = 0
    bytes_backward: int = 0
    seconds: float = 0.0
    bytes_by_layer: dict = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.bytes_forward + self.bytes_backward

    def reset(self) -> None:
        self.bytes_forward = self.bytes_backward = 0
        self.seconds = 0.0
        self.bytes_by_layer = {}


class HaloHandle:
    """A pending asynchronous exchange; :meth:`wait` returns the ``[L, F]`` rows."""

    def __init__(self, finish):
        self._finish = finish
        self._result = None

    def wait(self) -> torch.Tensor:
        if self._result is None:
            self._result = self._finish()
        return self._result


class HaloExchange:
    """Exact halo exchange of one rank.

    Args:
        comm (Communicator): the job's communicator.
        plan (ExchangePlan): this rank's send and receive lists.
    """

    def __init__(self, comm: Communicator, plan: ExchangePlan):
        self.comm = comm
        self.plan = plan
        self.stats = ExchangeStats()

    # -------------------------------------------------------------------------- the moves
    def _start(self, rows: torch.Tensor, send_rows, recv_rows, layer, direction):
        width = rows.shape[1]
        host = rows if rows.device.type == "cpu" else rows.cpu()
        recv = torch.empty(int(recv_rows.sum()), width, dtype=rows.dtype)
        nbytes = host.numel() * host.element_size()
        if direction == "forward":
            self.stats.bytes_forward += nbytes
        else:
            self.stats.bytes_backward += nbytes
        if layer is not None:
            self.stats.bytes_by_layer[layer] = self.stats.bytes_by_layer.get(layer, 0) + nbytes
        request = self.comm.ialltoallv(host.contiguous(), send_rows * width, recv, recv_rows * width)
        return request, recv

    def _assemble(self, h_inner: torch.Tensor, recv: torch.Tensor) -> torch.Tensor:
        out = torch.empty(self.plan.num_local, h_inner.shape[1], dtype=h_inner.dtype, device=h_inner.device)
        out[: self.plan.num_inner] = h_inner
        return unpack_rows_(out, self.plan.recv_index.to(h_inner.device), recv.to(h_inner.device))

    def forward_rows(self, h_inner: torch.Tensor, layer=None) -> torch.Tensor:
        start = time.perf_counter()
        send = pack_rows(h_inner.detach().contiguous(), self.plan.send_index.to(h_inner.device))
        request, recv = self._start(send, self.plan.send_rows, self.plan.recv_rows, layer, "forward")
        request.Wait()
        out = self._assemble(h_inner.detach(), recv)
        self.stats.seconds += time.perf_counter() - start
        return out

    def backward_rows(self, grad_local: torch.Tensor, layer=None) -> torch.Tensor:
        start = time.perf_counter()
        plan = self.plan
        grad_halo = pack_rows(grad_local.contiguous(), plan.recv_index.to(grad_local.device))
        request, back = self._start(grad_halo, plan.recv_rows, plan.send_rows, layer, "backward")
        request.Wait()
        grad_inner = grad_local[: plan.num_inner].clone()
        scatter_add_rows_(grad_inner, plan.send_index.to(grad_local.device), back.to(grad_local.device))
        self.stats.seconds += time.perf_counter() - start
        return grad_inner

    # -------------------------------------------------------------------------- public API
    def exchange(self, h_inner: torch.Tensor, layer=None) -> torch.Tensor:
        """Blocking, differentiable: ``[I, F]`` inner rows -> ``[L, F]`` local rows with the halo filled."""
        if h_inner.shape[0] != self.plan.num_inner:
            raise ValueError(f"`h_inner` must have {self.plan.num_inner} rows, one per inner node (got {h_inner.shape[0]})")
        return _HaloFunction.apply(h_inner, self, layer)

    def exchange_async(self, h_inner: torch.Tensor, layer=None) -> HaloHandle:
        """Start a (non-differentiable) exchange now; ``handle.wait()`` returns the ``[L, F]`` rows."""
        start = time.perf_counter()
        send = pack_rows(h_inner.detach().contiguous(), self.plan.send_index.to(h_inner.device))
        request, recv = self._start(send, self.plan.send_rows, self.plan.recv_rows, layer, "forward")
        self.stats.seconds += time.perf_counter() - start

        def finish():
            t0 = time.perf_counter()
            request.Wait()
            out = self._assemble(h_inner.detach(), recv)
            self.stats.seconds += time.perf_counter() - t0
            return out

        return HaloHandle(finish)


class _HaloFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_inner, exchange: HaloExchange, layer):
        ctx.exchange = exchange
        ctx.layer = layer
        return exchange.forward_rows(h_inner, layer)

    @staticmethod
    def backward(ctx, grad_local):
        return ctx.exchange.backward_rows(grad_local, ctx.layer), None, None
