"""One rank's contiguous slice of a graph's rows: what a distributed partitioner reads (:mod:`.distributed`).

Rank ``r`` of ``P`` holds nodes ``[lo, hi)``, chosen so that every rank gets about the same nodes plus stored edges
(:func:`slice_bounds`), and of them only: their in-edge rows, features, labels, masks and edge features, as views
of memory-mapped files when the graph is a graph directory (:func:`open_slice`), so no rank maps more than its
share. The checks that :class:`gnnpart.data.Graph` runs on a whole graph run on the slice (ids in range, rows
sorted and distinct, features finite); what spans slices (class count, label kind) is agreed with the other ranks
by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph, labelled_rows
from gnnpart.data.mapped import drop_pages
from gnnpart.errors import DataError


@dataclass
class GraphSlice:
    """Nodes ``[lo, hi)`` of a graph of ``num_nodes`` nodes and ``num_edges`` stored edges.

    Attributes:
        indptr (np.ndarray): int64 ``[hi - lo + 1]`` offsets of the rows into ``indices``, from 0.
        indices (np.ndarray): int64 global sources of the rows' in-edges, sorted and distinct in each row.
        first_edge (int): the global position of the slice's first edge (of ``edge_attr``'s first row).
        x, y, train_mask, val_mask, test_mask: the rows' features, labels and masks.
        edge_attr (np.ndarray | None): the rows' edge features, in the order of ``indices``.
    """

    lo: int
    hi: int
    num_nodes: int
    num_edges: int
    indptr: np.ndarray
    indices: np.ndarray
    first_edge: int
    x: np.ndarray
    y: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    edge_attr: np.ndarray | None
    undirected: bool
    name: str

    @property
    def num_rows(self) -> int:
        return self.hi - self.lo

    def in_degree(self) -> np.ndarray:
        return np.diff(self.indptr)


def slice_bounds(indptr: np.ndarray, size: int) -> np.ndarray:
    """int64 ``[size + 1]``: rank ``r`` holds nodes ``[b[r], b[r + 1])``, each about ``(N + E) / size`` nodes plus
    stored edges (reads ``size`` entries of a mapped ``indptr``, by bisection)."""
    n = len(indptr) - 1
    work_total = n + int(indptr[-1])
    bounds = [0]
    for r in range(1, size):
        target = r * work_total // size  # the first node v with v + indptr[v] >= target
        lo, hi = bounds[-1], n
        while lo < hi:
            mid = (lo + hi) // 2
            if mid + int(indptr[mid]) >= target:
                hi = mid
            else:
                lo = mid + 1
        bounds.append(lo)
    bounds.append(n)
    return np.array(bounds, dtype=np.int64)


def from_graph(graph: Graph, lo: int, hi: int) -> GraphSlice:
    """The slice ``[lo, hi)`` of a validated graph (views where the graph's arrays allow)."""
    start, end = int(graph.indptr[lo]), int(graph.indptr[hi])
    return GraphSlice(
        lo=lo, hi=hi, num_nodes=graph.num_nodes, num_edges=graph.num_edges,
        indptr=np.asarray(graph.indptr[lo:hi + 1]) - start, indices=np.asarray(graph.indices[start:end]),
        first_edge=start, x=graph.x[lo:hi], y=graph.y[lo:hi], train_mask=graph.train_mask[lo:hi],
        val_mask=graph.val_mask[lo:hi], test_mask=graph.test_mask[lo:hi],
        edge_attr=None if graph.edge_attr is None else graph.edge_attr[start:end],
        undirected=graph.undirected, name=graph.name)


def _check_rows(where: Path, indptr: np.ndarray, indices: np.ndarray, lo: int, n: int) -> None:
    if np.any(np.diff(indptr) < 0):
        at = lo + int(np.flatnonzero(np.diff(indptr) < 0)[0])
        raise DataError(f"{where / 'indptr.npy'}: offsets must be non-decreasing (they decrease after node {at})")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
        bad = int(indices.min()) if indices.min() < 0 else int(indices.max())
        raise DataError(f"{where / 'indices.npy'}: edge sources must be node ids in [0, {n}) (got {bad})")
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    bad = (np.diff(indices) <= 0) & (rows[1:] == rows[:-1]) if len(indices) > 1 else np.zeros(0, dtype=bool)
    if bad.any():
        at = int(np.flatnonzero(bad)[0]) + 1
        raise DataError(f"{where / 'indices.npy'}: sources must be sorted and distinct within each row (got "
                        f"{int(indices[at])} after {int(indices[at - 1])} in the row of node {lo + int(rows[at])})")


TYPED_REFUSAL = ("`method` 'ptscotch' does not carry node and edge types yet: partition a typed graph with "
                 "method='metis', 'kaminpar' or 'random'")


def open_slice(path, rank: int, size: int) -> GraphSlice:
    """Rank ``rank``'s slice of the graph directory ``path``, its arrays mapped (the slice's rows only are read,
    and checked as :class:`~gnnpart.data.Graph` checks a whole graph).

    Raises:
        DataError: naming the file and the rule, for a directory that does not open or a slice that fails a check.
    """
    from gnnpart.data.graph_dir import DTYPES, META_FILE, _open_field, read_graph_meta

    root = Path(path)
    meta = read_graph_meta(root)
    if meta.get("node_types"):
        raise DataError(TYPED_REFUSAL)
    arrays = {name: _open_field(root, name, record) for name, record in meta["fields"].items() if name in DTYPES}
    n, e = len(arrays["indptr"]) - 1, len(arrays["indices"])
    if meta["num_nodes"] != n or meta["num_edges"] != e:
        raise DataError(f"{root / META_FILE}: `num_nodes` / `num_edges` say {meta['num_nodes']} / {meta['num_edges']}, "
                        f"the arrays hold {n} / {e}: the directory was altered")
    if n < 1 or int(arrays["indptr"][0]) != 0 or int(arrays["indptr"][-1]) != e:
        raise DataError(f"{root / 'indptr.npy'}: offsets must start at 0 and end at the edge count {e}")
    bounds = slice_bounds(arrays["indptr"], size)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    indptr = np.array(arrays["indptr"][lo:hi + 1])
    start, end = int(indptr[0]), int(indptr[-1])
    indptr -= start
    indices = np.array(arrays["indices"][start:end])
    drop_pages(arrays["indices"])
    _check_rows(root, indptr, indices, lo, n)
    x = arrays["x"][lo:hi]
    for i in range(0, len(x), 1 << 16):
        if not np.isfinite(x[i:i + (1 << 16)]).all():
            row = lo + i + int(np.flatnonzero(~np.isfinite(x[i:i + (1 << 16)]).all(axis=1))[0])
            raise DataError(f"{root / 'x.npy'}: features must be finite (node {row} has a NaN or inf)")
    drop_pages(arrays["x"])
    y = np.array(arrays["y"][lo:hi])
    masks = [np.array(arrays[m][lo:hi]) for m in ("train_mask", "val_mask", "test_mask")]
    labelled = labelled_rows(y)
    for name, mask in zip(("train_mask", "val_mask", "test_mask"), masks):
        if (mask & ~labelled).any():
            raise DataError(f"{root / (name + '.npy')}: masks must select labelled nodes only (got unlabelled node "
                            f"{lo + int(np.flatnonzero(mask & ~labelled)[0])})")
    return GraphSlice(lo=lo, hi=hi, num_nodes=n, num_edges=e, indptr=indptr, indices=indices, first_edge=start,
                      x=x, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2],
                      edge_attr=arrays["edge_attr"][start:end] if "edge_attr" in arrays else None,
                      undirected=bool(meta.get("undirected", False)), name=str(meta.get("name") or root))
