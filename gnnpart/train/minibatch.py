"""Mini-batch training: an epoch of sampled batches, every step taken by every rank together.

Epoch ``e`` cuts the training nodes into global batches (:mod:`gnnpart.sample.batches`); each rank samples the
blocks of its seeds in the batch (:class:`~gnnpart.sample.sampler.NeighborSampler`), fetches its input nodes' rows
(:class:`~gnnpart.sample.fetch.FeatureFetcher`) and runs the model on the blocks (:class:`~gnnpart.sample.Blocks`).
The loss of a step is the sum over the batch's labelled seeds on every rank divided by their global count, and the
gradients are all-reduced as in full-graph training: N ranks take the steps of one process that trains on the same
global batches (tested). Dropout masks are keyed by (seed, global step, global id).

What cannot run on sampled neighbourhoods is refused when the trainer is made, in one line each
(:func:`check_minibatch`): halo policies and pre-aggregation (nothing is exchanged between layers), typed graphs,
layers that do not declare ``runs_on_blocks`` (convs that need whole neighbourhoods: the square form, hop by hop,
the whole graph's degrees), norms that mix rows, and jumping knowledge.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from gnnpart.nn.contract import halo_layers
from gnnpart.nn.norm import SyncBatchNorm
from gnnpart.sample.batches import epoch_batches
from gnnpart.sample.block import Blocks
from gnnpart.sample.fetch import FeatureFetcher
from gnnpart.sample.sampler import NeighborSampler

log = logging.getLogger(__name__)

POLL_S = 2e-4
"""Seconds between the preparing thread's tests of its all-to-alls (it sleeps between them)."""


def check_minibatch(model, rank, policies, fanouts) -> None:
    """Refuse, in one line each, what cannot train on sampled blocks (see the module docstring).

    Args:
        model (torch.nn.Module): the model.
        rank (Rank): this rank.
        policies (list[HaloPolicy]): the layers' halo policies.
        fanouts (tuple[int]): one per halo layer.
    """
    layers = halo_layers(model)
    if len(fanouts) != len(layers):
        raise ValueError(f"`fanouts` must give one fanout per halo layer of the model ({len(layers)}) (got "
                         f"{len(fanouts)}: {','.join(map(str, fanouts))})")
    if rank.types is not None:
        raise ValueError("mini-batch training samples homogeneous graphs; this partition is typed (node and edge "
                         "types): train it full-graph (without `batch_size`)")
    if any(not p.is_exact for p in policies):
        bad = next(p for p in policies if not p.is_exact)
        raise ValueError(f"halo policies (`halo` {bad}) act on the rows exchanged between layers, and a mini-batch "
                         "exchanges none (its rows are fetched once, before the first layer): use the exact policy")
    if rank.graph.sums is not None:
        raise ValueError(f"`aggregate_at` {rank.graph.aggregate_at!r} pre-aggregates exchanged rows, and a mini-batch "
                         "exchanges none: use aggregate_at='receiver'")
    for layer in layers:
        if not getattr(layer, "runs_on_blocks", False):
            why = getattr(layer, "blocks_refusal", None) or (
                "it does not declare `runs_on_blocks` (a layer that reads its targets' rows with graph.targets(h) "
                "and needs only their sampled in-edges may set it)")
            raise ValueError(f"layer {layer.layer_id} ({type(layer).__name__}) cannot run on sampled blocks: {why}")
    for module in model.modules():
        if isinstance(module, SyncBatchNorm):
            raise ValueError("batch norm averages over every row of a layer, and a sampled batch's rows differ by "
                             "rank and step: use norm='layer' (per row) or none in mini-batch training")
    if getattr(model, "jk_mode", None) is not None:
        raise ValueError(f"jumping knowledge (jk={model.jk_mode!r}) combines every layer's rows, and on sampled "
                         "blocks each layer has rows of different nodes: use jk=None in mini-batch training")


