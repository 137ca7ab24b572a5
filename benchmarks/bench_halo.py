"""Benchmark: halo exchange policies, accuracy against bytes sent, relative to exact.

    python benchmarks/bench_halo.py accuracy [--seeds 5] [--configs 2x16:200,3x256:100] [--out FILE]
    python benchmarks/bench_halo.py synthetic [--nodes 1000000] [--degree 20] [--epochs 3]
    python benchmarks/bench_halo.py plot [--out FILE] [--png benchmarks/halo_accuracy_vs_bytes.png]

``accuracy``: Cora and CiteSeer on 4 ranks, GCN and GraphSAGE, for each config ``LAYERSxHIDDEN:EPOCHS``,
every policy, 5 seeds; dropout 0.5 on the input and between layers, lr 0.01, weight decay 5e-4,
row-normalised features, test accuracy at the best validation epoch (evaluated every 5 epochs). Each run
appends one JSON line to ``--out`` (runs already there are skipped, so the command can be resumed).
``synthetic``: the generator's 1M-node / 20M-edge graph on 4 ranks, GraphSAGE hidden 256 (2 layers and input
dropout 0.5 by default, so that the first layer exchanges its 128-wide input every epoch; 3 layers of 256 did not
fit in this machine's 24 GiB on 4 ranks), a few epochs per policy: bytes per epoch and training loss.
``plot``: accuracy against bytes (relative to exact) for every policy, one panel per dataset/model/config.
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

HERE = Path(__file__).parent
POLICIES = ["exact", "fp16", "int8", "sample:0.1", "sample:0.5+int8", "topk:0.25", "delta:0.1", "stale:1",
            "learned:0.01"]
WIDE_POLICIES = ["exact", "int8", "sample:0.1"]
SYNTH_POLICIES = ["exact", "int8", "fp16", "sample:0.1", "sample:0.5+int8", "topk:0.25"]


def worker(part_dir, model_name, layers, hidden, epochs, seeds, policies, tag, eval_every, input_dropout, normalize=1):
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm, normalize_features=bool(normalize))
    meta = rank.meta
    for policy in policies:
        for seed in range(seeds):
            torch.manual_seed(seed)
            model = build_model(model_name, meta["num_features"], hidden, meta["num_classes"], layers, 0.5, input_dropout)
            options = TrainOptions(lr=0.01, weight_decay=5e-4, seed=seed, eval_every=eval_every)
            trainer = Trainer(model, rank, options=options, halo=policy)
            history = trainer.fit(epochs)
            if comm.rank == 0:
                by_layer = {}
                for r in history:
                    for k, v in r.halo_bytes_by_layer.items():
                        by_layer[k] = by_layer.get(k, 0) + v
                print(json.dumps({
                    **tag, "policy": policy, "seed": seed, "test_acc": trainer.best.test_acc,
                    "best_val": trainer.best.val_acc, "epochs": epochs,
                    "bytes": sum(r.halo_bytes for r in history), "exact": sum(r.halo_bytes_exact for r in history),
                    "bytes_by_layer": by_layer, "last_bytes": history[-1].halo_bytes,
                    "last_exact": history[-1].halo_bytes_exact, "kept": history[-1].halo_channels_kept,
                    "loss": history[-1].loss, "train_s": sum(r.epoch_s for r in history)}), flush=True)


def _launch(ranks, args):
    from gnnpart.cli.launcher import mpiexec_command

    cmd = mpiexec_command(ranks, [__file__, "worker", *map(str, args)])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    for line in proc.stdout:
        if line.startswith("{"):
            yield json.loads(line)
    if proc.wait() != 0:
        sys.exit(f"worker failed:\n{proc.stderr.read()}")


def done_keys(path):
    if not path.exists():
        return set()
    return {(r["dataset"], r["model"], r["config"], r["policy"], r["seed"]) for r in map(json.loads, path.open())}


def accuracy(args):
    import gnnpart

    out = Path(args.out)
    done = done_keys(out)
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            parts = Path(tmp) / dataset
            gnnpart.partition_graph(gnnpart.load(dataset), args.ranks, parts)
            for config in args.configs.split(","):
                shape, epochs = config.split(":")
                layers, hidden = map(int, shape.split("x"))
                policies = POLICIES if hidden <= 16 else WIDE_POLICIES
                for model in args.models.split(","):
                    todo = [p for p in policies if any((dataset, model, shape, p, s) not in done for s in range(args.seeds))]
                    if not todo:
                        continue
                    tag = json.dumps({"dataset": dataset, "model": model, "config": shape})
                    print(f"# {dataset} {model} {shape}, {epochs} epochs: {len(todo)} policies x {args.seeds} seeds", flush=True)
                    for row in _launch(args.ranks, [parts, model, layers, hidden, epochs, args.seeds, ",".join(todo), tag, 5, 0.5]):
                        if (dataset, model, shape, row["policy"], row["seed"]) in done:
                            continue
                        with out.open("a") as fh:
                            fh.write(json.dumps(row) + "\n")
    summarise(out)


def summarise(path):
    rows = [json.loads(line) for line in Path(path).open()]
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["model"], r["config"]), {}).setdefault(r["policy"], []).append(r)
    for (dataset, model, config), by_policy in groups.items():
        exact = by_policy.get("exact")
        base = statistics.mean(100 * r["test_acc"] for r in exact) if exact else None
        exact_layers = {}
        for r in exact or []:
            for k, v in r["bytes_by_layer"].items():
                exact_layers[k] = exact_layers.get(k, 0) + v / len(exact)
        print(f"\n{dataset} {model} {config} ({by_policy[next(iter(by_policy))][0]['epochs']} epochs, "
              f"{len(next(iter(by_policy.values())))} seeds)")
        print(f"  {'policy':18s} {'test acc':>12s} {'vs exact':>9s} {'bytes/exact':>12s} {'fewer':>7s} "
              f"{'last epoch':>10s}  per layer (bytes/exact)")
        for policy, runs in by_policy.items():
            acc = [100 * r["test_acc"] for r in runs]
            ratio = sum(r["bytes"] for r in runs) / sum(r["exact"] for r in runs)
            last = sum(r["last_bytes"] for r in runs) / sum(r["last_exact"] for r in runs)
            layers = {}
            for r in runs:
                for k, v in r["bytes_by_layer"].items():
                    layers[k] = layers.get(k, 0) + v / len(runs)
            per_layer = " ".join(f"{k}:{layers[k] / exact_layers[k]:.3f}" for k in sorted(layers) if exact_layers.get(k))
            delta = f"{statistics.mean(acc) - base:+.1f}" if base is not None else "-"
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            print(f"  {policy:18s} {statistics.mean(acc):6.1f} +- {sd:3.1f} {delta:>9s} {ratio:12.4f} {1 / ratio:6.1f}x "
                  f"{last:10.4f}  {per_layer}")


def plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(args.out).open()]
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["model"], r["config"]), {}).setdefault(r["policy"], []).append(r)
    keys = sorted(groups)
    cols = 4
    fig, axes = plt.subplots((len(keys) + cols - 1) // cols, cols, figsize=(4.2 * cols, 3.6 * ((len(keys) + cols - 1) // cols)),
                             squeeze=False)
    names = list(dict.fromkeys(POLICIES + sorted({r["policy"] for r in rows})))
    marks = dict(zip(names, "osD^v<>phXP*d"))
    colors = {p: plt.get_cmap("tab20")(i % 20) for i, p in enumerate(names)}
    legend = {}
    for ax, key in zip(axes.flat, keys):
        for policy, runs in groups[key].items():
            ratio = sum(r["bytes"] for r in runs) / sum(r["exact"] for r in runs)
            acc = [100 * r["test_acc"] for r in runs]
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            legend[policy] = ax.errorbar([ratio], [statistics.mean(acc)], yerr=[sd], fmt=marks.get(policy, "o"),
                                         color=colors[policy], label=policy, capsize=2)
        ax.set_xscale("log")
        ax.set_title(" ".join(key), fontsize=10)
        ax.set_xlabel("halo bytes / exact")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    order = [p for p in names if p in legend]
    fig.legend([legend[p] for p in order], order, loc="lower center", ncol=len(order), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")


def synthetic(args):
    import gnnpart

    cache = Path(args.cache)
    if not (cache / "meta.json").exists():
        gnnpart.partition_graph(gnnpart.load(f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"),
                                args.ranks, cache)
    print(f"# synthetic {args.nodes:,} nodes, degree {args.degree}, {args.ranks} ranks, sage {args.layers}x256, input "
          f"dropout {args.input_dropout}, raw features (the generator's are signed: row-sum normalisation does not "
          f"apply), {args.epochs} epochs per policy", flush=True)
    tag = json.dumps({"dataset": "synthetic-1m", "model": "sage", "config": f"{args.layers}x256"})
    for policy in args.policies.split(","):
        for r in _launch(args.ranks, [cache, "sage", args.layers, 256, args.epochs, 1, policy, tag, 1000, args.input_dropout, 0]):
            layers = " ".join(f"{k}:{v / args.epochs / 2**20:.1f}" for k, v in sorted(r["bytes_by_layer"].items()))
            ratio = r["bytes"] / r["exact"]
            print(f"{policy:18s} {r['bytes'] / args.epochs / 2**20:9.1f} MiB/epoch  {ratio:.4f}x exact ({1 / ratio:.1f}x fewer)  "
                  f"per layer MiB/epoch {layers}  loss after {args.epochs} epochs {r['loss']:.4f}  "
                  f"{r['train_s'] / args.epochs:.1f} s/epoch  ({r['bytes']:,} B in all, to compare runs exactly)", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        a = sys.argv[2:]
        return worker(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]), a[6].split(","), json.loads(a[7]),
                      int(a[8]), float(a[9]), int(a[10]) if len(a) > 10 else 1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("accuracy")
    p.add_argument("--ranks", type=int, default=4)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--datasets", default="cora,citeseer")
    p.add_argument("--models", default="gcn,sage")
    p.add_argument("--configs", default="2x16:200,3x256:100")
    p.add_argument("--out", default=str(HERE / "halo_results.jsonl"))
    p = sub.add_parser("synthetic")
    p.add_argument("--ranks", type=int, default=4)
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--degree", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--input-dropout", type=float, default=0.5)
    p.add_argument("--policies", default=",".join(SYNTH_POLICIES))
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "gnnpart-halo-1m"))
    p = sub.add_parser("plot")
    p.add_argument("--out", default=str(HERE / "halo_results.jsonl"))
    p.add_argument("--png", default=str(HERE / "halo_accuracy_vs_bytes.png"))
    p = sub.add_parser("summary")
    p.add_argument("--out", default=str(HERE / "halo_results.jsonl"))
    args = parser.parse_args()
    {"accuracy": accuracy, "synthetic": synthetic, "plot": plot, "summary": lambda a: summarise(a.out)}[args.cmd](args)


if __name__ == "__main__":
    main()
