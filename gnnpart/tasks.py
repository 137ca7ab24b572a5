"""Tasks: what a model's outputs mean, the loss that trains them and the metrics that score them, exact across ranks.

=============  ==================================  ============================================  ============
task           labels                              loss (summed over labelled entries)           metrics
=============  ==================================  ============================================  ============
multiclass     int64 ``[I]``, ``-1`` = none        cross-entropy                                 accuracy, macro_f1
multilabel     float ``[I, T]`` 0/1, ``NaN`` = none  BCE with logits                             rocauc, micro_f1
regression     float ``[I, T]``, ``NaN`` = none      squared error (MSE once divided)             rmse, mae
=============  ==================================  ============================================  ============

The first metric is the task's main one (best-epoch selection, early stopping); ``rmse`` and ``mae`` are better
when lower. Every metric equals the value one process computes on the whole graph: accuracy, F1, RMSE and MAE
come from counts and sums reduced over the ranks; ROC-AUC needs a global ranking, so the scores and labels of
the evaluated nodes are gathered, each task's on one rank (the tasks are shared out among the ranks, and
gathered a block at a time to bound memory), which ranks them, all ranks at once; the sum of the AUCs is then
reduced. ROC-AUC is averaged over the tasks that have both classes among the evaluated labels, as OGB's
evaluator does; a split with nothing to score gives ``None``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gnnpart.data.labels import SPLITS, TASKS

_GATHER_FLOATS = 1 << 24  # scores gathered at a time for ROC-AUC (128 MiB of float64 scores, over all ranks)


def cross_entropy_sum(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The multi-class loss (the Trainer's default ``loss_fn`` then): summed cross-entropy of ``[n, C]`` logits
    against ``[n]`` class labels.

    Args:
        logits (torch.Tensor): ``[n, C]``.
        target (torch.Tensor): int64 ``[n]``.
    """
    return F.cross_entropy(logits, target, reduction="sum")


def _f1(tp: float, fp: float, fn: float, entries: float) -> float | None:
    """F1 from counts; 0.0 when there is nothing positive to find or predict (scikit-learn's zero_division), None
    when there are no entries at all."""
    if not entries:
        return None
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0


def _finite(metrics: dict) -> dict:
    """``{split: {metric: value}}`` with NaN or infinite values (diverged outputs) as None: never the best epoch,
    and valid JSON."""
    return {split: {k: (v if v is None or math.isfinite(v) else None) for k, v in values.items()}
            for split, values in metrics.items()}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC-AUC of one binary task (the Mann-Whitney statistic, ties counted half), or None without both classes.

    Args:
        scores (np.ndarray): ``[n]`` scores (higher means more likely positive).
        labels (np.ndarray): ``[n]`` 0/1 labels.
    """
    positive = labels == 1
    n_pos = int(positive.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores)  # any order among equal scores: ties share their mean rank below
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average_rank = (starts + ends + 1) / 2.0  # 1-based ranks, ties sharing their mean
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.repeat(average_rank, ends - starts)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


class Task:
    """What the Trainer asks of a task (see the module docstring).

    Attributes:
        name (str): ``multiclass``, ``multilabel`` or ``regression``.
        metrics (tuple[str, ...]): the metrics it reports, the main one first.
        higher_is_better (bool): whether a larger main metric is better.
    """

    name = ""
    metrics: tuple[str, ...] = ()
    higher_is_better = True

    @property
    def metric(self) -> str:
        """The main metric."""
        return self.metrics[0]

    def better(self, score: float | None, than: float | None) -> bool:
        """Whether main-metric value ``score`` beats ``than`` (anything beats None; None beats nothing).

        Args:
            score (float | None): a new value.
            than (float | None): the best so far.
        """
        if score is None or not math.isfinite(score):
            return False
        if than is None:
            return True
        return score > than if self.higher_is_better else score < than

    def labels(self, y: np.ndarray, device) -> torch.Tensor:
        """This rank's labels as a tensor on ``device``.

        Args:
            y (np.ndarray): the partition's ``y``.
            device (torch.device): where the rank trains.
        """
        return torch.from_numpy(np.array(y, dtype=np.float32)).to(device)

    def count(self, y: torch.Tensor) -> int:
        """How many labelled entries of ``y`` the loss sums over (the trainer divides by their total).

        Args:
            y (torch.Tensor): labels of the selected rows.
        """
        return int((~torch.isnan(y)).sum())

    def loss_sum(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The summed loss of ``out`` against ``y`` over the labelled entries.

        Args:
            out (torch.Tensor): ``[n, C]`` model outputs of the selected rows.
            y (torch.Tensor): their labels.
        """
        raise NotImplementedError

    def output(self, out: torch.Tensor, probabilities: bool) -> torch.Tensor:
        """What ``predict`` writes: the raw outputs, or probabilities (softmax, sigmoid; regression: the outputs).

        Args:
            out (torch.Tensor): ``[n, C]`` model outputs.
            probabilities (bool): turn logits into probabilities.
        """
        return out

    def evaluate(self, out: torch.Tensor, y: torch.Tensor, masks: dict, comm) -> dict:
        """Every metric on every split, over all ranks: ``{split: {metric: value or None}}``.

        Args:
            out (torch.Tensor): ``[I, C]`` this rank's outputs.
            y (torch.Tensor): this rank's labels.
            masks (dict): ``{"train"|"val"|"test": bool [I]}``.
            comm (Communicator): the job's communicator (every rank calls this).
        """
        raise NotImplementedError


