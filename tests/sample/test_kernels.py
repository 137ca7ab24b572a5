"""The sampler's kernels (csrc/sampling/) against their numpy references, opcheck'ed, refusing bad input in one
line; and the draw is uniform: each neighbour's frequency over many draws fits k / deg (chi-square)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnpart.sample import sample_ops as k

_ops = torch.ops.gnnpart


def _csr(num_rows=40, num_nodes=60, seed=0):
    rng = np.random.default_rng(seed)
    degrees = rng.integers(0, 25, num_rows)
    degrees[3] = 0
    indptr = np.concatenate([[0], np.cumsum(degrees)]).astype(np.int64)
    indices = np.concatenate([rng.choice(num_nodes, d, replace=False) for d in degrees]).astype(np.int64)
    gids = rng.permutation(10_000)[:num_nodes].astype(np.int64) * 7 + 3
    return [torch.from_numpy(a) for a in (indptr, indices, gids)]


@pytest.mark.parametrize("fanout", [1, 5, 10, 30])
def test_sample_neighbors_equals_its_reference(fanout):
    indptr, indices, gids = _csr()
    rows = torch.tensor([5, 3, 0, 39, 5, 17], dtype=torch.long)
    key = k.hop_key(3, 2, 7, 1)
    counts, edges = k.sample_neighbors(indptr, gids[indices], rows, gids[rows], fanout, key)
    want_counts, want_edges = k.sample_neighbors_reference(indptr, gids[indices], rows, gids[rows], fanout, key)
    assert np.array_equal(counts.numpy(), want_counts) and np.array_equal(edges.numpy(), want_edges)
    degrees = (indptr[1:] - indptr[:-1])[rows]
    assert np.array_equal(counts.numpy(), np.minimum(degrees.numpy(), fanout))
    starts = np.concatenate([[0], np.cumsum(counts.numpy())])
    for i, r in enumerate(rows.tolist()):  # each row's edges, distinct and its own
        mine = edges.numpy()[starts[i]: starts[i + 1]]
        assert len(set(mine)) == len(mine) and all(indptr[r] <= e < indptr[r + 1] for e in mine)
    again = k.sample_neighbors(indptr, gids[indices], rows, gids[rows], fanout, key)
    assert torch.equal(again[1], edges)
    other = k.sample_neighbors(indptr, gids[indices], rows, gids[rows], fanout, k.hop_key(3, 2, 7, 2))
    assert fanout >= 25 or not torch.equal(other[1], edges)  # another hop draws other neighbours


def test_a_draw_depends_on_global_ids_not_on_local_ones():
    """Relabel the local ids (another partition): the same global ids are drawn."""
    indptr, indices, gids = _csr()
    perm = torch.from_numpy(np.random.default_rng(1).permutation(len(gids)))
    inverse = torch.argsort(perm)
    key = k.hop_key(0, 0, 0, 0)
    _, edges = k.sample_neighbors(indptr, gids[indices], torch.arange(40), gids[:40], 6, key)
    rows2 = inverse[torch.arange(40)]  # the same nodes under new local ids: old row r is new row rows2[r]
    new_indptr = torch.zeros(len(gids) + 1, dtype=torch.long)
    degrees = torch.zeros(len(gids), dtype=torch.long)
    degrees[rows2] = indptr[1:] - indptr[:-1]
    new_indptr[1:] = torch.cumsum(degrees, 0)
    new_indices = torch.empty_like(indices)
    for r in range(40):
        a, b = indptr[r], indptr[r + 1]
        s = new_indptr[rows2[r]]
        new_indices[s: s + (b - a)] = inverse[indices[a:b]]
    _, edges3 = k.sample_neighbors(new_indptr, gids[perm][new_indices], rows2, gids[perm][rows2], 6, key)
    assert torch.equal(gids[indices[edges]], gids[perm][new_indices[edges3]])


def test_block_sources_equals_its_reference():
    rng = np.random.default_rng(3)
    targets = torch.from_numpy(rng.permutation(500)[:40].astype(np.int64))
    sampled = torch.from_numpy(rng.integers(0, 500, 300).astype(np.int64))
    got = k.block_sources(targets, sampled)
    want = k.block_sources_reference(targets.numpy(), sampled.numpy())
    for g, w in zip(got, want):
        assert np.array_equal(g.numpy(), w)
    sources, cols, first = got
    assert torch.equal(sources[:40], targets) and torch.equal(sources[cols], sampled)
    assert len(set(sources.tolist())) == len(sources) and torch.equal(sampled[first], sources[40:])


def test_opcheck():
    indptr, indices, gids = _csr()
    tests = ("test_schema", "test_faketensor", "test_autograd_registration")
    rows = torch.tensor([1, 2, 3])
    torch.library.opcheck(_ops.sample_neighbors, (indptr, gids[indices], rows, gids[rows], 4, 11), test_utils=tests)
    torch.library.opcheck(_ops.block_sources, (torch.tensor([5, 9]), torch.tensor([9, 1, 1, 7])), test_utils=tests)


BAD = [
    (lambda i, x, g: _ops.sample_neighbors(i, g[x], torch.tensor([40]), torch.tensor([1]), 3, 0),
     r"sample_neighbors: `rows` entries must be in \[0, 40\) \(got 40 at 0\)"),
    (lambda i, x, g: _ops.sample_neighbors(i, g[x], torch.tensor([1]), torch.tensor([1]), 0, 0),
     r"sample_neighbors: `fanout` must be >= 1"),
    (lambda i, x, g: _ops.sample_neighbors(i, g[x][:-1], torch.tensor([1]), torch.tensor([1]), 3, 0),
     r"sample_neighbors: `indptr` must start at 0 and end at len\(edge_gids\)"),
    (lambda i, x, g: _ops.sample_neighbors(i, g[x], torch.tensor([1, 2]), torch.tensor([1]), 3, 0),
     r"sample_neighbors: `row_gids` must give one global id per row \(2\) \(got 1\)"),
    (lambda i, x, g: _ops.sample_neighbors(i.int(), g[x], torch.tensor([1]), torch.tensor([1]), 3, 0),
     r"sample_neighbors: `indptr` must be int64"),
    (lambda i, x, g: _ops.block_sources(torch.tensor([3, 3]), torch.tensor([1])),
     r"block_sources: `targets` must be distinct \(3 repeats at 1\)"),
    (lambda i, x, g: _ops.block_sources(torch.tensor([3]), torch.tensor([-1])),
     r"block_sources: `sampled` must be global ids >= 0"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_input_is_one_line(case):
    call, message = BAD[case]
    with pytest.raises(RuntimeError, match=message):
        call(*_csr())


def test_the_draw_is_uniform():
    """A node of degree 40, fanout 10, over 4,000 draws (epochs): each neighbour is picked about 1,000 times; the
    counts fit k / deg by a chi-square test, and every draw keeps 10 distinct neighbours."""
    from scipy.stats import chisquare

    deg, fanout, draws = 40, 10, 4000
    indptr = torch.tensor([0, deg])
    indices = torch.arange(1, deg + 1)
    gids = torch.arange(deg + 1) * 13 + 5
    hits = np.zeros(deg + 1)
    for epoch in range(draws):
        counts, edges = k.sample_neighbors(indptr, gids[indices], torch.tensor([0]), gids[:1], fanout,
                                           k.hop_key(9, epoch, 0, 0))
        assert counts.item() == fanout and len(set(edges.tolist())) == fanout
        hits[indices[edges].numpy()] += 1
    observed = hits[1:]
    assert observed.sum() == draws * fanout
    result = chisquare(observed, np.full(deg, draws * fanout / deg))
    assert result.pvalue > 1e-3, (result, observed)
    # and the same draws, another seed: not the same picks (the draws depend on the key)
    draw = lambda seed: k.sample_neighbors(indptr, gids[indices], torch.tensor([0]), gids[:1], fanout,  # noqa: E731
                                           k.hop_key(seed, 0, 0, 0))[1]
    assert not torch.equal(draw(8), draw(9))
