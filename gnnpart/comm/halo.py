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
from gnnpart.comm.rows import pack_rows, pack_rows_into_, scatter_add_rows_, unpack_rows_


KINDS = ("payload", "indices", "scales")
DIRECTIONS = ("forward", "backward")


@dataclass
class ExchangeStats:
    """Bytes this rank sent and seconds it spent in halo exchanges, since the last reset.

    Attributes:
        bytes_forward (int), bytes_backward (int): bytes of the buffers sent, each direction.
        bytes_by_layer (dict): ``{layer: bytes}``, both directions.
        detail (dict): ``{layer: {direction: {kind: bytes}}}`` with kinds payload, indices and scales.
        bytes_exact (int): what exact exchanges of the same training calls would have sent (full rows, both ways).
    """

    bytes_forward: int = 0
    bytes_backward: int = 0
    seconds: float = 0.0
    bytes_by_layer: dict = field(default_factory=dict)
    detail: dict = field(default_factory=dict)
    bytes_exact: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_forward + self.bytes_backward

    def add(self, layer, direction: str, kind: str, nbytes: int) -> None:
        """Count ``nbytes`` sent by ``layer`` in ``direction`` ("forward"/"backward") as ``kind``."""
        if direction == "forward":
            self.bytes_forward += nbytes
        else:
            self.bytes_backward += nbytes
        if layer is not None:
            self.bytes_by_layer[layer] = self.bytes_by_layer.get(layer, 0) + nbytes
            per_kind = self.detail.setdefault(layer, {d: dict.fromkeys(KINDS, 0) for d in DIRECTIONS})[direction]
            per_kind[kind] += nbytes

    def reset(self) -> None:
        self.bytes_forward = self.bytes_backward = self.bytes_exact = 0
        self.seconds = 0.0
        self.bytes_by_layer = {}
        self.detail = {}


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
    """Halo exchange of one rank: exact, or per layer under a :class:`~gnnpart.comm.policy.HaloPolicy` in training.

    Args:
        comm (Communicator): the job's communicator.
        plan (ExchangePlan): this rank's send and receive lists.
        global_ids (torch.Tensor, optional): int64 ``[L]`` global id of each local row (needed by ``sample``).
    """

    def __init__(self, comm: Communicator, plan: ExchangePlan, global_ids: torch.Tensor | None = None):
        self.comm = comm
        self.plan = plan
        self.global_ids = global_ids
        self.stats = ExchangeStats()
        self.policies: dict = {}
        self._buffers: dict = {}

    def _buffer(self, key, rows: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        """A host buffer kept between blocking exchanges: writing into warm pages is several times faster
        than into a fresh allocation (whose pages the kernel must fault in and zero on first touch)."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != (rows, width) or buf.dtype != dtype:
            buf = self._buffers[key] = torch.empty(rows, width, dtype=dtype)
        return buf

    def set_policies(self, policies, seed: int = 0) -> None:
        """Use ``policies[layer]`` (a list of :class:`HaloPolicy`) for the training exchanges of each layer."""
        from gnnpart.comm.policy_exchange import PolicyExchange

        self.drain()
        self.policies = {i: PolicyExchange(self, p, i, seed) for i, p in enumerate(policies) if p.needs_message}

    def drain(self) -> None:
        """Complete the messages that ``stale`` policies still have in flight."""
        for px in self.policies.values():
            px.drain()

    # -------------------------------------------------------------------------- the moves
    def _start(self, rows: torch.Tensor, send_rows, recv_rows, layer, direction, reuse: bool = False):
        width = rows.shape[1]
        host = rows if rows.device.type == "cpu" else rows.cpu()
        total = int(recv_rows.sum())
        recv = (self._buffer(("recv", layer, direction), total, width, rows.dtype) if reuse
                else torch.empty(total, width, dtype=rows.dtype))
        self.stats.add(layer, direction, "payload", host.numel() * host.element_size())
        request = self.comm.ialltoallv(host.contiguous(), send_rows * width, recv, recv_rows * width)
        return request, recv

    def _assemble(self, h_inner: torch.Tensor, recv: torch.Tensor) -> torch.Tensor:
        out = torch.empty(self.plan.num_local, h_inner.shape[1], dtype=h_inner.dtype, device=h_inner.device)
        out[: self.plan.num_inner] = h_inner
        return unpack_rows_(out, self.plan.recv_index.to(h_inner.device), recv.to(h_inner.device))

    def _pack(self, src: torch.Tensor, index: torch.Tensor, key) -> torch.Tensor:
        """``src[index]`` into a kept buffer (CPU), or a fresh tensor (GPU: staged to the host by ``_start``)."""
        if src.device.type != "cpu":
            return pack_rows(src, index.to(src.device))
        return pack_rows_into_(src, index, self._buffer(("send",) + key, index.shape[0], src.shape[1], src.dtype))

    def forward_rows(self, h_inner: torch.Tensor, layer=None) -> torch.Tensor:
        start = time.perf_counter()
        send = self._pack(h_inner.detach().contiguous(), self.plan.send_index, (layer, "forward"))
        request, recv = self._start(send, self.plan.send_rows, self.plan.recv_rows, layer, "forward", reuse=True)
        request.Wait()
        out = self._assemble(h_inner.detach(), recv)
        self.stats.seconds += time.perf_counter() - start
        return out

    def backward_rows(self, grad_local: torch.Tensor, layer=None) -> torch.Tensor:
        start = time.perf_counter()
        plan = self.plan
        grad_halo = self._pack(grad_local.contiguous(), plan.recv_index, (layer, "backward"))
        request, back = self._start(grad_halo, plan.recv_rows, plan.send_rows, layer, "backward", reuse=True)
        request.Wait()
        grad_inner = grad_local[: plan.num_inner].clone()
        scatter_add_rows_(grad_inner, plan.send_index.to(grad_local.device), back.to(grad_local.device))
        self.stats.seconds += time.perf_counter() - start
        return grad_inner

    # -------------------------------------------------------------------------- public API
    def exchange(self, h_inner: torch.Tensor, layer=None, training: bool = False, epoch: int = 0,
                 full_width: int | None = None) -> torch.Tensor:
        """Blocking, differentiable: ``[I, F]`` inner rows -> ``[L, F]`` local rows with the halo filled.

        Args:
            h_inner (torch.Tensor): ``[I, F]`` this rank's rows.
            layer (int, optional): the layer (keys its policy and byte counts).
            training (bool): apply the layer's policy (evaluation always exchanges exactly).
            epoch (int): the epoch (keys sampling and rounding draws).
            full_width (int, optional): the row width an exact exchange would send (when ``h_inner`` holds
                only the channels a learned gate kept); counts ``stats.bytes_exact``.
        """
        if h_inner.shape[0] != self.plan.num_inner:
            raise ValueError(f"`h_inner` must have {self.plan.num_inner} rows, one per inner node (got {h_inner.shape[0]})")
        if training:  # forward, and backward when a gradient will flow back (not for raw features)
            backward = h_inner.requires_grad and torch.is_grad_enabled()
            rows = self.plan.send_index.shape[0] + (self.plan.recv_index.shape[0] if backward else 0)
            self.stats.bytes_exact += rows * (full_width or h_inner.shape[1]) * h_inner.element_size()
        px = self.policies.get(layer) if training else None
        if px is not None:
            from gnnpart.comm.policy_exchange import PolicyFunction

            start = time.perf_counter()
            out = PolicyFunction.apply(h_inner, px, int(epoch))
            self.stats.seconds += time.perf_counter() - start
            return out
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