class MultiClass(Task):
    """Single-label classification: cross-entropy; accuracy and macro-F1 (over the classes present in a split's
    labels or predictions, as scikit-learn's ``f1_score(average="macro")``)."""

    name = "multiclass"
    metrics = ("accuracy", "macro_f1")

    def labels(self, y, device):
        return torch.from_numpy(np.asarray(y)).long().to(device)

    def count(self, y):
        return int((y >= 0).sum())

    def loss_sum(self, out, y):
        return cross_entropy_sum(out, y)

    def output(self, out, probabilities):
        return torch.softmax(out, dim=1) if probabilities else out

    def evaluate(self, out, y, masks, comm):
        classes = out.shape[1]
        pred = out.argmax(dim=1)
        rows = []
        for split in SPLITS:
            m = masks[split]
            p, t = pred[m], y[m]
            hit = p == t
            tp = torch.bincount(t[hit], minlength=classes)[:classes]
            fp = torch.bincount(p[~hit], minlength=classes)[:classes]
            fn = torch.bincount(t[~hit], minlength=classes)[:classes]
            rows.append(torch.cat([torch.stack([hit.sum(), m.sum()]), tp, fp, fn]).double().cpu())
        counts = comm.allreduce_(torch.stack(rows).contiguous()).numpy()
        result = {}
        for split, c in zip(SPLITS, counts):
            correct, total = c[0], c[1]
            tp, fp, fn = c[2 : 2 + classes], c[2 + classes : 2 + 2 * classes], c[2 + 2 * classes :]
            present = (tp + fp + fn) > 0
            f1 = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
            result[split] = {"accuracy": float(correct / total) if total else None,
                             "macro_f1": float(f1.mean()) if total and present.any() else None}
        return _finite(result)


