"""Channel choices: which channels of each chosen row a message carries.

A channel choice (:class:`ChannelChoice`) picks, on the sending side of a forward message, the channels of each
row; the result is a :class:`Channels` pair (what the sender gathers, what the receiver scatters into), plus the
parts that tell receivers which channels they are, if they cannot know. Gradients return at the same channels,
with no index (both sides kept them in the message's transfer).

* :class:`AllChannels`: whole rows (exact).
* :class:`TopK`: per row, the largest-magnitude fraction ``R`` of the channels, sent as (channel, value).
* :class:`Learned`: the channels a learned gate keeps, the same for every row and known to every rank (the gates
  are replicated model weights), so no index is sent (DISCO). The model owns the gate and binds it.
"""
from __future__ import annotations

from typing import Callable

import torch

from gnnpart.comm.codec_ops import channel_dtype, gather_channels, scatter_channels_, topk_count, topk_rows


class Channels:
    """The channels of the rows of one message, on one side: how values are gathered and put back.

    ``gather(src, index)`` gives the ``(src, index)`` pair that the value codec encodes; ``put_`` decodes received
    parts with the codec and writes (or adds) them into ``out`` at rows ``index``.
    """

    def gather(self, src: torch.Tensor, index: torch.Tensor | None):
        """What the value codec encodes for rows ``src[index]`` at these channels.

        Args:
            src (torch.Tensor): ``[N, F]``.
            index (torch.Tensor, optional): int64 ``[n]`` rows of ``src`` (None: rows ``0..n-1``).

        Returns:
            ``(rows, index)``: ``(src, index)`` for whole rows, or ``([n, k] values, None)``.
        """
        raise NotImplementedError

    def put_(self, out: torch.Tensor, index: torch.Tensor, parts: list, codec, factor: float, accumulate: bool) -> None:
        """Decode ``parts`` with ``codec`` and write (or add) them at rows ``index`` and these channels of ``out``.

        Args:
            out (torch.Tensor): ``[N, F]``.
            index (torch.Tensor): int64 ``[n]`` rows of ``out`` (may repeat with ``accumulate``).
            parts (list[torch.Tensor]): the received value parts, ``n`` rows each.
            codec (ValueCodec): the codec that encoded them.
            factor (float): multiplies every decoded value.
            accumulate (bool): add instead of writing.
        """
        raise NotImplementedError


class _Whole(Channels):
    """Every channel: the codec gathers and scatters whole rows itself (fused with its encode and decode)."""

    def gather(self, src, index):
        return src, index

    def put_(self, out, index, parts, codec, factor, accumulate):
        codec.decode_(out, index, parts, factor, accumulate)

    def __repr__(self) -> str:
        return "WHOLE"


WHOLE = _Whole()
"""Whole rows."""


class Subset(Channels):
    """Channels ``per_row[i]`` of row ``i`` (int32 ``[n, k]``); the others of a written row become zero.

    Args:
        per_row (torch.Tensor): int32 ``[n, k]``, the channels of each row of the message.
    """

    def __init__(self, per_row: torch.Tensor):
        self.per_row = per_row

    def gather(self, src, index):
        return gather_channels(src, index, self.per_row), None

    def put_(self, out, index, parts, codec, factor, accumulate):
        values = codec.decode(parts, out.dtype)
        if not accumulate:  # a written row holds exactly what arrived: clear what it held before
            out.index_fill_(0, index, 0.0)
        scatter_channels_(out, index, values, self.per_row, factor, accumulate=accumulate)


class ChannelChoice:
    """The interface of a channel choice."""

    def choose(self, src: torch.Tensor, index: torch.Tensor, recv_rows: int):
        """Sender side of a forward message of rows ``src[index]`` that brings ``recv_rows`` rows here.

        Args:
            src (torch.Tensor): ``[I, F]`` this rank's rows.
            index (torch.Tensor): int64 ``[n]`` the rows sent.
            recv_rows (int): how many rows this rank receives in the same message.

        Returns:
            ``(send, parts, receive)``: the sender's :class:`Channels`; parts to send (``(kind, tensor)``, one
            row per message row); and ``receive(parts) -> Channels``, the receiver's channels from those parts.
        """
        raise NotImplementedError


class AllChannels(ChannelChoice):
    """Whole rows."""

    def choose(self, src, index, recv_rows):
        return WHOLE, [], lambda parts: WHOLE


class TopK(ChannelChoice):
    """Per row, the ``ceil(fraction * F)`` channels of largest magnitude (at least one), ascending.

    Args:
        fraction (float): ``R`` in ``(0, 1]``.
    """

    def __init__(self, fraction: float):
        self.fraction = float(fraction)

    def choose(self, src, index, recv_rows):
        width = src.shape[1]
        _, channels = topk_rows(src, index, topk_count(width, self.fraction))
        return Subset(channels), [("indices", channels.to(channel_dtype(width)))], \
            lambda parts: Subset(parts[0].to(torch.int32, copy=True))


class Learned(ChannelChoice):
    """The channels a learned gate keeps: the same for every row, known to every rank, so no index is sent.

    The model owns the gate; it binds a function that returns the kept channels (:meth:`bind`) before the first
    exchange.
    """

    def __init__(self):
        self.kept_channels: Callable[[], torch.Tensor] | None = None

    def bind(self, kept_channels: Callable[[], torch.Tensor]) -> None:
        """Use ``kept_channels()`` as the channels to send.

        Args:
            kept_channels (callable): returns int64 ``[k]``, ascending and equal on every rank (read at each send).
        """
        self.kept_channels = kept_channels

    def choose(self, src, index, recv_rows):
        if self.kept_channels is None:
            raise RuntimeError("a `learned` halo policy needs its gate: bind the model's gate with "
                               "`Learned.bind(kept_channels)` before exchanging")
        kept = self.kept_channels().to(torch.int32)

        def per_row(rows: int) -> Subset:
            return Subset(kept.unsqueeze(0).expand(rows, kept.shape[0]).contiguous())

        return per_row(index.shape[0]), [], lambda parts: per_row(recv_rows)
