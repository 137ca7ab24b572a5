"""GPU benchmark: full-graph epochs on one GPU, gnnpart (1 rank, 2 ranks sharing it) against PyG, and the
bandwidth of the halo row kernels against a device-to-device copy.

On ``synthetic:nodes=1000000,degree=20,classes=16,features=128`` (by default), GCN and GraphSAGE with 2 layers,
hidden 256 and dropout 0.5 between layers (none on the input), Adam:
- PyG ``GCNConv`` / ``SAGEConv`` on the whole graph on the GPU (CSR adjacency, ``torch.sparse_csr``);
- gnnpart on 1 rank on the GPU, and on 2 ranks sharing it (METIS parts, ``--transport mpi``).
Prints the median epoch time, the peak GPU memory (``torch.cuda.max_memory_allocated``, largest rank), the halo
and all-reduce seconds, then pack_rows / unpack_rows_ / scatter_add_rows_ bandwidth, and one table at the end.

    python benchmarks/bench_gpu.py                      # the full run (a few minutes on an H100/H200)
    python benchmarks/bench_gpu.py --nodes 100000 --epochs 3
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench_train import gnnpart_worker, graph_arguments, pyg_child, spawn  # benchmarks/ is on the path when this file runs as a script


def kernels(rows: int = 1_000_000, width: int = 256, picked: int = 400_000) -> list[dict]:
    """pack_rows / unpack_rows_ / scatter_add_rows_ against a device-to-device copy of the same bytes."""
    import torch

    from gnnpart.comm import row_ops

    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    table = torch.randn(rows, width, device=dev)
    index = torch.randperm(rows, device=dev, generator=g)[:picked]
    packed = torch.empty(picked, width, device=dev)
    nbytes = picked * width * 4

    def timed(fn, repeat=20) -> float:
        fn()
        torch.cuda.synchronize(dev)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeat):
            fn()
        end.record()
        torch.cuda.synchronize(dev)
        return start.elapsed_time(end) / 1000 / repeat

    src, dst = table[:picked].clone(), torch.empty(picked, width, device=dev)
    copy_s = timed(lambda: dst.copy_(src))
    out = []
    for name, fn in (("pack_rows", lambda: row_ops.pack_rows_into_(table, index, packed)),
                     ("unpack_rows_", lambda: row_ops.unpack_rows_(table, index, packed)),
                     ("scatter_add_rows_", lambda: row_ops.scatter_add_rows_(table, index, packed))):
        seconds = timed(fn)
        out.append({"op": name, "GB_s": 2 * nbytes / seconds / 1e9, "copy_GB_s": 2 * nbytes / copy_s / 1e9,
                    "ratio": copy_s / seconds})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    graph_arguments(parser, epochs=10)
    parser.add_argument("--transport", default="mpi")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "pyg":
            print(json.dumps(pyg_child(rest[0], rest[1], int(rest[2]), int(rest[3]), 4, device="cuda")))
        else:
            gnnpart_worker(rest[0], rest[1], int(rest[2]), int(rest[3]), device="cuda", transport=rest[4])
        return

    import numpy as np
    import torch

    import gnnpart
    from gnnpart.cli.launcher import mpiexec_command

    if not torch.cuda.is_available():
        sys.exit("bench_gpu.py needs a CUDA device")
    gpu = torch.cuda.get_device_name()
    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=128"
    rows = []
    with tempfile.TemporaryDirectory(prefix="gnnpart-gpu-bench-") as tmp:
        t0 = time.perf_counter()
        g = gnnpart.load(spec)
        graph_file = str(Path(tmp) / "graph.npz")
        np.savez(graph_file, indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, train_mask=g.train_mask)
        parts = {}
        for r in (1, 2):
            parts[r] = str(Path(tmp) / f"parts-{r}")
            gnnpart.partition_graph(g, r, parts[r])
        del g
        print(f"# {gpu}; {spec}; 2 layers, hidden {args.hidden}, dropout 0.5 between layers; median of "
              f"{args.epochs} epochs after 1 warm-up (data ready in {time.perf_counter() - t0:.0f} s)", flush=True)
        for model in args.models.split(","):
            base = spawn([sys.executable, __file__, "--child", "pyg", graph_file, model, str(args.hidden), str(args.epochs)], 4)
            rows.append({"model": model, "run": "PyG, whole graph", **base})
            print(json.dumps(rows[-1]), flush=True)
            for r in (1, 2):
                cmd = mpiexec_command(r, [__file__, "--child", "gnnpart", parts[r], model, str(args.hidden),
                                          str(args.epochs), args.transport])
                res = spawn(cmd, 4)
                res["peak_gib"] = max(res["peak_gib"])  # the largest rank
                rows.append({"model": model, "run": f"gnnpart {r} rank(s) on 1 GPU", **res,
                             "x_pyg_time": res["epoch_s"] / base["epoch_s"], "x_pyg_memory": res["peak_gib"] / base["peak_gib"]})
                print(json.dumps(rows[-1]), flush=True)
    kernel_rows = kernels()
    print(f"\n## {gpu}: epochs ({spec}, hidden {args.hidden})\n")
    print("| model | run | epoch s | peak GPU GiB | halo s | all-reduce s | x PyG time | x PyG memory |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        fmt = lambda key, f: (f % r[key]) if key in r else ""  # noqa: E731
        print(f"| {r['model']} | {r['run']} | {r['epoch_s']:.4f} | {r['peak_gib']:.2f} | {fmt('halo_s', '%.4f')} | "
              f"{fmt('allreduce_s', '%.4f')} | {fmt('x_pyg_time', '%.2f')} | {fmt('x_pyg_memory', '%.2f')} |")
    print(f"\n## {gpu}: halo row kernels (400,000 of 1,000,000 rows x 256 float32), bytes read + written\n")
    print("| op | GB/s | device copy GB/s | fraction of copy |")
    print("| --- | --- | --- | --- |")
    for k in kernel_rows:
        print(f"| {k['op']} | {k['GB_s']:.0f} | {k['copy_GB_s']:.0f} | {k['ratio']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": gpu, "epochs": rows, "kernels": kernel_rows}, indent=1))


if __name__ == "__main__":
    main()
