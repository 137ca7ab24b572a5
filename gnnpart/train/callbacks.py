"""Trainer callbacks: the best epoch, the metrics file, the epoch printer, checkpointing and early stopping.

A callback is called on every rank, at the same points, with numbers that are already reduced over the ranks,
so decisions (stopping, checkpointing) agree everywhere; side effects that belong to one process (files, printing)
check ``trainer.comm.rank``. Whoever wants a file, a printout, checkpoints or early stopping builds the callback
and passes it (``Trainer(..., callbacks=[MetricsFile("m.jsonl"), EarlyStopping(50)])``); the command line does the
same. The Trainer itself puts one :class:`BestEpoch` first, which keeps ``trainer.best``. Add your own by
subclassing :class:`Callback`.
"""
from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from gnnpart.train.records import BestRecord

log = logging.getLogger(__name__)


class Callback:
    """Hooks of the training loop; every method does nothing by default."""

    def on_fit_start(self, trainer) -> None:
        """Before the first epoch of :meth:`~gnnpart.train.Trainer.fit`.

        Args:
            trainer (Trainer): the trainer.
        """

    def on_epoch_end(self, trainer, record) -> None:
        """After each epoch (its evaluation included).

        Args:
            trainer (Trainer): the trainer (``trainer.epoch`` epochs done; ``trainer.best`` updated).
            record (EpochRecord): the epoch's numbers, reduced over the ranks.
        """

    def on_fit_end(self, trainer, summary) -> None:
        """After the last epoch (before the best weights are restored).

        Args:
            trainer (Trainer): the trainer.
            summary (FitSummary): the run's summary.
        """


class BestEpoch(Callback):
    """Keeps ``trainer.best``: after each epoch that evaluated, a better validation score of the task's main metric
    records the epoch, the test score then, and a copy of the weights (what ``restore_best`` restores and what a
    checkpoint keeps as the best weights). The Trainer puts one first among its callbacks, so the callbacks after
    it see the epoch's best."""

    def on_epoch_end(self, trainer, record):
        if not record.metrics:
            return
        task = trainer.task
        if task.better(record.metrics["val"][task.metric], trainer.best.val_score):
            trainer.best = BestRecord(record.metrics["val"][task.metric], record.epoch,
                                      record.metrics["test"][task.metric], copy.deepcopy(trainer.model.state_dict()),
                                      task.metric)


class MetricsFile(Callback):
    """Rank 0 appends one JSON line per epoch to ``path`` (see the README for the keys), then a final line
    (``"final": true``).

    Args:
        path (str | Path): the file (appended to: the caller removes an old one for a fresh run, and a resumed run
            cuts it back to the checkpoint's epoch with :func:`truncate_metrics`).
    """

    def __init__(self, path):
        self.path = Path(path)

    def _write(self, trainer, obj: dict) -> None:
        if trainer.comm.rank == 0:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(obj) + "\n")

    def on_epoch_end(self, trainer, record):
        self._write(trainer, asdict(record))

    def on_fit_end(self, trainer, summary):
        self._write(trainer, {"final": True, **asdict(summary)})


class EpochPrinter(Callback):
    """Rank 0 prints one line per epoch through ``printer`` (loss, the task's main metric on each split, named,
    time, halo bytes and their ratio to exact, all-reduce time).

    Args:
        printer (callable): e.g. ``print``.
    """

    def __init__(self, printer):
        self.printer = printer

    def on_epoch_end(self, trainer, r):
        if trainer.comm.rank != 0:
            return
        acc = "" if not r.metrics else (f"  {r.metric}: train {_fmt(r.train_score)}  val {_fmt(r.val_score)}  "
                                        f"test {_fmt(r.test_score)}")
        if r.step_losses:  # mini-batch
            self.printer(f"epoch {r.epoch:4d}  loss {r.loss:.4f}{acc}  {r.epoch_s * 1000:.0f} ms, {r.steps} steps "
                         f"(sampling {r.sample_s * 1000:.0f} ms, fetch {r.fetch_s * 1000:.0f} ms, "
                         f"{r.sample_wait_s * 1000:.0f} ms of them waited for, compute "
                         f"{r.compute_s * 1000:.0f} ms, allreduce {r.allreduce_s * 1000:.0f} ms; fetch_bytes "
                         f"{r.fetch_bytes / 2**20:.2f} MiB, sampling {r.sample_bytes / 2**20:.2f} MiB)")
            return
        ratio = f", {r.halo_bytes / r.halo_bytes_exact:.3f}x exact" if r.halo_bytes_exact else ""
        if r.halo_bytes_internode:
            ratio += f", {r.halo_bytes_internode / 2**20:.2f} MiB between hosts"
        self.printer(f"epoch {r.epoch:4d}  loss {r.loss:.4f}{acc}  {r.epoch_s * 1000:.0f} ms "
                     f"(halo {r.halo_s * 1000:.0f} ms, {r.halo_wait_s * 1000:.0f} ms exposed, "
                     f"{r.halo_bytes / 2**20:.2f} MiB{ratio}; "
                     f"allreduce {r.allreduce_s * 1000:.0f} ms)")

    def on_fit_end(self, trainer, summary):
        if trainer.comm.rank == 0 and summary.stopped_early:
            self.printer(f"stopped early at epoch {summary.epochs}: no better validation {summary.metric} since epoch "
                         f"{summary.best_epoch}")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


class Checkpointing(Callback):
    """Every ``every`` epochs, rank 0 writes ``directory/checkpoint.pt`` atomically; the others wait for it.

    Args:
        directory (str | Path): the checkpoint folder.
        every (int): epochs between checkpoints (>= 1).
    """

    def __init__(self, directory, every: int):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` (checkpoint interval) must be an integer >= 1 (got {every!r})")
        self.directory, self.every = directory, every

    def on_epoch_end(self, trainer, record):
        if trainer.epoch % self.every == 0:
            trainer.save_checkpoint(self.directory)


class EarlyStopping(Callback):
    """Stop when the task's main validation metric has not improved for ``patience`` epochs (checked after
    evaluations).

    Args:
        patience (int): epochs without a better validation score before stopping (>= 1).
    """

    def __init__(self, patience: int):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"`patience` must be an integer >= 1 (got {patience!r})")
        self.patience = patience

    def on_epoch_end(self, trainer, record):
        if record.val_score is not None and trainer.best.epoch >= 0 and trainer.epoch - trainer.best.epoch >= self.patience:
            log.info("early stopping at epoch %d (best validation %s at epoch %d)", trainer.epoch,
                     trainer.best.metric, trainer.best.epoch)
            trainer.should_stop = True


def truncate_metrics(path, epoch: int) -> None:
    """Keep the metrics lines of epochs up to ``epoch`` (a resumed run rewrites the later ones), atomically.

    Args:
        path (str | Path): the metrics file (nothing happens if it does not exist).
        epoch (int): the last epoch to keep.
    """
    path = Path(path)
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(record, dict) and not record.get("final") and record.get("epoch", epoch + 1) <= epoch:
            kept.append(line)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
