"""The Trainer: full-graph training of a distributed model, one rank per part.

The loop does one thing per step (forward, backward, gradient all-reduce, optimizer step, one all-reduce of the
epoch's counts); files, printing, checkpoints and early stopping are callbacks (:mod:`gnnpart.train.callbacks`).
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gnnpart.comm import Communicator, ExchangePlan, GradientAllreduce, HaloExchange, broadcast_parameters, parse_halo
from gnnpart.comm.stats import DIRECTIONS, KINDS
from gnnpart.nn.contract import halo_layers
from gnnpart.nn.gates import HaloGates, attach_halo_gates, attached_halo_gates
from gnnpart.nn.local_graph import LocalGraph
from gnnpart.partition.store import Partition
from gnnpart.train.callbacks import Callback, Checkpointing, EarlyStopping, EpochPrinter, MetricsFile
from gnnpart.train.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from gnnpart.train.device import resolve_device
from gnnpart.train.tasks import SPLITS, resolve_task
from gnnpart.train.tasks import cross_entropy_sum  # where it was before tasks: kept importable
from gnnpart.train.watchdog import Progress, Watchdog

log = logging.getLogger(__name__)

__all__ = ["Trainer", "EpochRecord", "BestRecord", "FitSummary", "cross_entropy_sum"]


@dataclass
class EpochRecord:
    """One epoch's numbers, summed or reduced over all ranks (see README: metrics file).

    ``train_acc``/``val_acc``/``test_acc`` are the accuracies of a multi-class task (None otherwise, and in epochs
    without evaluation); ``metric`` names the task's main metric, ``train_score``/``val_score``/``test_score`` are
    its values, and ``metrics`` holds every metric of every split (``{split: {metric: value}}``, empty in epochs
    without evaluation). Seconds are this rank's: ``halo_s`` is the halo exchanges' span from posting to decoding,
    ``halo_wait_s`` the part of it not overlapped with computation, and ``compute_s`` is ``epoch_s`` less
    ``halo_wait_s`` and ``allreduce_s``.
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


