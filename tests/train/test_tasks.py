"""Each task's metrics against plain references (definitions written out, pair by pair), on one process."""
import math

import numpy as np
import pytest
import torch

from gnnpart.comm import Communicator
from gnnpart.tasks import MultiClass, MultiLabel, Regression, resolve_task, roc_auc


def auc_by_pairs(scores, labels):
    """Every (positive, negative) pair: 1 when the positive scores higher, 1/2 on a tie."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def f1_of(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn)


@pytest.fixture(scope="module")
def comm():
    return Communicator()


def masks_of(n, rng):
    split = rng.integers(0, 3, n)
    return {name: torch.from_numpy(split == i) for i, name in enumerate(("train", "val", "test"))}


def test_roc_auc_equals_the_pair_count_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 6, 50).astype(np.float64)  # many ties
        labels = (rng.random(50) < 0.4).astype(np.float64)
        if 0 < labels.sum() < 50:
            assert roc_auc(scores, labels) == pytest.approx(auc_by_pairs(scores, labels), abs=1e-12)
    assert roc_auc(np.arange(3.0), np.ones(3)) is None  # one class only


def test_multiclass_accuracy_and_macro_f1(comm):
    rng = np.random.default_rng(1)
    n, c = 300, 5
    out = torch.from_numpy(rng.standard_normal((n, c)))
    y = torch.from_numpy(rng.integers(0, c - 1, n))  # class 4 never a label, sometimes predicted
    masks = masks_of(n, rng)
    got = MultiClass().evaluate(out, y, masks, comm)
    for split, m in masks.items():
        pred, truth = out[m].argmax(1).numpy(), y[m].numpy()
        f1s = [f1_of(((pred == k) & (truth == k)).sum(), ((pred == k) & (truth != k)).sum(),
                     ((pred != k) & (truth == k)).sum()) for k in sorted(set(pred) | set(truth))]
        assert got[split]["accuracy"] == pytest.approx((pred == truth).mean(), abs=1e-12)
        assert got[split]["macro_f1"] == pytest.approx(np.mean(f1s), abs=1e-12)


def test_multilabel_rocauc_and_micro_f1(comm):
    rng = np.random.default_rng(2)
    n, t = 400, 6
    out = torch.from_numpy(rng.standard_normal((n, t)).astype(np.float32))
    y = (rng.random((n, t)) < 0.3).astype(np.float32)
    y[rng.random((n, t)) < 0.2] = np.nan  # unlabelled entries
    y[:, 5] = np.where(np.isnan(y[:, 5]), np.nan, 0.0)  # task 5 has no positive: left out of the mean
    masks = masks_of(n, rng)
    got = MultiLabel().evaluate(out, torch.from_numpy(y), masks, comm)
    for split, m in masks.items():
        o, l = out[m].numpy(), y[m.numpy()]
        aucs = []
        for k in range(t):
            known = ~np.isnan(l[:, k])
            if len(set(l[known, k])) == 2:
                aucs.append(auc_by_pairs(o[known, k], l[known, k]))
        known = ~np.isnan(l)
        pred, truth = o[known] > 0, l[known] == 1
        assert len(aucs) == 5
        assert got[split]["rocauc"] == pytest.approx(np.mean(aucs), abs=1e-12)
        assert got[split]["micro_f1"] == pytest.approx(
            f1_of((pred & truth).sum(), (pred & ~truth).sum(), (~pred & truth).sum()), abs=1e-12)


def test_regression_rmse_and_mae(comm):
    rng = np.random.default_rng(3)
    out = torch.from_numpy(rng.standard_normal((200, 3)))
    y = rng.standard_normal((200, 3)).astype(np.float32)
    y[rng.random((200, 3)) < 0.25] = np.nan
    masks = masks_of(200, rng)
    got = Regression().evaluate(out, torch.from_numpy(y), masks, comm)
    for split, m in masks.items():
        err = (out[m].numpy() - y[m.numpy()])[~np.isnan(y[m.numpy()])]
        assert got[split]["rmse"] == pytest.approx(math.sqrt((err**2).mean()), rel=1e-6)
        assert got[split]["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-6)


def test_losses_sum_over_labelled_entries_only():
    out = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    bce = MultiLabel().loss_sum(out, y)
    want = -math.log(1 / (1 + math.exp(-0.5))) - math.log(1 - 1 / (1 + math.exp(-2.0))) - math.log(0.5)
    assert bce.item() == pytest.approx(want) and MultiLabel().count(y) == 3
    bce.backward()
    assert out.grad[0, 1] == 0  # an unlabelled entry trains nothing
    assert Regression().loss_sum(out.detach(), y).item() == pytest.approx(0.25 + 4.0 + 1.0)


def test_best_epoch_follows_the_metric_direction():
    assert MultiLabel().better(0.7, 0.6) and not MultiLabel().better(0.5, 0.6)
    assert Regression().better(0.5, 0.6) and not Regression().better(0.7, 0.6)
    assert Regression().better(3.0, None) and not Regression().better(None, 1.0)
    assert not Regression().better(float("nan"), None) and not MultiLabel().better(float("nan"), 0.5)  # diverged


def test_f1_without_positives_is_zero_and_diverged_metrics_are_none(comm):
    out = torch.full((4, 2), -1.0)
    y = torch.zeros(4, 2)
    masks = {"train": torch.tensor([True, True, False, False]), "val": torch.tensor([False, False, True, True]),
             "test": torch.zeros(4, dtype=torch.bool)}
    got = MultiLabel().evaluate(out, y, masks, comm)
    assert got["train"]["micro_f1"] == 0.0 and got["train"]["rocauc"] is None  # as scikit-learn's zero_division
    assert got["test"] == {"rocauc": None, "micro_f1": None}  # nothing to score
    got = Regression().evaluate(torch.full((4, 2), float("nan")), y, masks, comm)
    assert got["train"] == {"rmse": None, "mae": None}


@pytest.mark.parametrize("name, labels, message", [
    ("ranking", "multiclass", r"`task` must be one of multiclass, multilabel, regression \(got 'ranking'\)"),
    ("multiclass", "multilabel", r"`task` multiclass needs class ids \[N\], but the partition's labels are 0/1 "
                                 r"targets \[N, T\] \(task multilabel\)"),
    ("multilabel", "regression", r"`task` multilabel needs 0/1 targets"),
    ("regression", "multiclass", r"`task` regression needs real targets"),
])
def test_task_that_does_not_fit_the_labels(name, labels, message):
    with pytest.raises(ValueError, match=message):
        resolve_task(name, labels)


def test_regression_may_train_on_binary_targets():
    assert resolve_task("regression", "multilabel").name == "regression"
    assert resolve_task(None, "multilabel").name == "multilabel"
