"""One exchange pipeline, the same for rows (forward) and their gradients (backward).

A message goes through the same steps in both directions:

1. choose the rows (the policy's row choice; backward: the rows the forward message delivered),
2. choose the channels (the channel choice; backward: the same channels),
3. encode the values (the value codec), and post one ``Ialltoallv`` per part (values, scales, positions, channel
   numbers), every byte counted under its kind;
4. on ``wait()``, decode the received values into the destination rows (forward: the halo block; backward: added
   into the owners' gradient rows).

Each family is called at its step through its interface; the pipeline never asks which member it has. The
schedule (fresh or stale) decides which posted message an epoch uses.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from gnnpart.comm.policy.channel_choice import WHOLE
from gnnpart.comm.communicator import Communicator
from gnnpart.comm.handle import BufferPool, Handle
from gnnpart.comm.plan import ExchangePlan
from gnnpart.comm.policy.spec import HaloPolicy
from gnnpart.comm.policy.row_choice import Transfer
from gnnpart.comm.byte_counts import ExchangeStats


@dataclass
class Link:
    """What the members of a pipeline may use: the ranks, the plan, ids, seed and the byte counter.

    Attributes:
        comm (Communicator): the job's communicator.
        plan (ExchangePlan): this rank's send and receive lists.
        send_ids (torch.Tensor | None): int64 ``[S]``, global ids of the rows sent (None: unknown).
        recv_ids (torch.Tensor | None): int64 ``[H]``, global ids of the rows received.
        seed (int): the run's seed (keys sampling and rounding draws).
        key (int | None): the exchange's key (a layer) for byte counts and draws.
        stats (ExchangeStats): where bytes and seconds are counted.
        sums_sent (torch.Tensor | None): bool ``[S]``, which entries of the plan's send list are partial sums
            (pre-aggregation, :mod:`gnnpart.comm.sum_plan`); their values are counted as ``partial_sums``.
        sums_received (torch.Tensor | None): bool ``[H]``, which received rows are partial sums (their gradients go
            back as ``partial_sums``).
        exact_rows (tuple[int, int] | None): the rows (forward, backward) of the exchange that ``bytes_exact``
            compares with (default the plan's own; pre-aggregation compares with today's exact exchange).
    """

    comm: Communicator
    plan: ExchangePlan
    send_ids: torch.Tensor | None
    recv_ids: torch.Tensor | None
    seed: int
    key: int | None
    stats: ExchangeStats
    sums_sent: torch.Tensor | None = None
    sums_received: torch.Tensor | None = None
    exact_rows: tuple | None = None

    def count(self, direction: str, kind: str, nbytes: int) -> None:
        """Count ``nbytes`` sent in ``direction`` as ``kind`` under this exchange's key."""
        self.stats.add(self.key, direction, kind, nbytes)

    def settle(self, t: torch.Tensor) -> None:
        """Before a timed part of an exchange: let the GPU finish the work queued before it, so that ``halo_s`` times
        the exchange itself and not the layer's compute still in the stream (the staged transports synchronise
        inside the exchange anyway, so this moves the wait out of the timed part and adds none). Nothing on the
        CPU, nor with ``nccl``, whose calls are asynchronous (there ``halo_s`` times their enqueueing).

        Args:
            t (torch.Tensor): the rows about to be exchanged, ``[N, F]``.
        """
        if t.is_cuda and self.comm.transport.name != "nccl":
            torch.cuda.current_stream(t.device).synchronize()

    def __post_init__(self) -> None:
        self._all_sums = {}  # id(mask) -> its count (computed once: a count on a GPU waits for the device)

    def sums_among(self, mask: torch.Tensor | None, pos: torch.Tensor | None) -> int:
        """How many of the rows at ``pos`` of a list that ``mask`` marks are partial sums.

        Args:
            mask (torch.Tensor | None): bool ``[n]`` over a send or receive list (None: no partial sums).
            pos (torch.Tensor | None): int64 ``[m]``, the positions a message carries (None: all ``n``).
        """
        if mask is None:
            return 0
        if pos is not None:
            return int(mask[pos].sum())
        if id(mask) not in self._all_sums:
            self._all_sums[id(mask)] = int(mask.sum())
        return self._all_sums[id(mask)]

    def exact(self, direction: int) -> int:
        """Rows an exact exchange sends in ``direction`` (0: forward, 1: backward), for ``bytes_exact``."""
        if self.exact_rows is not None:
            return int(self.exact_rows[direction])
        return self.plan.send_index.shape[0] if direction == 0 else self.plan.recv_index.shape[0]


