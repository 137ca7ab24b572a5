"""Benchmark: accuracy of a 2-layer GCN on Cora and CiteSeer trained on 4 ranks, over 10 seeds.

Configuration of the GCN paper / PyG example: hidden 16, dropout 0.5 on the input and between layers,
lr 0.01, weight decay 5e-4, 200 epochs, row-normalised features; test accuracy at the epoch of best
validation accuracy (and at the last epoch).

    python benchmarks/bench_accuracy.py [--ranks 4] [--seeds 10] [--datasets cora,citeseer] [--model gcn]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def worker(part_dir: str, seeds: int, model_name: str, epochs: int) -> None:
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm, normalize_features=True)
    meta = rank.meta
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = build_model(model_name, meta["num_features"], 16 if model_name != "gat" else 64, meta["num_classes"], 2,
                            dropout=0.5, input_dropout=0.5)
        trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=seed))
        history = trainer.fit(epochs)
        if comm.rank == 0:
            print(json.dumps({"seed": seed, "best_val": trainer.best.val_acc, "test_at_best_val": trainer.best.test_acc,
                              "test_last": history[-1].test_acc, "train_s": sum(r.epoch_s for r in history)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--model", default="gcn")
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2], int(args.worker[3]))
        return

    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    print(f"# {args.model}, {args.ranks} ranks, {args.seeds} seeds, {args.epochs} epochs")
    for name in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            parts = Path(tmp) / name
            gnnpart.partition_graph(gnnpart.load(name), args.ranks, parts)
            cmd = mpiexec_command(args.ranks, [__file__, "--worker", str(parts), str(args.seeds), args.model, str(args.epochs)])
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            runs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        best = [100 * r["test_at_best_val"] for r in runs]
        last = [100 * r["test_last"] for r in runs]
        print(f"{name}: test acc at best val {statistics.mean(best):.1f} +- {statistics.stdev(best):.1f} "
              f"(min {min(best):.1f}, max {max(best):.1f}); at last epoch {statistics.mean(last):.1f} +- "
              f"{statistics.stdev(last):.1f}; {statistics.mean(r['train_s'] for r in runs):.1f} s of training per run")
        print("  per seed (best-val test acc):", " ".join(f"{b:.1f}" for b in best), flush=True)


if __name__ == "__main__":
    main()
