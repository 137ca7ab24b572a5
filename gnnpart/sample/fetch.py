"""The features of a batch's input nodes: this rank's own rows, its halo's rows (fetched once, at setup) and, for
every other input node, its owner's row (one ``Alltoallv`` a batch)."""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.comm.row_ops import pack_rows, unpack_rows_
from gnnpart.sample.exchange import RowMail, by_destination


class FeatureFetcher:
    """Gives the rows of any node of the graph to this rank, counting what travels.

    Args:
        x (torch.Tensor): ``[I, F]`` this rank's features (the rank's dtype and device).
        halo_rows (torch.Tensor): ``[L - I, F]`` its halo nodes' rows, as the exact exchange gives them.
        global_ids (np.ndarray): int64 ``[L]`` the global id of each local node.
        comm: the job's mpi4py communicator (None alone).

    Attributes:
        mail (RowMail): ``mail.bytes`` counts the bytes this rank received (ids asked of it, rows sent to it).
    """

    def __init__(self, x: torch.Tensor, halo_rows: torch.Tensor, global_ids: np.ndarray, comm):
        self.x = x
        self.table = torch.cat([x, halo_rows.to(x.dtype)]).cpu()  # [L, F]: the rows this rank holds
        self.num_inner = x.shape[0]
        halo = np.asarray(global_ids, dtype=np.int64)[self.num_inner:]
        self.halo_order = np.argsort(halo, kind="stable")
        self.halo_sorted = halo[self.halo_order]
        self.mail = RowMail(comm)

    def rows(self, gid: np.ndarray, owner: np.ndarray, home: np.ndarray, here: np.ndarray) -> torch.Tensor:
        """``[n, F]``: the rows of the nodes ``gid`` (owned by ``owner``, local id ``home`` there, and ``here`` at
        this rank or -1), on the device of ``x``. Collective: every rank calls it once a batch.

        A node with a local id here is read from this rank's rows; one without is looked up among the halo's (an
        answer may name a halo node); any other row comes from its owner, in one all-to-all."""
        gid, owner = np.asarray(gid, dtype=np.int64), np.asarray(owner, dtype=np.int64)
        local = np.array(here, dtype=np.int64)
        unknown = np.flatnonzero(local < 0)
        if len(unknown) and len(self.halo_sorted):
            at = np.minimum(np.searchsorted(self.halo_sorted, gid[unknown]), len(self.halo_sorted) - 1)
            hit = self.halo_sorted[at] == gid[unknown]
            local[unknown[hit]] = self.num_inner + self.halo_order[at[hit]]
        found = local >= 0
        # one parallel gather of every row held here (a placeholder row where the owner's comes instead)
        rows = pack_rows(self.table, torch.from_numpy(np.where(found, local, 0)))
        if self.mail.size > 1:
            missing = np.flatnonzero(~found)
            order, send_counts = by_destination(owner[missing], self.mail.size)
            asked_at = missing[order]
            recv_counts = self.mail.counts(send_counts)
            asked = self.mail.send(np.asarray(home, dtype=np.int64)[asked_at].reshape(-1, 1), send_counts,
                                   recv_counts)[:, 0]
            if len(asked) and (asked.min() < 0 or asked.max() >= self.num_inner):
                raise ValueError(f"a rank asked for the features of local ids up to {int(asked.max())}, and this rank "
                                 f"owns {self.num_inner} nodes: the ranks' partitions differ")
            answered = self.mail.send(pack_rows(self.table, torch.from_numpy(asked)).numpy(), recv_counts,
                                      send_counts)
            unpack_rows_(rows, torch.from_numpy(asked_at), torch.from_numpy(answered))
        elif not found.all():
            raise ValueError(f"node {int(gid[~found][0])} is not in this rank's part")
        if self.x.device.type == "cuda":  # staged through pinned memory, the copy queued ahead of the step's use
            return rows.pin_memory().to(self.x.device, non_blocking=True)
        return rows
