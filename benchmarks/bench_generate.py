"""Benchmark: ``gnnpart generate`` in one process against ``gnnpart generate -n P`` drawn in slices (issue 25).

For each size (degree 20, 128 features, written to a graph directory): the single-process generator (the graph of
``synthetic:SPEC``), then the sliced generator on P = 1, 2, 4 ranks (one thread each): wall time and the peak
memory of the largest rank (VmHWM of each rank, read when it finishes), and the stored edges. The ranks of this
2-core machine share its cores, so the times say little about a cluster; the memory per rank is the point.

    python benchmarks/bench_generate.py                          # 1M and 4M nodes (about 10 minutes here)
    python benchmarks/bench_generate.py --sizes 100000 --ranks 1,2
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


def child(spec: str, out: str, sliced: str) -> None:
    """One rank (or the one process): generate, then print its peak."""
    comm = None
    if int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    from gnnpart.data.sliced import generate_sliced
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir

    spec_obj = SyntheticSpec.parse(spec)
    start = time.perf_counter()
    if sliced == "1":
        meta = generate_sliced(spec_obj, out, overwrite=True, comm=comm)
    else:
        meta = generate_to_dir(spec_obj, out, overwrite=True)
    with open("/proc/self/status") as fh:
        peak = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
    line = json.dumps({"s": time.perf_counter() - start, "peak_gib": peak / 2**30, "edges": meta["num_edges"]})
    os.write(1, (line + "\n").encode())  # one write: the ranks' lines never mix


def run(ranks: int | None, *args: str) -> list[dict]:
    from gnnpart.cli.launcher import mpiexec_command

    cmd = [sys.executable, __file__, *args] if ranks is None else mpiexec_command(ranks, [__file__, *args])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,4000000")
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--workdir", default="/tmp/gnnpart-bench-generate")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    out = Path(args.workdir)
    print(f"# degree 20, 128 features; {os.cpu_count()} cores; peak: the largest rank's VmHWM (with imported numpy)")
    print("| nodes | generator | ranks | s | peak GiB a rank | stored edges |\n| --- | --- | --- | --- | --- | --- |",
          flush=True)
    for nodes in (int(s) for s in args.sizes.split(",")):
        spec = f"nodes={nodes},degree=20,classes=16,features=128"
        rows = [("one process (`synthetic:SPEC`)", 1, run(None, "--child", spec, str(out), "0"))]
        for p in (int(r) for r in args.ranks.split(",")):
            rows.append(("in slices (`-n P`)", p, run(p if p > 1 else None, "--child", spec, str(out), "1")))
        for name, p, got in rows:
            print(f"| {nodes:,} | {name} | {p} | {max(g['s'] for g in got):.1f} | "
                  f"{max(g['peak_gib'] for g in got):.2f} | {got[0]['edges']:,} |", flush=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
