"""Benchmark: the pipeline in slices (issue 25): ``generate -n P`` then ``partition --method ptscotch -n P``, for
P = 1, 2, 4, against the one-process pipeline (``generate`` without ``-n``, then METIS) and KaMinPar.

For each size (degree 20, 16 classes, 128 features; K parts), prints one table row per run:

- time: the partitioner's own (PT-Scotch, METIS, KaMinPar) and the whole step;
- peak memory: per rank (the largest) and in all, each process's VmHWM or ``ru_maxrss`` (they include the
  ~0.23 GiB of the imported package, torch included);
- edge cut and halo rows, each against METIS's on the same graph (the sliced graph: ``generate -n`` draws a
  different graph than ``generate``, the same for every P); imbalance of nodes, edges and training nodes.

The ranks run on Open MPI (``mpirun.openmpi``), which PT-Scotch links. On a 2-core machine, P = 4 ranks share two
cores: times say nothing of a cluster, memory does.

    python benchmarks/bench_ptscotch.py                          # 1M and 4M nodes, K = 8 (about 30 minutes)
    python benchmarks/bench_ptscotch.py --sizes 100000 --k 4     # a quick one
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
from bench_partition import peak_rss_bytes as _peak  # noqa: E402  (VmHWM)
LIBMPI = "libmpi.so.40"


def rank_generate(spec: str, out: str) -> None:
    """One rank of ``generate -n P``: prints the ranks' peaks (rank 0)."""
    from mpi4py import MPI

    from gnnpart.data.sliced import generate_sliced
    from gnnpart.data.synthetic import SyntheticSpec

    comm = MPI.COMM_WORLD
    start = time.perf_counter()
    generate_sliced(SyntheticSpec.parse(spec), out, overwrite=True, comm=comm)
    peaks = comm.gather(_peak(), root=0)
    if comm.Get_rank() == 0:
        print(json.dumps({"s": time.perf_counter() - start, "peaks": peaks}))


def rank_partition(graph_dir: str, k: str, out: str) -> None:
    """One rank of ``partition --method ptscotch -n P``: prints ``meta.json``'s numbers (rank 0)."""
    from mpi4py import MPI

    from gnnpart.partition.distributed import partition_distributed

    comm = MPI.COMM_WORLD
    meta = partition_distributed(comm, graph_dir, int(k), out, ("nodes", "edges"), overwrite=True)
    if comm.Get_rank() == 0:
        print(json.dumps({"s": meta["timing_s"]["total_s"], "partitioner_s": meta["timing_s"].get("ptscotch_s", 0.0),
                          "peaks": meta["memory_plan"]["peak_rss_per_rank"], "stats": meta["stats"],
                          "estimate": meta["memory_plan"]["ptscotch_estimate"]}))


def one_process(args: list[str]) -> tuple[dict, int, float]:
    """Run ``python ARGS`` alone: (its last JSON line, the peak it reports, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    if proc.returncode:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-3000:]}")
    got = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    return got, got["peak"], time.perf_counter() - start


def child_generate(spec: str, out: str) -> None:
    """``gnnpart generate`` without ``-n``, in this process."""
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir

    generate_to_dir(SyntheticSpec.parse(spec), out, overwrite=True)
    print(json.dumps({"peak": _peak()}))


def on_ranks(p: int, args: list[str]) -> dict:
    cmd = [shutil.which("mpirun.openmpi") or "mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-n", str(p),
           "-x", "MPI4PY_LIBMPI", "-x", "OMP_NUM_THREADS", sys.executable, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, MPI4PY_LIBMPI=LIBMPI,
                                                                        OMP_NUM_THREADS="1"))
    if proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr[-3000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def child_metis(graph_dir: str, k: str, out: str, method: str) -> None:
    """METIS or KaMinPar (2 threads) in one process, on the graph directory (mapped)."""
    from gnnpart import partition_graph
    from gnnpart.data.graph_dir import open_graph

    meta = partition_graph(open_graph(graph_dir), int(k), out, method=method, threads=2, overwrite=True)
    print(json.dumps({"s": meta["timing_s"]["total_s"], "partitioner_s": meta["timing_s"].get(f"{method}_s", 0.0),
                      "stats": meta["stats"], "peak": _peak()}))


def row(nodes, name, got, peak_max, peak_sum, metis) -> str:
    st, imb = got["stats"], got["stats"]["imbalance"]
    return (f"| {nodes:,} | {name} | {got['partitioner_s']:.1f} | {got['s']:.1f} | {peak_max / 2**30:.2f} | "
            f"{peak_sum / 2**30:.2f} | {st['edge_cut']:,} | {st['edge_cut'] / metis['stats']['edge_cut']:.3f} | "
            f"{st['halo_rows_total']:,} | {st['halo_rows_total'] / metis['stats']['halo_rows_total']:.3f} | "
            f"{imb['nodes']:.3f} / {imb['edges']:.3f} / {imb['train']:.3f} |")


PAPERS = {"nodes": 111_059_956, "edges": 1_615_685_872, "features": 128}
"""ogbn-papers100M's shape: nodes, directed edges (about twice as many adjacency entries), feature width."""
BASELINE = 0.23 * 2**30
"""A rank's memory before any graph (the interpreter and the imported package, torch included), measured here."""


