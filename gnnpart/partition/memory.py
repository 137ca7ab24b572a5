"""What partitioning needs in memory, planned from the structure's size before anything is allocated.

Partitioning holds the structure, never the features: METIS (or KaMinPar) gets the symmetric adjacency (in its
integer width) and the balance weights; the parts are then built one at a time, their features, labels and edge
features streamed from the (memory-mapped) graph in blocks. So the peak is the partitioner's, and the plan checks
it first.

METIS's own memory was measured here (``benchmarks/bench_partition.py --scaling``, K = 8, two constraints): a
peak of 1.79 GiB for 1M nodes and 20M adjacency entries, 7.01 GiB for 4M nodes and 80M entries (both with the
~0.25 GiB of an imported torch). :data:`METIS_BYTES_PER_ENTRY` and :data:`METIS_BYTES_PER_NODE` give 1.7 and
6.8 GiB with the input: within a few percent at 4M, 10% high at 1M, so that a refusal errs towards safety.

KaMinPar's (``benchmarks/bench_partitioners.py``, K = 8, degree 20, peaks with the ~0.25 GiB of torch): 1.22 /
1.33 GiB on 1 / 2 threads for 1M nodes and 20M adjacency entries, 4.07 / 4.69 GiB for 4M and 80M (its memory grows
with its threads). :data:`KAMINPAR_BYTES_PER_ENTRY` and :data:`KAMINPAR_BYTES_PER_NODE` give 1.35 and 5.4 GiB with
the int64 input: at the 1M peak, 15% above the 4M one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.errors import ResourceError
from gnnpart.limits import available_memory, format_bytes

METIS_BYTES_PER_ENTRY = 80
METIS_BYTES_PER_NODE = 150
BUILD_BYTES_PER_NODE = 64  # owner, order, local ids, degrees, the halo marks: eight int64 [N] arrays
KAMINPAR_BYTES_PER_ENTRY = 56
KAMINPAR_BYTES_PER_NODE = 150
MIN_BLOCK = 1 << 20
MAX_BLOCK = 64 << 20


@dataclass(frozen=True)
class MemoryPlan:
    """The estimates (bytes) and the block size chosen under a limit."""

    limit: int
    metis: int  # the partitioner (METIS or KaMinPar): its input and its overhead (0 for random parts)
    build: int  # building the parts: the [N] arrays and the largest part's structure
    block_bytes: int  # features, labels and edge features read at a time

    @property
    def peak(self) -> int:
        return max(self.metis, self.build + 2 * self.block_bytes)


def adjacency_entries(graph: Graph) -> int:
    """An upper bound on the entries of the symmetric adjacency METIS gets (both directions of every edge)."""
    return graph.num_edges if graph.undirected else 2 * graph.num_edges


def metis_bytes(num_nodes: int, entries: int, ncon: int, index_bytes: int) -> int:
    """METIS's input (``xadj``, ``adjncy``, the weights) plus its measured overhead."""
    given = (num_nodes + 1 + entries + num_nodes * ncon) * index_bytes
    return given + METIS_BYTES_PER_ENTRY * entries + METIS_BYTES_PER_NODE * num_nodes


def kaminpar_bytes(num_nodes: int, entries: int) -> int:
    """KaMinPar's input (int64 ``xadj``, ``adjncy``, one weight per node) plus its measured overhead."""
    return (2 * num_nodes + 1 + entries) * 8 + KAMINPAR_BYTES_PER_ENTRY * entries + KAMINPAR_BYTES_PER_NODE * num_nodes


