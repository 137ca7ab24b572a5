"""Benchmark: full-graph training epochs on the synthetic 1M-node / 20M-edge graph, gnnpart against PyG.

For GCN and GraphSAGE (2 layers, hidden 256, dropout 0.5 between layers and none on the input, Adam):
- PyG single-process on the whole graph, 2 threads, CSR path (``torch.sparse_csr`` adjacency);
- gnnpart on 1, 2 and 4 ranks (METIS parts), 1 thread per rank (``--threads``), the halo exchange overlapped
  with the inner-source aggregation (``--overlap off`` waits for it; ``both`` runs each rank count both ways).
Prints the median epoch time (forward + backward + optimizer step), the halo exchanges' span (``halo``) and the
part of it not overlapped with computation (``exposed``), peak memory per process (VmHWM), and gnnpart's halo
bytes per epoch against the exact lower bound (halo rows x widths x 4 B).

    python benchmarks/bench_train.py                       # the full run (about 15 minutes here)
    python benchmarks/bench_train.py --nodes 100000 --epochs 3
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


def vmhwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def two_layer_epochs(conv1, conv2, apply, x, y, train, epochs: int, sync=lambda: None) -> tuple[list, object]:
    """``epochs + 1`` timed full-graph steps of ``conv2(dropout(relu(conv1(x))))`` with Adam and cross-entropy on the
    training rows (``apply(conv, h)`` runs a conv on the whole graph); returns the seconds of each and the last
    loss. The reference loop of PyG here and of DGL in benchmarks/bench_dgl.py."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam([*conv1.parameters(), *conv2.parameters()], lr=0.01, weight_decay=5e-4)
    times = []
    for _ in range(epochs + 1):
        sync()
        start = time.perf_counter()
        opt.zero_grad()
        h = F.dropout(apply(conv1, x).relu(), p=0.5, training=True)
        loss = F.cross_entropy(apply(conv2, h)[train], y[train])
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - start)
    return times, loss


def pyg_child(graph_file: str, model: str, hidden: int, epochs: int, threads: int, device: str = "cpu") -> dict:
    """PyG's GCNConv / SAGEConv on the whole graph (CSR adjacency) on ``device``: median epoch and peak memory
    (VmHWM on the CPU, ``torch.cuda.max_memory_allocated`` on a GPU)."""
    import numpy as np
    import torch
    from torch_geometric.nn import GCNConv, SAGEConv

    torch.set_num_threads(threads)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda *a: None)
    z = np.load(graph_file)
    n = len(z["indptr"]) - 1
    adj_t = torch.sparse_csr_tensor(torch.from_numpy(z["indptr"]), torch.from_numpy(z["indices"]),
                                    torch.ones(len(z["indices"])), size=(n, n)).to(dev)
    x, y = torch.from_numpy(z["x"]).to(dev), torch.from_numpy(z["y"]).to(dev)
    train = torch.from_numpy(z["train_mask"]).to(dev)
    conv = {"gcn": GCNConv, "sage": SAGEConv}[model]
    torch.manual_seed(0)
    conv1, conv2 = conv(x.shape[1], hidden).to(dev), conv(hidden, int(y.max()) + 1).to(dev)
    times, loss = two_layer_epochs(conv1, conv2, lambda conv, h: conv(h, adj_t), x, y, train, epochs, sync)
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else vmhwm()
    return {"epoch_s": statistics.median(times[1:]), "peak_gib": peak / 2**30, "loss": loss.item()}


def gnnpart_worker(part_dir: str, model: str, hidden: int, epochs: int, device: str = "cpu",
                   transport: str = "mpi", overlap: bool = True, threads: int = 1, block_cache: bool = True) -> None:
    """One rank of gnnpart's run; rank 0 prints the medians and every rank's peak memory (VmHWM on the CPU,
    ``torch.cuda.max_memory_allocated`` on a GPU) as one JSON line."""
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Placement, Rank
    from gnnpart.train import Trainer, TrainOptions

    comm = Communicator()
    torch.set_num_threads(threads)
    rank = Rank.open(part_dir, comm, placement=Placement(device, transport), overlap=overlap)
    meta = rank.meta
    torch.manual_seed(0)
    net = build_model(model, meta["num_features"], hidden, meta["num_classes"], 2, dropout=0.5, input_dropout=0.0)
    options = TrainOptions(lr=0.01, weight_decay=5e-4, eval_every=10**9, watchdog=None,
                           **({} if block_cache else {"block_cache": None}))
    trainer = Trainer(net, rank, options=options)
    on_gpu = trainer.device.type == "cuda"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats(trainer.device)
    start = time.perf_counter()
    history = []
    for _ in range(epochs + 1):
        loss = trainer.train_step()
        history.append({**trainer.last_step, "loss": loss})
        trainer.epoch += 1
    total = time.perf_counter() - start
    peaks = comm.comm.gather(torch.cuda.max_memory_allocated(trainer.device) if on_gpu else vmhwm(), root=0)
    if comm.rank == 0:
        steady = history[1:]
        print(json.dumps({
            "epoch_s": statistics.median(r["epoch_s"] for r in steady),
            "halo_s": statistics.median(r["halo_s"] for r in steady),
            "halo_wait_s": statistics.median(r["halo_wait_s"] for r in steady),
            "allreduce_s": statistics.median(r["allreduce_s"] for r in steady),
            "halo_bytes": steady[0]["halo_bytes"], "setup_halo_bytes": trainer.setup_halo_bytes,
            "setup_s": trainer.setup_s, "peak_gib": [p / 2**30 for p in peaks], "loss": steady[-1]["loss"], "total_s": total,
        }), flush=True)


