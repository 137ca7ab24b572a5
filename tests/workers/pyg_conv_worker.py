"""MPI worker: PyG convs through gnnpart.nn.HaloConv, forward and 10 training steps, in float64.

Usage: mpiexec -n N python -m mpi4py tests/workers/pyg_conv_worker.py PART_DIR OUT.npz STEPS
For each conv of tests/workers/pyg_convs.py, rank 0 saves the initial weights (``NAME/init/KEY``), the evaluation
output of every node in global order (``NAME/forward``) and the per-step losses of the Trainer (``NAME/loss``).
"""
import sys

import numpy as np
import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.workers.pyg_convs import CONVS, TwoLayer
from tests.workers.global_rows import global_rows


def main(part_dir, out, steps, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, dtype=torch.float64, normalize_features=True)
    ids = rank.inner_ids
    results = {}
    for name in CONVS:
        torch.manual_seed(0)
        model = TwoLayer(name, meta["num_features"], meta["num_classes"])
        trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=3, eval_every=1000))
        for key, value in model.state_dict().items():
            results[f"{name}/init/{key}"] = value.numpy().copy()
        model.eval()
        with torch.no_grad():
            out_rows = model(trainer.x, trainer.graph).numpy()
        full = global_rows(comm, ids, out_rows, meta["num_nodes"])
        if full is not None:
            results[f"{name}/forward"] = full
        history = trainer.fit(int(steps), restore_best=False)
        results[f"{name}/loss"] = np.array([r.loss for r in history])
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
