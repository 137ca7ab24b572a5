"""The Trainer: training of a distributed model on one :class:`~gnnpart.rank.Rank` per part, full-graph, or
mini-batch on sampled blocks with ``TrainOptions(batch_size=..., fanouts=...)`` (:mod:`gnnpart.train.minibatch`:
an epoch is then every global batch; evaluation, prediction and checkpoints stay full-graph).

It trains and does nothing else. The rank (its part, exchange plan, local graph, features, labels and task) comes
built (:class:`gnnpart.rank.Rank`); callbacks (metrics file, printer, checkpoints, early stopping) are built by whoever
wants them (:mod:`gnnpart.train.callbacks`); whether a checkpoint fits is :mod:`gnnpart.checkpoint`'s to say, and
inference is :mod:`gnnpart.infer`'s. The loop does one thing per step: forward, backward, gradient all-reduce,
optimizer step, and one all-reduce of the epoch's counts.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from gnnpart.checkpoint import shards
from gnnpart.checkpoint.checkpoint_file import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from gnnpart.checkpoint.compatibility import check_resume, load_weights
from gnnpart.comm.allreduce import GradientAllreduce, broadcast_parameters
from gnnpart.comm.byte_counts import DIRECTIONS, KINDS
from gnnpart.comm.policy.spec import parse_halo
from gnnpart.data.labels import SPLITS
from gnnpart.block_cache import cache_blocks
from gnnpart.infer.outputs import predict
from gnnpart.nn.contract import halo_layers
from gnnpart.nn.embedding import dense_parameters, sharded_parameters
from gnnpart.nn.gates import HaloGates, attach_halo_gates, attached_halo_gates
from gnnpart.nn.row_norms import bind_sync_norms, check_row_norms
from gnnpart.train.callbacks import BestEpoch, Callback
from gnnpart.train.minibatch import MiniBatchLoop, check_minibatch
from gnnpart.train.optimizers import check_sparse_holders, default_optimizer
from gnnpart.train.options import TrainOptions
from gnnpart.train.records import BestRecord, EpochRecord, FitSummary
from gnnpart.train.watchdog import Progress, Watchdog

log = logging.getLogger(__name__)

__all__ = ["Trainer"]


class Trainer:
    """Train ``model`` on this rank; every rank runs the same calls.

    Args:
        model (torch.nn.Module): a model of :class:`~gnnpart.nn.HaloLayer` layers (``model(x, graph)`` maps
            ``[I, F]`` features to ``[I, C]``), built identically on every rank (rank 0's weights are broadcast). It
            is moved to the rank's device and dtype.
        rank (Rank): this rank (:meth:`gnnpart.rank.Rank.open`); its communicator's size is the number of parts.
        optimizer (torch.optim.Optimizer, optional): default Adam(``options.lr``, ``options.weight_decay``), and
            for the rows of sharded embeddings (:mod:`gnnpart.nn.embedding`) a sparse optimizer
            (``options.sparse_optimizer``), stepped together (:class:`~gnnpart.train.optimizers.OptimizerGroup`).
            A ``learned`` halo policy needs gates in the optimizer: build it after
            :func:`gnnpart.nn.attach_halo_gates` (else refused); embedding rows need an optimizer that takes
            sparse gradients (else refused).
        options (TrainOptions, optional): learning rate and weight decay of the default optimizer, seed,
            evaluation interval, watchdog (:class:`~gnnpart.train.TrainOptions`; default its defaults).
        halo (list[HaloPolicy] | HaloPolicy | str, optional): the halo exchange policy of each layer (by
            ``layer_id``): policy objects, one per layer or one for all, or ``--halo`` text, parsed here once (see
            :mod:`gnnpart.comm.policy`). Default exact.
        loss_fn (callable, optional): ``loss_fn(out, target)`` -> the *sum* of the losses of the given rows
            (default: the task's loss, e.g. :func:`gnnpart.tasks.cross_entropy_sum`); the trainer divides by the
            number of labelled training entries of all ranks (training nodes, for class ids), so the all-reduced
            gradients are those of one process.
        callbacks (list[Callback], optional): called after the Trainer's own :class:`~gnnpart.train.callbacks.BestEpoch`,
            in this order.
        settings (dict, optional): what shapes the model (e.g. ``{"model": "gcn", "hidden": 16}``); stored in
            checkpoints, and a resume whose settings differ is refused naming the setting.

    Attributes:
        rank (Rank): the rank; ``comm``, ``device``, ``task``, ``graph``, ``exchange``, ``x``, ``y`` and ``masks`` are
            its.
        options (TrainOptions): the options.
        layers (list[HaloLayer]): the model's halo layers, by ``layer_id``.
        halo_policies (list[HaloPolicy]): one per layer.
        best (BestRecord): the best validation epoch so far.
        history (list[EpochRecord]): the epochs run by :meth:`fit`.
        should_stop (bool): a callback sets it to end :meth:`fit` after the current epoch.
    """

    def __init__(self, model, rank, optimizer=None, options: TrainOptions | None = None, *, halo=None, loss_fn=None,
                 callbacks=None, settings: dict | None = None):
        self.options = options if options is not None else TrainOptions()
        if not isinstance(self.options, TrainOptions):
            raise TypeError(f"`options` must be a gnnpart.train.TrainOptions (got {type(self.options).__name__})")
        self.model, self.rank = model, rank
        self.comm, self.device, self.task = rank.comm, rank.device, rank.task
        self.graph, self.exchange = rank.graph, rank.exchange
        self.x, self.y, self.masks = rank.x, rank.y, rank.masks
        # the training rows as an index, once: each step then selects them without a pass over the mask, and the
        # selection's backward adds into its rows (index_add_) instead of a masked index_put_ (same values)
        self.train_rows = self.masks["train"].nonzero().squeeze(1)
        self.train_y = self.y.index_select(0, self.train_rows)
        self.settings = dict(settings or {})
        check_row_norms(model)  # a norm over this rank's rows alone would make N ranks differ from one
        bind_sync_norms(model, self.comm)
        self.layers = halo_layers(model)
        self.halo_policies = parse_halo(halo, len(self.layers))
        if self.options.batch_size is not None:  # what cannot run on sampled blocks is refused before any work
            check_minibatch(model, rank, self.halo_policies, self.options.fanouts)
        self.num_train = int(self.comm.sum_scalars([self.task.count(self.train_y)])[0])
        if self.num_train == 0:
            raise ValueError("the partition has no labelled training nodes on any rank: nothing to train on")
        if optimizer is None:
            self._gates = attach_halo_gates(model, self.halo_policies)
            model.to(device=self.device, dtype=rank.dtype)
            optimizer = default_optimizer(dense_parameters(model), sharded_parameters(model), self.options.lr,
                                          self.options.weight_decay, self.options.sparse_optimizer)
        else:
            self._gates = self._gates_of_user_optimizer(optimizer)
            check_sparse_holders(optimizer, sharded_parameters(model))
            model.to(device=self.device, dtype=rank.dtype)
        if self.options.block_cache is not None:
            cache_blocks(self.options.block_cache)
        self.progress = Progress()
        self.watchdog = Watchdog(self.comm, self.progress, self.options.watchdog) if self.options.watchdog else None
        self._take_graph()
        self.loss_fn = loss_fn or self.task.loss_sum
        self.callbacks: list[Callback] = [BestEpoch(), *(callbacks or [])]
        # sharded embedding rows are each rank's own: never broadcast or all-reduced (gnnpart.nn.embedding)
        self.embedding_shards = sharded_parameters(model)
        broadcast_parameters(self.comm, dense_parameters(model) + list(model.buffers()))
        self.optimizer = optimizer
        self.reducer = GradientAllreduce(self.comm, dense_parameters(model))
        self.epoch = 0
        self.history: list[EpochRecord] = []
        self.best = BestRecord(metric=self.task.metric)
        self.should_stop = False
        self.summary: FitSummary | None = None
        start = time.perf_counter()
        self.setup_halo_bytes = self._prepare()
        self.minibatch = None if self.options.batch_size is None else MiniBatchLoop(
            self, self.options.batch_size, self.options.fanouts, overlap=self.graph.overlap)
        self.setup_s = time.perf_counter() - start

    def _take_graph(self) -> None:
        """Make the rank's graph serve this trainer's model: fresh caches and policy exchanges, this run's seed
        (dropout masks and the exchanges' draws), its progress, its policies and gates. Done when the trainer is
        made, and again by any later call if another model took the rank since."""
        graph = self.graph
        graph.reset()
        graph.seed = self.options.seed
        graph.progress = self.progress
        graph.use_policies(self.halo_policies, self._gates, self.layers)
        graph.owner = self

    def _own_graph(self) -> None:
        if self.graph.owner is not self:
            self._take_graph()

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
        self._own_graph()
        if self.minibatch is not None:
            return self._minibatch_epoch()
        self.model.train()
        self.graph.epoch = self.epoch
        self.progress.enter("forward")
        stats = self.exchange.stats
        stats.reset()
        self.reducer.seconds, self.reducer.bytes = 0.0, 0
        start = time.perf_counter()
        self.reducer.zero_grad()
        for shard in self.embedding_shards:
            shard.grad = None  # sparse: a step's rows, not added to the last step's
        out = self.model(self.x, self.graph)
        loss = self.loss_fn(out.index_select(0, self.train_rows), self.train_y) / self.num_train
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
        local = [loss.item(), stats.bytes, self.reducer.bytes, stats.bytes_exact, stats.bytes_internode]
        local += [stats.bytes_by_layer.get(i, 0) for i in ids]
        local += [stats.detail.get(i, zero)[d][k] for i in ids for d in DIRECTIONS for k in KINDS]
        totals = iter(self.comm.sum_scalars(local))
        total_loss, halo_bytes, ar_bytes, exact_bytes, internode = (next(totals) for _ in range(5))
        by_layer = {str(i): int(next(totals)) for i in ids}
        detail = {str(i): {d: {k: int(next(totals)) for k in KINDS} for d in DIRECTIONS} for i in ids}
        self.last_step = {
            "epoch_s": seconds, "halo_s": stats.seconds, "halo_wait_s": stats.wait_seconds,
            "allreduce_s": self.reducer.seconds, "compute_s": seconds - stats.wait_seconds - self.reducer.seconds,
            "halo_bytes": int(halo_bytes), "allreduce_bytes": int(ar_bytes), "halo_bytes_by_layer": by_layer,
            "halo_bytes_exact": int(exact_bytes), "halo_bytes_detail": detail, "halo_bytes_internode": int(internode),
            "halo_channels_kept": {} if gates is None else {str(k): v for k, v in gates.kept_fraction().items()},
        }
        return total_loss

    def _minibatch_epoch(self) -> float:
        """One epoch of sampled batches (:class:`~gnnpart.train.minibatch.MiniBatchLoop`); its counts summed over
        the ranks into :attr:`last_step`, as :meth:`train_step` does for a full-graph epoch."""
        start = time.perf_counter()
        loss, c = self.minibatch.epoch(self.epoch)
        seconds = time.perf_counter() - start
        self.progress.enter("all-reduce of the epoch's counts")
        sample_bytes, fetch_bytes, ar_bytes = self.comm.sum_scalars([c.sample_bytes, c.fetch_bytes, c.allreduce_bytes])
        self.last_step = {
            "epoch_s": seconds, "halo_s": 0.0, "halo_wait_s": 0.0, "allreduce_s": c.allreduce_s,
            "compute_s": c.compute_s, "halo_bytes": 0, "allreduce_bytes": int(ar_bytes), "halo_bytes_by_layer": {},
            "halo_bytes_exact": 0, "halo_bytes_detail": {}, "halo_channels_kept": {}, "steps": c.steps,
            "sample_s": c.sample_s, "fetch_s": c.fetch_s, "sample_wait_s": c.wait_s, "sample_bytes": int(sample_bytes),
            "fetch_bytes": int(fetch_bytes), "step_losses": list(self.minibatch.step_losses),
        }
        return loss

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Every metric of the task on train/val/test over the whole graph: ``{split: {metric: value or None}}``,
        e.g. ``{"val": {"accuracy": 0.81, "macro_f1": 0.79}, ...}`` (see :mod:`gnnpart.tasks`; the same on
        every rank). Before tasks it returned ``{"train_acc": ...}``: read ``["train"]["accuracy"]``."""
        self._own_graph()
        self.model.eval()
        self.progress.enter("evaluation")
        out = self.model(self.x, self.graph)
        return self.task.evaluate(out, self.y, self.masks, self.comm)

    def predict(self, out=None, embeddings: int | None = None, probabilities: bool = False,
                node_type: str | None = None):
        """The trained model's outputs over the full graph: :func:`gnnpart.infer.predict` on this trainer's model and
        rank (exact exchange, no dropout; learned gates apply). Every rank calls it.

        Args:
            out (str | Path, optional): write every rank's rows into this one ``.npy`` in global node order;
                without it, this rank's rows are returned.
            embeddings (int, optional): the representation after halo layer ``embeddings`` instead of the outputs.
            probabilities (bool): softmax (multi-class) or sigmoid (multi-label) of the outputs.
            node_type (str, optional): on a typed graph, the type whose rows to keep (default the first target
                type; see :func:`gnnpart.infer.predict`).
        """
        self._own_graph()
        self.progress.enter("prediction")
        return predict(self.model, self.rank, out, embeddings, probabilities, task=self.task, node_type=node_type)

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
        except BaseException:
            if self.watchdog is not None:
                self.watchdog.stop(drain=False)  # the job ends anyway: no rank waits for the others here
            raise
        if self.watchdog is not None:
            self.watchdog.stop()  # every rank: the reports and heartbeats still in flight are received
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
            if (self.epoch + 1) % self.options.eval_every == 0 or self.epoch + 1 == epochs:
                t0 = time.perf_counter()
                metrics = self.evaluate()
                eval_s = time.perf_counter() - t0
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
        return self.rank.graph_identity()

    def state_dict(self) -> dict:
        """Everything a resumed run needs (weights, optimizer state, epoch, best record, RNG state), and the
        graph and settings it belongs to.

        A model with sharded embeddings (:mod:`gnnpart.nn.embedding`) stores their rows, and their optimizer
        states, for every node by global id (:mod:`gnnpart.checkpoint.shards`), so that a run resumes on any
        partition: every rank then calls this, and rank 0's result holds every row (the others' hold None there).
        """
        model, optimizer, best = self.model.state_dict(), self.optimizer.state_dict(), self.best.as_dict()
        sizes = {}
        if self.embedding_shards:
            model = shards.gather_weights(self.comm, self.model, model)
            optimizer = shards.gather_optimizer(self.comm, self.model, self.optimizer, optimizer)
            if best["state"] is not None:
                best["state"] = shards.gather_weights(self.comm, self.model, best["state"])
            sizes = shards.shard_sizes(self.comm, self.model)
        return {"model": model, "optimizer": optimizer, "epoch": self.epoch,
                "best": best, "losses": [r.loss for r in self.history], "rng": torch.get_rng_state(),
                "graph": self.graph_identity(), "settings": self.settings, "inference": self.inference_settings(),
                **({"shards": sizes} if sizes else {})}

    def inference_settings(self) -> dict:
        """What running the model again needs besides its settings: the task, the input and output widths, the
        feature normalisation, the halo specs in their canonical text (a learned gate is part of the model) and the
        dtype."""
        return {"task": self.task.name, "num_features": int(self.x.shape[1]),
                "num_outputs": int(self.rank.meta.get("num_outputs", 0)),
                "normalize_features": self.rank.normalize_features, "halo": [str(p) for p in self.halo_policies],
                "dtype": str(self.rank.dtype).replace("torch.", "")}

    def save_checkpoint(self, directory) -> None:
        """Rank 0 writes ``directory/checkpoint.pt`` atomically; the others wait until it is complete.

        Args:
            directory (str | Path): the checkpoint folder (made if missing).
        """
        # every rank gathers with sharded embeddings (collective); else rank 0 alone
        state = self.state_dict() if self.embedding_shards or self.comm.rank == 0 else None
        if self.comm.rank == 0:
            self.progress.enter("writing the checkpoint")
            path = save_checkpoint(directory, state)
            log.info("checkpoint at epoch %d: %s", self.epoch, path)
        self.progress.enter("checkpoint barrier")
        self.comm.barrier()

    def load_checkpoint(self, directory) -> None:
        """Resume from ``directory/checkpoint.pt`` (every rank reads it), after checking that it fits this run
        (:func:`gnnpart.checkpoint.check_resume`: graph, task, feature normalisation, model settings).

        Args:
            directory (str | Path): the checkpoint folder.
        """
        state = load_checkpoint(directory)
        check_resume(state, directory, self.graph_identity(), self.inference_settings(), self.settings)
        what = f"checkpoint {Path(directory) / CHECKPOINT_FILE} does not fit this model"
        if self.embedding_shards:  # this rank's rows, by global id: the checkpoint may come from another partition
            record = {"sizes": state.get("shards"), "num_nodes": self.graph_identity()["num_nodes"]}
            state["model"] = shards.local_weights(self.model, state["model"], what, **record)
            state["optimizer"] = shards.local_optimizer(self.model, self.optimizer, state["optimizer"], what,
                                                        **record)
            if state["best"].get("state") is not None:
                state["best"]["state"] = shards.local_weights(self.model, state["best"]["state"], what, **record)
        load_weights(self.model, state["model"], what)
        load_weights(self.optimizer, state["optimizer"], what)
        self.reducer.zero_grad()
        self.epoch = int(state["epoch"])
        self.best = BestRecord.from_dict(state["best"])
        torch.set_rng_state(state["rng"])
