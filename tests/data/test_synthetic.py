import zlib

import numpy as np
import pytest
import torch

from gnnpart.data import load
from gnnpart.data.synthetic import SyntheticSpec, generate
from gnnpart.errors import DataError


def test_exact_edge_count_symmetric_no_self_loops():
    g = load("synthetic:nodes=3000,degree=12,classes=5,features=16,seed=1")
    assert g.num_nodes == 3000 and g.num_edges == 3000 * 12
    assert g.undirected and g.is_symmetric()
    src, dst = g.edges()
    assert not np.any(src == dst)
    assert g.num_classes == 5 and g.x.shape == (3000, 16) and g.x.dtype == np.float32
    assert g.train_mask.sum() == 1800 and g.val_mask.sum() == 600 and g.test_mask.sum() == 600
    assert not np.any(g.train_mask & g.val_mask) and (g.train_mask | g.val_mask | g.test_mask).all()


def test_skewed_degrees_and_homophily():
    g = load("synthetic:nodes=20000,degree=10,homophily=0.7,seed=2")
    deg = g.in_degree()
    assert deg.max() > 8 * deg.mean()  # heavy tail
    src, dst = g.edges()
    assert abs((g.y[src] == g.y[dst]).mean() - 0.7) < 0.02


def test_same_spec_same_graph_and_seed_changes_it():
    a = load("synthetic:nodes=2000,degree=6,seed=5")
    b = generate(SyntheticSpec(nodes=2000, degree=6, seed=5))
    for key in ("indptr", "indices", "x", "y", "train_mask"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    c = load("synthetic:nodes=2000,degree=6,seed=6")
    assert not np.array_equal(a.indices, c.indices)


def test_pinned_checksums_hold_on_every_machine():
    """The generator uses only numpy's PCG64 streams and sequential arithmetic, so these
    checksums (recorded when the generator was written) must come out on any machine."""
    g = load("synthetic:nodes=500,degree=4,classes=3,features=8,seed=3")
    got = [f"{zlib.crc32(a.tobytes()):08x}" for a in (g.indptr, g.indices, g.x, g.y, g.train_mask)]
    assert got == ["2ed60fa5", "6b031a6c", "94abdf8d", "84ce0db5", "774af364"]


@pytest.mark.parametrize(
    "spec,match",
    [
        ("synthetic:nodes=1", r"synthetic `nodes` must be >= 2 \(got 1\)"),
        ("synthetic:nodes=10,degree=5", r"synthetic `degree` must be between 0 and \(nodes - 1\) / 2"),
        ("synthetic:homophily=1.5", r"synthetic `homophily` must be in \[0, 1\] \(got 1.5\)"),
        ("synthetic:nodes=ten", r"synthetic `nodes` must be a int \(got 'ten'\)"),
        ("synthetic:nodes=2.5", r"synthetic `nodes` must be a int \(got '2.5'\)"),
        ("synthetic:colour=red", r"keys must be `key=value` with key in"),
        ("synthetic:train=0.9,val=0.2", r"synthetic `val` must be at most 1 - train"),
    ],
)
def test_bad_specs(spec, match):
    with pytest.raises(DataError, match=match):
        load(spec)


def _accuracy(g, use_graph: bool) -> float:
    n = g.num_nodes
    src, dst = g.edges()
    deg = torch.tensor(g.in_degree() + 1, dtype=torch.float32)
    rows = torch.cat([torch.tensor(dst), torch.arange(n)])
    cols = torch.cat([torch.tensor(src), torch.arange(n)])
    vals = (deg[rows] * deg[cols]).rsqrt()
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce()
    x, y = torch.tensor(g.x), torch.tensor(g.y)
    train, test = torch.tensor(g.train_mask), torch.tensor(g.test_mask)
    torch.manual_seed(0)
    lin1, lin2 = torch.nn.Linear(g.num_features, 32), torch.nn.Linear(32, g.num_classes)
    opt = torch.optim.Adam([*lin1.parameters(), *lin2.parameters()], lr=0.01, weight_decay=5e-4)

    def forward():
        h = lin1(x)
        h = torch.relu(adj @ h if use_graph else h)
        h = lin2(h)
        return adj @ h if use_graph else h

    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward()[train], y[train]).backward()
        opt.step()
    with torch.no_grad():
        return (forward()[test].argmax(1) == y[test]).float().mean().item()


def test_learnable_gcn_beats_mlp_clearly():
    g = load("synthetic:nodes=4000,seed=0")
    mlp, gcn = _accuracy(g, False), _accuracy(g, True)
    assert gcn > mlp + 0.2, (mlp, gcn)
    assert mlp > 1.5 / g.num_classes  # the features alone carry signal too