def spawn(cmd: list[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def graph_arguments(parser: argparse.ArgumentParser, epochs: int) -> None:
    """The options of the epoch benchmarks (this one and bench_gpu.py): graph size, width, epochs, models."""
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=epochs, help="timed epochs (after one warm-up)")
    parser.add_argument("--models", default="gcn,sage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    graph_arguments(parser, epochs=5)
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--no-pyg", action="store_true")
    parser.add_argument("--overlap", choices=("on", "off", "both"), default="on",
                        help="overlap the halo exchange with the inner-source aggregation (both: off, then on)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per gnnpart rank")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "pyg":
            print(json.dumps(pyg_child(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))))
        else:
            gnnpart_worker(rest[0], rest[1], int(rest[2]), int(rest[3]), overlap=rest[4] == "on",
                           threads=int(rest[5]), block_cache=rest[6:7] != ["no-block-cache"])
        return

    import numpy as np

    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"
    ranks = [int(r) for r in args.ranks.split(",")]
    with tempfile.TemporaryDirectory(prefix="gnnpart-train-bench-") as tmp:
        g = gnnpart.load(spec)
        graph_file = str(Path(tmp) / "graph.npz")
        np.savez(graph_file, indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, train_mask=g.train_mask)
        parts = {}
        for r in ranks:
            parts[r] = str(Path(tmp) / f"parts-{r}")
            meta = gnnpart.partition_graph(g, r, parts[r])
            parts[r] = (parts[r], meta["stats"]["halo_rows_total"])
        del g
        print(f"# {spec}; 2 layers, hidden {args.hidden}, dropout 0.5 between layers; median of {args.epochs} epochs after 1 warm-up")
        for model in args.models.split(","):
            base = None
            if not args.no_pyg:
                base = spawn([sys.executable, __file__, "--child", "pyg", graph_file, model, str(args.hidden), str(args.epochs), "2"], 2)
                print(f"{model} PyG 1 process x 2 threads: epoch {base['epoch_s']:.2f} s, peak {base['peak_gib']:.2f} GiB", flush=True)
            modes = ("off", "on") if args.overlap == "both" else (args.overlap,)
            for r, mode in ((r, mode) for r in ranks for mode in modes):
                part_dir, halo_rows = parts[r]
                cmd = mpiexec_command(r, [__file__, "--child", "gnnpart", part_dir, model, str(args.hidden), str(args.epochs),
                                          mode, str(args.threads)])
                res = spawn(cmd, args.threads)
                width = 16  # both models exchange the 16-wide output-layer rows, forward and backward, each epoch
                bound = halo_rows * width * 4 * 2
                ratio = f", {res['epoch_s'] / base['epoch_s']:.2f}x PyG time, {max(res['peak_gib']) / base['peak_gib']:.2f}x PyG memory" if base else ""
                print(f"{model} gnnpart {r} rank(s) x {args.threads} thread(s), overlap {mode}: epoch {res['epoch_s']:.2f} s "
                      f"(halo {res['halo_s']:.2f} s, exposed {res['halo_wait_s']:.2f} s, allreduce {res['allreduce_s']:.3f} s), peak per rank {max(res['peak_gib']):.2f} GiB"
                      f"{ratio}; halo {res['halo_bytes']:,} B/epoch = {res['halo_bytes'] / bound if bound else float('nan'):.4f} "
                      f"x bound ({halo_rows:,} rows x 16 x 4 B x 2); setup {res['setup_s']:.1f} s, "
                      f"{res['setup_halo_bytes']:,} B once", flush=True)


if __name__ == "__main__":
    main()
