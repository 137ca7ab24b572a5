"""Benchmark: mini-batch training against DGL's sampler, and time to accuracy against full-graph training (issue 41).

On the synthetic 1M-node / 20M-edge graph (``synthetic:nodes=1000000,degree=20,classes=16,features=128,seed=0``,
600,000 training nodes), GraphSAGE 2 x 256, dropout 0.5 between the layers, in one run:

- DGL 2.1's ``NeighborSampler([10, 15])`` (DGL lists the fanouts from the input layer: 15 neighbours of each seed,
  then 10 of each of theirs) and ``DataLoader`` (batch 1024, shuffled, no workers), ``SAGEConv("mean")``, Adam lr
  0.003, 1 process x 2 threads, from its own environment (``benchmarks/dgl_env.sh``);
- gnnpart ``--batch-size 1024 --fanouts 15,10``, Adam lr 0.003, on 1 rank x 2 threads and 2 ranks x 1 thread
  (METIS parts);
- gnnpart full-graph, 2 ranks x 1 thread, Adam lr 0.01, weight decay 5e-4 (the defaults of `gnnpart train`: the
  baseline of the issue).

Each run trains until the validation accuracy on the whole graph, measured after every epoch (not counted as
training time), first reaches ``--target`` (0.98), then ``--extra`` epochs more (its best so far), or
``--max-epochs``. It prints every epoch (training seconds, its split into sampling, fetch, compute and all-reduce,
the bytes), the training time to the target, and the ratios the issue aims at.

    bash benchmarks/dgl_env.sh && python benchmarks/bench_minibatch.py         # the full run (about 25 minutes)
    python benchmarks/bench_minibatch.py --nodes 100000 --target 0.9             # a quick one
    python benchmarks/bench_minibatch.py --graph-dir G --parts1 P1 --parts2 P2   # with the graph already partitioned
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ENV = Path.home() / ".cache" / "gnnpart-dgl-env"


def _time_to(records: list, target: float) -> tuple[float | None, float]:
    """Training seconds until the validation accuracy first reached ``target`` (None if never), and the best."""
    spent = 0.0
    for r in records:
        spent += r["train_s"]
        if r["val_acc"] >= target:
            return spent, max(x["val_acc"] for x in records)
    return None, max((x["val_acc"] for x in records), default=0.0)


def _stop(records: list, target: float, extra: int, max_epochs: int) -> bool:
    reached = [i for i, r in enumerate(records) if r["val_acc"] >= target]
    return len(records) >= max_epochs or (bool(reached) and len(records) - 1 - reached[0] >= extra)


def dgl_child(graph_file: str, threads: int, target: float, extra: int, max_epochs: int) -> dict:
    """DGL's sampler and SAGEConv in DGL's environment (no gnnpart there)."""
    import dgl
    import torch
    import torch.nn.functional as F
    from bench_dgl import dgl_graph  # stdlib at import: it runs in DGL's environment
    from dgl.nn import SAGEConv

    torch.set_num_threads(threads)
    g, arrays = dgl_graph(graph_file)
    x, y, train, val = (arrays[k] for k in ("x", "y", "train_mask", "val_mask"))
    classes = int(y.max()) + 1
    torch.manual_seed(0)
    convs = torch.nn.ModuleList([SAGEConv(x.shape[1], 256, "mean"), SAGEConv(256, classes, "mean")])
    opt = torch.optim.Adam(convs.parameters(), lr=0.003)
    sampler = dgl.dataloading.NeighborSampler([10, 15])
    loader = dgl.dataloading.DataLoader(g, train.nonzero().squeeze(1), sampler, batch_size=1024, shuffle=True,
                                        drop_last=False, num_workers=0)
    records = []
    while not _stop(records, target, extra, max_epochs):
        convs.train()
        start = time.perf_counter()
        steps, split = 0, {"sample_s": 0.0, "fetch_s": 0.0, "compute_s": 0.0}
        batches = iter(loader)
        while True:
            t0 = time.perf_counter()
            got = next(batches, None)  # the sampler's work: the loader samples the batch when asked
            if got is None:
                break
            _, seeds, blocks = got
            t1 = time.perf_counter()
            h = x[blocks[0].srcdata[dgl.NID]]
            t2 = time.perf_counter()
            h = F.dropout(convs[0](blocks[0], h).relu(), p=0.5, training=True)
            out = convs[1](blocks[1], h)
            loss = F.cross_entropy(out, y[seeds])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            split["sample_s"] += t1 - t0
            split["fetch_s"] += t2 - t1
            split["compute_s"] += time.perf_counter() - t2
        train_s = time.perf_counter() - start
        convs.eval()
        with torch.no_grad():
            out = convs[1](g, convs[0](g, x).relu())
        acc = float((out[val].argmax(1) == y[val]).float().mean())
        records.append({"train_s": train_s, "val_acc": acc, "steps": steps, **split, "wait_s": 0.0,
                        "allreduce_s": 0.0, "fetch_bytes": 0, "sample_bytes": 0, "allreduce_bytes": 0})
        print(json.dumps({"epoch": len(records), **records[-1]}), file=sys.stderr, flush=True)
    return {"records": records, "dgl": dgl.__version__, "torch": torch.__version__}


def gnnpart_child(part_dir: str, mode: str, threads: int, target: float, extra: int, max_epochs: int) -> None:
    """gnnpart on this MPI job's ranks: ``minibatch`` (batch 1024, fanouts 15,10, lr 0.003) or ``full`` (lr 0.01)."""
    import torch

    from gnnpart import read_meta
    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions
    from gnnpart.train.callbacks import Callback

    comm = Communicator()
    torch.set_num_threads(threads)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm)
    torch.manual_seed(0)
    model = build_model("sage", meta["num_features"], 256, meta["num_outputs"], 2, dropout=0.5)
    if mode == "minibatch":
        options = TrainOptions(lr=0.003, weight_decay=0.0, batch_size=1024, fanouts=(15, 10), watchdog=None)
    else:
        options = TrainOptions(lr=0.01, weight_decay=5e-4, watchdog=None)  # the defaults of gnnpart train
    records = []

    class Until(Callback):
        def on_epoch_end(self, trainer, r):
            records.append({"train_s": trainer.comm.max_scalar(r.epoch_s), "val_acc": r.val_acc, "steps": r.steps,
                            "sample_s": r.sample_s, "fetch_s": r.fetch_s, "wait_s": r.sample_wait_s,
                            "compute_s": r.compute_s, "allreduce_s": r.allreduce_s, "fetch_bytes": r.fetch_bytes,
                            "sample_bytes": r.sample_bytes, "allreduce_bytes": r.allreduce_bytes,
                            "halo_bytes": r.halo_bytes})
            if comm.rank == 0:
                print(json.dumps({"epoch": len(records), **records[-1]}), file=sys.stderr, flush=True)
            trainer.should_stop = _stop(records, target, extra, max_epochs)

    trainer = Trainer(model, rank, options=options, callbacks=[Until()])
    trainer.fit(max_epochs, restore_best=False)
    if comm.rank == 0:
        print(json.dumps({"records": records, "setup_s": trainer.setup_s}), flush=True)


