"""``gnnpart predict`` and the task options of ``gnnpart train``, end to end through the command line."""
import json

import numpy as np
import pytest

from gnnpart import load, partition_graph
from gnnpart.data import Graph
from tests.mpi import gnnpart_cli, gnnpart_in_process, json_lines, run_mpi

SPEC = "synthetic:nodes=1200,degree=6,classes=4,features=16,task=multilabel:6,seed=3"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A GCN trained on 2 ranks with a checkpoint, and partitions of the same graph into 1 and 3 parts (the 3 parts
    without any label: inference needs none)."""
    base = tmp_path_factory.mktemp("predict")
    graph = load(SPEC)
    for k in (1, 2):
        partition_graph(graph, k, base / f"p{k}")
    unlabelled = Graph(graph.indptr, graph.indices, graph.x, np.full(graph.num_nodes, -1), None, None, None,
                       name=graph.name)
    partition_graph(unlabelled, 3, base / "p3")
    proc = gnnpart_cli("train", base / "p2", "-n", "2", "--epochs", "12", "--eval-every", "3", "--hidden", "16",
                       "--checkpoint", base / "ck", "--metrics", base / "m.jsonl", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    return base, graph, proc


def predict(base, k, out, *flags, capsys=None):
    """``gnnpart predict`` on ``k`` ranks; with ``capsys`` and one rank, in this process (no interpreter to start)."""
    args = ["predict", base / f"p{k}", "--checkpoint", base / "ck", "--out", base / out, "--threads", "1", *flags]
    if capsys is not None and k == 1:
        return gnnpart_in_process(capsys, *args)
    return gnnpart_cli(*args, "-n", str(k))


def test_metrics_name_the_task_metric(trained):
    base, _, proc = trained
    lines = [json.loads(line) for line in (base / "m.jsonl").read_text().splitlines()]
    evaluated = [r for r in lines if not r.get("final") and r["metrics"]]
    assert [r["epoch"] for r in evaluated] == [3, 6, 9, 12]
    assert all(r["metric"] == "rocauc" and r["task"] == "multilabel" and r["val_acc"] is None for r in evaluated)
    assert set(evaluated[-1]["metrics"]["val"]) == {"rocauc", "micro_f1"}
    assert evaluated[-1]["val_score"] == evaluated[-1]["metrics"]["val"]["rocauc"]
    final = lines[-1]
    assert final["final"] and final["metric"] == "rocauc"
    assert final["best_val_score"] == max(r["val_score"] for r in evaluated)
    assert "rocauc: train" in proc.stdout and "done: best val rocauc" in proc.stdout


def test_predict_on_3_ranks_without_labels_equals_1_rank(capsys, trained):
    base, graph, _ = trained
    for k in (1, 3):
        proc = predict(base, k, f"out{k}.npy", capsys=capsys)
        assert proc.returncode == 0, proc.stderr
        assert f"wrote outputs of {graph.num_nodes:,} nodes" in proc.stdout
    one, three = np.load(base / "out1.npy"), np.load(base / "out3.npy")
    assert one.shape == (graph.num_nodes, 6) and one.dtype == np.float32
    np.testing.assert_allclose(three, one, rtol=1e-5, atol=1e-6)
    assert np.abs(one).max() > 0 and len(np.unique(one[:, 0])) > graph.num_nodes // 2  # real, distinct rows
    assert sorted(p.name for p in base.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_predict_with_partial_sums_equals_rows(trained):
    """--aggregate-at auto carries the cut of the GCN's layers as rows and partial sums: the same outputs."""
    base, _, _ = trained
    proc = predict(base, 3, "auto3.npy", "--aggregate-at", "auto")
    assert proc.returncode == 0, proc.stderr
    if not (base / "out1.npy").exists():
        assert predict(base, 1, "out1.npy").returncode == 0
    np.testing.assert_allclose(np.load(base / "auto3.npy"), np.load(base / "out1.npy"), rtol=1e-5, atol=1e-6)


