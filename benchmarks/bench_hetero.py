"""Benchmark: R-GCN on a MAG-shaped typed graph, gnnpart on 1, 2 and 4 ranks against PyG's ``RGCNConv`` on the
whole graph in one process, and R-GCN's accuracy against the homogeneous GraphSAGE on the same graph.

The graph is ``synthetic:hetero=mag,nodes=N`` (N papers, 2N nodes in all: papers with 128 features, authors with
64, featureless institutions and fields; four relations and their reverses). The model: each type's input
projection to 64 (a linear map, or a learnable embedding for a featureless type: gnnpart's sharded rows with
SparseAdam, PyG's ``nn.Embedding(sparse=True)`` with SparseAdam), then 2 R-GCN layers (64, then the classes),
ReLU and dropout 0.5 between them, Adam. Prints the median epoch (forward, backward, optimizer step) after one
warm-up and each process's peak memory (VmHWM); then the best validation accuracy, and the test accuracy at it,
of ``--model rgcn`` and ``--model sage`` (which sees every node's padded features, zeros for the featureless, and
one kind of edge) after ``--accuracy-epochs`` epochs on the largest rank count.

    python benchmarks/bench_hetero.py                             # 1M papers, 2M nodes (about 30 minutes here)
    python benchmarks/bench_hetero.py --nodes 50000 --epochs 2 --accuracy-epochs 20
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
sys.path.insert(0, str(HERE))
from bench_train import vmhwm  # noqa: E402


def pyg_child(graph_file: str, hidden: int, epochs: int) -> dict:
    """PyG on the whole graph: per-type Linear or sparse Embedding, two RGCNConv layers."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch_geometric.nn import RGCNConv

    torch.set_num_threads(2)
    torch.manual_seed(0)
    g = np.load(graph_file)
    x, node_type, widths = torch.from_numpy(g["x"]), torch.from_numpy(g["node_type"]), g["widths"].tolist()
    edge_index = torch.from_numpy(np.stack([g["src"], g["dst"]]))
    edge_type = torch.from_numpy(g["edge_type"])
    y, train = torch.from_numpy(g["y"]), torch.from_numpy(g["train_mask"])
    relations, classes = int(g["relations"]), int(y.max()) + 1
    rows = [(node_type == t).nonzero().view(-1) for t in range(len(widths))]
    lins = nn.ModuleList(nn.Linear(w, hidden) if w else nn.Identity() for w in widths)
    embs = nn.ModuleList(nn.Embedding(len(r), hidden, sparse=True) if not w else nn.Identity()
                         for r, w in zip(rows, widths))
    conv1, conv2 = RGCNConv(hidden, hidden, relations), RGCNConv(hidden, classes, relations)
    dense = [*lins.parameters(), *conv1.parameters(), *conv2.parameters()]
    opt = torch.optim.Adam(dense, lr=0.01, weight_decay=5e-4)
    sparse = torch.optim.SparseAdam(list(embs.parameters()), lr=0.01)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        opt.zero_grad()
        sparse.zero_grad()
        h = x.new_zeros(len(node_type), hidden)
        for t, w in enumerate(widths):
            value = lins[t](x[rows[t], :w]) if w else embs[t](torch.arange(len(rows[t])))
            h = h.index_copy(0, rows[t], value)
        h = F.dropout(conv1(h, edge_index, edge_type).relu(), p=0.5, training=True)
        loss = F.cross_entropy(conv2(h, edge_index, edge_type)[train], y[train])
        loss.backward()
        opt.step()
        sparse.step()
        times.append(time.perf_counter() - start)
    return {"epoch_s": statistics.median(times[1:]), "peak_gib": vmhwm() / 2**30, "loss": loss.item()}


def gnnpart_child(part_dir: str, model: str, hidden: int, epochs: int, accuracy: int) -> None:
    """One rank: ``epochs`` timed steps (after a warm-up), or (``accuracy`` > 0) a fit of that many epochs."""
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    comm = Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm)
    meta = rank.meta
    torch.manual_seed(0)
    net = build_model(model, meta["num_features"], hidden, meta["num_classes"], 2, dropout=0.5, graph=rank.graph)
    trainer = Trainer(net, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, watchdog=None,
                                                      eval_every=1 if accuracy else 10**9))
    if accuracy:
        trainer.fit(accuracy, restore_best=False)
        if comm.rank == 0:
            print(json.dumps({"val": trainer.best.val_score, "test": trainer.best.test_score,
                              "epoch": trainer.best.epoch}), flush=True)
        return
    history = []
    for _ in range(epochs + 1):
        loss = trainer.train_step()
        history.append({**trainer.last_step, "loss": loss})
        trainer.epoch += 1
    peaks = comm.comm.gather(vmhwm(), root=0)
    if comm.rank == 0:
        steady = history[1:]
        print(json.dumps({"epoch_s": statistics.median(r["epoch_s"] for r in steady),
                          "halo_s": statistics.median(r["halo_s"] for r in steady),
                          "halo_bytes": steady[0]["halo_bytes"], "peak_gib": [p / 2**30 for p in peaks],
                          "loss": steady[-1]["loss"]}), flush=True)


