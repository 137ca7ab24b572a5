"""MPI worker: train models of each task for a few steps, evaluate, and predict; rank 0 saves everything.

Usage: mpiexec -n N python -m mpi4py tests/workers/task_worker.py PART_DIR OUT.npz STEPS MODEL [MODEL ...]
Per model (``gcn``, ``sage``, ``gine``...), in float64 with dropout on: the per-step losses, the final weights,
the metrics of ``Trainer.evaluate()`` (as JSON), and the whole graph's outputs, labels and masks gathered in global
order (so the test can recompute every metric); ``Trainer.predict(FILE)`` writes ``OUT.MODEL.npy``.
"""
import json
import sys

import numpy as np
import torch

from gnnpart import read_meta
from gnnpart.comm import Communicator
from gnnpart.nn import build_model
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.workers.env import placement


def main(part_dir, out, steps, *models, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, placement=placement(), dtype=torch.float64)
    part = rank.part
    ids = np.asarray(part.global_ids[: part.num_inner])
    results = {}
    for name in models:
        torch.manual_seed(1234)
        model = build_model(name, meta["num_features"], 16, meta["num_outputs"], 2, 0.5, 0.0,
                            edge_dim=meta["num_edge_features"])
        trainer = Trainer(model, rank, options=TrainOptions(seed=7, eval_every=2))
        history = trainer.fit(int(steps), restore_best=False)
        results[f"{name}/loss"] = np.array([r.loss for r in history])
        results[f"{name}/metrics"] = np.array(json.dumps(trainer.evaluate()))
        results[f"{name}/history"] = np.array(json.dumps([{"val": r.val_score, "metric": r.metric} for r in history]))
        results[f"{name}/best"] = np.array([trainer.best.epoch, trainer.best.val_score])
        for key, value in model.state_dict().items():
            results[f"{name}/w/{key}"] = value.cpu().numpy()
        rows = trainer.predict().numpy()
        local = (ids, rows, np.asarray(part.y), *(np.asarray(getattr(part, f"{k}_mask")) for k in ("train", "val", "test")))
        gathered = comm.comm.gather(local, root=0)
        if comm.rank == 0:
            n = meta["num_nodes"]
            full = {"out": np.zeros((n, rows.shape[1]), np.float32), "y": np.zeros((n,) + part.y.shape[1:], part.y.dtype)}
            full.update({k: np.zeros(n, bool) for k in ("train", "val", "test")})
            for gids, *arrays in gathered:
                for key, arr in zip(("out", "y", "train", "val", "test"), arrays):
                    full[key][gids] = arr
            results.update({f"{name}/full/{k}": v for k, v in full.items()})
        trainer.predict(f"{out}.{name}.npy")
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
