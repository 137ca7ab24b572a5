"""MPI worker: train several models for a few steps and save losses and final weights (rank 0).

Usage: mpiexec -n N python -m mpi4py tests/workers/train_worker.py PART_DIR OUT.npz STEPS DTYPE SPEC [SPEC ...]
       [-- PART_DIR OUT.npz STEPS DTYPE SPEC [SPEC ...] ...]
(several groups, separated by ``--``, run in one launch: starting the ranks costs more than a group's steps)
with SPEC = model:hidden:layers:dropout:input_dropout[:key=value,...] (keys: norm, jk, residual). The weights are initialised from a fixed seed,
so runs on any number of ranks start from the same model.

Environment: GNNPART_TEST_DEVICE (cpu, cuda; default cpu), GNNPART_TEST_TRANSPORT (default mpi) and
GNNPART_TEST_HALO (a --halo spec; default exact) choose where and how the ranks train;
GNNPART_TEST_NORMALIZE=0 keeps the features as they are (default: row-normalised).
"""
import os
import sys

import numpy as np
import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import build_model
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.workers.env import placement
from tests.workers.weights import keep_weights


def main(part_dir, out, steps, dtype, *specs, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, placement=placement(), dtype=getattr(torch, dtype),
                     normalize_features=os.environ.get("GNNPART_TEST_NORMALIZE", "1") == "1")
    results = {}
    for spec in specs:
        name, hidden, layers, dropout, input_dropout, *extra = spec.split(":")
        options = dict(item.split("=") for item in extra[0].split(",")) if extra else {}
        if "residual" in options:
            options["residual"] = options["residual"] == "1"
        torch.manual_seed(1234)
        model = build_model(name, meta["num_features"], int(hidden), meta["num_classes"], int(layers),
                            float(dropout), float(input_dropout), heads=2, edge_dim=meta["num_edge_features"],
                            **options)
        trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=7, eval_every=1000),
                          halo=os.environ.get("GNNPART_TEST_HALO"))
        history = trainer.fit(int(steps), restore_best=False)
        results[f"{spec}/loss"] = np.array([r.loss for r in history])
        results[f"{spec}/halo_bytes"] = np.array([r.halo_bytes for r in history])
        keep_weights(results, spec, comm, model, trainer.device)
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    args = sys.argv[1:]
    while args:
        group, args = (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
        main(*group)
