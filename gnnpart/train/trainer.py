"""The Trainer: full-graph training of a distributed model, one rank per part."""
from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gnnpart.comm import Communicator, ExchangePlan, GradientAllreduce, HaloExchange, broadcast_parameters, parse_halo
from gnnpart.comm.stats import DIRECTIONS, KINDS
from gnnpart.nn.gates import HaloGates
from gnnpart.nn.local_graph import LocalGraph
from gnnpart.partition.store import Partition
from gnnpart.train.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """One epoch's numbers, summed or reduced over all ranks (see README: metrics file)."""

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


class Trainer:
    """Train ``model`` on this rank's ``partition``; every rank runs the same calls.

    Args:
        model (DistModel): a model of :mod:`gnnpart.nn` (built identically on every rank).
        partition (Partition): this rank's part (``load_partition(dir, comm.rank)``).
        comm (Communicator): the job's communicator; its size must equal the number of parts.
        optimizer (torch.optim.Optimizer, optional): default Adam(lr, weight_decay).
        lr (float), weight_decay (float): for the default optimizer (0.01, 5e-4).
        seed (int): keys the dropout masks (default 0).
        eval_every (int): evaluate every k epochs (and at the last), default 1.
        normalize_features (bool): divide each feature row by its sum (PyG's NormalizeFeatures).
        metrics_file (str, optional): rank 0 appends one JSON line per epoch, then a final line.
        checkpoint_dir (str, optional), checkpoint_every (int): rank 0 checkpoints every k epochs.
        printer (callable, optional): rank 0 prints one line per epoch through it (default: none).
        dtype (torch.dtype): precision of the model and features (default float32). Ranks agree with one
            process up to float rounding, which reassociated sums change; training can amplify that
            (a ReLU input near 0, Adam on a gradient near 0). float64 keeps the runs together far longer.
        halo (str | list, optional): the halo exchange policy, ``--halo`` syntax (see
            :mod:`gnnpart.comm.policy`): one spec for all layers, or one per layer. Default exact. A
            ``learned`` policy adds ``model.halo_gates`` (a :class:`~gnnpart.nn.gates.HaloGates`) to the model.
    """

    def __init__(self, model, partition: Partition, comm: Communicator, optimizer=None, lr: float = 0.01,
                 weight_decay: float = 5e-4, seed: int = 0, eval_every: int = 1, normalize_features: bool = False,
                 metrics_file=None, checkpoint_dir=None, checkpoint_every: int = 0, printer=None,
                 dtype: torch.dtype = torch.float32, halo=None):
        if eval_every < 1:
            raise ValueError(f"`eval_every` must be >= 1 (got {eval_every})")
        if checkpoint_every < 0:
            raise ValueError(f"`checkpoint_every` must be >= 0 (got {checkpoint_every})")
        self.model, self.part, self.comm = model, partition, comm
        convs = list(getattr(model, "convs", []))
        self.halo_policies = parse_halo(halo, max(1, len(convs)))
        global_ids = torch.from_numpy(np.ascontiguousarray(partition.global_ids)).long()
        self.exchange = HaloExchange(comm, ExchangePlan.from_partition(partition, comm.size), global_ids)
        self.graph = LocalGraph(partition, self.exchange, seed)
        learned = {i: p for i, p in enumerate(self.halo_policies)
                   if p.learned is not None and i < len(convs) and convs[i].exchanges_each_epoch}
        gates = None
        if learned:
            gates = model.halo_gates = HaloGates({i: convs[i].exchange_width for i in learned},
                                                 {i: p.learned for i, p in learned.items()},
                                                 {i: p.learned_min for i, p in learned.items()})
        self.graph.use_policies(self.halo_policies, gates)
        x = torch.from_numpy(np.array(partition.x, dtype=np.float32))
        if normalize_features:
            x = x / x.sum(dim=1, keepdim=True).clamp(min=1e-12)
        self.x = x.to(dtype)
        model.to(dtype)
        self.y = torch.from_numpy(np.asarray(partition.y)).long()
        self.masks = {k: torch.from_numpy(np.asarray(getattr(partition, f"{k}_mask"))) for k in ("train", "val", "test")}
        self.eval_every = eval_every
        self.metrics_file = Path(metrics_file) if metrics_file else None
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.printer = printer if comm.rank == 0 else None

        broadcast_parameters(comm, list(model.parameters()) + list(model.buffers()))
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.reducer = GradientAllreduce(comm, model.parameters())
        self.num_train = int(comm.sum_scalars([int(self.masks["train"].sum())])[0])
        if self.num_train == 0:
            raise ValueError("the partition has no training nodes on any rank: nothing to train on")
        self.epoch = 0
        self.history: list[EpochRecord] = []
        self.best = {"val_acc": -1.0, "epoch": -1, "test_acc": None, "state": None}
        start = time.perf_counter()
        self.setup_halo_bytes = self._prepare()
        self.setup_s = time.perf_counter() - start

    # ------------------------------------------------------------------------------ steps
    def _prepare(self) -> int:
        """Fill the caches of constant-input layers (their one-time, exact halo exchange) and count its bytes."""
        self.exchange.stats.reset()
        self.graph.training = False
        for conv in getattr(self.model, "convs", []):
            if getattr(conv, "constant_input", False) and getattr(conv, "aggregate_first", False):
                conv.sparse_input(self.x, self.graph)
                break
        sent = int(self.comm.sum_scalars([self.exchange.stats.bytes])[0])
        self.exchange.stats.reset()
        return sent

    def train_step(self) -> tuple[float, dict]:
        """One forward, backward, gradient all-reduce and optimizer step. Returns (global loss, timings)."""
        self.model.train()
        self.graph.training, self.graph.epoch = True, self.epoch
        self.exchange.stats.reset()
        self.reducer.seconds, self.reducer.bytes = 0.0, 0
        start = time.perf_counter()
        self.reducer.zero_grad()
        out = self.model(self.x, self.graph)
        train = self.masks["train"]
        loss = F.cross_entropy(out[train], self.y[train], reduction="sum") / self.num_train
        gates = getattr(self.model, "halo_gates", None)
        objective = loss if gates is None else loss + gates.penalty() / self.comm.size  # summed over ranks
        objective.backward()
        self.reducer.allreduce()
        self.optimizer.step()
        seconds = time.perf_counter() - start
        stats = self.exchange.stats
        local = [loss.item(), stats.bytes, self.reducer.bytes]
        total_loss, halo_bytes, ar_bytes = self.comm.sum_scalars(local)
        num_layers = len(getattr(self.model, "convs", []))
        by_layer = dict(sorted(stats.bytes_by_layer.items()))
        layer_totals = self.comm.sum_scalars([by_layer.get(i, 0) for i in range(num_layers)])
        zero = {d: dict.fromkeys(KINDS, 0) for d in DIRECTIONS}
        flat = [stats.detail.get(i, zero)[d][k] for i in range(num_layers) for d in DIRECTIONS for k in KINDS]
        flat = iter(self.comm.sum_scalars(flat + [stats.bytes_exact]))
        detail = {str(i): {d: {k: int(next(flat)) for k in KINDS} for d in DIRECTIONS} for i in range(num_layers)}
        exact_bytes = int(next(flat))
        timing = {
            "epoch_s": seconds, "halo_s": stats.seconds, "allreduce_s": self.reducer.seconds,
            "compute_s": seconds - stats.seconds - self.reducer.seconds,
            "halo_bytes": int(halo_bytes), "allreduce_bytes": int(ar_bytes),
            "halo_bytes_by_layer": {str(i): int(b) for i, b in enumerate(layer_totals)},
            "halo_bytes_exact": exact_bytes, "halo_bytes_detail": detail,
            "halo_channels_kept": {} if gates is None else {str(k): v for k, v in gates.kept_fraction().items()},
        }
        return total_loss, timing

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Accuracy on train/val/test over the whole graph (summed correct counts over summed totals)."""
        self.model.eval()
        self.graph.training = False
        pred = self.model(self.x, self.graph).argmax(dim=1)
        counts = []
        for key in ("train", "val", "test"):
            m = self.masks[key]
            counts += [int((pred[m] == self.y[m]).sum()), int(m.sum())]
        c = self.comm.sum_scalars(counts)
        return {f"{k}_acc": (c[2 * i] / c[2 * i + 1] if c[2 * i + 1] else None) for i, k in enumerate(("train", "val", "test"))}

    # ------------------------------------------------------------------------------ the loop
    def fit(self, epochs: int, restore_best: bool = True) -> list[EpochRecord]:
        """Train until ``epochs`` epochs have run in all (a resumed trainer continues its count)."""
        if epochs < self.epoch:
            raise ValueError(f"`epochs` ({epochs}) is below the epochs already run ({self.epoch})")
        start = time.perf_counter()
        while self.epoch < epochs:
            loss, timing = self.train_step()
            accs = {"train_acc": None, "val_acc": None, "test_acc": None}
            eval_s = 0.0
            if (self.epoch + 1) % self.eval_every == 0 or self.epoch + 1 == epochs:
                t0 = time.perf_counter()
                accs = self.evaluate()
                eval_s = time.perf_counter() - t0
                if accs["val_acc"] is not None and accs["val_acc"] > self.best["val_acc"]:
                    self.best = {"val_acc": accs["val_acc"], "epoch": self.epoch + 1, "test_acc": accs["test_acc"],
                                 "state": copy.deepcopy(self.model.state_dict())}
            record = EpochRecord(epoch=self.epoch + 1, loss=loss, eval_s=eval_s, **accs, **timing)
            self.history.append(record)
            self.epoch += 1
            self._emit(record)
            if self.checkpoint_dir and self.checkpoint_every and self.epoch % self.checkpoint_every == 0:
                self.save_checkpoint()
        self.exchange.drain()
        total = time.perf_counter() - start
        if self.comm.rank == 0 and self.metrics_file:
            self._write_metrics({"final": True, "best_val_acc": self.best["val_acc"], "best_epoch": self.best["epoch"],
                                 "test_acc": self.best["test_acc"], "total_s": total, "epochs": self.epoch,
                                 "setup_halo_bytes": self.setup_halo_bytes})
        if restore_best and self.best["state"] is not None:
            self.model.load_state_dict(self.best["state"])
        return self.history

    def _emit(self, r: EpochRecord) -> None:
        if self.comm.rank != 0:
            return
        if self.metrics_file:
            self._write_metrics(asdict(r))
        if self.printer:
            acc = "" if r.val_acc is None else f"  train {r.train_acc:.4f}  val {r.val_acc:.4f}  test {r.test_acc:.4f}"
            ratio = f", {r.halo_bytes / r.halo_bytes_exact:.3f}x exact" if r.halo_bytes_exact else ""
            self.printer(f"epoch {r.epoch:4d}  loss {r.loss:.4f}{acc}  {r.epoch_s * 1000:.0f} ms "
                         f"(halo {r.halo_s * 1000:.0f} ms, {r.halo_bytes / 2**20:.2f} MiB{ratio}; "
                         f"allreduce {r.allreduce_s * 1000:.0f} ms)")

    def _write_metrics(self, obj: dict) -> None:
        with open(self.metrics_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(obj) + "\n")

    # ------------------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "best": dict(self.best), "losses": [r.loss for r in self.history], "rng": torch.get_rng_state()}

    def save_checkpoint(self) -> None:
        """Rank 0 writes the checkpoint; the others wait until it is complete."""
        if self.comm.rank == 0:
            path = save_checkpoint(self.checkpoint_dir, self.state_dict())
            log.info("checkpoint at epoch %d: %s", self.epoch, path)
        self.comm.barrier()

    def load_checkpoint(self, directory) -> None:
        """Resume from ``directory/checkpoint.pt`` (every rank reads it)."""
        state = load_checkpoint(directory)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.reducer.zero_grad()
        self.epoch = int(state["epoch"])
        self.best = dict(state["best"])
        torch.set_rng_state(state["rng"])
