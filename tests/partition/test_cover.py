"""The minimum vertex cover of each pair of parts' cut edges: a cover (every cut edge has its source sent as a row
or its target as a partial sum), of the least size (against every subset, on small graphs), and per part the
covers of all incoming pairs, whose sources are today's halo rows."""
from itertools import combinations

import numpy as np
import pytest

from gnnpart.partition.cover import pair_cover, part_covers


def brute_force_cover_size(src, dst) -> int:
    """The least number of vertices (sources and targets, two sides) that touch every edge, by trying every
    subset in order of size."""
    vertices = [("s", v) for v in np.unique(src)] + [("t", v) for v in np.unique(dst)]
    edges = set(zip(src.tolist(), dst.tolist()))
    for k in range(len(vertices) + 1):
        for chosen in combinations(vertices, k):
            rows = {v for side, v in chosen if side == "s"}
            sums = {v for side, v in chosen if side == "t"}
            if all(s in rows or t in sums for s, t in edges):
                return k
    raise AssertionError("unreachable")


def assert_covers(cover, src, dst):
    rows, sums = set(cover.rows.tolist()), set(cover.sums.tolist())
    missed = [(s, t) for s, t in zip(src.tolist(), dst.tolist()) if s not in rows and t not in sums]
    assert not missed, missed[:5]


@pytest.mark.parametrize("seed", range(40))
def test_the_cover_is_a_minimum_cover(seed):
    rng = np.random.default_rng(seed)
    num_src, num_dst = rng.integers(1, 8), rng.integers(1, 7)
    edges = rng.integers(1, 3 * (num_src + num_dst))
    src = rng.integers(0, num_src, edges) * 10 + 3  # ids that are not 0..n-1, and repeated edges
    dst = rng.integers(0, num_dst, edges) * 7 + 100
    cover = pair_cover(src, dst)
    assert_covers(cover, src, dst)
    assert cover.size == brute_force_cover_size(src, dst)
    assert cover.num_sources == len(np.unique(src)) and cover.num_edges == len(set(zip(src, dst)))
    assert cover.size <= min(len(np.unique(src)), len(np.unique(dst)))


def test_a_hub_is_sent_as_a_row_and_a_popular_target_as_a_sum():
    hub = np.stack([np.zeros(6), np.arange(10, 16)])  # source 0 into six targets
    popular = np.stack([np.arange(20, 26), np.full(6, 99)])  # six sources into target 99
    src, dst = np.concatenate([hub[0], popular[0]]), np.concatenate([hub[1], popular[1]])
    cover = pair_cover(src, dst)
    assert cover.rows.tolist() == [0] and cover.sums.tolist() == [99] and cover.num_sources == 7


def test_no_cut_edges_need_no_rows():
    cover = pair_cover([], [])
    assert cover.size == 0 and cover.num_edges == 0


def test_mismatched_edges_are_refused():
    with pytest.raises(ValueError, match=r"`src` and `dst` must be two \[E\] arrays of the same length \(got shapes "
                                         r"\(2,\) and \(3,\)\)"):
        pair_cover([1, 2], [1, 2, 3])


def test_a_parts_covers_cover_its_cut_and_start_from_its_halo(cora, tmp_path):
    from gnnpart import partition_graph
    from gnnpart.partition.store import load_partition

    partition_graph(cora, 3, tmp_path / "p")
    parts = [load_partition(tmp_path / "p", q) for q in range(3)]
    owner = np.empty(cora.num_nodes, dtype=np.int64)
    for part in parts:
        owner[part.global_ids[: part.num_inner]] = part.part_id
    src, dst = cora.edges()
    for part in parts:
        covers = part_covers(part)
        assert set(covers) == set(part.recv)
        for p, cover in covers.items():
            assert cover.num_sources == len(part.recv[p][0])  # today's rows from p
            keep = (owner[src] == p) & (owner[dst] == part.part_id)
            assert_covers(cover, src[keep], dst[keep])
            assert cover.num_edges == int(keep.sum())
            assert cover.size <= cover.num_sources
