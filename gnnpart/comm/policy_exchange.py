"""The halo exchange of one layer under a :class:`~gnnpart.comm.policy.HaloPolicy`.

A forward message is built in three steps, each optional: choose the rows (``sample``: a hash of
(seed, epoch, node) that sender and receiver both compute, so no index is sent; ``delta``: the rows that
moved, sent with their positions), choose the channels (``topk``: per row, sent as channel numbers), and
encode the values (``fp16``/``bf16``/``int8`` payload plus one float32 scale per row). Each component goes in
its own ``Ialltoallv``, as bytes, and every byte is counted under its kind (payload, indices, scales).

The backward message returns the gradients of the halo rows that the forward delivered, at the same
channels, in the same encoding; ``sample``'s ``1 / P`` factor is applied both ways. ``delta`` returns the
gradients of every halo row (straight through the receiver's cache). ``stale:K`` keeps up to ``K`` messages
in flight each way: an epoch uses the newest message that is ``K`` epochs old (the first epoch waits for
its own), and the gradients it sends back are added by their owners ``K`` epochs later.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from gnnpart.comm.codec import (PAYLOAD_DTYPES, channel_dtype, delta_select_, dequantize_rows, dequantize_rows_,
                                gather_channels, quantize_rows, scatter_channels_, topk_count, topk_rows)
from gnnpart.comm.policy import HaloPolicy
from gnnpart.comm.rows import pack_rows, scatter_add_rows_, unpack_rows_

SAMPLE_STREAM = -0x53414D50  # the "layer" key of the sampling hash: apart from every dropout mask (layers >= 0)


@dataclass
class Transfer:
    """What one forward message carried; its backward returns gradients along the same rows and channels.

    ``send_pos`` / ``recv_pos`` are positions in the plan's send / receive lists (None: all of them).
    """

    send_pos: torch.Tensor | None
    send_counts: np.ndarray
    recv_pos: torch.Tensor | None
    recv_counts: np.ndarray
    factor: float = 1.0
    send_channels: torch.Tensor | None = None
    recv_channels: torch.Tensor | None = None


class _Pending:
    """Requests in flight, the buffers they use, and what to do with the received parts once they arrive."""

    def __init__(self, requests, buffers, finish):
        self._requests, self._buffers, self._finish = requests, buffers, finish
        self._done = False
        self._result = None

    def complete(self) -> None:
        """Wait until the messages have arrived, without decoding them."""
        for r in self._requests:
            r.Wait()
        self._requests, self._buffers = [], None

    def wait(self, *args):
        if not self._done:
            self.complete()
            self._done = True
            self._result = self._finish(*args)
        return self._result


def _mix(*values: int) -> int:
    """A 62-bit seed from a few integers (the kernel hashes it further)."""
    h = 0
    for v in values:
        h = (h * 1_000_003 + int(v)) & ((1 << 62) - 1)
    return h


class PolicyExchange:
    """Forward and backward exchanges of one layer under ``policy``.

    Args:
        exchange (HaloExchange): the rank's exchange (communicator, plan, stats, global ids).
        policy (HaloPolicy): this layer's policy.
        layer (int): layer index (keys the sampling and rounding draws and the byte counts).
        seed (int): the run's seed.
    """

    def __init__(self, exchange, policy: HaloPolicy, layer: int, seed: int = 0):
        self.exchange, self.policy, self.layer, self.seed = exchange, policy, int(layer), int(seed)
        plan = exchange.plan
        self.plan, self.comm = plan, exchange.comm
        size = len(plan.send_rows)
        self.send_peer = torch.repeat_interleave(torch.arange(size), torch.from_numpy(plan.send_rows))
        self.recv_peer = torch.repeat_interleave(torch.arange(size), torch.from_numpy(plan.recv_rows))
        self.send_offset = torch.from_numpy(np.concatenate([[0], np.cumsum(plan.send_rows)[:-1]])).long()
        self.recv_offset = torch.from_numpy(np.concatenate([[0], np.cumsum(plan.recv_rows)[:-1]])).long()
        self.halo_slots = plan.recv_index - plan.num_inner
        ids = exchange.global_ids
        self.send_ids = None if ids is None else ids[plan.send_index]
        self.recv_ids = None if ids is None else ids[plan.recv_index]
        if policy.sample is not None and ids is None:
            raise ValueError("`sample` needs the global ids of the local nodes (HaloExchange(global_ids=...))")
        self.held_send = None  # delta: [S, F], what each receiver holds of my rows
        self.held_recv = None  # delta: [H, F], the halo rows I hold
        self.fwd_queue: deque = deque()
        self.bwd_queue: deque = deque()
        self.current = None  # stale: (halo rows, transfer) in use
        self.bwd_started = False

    # ------------------------------------------------------------------------------ moving parts
    def _counts(self, peers: torch.Tensor) -> np.ndarray:
        return np.bincount(peers.numpy(), minlength=len(self.plan.send_rows)).astype(np.int64)

    def _post(self, parts, send_counts, recv_counts, direction):
        """One ``Ialltoallv`` per part; parts are ``(kind, tensor [rows, ...])``. Returns requests, buffers, receivers."""
        requests, buffers, received = [], [], []
        total = int(recv_counts.sum())
        for kind, t in parts:
            t = t.detach().contiguous()
            t = t if t.device.type == "cpu" else t.cpu()
            row_shape = tuple(t.shape[1:])
            row_bytes = int(np.prod(row_shape, dtype=np.int64)) * t.element_size()
            send = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
            recv = torch.empty(total * row_bytes, dtype=torch.uint8)
            requests.append(self.comm.ialltoallv(send, send_counts * row_bytes, recv, recv_counts * row_bytes))
            buffers += [send, recv]
            self.exchange.stats.add(self.layer, direction, kind, send.numel())
            received.append(recv.view(t.dtype).view(total, *row_shape) if total else torch.empty((0, *row_shape), dtype=t.dtype))
        return requests, buffers, received

    def _encode(self, src, index, channels, factor, seed):
        """Parts of a message: rows ``src[index]`` (at ``channels`` if given), values times ``factor``."""
        p = self.policy
        parts = []
        values = None if channels is None else gather_channels(src, index, channels)
        if p.encoding is not None:
            dtype = PAYLOAD_DTYPES[p.encoding]
            payload, scales = quantize_rows(src if values is None else values, index if values is None else None,
                                            dtype, stochastic=p.encoding == "int8", seed=seed)
            if factor != 1.0:
                scales.mul_(factor)
            parts += [("payload", payload), ("scales", scales)]
        else:
            rows = pack_rows(src, index) if values is None else values
            if factor != 1.0:
                rows.mul_(factor)
            parts.append(("payload", rows))
        return parts

    def _decode_values(self, parts, dtype):
        """Received value rows (decoded to ``dtype``) from the payload parts."""
        if self.policy.encoding is not None:
            payload, scales = parts
            return dequantize_rows(payload, scales, dtype)
        return parts[0]

    # ------------------------------------------------------------------------------ forward
    def _sample_mask(self, ids: torch.Tensor, epoch: int) -> torch.Tensor:
        # The counter-based hash of the dropout op (csrc/nn/hash.h), on a column of ones: a node is kept with
        # probability P (to 2**-16), and every rank draws the same answer for it.
        if self.policy.sample >= 1.0:
            return torch.ones(ids.shape[0], dtype=torch.bool)
        ones = torch.ones(ids.shape[0], 1)
        return torch.ops.gnnpart.hash_dropout(ones, ids, self.seed, epoch, SAMPLE_STREAM, 1.0 - self.policy.sample)[:, 0] != 0

    def start_forward(self, h_inner: torch.Tensor, epoch: int) -> _Pending:
        """Post the forward message of ``h_inner``; ``wait()`` returns ``(halo rows [H, F], Transfer)``."""
        p, plan = self.policy, self.plan
        src = h_inner.detach().contiguous()
        width = src.shape[1]
        tr = Transfer(None, plan.send_rows, None, plan.recv_rows)
        parts = []
        if p.sample is not None:
            tr.factor = 1.0 / p.sample
            tr.send_pos = self._sample_mask(self.send_ids, epoch).nonzero().view(-1)
            tr.recv_pos = self._sample_mask(self.recv_ids, epoch).nonzero().view(-1)
            tr.send_counts, tr.recv_counts = self._counts(self.send_peer[tr.send_pos]), self._counts(self.recv_peer[tr.recv_pos])
        elif p.delta is not None:
            if self.held_send is None or self.held_send.shape[1] != width or self.held_send.dtype != src.dtype:
                self.held_send = torch.full((plan.send_index.shape[0], width), float("nan"), dtype=src.dtype)
            tr.send_pos = delta_select_(self.held_send, src, plan.send_index, p.delta)
            tr.send_counts = self._counts(self.send_peer[tr.send_pos])
            tr.recv_counts = np.empty_like(tr.send_counts)
            self.comm.alltoallv(torch.from_numpy(tr.send_counts), np.ones_like(tr.send_counts),
                                torch.from_numpy(tr.recv_counts), np.ones_like(tr.recv_counts))
            self.exchange.stats.add(self.layer, "forward", "indices", tr.send_counts.nbytes)
            parts.append(("indices", (tr.send_pos - self.send_offset[self.send_peer[tr.send_pos]]).int()))
        index = plan.send_index if tr.send_pos is None else plan.send_index[tr.send_pos]
        if p.topk is not None:
            _, tr.send_channels = topk_rows(src, index, topk_count(width, p.topk))
            parts.append(("indices", tr.send_channels.to(channel_dtype(width))))
        parts += self._encode(src, index, tr.send_channels, 1.0, _mix(self.seed, epoch, self.layer, 0))
        requests, buffers, received = self._post(parts, tr.send_counts, tr.recv_counts, "forward")

        def finish():
            return self._finish_forward(received, tr, width, src.dtype, h_inner.device)

        return _Pending(requests, buffers, finish)

    def _finish_forward(self, received, tr: Transfer, width, dtype, device):
        p = self.policy
        num_halo = self.plan.num_local - self.plan.num_inner
        received = list(received)
        if p.delta is not None:
            rel = received.pop(0).long()
            peers = torch.repeat_interleave(torch.arange(len(tr.recv_counts)), torch.from_numpy(tr.recv_counts))
            tr.recv_pos = rel + self.recv_offset[peers]
        slots = self.halo_slots if tr.recv_pos is None else self.halo_slots[tr.recv_pos]
        if p.topk is not None:
            tr.recv_channels = received.pop(0).int()
        if p.delta is not None:
            if self.held_recv is None or self.held_recv.shape[1] != width or self.held_recv.dtype != dtype:
                self.held_recv = torch.zeros(num_halo, width, dtype=dtype)
            halo = self.held_recv
        elif p.sample is not None or p.topk is not None:
            halo = torch.zeros(num_halo, width, dtype=dtype)
        else:
            halo = torch.empty(num_halo, width, dtype=dtype)
        if p.topk is not None:
            values = self._decode_values(received, dtype)
            if p.delta is not None:
                halo.index_fill_(0, slots, 0.0)
            scatter_channels_(halo, slots, values, tr.recv_channels, tr.factor)
        elif p.encoding is not None:
            dequantize_rows_(halo, slots, received[0], received[1], tr.factor)
        else:
            unpack_rows_(halo, slots, received[0])
            if tr.factor != 1.0:
                halo.mul_(tr.factor)
        if p.delta is not None:
            halo = halo.clone()
        return halo.to(device), tr

    # ------------------------------------------------------------------------------ backward
    def start_backward(self, grad_halo: torch.Tensor, tr: Transfer, epoch: int) -> _Pending:
        """Post the gradients of the halo rows that ``tr`` delivered; ``wait(grad_inner)`` adds what comes back."""
        plan = self.plan
        grad = grad_halo.detach().contiguous()
        every = self.policy.delta is not None or tr.recv_pos is None
        index = self.halo_slots if every else self.halo_slots[tr.recv_pos]
        out_counts, in_counts = (plan.recv_rows, plan.send_rows) if every else (tr.recv_counts, tr.send_counts)
        channels = None if self.policy.delta is not None else tr.recv_channels  # delta: whole rows, straight through
        parts = self._encode(grad, index, channels, tr.factor, _mix(self.seed, epoch, self.layer, 1))
        requests, buffers, received = self._post(parts, out_counts, in_counts, "backward")
        owner_index = plan.send_index if every else plan.send_index[tr.send_pos]

        def finish(grad_inner):
            values = self._decode_values(received, grad_inner.dtype)
            values = values.to(grad_inner.device)
            if channels is not None:
                scatter_channels_(grad_inner, owner_index, values, tr.send_channels, 1.0, accumulate=True)
            else:
                scatter_add_rows_(grad_inner, owner_index, values)
            return grad_inner

        return _Pending(requests, buffers, finish)

    # ------------------------------------------------------------------------------ with staleness
    def forward(self, h_inner: torch.Tensor, epoch: int):
        """``(halo rows, Transfer)`` for this epoch: fresh, or up to ``stale`` epochs old."""
        pending = self.start_forward(h_inner, epoch)
        if not self.policy.stale:
            return pending.wait()
        self.fwd_queue.append(pending)
        if self.current is None or len(self.fwd_queue) > self.policy.stale:
            self.current = self.fwd_queue.popleft().wait()
        return self.current

    def backward(self, grad_halo: torch.Tensor, tr: Transfer, epoch: int, grad_inner: torch.Tensor) -> None:
        """Send the halo gradients; add into ``grad_inner`` what owners get back (now, or ``stale`` epochs later)."""
        pending = self.start_backward(grad_halo, tr, epoch)
        if not self.policy.stale:
            pending.wait(grad_inner)
            return
        self.bwd_queue.append(pending)
        if not self.bwd_started or len(self.bwd_queue) > self.policy.stale:
            self.bwd_queue.popleft().wait(grad_inner)
            self.bwd_started = True

    def drain(self) -> None:
        """Complete every message in flight (discarding them), e.g. before the job ends."""
        while self.fwd_queue:
            self.fwd_queue.popleft().wait()
        while self.bwd_queue:
            self.bwd_queue.popleft().complete()
        self.current, self.bwd_started = None, False


class PolicyFunction(torch.autograd.Function):
    """``[I, F]`` -> ``[L, F]`` under a policy; backward returns halo gradients to their owners."""

    @staticmethod
    def forward(ctx, h_inner, px: PolicyExchange, epoch: int):
        halo, tr = px.forward(h_inner, epoch)
        ctx.px, ctx.tr, ctx.epoch = px, tr, epoch
        return torch.cat([h_inner.detach(), halo.to(h_inner.dtype)])

    @staticmethod
    def backward(ctx, grad_local):
        num_inner = ctx.px.plan.num_inner
        grad_inner = grad_local[:num_inner].clone()
        ctx.px.backward(grad_local[num_inner:], ctx.tr, ctx.epoch, grad_inner)
        return grad_inner, None, None