def run_json(cmd: list[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode})")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--target", type=float, default=0.98, help="validation accuracy to reach")
    parser.add_argument("--extra", type=int, default=1, help="epochs after reaching the target")
    parser.add_argument("--max-epochs", type=int, default=120)
    parser.add_argument("--max-minibatch-epochs", type=int, default=6)
    parser.add_argument("--runs", default="dgl,mb1,mb2,full2", help="which runs (dgl, mb1, mb2, full2)")
    parser.add_argument("--graph-dir", help="the graph as a graph directory (default: generated from the spec)")
    parser.add_argument("--parts1", help="its 1-part partition (default: made here)")
    parser.add_argument("--parts2", help="its 2-part partition (default: made here, METIS)")
    parser.add_argument("--dgl-env", default=str(DEFAULT_ENV), help="DGL's environment (benchmarks/dgl_env.sh DIR)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(HERE))
        kind, *rest = args.child
        if kind == "dgl":
            graph_file, threads, target, extra, max_epochs = rest
            print(json.dumps(dgl_child(graph_file, int(threads), float(target), int(extra), int(max_epochs))))
        else:
            part_dir, mode, threads, target, extra, max_epochs = rest
            gnnpart_child(part_dir, mode, int(threads), float(target), int(extra), int(max_epochs))
        return
    runs = args.runs.split(",")
    dgl_python = Path(args.dgl_env) / "bin" / "python"
    if "dgl" in runs and not dgl_python.exists():
        subprocess.run(["bash", str(HERE / "dgl_env.sh"), args.dgl_env], check=True)

    import numpy as np

    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128,seed=0"
    with tempfile.TemporaryDirectory(prefix="gnnpart-minibatch-bench-") as tmp:
        g = gnnpart.load(args.graph_dir or spec)
        graph_file = str(Path(tmp) / "graph.npz")
        if "dgl" in runs:
            np.savez(graph_file, indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, train_mask=g.train_mask,
                     val_mask=g.val_mask)
        parts = {1: args.parts1, 2: args.parts2}
        for k in (1, 2):
            if parts[k] is None:
                parts[k] = str(Path(tmp) / f"parts-{k}")
                gnnpart.partition_graph(g, k, parts[k])
        print(f"# {g.name}: {g.num_nodes:,} nodes, {g.num_edges:,} edges, {int(g.train_mask.sum()):,} training "
              f"nodes; GraphSAGE 2 x 256, dropout 0.5; target val {args.target}; {os.cpu_count()} cores", flush=True)
        del g
        got = {}
        bound = [str(args.target), str(args.extra)]
        if "dgl" in runs:
            got["DGL mini-batch 1 x 2 threads"] = run_json(
                [str(dgl_python), __file__, "--child", "dgl", graph_file, "2", *bound,
                 str(args.max_minibatch_epochs)], 2)
        for key, ranks, threads, mode in (("mb1", 1, 2, "minibatch"), ("mb2", 2, 1, "minibatch"),
                                          ("full2", 2, 1, "full")):
            if key not in runs:
                continue
            top = args.max_minibatch_epochs if mode == "minibatch" else args.max_epochs
            cmd = mpiexec_command(ranks, [__file__, "--child", "gnnpart", parts[ranks], mode, str(threads), *bound,
                                          str(top)])
            name = f"gnnpart {'mini-batch' if mode == 'minibatch' else 'full-graph'} {ranks} x {threads} thread" \
                   f"{'s' if threads > 1 else ''}"
            got[name] = run_json(cmd, threads)
        summary = {}
        for name, res in got.items():
            records = res["records"]
            to_target, best = _time_to(records, args.target)
            epoch = statistics.median(r["train_s"] for r in records)
            summary[name] = {"epoch_s": epoch, "time_to_target_s": to_target, "best_val": best,
                             "epochs": len(records)}
            split = ""
            if records and "sample_s" in records[0] and records[0].get("steps", 1) > 1:
                med = {k: statistics.median(r[k] for r in records) for k in
                       ("sample_s", "fetch_s", "wait_s", "compute_s", "allreduce_s", "fetch_bytes", "sample_bytes",
                        "allreduce_bytes")}
                split = (f"; sampling {med['sample_s']:.1f} s, fetch {med['fetch_s']:.1f} s ({med['wait_s']:.1f} s "
                         f"waited for), compute {med['compute_s']:.1f} s, all-reduce {med['allreduce_s']:.1f} s; "
                         f"fetch_bytes {med['fetch_bytes'] / 2**20:.0f} MiB, sampling "
                         f"{med['sample_bytes'] / 2**20:.0f} MiB, all-reduce {med['allreduce_bytes'] / 2**20:.0f} MiB "
                         "an epoch")
            reached = "never" if to_target is None else f"{to_target:.1f} s"
            print(f"{name:<40} epoch {epoch:7.2f} s (median of {len(records)}, {records[0].get('steps')} steps){split}; "
                  f"val >= {args.target}: {reached}; best {best:.4f}", flush=True)
        dgl = summary.get("DGL mini-batch 1 x 2 threads")
        one, two = summary.get("gnnpart mini-batch 1 x 2 threads"), summary.get("gnnpart mini-batch 2 x 1 thread")
        full = summary.get("gnnpart full-graph 2 x 1 thread")

        def ratio(a, b, key):
            return None if not a or not b or a[key] is None or b[key] is None else a[key] / b[key]

        aims = [("mini-batch epoch, 1 rank / DGL (aim <= 0.5)", ratio(one, dgl, "epoch_s")),
                ("mini-batch epoch, 2 ranks / DGL (aim <= 0.5)", ratio(two, dgl, "epoch_s")),
                ("mini-batch epoch, 2 ranks / 1 rank (aim <= 0.8)", ratio(two, one, "epoch_s")),
                ("time to target, best gnnpart mini-batch / DGL (aim <= 0.5)",
                 min(filter(None, [ratio(one, dgl, "time_to_target_s"), ratio(two, dgl, "time_to_target_s")]),
                     default=None)),
                ("time to target, best gnnpart mini-batch / full-graph (aim <= 0.25)",
                 min(filter(None, [ratio(one, full, "time_to_target_s"), ratio(two, full, "time_to_target_s")]),
                     default=None))]
        for label, value in aims:
            print(f"  {label}: {'-' if value is None else f'{value:.2f}x'}", flush=True)
        print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
