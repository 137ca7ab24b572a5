"""The fewest rows that carry a cut exactly: a minimum vertex cover of the cut edges between two parts.

Between parts ``p`` and ``q``, the cut edges ``s -> t`` (source ``s`` on ``p``, target ``t`` on ``q``) form a
bipartite graph. For a layer whose aggregation is a weighted sum, ``p`` can send ``s``'s row, which covers every
edge of ``s`` into ``q`` (today's exchange sends exactly these), or ``t``'s partial sum over its sources on ``p``,
which covers every edge into ``t`` from ``p``. The fewest rows that cover every cut edge form a minimum vertex
cover; by König's theorem it has as many vertices as a maximum matching has edges. The matching is scipy's
Hopcroft-Karp (``scipy.sparse.csgraph.maximum_bipartite_matching``); the cover follows from it by the alternating
search of König's proof.

Every cut edge into part ``q`` is an edge of ``q``'s own in-edge CSR whose source is a halo node, so part ``q``
alone gives the covers of all its incoming pairs (:func:`part_covers`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairCover:
    """A minimum vertex cover of the cut edges from one part into another.

    Attributes:
        rows (np.ndarray): int64, the sources (ids as given, ascending) the sender sends as rows.
        sums (np.ndarray): int64, the targets (ids as given, ascending) the sender sends partial sums for.
        num_edges (int): cut edges (distinct ``(source, target)`` pairs).
        num_sources (int): distinct sources: the rows today's exchange sends.
        num_targets (int): distinct targets: the partial sums ``aggregate_at="sender"`` sends.
    """

    rows: np.ndarray
    sums: np.ndarray
    num_edges: int
    num_sources: int
    num_targets: int = 0

    @property
    def size(self) -> int:
        """Rows the cover sends: rows plus partial sums (the maximum matching's size)."""
        return len(self.rows) + len(self.sums)


def _neighbours(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Every column of the given CSR rows, concatenated."""
    starts, ends = indptr[rows], indptr[rows + 1]
    lengths = ends - starts
    if not lengths.sum():
        return np.empty(0, dtype=indices.dtype)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return indices[np.arange(lengths.sum()) + offsets]


def pair_cover(src, dst) -> PairCover:
    """A minimum vertex cover of the bipartite graph of edges ``src[i] -> dst[i]`` (sources and targets are two
    sides, whatever their ids; repeated edges count once).

    Args:
        src, dst (array-like of int): ``[E]`` the cut edges' sources and targets.

    Returns:
        PairCover: ``rows`` (sources) and ``sums`` (targets) such that every edge has its source in ``rows`` or
        its target in ``sums``, and ``len(rows) + len(sums)`` is the least that can do so.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    if src.shape != dst.shape or src.ndim != 1:
        raise ValueError(f"`src` and `dst` must be two [E] arrays of the same length (got shapes {src.shape} and "
                         f"{dst.shape})")
    sources, s = np.unique(src, return_inverse=True)
    targets, t = np.unique(dst, return_inverse=True)
    if not len(src):
        return PairCover(sources, targets, 0, 0, 0)
    adj = csr_matrix((np.ones(len(s), dtype=np.int8), (s, t)), shape=(len(sources), len(targets)))
    adj.sum_duplicates()
    adj.sort_indices()
    row_match = maximum_bipartite_matching(adj, perm_type="column")  # source i -> its matched target, or -1
    col_match = np.full(len(targets), -1, dtype=np.int64)
    matched = np.flatnonzero(row_match >= 0)
    col_match[row_match[matched]] = matched
    # König: from the unmatched sources, follow any edge to a target, then its matching edge back to a source
    seen_source = row_match < 0
    seen_target = np.zeros(len(targets), dtype=bool)
    frontier = np.flatnonzero(seen_source)
    while len(frontier):
        reached = np.unique(_neighbours(adj.indptr, adj.indices, frontier))
        reached = reached[~seen_target[reached]]
        seen_target[reached] = True
        back = col_match[reached]  # all matched: an unmatched one would end an augmenting path
        back = back[~seen_source[back]]
        seen_source[back] = True
        frontier = back
    rows, sums = sources[~seen_source], targets[seen_target]
    size = int((row_match >= 0).sum())
    if len(rows) + len(sums) != size:  # König's theorem; a failure here is a bug, not bad input
        raise AssertionError(f"cover of {len(rows) + len(sums)} vertices for a matching of {size} edges")
    return PairCover(rows, sums, int(adj.nnz), len(sources), len(targets))


def part_covers(part) -> dict[int, PairCover]:
    """For every part that sends halo rows to ``part``, the minimum cover of its cut edges into ``part``, in
    global ids (the sources are that part's nodes, the targets ``part``'s).

    Args:
        part (gnnpart.partition.store.Partition): the receiving part, as loaded.
    """
    indptr, indices, inner = np.asarray(part.indptr), np.asarray(part.indices), part.num_inner
    targets = np.repeat(np.arange(inner), np.diff(indptr))
    cut = indices >= inner
    owner = part.halo_owner[indices[cut] - inner]
    src, dst = part.global_ids[indices[cut]], part.global_ids[targets[cut]]
    return {int(peer): pair_cover(src[owner == peer], dst[owner == peer]) for peer in sorted(part.recv)}


def cover_report(path, progress=None) -> list[dict]:
    """For every ordered pair of parts with cut edges, one dict: ``from``, ``to``, ``cut_edges``, ``rows`` (what
    today's exact exchange sends: distinct sources), ``targets`` (the partial sums of ``aggregate_at="sender"``:
    distinct targets), ``cover_rows`` and ``cover_sums`` (the minimum cover's rows
    and partial sums).

    Args:
        path: a partition directory.
        progress (callable, optional): called with ``(part, num_parts)`` before each part is read.
    """
    from gnnpart.partition.store import load_partition, read_meta

    num_parts = read_meta(path)["num_parts"]
    pairs = []
    for q in range(num_parts):
        if progress is not None:
            progress(q, num_parts)
        for p, cover in part_covers(load_partition(path, q, verify=False, mmap=True)).items():
            pairs.append({"from": p, "to": q, "cut_edges": cover.num_edges, "rows": cover.num_sources,
                          "targets": cover.num_targets, "cover_rows": len(cover.rows), "cover_sums": len(cover.sums)})
    return sorted(pairs, key=lambda d: (d["from"], d["to"]))
