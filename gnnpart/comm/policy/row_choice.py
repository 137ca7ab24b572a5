"""Row choices: which of the plan's rows a forward message carries, and the state that choice keeps.

Every row choice has the same interface (:class:`RowChoice`); the exchange pipeline calls it at its step and
never asks which one it is. Its gradients go back along the rows the forward message delivered, or along every
halo row when :attr:`RowChoice.returns_every_row` is set.

* :class:`AllRows`: every row of the plan (exact).
* :class:`Sample`: a random fraction ``P`` of the boundary nodes each epoch, drawn from the counter-based hash of
  (seed, epoch, global id), so sender and receiver agree without sending positions; values are scaled by
  ``1 / P`` both ways, which keeps their expectation (BNS-GCN).
* :class:`Delta`: only the rows that moved by more than a relative threshold from the copy the receiver holds;
  positions are sent, and the receiver keeps a cache of every halo row (Sancus).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gnnpart.comm.policy.channel_choice import WHOLE, Channels
from gnnpart.comm.codec_ops import delta_select_
from gnnpart.hashing import SAMPLE_STREAM, keep_rows


@dataclass
class Transfer:
    """What one forward message carried. Its backward message returns gradients along the same rows and channels.

    Attributes:
        send_pos (torch.Tensor | None): int64 ``[s]``, positions in the plan's send list (None: all of them).
        send_counts (np.ndarray): int64 ``[size]``, rows sent to each rank.
        recv_pos (torch.Tensor | None): int64 ``[h]``, positions in the plan's receive list (None: all).
        recv_counts (np.ndarray): int64 ``[size]``, rows received from each rank.
        factor (float): the receiver multiplies values by it (``1 / P`` for sampling), in both directions.
        send_channels (Channels), recv_channels (Channels): the channels of each row, at sender and receiver.
    """

    send_pos: torch.Tensor | None
    send_counts: np.ndarray
    recv_pos: torch.Tensor | None
    recv_counts: np.ndarray
    factor: float = 1.0
    send_channels: Channels = field(default=WHOLE)
    recv_channels: Channels = field(default=WHOLE)


class RowChoice:
    """The interface of a row choice. ``link`` (a :class:`~gnnpart.comm.exchange_pipeline.Link`) gives the plan,
    communicator, global ids, seed and byte counter of the exchange that owns it.

    Attributes:
        returns_every_row (bool): backward returns the gradient of every halo row, whole (the receiver's held
            copy passes gradients straight through), instead of those of the rows and channels delivered.
    """

    returns_every_row = False

    def bind(self, link) -> None:
        """Attach to the exchange that will use this choice (checks that it has what the choice needs).

        Args:
            link (Link): the plan, communicator, ids, seed and byte counter of the exchange.
        """
        self.link = link

    def choose(self, src: torch.Tensor, epoch: int) -> tuple[Transfer, list]:
        """Sender side: the rows that go this epoch, and what tells receivers which rows they are.

        Args:
            src (torch.Tensor): ``[I, F]`` this rank's rows.
            epoch (int): this epoch (keys random draws).

        Returns:
            ``(Transfer, parts)``: parts are ``(kind, tensor)`` with one row per message row.
        """
        raise NotImplementedError

    def received(self, transfer: Transfer, parts: list) -> None:
        """Receiver side: complete ``transfer.recv_pos`` from the received parts.

        Args:
            transfer (Transfer): the message's transfer.
            parts (list[torch.Tensor]): the parts :meth:`choose` sent, as received (one row per received row).
        """

    def target(self, halo: torch.Tensor) -> torch.Tensor:
        """The ``[H, F]`` tensor received rows are decoded into: ``halo`` itself (zeroed where rows may be
        missing), or a copy the choice holds (the pipeline then copies it into ``halo``)."""
        return halo


class AllRows(RowChoice):
    """Every row of the plan, every time."""

    def choose(self, src, epoch):
        plan = self.link.plan
        return Transfer(None, plan.send_rows, None, plan.recv_rows), []


class Sample(RowChoice):
    """Each epoch, boundary node ``v`` is sent with probability ``fraction``, the same draw on every rank.

    Args:
        fraction (float): ``P`` in ``(0, 1]``; received values are multiplied by ``1 / P``.
    """

    def __init__(self, fraction: float):
        self.fraction = float(fraction)

    def bind(self, link) -> None:
        if link.send_ids is None:
            raise ValueError("`sample` needs the global ids of the local nodes (HaloExchange(global_ids=...))")
        super().bind(link)

    def choose(self, src, epoch):
        link, plan = self.link, self.link.plan
        send_pos = keep_rows(link.send_ids, link.seed, epoch, SAMPLE_STREAM, self.fraction).nonzero().view(-1)
        recv_pos = keep_rows(link.recv_ids, link.seed, epoch, SAMPLE_STREAM, self.fraction).nonzero().view(-1)
        transfer = Transfer(send_pos, plan.counts(plan.send_peer[send_pos]), recv_pos,
                            plan.counts(plan.recv_peer[recv_pos]), factor=1.0 / self.fraction)
        return transfer, []

    def target(self, halo):
        return halo.zero_()


class Delta(RowChoice):
    """A row is sent only when ``||new - held|| > threshold * ||held||``, where ``held`` is what the receiver has.

    The sender keeps a copy of what each receiver holds (``[S, F]``), the receiver a copy of every halo row
    (``[H, F]``). Positions go as int32 per row, after a blocking exchange of the per-rank counts.

    Args:
        threshold (float): ``T >= 0`` (0: every row that changed at all).
    """

    returns_every_row = True

    def __init__(self, threshold: float):
        self.threshold = float(threshold)
        self.held_send = None  # [S, F]: what each receiver holds of my rows
        self.held_recv = None  # [H, F]: the halo rows I hold

    def choose(self, src, epoch):
        link, plan = self.link, self.link.plan
        width = src.shape[1]
        if self.held_send is None or self.held_send.shape[1] != width or self.held_send.dtype != src.dtype:
            self.held_send = torch.full((plan.send_index.shape[0], width), float("nan"), dtype=src.dtype,
                                        device=src.device)
        send_pos = delta_select_(self.held_send, src, plan.send_index, self.threshold)
        send_counts = plan.counts(plan.send_peer[send_pos])
        recv_counts = np.empty_like(send_counts)
        link.comm.alltoallv(torch.from_numpy(send_counts), np.ones_like(send_counts),
                            torch.from_numpy(recv_counts), np.ones_like(recv_counts))
        link.count("forward", "indices", send_counts.nbytes)
        relative = (send_pos - plan.send_offset[plan.send_peer[send_pos]]).int()
        return Transfer(send_pos, send_counts, None, recv_counts), [("indices", relative)]

    def received(self, transfer, parts):
        plan = self.link.plan
        dev = plan.device
        peers = torch.repeat_interleave(torch.arange(plan.size, device=dev), torch.from_numpy(transfer.recv_counts).to(dev))
        transfer.recv_pos = parts[0].long() + plan.recv_offset[peers]

    def target(self, halo):
        if self.held_recv is None or self.held_recv.shape != halo.shape or self.held_recv.dtype != halo.dtype:
            self.held_recv = torch.zeros(halo.shape, dtype=halo.dtype, device=halo.device)
        return self.held_recv
