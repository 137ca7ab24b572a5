"""MPI worker: train GCN, GraphSAGE and GIN with each ``aggregate_at`` and save losses, weights, bytes and the plan.

Usage: mpiexec -n N python -m mpi4py tests/workers/sums_worker.py PART_DIR OUT.npz STEPS
(STEPS 0: only the plans)
Every (mode, halo, spec) run starts from the same weights (a fixed seed), so runs on any number of ranks compare.
``mode`` ``default`` opens the rank without ``aggregate_at``. Rank 0 writes ``OUT.npz`` with, per run,
``{mode}/{halo}/{spec}/loss`` (per step), ``.../weight/<name>``, ``.../bytes`` (halo bytes per step),
``.../exact`` (bytes_exact per step), ``.../sums`` (partial-sum bytes per step) and ``.../setup`` (the bytes of
the one-time exchanges at setup), and per mode
``{mode}/pairs``: ``[P, 4]`` rows ``(from, to, rows, sums)`` of the plan's forward messages, from every rank.
"""
import sys

import numpy as np
import torch

from gnnpart.comm import Communicator
from gnnpart.nn import build_model
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions

SPECS = ["gcn:0.5", "sage:0.5", "gin:0.5", "gcn:0"]
"""model:input_dropout, hidden 16. With input dropout 0 and no more features than 16 (the tests' small graph), the
first layer aggregates its constant input once, at setup, and caches it; on Cora (1433 features) it transforms
first and exchanges every epoch."""
RUNS = [("default", "exact"), ("receiver", "exact"), ("sender", "exact"), ("auto", "exact"),
        ("receiver", "stale:2"), ("auto", "stale:2"), ("receiver", "delta:0"), ("auto", "delta:0"),
        ("auto", "fp16"), ("auto", "int8")]


def plan_pairs(rank, comm) -> np.ndarray:
    """``[P, 4]`` ``(from, to, rows, sums)`` of every rank's forward messages (on rank 0)."""
    sums = rank.graph.sums
    rows = []
    if sums is not None:
        plan, mask = sums.plan, sums.sums_sent.cpu().numpy()
        for q in range(comm.size):
            start, count = int(plan.send_offset[q]), int(plan.send_rows[q])
            if count:
                n_sums = int(mask[start:start + count].sum())
                rows.append([comm.rank, q, count - n_sums, n_sums])
    gathered = comm.comm.gather(np.array(rows, dtype=np.int64).reshape(-1, 4), root=0)
    return np.concatenate(gathered) if comm.rank == 0 else None


def main(part_dir, out, steps, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    results, ranks = {}, {}
    for mode, halo in RUNS:
        if mode not in ranks:
            options = {} if mode == "default" else {"aggregate_at": mode}
            ranks[mode] = Rank.open(part_dir, comm, dtype=torch.float64, normalize_features=True, **options)
            pairs = plan_pairs(ranks[mode], comm)
            if comm.rank == 0:
                results[f"{mode}/pairs"] = pairs
        rank = ranks[mode]
        for spec in SPECS if int(steps) else ():
            name, input_dropout = spec.split(":")
            torch.manual_seed(1234)
            model = build_model(name, rank.x.shape[1], 16, int(rank.meta["num_classes"]), 2, 0.5,
                                float(input_dropout))
            trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=7, eval_every=1000),
                              halo=halo)
            history = trainer.fit(int(steps), restore_best=False)
            tag = f"{mode}/{halo}/{spec}"
            results[f"{tag}/loss"] = np.array([r.loss for r in history])
            results[f"{tag}/bytes"] = np.array([r.halo_bytes for r in history])
            results[f"{tag}/exact"] = np.array([r.halo_bytes_exact for r in history])
            results[f"{tag}/setup"] = np.array(trainer.setup_halo_bytes)
            results[f"{tag}/sums"] = np.array([sum(d[k]["partial_sums"] for d in r.halo_bytes_detail.values()
                                                   for k in ("forward", "backward")) for r in history])
            for key, value in model.state_dict().items():
                results[f"{tag}/weight/{key}"] = value.cpu().numpy()
    if comm.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
