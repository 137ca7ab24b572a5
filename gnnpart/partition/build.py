"""From a node-to-part assignment to each part's arrays: local graph, halo and exchange plans.

Local ids of a part: its inner nodes first (ascending global id), then its
halo nodes (remote in-neighbours of inner nodes) grouped by owner part, in
ascending owner and, within an owner, ascending global id. So the halo rows
filled by one peer are one contiguous slice, and the peer sends them in the
order of its own (ascending) inner ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.mapped import block_rows, drop_pages


@dataclass
class Rows:
    """The rows ``ids`` (ascending) of ``source``, read a block at a time when written: a part's features are
    never in memory whole, and a memory-mapped source is read only where the part needs it."""

    source: np.ndarray
    ids: np.ndarray
    block_bytes: int | None = None  # bytes read at a time (default BLOCK_BYTES of gnnpart.data.mapped)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.ids),) + tuple(self.source.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    def blocks(self) -> Iterator[np.ndarray]:
        """Consecutive blocks of the rows, of about :attr:`block_bytes` each."""
        row = self.source[:1].nbytes
        step = block_rows(row) if self.block_bytes is None else max(1, self.block_bytes // max(1, row))
        for i in range(0, len(self.ids), step):
            block = np.asarray(self.source[self.ids[i : i + step]])
            drop_pages(self.source)  # per block: the kernel maps neighbouring pages too, a part would map it all
            yield block

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.source[self.ids], dtype=dtype)


@dataclass
class PartArrays:
    """Everything one rank needs, in numpy arrays (the files of ``part-<i>/``)."""

    part_id: int
    global_ids: np.ndarray  # int64 [num_local]: inner then halo
    num_inner: int
    indptr: np.ndarray  # int64 [num_inner + 1]
    indices: np.ndarray  # int64 [num_local_edges]: local ids of in-neighbours
    in_degree: np.ndarray  # int64 [num_local]: global in-degree
    out_degree: np.ndarray  # int64 [num_local]: global out-degree
    x: Rows  # float32 [num_inner, F]
    y: Rows  # int64 [num_inner] class ids, or float32 [num_inner, T] targets
    train_mask: np.ndarray  # bool [num_inner]
    val_mask: np.ndarray
    test_mask: np.ndarray
    recv_peers: np.ndarray  # int64 [P]: parts that own some of my halo nodes, ascending
    recv_ptr: np.ndarray  # int64 [P + 1]: offsets into recv_slot / recv_remote
    recv_slot: np.ndarray  # int64 [H]: local id (>= num_inner) of each halo slot
    recv_remote: np.ndarray  # int64 [H]: the owner's local id of that node
    num_cut_edges: int  # local edges whose source is a halo node
    edge_attr: Rows | None = None  # float32 [num_local_edges, D], in the order of indices
    node_type: np.ndarray | None = None  # int64 [num_local]: each local node's type (typed graphs)
    edge_type: Rows | None = None  # int64 [num_local_edges]: each local edge's relation (typed graphs)

    @property
    def num_halo(self) -> int:
        return len(self.global_ids) - self.num_inner


def _gather_rows(graph: Graph, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The in-edge CSR restricted to ``rows``: (local indptr, global source ids, the edges' ids in ``graph``)."""
    deg = graph.indptr[rows + 1] - graph.indptr[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    edge_ids = np.arange(indptr[-1], dtype=np.int64)
    edge_ids += np.repeat(graph.indptr[rows] - indptr[:-1], deg)
    return indptr, graph.indices[edge_ids], edge_ids


def build_parts(graph: Graph, owner: np.ndarray, num_parts: int, block_bytes: int | None = None,
                parts=None) -> Iterator[PartArrays]:
    """Yield the arrays of each part in turn (one part's structure in memory at a time; its features, labels and
    edge features as :class:`Rows`, read when written).

    Args:
        graph (Graph): the whole graph.
        owner (np.ndarray): int64 ``[N]`` part of each node, in ``[0, num_parts)``.
        num_parts (int): number of parts.
        block_bytes (int, optional): bytes of features read at a time when a part is written.
        parts (iterable of int, optional): the parts to build (default all; a parallel writer builds its share).
    """
    n = graph.num_nodes
    counts = np.bincount(owner, minlength=num_parts)
    order = np.argsort(owner, kind="stable")
    part_ptr = np.zeros(num_parts + 1, dtype=np.int64)
    np.cumsum(counts, out=part_ptr[1:])
    local_of = np.empty(n, dtype=np.int64)  # each node's local id inside its owner part
    local_of[order] = np.arange(n, dtype=np.int64) - np.repeat(part_ptr[:-1], counts)
    in_degree, out_degree = graph.in_degree(), graph.out_degree()
    to_local = np.empty(n, dtype=np.int64)
    seen = np.zeros(n, dtype=bool)

    for p in range(num_parts) if parts is None else parts:
        inner = order[part_ptr[p] : part_ptr[p + 1]]
        indptr, src, edge_ids = _gather_rows(graph, inner)
        remote = src[owner[src] != p]
        seen[remote] = True
        halo = np.flatnonzero(seen)
        seen[halo] = False
        halo_owner = owner[halo]
        by_owner = np.argsort(halo_owner, kind="stable")
        halo, halo_owner = halo[by_owner], halo_owner[by_owner]

        num_inner = len(inner)
        global_ids = np.concatenate([inner, halo])
        to_local[global_ids] = np.arange(len(global_ids), dtype=np.int64)
        starts = np.flatnonzero(np.diff(halo_owner, prepend=-1)) if len(halo) else np.zeros(0, dtype=np.int64)
        yield PartArrays(
            part_id=p,
            global_ids=global_ids,
            num_inner=num_inner,
            indptr=indptr,
            indices=to_local[src],
            in_degree=in_degree[global_ids],
            out_degree=out_degree[global_ids],
            x=Rows(graph.x, inner, block_bytes),
            y=Rows(graph.y, inner, block_bytes),
            train_mask=graph.train_mask[inner],
            val_mask=graph.val_mask[inner],
            test_mask=graph.test_mask[inner],
            recv_peers=halo_owner[starts],
            recv_ptr=np.append(starts, len(halo)).astype(np.int64),
            recv_slot=np.arange(num_inner, len(global_ids), dtype=np.int64),
            recv_remote=local_of[halo],
            num_cut_edges=len(remote),
            edge_attr=None if graph.edge_attr is None else Rows(graph.edge_attr, edge_ids, block_bytes),
            node_type=None if graph.node_type is None else graph.node_type[global_ids],
            edge_type=None if graph.edge_type is None else Rows(graph.edge_type, edge_ids, block_bytes),
        )


def send_plans(recv: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], num_parts: int):
    """Turn every part's receive plan into every part's send plan.

    Args:
        recv: part -> (recv_peers, recv_ptr, recv_remote).

    Returns:
        part -> (send_peers, send_ptr, send_local): for each peer, in ascending order, the local
        ids of my inner rows the peer needs, in the order of the peer's halo slots.
    """
    outgoing: list[dict[int, np.ndarray]] = [{} for _ in range(num_parts)]
    for q, (peers, ptr, remote) in recv.items():
        for i, p in enumerate(peers.tolist()):
            outgoing[p][q] = remote[ptr[i] : ptr[i + 1]]
    plans = {}
    for p in range(num_parts):
        peers = np.array(sorted(outgoing[p]), dtype=np.int64)
        lists = [outgoing[p][q] for q in peers.tolist()]
        ptr = np.zeros(len(peers) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in lists], out=ptr[1:])
        local = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
        plans[p] = (peers, ptr, local.astype(np.int64))
    return plans
