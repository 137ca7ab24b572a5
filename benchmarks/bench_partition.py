"""Benchmark: synthetic graph generation and ``partition_graph`` on the 1M-node / 20M-edge graph.

Prints, for the generator: time and peak memory. For each K and method: the
whole ``partition_graph`` time (graph already in memory), the METIS call
alone, the pipeline's overhead around METIS, peak memory during the call
(against the graph's CSR + features), edge cut, halo rows and imbalance.

Each measurement runs in a fresh process; peak memory is the process's
VmHWM, reset just before the measured call (Linux ``clear_refs``).

    python benchmarks/bench_partition.py                  # the full run (several minutes)
    python benchmarks/bench_partition.py --nodes 100000   # a quick one

``--scaling``: the size-scaling table of graphs written to disk (``gnnpart generate``) and partitioned
memory-mapped, K = 8 (issue 14): for each size, the generator's time and peak, METIS alone (its input built
from the structure, then ``METIS_PartGraphKway``), the whole partitioning with 1 writer and with 4 writers (MPI
ranks), each peak against METIS alone's; then one size with 4x wider features, and a graph whose features
exceed half this machine's memory:

    python benchmarks/bench_partition.py --scaling --sizes 1000000,4000000 --wide 512 --big-features 4096
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
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


def child_metis(graph_dir: str, k: int) -> dict:
    from gnnpart.data.graph_dir import open_graph
    from gnnpart.partition import assign, metis

    g = open_graph(graph_dir)
    peak_rss_reset()
    start = time.perf_counter()
    xadj, adjncy = assign.symmetric_adjacency(g, metis.index_dtype())
    weights = assign.constraint_weights(g, assign.DEFAULT_BALANCE)
    metis.part_graph_kway(xadj, adjncy, weights, weights.shape[1], k)
    return {"metis_s": time.perf_counter() - start, "peak_gib": peak_rss_bytes() / 2**30, "entries": len(adjncy)}


def child_partition_dir(graph_dir: str, k: int, out: str) -> dict:
    """Partition a graph directory, memory-mapped; under mpiexec, one writer per rank (each prints its line)."""
    from gnnpart import partition_graph
    from gnnpart.data.graph_dir import open_graph

    comm = None
    if int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    g = open_graph(graph_dir)
    peak_rss_reset()
    start = time.perf_counter()
    meta = partition_graph(g, k, out, overwrite=True, comm=comm)
    return {"rank": comm.Get_rank() if comm else 0, "total_s": time.perf_counter() - start,
            "metis_s": meta["timing_s"].get("metis_s", 0.0), "peak_gib": peak_rss_bytes() / 2**30,
            "metis_estimate_gib": meta["memory_plan"]["metis_estimate"] / 2**30}


def child_generate_dir(spec: str, out: str) -> dict:
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir

    peak_rss_reset()
    start = time.perf_counter()
    meta = generate_to_dir(SyntheticSpec.parse(spec), out, overwrite=True)
    return {"generate_s": time.perf_counter() - start, "peak_gib": peak_rss_bytes() / 2**30,
            "nodes": meta["num_nodes"], "edges": meta["num_edges"]}


def spawn_ranks(n: int, *args: str) -> list[dict]:
    from gnnpart.cli.launcher import mpiexec_command

    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(mpiexec_command(n, [__file__, *args]), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"ranks {args} failed:\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _dir_gib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def _last_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else "(no message: killed?)"


def scaling(args) -> None:
    from gnnpart.limits import available_memory

    print(f"# K = {args.k}; degree {args.degree}; peaks are VmHWM (reset before the measured call) and include the "
          f"~0.2 GiB of imported torch; memory available now: {available_memory() / 2**30:.1f} GiB", flush=True)
    print(f"{'nodes':>10} {'edges':>12} {'F':>5} {'x_GiB':>6} {'gen_s':>7} {'gen_GiB':>7} {'metis_s':>8} "
          f"{'metis_GiB':>9} {'part_s':>7} {'(metis)':>7} {'part_GiB':>8} {'/metis':>6} {'4w_s':>7} {'4w_GiB':>7}",
          flush=True)
    rows = [(n, args.features, True) for n in (int(s) for s in args.sizes.split(","))]
    if args.wide:
        rows.append((int(args.sizes.split(",")[0]), args.wide, False))
    if args.big_features:
        rows.append((int(args.sizes.split(",")[0]), args.big_features, False))
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    for nodes, features, writers in rows:
        spec = f"nodes={nodes},degree={args.degree},classes=16,features={features}"
        gdir, out = root / "graph", root / "parts"
        try:
            gen = spawn("--child", "generate_dir", spec, str(gdir))
        except SystemExit as exc:
            print(f"{nodes:>10,} {'':>12} {features:>5}  generate refused or failed: {_last_line(exc)}", flush=True)
            continue
        x_gib = nodes * features * 4 / 2**30
        line = (f"{nodes:>10,} {gen['edges']:>12,} {features:>5} {x_gib:>6.1f} {gen['generate_s']:>7.1f} "
                f"{gen['peak_gib']:>7.2f}")
        try:
            alone = spawn("--child", "metis", str(gdir), str(args.k))
            one = spawn("--child", "partition_dir", str(gdir), str(args.k), str(out))
        except SystemExit as exc:
            print(f"{line}  partition refused or failed: {_last_line(exc)}", flush=True)
            shutil.rmtree(gdir, ignore_errors=True)
            continue
        line += (f" {alone['metis_s']:>8.1f} {alone['peak_gib']:>9.2f} {one['total_s']:>7.1f} {one['metis_s']:>7.1f} "
                 f"{one['peak_gib']:>8.2f} {one['peak_gib'] / alone['peak_gib']:>6.2f}")
        if writers:
            ranks = spawn_ranks(4, "--child", "partition_dir", str(gdir), str(args.k), str(out))
            line += f" {max(r['total_s'] for r in ranks):>7.1f} {max(r['peak_gib'] for r in ranks):>7.2f}"
        print(line + f"   (graph dir {_dir_gib(gdir):.1f} GiB, parts {_dir_gib(out):.1f} GiB)", flush=True)
        shutil.rmtree(gdir, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


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
    parser.add_argument("--scaling", action="store_true", help="the size-scaling table (see above)")
    parser.add_argument("--sizes", default="1000000,4000000,16000000", help="--scaling: node counts")
    parser.add_argument("--k", type=int, default=8, help="--scaling: parts")
    parser.add_argument("--wide", type=int, default=512, help="--scaling: features of the wide row (0: none)")
    parser.add_argument("--big-features", type=int, default=0,
                        help="--scaling: features of a row whose features exceed half the memory (0: none)")
    parser.add_argument("--workdir", default="/tmp/gnnpart-bench-scaling", help="--scaling: where graphs are written")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        children = {"generate": lambda: child_generate(*rest),
                    "partition": lambda: child_partition(rest[0], int(rest[1]), rest[2], rest[3]),
                    "generate_dir": lambda: child_generate_dir(*rest),
                    "metis": lambda: child_metis(rest[0], int(rest[1])),
                    "partition_dir": lambda: child_partition_dir(rest[0], int(rest[1]), rest[2])}
        os.write(1, (json.dumps(children[kind]()) + "\n").encode())  # one write: ranks' lines never mix
        return
    if args.scaling:
        scaling(args)
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
