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
from tests.mpi import ROOT, gnnpart_cli, gnnpart_main, json_lines, run_mpi

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
    assert code == 1 and "generate these in one process (without -n or mpiexec)" in err and not (tmp_path / "cli").exists()
    assert not (tmp_path / "g").exists()


def test_nprocs_below_one_is_refused(tmp_path, capsys):
    code, _, err = gnnpart_main(capsys, "generate", "nodes=100", "--out", str(tmp_path / "g"), "-n", "0")
    assert code == 1 and "--nprocs must be >= 1 (got 0)" in err


@pytest.mark.parametrize("spec, ranks", [("nodes=7,degree=2,classes=2,features=3,seed=1", 3),  # uneven ranges
                                         ("nodes=3,degree=1,classes=1,features=2", 4)])  # more ranks than nodes
def test_uneven_and_empty_slices_give_the_same_graph(spec, ranks, tmp_path):
    sliced.generate_sliced(SyntheticSpec.parse(spec), tmp_path / "one")
    proc = gnnpart_cli("generate", spec, "--out", tmp_path / "many", "-n", ranks)
    assert proc.returncode == 0, proc.stderr
    one, many = open_graph(tmp_path / "one"), open_graph(tmp_path / "many")
    for field in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(one, field)), np.asarray(getattr(many, field)), err_msg=field)


def test_a_failing_rank_fails_every_rank_and_leaves_nothing(tmp_path):
    proc = run_mpi(3, "sliced_worker.py", SPEC, tmp_path / "out", 1, expect_ok=False, timeout=240)
    reports = json_lines(proc.stdout)
    assert len(reports) == 3, proc.stderr
    for r in reports:  # every rank is told which rank failed, at which step, and why
        assert r["error"].startswith("SlicesFailed: generating in slices failed while writing the rows on 1 of 3 "
                                     "ranks: rank 1: OSError: [Errno 28] No space left on device (injected)"), r
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # nor the temporary folder


def test_under_mpiexec_alone_it_draws_in_slices(tmp_path):
    # `mpiexec -n 1 gnnpart generate SPEC` (no -n): the sliced graph, as with -n 1
    import subprocess

    from gnnpart.cli.launcher import mpiexec_command

    cmd = mpiexec_command(1, ["-m", "gnnpart", "generate", SPEC, "--out", str(tmp_path / "g")])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "g" / "meta.json").read_text())["generator"] == "sliced"


def test_an_existing_output_is_refused_before_drawing(tmp_path, capsys):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        sliced.generate_sliced(SyntheticSpec.parse(SPEC), tmp_path / "g")
    assert (tmp_path / "g" / "keep.txt").read_text() == "mine"
