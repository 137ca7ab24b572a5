"""Typed graphs on N ranks equal one rank, in float64, 10 steps with dropout, the featureless types' sharded,
sparse-Adam embeddings included: the built-in R-GCN (with and without bases), PyG's RGCNConv, FastRGCNConv and
RGATConv through HaloConv(edge_type=True), examples/hetero_sage.py (PyG's HeteroConv of SAGEConvs) and PyG's
HGTConv over the typed local graph (gnnpart.nn.typed_view); and an
elastic resume (K ranks, then K' ranks) equals an uninterrupted run."""
import numpy as np
import pytest

from gnnpart import load, partition_graph
from tests.mpi import run_by_size

SPEC = "synthetic:hetero=mag,nodes=1500,features=8,classes=4,degree=6,seed=3"
MODELS = ["rgcn:16:2:0.5", "rgcn:16:2:0.5:2", "rgcnconv:16:2:0.5", "fastrgcnconv:16:2:0.5", "rgatconv:8:2:0.5",
          "heteroconv:16:2:0.5", "hgtconv:8:2:0.5"]
STEPS = 10
RANKS = [1, 2, 3, 4]


def assert_close(got: dict, want: dict, what: str, tolerance: float = 1e-9) -> None:
    assert set(got) == set(want), what
    for key, ref in want.items():
        err = np.abs(got[key] - ref).max() / max(np.abs(ref).max(), 1e-12)
        assert err <= tolerance, f"{what} {key}: max difference {err:.2e} of the largest entry"


@pytest.fixture(scope="module")
def mag():
    return load(SPEC)


@pytest.fixture(scope="module")
def runs(mag, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hetero-exact")
    groups = {}
    for n in RANKS:
        partition_graph(mag, n, tmp / f"p{n}")
        groups[n] = [tmp / f"p{n}", tmp / f"o{n}.npz", STEPS, "float64", *MODELS]
    run_by_size("hetero_worker.py", groups, timeout=600)
    return {n: dict(np.load(tmp / f"o{n}.npz")) for n in RANKS}


@pytest.mark.parametrize("n", [2, 3, 4])
def test_n_ranks_equal_one_rank(runs, n):
    ref = runs[1]
    assert_close(runs[n], ref, f"{n} ranks")
    for spec in MODELS:
        assert ref[f"{spec}/loss"][-1] < ref[f"{spec}/loss"][0]  # it trains
        assert any(key.startswith(f"{spec}/input.embeddings.") for key in ref)  # the embeddings are compared


def test_elastic_resume_with_embeddings_equals_an_uninterrupted_run(mag, tmp_path):
    for n in (1, 2, 3):
        partition_graph(mag, n, tmp_path / f"p{n}")
    ckpt, spec, half = tmp_path / "ck", MODELS[1], STEPS // 2
    groups = {1: ["whole", tmp_path / "p1", ckpt, tmp_path / "whole.npz", half, spec],
              2: ["first", tmp_path / "p2", ckpt, tmp_path / "first.npz", half, spec],
              3: ["then", tmp_path / "p3", ckpt, tmp_path / "then.npz", half, spec]}
    run_by_size("hetero_worker.py:elastic", groups, timeout=600)
    whole, first, then = (dict(np.load(tmp_path / f"{m}.npz")) for m in ("whole", "first", "then"))
    np.testing.assert_allclose(np.concatenate([first["loss"], then["loss"]]), whole["loss"], rtol=1e-9)
    del whole["loss"], then["loss"]
    assert_close(then, whole, "resumed on 3 ranks after 2")
