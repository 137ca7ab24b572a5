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

Each rank holds the nodes' classes and weights (``[N]`` arrays, about 48 B a node with the sampler's), its own stubs and
the rows of its range; the reverse direction of every pair is sent to the rank that owns its row (one
all-to-all). The graph directory's arrays are laid out by rank 0 at their final sizes and each rank writes its
rows into them (so the output must be on a file system every rank sees); ``meta.json`` comes last, and the
directory appears whole, as with one writer. A step that fails on any rank fails on every rank, naming the failing
ranks, and rank 0 removes the temporary folder. One all-to-all sends at most 2**30 pairs from a rank (the int
counts of MPI libraries without large counts): a slice that would send more is refused in one line.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from gnnpart.data.synthetic import SyntheticSpec
from gnnpart.errors import AgreedFailure, DataError
from gnnpart.limits import require_memory
from gnnpart.processes import attempt, failures_of_step

log = logging.getLogger(__name__)

_LABEL, _WEIGHT, _STUBS, _SIDE, _OTHER, _FEATURE, _ANGLE, _CENTROID, _CENTROID_ANGLE, _SPLIT = range(1, 11)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BLOCK_ROWS = 1 << 15
_MAX_PAIRS = 1 << 30  # two int64 a pair: 2**31 elements, the largest count of an MPI without large counts


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
    if spec.hetero:
        raise DataError("`generate -n` does not draw typed graphs (hetero=); generate them in one process (without "
                        "-n or mpiexec)")
    if spec.task != "multiclass" or spec.edge_features:
        raise DataError(f"`generate -n` draws multi-class graphs without edge features (got task={spec.task}, "
                        f"edge_features={spec.edge_features}); generate these in one process (without -n or mpiexec)")


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


class SlicesFailed(AgreedFailure, DataError):
    """A step failed on some ranks of a sliced generation (every rank raises it; nothing was left)."""


def agree_slices(comm, error: BaseException | None, step: str, writer=None, work: str = "generating") -> None:
    """Every rank says whether ``step`` failed on it; if any did, rank 0 removes the temporary folder and every
    rank raises :class:`SlicesFailed`, naming each failing rank and its error."""
    if comm is None:
        if error is not None:
            if writer is not None and writer.tmp is not None:
                writer.__exit__(type(error), error, None)  # the temporary folder removed
            raise error
        return
    failures = failures_of_step(comm, error)
    if not failures:
        return
    if writer is not None and writer.tmp is not None:
        writer.__exit__(SlicesFailed, None, None)  # the temporary folder removed
    said = "; ".join(f"rank {r}: {text}" for r, text in failures)
    raise SlicesFailed(f"{work} in slices failed while {step} on {len(failures)} of {comm.Get_size()} ranks: {said}")