def test_probabilities_and_embeddings(capsys, trained):
    base, graph, _ = trained
    # on 1 rank, in this process (test_predict_on_3_ranks_without_labels_equals_1_rank checks that the ranks agree;
    # a rank costs ~4 s to start)
    assert predict(base, 1, "prob.npy", "--probabilities", capsys=capsys).returncode == 0
    assert predict(base, 1, "emb0.npy", "--embeddings", "0", capsys=capsys).returncode == 0
    assert predict(base, 1, "emb1.npy", "--embeddings", "1", capsys=capsys).returncode == 0
    logits = np.load(base / "out1.npy") if (base / "out1.npy").exists() else None
    prob = np.load(base / "prob.npy")
    assert prob.min() >= 0 and prob.max() <= 1
    if logits is not None:
        np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    assert np.load(base / "emb0.npy").shape == (graph.num_nodes, 16)  # the hidden layer's width
    assert np.load(base / "emb0.npy").min() >= 0  # after the ReLU
    assert np.load(base / "emb1.npy").shape == (graph.num_nodes, 6)  # the last layer: the outputs


@pytest.mark.parametrize("flags, message", [
    (["--hidden", "32"], "--hidden 32 contradicts checkpoint"),
    (["--model", "sage"], "--model sage contradicts checkpoint"),
    (["--embeddings", "5"], "--embeddings must be a layer number in [0, 2) (got 5)"),
    (["--embeddings", "0", "--probabilities"], "--probabilities applies to the model's outputs, not to --embeddings"),
])
def test_bad_predict_flags(trained, flags, message):
    base, _, _ = trained
    proc = predict(base, 3, "bad.npy", *flags)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and ": rank " not in proc.stderr  # refused before any rank started
    assert not (base / "bad.npy").exists() and not [p for p in base.iterdir() if p.name.startswith(".bad")]


def test_output_rules(capsys, trained, tmp_path):
    base, _, _ = trained
    (tmp_path / "taken.npy").write_bytes(b"keep me")
    cases = [
        (tmp_path / "taken.npy", "already exists (pass --overwrite to replace it)"),
        (tmp_path / "out.txt", "--out must name a .npy file"),
        (tmp_path / "missing" / "o.npy", "its directory"),
    ]
    for out, message in cases:
        proc = gnnpart_in_process(capsys, "predict", base / "p1", "--checkpoint", base / "ck", "--out", out)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert (tmp_path / "taken.npy").read_bytes() == b"keep me"
    proc = gnnpart_in_process(capsys, "predict", base / "p1", "--checkpoint", base / "ck", "--out", tmp_path / "taken.npy", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "taken.npy").shape[1] == 6
    proc = gnnpart_in_process(capsys, "predict", base / "p1", "--checkpoint", tmp_path, "--out", tmp_path / "x.npy")
    assert proc.returncode == 1 and "there is no checkpoint.pt in it" in proc.stderr


def test_a_failing_rank_leaves_no_output(tmp_path):
    out = tmp_path / "rows.npy"
    reports = json_lines(run_mpi(3, "write_fail_worker.py", out, 1).stdout)
    assert sorted(r["rank"] for r in reports) == [0, 1, 2]
    for r in reports:
        assert r["error"] and not r["exists"]
    assert "rank(s) could not write their rows" in reports[0]["error"]
    assert list(tmp_path.iterdir()) == []  # nor a temporary file
    reports = json_lines(run_mpi(3, "write_fail_worker.py", out, -1).stdout)  # no rank fails
    assert all(r["error"] is None and r["exists"] for r in reports)
    np.testing.assert_array_equal(np.load(out), np.ones((12, 3), np.float32))


def test_task_that_does_not_fit_is_one_line(capsys, trained):
    base, _, _ = trained
    proc = gnnpart_in_process(capsys, "train", base / "p1", "--epochs", "1", "--task", "multiclass")
    assert proc.returncode == 1 and "--task multiclass needs class ids [N]" in proc.stderr and "leave --task out" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_regression_task_on_binary_targets(capsys, trained, tmp_path):
    base, _, _ = trained
    proc = gnnpart_in_process(capsys, "train", base / "p1", "--epochs", "2", "--task", "regression", "--metrics", tmp_path / "m.jsonl")
    assert proc.returncode == 0, proc.stderr
    last = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[-2])
    assert last["metric"] == "rmse" and set(last["metrics"]["test"]) == {"rmse", "mae"}
