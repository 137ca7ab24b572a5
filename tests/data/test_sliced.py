"""The sliced generator (`gnnpart generate SPEC --out DIR -n P`, gnnpart.data.sliced): the same graph for any P,
a valid graph directory of the spec's shape with its planted signal, and refusals in one line."""
import json

import numpy as np
import pytest

from gnnpart.data import sliced
from gnnpart.data.graph_dir import open_graph
from gnnpart.data.synthetic import SyntheticSpec
from gnnpart.errors import DataError
from tests.data.test_synthetic import _accuracy
from tests.mpi import gnnpart_cli, gnnpart_main

SPEC = "nodes=6000,degree=10,classes=4,features=16,seed=3"
FIELDS = ("indptr", "indices", "x", "y", "train_mask", "val_mask", "test_mask")


@pytest.fixture(scope="module")
def one_and_three(tmp_path_factory):
    """The graph drawn alone (in this process) and by 3 ranks (under mpiexec, through the command)."""
    base = tmp_path_factory.mktemp("sliced")
    sliced.generate_sliced(SyntheticSpec.parse(SPEC), base / "one")
    proc = gnnpart_cli("generate", SPEC, "--out", base / "three", "-n", "3")
    assert proc.returncode == 0, proc.stderr
    assert "(drawn in slices)" in proc.stdout
    return open_graph(base / "one"), open_graph(base / "three"), base


def test_the_same_graph_for_any_number_of_slices(one_and_three):
    one, three, base = one_and_three
    for field in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(one, field)), np.asarray(getattr(three, field)), err_msg=field)
    meta = [json.loads((base / d / "meta.json").read_text()) for d in ("one", "three")]
    assert meta[0] == meta[1] and meta[0]["generator"] == "sliced"


def test_the_graph_has_the_specs_shape(one_and_three):
    g, _, _ = one_and_three
    spec = SyntheticSpec.parse(SPEC)
    src, dst = g.edges()
    n = g.num_nodes
    np.testing.assert_array_equal(np.sort(dst * n + src), np.sort(src * n + dst))  # stored both ways
    assert not (src == dst).any()
    assert all(np.all(np.diff(g.indices[g.indptr[i]:g.indptr[i + 1]]) > 0) for i in range(0, n, 97))  # distinct
    assert abs(g.num_edges / n - spec.degree) < 0.05 * spec.degree
    assert abs((g.y[src] == g.y[dst]).mean() - spec.homophily) < 0.03
    assert abs(g.train_mask.mean() - spec.train) < 0.03 and abs(g.val_mask.mean() - spec.val) < 0.03
    assert not (g.train_mask & g.val_mask).any() and (g.train_mask | g.val_mask | g.test_mask).all()
    assert sorted(np.unique(g.y)) == list(range(spec.classes))
    deg = np.diff(g.indptr)
    assert deg.max() > 5 * deg.mean()  # the Pareto weights give hubs


def test_the_planted_signal_is_learnable(one_and_three):
    g, _, _ = one_and_three
    mlp, gcn = _accuracy(g, False), _accuracy(g, True)
    assert gcn > mlp + 0.15, (mlp, gcn)


def test_the_hash_is_a_function_of_its_ids():
    ids = np.arange(10)
    u = sliced.uniform(7, 1, ids, 3)
    np.testing.assert_array_equal(u[4:], sliced.uniform(7, 1, ids[4:], 3))
    assert ((u >= 0) & (u < 1)).all() and len(np.unique(u)) == 10
    assert not np.array_equal(u, sliced.uniform(8, 1, ids, 3)) and not np.array_equal(u, sliced.uniform(7, 2, ids, 3))
    z = sliced.normal(0, (1, 2), np.arange(200_000))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


@pytest.mark.parametrize("spec", ["nodes=100,task=multilabel:3", "nodes=100,edge_features=2"])
def test_what_it_does_not_draw_is_refused(spec, tmp_path, capsys):
    with pytest.raises(DataError, match=r"`generate -n` draws multi-class graphs without edge features"):
        sliced.generate_sliced(SyntheticSpec.parse(spec), tmp_path / "g")
    code, _, err = gnnpart_main(capsys, "generate", spec, "--out", str(tmp_path / "cli"), "-n", "2")
    assert code == 1 and "leave out -n for these" in err and not (tmp_path / "cli").exists()
    assert not (tmp_path / "g").exists()


def test_nprocs_below_one_is_refused(tmp_path, capsys):
    code, _, err = gnnpart_main(capsys, "generate", "nodes=100", "--out", str(tmp_path / "g"), "-n", "0")
    assert code == 1 and "--nprocs must be >= 1 (got 0)" in err