def generate_sliced(spec: SyntheticSpec, out, overwrite: bool = False, comm=None) -> dict:
    """Write the sliced graph of ``spec`` (the module's text) to the graph directory ``out``: on every rank of
    ``comm`` (mpi4py) with the same arguments, or alone (``comm`` None: the same graph). With several ranks,
    ``out`` must be on a file system they all see; a step that fails on any rank fails on all of them
    (:class:`SlicesFailed`, naming the ranks), and nothing is left.

    Returns:
        dict: the ``meta.json`` written (on every rank).

    Raises:
        DataError: for a spec it does not draw (one line).
        ResourceError: if the ranks of a host would need more than its memory available.
        FileExistsError: if ``out`` exists and ``overwrite`` is false.
    """
    from gnnpart.atomic import check_output_dir
    from gnnpart.data.graph_dir import KIND, GraphDirWriter

    check_spec(spec)
    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())
    on_host = 1 if comm is None else ranks_on_host(comm)
    require_memory(memory_estimate(spec, size) * on_host, f"{spec.to_spec()} in {size} slices, {on_host} on this host",
                   "lower `nodes` or `degree`, or spread the ranks over more hosts")
    _, error = attempt(check_output_dir, out, overwrite, KIND) if rank == 0 else (None, None)
    agree_slices(comm, error, "checking the output")
    edges = bounds(spec.nodes, size)
    lo, hi = int(edges[rank]), int(edges[rank + 1])

    def draw():
        nodes = _Nodes(spec)
        rows, cols = draw_pairs(spec, nodes, lo, hi)
        if comm is not None and len(rows) > _MAX_PAIRS:  # refused before the all-to-all, on every rank
            raise DataError(f"a slice sends {len(rows):,} pairs in one all-to-all, more than {_MAX_PAIRS:,} (MPI's "
                            "int counts); draw it in more slices (-n)")
        return nodes, (rows, cols)

    drawn, error = attempt(draw)
    agree_slices(comm, error, "drawing the pairs")
    nodes, (rows, cols) = drawn
    rows, cols = exchange_pairs(comm, rows, cols, edges)
    built, error = attempt(local_rows, rows, cols, lo, hi, spec.nodes)
    agree_slices(comm, error, "sorting the rows")
    indptr, indices = built
    del rows, cols, drawn, built
    counts = [len(indices)] if comm is None else comm.allgather(len(indices))
    num_edges, first_edge = int(sum(counts)), int(sum(counts[:rank]))
    log.info("slice %d of %d: nodes [%d, %d), %d stored edges of %d", rank, size, lo, hi, len(indices), num_edges)
    fields = {"indptr": ((spec.nodes + 1,), np.int64), "indices": ((num_edges,), np.int64),
              "x": ((spec.nodes, spec.features), np.float32), "y": ((spec.nodes,), np.int64),
              "train_mask": ((spec.nodes,), np.bool_), "val_mask": ((spec.nodes,), np.bool_),
              "test_mask": ((spec.nodes,), np.bool_)}
    writer = GraphDirWriter(out, overwrite) if rank == 0 else None

    def lay_out():
        writer.__enter__()
        for name, (shape, dtype) in fields.items():  # at their final sizes, space reserved; each rank fills its rows
            writer.lay_out(name, shape, dtype)
        return writer.tmp

    tmp, error = attempt(lay_out) if rank == 0 else (None, None)
    agree_slices(comm, error, "laying out the arrays", writer)
    tmp = tmp if comm is None else comm.bcast(tmp, root=0)

    def write_rows():
        if not tmp.is_dir():
            raise FileNotFoundError(f"{tmp} is not seen from this rank's host: the output must be on a file system "
                                    "every rank sees")
        a = np.lib.format.open_memmap(tmp / "indptr.npy", mode="r+")
        a[lo:hi] = first_edge + indptr[:-1]
        if rank == size - 1:
            a[spec.nodes] = num_edges
        a.flush()
        a = np.lib.format.open_memmap(tmp / "indices.npy", mode="r+")
        a[first_edge:first_edge + len(indices)] = indices
        a.flush()
        a = np.lib.format.open_memmap(tmp / "x.npy", mode="r+")
        for start, block in feature_rows(spec, nodes.labels, lo, hi):
            a[start:start + len(block)] = block
        a.flush()
        for name, values in zip(("y", "train_mask", "val_mask", "test_mask"),
                                (nodes.labels[lo:hi], *split_masks(spec, lo, hi))):
            a = np.lib.format.open_memmap(tmp / f"{name}.npy", mode="r+")
            a[lo:hi] = values
            a.flush()

    _, error = attempt(write_rows)
    agree_slices(comm, error, "writing the rows", writer)

    def finish():
        meta = writer.finish(spec.to_spec() + " (drawn in slices)", spec.nodes, num_edges, spec.features, True,
                             extra={"generator": "sliced"})
        writer.__exit__(None, None, None)  # renamed into place
        return meta

    meta, error = attempt(finish) if rank == 0 else (None, None)
    if error is not None and writer.tmp is not None and writer.tmp.exists():
        writer.__exit__(type(error), error, None)
    agree_slices(comm, error, "writing meta.json")
    return meta if comm is None else comm.bcast(meta, root=0)


def ranks_on_host(comm) -> int:
    """How many ranks of ``comm`` share this rank's host (and its memory)."""
    from mpi4py import MPI

    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return local.Get_size()
    finally:
        local.Free()
