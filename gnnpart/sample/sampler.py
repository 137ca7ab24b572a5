"""Neighbour sampling across ranks, the same on any partition.

For a target ``v`` at hop ``h`` of batch ``b`` in epoch ``e``, the sampled in-neighbours are the ``k`` whose hash of
``(seed, e, b, h, v, u)`` is lowest (:func:`~gnnpart.sample.sample_ops.sample_neighbors`): uniform, without
replacement, every one when ``v`` has at most ``k``. A rank samples the targets it owns itself; a target another
rank owns is sampled by its owner, which holds its in-edges: one request and one answer an hop, each an
``Alltoallv`` (the answer names, for each sampled node, its global id, its owner, its local id there and its
in-degree, so the next hop knows whom to ask; and the sampled edges' features when the graph has them).

A rank samples the computation graph of its own seeds: a node two ranks both need is sampled by each, alike.
"""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.sample.block import Block
from gnnpart.sample.exchange import RowMail, by_destination, ranges
from gnnpart.sample.sample_ops import block_sources, hop_key, sample_neighbors


class Nodes:
    """Nodes of a batch, as the sampler knows them: one int64 row each of global id, owner rank, local id at the
    owner, in-degree, and local id at this rank (-1 where this rank's sampling did not meet it: a node an answer
    named). One array, so that taking or joining nodes is one copy.

    Args:
        rows (np.ndarray): int64 ``[n, 5]``.
    """

    GID, OWNER, HOME, DEGREE, HERE = range(5)

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    gid = property(lambda self: self.rows[:, Nodes.GID])
    owner = property(lambda self: self.rows[:, Nodes.OWNER])
    home = property(lambda self: self.rows[:, Nodes.HOME])
    degree = property(lambda self: self.rows[:, Nodes.DEGREE])
    here = property(lambda self: self.rows[:, Nodes.HERE])

    def take(self, index) -> "Nodes":
        return Nodes(np.take(self.rows, index, axis=0))

    @staticmethod
    def cat(a: "Nodes", b: "Nodes") -> "Nodes":
        return Nodes(np.concatenate([a.rows, b.rows]))

    def __len__(self) -> int:
        return len(self.rows)