def spawn(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="papers (the graph has about twice the nodes)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--accuracy-epochs", type=int, default=30)
    parser.add_argument("--no-pyg", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "pyg":
            print(json.dumps(pyg_child(rest[0], int(rest[1]), int(rest[2]))))
        else:
            gnnpart_child(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
        return

    import numpy as np

    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    spec = f"synthetic:hetero=mag,nodes={args.nodes},degree=10,classes=16,features=128"
    ranks = [int(r) for r in args.ranks.split(",")]
    with tempfile.TemporaryDirectory(prefix="gnnpart-hetero-bench-") as tmp:
        start = time.perf_counter()
        g = gnnpart.load(spec)
        print(f"# {spec}: {g.num_nodes:,} nodes ({dict(zip(g.types.node_types, np.bincount(g.node_type).tolist()))}), "
              f"{g.num_edges:,} edges, {g.types.num_relations} relations; drawn in {time.perf_counter() - start:.0f} s; "
              f"R-GCN 2 layers of {args.hidden}, median of {args.epochs} epochs after 1 warm-up", flush=True)
        graph_file = str(Path(tmp) / "graph.npz")
        if not args.no_pyg:
            src, dst = g.edges()
            np.savez(graph_file, src=src, dst=dst, edge_type=g.edge_type, x=g.x, node_type=g.node_type,
                     widths=np.array(g.types.widths), y=g.y, train_mask=g.train_mask,
                     relations=np.array(g.types.num_relations))
        parts = {}
        for r in ranks:
            parts[r] = str(Path(tmp) / f"parts-{r}")
            t0 = time.perf_counter()
            meta = gnnpart.partition_graph(g, r, parts[r])
            worst = max(row["imbalance"] for row in meta["stats"].get("by_type", {"-": {"imbalance": 1.0}}).values())
            print(f"partition P={r}: {time.perf_counter() - t0:.0f} s, halo rows {meta['stats']['halo_rows_total']:,}, "
                  f"worst node type imbalance {worst:.3f}", flush=True)
        del g
        base = None
        if not args.no_pyg:
            base = spawn([sys.executable, __file__, "--child", "pyg", graph_file, str(args.hidden), str(args.epochs)])
            print(f"PyG RGCNConv, 1 process x 2 threads: epoch {base['epoch_s']:.2f} s, peak {base['peak_gib']:.2f} GiB",
                  flush=True)
        for r in ranks:
            res = spawn(mpiexec_command(r, [__file__, "--child", "gnnpart", parts[r], "rgcn", str(args.hidden),
                                            str(args.epochs), "0"]))
            ratio = (f"; {res['epoch_s'] / base['epoch_s']:.2f}x PyG's epoch, {max(res['peak_gib']) / base['peak_gib']:.2f}x "
                     "its peak") if base else ""
            print(f"gnnpart rgcn, {r} rank(s) x 1 thread: epoch {res['epoch_s']:.2f} s (halo {res['halo_s']:.2f} s, "
                  f"{res['halo_bytes'] / 2**20:.1f} MiB), peak per rank {max(res['peak_gib']):.2f} GiB, all ranks "
                  f"{sum(res['peak_gib']):.2f} GiB{ratio}", flush=True)
        if args.accuracy_epochs:
            r = max(ranks)
            for model in ("rgcn", "sage"):
                res = spawn(mpiexec_command(r, [__file__, "--child", "gnnpart", parts[r], model, str(args.hidden), "0",
                                                str(args.accuracy_epochs)]))
                print(f"accuracy, {model} on {r} ranks, {args.accuracy_epochs} epochs: best val {res['val']:.4f} at "
                      f"epoch {res['epoch']}, test {res['test']:.4f}", flush=True)


if __name__ == "__main__":
    main()
