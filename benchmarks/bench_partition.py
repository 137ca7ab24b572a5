"""Benchmark: synthetic graph generation and ``partition_graph`` on the 1M-node / 20M-edge graph.

Prints, for the generator: time and peak memory. For each K and method: the
whole ``partition_graph`` time (graph already in memory), the METIS call
alone, the pipeline's overhead around METIS, peak memory during the call
(against the graph's CSR + features), edge cut, halo rows and imbalance.

Each measurement runs in a fresh process; peak memory is the process's
VmHWM, reset just before the measured call (Linux ``clear_refs``).

    python benchmarks/bench_partition.py                  # the full run (several minutes)
    python benchmarks/bench_partition.py --nodes 100000   # a quick one
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_reset() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_generate(spec: str, save: str) -> dict:
    import numpy as np

    from gnnpart.data import load

    peak_rss_reset()
    start = time.perf_counter()
    g = load(spec)
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    np.savez(save, indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, train_mask=g.train_mask,
             val_mask=g.val_mask, test_mask=g.test_mask)
    return {"generate_s": seconds, "peak_gib": peak / 2**30, "nodes": g.num_nodes, "edges": g.num_edges}


def child_partition(graph_file: str, k: int, method: str, out: str) -> dict:
    import numpy as np

    from gnnpart import Graph, partition_graph

    with np.load(graph_file) as z:
        g = Graph(z["indptr"], z["indices"], z["x"], z["y"], z["train_mask"], z["val_mask"], z["test_mask"], undirected=True)
    graph_bytes = g.indptr.nbytes + g.indices.nbytes + g.x.nbytes
    peak_rss_reset()
    start = time.perf_counter()
    meta = partition_graph(g, k, out, method=method, overwrite=True)
    total = time.perf_counter() - start
    peak = peak_rss_bytes()
    stats = meta["stats"]
    return {
        "k": k, "method": method, "total_s": total, "metis_s": meta["timing_s"].get("metis_s", 0.0),
        "peak_gib": peak / 2**30, "graph_gib": graph_bytes / 2**30, "edge_cut": stats["edge_cut"],
        "halo_rows": stats["halo_rows_total"], "imbalance": stats["imbalance"],
    }


def spawn(*args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--parts", default="2,4,8,16")
    parser.add_argument("--methods", default="metis,random")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_generate(*rest) if kind == "generate" else child_partition(rest[0], int(rest[1]), rest[2], rest[3])
        print(json.dumps(result))
        return

    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features={args.features}"
    with tempfile.TemporaryDirectory(prefix="gnnpart-bench-") as tmp:
        graph_file = str(Path(tmp) / "graph.npz")
        gen = spawn("--child", "generate", spec, graph_file)
        print(f"# {spec}: {gen['nodes']:,} nodes, {gen['edges']:,} directed edges")
        print(f"generate: {gen['generate_s']:.2f} s, peak {gen['peak_gib']:.2f} GiB")
        print(f"{'K':>3} {'method':>7} {'total_s':>8} {'metis_s':>8} {'overhead':>8} {'peak_GiB':>8} {'xgraph':>6} "
              f"{'edge_cut':>10} {'cut%':>6} {'halo_rows':>10} {'imb_nodes':>9} {'imb_edges':>9} {'imb_train':>9}")
        for k in [int(s) for s in args.parts.split(",")]:
            for method in args.methods.split(","):
                r = spawn("--child", "partition", graph_file, str(k), method, str(Path(tmp) / f"out-{k}-{method}"))
                overhead = (r["total_s"] - r["metis_s"]) / r["metis_s"] if r["metis_s"] else float("nan")
                imb = r["imbalance"]
                print(f"{k:>3} {method:>7} {r['total_s']:>8.2f} {r['metis_s']:>8.2f} {overhead:>8.1%} {r['peak_gib']:>8.2f} "
                      f"{r['peak_gib'] / r['graph_gib']:>6.2f} {r['edge_cut']:>10,} {100 * r['edge_cut'] / gen['edges']:>6.1f} "
                      f"{r['halo_rows']:>10,} {imb['nodes']:>9.3f} {imb['edges']:>9.3f} {imb['train']:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
