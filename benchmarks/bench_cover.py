"""Benchmark: how many rows an exact halo exchange needs at least, against what it sends today (issue 26).

For each graph and part count K, the graph is partitioned with METIS (as ``gnnpart partition`` does), then every
ordered pair of parts' cut edges gets a minimum vertex cover (``gnnpart.partition.cover``, the same as ``gnnpart
inspect --pairs``). Prints, per run: the halo rows today's exact exchange sends, the cover's rows (rows and
partial sums), their ratio, the time of the covers against the time of partitioning, and the bytes of one exchange
at width 256 in float32 for both.

    python benchmarks/bench_cover.py                                   # Cora, CiteSeer, the 1M-node graph
    python benchmarks/bench_cover.py --nodes 100000 --synthetic-ks 2,4  # a quick one
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

WIDTH = 256


def run(graph, name: str, k: int, work: Path) -> dict:
    from gnnpart import partition_graph
    from gnnpart.partition.cover import cover_report

    out = work / f"{name}-{k}"
    start = time.perf_counter()
    partition_graph(graph, k, out, overwrite=True)
    partition_s = time.perf_counter() - start
    start = time.perf_counter()
    pairs = cover_report(out)
    cover_s = time.perf_counter() - start
    shutil.rmtree(out)
    rows = sum(d["rows"] for d in pairs)
    as_rows = sum(d["cover_rows"] for d in pairs)
    as_sums = sum(d["cover_sums"] for d in pairs)
    cut = sum(d["cut_edges"] for d in pairs)
    return {"graph": name, "k": k, "cut_edges": cut, "rows": rows, "cover": as_rows + as_sums, "cover_rows": as_rows,
            "cover_sums": as_sums, "ratio": (as_rows + as_sums) / max(rows, 1), "partition_s": partition_s,
            "cover_s": cover_s, "bytes_today": rows * 4 * WIDTH, "bytes_cover": (as_rows + as_sums) * 4 * WIDTH}


def graph_arguments(parser: argparse.ArgumentParser) -> None:
    """The graphs and part counts of the cover benchmarks (this one and bench_sums.py)."""
    parser.add_argument("--datasets", default="cora,citeseer", help="Planetoid graphs (from GNNPART_DATA)")
    parser.add_argument("--ks", default="2,4,8", help="part counts for the Planetoid graphs")
    parser.add_argument("--nodes", type=int, default=1_000_000, help="synthetic graph's nodes (0: none)")
    parser.add_argument("--degree", type=int, default=20)
    parser.add_argument("--synthetic-ks", default="2,4,8,16", help="part counts for the synthetic graph")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    graph_arguments(parser)
    args = parser.parse_args()

    import gnnpart

    graphs = [(name, gnnpart.load(name), [int(k) for k in args.ks.split(",")])
              for name in filter(None, args.datasets.split(","))]
    if args.nodes:
        spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes=16,features=8"
        graphs.append((spec, gnnpart.load(spec), [int(k) for k in args.synthetic_ks.split(",")]))
    print(f"{'graph':<52} {'K':>3} {'cut edges':>12} {'rows today':>11} {'cover':>11} {'ratio':>6} "
          f"{'as sums':>9} {'partition':>9} {'covers':>7}")
    with tempfile.TemporaryDirectory(prefix="gnnpart-cover-") as tmp:
        for name, graph, ks in graphs:
            for k in ks:
                r = run(graph, name.replace(":", "_").replace(",", "_"), k, Path(tmp))
                print(f"{name:<52} {k:>3} {r['cut_edges']:>12,} {r['rows']:>11,} {r['cover']:>11,} "
                      f"{r['ratio']:>6.3f} {r['cover_sums']:>9,} {r['partition_s']:>8.1f}s {r['cover_s']:>6.1f}s",
                      flush=True)
                print(json.dumps({**r, "graph": name}), flush=True)


if __name__ == "__main__":
    main()
