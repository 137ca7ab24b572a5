"""Benchmark: the partitioners side by side (issue 25): METIS, and KaMinPar on 1 and 2 threads.

For each size (synthetic graphs of degree 20, written once with ``gnnpart generate`` and partitioned
memory-mapped, so the features never count), K parts: each method in a fresh process, with its default balance
(METIS: ``nodes,train``, each within 3%; KaMinPar: ``nodes,edges`` combined into one weight within 3%), prints

- the partitioner's own time and the whole ``partition_graph`` (writing the parts included);
- the process's peak memory (VmHWM, reset just before the call; it includes the ~0.25 GiB of imported torch);
- the edge cut and the halo rows, each against METIS's; the imbalance of nodes, edges and training nodes; and for
  KaMinPar, the imbalance of the one weight it balances (the rule of ``gnnpart.partition.assign.single_weight``).

    python benchmarks/bench_partitioners.py                                  # 1M and 4M nodes, K = 8 (about 15 minutes)
    python benchmarks/bench_partitioners.py --sizes 100000 --k 4             # a quick one
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_partition import peak_rss_bytes, peak_rss_reset  # noqa: E402

METHODS = (("metis", 1), ("kaminpar", 1), ("kaminpar", 2))


def child(graph_dir: str, k: str, method: str, threads: str, out: str) -> None:
    from gnnpart import partition_graph
    from gnnpart.data.graph_dir import open_graph

    g = open_graph(graph_dir)
    peak_rss_reset()
    start = time.perf_counter()
    meta = partition_graph(g, int(k), out, method=method, threads=int(threads), overwrite=True)
    total = time.perf_counter() - start
    peak = peak_rss_bytes()
    combined = None
    if method == "kaminpar":  # the weight KaMinPar balanced, per part
        import numpy as np

        from gnnpart.partition import load_partition
        from gnnpart.partition.assign import single_weight

        weight = single_weight(g, tuple(meta["balance"]))
        loads = []
        for p in range(int(k)):
            part = load_partition(out, p, verify=False, mmap=True)
            loads.append(int(weight[np.asarray(part.global_ids[: part.num_inner])].sum()))
        combined = max(loads) / (sum(loads) / len(loads))
    stats = meta["stats"]
    print(json.dumps({"combined": combined, "total_s": total, "partitioner_s": meta["timing_s"].get(f"{method}_s", 0.0),
                      "peak_gib": peak / 2**30, "edge_cut": stats["edge_cut"],
                      "halo_rows": stats["halo_rows_total"], "imbalance": stats["imbalance"],
                      "estimate_gib": meta["memory_plan"]["metis_estimate"] / 2**30}))


def run(*args: str, threads: int = 2) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,4000000", help="node counts")
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--k", type=int, default=8, help="parts")
    parser.add_argument("--workdir", default="/tmp/gnnpart-bench-partitioners")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import kaminpar

    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    print(f"# K = {args.k}, degree {args.degree}, features 128; KaMinPar {kaminpar.__version__}; {os.cpu_count()} cores",
          flush=True)
    print("| nodes | method | partitioner s | whole s | peak GiB (estimate) | edge cut | x METIS | halo rows | x METIS | "
          "imbalance nodes / edges / train | the weight balanced |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | "
          "--- | --- |", flush=True)
    for nodes in (int(s) for s in args.sizes.split(",")):
        gdir, out = root / "graph", root / "parts"
        spec = f"synthetic:nodes={nodes},degree={args.degree},classes=16,features=128"
        subprocess.run([sys.executable, "-m", "gnnpart", "-q", "generate", spec, "--out", str(gdir), "--overwrite"],
                       check=True, stdout=subprocess.DEVNULL)
        metis = None
        for method, threads in METHODS:
            got = run("--child", str(gdir), str(args.k), method, str(threads), str(out), threads=threads)
            metis = metis or got
            imb = got["imbalance"]
            name = method if method == "metis" else f"{method} ({threads} thread{'s' if threads > 1 else ''})"
            print(f"| {nodes:,} | {name} "
                  f"| {got['partitioner_s']:.1f} | {got['total_s']:.1f} | {got['peak_gib']:.2f} "
                  f"({got['estimate_gib']:.2f}) | {got['edge_cut']:,} | {got['edge_cut'] / metis['edge_cut']:.3f} | "
                  f"{got['halo_rows']:,} | {got['halo_rows'] / metis['halo_rows']:.3f} | "
                  f"{imb['nodes']:.3f} / {imb['edges']:.3f} / {imb['train']:.3f} | "
                  f"{'its constraints each within 1.03' if got['combined'] is None else format(got['combined'], '.3f')} |", flush=True)
        shutil.rmtree(gdir, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