def plan_memory(graph: Graph, num_parts: int, method: str, ncon: int, max_memory: float | None = None,
                index_bytes: int | None = None) -> MemoryPlan:
    """Plan partitioning ``graph`` within ``max_memory`` bytes (default: the memory available).

    Args:
        graph (Graph): the graph (its features may be memory-mapped: they do not count).
        num_parts (int): number of parts.
        method (str): ``metis``, ``kaminpar`` or ``random``.
        ncon (int): METIS's balance constraints (KaMinPar takes one weight).
        max_memory (float, optional): the limit, in bytes.
        index_bytes (int, optional): bytes of METIS's ``idx_t`` (default: the library's).

    Raises:
        ResourceError: in one line, with the estimate, when METIS or KaMinPar cannot fit in the limit (or the parts
            cannot be built in it).
    """
    given = max_memory is not None
    limit = int(max_memory) if given else available_memory()
    n, e = graph.num_nodes, graph.num_edges
    metis = 0
    if method == "metis" and num_parts > 1:
        if index_bytes is None:
            from gnnpart.partition.metis import index_dtype

            index_bytes = np.dtype(index_dtype()).itemsize
        metis = metis_bytes(n, adjacency_entries(graph), ncon, index_bytes)
    elif method == "kaminpar" and num_parts > 1:
        metis = kaminpar_bytes(n, adjacency_entries(graph))
    largest = 2 * -(-e // max(num_parts, 1)) + -(-n // max(num_parts, 1))  # a skewed part may hold twice its share
    build = BUILD_BYTES_PER_NODE * n + 24 * largest
    flag = f"the limit of {limit / 2**30:.4g} GiB (`max_memory`)" if given else \
        f"the {format_bytes(limit)} of memory available"
    if metis > limit:
        name = "KaMinPar" if method == "kaminpar" else "METIS"
        raise ResourceError(f"{name} needs about {format_bytes(metis)} for {n:,} nodes and {adjacency_entries(graph):,} "
                            f"adjacency entries, more than {flag}; partition on a machine with more memory"
                            + (f", or with `method` kaminpar (about {format_bytes(smaller)})"
                               if method == "metis" and (smaller := kaminpar_bytes(n, adjacency_entries(graph))) <= limit
                               else ""))
    if build + 2 * MIN_BLOCK > limit:
        raise ResourceError(f"building the parts needs about {format_bytes(build + 2 * MIN_BLOCK)} for {n:,} nodes "
                            f"and {e:,} edges, more than {flag}")
    block = int(min(MAX_BLOCK, max(MIN_BLOCK, (limit - build) // 8)))
    return MemoryPlan(limit=limit, metis=metis, build=build, block_bytes=block)


# PT-Scotch (gnnpart.partition.distributed): planned per rank, from its slice and the parts it writes
PTSCOTCH_BYTES_PER_ENTRY = 230
"""PT-Scotch's own bytes per adjacency entry a rank holds (its distributed graph, halo and coarsening)."""
SLICE_BYTES_PER_ENTRY = 64
"""The pipeline's bytes per stored edge of the slice while PT-Scotch runs: its rows, reverse pairs, the sort."""
BYTES_PER_NODE = 120
"""Per node of the slice: offsets, weights, parts, local ids and the lookup table."""
WRITER_BYTES_PER_EDGE = 64
"""Per in-edge of the parts a rank writes: its source, what the lookup says of it, its local id."""
WRITER_BYTES_PER_NODE = 96
"""Per node of the parts a rank writes (besides its features, label and masks): its record, ids and degrees."""


def ptscotch_slice_bytes(num_rows: int, num_edges: int, undirected: bool, row_bytes: int, writer_nodes: int,
                         writer_edges: int, edge_row_bytes: int = 0) -> int:
    """A rank's peak: the larger of PT-Scotch's step, on a slice of ``num_rows`` nodes and ``num_edges`` stored
    edges, and the writing step, for parts of ``writer_nodes`` nodes and ``writer_edges`` in-edges (``row_bytes``:
    a node's features, label and masks; ``edge_row_bytes``: an edge's features)."""
    entries = num_edges if undirected else 2 * num_edges
    scotch = PTSCOTCH_BYTES_PER_ENTRY * entries + SLICE_BYTES_PER_ENTRY * num_edges + BYTES_PER_NODE * num_rows
    writing = ((WRITER_BYTES_PER_EDGE + edge_row_bytes) * writer_edges + (WRITER_BYTES_PER_NODE + row_bytes)
               * writer_nodes + BYTES_PER_NODE * num_rows)
    return max(scotch, writing)
