"""Benchmark: pre-aggregation (``--aggregate-at``) against today's exact exchange: rows, bytes and epoch time.

For each graph and part count K (METIS parts, as ``gnnpart partition`` makes them):

- **the plan**: rows one exchange sends today (distinct boundary sources), with ``sender`` (distinct cut targets)
  and with ``auto`` (the minimum vertex cover: rows plus partial sums), summed over every ordered pair of parts
  (``gnnpart.partition.cover.cover_report``, what ``gnnpart inspect --pairs`` prints);
- **training** (where K is in the graph's training list): one launch of K ranks opens the part with
  ``receiver`` and with ``auto`` and alternates their epochs (GCN, 2 layers, hidden 256, dropout 0.5 on the input
  and between layers, so both layers exchange every epoch; 1 thread per rank), and prints, per mode, the halo bytes
  per epoch (rows and partial sums apart), their ratio to today's exact bytes, the median epoch and its exposed
  halo time, and the slowest rank's planning time.

    python benchmarks/bench_sums.py                                    # Cora, CiteSeer and the 1M-node graph
    python benchmarks/bench_sums.py --nodes 100000 --synthetic-ks 2,4 --train-ks 2 --epochs 2   # a quick one
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cover import graph_arguments  # benchmarks/ is on the path when this file runs as a script

MODES = ("receiver", "auto")


def child(part_dir: str, model: str, hidden: int, epochs: int) -> None:
    """One rank: both modes' trainers, their epochs alternated; rank 0 prints one JSON line."""
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    comm = Communicator()
    torch.set_num_threads(1)
    trainers, planned = {}, {}
    for mode in MODES:
        rank = Rank.open(part_dir, comm, aggregate_at=mode)
        torch.manual_seed(0)
        net = build_model(model, rank.meta["num_features"], hidden, rank.meta["num_classes"], 2, dropout=0.5,
                          input_dropout=0.5)
        trainers[mode] = Trainer(net, rank, options=TrainOptions(eval_every=10**9, watchdog=None))
        planned[mode] = comm.max_scalar(rank.sum_plan_s)
    steps = {mode: [] for mode in MODES}
    for _ in range(epochs + 1):
        for mode, trainer in trainers.items():
            loss = trainer.train_step()
            steps[mode].append({**trainer.last_step, "loss": loss})
            trainer.epoch += 1
    if comm.rank == 0:
        out = {}
        for mode, history in steps.items():
            steady = history[1:]
            detail = steady[0]["halo_bytes_detail"]
            sums = sum(d[way]["partial_sums"] for d in detail.values() for way in ("forward", "backward"))
            out[mode] = {"epoch_s": statistics.median(r["epoch_s"] for r in steady),
                         "halo_wait_s": statistics.median(r["halo_wait_s"] for r in steady),
                         "halo_bytes": steady[0]["halo_bytes"], "halo_bytes_exact": steady[0]["halo_bytes_exact"],
                         "partial_sum_bytes": sums, "plan_s": planned[mode], "loss": steady[-1]["loss"]}
        print(json.dumps(out), flush=True)


def plan_rows(part_dir: Path) -> dict:
    from gnnpart.partition.cover import cover_report

    start = time.perf_counter()
    pairs = cover_report(part_dir)
    seconds = time.perf_counter() - start
    rows = sum(d["rows"] for d in pairs)
    cover = sum(d["cover_rows"] + d["cover_sums"] for d in pairs)
    return {"cut_edges": sum(d["cut_edges"] for d in pairs), "today": rows, "sender": sum(d["targets"] for d in pairs),
            "cover": cover, "cover_sums": sum(d["cover_sums"] for d in pairs), "ratio": cover / max(rows, 1),
            "cover_s": seconds}


def train(part_dir: Path, k: int, model: str, hidden: int, epochs: int) -> dict:
    from gnnpart.cli.launcher import mpiexec_command

    cmd = mpiexec_command(k, [__file__, "--child", str(part_dir), model, str(hidden), str(epochs)])
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    graph_arguments(parser)  # the Planetoid graphs train at every K, the synthetic graph at --train-ks
    parser.add_argument("--train-ks", default="2,4,8", help="of these, the ones the synthetic graph trains on")
    parser.add_argument("--model", default="gcn", choices=("gcn", "sage", "gin"))
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per mode (after one warm-up)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        part_dir, model, hidden, epochs = args.child
        child(part_dir, model, int(hidden), int(epochs))
        return

    import gnnpart

    ks = [int(k) for k in args.ks.split(",")]
    graphs = [(name, gnnpart.load(name), ks, ks) for name in filter(None, args.datasets.split(","))]
    if args.nodes:
        spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"
        graphs.append((spec, gnnpart.load(spec), [int(k) for k in args.synthetic_ks.split(",")],
                       [int(k) for k in args.train_ks.split(",")]))
    print(f"# {args.model}, 2 layers, hidden {args.hidden}, dropout 0.5 on the input and between layers; "
          f"{args.epochs} timed epochs per mode, alternated; 1 thread per rank")
    with tempfile.TemporaryDirectory(prefix="gnnpart-sums-") as tmp:
        for name, graph, plan_ks, train_ks in graphs:
            for k in plan_ks:
                out = Path(tmp) / f"{name.replace(':', '_').replace(',', '_')}-{k}"
                start = time.perf_counter()
                gnnpart.partition_graph(graph, k, out, overwrite=True)
                partition_s = time.perf_counter() - start
                row = {"graph": name, "k": k, "partition_s": partition_s, **plan_rows(out)}
                print(f"{name} K={k}: cut {row['cut_edges']:,} edges; rows per exchange: today {row['today']:,}, "
                      f"sender {row['sender']:,}, auto {row['cover']:,} ({row['cover_sums']:,} partial sums; "
                      f"{row['ratio']:.3f}x); covers {row['cover_s']:.1f} s against {partition_s:.1f} s of "
                      f"partitioning", flush=True)
                if k in train_ks:
                    got = train(out, k, args.model, args.hidden, args.epochs)
                    rec, auto = got["receiver"], got["auto"]
                    row["train"] = got
                    print(f"  trained on {k} ranks: bytes per epoch receiver {rec['halo_bytes']:,}, auto "
                          f"{auto['halo_bytes']:,} ({auto['partial_sum_bytes']:,} of them partial sums; "
                          f"{auto['halo_bytes'] / max(auto['halo_bytes_exact'], 1):.3f}x exact); epoch receiver "
                          f"{rec['epoch_s']:.3f} s (exposed halo {rec['halo_wait_s']:.3f} s), auto "
                          f"{auto['epoch_s']:.3f} s (exposed {auto['halo_wait_s']:.3f} s): "
                          f"{auto['epoch_s'] / rec['epoch_s']:.3f}x; planned in {auto['plan_s']:.2f} s; loss "
                          f"{rec['loss']:.6f} / {auto['loss']:.6f}", flush=True)
                print(json.dumps(row), flush=True)
                shutil.rmtree(out)


if __name__ == "__main__":
    main()
