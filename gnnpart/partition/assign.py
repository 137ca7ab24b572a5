"""Assigning every node to a part: METIS (balanced under several constraints, low edge cut), KaMinPar (one
combined weight, multi-threaded, fast) or uniform random (the baseline)."""
from __future__ import annotations

import logging
import time
from typing import Iterable

import numpy as np

from gnnpart.data.csr import coo_to_csr, csr_rows
from gnnpart.data.graph import Graph
from gnnpart.partition import kaminpar, metis

log = logging.getLogger(__name__)

METHODS = ("metis", "kaminpar", "ptscotch", "random")
DISTRIBUTED_METHODS = ("ptscotch",)  # run on MPI ranks, each holding a slice (gnnpart.partition.distributed)
SINGLE_WEIGHT_METHODS = ("kaminpar", "ptscotch")  # one weight per node: the constraints are combined (single_weight)
CONSTRAINTS = ("nodes", "edges", "train", "types")  # types: one constraint per node type (nodes, untyped)
DEFAULT_BALANCE = ("nodes", "train")
DEFAULT_TYPED_BALANCE = ("types", "edges", "train")  # METIS on a typed graph: every node type, as DistDGL does
DEFAULT_SINGLE_BALANCE = ("nodes", "edges")  # a rank's work: its nodes (the products) and in-edges (aggregation)
WEIGHT_SCALE = 16  # single_weight: a node's weight when it has the mean weight under every constraint


def default_balance(method: str, typed: bool = False) -> tuple[str, ...]:
    """What ``method`` balances when ``balance`` is not given (``typed``: on a graph with node types)."""
    if method in SINGLE_WEIGHT_METHODS:
        return DEFAULT_SINGLE_BALANCE
    return DEFAULT_TYPED_BALANCE if typed else DEFAULT_BALANCE


def parse_balance(balance: str | Iterable[str] | None, method: str = "metis", typed: bool = False) -> tuple[str, ...]:
    """Normalise ``"nodes,train"`` or ``["nodes", "train"]`` to a tuple of distinct constraint names (``None``:
    the default of ``method``, on a graph with node types if ``typed``)."""
    if balance is None:
        return default_balance(method, typed)
    items = balance.split(",") if isinstance(balance, str) else list(balance)
    names = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    bad = [s for s in names if s not in CONSTRAINTS]
    if bad or not names:
        raise ValueError(f"`balance` must be a non-empty comma-separated subset of {','.join(CONSTRAINTS)} (got '{balance}')")
    return names


