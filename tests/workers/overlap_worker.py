"""MPI worker: the built-in layers trained with the halo exchange overlapped, and without, under several policies.

Usage: mpiexec -n N python -m mpi4py tests/workers/overlap_worker.py PART_DIR OUT.npz
For each model and ``--halo`` spec of RUNS, and each of overlap on and off, rank 0 saves the per-epoch losses
(``MODEL/SPEC/on|off/loss``), the final weights (``.../weight/NAME``), and ``halo_s`` and ``halo_wait_s`` of each
epoch (``.../halo_s``, ``.../halo_wait_s``), as this rank measured them.
"""
import sys

import numpy as np
import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import build_model
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.workers.env import placement

MODELS = ("gcn", "sage", "gin")
SPECS = ("exact", "int8", "stale:1", "sample:0.5")
EPOCHS = 3


def main(part_dir, out, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    ranks = {mode: Rank.open(part_dir, comm, placement=placement(), overlap=mode == "on") for mode in ("on", "off")}
    results = {}
    for model_name in MODELS:
        for spec in SPECS:
            for mode in ("on", "off"):
                torch.manual_seed(0)
                # input dropout: the first layer exchanges every epoch (no cached aggregation); widths 10 -> 24 -> 4
                # aggregate first in layer 0 and transform first in layer 1
                model = build_model(model_name, meta["num_features"], 24, meta["num_outputs"], 2, 0.5, 0.2)
                trainer = Trainer(model, ranks[mode], options=TrainOptions(seed=3, eval_every=10**6, watchdog=None),
                                  halo=spec)
                history = trainer.fit(EPOCHS, restore_best=False)
                key = f"{model_name}/{spec}/{mode}"
                results[f"{key}/loss"] = np.array([r.loss for r in history])
                results[f"{key}/halo_s"] = np.array([r.halo_s for r in history])
                results[f"{key}/halo_wait_s"] = np.array([r.halo_wait_s for r in history])
                for name, value in model.state_dict().items():
                    results[f"{key}/weight/{name}"] = value.cpu().numpy().copy()
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