def _mix(*values: int) -> int:
    """A 62-bit seed from a few integers (the kernel hashes it further)."""
    h = 0
    for v in values:
        h = (h * 1_000_003 + int(v)) & ((1 << 62) - 1)
    return h


class _Lending:
    """The kept buffers one message borrows from the pool; :meth:`release` gives them all back."""

    def __init__(self, pool: BufferPool):
        self.pool = pool
        self.lent: list = []

    def take(self, slot, nbytes: int, device=None) -> torch.Tensor:
        buf = self.pool.take(slot, nbytes, device)
        self.lent.append((slot, buf))
        return buf

    def alloc(self, slot, device):
        """``alloc(shape, dtype)`` for a value codec: a tensor on ``device`` over a buffer of ``slot``."""
        def alloc(shape, dtype):
            nbytes = int(np.prod(shape, dtype=np.int64)) * torch.empty(0, dtype=dtype).element_size()
            return self.take(slot, nbytes, device).view(dtype).view(shape)

        return alloc

    def release(self) -> None:
        for slot, buf in self.lent:
            self.pool.give(slot, buf)
        self.lent = []


@dataclass
class _Message:
    """Parts posted in one direction: the requests, the buffers they use, and the received parts."""

    requests: list
    buffers: list
    head: list  # received positions / channel numbers (fresh tensors: they outlive the message)
    values: list  # received value parts (in kept buffers, lent until the message is done)


