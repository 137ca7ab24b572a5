"""The exchange plan of one rank, read from its partition files."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gnnpart.partition.store import Partition


@dataclass
class ExchangePlan:
    """Which rows this rank sends to and receives from every rank, in rank order.

    Attributes:
        num_inner (int), num_local (int): rows owned, and rows owned + halo.
        send_index (torch.Tensor): int64 ``[S]`` my inner local ids, peer after peer (ascending rank).
        send_rows (np.ndarray): int64 ``[size]`` rows sent to each rank.
        recv_index (torch.Tensor): int64 ``[H]`` halo slots filled, peer after peer.
        recv_rows (np.ndarray): int64 ``[size]`` rows received from each rank.
    """

    num_inner: int
    num_local: int
    send_index: torch.Tensor
    send_rows: np.ndarray
    recv_index: torch.Tensor
    recv_rows: np.ndarray

    @classmethod
    def from_partition(cls, part: Partition, size: int) -> "ExchangePlan":
        if part.num_parts != size:
            raise ValueError(f"the number of ranks ({size}) must equal the number of parts ({part.num_parts})")
        send_rows = np.zeros(size, dtype=np.int64)
        recv_rows = np.zeros(size, dtype=np.int64)
        send, recv = [], []
        for peer in range(size):
            if peer in part.send:
                send.append(part.send[peer])
                send_rows[peer] = len(part.send[peer])
            if peer in part.recv:
                recv.append(part.recv[peer][0])
                recv_rows[peer] = len(part.recv[peer][0])
        empty = np.zeros(0, dtype=np.int64)
        return cls(
            num_inner=part.num_inner,
            num_local=part.num_local,
            send_index=torch.from_numpy(np.concatenate(send) if send else empty).long(),
            send_rows=send_rows,
            recv_index=torch.from_numpy(np.concatenate(recv) if recv else empty).long(),
            recv_rows=recv_rows,
        )
