"""Multi-label and regression training (and an edge-aware model) on 1 to 4 ranks equal 1 rank; every metric the
Trainer reports equals the plain reference on the whole graph's gathered outputs; Trainer.predict writes the same
rows, in global order."""
import json
import math

import numpy as np
import pytest

from gnnpart import load, partition_graph
from tests.mpi import run_by_size
from tests.train.test_tasks import auc_by_pairs, f1_of

STEPS = 6
GRAPHS = {
    "multilabel": ("synthetic:nodes=900,degree=6,classes=4,features=12,task=multilabel:5,edge_features=3,seed=5",
                   ["gcn", "gine"]),
    "regression": ("synthetic:nodes=900,degree=6,classes=4,features=12,task=regression:2,seed=5", ["sage"]),
}


RANKS = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def all_runs(tmp_path_factory):
    """Both tasks on 1 to 4 ranks, in one launch of the worker (tests/workers/by_size.py): ``{(task, n): arrays}``."""
    graphs, groups, bases = {}, {}, {}
    for task, (spec, _) in GRAPHS.items():
        graph = load(spec)
        graph.y[::11, 0] = np.nan  # unlabelled entries, in every split
        graphs[task] = graph
    for n in RANKS:
        calls = []
        for task, (_, models) in GRAPHS.items():
            base = bases[task, n] = tmp_path_factory.mktemp(f"{task}{n}")
            partition_graph(graphs[task], n, base / "p")
            calls += ["::", base / "p", base / "out.npz", STEPS, *models]
        groups[n] = calls[1:]
    run_by_size("task_worker.py", groups, timeout=900)
    done = {}
    for (task, n), base in bases.items():
        result = dict(np.load(base / "out.npz"))
        for model in GRAPHS[task][1]:
            result[f"{model}/file"] = np.load(base / f"out.npz.{model}.npy")
        done[task, n] = result
    return done


@pytest.fixture(scope="module")
def runs(all_runs):
    return lambda task, n: all_runs[task, n]


def reference_metrics(task, out, y, mask):
    out, y = out[mask].astype(np.float64), y[mask]
    known = ~np.isnan(y)
    if task == "regression":
        err = (out - y)[known]
        return {"rmse": math.sqrt((err ** 2).mean()), "mae": np.abs(err).mean()}
    aucs = [auc_by_pairs(out[known[:, k], k], y[known[:, k], k]) for k in range(y.shape[1])
            if len(set(y[known[:, k], k])) == 2]
    pred, truth = out[known] > 0, y[known] == 1
    return {"rocauc": np.mean(aucs), "micro_f1": f1_of((pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum())}


@pytest.mark.parametrize("task", list(GRAPHS))
def test_metrics_equal_the_whole_graph_reference(runs, task):
    got = runs(task, 3)
    for model in GRAPHS[task][1]:
        metrics = json.loads(str(got[f"{model}/metrics"]))
        full = {k: got[f"{model}/full/{k}"] for k in ("out", "y", "train", "val", "test")}
        for split in ("train", "val", "test"):
            want = reference_metrics(task, full["out"], full["y"], full[split])
            assert metrics[split] == pytest.approx(want, rel=1e-5), f"{model} {split}"
        history = json.loads(str(got[f"{model}/history"]))
        assert history[1]["metric"] == ("rocauc" if task == "multilabel" else "rmse")
        scores = [h["val"] for h in history if h["val"] is not None]
        best = max(scores) if task == "multilabel" else min(scores)  # rmse: lower is better
        assert got[f"{model}/best"][1] == pytest.approx(best)


@pytest.mark.parametrize("task", list(GRAPHS))
@pytest.mark.parametrize("n", [2, 3, 4])
def test_n_ranks_equal_one_rank(runs, task, n):
    ref, got = runs(task, 1), runs(task, n)
    for model in GRAPHS[task][1]:
        np.testing.assert_allclose(got[f"{model}/loss"], ref[f"{model}/loss"], rtol=1e-9, err_msg=f"{model} on {n}")
        assert ref[f"{model}/loss"][-1] < ref[f"{model}/loss"][0]  # it trains
        for key in ref:
            if key.startswith(f"{model}/w/"):
                np.testing.assert_allclose(got[key], ref[key], rtol=1e-8, atol=1e-10, err_msg=key)
        np.testing.assert_allclose(got[f"{model}/full/out"], ref[f"{model}/full/out"], rtol=1e-5, atol=1e-6)
        # the file Trainer.predict wrote, row for row, in global order
        np.testing.assert_array_equal(got[f"{model}/file"], got[f"{model}/full/out"])
        np.testing.assert_allclose(got[f"{model}/file"], ref[f"{model}/file"], rtol=1e-5, atol=1e-6)