class Trainer:
    """Train ``model`` on this rank's ``partition``; every rank runs the same calls.

    Args:
        model (torch.nn.Module): a model of :class:`~gnnpart.nn.HaloLayer` layers (``model(x, graph)`` maps
            ``[I, F]`` features to ``[I, C]``), built identically on every rank (rank 0's weights are broadcast).
        partition (Partition): this rank's part (``load_partition(dir, comm.rank)``).
        comm (Communicator): the job's communicator; its size must equal the number of parts.
        optimizer (torch.optim.Optimizer, optional): default Adam(lr, weight_decay). A ``learned`` halo policy
            needs gates in the optimizer: build it after :func:`gnnpart.nn.attach_halo_gates` (else refused).
        lr (float), weight_decay (float): for the default optimizer (0.01, 5e-4).
        seed (int): keys the dropout masks and the exchanges' draws (default 0).
        eval_every (int): evaluate every k epochs (and at the last), default 1.
        normalize_features (bool): divide each feature row by its sum (PyG's NormalizeFeatures).
        metrics_file (str, optional): adds a :class:`~gnnpart.train.callbacks.MetricsFile` callback.
        checkpoint_dir (str, optional), checkpoint_every (int): add a :class:`~gnnpart.train.callbacks.Checkpointing`
            callback when ``checkpoint_every`` > 0; ``checkpoint_dir`` is also :meth:`save_checkpoint`'s default.
        printer (callable, optional): adds an :class:`~gnnpart.train.callbacks.EpochPrinter` (rank 0 prints).
        dtype (torch.dtype): precision of the model and features (default float32). Ranks agree with one
            process up to float rounding, which reassociated sums change; training can amplify that
            (a ReLU input near 0, Adam on a gradient near 0). float64 keeps the runs together far longer.
        halo (str | list, optional): the halo exchange policy, ``--halo`` syntax (see :mod:`gnnpart.comm.policy`):
            one spec for all layers, or one per layer (by ``layer_id``). Default exact.
        task (str, optional): ``multiclass``, ``multilabel`` or ``regression`` (:mod:`gnnpart.train.tasks`); default
            the one the partition's labels imply. It chooses the default loss, the metrics and how the best epoch
            is chosen.
        loss_fn (callable, optional): ``loss_fn(out, target)`` -> the *sum* of the losses of the given rows
            (default: the task's loss, e.g. :func:`cross_entropy_sum`); the trainer divides by the number of
            labelled training entries of all ranks (training nodes, for class ids), so the all-reduced gradients
            are those of one process.
        callbacks (list[Callback], optional): more callbacks, called after the ones the arguments above add.
        patience (int, optional): adds :class:`~gnnpart.train.callbacks.EarlyStopping` with this patience.
        watchdog (float, optional): end the job when no epoch completes in this many seconds, naming the stuck
            ranks (default 600; None: no watchdog). See :mod:`gnnpart.train.watchdog`.
        settings (dict, optional): what shapes the model (e.g. ``{"model": "gcn", "hidden": 16}``); stored in
            checkpoints, and a resume whose settings differ is refused naming the setting.
        device (str | torch.device): ``cpu`` (default), ``cuda`` (the GPU of this rank's node-local rank, modulo the
            GPUs torch sees) or ``auto`` (CUDA when torch sees a GPU). Everything the rank holds lives there.
        transport (str): how GPU tensors travel between ranks: ``mpi`` (default; staged through pinned host
            memory), ``mpi-cuda`` or ``nccl`` (see :mod:`gnnpart.comm.transport`).
        overlap (bool): the built-in GCN, GraphSAGE and GIN layers aggregate their inner sources while the halo rows
            travel, forward and backward (default True; the same bits either way, see :mod:`gnnpart.nn.overlap`).

    Attributes:
        device (torch.device): where the model, features, graph and buffers of this rank live.
        task (Task): the task (its loss, metrics and main metric).
        best (BestRecord): the best validation epoch so far.
        history (list[EpochRecord]): the epochs run by :meth:`fit`.
        layers (list[HaloLayer]): the model's halo layers, by ``layer_id``.
        should_stop (bool): a callback sets it to end :meth:`fit` after the current epoch.
    """

    def __init__(self, model, partition: Partition, comm: Communicator, optimizer=None, lr: float = 0.01,
                 weight_decay: float = 5e-4, seed: int = 0, eval_every: int = 1, normalize_features: bool = False,
                 metrics_file=None, checkpoint_dir=None, checkpoint_every: int = 0, printer=None,
                 dtype: torch.dtype = torch.float32, halo=None, loss_fn=None, callbacks=None, patience=None,
                 settings: dict | None = None, watchdog: float | None = 600.0, device=None, transport: str = "mpi",
                 task: str | None = None, overlap: bool = True):
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
            raise ValueError(f"`eval_every` must be an integer >= 1 (got {eval_every!r})")
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 0:
            raise ValueError(f"`checkpoint_every` must be an integer >= 0 (got {checkpoint_every!r})")
        if checkpoint_every and not checkpoint_dir:
            raise ValueError("`checkpoint_every` needs `checkpoint_dir`")
        self.model, self.part, self.comm = model, partition, comm
        self.task = resolve_task(task, partition.task)
        self.normalize_features, self.dtype = bool(normalize_features), dtype
        self.device = dev = resolve_device(device, comm)
        comm.use_transport(transport, dev)
        self.settings = dict(settings or {})
        self.layers = halo_layers(model)
        self.halo_policies = parse_halo(halo, len(self.layers))
        global_ids = torch.from_numpy(np.ascontiguousarray(partition.global_ids)).long().to(dev)
        self.exchange = HaloExchange(comm, ExchangePlan.from_partition(partition, comm.size).to(dev), global_ids)
        self.graph = LocalGraph(partition, self.exchange, seed, device=dev, overlap=overlap)
        self.progress = self.graph.progress = Progress()
        self.watchdog = Watchdog(comm, self.progress, watchdog) if watchdog is not None else None
        if optimizer is None:
            gates = attach_halo_gates(model, self.halo_policies)
            model.to(device=dev, dtype=dtype)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        else:
            gates = self._gates_of_user_optimizer(optimizer)
            model.to(device=dev, dtype=dtype)
        self.graph.use_policies(self.halo_policies, gates)
        x = torch.from_numpy(np.array(partition.x, dtype=np.float32))
        if normalize_features:
            x = x / x.sum(dim=1, keepdim=True).clamp(min=1e-12)
        self.x = x.to(device=dev, dtype=dtype)
        self.y = self.task.labels(partition.y, dev)
        self.masks = {k: torch.from_numpy(np.asarray(getattr(partition, f"{k}_mask"))).to(dev)
                      for k in ("train", "val", "test")}
        self.eval_every = eval_every
        self.checkpoint_dir = checkpoint_dir
        self.loss_fn = loss_fn or self.task.loss_sum
        self.callbacks: list[Callback] = []
        if metrics_file:
            self.callbacks.append(MetricsFile(metrics_file))
        if printer:
            self.callbacks.append(EpochPrinter(printer))
        if checkpoint_every:
            self.callbacks.append(Checkpointing(checkpoint_dir, checkpoint_every))
        if patience is not None:
            self.callbacks.append(EarlyStopping(patience))
        self.callbacks += list(callbacks or [])

        broadcast_parameters(comm, list(model.parameters()) + list(model.buffers()))
        self.optimizer = optimizer
        self.reducer = GradientAllreduce(comm, model.parameters())
        self.num_train = int(comm.sum_scalars([self.task.count(self.y[self.masks["train"]])])[0])
        if self.num_train == 0:
            raise ValueError("the partition has no labelled training nodes on any rank: nothing to train on")
        self.epoch = 0
        self.history: list[EpochRecord] = []
        self.best = BestRecord(metric=self.task.metric)
        self.should_stop = False
        self.summary: FitSummary | None = None
        start = time.perf_counter()
        self.setup_halo_bytes = self._prepare()
        self.setup_s = time.perf_counter() - start

    def _gates_of_user_optimizer(self, optimizer) -> HaloGates | None:
        """The model's gates, when a user's optimizer holds them; refuse an optimizer that cannot train them."""
        gates = attached_halo_gates(self.model, self.halo_policies)
        if gates is None:
            return None
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        missing = [name for name, p in gates.named_parameters() if id(p) not in held]
        if missing:
            raise ValueError(f"the optimizer does not hold model.halo_gates ({', '.join(missing)}), so the gates "
                             "would never be trained: call gnnpart.nn.attach_halo_gates(model, halo) before building "
                             "the optimizer from model.parameters()")
        return gates

    # ------------------------------------------------------------------------------ steps
    def _prepare(self) -> int:
        """Let layers that exchange once do it now (exactly), and count the bytes of that one-time exchange."""
        self.exchange.stats.reset()
        with torch.no_grad():
            for layer in self.layers:
                if not layer.exchanges_each_epoch:
                    layer.prepare(self.x, self.graph)
        sent = int(self.comm.sum_scalars([self.exchange.stats.bytes])[0])
        self.exchange.stats.reset()
        return sent

    def train_step(self) -> float:
        """One forward, backward, gradient all-reduce and optimizer step; returns the loss over all ranks.

        The epoch's counts (loss, bytes per layer, direction and kind) are summed over the ranks in one
        all-reduce; the step's numbers are kept in ``self.last_step`` (seconds are this rank's).
        """
        self.model.train()
        self.graph.epoch = self.epoch
        self.progress.enter("forward")
        stats = self.exchange.stats
        stats.reset()
        self.reducer.seconds, self.reducer.bytes = 0.0, 0
        start = time.perf_counter()
        self.reducer.zero_grad()
        out = self.model(self.x, self.graph)
        train = self.masks["train"]
        loss = self.loss_fn(out[train], self.y[train]) / self.num_train
        gates = self.graph.gates
        objective = loss if gates is None else loss + gates.penalty() / self.comm.size  # summed over ranks
        self.progress.enter("backward")
        objective.backward()
        self.progress.enter("gradient all-reduce")
        self.reducer.allreduce()
        self.progress.enter("optimizer step")
        self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # GPU work is asynchronous: time it to its end
        seconds = time.perf_counter() - start
        self.progress.enter("all-reduce of the epoch's counts")
        ids = [layer.layer_id for layer in self.layers]
        zero = {d: dict.fromkeys(KINDS, 0) for d in DIRECTIONS}
        local = [loss.item(), stats.bytes, self.reducer.bytes, stats.bytes_exact]
        local += [stats.bytes_by_layer.get(i, 0) for i in ids]
        local += [stats.detail.get(i, zero)[d][k] for i in ids for d in DIRECTIONS for k in KINDS]
        totals = iter(self.comm.sum_scalars(local))
        total_loss, halo_bytes, ar_bytes, exact_bytes = (next(totals) for _ in range(4))
        by_layer = {str(i): int(next(totals)) for i in ids}
        detail = {str(i): {d: {k: int(next(totals)) for k in KINDS} for d in DIRECTIONS} for i in ids}
        self.last_step = {
            "epoch_s": seconds, "halo_s": stats.seconds, "halo_wait_s": stats.wait_seconds,
            "allreduce_s": self.reducer.seconds, "compute_s": seconds - stats.wait_seconds - self.reducer.seconds,
            "halo_bytes": int(halo_bytes), "allreduce_bytes": int(ar_bytes), "halo_bytes_by_layer": by_layer,
            "halo_bytes_exact": int(exact_bytes), "halo_bytes_detail": detail,
            "halo_channels_kept": {} if gates is None else {str(k): v for k, v in gates.kept_fraction().items()},
        }
        return total_loss

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Every metric of the task on train/val/test over the whole graph: ``{split: {metric: value or None}}``,
        e.g. ``{"val": {"accuracy": 0.81, "macro_f1": 0.79}, ...}`` (see :mod:`gnnpart.train.tasks`; the same on
        every rank). Before tasks it returned ``{"train_acc": ...}``: read ``["train"]["accuracy"]``."""
        self.model.eval()
        self.progress.enter("evaluation")
        out = self.model(self.x, self.graph)
        return self.task.evaluate(out, self.y, self.masks, self.comm)

    @torch.no_grad()
    def predict(self, out=None, embeddings: int | None = None, probabilities: bool = False):
        """Run the model over the full graph (exact halo exchange, no dropout; learned halo gates, which are part
        of the model, still apply).

        Args:
            out (str | Path, optional): write every rank's rows into this one ``.npy`` in global node order
                (see :func:`gnnpart.train.predict.write_rows`); every rank calls it. Without it, this rank's rows
                are returned.
            embeddings (int, optional): return the hidden representation after halo layer ``embeddings``
                (``0 .. layers - 1``) instead of the outputs.
            probabilities (bool): softmax (multi-class) or sigmoid (multi-label) of the outputs.

        Returns:
            ``[I, C]`` this rank's rows (float32, on the CPU) without ``out``; else the path written.
        """
        from gnnpart.train.predict import model_rows, write_rows

        self.progress.enter("prediction")
        rows = model_rows(self.model, self.x, self.graph, self.task, embeddings, probabilities)
        if out is None:
            return rows
        return write_rows(self.comm, out, self.part.global_ids[: self.part.num_inner], rows,
                          int(self.part.meta.get("num_nodes", 0)))

    # ------------------------------------------------------------------------------ the loop
    def fit(self, epochs: int, restore_best: bool = True) -> list[EpochRecord]:
        """Train until ``epochs`` epochs have run in all (a resumed trainer continues its count), or until a
        callback sets :attr:`should_stop`; then restore the best-validation weights (``restore_best``)."""
        if epochs < self.epoch:
            raise ValueError(f"`epochs` ({epochs}) is below the epochs already run ({self.epoch})")
        start = time.perf_counter()
        self.should_stop = False
        for callback in self.callbacks:
            callback.on_fit_start(self)
        if self.watchdog is not None:
            self.watchdog.start()
        try:
            self._epochs(epochs)
        finally:
            if self.watchdog is not None:
                self.watchdog.stop()
        self.exchange.drain()
        self.summary = FitSummary(self.best.val_acc, self.best.epoch, self.best.test_acc, time.perf_counter() - start,
                                  self.epoch, self.setup_halo_bytes, stopped_early=self.should_stop and self.epoch < epochs,
                                  metric=self.task.metric, best_val_score=self.best.val_score,
                                  test_score=self.best.test_score)
        for callback in self.callbacks:
            callback.on_fit_end(self, self.summary)
        if restore_best and self.best.state is not None:
            self.model.load_state_dict(self.best.state)
        return self.history

    def _epochs(self, epochs: int) -> None:
        while self.epoch < epochs and not self.should_stop:
            loss = self.train_step()
            metrics, eval_s = {}, 0.0
            if (self.epoch + 1) % self.eval_every == 0 or self.epoch + 1 == epochs:
                t0 = time.perf_counter()
                metrics = self.evaluate()
                eval_s = time.perf_counter() - t0
                if self.task.better(metrics["val"][self.task.metric], self.best.val_score):
                    self.best = BestRecord(metrics["val"][self.task.metric], self.epoch + 1,
                                           metrics["test"][self.task.metric], copy.deepcopy(self.model.state_dict()),
                                           self.task.metric)
            main = {f"{split}_score": metrics[split][self.task.metric] if metrics else None for split in SPLITS}
            accs = {f"{split}_acc": metrics[split].get("accuracy") if metrics else None for split in SPLITS}
            record = EpochRecord(epoch=self.epoch + 1, loss=loss, eval_s=eval_s, **accs, **self.last_step,
                                 task=self.task.name, metric=self.task.metric, metrics=metrics, **main)
            self.history.append(record)
            self.epoch += 1
            self.progress.enter("callbacks (metrics, checkpoint)")
            for callback in self.callbacks:
                callback.on_epoch_end(self, record)
            self.progress.epoch_done(self.epoch)

    # ------------------------------------------------------------------------------ checkpoints
    def graph_identity(self) -> dict:
        """What the training graph is: its dataset spec and node count (the same on every partition of it)."""
        meta = self.part.meta
        return {"dataset": str(meta.get("dataset")), "num_nodes": int(meta.get("num_nodes", -1))}

    def state_dict(self) -> dict:
        """Everything a resumed run needs (weights, optimizer state, epoch, best record, RNG state), and the
        graph and settings it belongs to."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "best": self.best.as_dict(), "losses": [r.loss for r in self.history], "rng": torch.get_rng_state(),
                "graph": self.graph_identity(), "settings": self.settings, "inference": self.inference_settings()}

    def inference_settings(self) -> dict:
        """What running the model again needs besides its settings: the task, the input and output widths, the
        feature normalisation, the halo spec (a learned gate is part of the model) and the dtype."""
        halo = [str(policy) for policy in self.halo_policies]  # one spec per layer, whatever form `halo` took
        return {"task": self.task.name, "num_features": int(self.x.shape[1]), "num_outputs": int(self.part.meta.get(
                "num_outputs", 0)), "normalize_features": self.normalize_features, "halo": halo,
                "dtype": str(self.dtype).replace("torch.", "")}

    def save_checkpoint(self, directory=None) -> None:
        """Rank 0 writes ``directory/checkpoint.pt`` (default ``checkpoint_dir``); the others wait until it is
        complete."""
        directory = directory or self.checkpoint_dir
        if not directory:
            raise ValueError("save_checkpoint needs a `directory` (or the Trainer's `checkpoint_dir`)")
        if self.comm.rank == 0:
            self.progress.enter("writing the checkpoint")
            path = save_checkpoint(directory, self.state_dict())
            log.info("checkpoint at epoch %d: %s", self.epoch, path)
        self.progress.enter("checkpoint barrier")
        self.comm.barrier()

    def load_checkpoint(self, directory) -> None:
        """Resume from ``directory/checkpoint.pt`` (every rank reads it)."""
        state = load_checkpoint(directory)
        path = Path(directory) / CHECKPOINT_FILE
        graph, here = state.get("graph"), self.graph_identity()
        if graph is not None and graph != here:
            raise ValueError(f"checkpoint {path} was trained on {graph['dataset']} ({graph['num_nodes']:,} nodes), not "
                             f"on this partition's {here['dataset']} ({here['num_nodes']:,} nodes): resume on a "
                             "partition of the same graph")
        saved_run, here_run = state.get("inference") or {}, self.inference_settings()
        for key in ("task", "normalize_features"):  # what changes the loss or the input, on any model
            if key in saved_run and saved_run[key] != here_run[key]:
                raise ValueError(f"checkpoint {path} was trained with {key} = {saved_run[key]!r}; this run has {key} = "
                                 f"{here_run[key]!r}: use the checkpoint's value, or start without --resume")
        saved = state.get("settings") or {}
        for key in sorted(saved.keys() & self.settings.keys()):
            if saved[key] != self.settings[key]:
                raise ValueError(f"checkpoint {path} was written with {key} = {saved[key]!r}; this run has {key} = "
                                 f"{self.settings[key]!r}: use the checkpoint's value, or start without --resume")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()
            raise ValueError(f"checkpoint {path} does not fit this model: "
                             f"{first[1].strip() if len(first) > 1 else first[0] if first else type(exc).__name__}") from None
        self.reducer.zero_grad()
        self.epoch = int(state["epoch"])
        self.best = BestRecord.from_dict(state["best"])
        torch.set_rng_state(state["rng"])