@dataclass
class StepCounts:
    """What an epoch of steps did on this rank (seconds) and received (bytes). With the next batch prepared
    during each step, ``sample_s`` and ``fetch_s`` are the preparing thread's and overlap the steps;
    ``wait_s`` is the time the steps waited for their batch."""

    steps: int = 0
    sample_s: float = 0.0
    fetch_s: float = 0.0
    wait_s: float = 0.0
    compute_s: float = 0.0
    allreduce_s: float = 0.0
    sample_bytes: int = 0
    fetch_bytes: int = 0
    allreduce_bytes: int = 0


@dataclass
class Batch:
    """A batch ready for its step: this rank's seeds, its blocks, its input rows, and how long they took."""

    index: int
    seeds: np.ndarray
    blocks: list
    x: torch.Tensor
    sample_s: float
    fetch_s: float


class MiniBatchLoop:
    """The sampler, the feature fetcher and the epoch of steps of one trainer (built by the Trainer).

    The next batch is sampled and its features fetched while the current one computes: a thread of its own does it,
    on a duplicate of the job's communicator, so that its all-to-alls never meet the step's gradient all-reduce
    (each communicator sees its collectives in the same order on every rank). That needs MPI's
    ``MPI_THREAD_MULTIPLE``, which mpi4py asks for, and a core beside the step's: where the MPI gives less, the rank
    runs one torch thread, or ``overlap`` is off, each batch is prepared in turn. Either way the batches, and so the
    steps, are the same.

    Args:
        trainer (Trainer): the trainer whose model, optimizer, reducer and rank it uses.
        batch_size (int): seeds a global batch holds.
        fanouts (tuple[int]): sampled in-edges per target at each hop, from the seeds outwards.
        overlap (bool): prepare the next batch during the current step (default True).
    """

    def __init__(self, trainer, batch_size: int, fanouts, overlap: bool = True):
        self.trainer = trainer
        rank = trainer.rank
        self.batch_size, self.fanouts = int(batch_size), tuple(int(k) for k in fanouts)
        self.mpi = rank.comm.comm.Dup() if rank.comm.size > 1 else None  # the batches' own communicator
        self.sampler = NeighborSampler(rank.part, self.mpi, self.fanouts, trainer.options.seed)
        halo = rank.exchange.exchange_async(rank.x).wait()[rank.x.shape[0]:]  # the 1-hop halo's rows, once
        self.fetcher = FeatureFetcher(rank.x, halo, rank.part.global_ids, self.mpi)
        rows = np.flatnonzero(trainer.masks["train"].cpu().numpy())  # training nodes are labelled (Graph's rule)
        self.train_local = rows.astype(np.int64)
        self.train_gids = np.asarray(rank.part.global_ids, dtype=np.int64)[rows]
        # a thread of its own needs a core of its own: a rank of one thread (one core) would share it with the
        # steps, and both lose (measured: 2 ranks x 1 thread on 2 cores, 3.6x slower epochs with the thread)
        self.overlap = bool(overlap) and torch.get_num_threads() >= 2 and (self.mpi is None or _threads_allowed())
        if self.overlap:  # the preparing thread tests its all-to-alls, asleep between, instead of spinning in MPI
            self.sampler.mail.poll_s = self.fetcher.mail.poll_s = POLL_S
        self.step_losses: list = []
        self.batches_said = False

    def epoch(self, epoch: int) -> tuple[float, StepCounts]:
        """One epoch of steps; returns the epoch's loss (the summed loss of every labelled seed over their number)
        and what the steps did."""
        t = self.trainer
        counts = StepCounts()
        start = time.perf_counter()
        batches = epoch_batches(self.mpi, self.train_local, self.train_gids, self.batch_size, t.options.seed, epoch)
        counts.sample_s += time.perf_counter() - start
        labelled = [t.task.count(t.y.index_select(0, torch.from_numpy(s).to(t.y.device))) for s in batches.seeds]
        totals = t.comm.sum_scalars(labelled + [0.0])[:-1]  # each batch's labelled seeds, over the ranks
        self._say_one_batch(batches)
        sample_bytes0, fetch_bytes0 = self.sampler.mail.bytes, self.fetcher.mail.bytes
        mine = []
        for batch in self._prepared(epoch, batches.seeds, counts):
            counts.sample_s += batch.sample_s
            counts.fetch_s += batch.fetch_s
            mine.append(self._step(epoch, batches.num_batches, batch, max(totals[batch.index], 1.0), counts))
        self.step_losses = t.comm.sum_scalars(mine)  # each step's loss over the ranks: one all-reduce an epoch
        counts.steps = batches.num_batches
        counts.sample_bytes = self.sampler.mail.bytes - sample_bytes0
        counts.fetch_bytes = self.fetcher.mail.bytes - fetch_bytes0
        epoch_loss = sum(loss * n for loss, n in zip(self.step_losses, totals))
        return epoch_loss / max(sum(totals), 1.0), counts

    def _say_one_batch(self, batches) -> None:
        if batches.num_batches == 1 and batches.total < self.batch_size and not self.batches_said:
            self.batches_said = True
            if self.trainer.comm.rank == 0:
                log.warning("batch_size %d is larger than the %d training nodes: every epoch is one batch",
                            self.batch_size, batches.total)

    def _prepare(self, epoch: int, index: int, seeds: np.ndarray) -> Batch:
        """Sample batch ``index``'s blocks and fetch its input rows (collective over the batches' communicator)."""
        t0 = time.perf_counter()
        blocks = self.sampler.sample(seeds, epoch, index)
        nodes = self.sampler.input_nodes
        t1 = time.perf_counter()
        x = self.fetcher.rows(nodes.gid, nodes.owner, nodes.home, nodes.here)
        return Batch(index, seeds, blocks, x, t1 - t0, time.perf_counter() - t1)

    def _prepared(self, epoch: int, seeds: list, counts: StepCounts):
        """The epoch's batches in order, each prepared during the step before it (with :attr:`overlap`)."""
        t = self.trainer
        if not self.overlap:
            for index, mine in enumerate(seeds):
                t.progress.enter(f"sampling batch {index}")
                yield self._prepare(epoch, index, mine)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gnnpart-sampler") as pool:
            pending = pool.submit(self._prepare, epoch, 0, seeds[0])
            for index in range(len(seeds)):
                t.progress.enter(f"waiting for batch {index}")
                start = time.perf_counter()
                batch = pending.result()
                counts.wait_s += time.perf_counter() - start
                if index + 1 < len(seeds):
                    pending = pool.submit(self._prepare, epoch, index + 1, seeds[index + 1])
                yield batch

    def _step(self, epoch: int, num_batches: int, batch: Batch, total: float, counts: StepCounts) -> float:
        t = self.trainer
        start = time.perf_counter()
        t.progress.enter("forward")
        t.reducer.zero_grad()
        t.reducer.seconds, t.reducer.bytes = 0.0, 0
        t.model.train()
        loss_value = 0.0
        if len(batch.seeds):  # a rank without seeds in the batch still takes the step (its gradient is zero)
            graph = Blocks(batch.blocks, t.comm, t.options.seed, epoch * num_batches + batch.index, t.device,
                           t.rank.dtype)
            graph.progress = t.progress
            with graph.following(t.model):
                out = t.model(batch.x, graph)
            y = t.y.index_select(0, torch.from_numpy(batch.seeds).to(t.y.device))
            loss = t.loss_fn(out, y) / total
            t.progress.enter("backward")
            loss.backward()
            loss_value = float(loss.detach())
        t.progress.enter("gradient all-reduce")
        t.reducer.allreduce()
        t.progress.enter("optimizer step")
        t.optimizer.step()
        if t.device.type == "cuda":
            torch.cuda.synchronize(t.device)
        counts.allreduce_s += t.reducer.seconds
        counts.allreduce_bytes += t.reducer.bytes
        counts.compute_s += time.perf_counter() - start - t.reducer.seconds
        return loss_value


def _threads_allowed() -> bool:
    """Whether MPI lets two threads of a rank make calls at once (``MPI_THREAD_MULTIPLE``)."""
    from mpi4py import MPI

    return MPI.Query_thread() >= MPI.THREAD_MULTIPLE