class NeighborSampler:
    """Samples a batch's blocks on this rank (every rank calls :meth:`sample` for every step, together).

    Args:
        part (Partition): this rank's part (its CSR of in-edges, ids, degrees, edge features, halo owners).
        comm: the mpi4py communicator of the job (None alone).
        fanouts (tuple[int]): in-edges sampled per target at each hop, from the seeds outwards (PyG's order).
        seed (int): keys the draws.

    Attributes:
        mail (RowMail): the all-to-alls; ``mail.bytes`` counts what this rank received.
    """

    def __init__(self, part, comm, fanouts, seed: int):
        self.comm = comm
        self.mail = RowMail(comm)
        self.me = self.mail.rank
        self.fanouts = tuple(int(k) for k in fanouts)
        self.seed = int(seed)
        num_local = len(part.global_ids)
        self.indptr = torch.from_numpy(np.ascontiguousarray(part.indptr, dtype=np.int64))
        self.indices = np.ascontiguousarray(part.indices, dtype=np.int64)
        self.gids = np.ascontiguousarray(part.global_ids, dtype=np.int64)
        self.edge_gids = torch.from_numpy(self.gids[self.indices])  # each in-edge's source, by global id, in order
        self.info = np.empty((num_local, 5), dtype=np.int64)  # a row of Nodes for every local node
        self.info[:, Nodes.GID] = self.gids
        self.info[:, Nodes.OWNER] = self.me
        self.info[:, Nodes.HOME] = self.info[:, Nodes.HERE] = np.arange(num_local)
        for peer, (slots, remote) in part.recv.items():
            self.info[np.asarray(slots), Nodes.OWNER] = peer
            self.info[np.asarray(slots), Nodes.HOME] = np.asarray(remote)
        self.info[:, Nodes.DEGREE] = np.asarray(part.in_degree, dtype=np.int64)
        self.edge_attr = None if part.edge_attr is None else np.asarray(part.edge_attr, dtype=np.float32)
        self.edge_width = 0 if self.edge_attr is None else self.edge_attr.shape[1]

    def local_nodes(self, local_ids: np.ndarray) -> Nodes:
        """This rank's nodes (local ids) as :class:`Nodes`."""
        return Nodes(np.take(self.info, np.asarray(local_ids, dtype=np.int64), axis=0))  # 3x fancy indexing's speed

    def sample(self, seeds: np.ndarray, epoch: int, batch: int) -> list[Block]:
        """The blocks of this rank's ``seeds`` (local ids of its training nodes) in batch ``batch`` of epoch
        ``epoch``, in layer order (the first block's sources are the model's input; the last's targets, the seeds).
        Collective: every rank calls it for every batch, with seeds or without."""
        targets = self.local_nodes(seeds)
        blocks = []
        for hop, fanout in enumerate(self.fanouts):
            key = hop_key(self.seed, epoch, batch, hop)
            counts, sampled, attrs = self._hop(targets, fanout, key)
            sources, cols, first = (t.numpy() for t in block_sources(_ids(targets.gid), _ids(sampled.gid)))
            new = sampled.take(first)
            everyone = Nodes.cat(targets, new)
            blocks.append(Block(targets.gid, sources, counts, cols, everyone.degree, attrs))
            targets = everyone
        self.input_nodes = targets
        return blocks[::-1]

    def _sample_local(self, rows: np.ndarray, fanout: int, key: int):
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        counts, edges = sample_neighbors(self.indptr, self.edge_gids, torch.from_numpy(rows),
                                         torch.from_numpy(self.gids[rows]), fanout, key)
        edges = edges.numpy()
        picked = self.indices[edges]
        attrs = None if self.edge_attr is None else self.edge_attr[edges]
        return counts.numpy(), self.local_nodes(picked), attrs

    def _hop(self, targets: Nodes, fanout: int, key: int):
        """Each target's sampled in-neighbours, in target order: ``(counts [T], sampled Nodes, edge features)``."""
        mine = targets.owner == self.me
        local_at = np.flatnonzero(mine)
        local_counts, local_nodes, local_attrs = self._sample_local(targets.home[local_at], fanout, key)
        counts = np.zeros(len(targets), dtype=np.int64)
        counts[local_at] = local_counts
        if self.mail.size == 1:
            return counts, local_nodes, local_attrs
        # targets of other ranks: ask each owner once, in one all-to-all, for the neighbours of its targets
        remote_at = np.flatnonzero(~mine)
        order, send_counts = by_destination(targets.owner[remote_at], self.mail.size)
        asked_at = remote_at[order]
        recv_counts = self.mail.counts(send_counts)
        asked = self.mail.send(targets.home[asked_at].reshape(-1, 1), send_counts, recv_counts)[:, 0]
        # as an owner: sample what was asked, and answer each rank with its targets' counts, then their neighbours
        got_counts, got_nodes, got_attrs = self._sample_local(asked, fanout, key)
        entries = got_nodes.rows[:, :Nodes.HERE]  # the answer: all but the local id, which is this rank's
        asked_from = np.repeat(np.arange(self.mail.size), recv_counts)
        entries_to = np.repeat(asked_from, got_counts)
        reply_counts_rows = np.bincount(entries_to, minlength=self.mail.size).astype(np.int64)
        answer_counts = self.mail.send(got_counts.reshape(-1, 1), recv_counts, send_counts)[:, 0]
        answer_rows = np.bincount(np.repeat(targets.owner[asked_at], answer_counts),
                                  minlength=self.mail.size).astype(np.int64)
        answers = self.mail.send(entries, reply_counts_rows, answer_rows)
        answer_attrs = None
        if self.edge_attr is not None:
            answer_attrs = self.mail.send(got_attrs, reply_counts_rows, answer_rows)
        counts[asked_at] = answer_counts
        # every target's neighbours in target order: the local ones, then the answers, gathered by each range
        here = np.where(answers[:, Nodes.OWNER] == self.me, answers[:, Nodes.HOME], -1)  # this rank's own nodes
        pool = Nodes.cat(local_nodes, Nodes(np.concatenate([answers, here[:, None]], axis=1)))
        start = np.zeros(len(targets), dtype=np.int64)
        start[local_at] = _offsets(local_counts)
        start[asked_at] = len(local_nodes) + _offsets(answer_counts)
        index = ranges(start, counts)
        attrs = None
        if self.edge_attr is not None:
            attrs = np.concatenate([local_attrs, answer_attrs])[index]
        return counts, pool.take(index), attrs


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Where each of consecutive runs of ``counts`` entries starts."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts


def _ids(column: np.ndarray) -> torch.Tensor:
    """A column of :class:`Nodes` as a contiguous int64 tensor (what the kernels take)."""
    return torch.from_numpy(np.ascontiguousarray(column))
