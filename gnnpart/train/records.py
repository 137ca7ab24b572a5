"""What training reports: one :class:`EpochRecord` per epoch, the :class:`BestRecord` so far, and the
:class:`FitSummary` of a run (the metrics file's lines, see the README)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EpochRecord:
    """One epoch's numbers, summed or reduced over all ranks (see README: metrics file).

    ``train_acc``/``val_acc``/``test_acc`` are the accuracies of a multi-class task (None otherwise, and in epochs
    without evaluation); ``metric`` names the task's main metric, ``train_score``/``val_score``/``test_score`` are
    its values, and ``metrics`` holds every metric of every split (``{split: {metric: value}}``, empty in epochs
    without evaluation). Seconds are this rank's: ``halo_s`` is the halo exchanges' span from posting to decoding,
    ``halo_wait_s`` the part of it not overlapped with computation, and ``compute_s`` is ``epoch_s`` less
    ``halo_wait_s`` and ``allreduce_s``. ``halo_bytes_internode`` is the part of ``halo_bytes`` that went between
    ranks on different hosts (MPI's shared-memory split tells which share one). A mini-batch epoch
    (:mod:`gnnpart.train.minibatch`) also counts its
    ``steps``, the seconds spent sampling (``sample_s``) and fetching features (``fetch_s``; ``compute_s`` is then
    the rest less ``allreduce_s``; with the next batch prepared during each step, ``sample_s`` and ``fetch_s``
    overlap the steps, and ``sample_wait_s`` is what the steps waited for their batches), the bytes they received over all ranks (``sample_bytes``, ``fetch_bytes``) and
    each step's loss (``step_losses``); its ``halo_*`` are 0.
    """

    epoch: int
    loss: float
    train_acc: float | None
    val_acc: float | None
    test_acc: float | None
    epoch_s: float
    compute_s: float
    halo_s: float
    allreduce_s: float
    halo_bytes: int
    allreduce_bytes: int
    eval_s: float = 0.0
    halo_bytes_by_layer: dict = field(default_factory=dict)
    halo_bytes_exact: int = 0
    halo_bytes_detail: dict = field(default_factory=dict)
    halo_channels_kept: dict = field(default_factory=dict)
    task: str = "multiclass"
    metric: str = "accuracy"
    train_score: float | None = None
    val_score: float | None = None
    test_score: float | None = None
    metrics: dict = field(default_factory=dict)
    halo_wait_s: float = 0.0
    halo_bytes_internode: int = 0
    steps: int = 1
    sample_s: float = 0.0
    fetch_s: float = 0.0
    sample_wait_s: float = 0.0
    sample_bytes: int = 0
    fetch_bytes: int = 0
    step_losses: list = field(default_factory=list)


@dataclass
class BestRecord:
    """The best validation score so far (the task's main metric), its epoch, the test score then, and the weights
    then.

    Attributes:
        val_score (float | None): None before the first evaluation.
        epoch (int): -1 before the first evaluation.
        test_score (float | None): the test score at that epoch.
        state (dict | None): the model's ``state_dict`` at that epoch.
        metric (str): which metric the scores are (``accuracy``, ``rocauc``, ``rmse``).
    """

    val_score: float | None = None
    epoch: int = -1
    test_score: float | None = None
    state: dict | None = field(default=None, repr=False)
    metric: str = "accuracy"

    @property
    def val_acc(self) -> float | None:
        """The validation accuracy (a multi-class task; -1.0 before the first evaluation), else None."""
        if self.metric != "accuracy":
            return None
        return -1.0 if self.val_score is None else self.val_score

    @property
    def test_acc(self) -> float | None:
        """The test accuracy at the best epoch (a multi-class task), else None."""
        return self.test_score if self.metric == "accuracy" else None

    def as_dict(self) -> dict:
        """Plain values (what a checkpoint stores)."""
        return {"val_score": self.val_score, "epoch": self.epoch, "test_score": self.test_score, "state": self.state,
                "metric": self.metric}

    @classmethod
    def from_dict(cls, d: dict) -> "BestRecord":
        """The record :meth:`as_dict` wrote (or an older checkpoint's ``val_acc``/``test_acc`` record).

        Args:
            d (dict): the stored record.
        """
        if "val_score" not in d:  # written before tasks: accuracy, -1.0 before the first evaluation
            val = d.get("val_acc")
            return cls(None if val is None or val < 0 else val, d.get("epoch", -1), d.get("test_acc"), d.get("state"))
        return cls(d["val_score"], d["epoch"], d["test_score"], d["state"], d.get("metric", "accuracy"))


@dataclass
class FitSummary:
    """What :meth:`Trainer.fit` ran (the final line of the metrics file); ``best_val_acc``/``test_acc`` are set
    for a multi-class task, ``best_val_score``/``test_score`` (of ``metric``) for every task."""

    best_val_acc: float | None
    best_epoch: int
    test_acc: float | None
    total_s: float
    epochs: int
    setup_halo_bytes: int
    stopped_early: bool = False
    metric: str = "accuracy"
    best_val_score: float | None = None
    test_score: float | None = None
