"""MPI worker: every exact row (and variant) of tests/workers/conv_table.py, forward and 5 training steps, in float64.

Usage: mpiexec -n N python -m mpi4py tests/workers/conv_table_worker.py PART_DIR OUT.npz STEPS
For each row, rank 0 saves the evaluation output of every node in global order (``NAME/forward``), the per-step
losses of the Trainer (``NAME/loss``) and the layers' form (``NAME/form``); on one rank also the evaluation
output of the same weights with the PyG convs alone on the whole graph (``NAME/pyg``); a row that fails saves its error
(``NAME/error``) and the others go on.
"""
import sys

import numpy as np
import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.workers.conv_table import ROWS, ConvModel, runnable
from tests.workers.global_rows import global_rows


def main(part_dir, out, steps, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, dtype=torch.float64)
    ids = rank.inner_ids
    results = {}
    for name, row in ROWS.items():
        if not row.exact or not runnable(row):
            continue
        try:
            torch.manual_seed(0)
            model = ConvModel(name, meta["num_features"], meta["num_classes"])
            trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=3, eval_every=1000))
            model.eval()
            with torch.no_grad():
                rows = model(trainer.x, trainer.graph).numpy()
                if comm.size == 1:  # the same weights, PyG alone on the whole graph
                    model.pyg_alone = True
                    results[f"{name}/pyg"] = model(trainer.x, trainer.graph).numpy()[np.argsort(ids)]
                    model.pyg_alone = False
            full = global_rows(comm, ids, rows, meta["num_nodes"])
            if full is not None:
                results[f"{name}/forward"] = full
            history = trainer.fit(int(steps), restore_best=False)
            results[f"{name}/loss"] = np.array([r.loss for r in history])
            results[f"{name}/form"] = np.array(model.conv1.form)
        except Exception as exc:  # noqa: BLE001 - one row's failure is reported by its test, the others still run
            results[f"{name}/error"] = np.array(f"{type(exc).__name__}: {exc}")
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