def project(nodes: int, edges: int, p: int, ptscotch_peak: int, one_rank_s: float, entries_per_s: float) -> None:
    """papers100M's shape at 16, 64 and 128 ranks, from a run of ``nodes`` / ``edges`` (stored, symmetric) on ``p``
    ranks: PT-Scotch's bytes per adjacency entry above the baseline, and one rank's entries per second."""
    per_entry = (ptscotch_peak - BASELINE) / (edges / p)
    entries = 2 * PAPERS["edges"]
    print(f"\npapers100M's shape projected ({PAPERS['nodes']:,} nodes, {entries:,} adjacency entries, "
          f"{PAPERS['features']} features): PT-Scotch's {per_entry:.0f} B per entry above a {BASELINE / 2**30:.2f} "
          f"GiB baseline (largest rank at P = {p}, {nodes:,} nodes); time at one rank's rate "
          f"({entries_per_s / 1e6:.2f}M entries/s at P = 1, {one_rank_s:.0f} s) divided by P, an optimistic bound: the "
          "ranks here share 2 cores, so no scaling was measured")
    print("| machines P | entries a rank | PT-Scotch GiB a rank | features GiB a rank (held twice while sent) | "
          "largest step GiB a rank | PT-Scotch s at one rank's rate / P |\n| --- | --- | --- | --- | --- | --- |")
    for machines in (16, 64, 128):
        share = entries / machines
        scotch = BASELINE + per_entry * share
        feats = 2 * PAPERS["nodes"] / machines * (4 * PAPERS["features"] + 8 + 3)
        print(f"| {machines} | {share / 1e6:,.0f}M | {scotch / 2**30:.1f} | {feats / 2**30:.1f} | "
              f"{max(scotch, BASELINE + feats) / 2**30:.1f} | {entries / entries_per_s / machines:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,4000000", help="node counts")
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--k", type=int, default=8, help="parts")
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--workdir", default="/tmp/gnnpart-bench-ptscotch")
    parser.add_argument("--rank-generate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--rank-partition", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-generate", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_generate:
        return rank_generate(*args.rank_generate)
    if args.rank_partition:
        return rank_partition(*args.rank_partition)
    if args.child:
        return child_metis(*args.child)
    if args.child_generate:
        return child_generate(*args.child_generate)
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    me = str(Path(__file__).resolve())
    print(f"# K = {args.k}, degree {args.degree}, 16 classes, 128 features; {os.cpu_count()} cores; ranks on Open MPI",
          flush=True)
    print("| nodes | run | partitioner s | whole s | peak GiB, largest rank | peak GiB, all ranks | edge cut | x METIS | "
          "halo rows | x METIS | imbalance nodes / edges / train |\n" + "| --- " * 11 + "|", flush=True)
    for nodes in (int(s) for s in args.sizes.split(",")):
        spec = f"nodes={nodes},degree={args.degree},classes=16,features=128"
        gdir, sliced, out = root / "graph", root / "sliced", root / "parts"
        _, gen_peak, gen_s = one_process([me, "--child-generate", spec, str(gdir)])
        shutil.rmtree(gdir, ignore_errors=True)
        pipeline = {}
        for p in (int(s) for s in args.ranks.split(",")):
            gen = on_ranks(p, [me, "--rank-generate", spec, str(sliced)])
            got = on_ranks(p, [me, "--rank-partition", str(sliced), str(args.k), str(out)])
            pipeline[p] = (gen, got)
        metis, metis_peak, _ = one_process([me, "--child", str(sliced), str(args.k), str(out), "metis"])
        kaminpar, kaminpar_peak, _ = one_process([me, "--child", str(sliced), str(args.k), str(out), "kaminpar"])
        print(row(nodes, "METIS, one process", metis, metis_peak, metis_peak, metis), flush=True)
        print(row(nodes, "KaMinPar, 2 threads", kaminpar, kaminpar_peak, kaminpar_peak, metis), flush=True)
        for p, (gen, got) in pipeline.items():
            print(row(nodes, f"PT-Scotch, P = {p}", got, max(got["peaks"]), sum(got["peaks"]), metis), flush=True)
        print(f"\npipeline peaks, {nodes:,} nodes (GiB, largest rank / all ranks): one process: generate "
              f"{gen_peak / 2**30:.2f} ({gen_s:.0f} s), METIS {metis_peak / 2**30:.2f}, so "
              f"{max(gen_peak, metis_peak) / 2**30:.2f}", flush=True)
        one = max(gen_peak, metis_peak)
        for p, (gen, got) in pipeline.items():
            largest = max(max(gen["peaks"]), max(got["peaks"]))
            print(f"  P = {p}: generate {max(gen['peaks']) / 2**30:.2f} / {sum(gen['peaks']) / 2**30:.2f} "
                  f"({gen['s']:.0f} s), PT-Scotch {max(got['peaks']) / 2**30:.2f} / {sum(got['peaks']) / 2**30:.2f} "
                  f"(estimate {got['estimate'] / 2**30:.2f} a rank), largest rank {largest / 2**30:.2f} = "
                  f"{largest / one:.2f}x the one-process pipeline's", flush=True)
        print(flush=True)
        for path in (sliced, out):
            shutil.rmtree(path, ignore_errors=True)
        last = (nodes, pipeline)
    nodes, pipeline = last
    largest = max(pipeline)
    edges = nodes * args.degree
    project(nodes, edges, largest, max(pipeline[largest][1]["peaks"]), pipeline[min(pipeline)][1]["partitioner_s"],
            edges / max(pipeline[min(pipeline)][1]["partitioner_s"], 1e-9) * min(pipeline))


if __name__ == "__main__":
    main()