def constraint_columns(graph: Graph, names: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """``(weights, labels)``: int64 ``[N, C]``, each node's weight under each constraint, and each column's name.
    ``types`` gives one column per node type (``types:<name>``); on an untyped graph it is ``nodes``."""
    cols, labels = [], []
    for name in names:
        if name == "types" and graph.types is not None:
            for t, type_name in enumerate(graph.types.node_types):
                cols.append((graph.node_type == t).astype(np.int64))
                labels.append(f"types:{type_name}")
            continue
        cols.append({"nodes": lambda: np.ones(graph.num_nodes, dtype=np.int64), "types": lambda: np.ones(
            graph.num_nodes, dtype=np.int64), "edges": graph.in_degree,
                     "train": lambda: graph.train_mask.astype(np.int64)}[name]())
        labels.append(name)
    return np.stack(cols, axis=1), labels


def num_constraints(graph: Graph, names: tuple[str, ...]) -> int:
    """The columns :func:`constraint_columns` makes: one per name, ``types`` one per node type."""
    types = graph.types.num_node_types if graph.types is not None else 1
    return len(names) + (types - 1 if "types" in names else 0)


def constraint_weights(graph: Graph, names: tuple[str, ...]) -> np.ndarray:
    """int64 ``[N, C]``: each node's weight under each constraint (:func:`constraint_columns`)."""
    return constraint_columns(graph, names)[0]


def single_weight(graph: Graph, names: tuple[str, ...]) -> np.ndarray:
    """int64 ``[N]``: one weight per node combining the constraints ``names``, for a partitioner that takes one.

    The rule: each constraint's weights are scaled so that they total the same (the number of nodes), the scaled
    weights are averaged over the constraints, times :data:`WEIGHT_SCALE` and rounded, at least 1. A part
    holding a fraction f of every constraint then holds f of the combined weight; with ``nodes,edges`` a node
    weighs ``16 (1 + in_degree / mean in_degree) / 2``. A constraint under which no node has weight is dropped.
    """
    cols, labels = constraint_columns(graph, names)
    return combine_weights(cols, cols.sum(axis=0, dtype=np.float64), graph.num_nodes, tuple(labels))


def combine_weights(cols: np.ndarray, totals: np.ndarray, num_nodes: int, names: tuple[str, ...]) -> np.ndarray:
    """:func:`single_weight`'s rule on some nodes' constraint weights ``cols`` (``[n, C]``), given every
    constraint's total over the whole graph of ``num_nodes`` nodes (a rank holding a slice gets the totals from
    all slices, and its nodes weigh what they weigh on one process)."""
    used = totals > 0
    if not used.all():
        log.warning("not balancing %s: no node has any weight under it", ", ".join(np.array(names)[~used]))
    if not used.any():
        return np.ones(len(cols), dtype=np.int64)
    combined = np.zeros(len(cols), dtype=np.float64)
    for j in np.flatnonzero(used):
        combined += cols[:, j] * (num_nodes / totals[j])
    combined *= WEIGHT_SCALE / int(used.sum())
    return np.maximum(np.rint(combined), 1).astype(np.int64)


_CHUNK_EDGES = 1 << 22
KAMINPAR_EPSILON_CAP = 1.03  # KaMinPar's allowance: every part at most this times the mean weight


def _drop_self_loops(indptr: np.ndarray, indices: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """CSR without its diagonal entries, in ``dtype``, built in chunks of rows (no ``[E]`` int64 temporaries)."""
    n = len(indptr) - 1
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(len(indices), dtype=dtype)
    filled, row = 0, 0
    while row < n:
        end = int(np.searchsorted(indptr, indptr[row] + _CHUNK_EDGES, side="right")) - 1
        end = min(max(end, row + 1), n)
        seg = indices[indptr[row] : indptr[end]]
        rows = np.repeat(np.arange(row, end, dtype=np.int64), np.diff(indptr[row : end + 1]))
        keep = seg != rows
        kept = seg[keep]
        out[filled : filled + len(kept)] = kept
        out_ptr[row + 1 : end + 1] = filled + np.cumsum(np.bincount(rows[keep] - row, minlength=end - row))
        filled += len(kept)
        row = end
    return out_ptr, (out[:filled].copy() if filled < len(out) else out)


def symmetric_adjacency(graph: Graph, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the graph made undirected, without self loops (what METIS expects), indices in ``dtype``."""
    if graph.undirected:
        return _drop_self_loops(graph.indptr, graph.indices, dtype)
    src, dst = graph.indices, csr_rows(graph.indptr)
    indptr, indices = coo_to_csr(np.concatenate([dst, src]), np.concatenate([src, dst]), graph.num_nodes)
    del src, dst
    return _drop_self_loops(indptr, indices, dtype)


_RANDOM_STREAM = 0x70617274  # "part": keeps this stream apart from other users of the same seed


def random_assignment(num_nodes: int, num_parts: int, seed: int) -> np.ndarray:
    """A uniform random part per node (numpy PCG64, deterministic for the seed).

    The generator is seeded with ``(stream tag, seed)``, not ``seed`` alone: with a bare seed,
    partitioning a synthetic graph generated with the same seed drew owners from the very bits
    that drew its labels, and the "random" baseline followed the classes.
    """
    rng = np.random.default_rng((_RANDOM_STREAM, seed))
    return rng.integers(0, num_parts, num_nodes, dtype=np.int64)


def metis_assignment(graph: Graph, num_parts: int, balance: tuple[str, ...], seed: int, timings: dict) -> np.ndarray:
    """METIS k-way with one balance constraint per name in ``balance``."""
    if num_parts == 1:
        return np.zeros(graph.num_nodes, dtype=np.int64)
    weights, labels = constraint_columns(graph, balance)
    used = weights.sum(axis=0) > 0
    if not used.all():
        log.warning("not balancing %s: no node has any weight under it", ", ".join(np.array(labels)[~used]))
        weights = weights[:, used] if used.any() else np.ones((graph.num_nodes, 1), dtype=np.int64)
    xadj, adjncy = symmetric_adjacency(graph, dtype=metis.index_dtype())
    start = time.perf_counter()
    part, cut = metis.part_graph_kway(xadj, adjncy, weights, weights.shape[1], num_parts, seed=seed)
    timings["metis_s"] = time.perf_counter() - start
    log.info("METIS: %d parts, edge cut %d (undirected), %.2f s", num_parts, cut, timings["metis_s"])
    return part


def kaminpar_assignment(graph: Graph, num_parts: int, balance: tuple[str, ...], seed: int, threads: int,
                        timings: dict) -> np.ndarray:
    """KaMinPar k-way on ``threads`` threads, balancing one weight combined from ``balance`` (:func:`single_weight`)."""
    if num_parts == 1:
        return np.zeros(graph.num_nodes, dtype=np.int64)
    kaminpar.require_kaminpar()  # refused before the adjacency is built
    weights = single_weight(graph, balance)
    xadj, adjncy = symmetric_adjacency(graph, dtype=np.int64)
    start = time.perf_counter()
    part = kaminpar.part_graph(xadj, adjncy, weights, num_parts, seed=seed, threads=threads)
    timings["kaminpar_s"] = time.perf_counter() - start
    log.info("KaMinPar: %d parts, %d threads, %.2f s", num_parts, threads, timings["kaminpar_s"])
    loads = np.bincount(part, weights=weights, minlength=num_parts)
    total, heaviest = int(weights.sum()), int(weights.max())
    mean = -(-total // num_parts)
    if heaviest > KAMINPAR_EPSILON_CAP * mean or loads.min() == 0:
        # a node heavier than a part may be (a hub, or a constraint few nodes carry): no partition is balanced, and
        # KaMinPar may give up altogether (parts left empty)
        log.warning("KaMinPar cannot balance %s: node %d weighs %d of %d in all, more than a part may hold (1.03x "
                    "%d); the parts' imbalance is %.2f%s; balance fewer constraints (--balance nodes), or use "
                    "method='metis'", ",".join(balance), int(np.argmax(weights)), heaviest, total, mean,
                    float(loads.max() / max(loads.mean(), 1)),
                    f", and {int((loads == 0).sum())} of {num_parts} parts are empty" if loads.min() == 0 else "")
    return part


def assign(graph: Graph, num_parts: int, method: str, balance: tuple[str, ...], seed: int, timings: dict,
           threads: int = 1) -> np.ndarray:
    """int64 ``[N]`` part of every node, by ``method`` (``threads``: KaMinPar's)."""
    if method == "metis":
        return metis_assignment(graph, num_parts, balance, seed, timings)
    if method == "kaminpar":
        return kaminpar_assignment(graph, num_parts, balance, seed, threads, timings)
    if method == "random":
        return random_assignment(graph.num_nodes, num_parts, seed)
    raise ValueError(f"`method` must be one of {', '.join(METHODS)} (got '{method}')")
