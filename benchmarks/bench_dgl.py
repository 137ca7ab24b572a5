"""Benchmark: full-graph epochs of gnnpart, PyG and DGL on one graph file, in one run, and every ratio (issue 29).

DGL 2.1.0 imports only beside torch <= 2.2.1, so it runs from its own environment (``benchmarks/dgl_env.sh`` makes
it; about 5 GB). For GCN and GraphSAGE (2 layers, hidden 256, dropout 0.5 between layers, Adam, the synthetic
1M-node / 20M-edge graph), one after the other in the same run:

- DGL's ``GraphConv`` (``norm="both"``, self loops added, as PyG's ``GCNConv``) and ``SAGEConv`` (``"mean"``) on
  the whole graph, 1 process x 2 threads;
- PyG's ``GCNConv`` / ``SAGEConv`` on the whole graph (CSR adjacency), 1 process x 2 threads;
- gnnpart on 1 rank x 2 threads and on 2 ranks x 1 thread (METIS parts, the default balance ``nodes,train``), the
  exchange overlapped, once more on 2 ranks x 1 thread with parts that balance in-edges too (``--balance
  nodes,edges,train``: each rank's share of the aggregation), and on 1 rank x 2 threads with the block cache off
  (``gnnpart/block_cache.py``: what it saves, in the same run).

Each prints its median epoch (after one warm-up); the script prints the ratios to DGL and 2 ranks to 1 rank.
Times from different runs are not compared: this machine's speed varies from day to day.

    bash benchmarks/dgl_env.sh && python benchmarks/bench_dgl.py            # the full run (about 15 minutes)
    python benchmarks/bench_dgl.py --nodes 100000 --epochs 3               # a quick one
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

HERE = Path(__file__).resolve().parent
DEFAULT_ENV = Path.home() / ".cache" / "gnnpart-dgl-env"


def dgl_graph(graph_file: str):
    """``(graph, arrays)``: the ``.npz`` a benchmark saved, as a DGL graph (in DGL's environment: no gnnpart there)
    and its arrays (``x``, ``y``, masks) as tensors."""
    import dgl
    import numpy as np
    import torch

    z = np.load(graph_file)
    indptr, indices = z["indptr"], z["indices"]
    n = len(indptr) - 1
    dst = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))  # gnnpart's CSR lists each node's in-edges
    g = dgl.graph((torch.from_numpy(indices), torch.from_numpy(dst)), num_nodes=n)
    return g, {key: torch.from_numpy(z[key]) for key in z.files if key not in ("indptr", "indices")}


def dgl_child(graph_file: str, model: str, hidden: int, epochs: int, threads: int) -> dict:
    """DGL's GraphConv / SAGEConv on the whole graph, in DGL's environment (no gnnpart there): median epoch."""
    import dgl
    import torch
    from bench_train import two_layer_epochs  # stdlib at import: it runs in DGL's environment
    from dgl.nn import GraphConv, SAGEConv

    torch.set_num_threads(threads)
    g, arrays = dgl_graph(graph_file)
    x, y, train = arrays["x"], arrays["y"], arrays["train_mask"]
    classes = int(y.max()) + 1
    torch.manual_seed(0)
    if model == "gcn":
        g = dgl.add_self_loop(g)
        conv1, conv2 = GraphConv(x.shape[1], hidden, norm="both"), GraphConv(hidden, classes, norm="both")
    else:
        conv1, conv2 = SAGEConv(x.shape[1], hidden, "mean"), SAGEConv(hidden, classes, "mean")
    times, loss = two_layer_epochs(conv1, conv2, lambda conv, h: conv(g, h), x, y, train, epochs)
    return {"epoch_s": statistics.median(times[1:]), "loss": loss.item(), "dgl": dgl.__version__,
            "torch": torch.__version__}


def run_json(cmd: list[str], threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main() -> None:
    sys.path.insert(0, str(HERE))
    from bench_train import graph_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    graph_arguments(parser, epochs=5)
    parser.add_argument("--dgl-env", default=str(DEFAULT_ENV), help="DGL's environment (benchmarks/dgl_env.sh DIR)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        graph_file, model, hidden, epochs, threads = args.child
        print(json.dumps(dgl_child(graph_file, model, int(hidden), int(epochs), int(threads))))
        return
    dgl_python = Path(args.dgl_env) / "bin" / "python"
    if not dgl_python.exists():
        subprocess.run(["bash", str(HERE / "dgl_env.sh"), args.dgl_env], check=True)

    import numpy as np

    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"
    train_script = str(HERE / "bench_train.py")
    with tempfile.TemporaryDirectory(prefix="gnnpart-dgl-bench-") as tmp:
        g = gnnpart.load(spec)
        graph_file = str(Path(tmp) / "graph.npz")
        np.savez(graph_file, indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, train_mask=g.train_mask)
        parts = {r: str(Path(tmp) / f"parts-{r}") for r in (1, 2)}
        for r, part_dir in parts.items():
            gnnpart.partition_graph(g, r, part_dir)
        edge_parts = str(Path(tmp) / "parts-2-edges")
        gnnpart.partition_graph(g, 2, edge_parts, balance="nodes,edges,train")
        del g
        print(f"# {spec}; 2 layers, hidden {args.hidden}, dropout 0.5 between layers, Adam; median of "
              f"{args.epochs} epochs after 1 warm-up; {os.cpu_count()} cores", flush=True)
        for model in args.models.split(","):
            hidden, epochs = str(args.hidden), str(args.epochs)
            got = {"DGL 1 x 2 threads": run_json([str(dgl_python), __file__, "--child", graph_file, model, hidden,
                                                  epochs, "2"], 2)}
            got["PyG 1 x 2 threads"] = run_json([sys.executable, train_script, "--child", "pyg", graph_file, model,
                                                 hidden, epochs, "2"], 2)
            for ranks, threads, cache, part_dir, label in (
                    (1, 2, "no-block-cache", parts[1], ", no block cache"), (1, 2, "block-cache", parts[1], ""),
                    (2, 1, "block-cache", parts[2], ""), (2, 1, "block-cache", edge_parts, ", edges balanced")):
                cmd = mpiexec_command(ranks, [train_script, "--child", "gnnpart", part_dir, model, hidden, epochs,
                                              "on", str(threads), cache])
                name = f"gnnpart {ranks} x {threads} thread{'s' if threads > 1 else ''}"
                got[name + label] = run_json(cmd, threads)
            dgl = got["DGL 1 x 2 threads"]["epoch_s"]
            one = got["gnnpart 1 x 2 threads"]["epoch_s"]
            print(f"{model}: DGL {got['DGL 1 x 2 threads']['dgl']} on torch {got['DGL 1 x 2 threads']['torch']}",
                  flush=True)
            for name, res in got.items():
                peak = res.get("peak_gib")
                peak = f", peak {max(peak) if isinstance(peak, list) else peak:.2f} GiB a process" if peak else ""
                print(f"  {name:<38} epoch {res['epoch_s']:7.3f} s  = {res['epoch_s'] / dgl:.2f}x DGL{peak}", flush=True)
            for label in ("", ", edges balanced"):
                two = got[f"gnnpart 2 x 1 thread{label}"]["epoch_s"]
                print(f"  gnnpart 2 x 1 thread{label} / 1 x 2 threads: {two / one:.2f}x", flush=True)
            print(json.dumps({"model": model, **{k: v["epoch_s"] for k, v in got.items()}}), flush=True)


if __name__ == "__main__":
    main()
