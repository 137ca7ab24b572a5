"""Synthetic graphs drawn in slices: ``gnnpart generate SPEC --out DIR -n P``, each rank drawing the rows of its
own range of nodes, the same graph for any ``P``.

Every value is a function of the seed and of global ids alone, through a counter-based hash (splitmix64's
finaliser over ``(seed, stream, id, sub-id)``), never of a sequential random stream: a node's class and weight,
its stubs, each stub's other end, each feature, each split. So the rank holding nodes ``[lo, hi)`` draws them
without the others, and ``P`` changes only who draws what. The model is the one of :mod:`gnnpart.data.synthetic`
(a degree-corrected stochastic block model with Pareto(2.5) weights, ``homophily`` of the edges inside their
class, features ``signal * 1.25 / sqrt(F) * mu_c + N(0, I)``), drawn differently, so it is not the same graph as
``synthetic:SPEC`` or ``gnnpart generate SPEC`` without ``-n``:

- node ``i`` draws ``floor(degree / 2 * w_i / mean(w) + u_i)`` stubs; each joins ``i`` to a node drawn in
  proportion to the weights, inside ``i``'s class with probability ``homophily``, and is stored both ways.
  Self loops and repeated pairs are dropped, so the graph has *about* ``nodes * degree`` stored edges, not
  exactly as many;
- a node is in the training set with probability ``train`` and in the validation set with probability ``val``
  (about those fractions, not exactly);
- only multi-class labels without edge features (``task`` and ``edge_features`` at their defaults).

Each rank holds the nodes' classes and weights (``[N]`` arrays, 32 B a node with the sampler's), its own stubs and
the rows of its range; the reverse direction of every pair is sent to the rank that owns its row (one
all-to-all). The graph directory's arrays are laid out by rank 0 at their final sizes and each rank writes its
rows into them; ``meta.json`` comes last, and the directory appears whole, as with one writer.
"""
from __future__ import annotations

import logging
import math
import sys

import numpy as np

from gnnpart.data.synthetic import SyntheticSpec
from gnnpart.errors import DataError
from gnnpart.limits import require_memory

log = logging.getLogger(__name__)

_LABEL, _WEIGHT, _STUBS, _SIDE, _OTHER, _FEATURE, _ANGLE, _CENTROID, _CENTROID_ANGLE, _SPLIT = range(1, 11)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BLOCK_ROWS = 1 << 15


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on ``uint64`` (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform(seed: int, stream: int, ids, sub=0) -> np.ndarray:
    """float64 in ``[0, 1)``, a function of ``(seed, stream, id, sub)`` alone (elementwise over ``ids`` and ``sub``)."""
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * _GOLDEN + np.uint64(stream))
        h = _mix(key ^ (np.asarray(ids, dtype=np.int64).astype(np.uint64) * _GOLDEN))
        h = _mix(h ^ (np.asarray(sub, dtype=np.int64).astype(np.uint64) + _GOLDEN))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def normal(seed: int, streams: tuple[int, int], ids, sub=0) -> np.ndarray:
    """Standard normal float64 (Box-Muller over two hashed uniforms)."""
    radius = np.sqrt(-2.0 * np.log1p(-uniform(seed, streams[0], ids, sub)))
    return radius * np.cos(2.0 * math.pi * uniform(seed, streams[1], ids, sub))


def check_spec(spec: SyntheticSpec) -> None:
    """Refuse, in one line, what the sliced generator does not draw."""
    if spec.task != "multiclass" or spec.edge_features:
        raise DataError(f"`generate -n` draws multi-class graphs without edge features (got task={spec.task}, "
                        f"edge_features={spec.edge_features}); leave out -n for these")