class PolicyExchange:
    """The halo exchange of one layer under a :class:`~gnnpart.comm.policy.HaloPolicy`, with the state it keeps.

    Made by :meth:`gnnpart.comm.HaloExchange.policy_exchange`. :meth:`exchange` is differentiable and blocking;
    :meth:`exchange_async` returns a :class:`~gnnpart.comm.handle.Handle`. Both take an epoch counter, which keys
    the draws of ``sample`` and ``int8`` and advances ``stale``'s queue.

    Args:
        link (Link): the ranks, plan, ids, seed, key and counters.
        policy (HaloPolicy): the policy (default exact).
        pool (BufferPool, optional): buffers kept between messages.
    """

    def __init__(self, link: Link, policy: HaloPolicy | None = None, pool: BufferPool | None = None):
        self.link = link
        self.policy = HaloPolicy() if policy is None else policy
        self.pool = BufferPool() if pool is None else pool
        parts = self.policy.build()
        self.rows, self.channels, self.values, self.schedule = parts.rows, parts.channels, parts.values, parts.schedule
        self.rows.bind(link)

    # ------------------------------------------------------------------------------ the public calls
    def exchange(self, h_inner: torch.Tensor, epoch: int = 0) -> torch.Tensor:
        """Blocking and differentiable: ``[I, F]`` inner rows -> ``[L, F]`` local rows, the halo filled.

        Backward returns each halo row's gradient to its owner, where it is added into the owner's row.

        Args:
            h_inner (torch.Tensor): this rank's rows, one per inner node.
            epoch (int): keys the draws of ``sample`` and ``int8`` and advances ``stale``.

        Shapes:
            ``[I, F]`` -> ``[L, F]`` (inner rows first, then the ``H`` halo rows).
        """
        return _ExchangeFunction.apply(h_inner, self, int(epoch))

    def exchange_async(self, h_inner: torch.Tensor, epoch: int = 0) -> Handle:
        """Post this epoch's forward message (not differentiable); ``wait()`` returns the ``[L, F]`` rows.

        The handle's ``transfer`` says which rows and channels the rows in use came with (for
        :meth:`return_grads`). Under ``stale`` the rows may come from an earlier epoch's message.

        Args:
            h_inner (torch.Tensor): this rank's rows, one per inner node; keep them unchanged until ``wait()``.
            epoch (int): as in :meth:`exchange`.

        Shapes:
            ``[I, F]`` -> ``[L, F]``.
        """
        plan = self.link.plan
        if h_inner.dim() != 2 or h_inner.shape[0] != plan.num_inner:
            raise ValueError(f"`h_inner` must be [{plan.num_inner}, F], one row per inner node "
                             f"(got {tuple(h_inner.shape)})")
        self.link.settle(h_inner)
        start = time.perf_counter()
        handle = self.send_rows(h_inner, epoch)
        self.link.stats.add_time(time.perf_counter() - start)

        def assemble(message: Handle) -> torch.Tensor:
            self.link.settle(h_inner)
            t0 = time.perf_counter()
            out = torch.empty(plan.num_local, h_inner.shape[1], dtype=h_inner.dtype, device=h_inner.device)
            out[: plan.num_inner] = h_inner.detach()
            halo = out[plan.num_inner:]
            rows = message.wait(halo)
            if rows is not halo:  # a message decoded earlier (stale) or elsewhere
                halo.copy_(rows)
            self.link.stats.add_time(time.perf_counter() - t0)
            return out

        return handle.then(assemble)

    def send_rows(self, h_inner: torch.Tensor, epoch: int) -> Handle:
        """Post the forward message of ``h_inner`` (``[I, F]``); returns the message to use this epoch.

        ``wait(dest=None)`` decodes its halo rows into ``dest`` (``[H, F]``) or into a new tensor, and returns them;
        ``handle.transfer`` is what the message carried.

        Args:
            h_inner (torch.Tensor): ``[I, F]`` this rank's rows.
            epoch (int): this epoch.
        """
        plan = self.link.plan
        src = h_inner.detach().contiguous()
        self.link.stats.bytes_exact += self.link.exact(0) * src.shape[1] * src.element_size()
        transfer, row_parts = self.rows.choose(src, epoch)
        index = plan.send_index if transfer.send_pos is None else plan.send_index[transfer.send_pos]
        send_channels, channel_parts, receive_channels = self.channels.choose(src, index, int(transfer.recv_counts.sum()))
        transfer.send_channels = send_channels
        lending = _Lending(self.pool)
        values = self.values.encode(*send_channels.gather(src, index), self._seed(epoch, 0),
                                    lending.alloc((self.link.key, "forward", "send"), src.device))
        message = self._post("forward", row_parts + channel_parts, values, transfer.send_counts, transfer.recv_counts,
                             lending, self.link.sums_among(self.link.sums_sent, transfer.send_pos))
        split = len(row_parts)

        def finish(dest: torch.Tensor | None = None) -> torch.Tensor:
            self.rows.received(transfer, message.head[:split])
            transfer.recv_channels = receive_channels(message.head[split:])
            halo = (torch.empty(plan.num_halo, src.shape[1], dtype=src.dtype, device=src.device) if dest is None
                    else dest)
            target = self.rows.target(halo)
            slots = plan.halo_slots if transfer.recv_pos is None else plan.halo_slots[transfer.recv_pos]
            transfer.recv_channels.put_(target, slots, message.values, self.values, transfer.factor, accumulate=False)
            if target is not halo:
                halo.copy_(target)
            return halo

        handle = Handle(message.requests, message.buffers, finish, lending.release)
        handle.transfer = transfer
        return self.schedule.forward(handle)

    def return_grads(self, grad_halo: torch.Tensor, transfer: Transfer, epoch: int) -> Handle:
        """Post the gradients of the halo rows that ``transfer`` delivered (``grad_halo``: ``[H, F]``).

        Returns the message whose gradients owners add this epoch: ``wait(grad_inner)`` adds them into
        ``grad_inner`` (``[I, F]``, in place) and returns it.

        Args:
            grad_halo (torch.Tensor): ``[H, F]``, the gradient of each halo row.
            transfer (Transfer): what the forward message of these rows carried (its handle's ``transfer``).
            epoch (int): this epoch.
        """
        plan = self.link.plan
        grad = grad_halo.detach().contiguous()
        self.link.stats.bytes_exact += self.link.exact(1) * grad.shape[1] * grad.element_size()
        every = self.rows.returns_every_row or transfer.recv_pos is None
        index = plan.halo_slots if every else plan.halo_slots[transfer.recv_pos]
        owner_index = plan.send_index if every else plan.send_index[transfer.send_pos]
        out_counts, in_counts = (plan.recv_rows, plan.send_rows) if every else (transfer.recv_counts, transfer.send_counts)
        if self.rows.returns_every_row:  # gradients pass whole rows straight through the receiver's held copy
            recv_channels, send_channels = WHOLE, WHOLE
        else:
            recv_channels, send_channels = transfer.recv_channels, transfer.send_channels
        lending = _Lending(self.pool)
        values = self.values.encode(*recv_channels.gather(grad, index), self._seed(epoch, 1),
                                    lending.alloc((self.link.key, "backward", "send"), grad.device))
        sums = self.link.sums_among(self.link.sums_received, None if every else transfer.recv_pos)
        message = self._post("backward", [], values, out_counts, in_counts, lending, sums)

        def finish(grad_inner: torch.Tensor) -> torch.Tensor:
            send_channels.put_(grad_inner, owner_index, message.values, self.values, transfer.factor, accumulate=True)
            return grad_inner

        return self.schedule.backward(Handle(message.requests, message.buffers, finish, lending.release))

    def drain(self) -> None:
        """Complete every message still in flight (``stale`` keeps some), discarding them."""
        self.schedule.drain()

    # ------------------------------------------------------------------------------ moving parts
    def _seed(self, epoch: int, direction: int) -> int:
        return _mix(self.link.seed, epoch, self.link.key or 0, direction)

    def _post(self, direction: str, head: list, values: list, send_counts: np.ndarray, recv_counts: np.ndarray,
              lending: _Lending, sums: int = 0) -> _Message:
        """One ``Ialltoallv`` per part (``(kind, tensor)``, one row per message row), as bytes; counts each part.

        ``sums`` of the rows sent are partial sums: their share of the payload is counted as ``partial_sums``.

        ``head`` parts (positions, channel numbers) are received into new tensors, which the transfer keeps;
        ``values`` parts into buffers borrowed through ``lending`` (they are decoded before the message is done).
        """
        comm, total = self.link.comm, int(recv_counts.sum())
        requests, buffers, received = [], [], []
        for i, (kind, t) in enumerate(head + values):
            t = t.detach().contiguous()  # stays on its device: the transport moves GPU memory
            row_shape = tuple(t.shape[1:])
            row_bytes = int(np.prod(row_shape, dtype=np.int64)) * t.element_size()
            send = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8, device=t.device)
            if i < len(head):
                recv = torch.empty(total * row_bytes, dtype=torch.uint8, device=t.device)
            else:
                recv = lending.take((self.link.key, direction, "recv", i - len(head)), total * row_bytes, t.device)
            requests.append(comm.ialltoallv(send, send_counts * row_bytes, recv, recv_counts * row_bytes))
            self.link.stats.add_internode(send_counts, row_bytes)
            buffers += [send, recv]
            if kind == "payload" and sums:
                self.link.count(direction, "partial_sums", sums * row_bytes)
                self.link.count(direction, kind, send.numel() - sums * row_bytes)
            else:
                self.link.count(direction, kind, send.numel())
            received.append(recv.view(t.dtype).view(total, *row_shape) if total
                            else torch.empty((0, *row_shape), dtype=t.dtype, device=t.device))
        return _Message(requests, buffers, received[: len(head)], received[len(head):])


class _ExchangeFunction(torch.autograd.Function):
    """``[I, F]`` -> ``[L, F]``: forward is ``exchange_async(...).wait()``; backward returns halo gradients."""

    @staticmethod
    def forward(ctx, h_inner, px: PolicyExchange, epoch: int):
        handle = px.exchange_async(h_inner, epoch)
        out = handle.wait()
        ctx.px, ctx.transfer, ctx.epoch = px, handle.transfer, epoch
        return out

    @staticmethod
    def backward(ctx, grad_local):
        px = ctx.px
        px.link.settle(grad_local)
        start = time.perf_counter()
        num_inner = px.link.plan.num_inner
        grad_inner = grad_local[:num_inner].clone()
        px.return_grads(grad_local[num_inner:], ctx.transfer, ctx.epoch).wait(grad_inner)
        px.link.stats.add_time(time.perf_counter() - start)
        return grad_inner, None, None
