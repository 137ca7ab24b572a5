"""MPI worker: mini-batch training and sampling, the same on any number of ranks.

Functions (run through tests/workers/by_size.py, ``minibatch_worker[:FUNCTION]``):

* ``main PART_DIR OUT.npz EPOCHS BATCH FANOUTS SPEC [SPEC ...]``: train each model (SPEC as train_worker's, plus
  ``gatv2`` for a BasicGNN of ``HaloConv(GATv2Conv)`` layers) mini-batch in float64, and save every step's loss and
  the final weights (rank 0), on the device GNNPART_TEST_DEVICE names (tests/workers/env.py);
* ``blocks PART_DIR OUT.npz BATCH FANOUTS``: sample epoch 0's batches, and save every (batch, hop, target, source)
  edge and every fetched row's (global id, row) of every rank (rank 0);
"""
import sys

import numpy as np
import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import HaloConv, build_model
from gnnpart.nn.models import BasicGNN
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.workers.env import placement
from tests.workers.weights import keep_weights


class GATv2(BasicGNN):
    """A BasicGNN of PyG's GATv2Conv, each wrapped in HaloConv (its pair form)."""

    def init_conv(self, in_channels, out_channels, last=False, **kwargs):
        from torch_geometric.nn import GATv2Conv

        return HaloConv(GATv2Conv(in_channels, out_channels, heads=1, add_self_loops=True))


def _model(spec, meta):
    name, hidden, layers, dropout, input_dropout, *extra = spec.split(":")
    options = dict(item.split("=") for item in extra[0].split(",")) if extra else {}
    if "residual" in options:
        options["residual"] = options["residual"] == "1"
    torch.manual_seed(1234)
    if name == "gatv2":
        return GATv2(meta["num_features"], int(hidden), int(layers), meta["num_outputs"], float(dropout),
                     input_dropout=float(input_dropout))
    return build_model(name, meta["num_features"], int(hidden), meta["num_outputs"], int(layers), float(dropout),
                       float(input_dropout), heads=2, edge_dim=meta["num_edge_features"], **options)


def main(part_dir, out, epochs, batch, fanouts, *specs, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, placement=placement(), dtype=torch.float64)
    results = {}
    fanouts = tuple(int(k) for k in fanouts.split(","))
    for spec in specs:
        model = _model(spec, meta)
        options = TrainOptions(lr=0.01, weight_decay=5e-4, seed=7, eval_every=1000, batch_size=int(batch),
                               fanouts=fanouts)
        trainer = Trainer(model, rank, options=options)
        history = trainer.fit(int(epochs), restore_best=False)
        results[f"{spec}/loss"] = np.array([loss for r in history for loss in r.step_losses])
        results[f"{spec}/epoch_loss"] = np.array([r.loss for r in trainer.history])
        keep_weights(results, spec, comm, model, trainer.device)
    if comm.rank == 0:
        np.savez(out, **results)


def blocks(part_dir, out, batch, fanouts, comm=None):
    from gnnpart.sample.batches import epoch_batches
    from gnnpart.sample.fetch import FeatureFetcher
    from gnnpart.sample.sampler import NeighborSampler

    comm = comm or Communicator()
    rank = Rank.open(part_dir, comm, dtype=torch.float64)
    mpi = comm.comm if comm.size > 1 else None
    fanouts = tuple(int(k) for k in fanouts.split(","))
    sampler = NeighborSampler(rank.part, mpi, fanouts, seed=5)
    halo = rank.exchange.exchange_async(rank.x).wait()[rank.x.shape[0]:]
    fetcher = FeatureFetcher(rank.x, halo, rank.part.global_ids, mpi)
    train = np.flatnonzero(rank.masks["train"].numpy())
    gids = np.asarray(rank.part.global_ids)[train]
    batches = epoch_batches(mpi, train, gids, int(batch), 5, 0)
    edges, rows, seeds = [], [], []
    for b, mine in enumerate(batches.seeds):
        layers = sampler.sample(mine, 0, b)
        seeds.append(np.stack([np.full(len(mine), b), gids_of(rank, mine)], axis=1))
        for layer, block in enumerate(layers):
            hop = len(layers) - 1 - layer
            target = np.repeat(block.target_ids, block.counts)
            source = block.source_ids[block.cols]
            edges.append(np.stack([np.full(len(target), b), np.full(len(target), hop), target, source], axis=1))
        nodes = sampler.input_nodes
        fetched = fetcher.rows(nodes.gid, nodes.owner, nodes.home, nodes.here).numpy()
        rows.append(np.concatenate([nodes.gid.reshape(-1, 1).astype(np.float64), fetched], axis=1))
    edges = comm.gather_rows(np.concatenate(edges), 0)
    rows = comm.gather_rows(np.concatenate(rows), 0)
    seeds = comm.gather_rows(np.concatenate(seeds), 0)
    if comm.rank == 0:
        np.savez(out, edges=edges, rows=rows, seeds=seeds, num_batches=batches.num_batches)


def gids_of(rank, local):
    return np.asarray(rank.part.global_ids)[local]


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*args)
