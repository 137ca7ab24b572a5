"""Profile one rank's training epoch (torch.profiler): where the time of GCN and GraphSAGE goes.

On the synthetic 1M-node / 20M-edge graph (by default), 2 layers, hidden 256, dropout 0.5 between layers, one rank,
the rank's threads (``--threads``). After warm-up epochs, profiles ``--epochs`` epochs and prints, per model, the
ops that take the most self time (CPU), grouped by op name, with their share of the profiled wall time.

    python benchmarks/profile_epoch.py                      # about 5 minutes here
    python benchmarks/profile_epoch.py --nodes 100000 --top 15
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def profile(part_dir: str, model: str, hidden: int, epochs: int, top: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile as torch_profile

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    rank = Rank.open(part_dir, Communicator())
    torch.manual_seed(0)
    net = build_model(model, rank.meta["num_features"], hidden, rank.meta["num_classes"], 2, dropout=0.5,
                      input_dropout=0.0)
    trainer = Trainer(net, rank, options=TrainOptions(eval_every=10**9, watchdog=None))
    trainer.train_step()  # warm-up (caches, buffers)
    trainer.epoch += 1
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(epochs):
            trainer.train_step()
            trainer.epoch += 1
    wall = time.perf_counter() - start
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    print(f"\n## {model}: {epochs} epoch(s), {wall / epochs:.2f} s an epoch under the profiler "
          f"({torch.get_num_threads()} threads)\n")
    print("| op | calls/epoch | self s/epoch | share of the epoch |")
    print("| --- | --- | --- | --- |")
    for e in rows:
        self_s = e.self_cpu_time_total / 1e6 / epochs
        print(f"| `{e.key}` | {e.count / epochs:.0f} | {self_s:.3f} | {self_s / (wall / epochs):.1%} |")


def main() -> None:
    import torch

    import gnnpart

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2, help="profiled epochs (after one warm-up)")
    parser.add_argument("--models", default="gcn,sage")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"
    with tempfile.TemporaryDirectory(prefix="gnnpart-profile-") as tmp:
        part_dir = str(Path(tmp) / "parts-1")
        gnnpart.partition_graph(gnnpart.load(spec), 1, part_dir)
        print(f"# {spec}; 1 rank; 2 layers, hidden {args.hidden}, dropout 0.5 between layers; torch {torch.__version__}")
        for model in args.models.split(","):
            profile(part_dir, model, args.hidden, args.epochs, args.top)


if __name__ == "__main__":
    main()
