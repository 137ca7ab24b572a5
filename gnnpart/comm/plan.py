"""The exchange plan of one rank: which of its rows go to which rank, and which halo slots each rank fills.

Built from arrays (:meth:`ExchangePlan.from_peers`): the communication layer knows nothing of how a partition is
stored (:class:`gnnpart.rank.Rank` passes a part's send and receive lists).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch


def _offsets(counts: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]])).long()


def _peer_of(counts: np.ndarray) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(len(counts)), torch.from_numpy(counts))


@dataclass
class ExchangePlan:
    """Which rows this rank sends to and receives from every rank, in rank order.

    Args:
        num_inner (int): rows this rank owns (``I``).
        num_local (int): rows owned plus halo rows (``L = I + H``).
        send_index (torch.Tensor): int64 ``[S]``, my inner local ids, peer after peer (ascending rank).
        send_rows (np.ndarray): int64 ``[size]``, how many of them go to each rank.
        recv_index (torch.Tensor): int64 ``[H]``, the local halo slot (``>= I``) each received row fills, peer
            after peer.
        recv_rows (np.ndarray): int64 ``[size]``, how many rows come from each rank.

    Attributes derived from these (read-only):
        halo_slots (torch.Tensor): int64 ``[H]``, ``recv_index - I``: the row of the ``[H, F]`` halo block.
        send_peer (torch.Tensor), recv_peer (torch.Tensor): int64 ``[S]`` / ``[H]``, the rank of each entry.
        send_offset (torch.Tensor), recv_offset (torch.Tensor): int64 ``[size]``, where each rank's entries start.
    """

    num_inner: int
    num_local: int
    send_index: torch.Tensor
    send_rows: np.ndarray
    recv_index: torch.Tensor
    recv_rows: np.ndarray
    halo_slots: torch.Tensor = field(init=False, repr=False)
    send_peer: torch.Tensor = field(init=False, repr=False)
    recv_peer: torch.Tensor = field(init=False, repr=False)
    send_offset: torch.Tensor = field(init=False, repr=False)
    recv_offset: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.num_inner <= self.num_local:
            raise ValueError(f"`num_inner` must be in [0, num_local={self.num_local}] (got {self.num_inner})")
        self.send_rows = np.asarray(self.send_rows, dtype=np.int64)
        self.recv_rows = np.asarray(self.recv_rows, dtype=np.int64)
        if self.send_rows.shape != self.recv_rows.shape:
            raise ValueError(f"`send_rows` and `recv_rows` must have one entry per rank (got {self.send_rows.shape} "
                             f"and {self.recv_rows.shape})")
        for name, index, counts in (("send", self.send_index, self.send_rows), ("recv", self.recv_index, self.recv_rows)):
            if index.dim() != 1 or index.dtype != torch.int64:
                raise ValueError(f"`{name}_index` must be a 1-D int64 tensor (got {index.dtype}, {tuple(index.shape)})")
            if (counts < 0).any() or int(counts.sum()) != index.shape[0]:
                raise ValueError(f"`{name}_rows` must be >= 0 and sum to the length of `{name}_index` "
                                 f"({index.shape[0]}) (got {counts.tolist()})")
        if self.send_index.numel() and not (0 <= int(self.send_index.min()) and int(self.send_index.max()) < self.num_inner):
            raise ValueError(f"`send_index` must hold inner local ids in [0, {self.num_inner})")
        if self.recv_index.numel() and not (self.num_inner <= int(self.recv_index.min())
                                            and int(self.recv_index.max()) < self.num_local):
            raise ValueError(f"`recv_index` must hold halo slots in [{self.num_inner}, {self.num_local})")
        if self.recv_index.device != self.send_index.device:
            raise ValueError(f"`send_index` and `recv_index` must be on one device (got {self.send_index.device} "
                             f"and {self.recv_index.device})")
        dev = self.send_index.device
        self.halo_slots = self.recv_index - self.num_inner
        self.send_peer, self.recv_peer = _peer_of(self.send_rows).to(dev), _peer_of(self.recv_rows).to(dev)
        self.send_offset, self.recv_offset = _offsets(self.send_rows).to(dev), _offsets(self.recv_rows).to(dev)

    @property
    def device(self) -> torch.device:
        """Where the index tensors live (the device of the rows they index)."""
        return self.send_index.device

    def to(self, device) -> "ExchangePlan":
        """The same plan with its index tensors on ``device`` (counts stay host arrays).

        Args:
            device (torch.device | str): the device of the rows the plan will index.
        """
        device = torch.device(device)
        if device == self.device:
            return self
        return ExchangePlan(self.num_inner, self.num_local, self.send_index.to(device), self.send_rows,
                            self.recv_index.to(device), self.recv_rows)

    @property
    def size(self) -> int:
        """The number of ranks."""
        return len(self.send_rows)

    @property
    def num_halo(self) -> int:
        """Halo rows (``H = L - I``)."""
        return self.num_local - self.num_inner

    def counts(self, peers: torch.Tensor) -> np.ndarray:
        """int64 ``[size]``: how many entries of ``peers`` (int64 ``[n]``, ranks) go to each rank."""
        return np.bincount(peers.cpu().numpy(), minlength=self.size).astype(np.int64)

    @classmethod
    def from_peers(cls, num_inner: int, num_local: int, send: Mapping, recv: Mapping, size: int) -> "ExchangePlan":
        """A plan from per-peer arrays.

        Args:
            num_inner (int), num_local (int): as in the class.
            send (Mapping[int, array]): peer -> my inner local ids it needs (int ``[s_p]``), in its slot order.
            recv (Mapping[int, array]): peer -> the halo slots its rows fill (int ``[h_p]``).
            size (int): the number of ranks; peers must be in ``[0, size)``.
        """
        for name, lists in (("send", send), ("recv", recv)):
            bad = [p for p in lists if not 0 <= int(p) < size]
            if bad:
                raise ValueError(f"`{name}` peers must be ranks in [0, {size}) (got {bad[0]})")
        empty = np.zeros(0, dtype=np.int64)

        def flat(lists):
            counts = np.array([len(lists.get(p, empty)) for p in range(size)], dtype=np.int64)
            parts = [np.asarray(lists[p], dtype=np.int64) for p in range(size) if p in lists]
            return torch.from_numpy(np.concatenate(parts) if parts else empty), counts

        send_index, send_rows = flat(send)
        recv_index, recv_rows = flat(recv)
        return cls(num_inner=int(num_inner), num_local=int(num_local), send_index=send_index, send_rows=send_rows,
                   recv_index=recv_index, recv_rows=recv_rows)