def bounds(num_nodes: int, size: int) -> np.ndarray:
    """int64 ``[size + 1]``: rank ``r`` holds nodes ``[bounds[r], bounds[r + 1])``."""
    return np.array([r * num_nodes // size for r in range(size + 1)], dtype=np.int64)


class _Nodes:
    """Every node's class and weight, and the weighted sampler of other ends (the same on every rank)."""

    def __init__(self, spec: SyntheticSpec):
        n, ids = spec.nodes, np.arange(spec.nodes)
        self.labels = np.minimum((uniform(spec.seed, _LABEL, ids) * spec.classes).astype(np.int64), spec.classes - 1)
        self.weight = (1.0 - uniform(spec.seed, _WEIGHT, ids)) ** (-1.0 / 2.5)  # 1 + Pareto(2.5), as numpy's
        self.order = np.argsort(self.labels, kind="stable")
        self.cum = np.cumsum(self.weight[self.order])
        sorted_labels = self.labels[self.order]
        first = np.searchsorted(sorted_labels, np.arange(spec.classes), side="left")
        last = np.searchsorted(sorted_labels, np.arange(spec.classes), side="right")
        padded = np.concatenate([[0.0], self.cum])
        self.lo, self.hi = padded[first], padded[last]
        self.total = float(self.cum[-1])
        self.n = n

    def other_ends(self, classes: np.ndarray, inside: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A node per stub, drawn in proportion to the weights inside ``classes`` (where ``inside``) or outside."""
        width = self.hi[classes] - self.lo[classes]
        inside = inside | (self.total - width <= 0)  # one class: there is no outside
        at = np.where(inside, self.lo[classes] + u * width, u * (self.total - width))
        at = np.where(~inside & (at >= self.lo[classes]), at + width, at)
        pos = np.minimum(np.searchsorted(self.cum, at, side="right"), self.n - 1)
        return self.order[pos]


def draw_pairs(spec: SyntheticSpec, nodes: _Nodes, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)``: both directions of every pair drawn by the stubs of nodes ``[lo, hi)``."""
    ids = np.arange(lo, hi)
    mean = nodes.weight.mean()
    stubs = np.floor(spec.degree / 2 * nodes.weight[lo:hi] / mean + uniform(spec.seed, _STUBS, ids)).astype(np.int64)
    src = np.repeat(ids, stubs)
    sub = np.arange(len(src)) - np.repeat(np.cumsum(stubs) - stubs, stubs)  # a stub's number within its node
    inside = uniform(spec.seed, _SIDE, src, sub) < spec.homophily
    dst = nodes.other_ends(nodes.labels[src], inside, uniform(spec.seed, _OTHER, src, sub))
    keep = src != dst
    src, dst = src[keep], dst[keep]
    return np.concatenate([dst, src]), np.concatenate([src, dst])  # row = target (in-edges), col = source


def exchange_pairs(comm, rows: np.ndarray, cols: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Send every ``(row, col)`` to the rank whose range holds ``row`` (one all-to-all); the pairs this rank holds."""
    if comm is None or comm.Get_size() == 1:
        return rows, cols
    from mpi4py import MPI

    dest = np.searchsorted(edges, rows, side="right") - 1
    order = np.argsort(dest, kind="stable")
    send = np.stack([rows[order], cols[order]], axis=1)  # [M, 2]: a pair's two ids travel together
    counts = np.bincount(dest, minlength=comm.Get_size()).astype(np.int64)
    recv_counts = np.empty_like(counts)
    comm.Alltoall(counts, recv_counts)
    got = np.empty((int(recv_counts.sum()), 2), dtype=np.int64)
    comm.Alltoallv([send, (counts * 2, None), MPI.INT64_T], [got, (recv_counts * 2, None), MPI.INT64_T])
    return got[:, 0], got[:, 1]


def local_rows(rows: np.ndarray, cols: np.ndarray, lo: int, hi: int, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of rows ``[lo, hi)`` from their pairs: sources sorted and distinct within each row."""
    key = np.sort((rows - lo) * num_nodes + cols)
    key = key[np.concatenate([[True], key[1:] != key[:-1]])] if len(key) else key  # distinct (np.unique: 20x slower)
    local, indices = np.divmod(key, num_nodes)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(local, minlength=hi - lo))]).astype(np.int64)
    return indptr, indices.astype(np.int64)


def feature_rows(spec: SyntheticSpec, labels: np.ndarray, lo: int, hi: int):
    """``(first row, float32 block)`` of the features of nodes ``[lo, hi)``."""
    f = spec.features
    cells = np.arange(spec.classes * f)
    centroids = normal(spec.seed, (_CENTROID, _CENTROID_ANGLE), cells).reshape(spec.classes, f)
    centroids *= spec.signal * 1.25 / math.sqrt(f)
    for start in range(lo, hi, _BLOCK_ROWS):
        stop = min(hi, start + _BLOCK_ROWS)
        cell = np.arange(start, stop)[:, None] * f + np.arange(f)[None, :]
        yield start, (centroids[labels[start:stop]] + normal(spec.seed, (_FEATURE, _ANGLE), cell)).astype(np.float32)


def split_masks(spec: SyntheticSpec, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The train, validation and test masks of nodes ``[lo, hi)``."""
    u = uniform(spec.seed, _SPLIT, np.arange(lo, hi))
    train = u < spec.train
    val = ~train & (u < spec.train + spec.val)
    return train, val, ~(train | val)


def memory_estimate(spec: SyntheticSpec, size: int) -> int:
    """Bytes a rank needs at its peak: the ``[N]`` arrays, its pairs (about 9 int64 a stored edge through the
    exchange and the sort) and one feature block."""
    edges = spec.nodes * spec.degree / size
    return int(48 * spec.nodes + 9 * 8 * edges * 1.2 + 6 * 8 * _BLOCK_ROWS * spec.features)


def generate_sliced(spec: SyntheticSpec, out, overwrite: bool = False, comm=None) -> dict:
    """Write the sliced graph of ``spec`` (the module's text) to the graph directory ``out``: on every rank of
    ``comm`` (mpi4py) with the same arguments, or alone (``comm`` None: the same graph).

    Returns:
        dict: the ``meta.json`` written (on every rank).

    Raises:
        DataError: for a spec it does not draw (one line).
        ResourceError: if a rank's estimated peak exceeds the memory available.
    """
    from gnnpart.data.graph_dir import GraphDirWriter

    check_spec(spec)
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    require_memory(memory_estimate(spec, size), f"{spec.to_spec()} in {size} slices",
                   "lower `nodes` or `degree`, or draw it in more slices (-n)")
    edges = bounds(spec.nodes, size)
    lo, hi = int(edges[rank]), int(edges[rank + 1])
    nodes = _Nodes(spec)
    rows, cols = exchange_pairs(comm, *draw_pairs(spec, nodes, lo, hi), edges)
    indptr, indices = local_rows(rows, cols, lo, hi, spec.nodes)
    del rows, cols
    counts = [len(indices)] if comm is None else comm.allgather(len(indices))
    num_edges, first_edge = int(sum(counts)), int(sum(counts[:rank]))
    log.info("slice %d of %d: nodes [%d, %d), %d stored edges of %d", rank, size, lo, hi, len(indices), num_edges)
    fields = {"indptr": ((spec.nodes + 1,), np.int64), "indices": ((num_edges,), np.int64),
              "x": ((spec.nodes, spec.features), np.float32), "y": ((spec.nodes,), np.int64),
              "train_mask": ((spec.nodes,), np.bool_), "val_mask": ((spec.nodes,), np.bool_),
              "test_mask": ((spec.nodes,), np.bool_)}
    writer = GraphDirWriter(out, overwrite) if rank == 0 else None
    tmp = None
    if rank == 0:
        writer.__enter__()
        tmp = writer.tmp
    try:
        if rank == 0:
            for name, (shape, dtype) in fields.items():  # laid out at their final sizes; each rank fills its rows
                writer.lay_out(name, shape, dtype)
        tmp = tmp if comm is None else comm.bcast(tmp, root=0)

        def rows_of(name):
            return np.lib.format.open_memmap(tmp / f"{name}.npy", mode="r+")

        a = rows_of("indptr")
        a[lo:hi] = first_edge + indptr[:-1]
        if rank == size - 1:
            a[spec.nodes] = num_edges
        a.flush()
        a = rows_of("indices")
        a[first_edge:first_edge + len(indices)] = indices
        a.flush()
        a = rows_of("x")
        for start, block in feature_rows(spec, nodes.labels, lo, hi):
            a[start:start + len(block)] = block
        a.flush()
        for name, values in zip(("y", "train_mask", "val_mask", "test_mask"),
                                (nodes.labels[lo:hi], *split_masks(spec, lo, hi))):
            a = rows_of(name)
            a[lo:hi] = values
            a.flush()
        del a
        if comm is not None:
            comm.Barrier()  # every rank's rows are in place
        meta = None
        if rank == 0:
            meta = writer.finish(spec.to_spec() + " (drawn in slices)", spec.nodes, num_edges, spec.features, True,
                                 extra={"generator": "sliced"})
    except BaseException:
        if rank == 0:
            writer.__exit__(*sys.exc_info())  # the temporary folder removed
        raise
    if rank == 0:
        writer.__exit__(None, None, None)  # renamed into place
    return meta if comm is None else comm.bcast(meta, root=0)