class MultiLabel(Task):
    """Binary tasks side by side: BCE with logits over the labelled entries; ROC-AUC averaged over tasks (OGB's
    rule) and micro-F1 (logit > 0 predicts 1)."""

    name = "multilabel"
    metrics = ("rocauc", "micro_f1")

    def loss_sum(self, out, y):
        known = ~torch.isnan(y)
        return F.binary_cross_entropy_with_logits(out[known], y[known].to(out.dtype), reduction="sum")

    def output(self, out, probabilities):
        return torch.sigmoid(out) if probabilities else out

    def evaluate(self, out, y, masks, comm):
        rows = []
        for split in SPLITS:
            m = masks[split]
            o, t = out[m], y[m]
            known = ~torch.isnan(t)
            pred, truth = o > 0, t == 1
            rows.append(torch.stack([(pred & truth & known).sum(), (pred & ~truth & known).sum(),
                                     (~pred & truth & known).sum(), known.sum()]).double().cpu())
        counts = comm.allreduce_(torch.stack(rows).contiguous()).numpy()
        result = {}
        for split, (tp, fp, fn, entries) in zip(SPLITS, counts):
            result[split] = {"rocauc": self._rocauc(out[masks[split]], y[masks[split]], comm),
                             "micro_f1": _f1(tp, fp, fn, entries)}
        return _finite(result)

    def _rocauc(self, out: torch.Tensor, y: torch.Tensor, comm) -> float | None:
        """The mean ROC-AUC over the tasks with both classes: the tasks are shared out among the ranks; in each
        round every rank gathers one block of its share (every rank takes part in every gather) and then all rank
        their blocks at once; the sum and count of the AUCs are reduced."""
        tasks = out.shape[1]
        rows = int(comm.sum_scalars([out.shape[0]])[0])
        block = max(1, _GATHER_FLOATS // max(rows, 1))
        shares = [(owner * tasks // comm.size, (owner + 1) * tasks // comm.size) for owner in range(comm.size)]
        rounds = max(-(-(hi - lo) // block) for lo, hi in shares)
        total, count = 0.0, 0
        for r in range(rounds):  # the same loops on every rank: every gather is entered by all
            mine = None
            for owner, (lo, hi) in enumerate(shares):
                start, stop = lo + r * block, min(lo + (r + 1) * block, hi)
                if start >= stop:
                    continue
                scores = comm.gather_rows(out[:, start:stop].double().cpu().numpy(), root=owner)
                labels = comm.gather_rows(y[:, start:stop].float().cpu().numpy(), root=owner)
                if scores is not None:
                    mine = (np.ascontiguousarray(scores.T), np.ascontiguousarray(labels.T))  # one row per task
            for task_scores, task_labels in zip(*mine) if mine is not None else ():
                known = ~np.isnan(task_labels)
                auc = roc_auc(task_scores[known], task_labels[known])
                if auc is not None:
                    total, count = total + auc, count + 1
        total, count = comm.sum_scalars([total, count])
        return total / count if count else None


class Regression(Task):
    """Real targets: squared error over the labelled entries (the trainer's division makes it the MSE); RMSE and
    MAE over all labelled entries of a split."""

    name = "regression"
    metrics = ("rmse", "mae")
    higher_is_better = False

    def loss_sum(self, out, y):
        known = ~torch.isnan(y)
        return F.mse_loss(out[known], y[known].to(out.dtype), reduction="sum")

    def evaluate(self, out, y, masks, comm):
        rows = []
        for split in SPLITS:
            m = masks[split]
            t = y[m]
            known = ~torch.isnan(t)
            err = (out[m].double() - torch.nan_to_num(t).double())[known]
            rows.append(torch.stack([(err * err).sum(), err.abs().sum(), known.sum().double()]).cpu())
        sums = comm.allreduce_(torch.stack(rows).contiguous()).numpy()
        return _finite({split: {"rmse": math.sqrt(sse / n) if n else None, "mae": float(sae / n) if n else None}
                        for split, (sse, sae, n) in zip(SPLITS, sums)})


_CLASSES = {"multiclass": MultiClass, "multilabel": MultiLabel, "regression": Regression}


def task_named(name: str) -> Task:
    """The task called ``name``, whatever labels there are (inference needs its outputs, not its labels).

    Args:
        name (str): ``multiclass``, ``multilabel`` or ``regression``.
    """
    if name not in _CLASSES:
        raise ValueError(f"`task` must be one of {', '.join(TASKS)} (got {name!r})")
    return _CLASSES[name]()


def resolve_task(name: str | None, labels_task: str) -> Task:
    """The task to train: ``name``, or the one the labels imply when None.

    Args:
        name (str | None): ``multiclass``, ``multilabel``, ``regression`` or None.
        labels_task (str): what the partition's labels are (``meta.json``'s ``task``).

    Raises:
        ValueError: for an unknown task, or one the labels cannot serve (multi-class needs class ids; multi-label
            needs 0/1 targets; regression needs float targets).
    """
    if name is None:
        name = labels_task
    task = task_named(name)
    fits = {"multiclass": ("multiclass",), "multilabel": ("multilabel",), "regression": ("multilabel", "regression")}
    if labels_task not in fits[name]:
        what = {"multiclass": "class ids [N]", "multilabel": "0/1 targets [N, T]",
                "regression": "real targets [N, T]"}
        raise ValueError(f"`task` {name} needs {what[name]}, but the partition's labels are {what[labels_task]} "
                         f"(task {labels_task}): leave `task` out, or partition labels of that kind")
    return task
