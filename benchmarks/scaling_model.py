"""Benchmark: a scaling model for clusters: the epoch time of full-graph training on K ranks, projected.

We cannot run 64 machines here, so this script measures what one rank does here and models the rest:

1. **Calibrate** (this machine, ``--threads`` per rank): seconds per row of each linear map of the model (forward
   and backward), seconds per edge of ``spmm_sum`` at each exchanged width, seconds per byte of packing and of the
   int8 codec, and, from a real one-rank epoch of the model, the rest (elementwise passes, autograd) per element.
2. **Partition statistics**: METIS parts of the synthetic graph at K = 8 ... 256 (the same balance constraints as
   ``gnnpart partition``): the largest part's inner rows, edges, halo rows, rows sent, and peers.
3. **Model** of one epoch on the slowest rank: compute from the rates; for each exchange
   ``alpha * peers + bytes / beta`` (alpha-beta links; each rank sends and receives at once), minus what overlaps
   (the inner-source aggregation for exact, int8 and sample; a whole epoch under ``stale:1``); a gradient
   all-reduce (``2 log2(K) alpha + 2 (K - 1) / K * bytes / beta``).
4. **Validation**: the same model with this machine's link (alpha and beta measured with ``Alltoallv`` between
   two ranks) and its cores (ranks beyond the cores share them), against epochs measured here at 2 and 4 ranks.
5. **Projection** at K = 8 ... 256 for ``exact``, ``int8``, ``sample:0.1``, ``stale:1`` and exact with
   ``--aggregate-at auto`` (``auto``: the rows of each pair's minimum vertex cover, rows and partial sums, in place
   of the boundary rows; every cut edge is still added once, at its sender or its receiver) over 100 Gb/s
   Ethernet and 200 Gb/s InfiniBand HDR, for the synthetic graph and for a graph of ogbn-papers100M's shape
   (111M nodes, 1.6B edges, 128 features, 172 classes; by statistics: its halo per part is the synthetic graph's
   halo ratio at the same K), with a plot.

    python benchmarks/scaling_model.py --nodes 200000 --epochs 2   # what RESULTS.md records: about 12 minutes here
    python benchmarks/scaling_model.py                          # the 1M-node graph: its 2-rank stale:1 run needs more than 24 GiB
    python benchmarks/scaling_model.py --nodes 100000 --parts 8,16,32 --epochs 2   # a quick one
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_kernels import best_of  # benchmarks/ is on the path when this file runs as a script
from bench_train import spawn

POLICIES = ("exact", "int8", "sample:0.1", "stale:1")
PROJECTED = POLICIES + ("auto",)
"""The projection's columns: the measured policies, and exact with ``--aggregate-at auto``."""


@dataclass(frozen=True)
class Network:
    """An alpha-beta link: ``alpha`` seconds per message, ``beta`` bytes a second per rank and direction."""

    name: str
    alpha: float
    beta: float


# Assumptions, not measurements: MPI latencies typical of each fabric, and 90% of the line rate.
NETWORKS = {
    "eth100": Network("100 Gb/s Ethernet", alpha=10e-6, beta=0.9 * 100e9 / 8),
    "ib200": Network("200 Gb/s InfiniBand HDR", alpha=1.5e-6, beta=0.9 * 200e9 / 8),
}
PAPERS100M = {"nodes": 111_059_956, "edges": 1_615_685_872, "features": 128, "classes": 172}
SAR_REFERENCE = {"ranks": 128, "epoch_s": 3.8, "what": "SAR, GraphSAGE 3x256 on ogbn-papers100M, 128 CPU machines"}


# ------------------------------------------------------------------------------------------------ the model
@dataclass
class Rates:
    """Seconds per unit of work on one rank (measured by :func:`calibrate`)."""

    threads: int
    linear_row_s: dict = field(default_factory=dict)  # "a,b" -> s per row, forward + backward of x[a] @ W[a, b]
    spmm_edge_s: dict = field(default_factory=dict)  # "w" -> s per edge and pass, width w
    pack_byte_s: float = 0.0  # pack + unpack of halo rows, per byte of rows
    int8_byte_s: float = 0.0  # int8 encode + decode, per byte of float rows
    other_elem_s: float = 0.0  # everything else, per element of the layers' outputs (fitted on a real epoch)

    def linear(self, a: int, b: int) -> float:
        return self.linear_row_s[f"{a},{b}"]

    def spmm(self, w: int) -> float:
        return self.spmm_edge_s[str(w)]


@dataclass
class Part:
    """The slowest rank's share: inner rows, in-edges, halo rows received, rows sent, peers."""

    inner: float
    edges: float
    halo: float
    sent: float
    peers: float


def layer_plan(features: int, hidden: int, classes: int, layers: int):
    """``(in, out, exchanged width, exchanges each epoch)`` of each GraphSAGE layer, as gnnpart runs it."""
    widths = [features] + [hidden] * (layers - 1) + [classes]
    plan = []
    for i in range(layers):
        a, b = widths[i], widths[i + 1]
        first_cached = i == 0 and a <= b  # no input dropout: the features' aggregation is computed once
        plan.append((a, b, min(a, b), not first_cached))
    return plan


def epoch_time(part: Part, plan, rates: Rates, net: Network, policy: str, ranks: int, params: int,
               slowdown: float = 1.0) -> dict:
    """The modelled epoch of the slowest rank: ``{"compute", "comm", "exposed", "allreduce", "epoch"}`` seconds.

    ``slowdown`` multiplies compute (ranks sharing cores); the exchanges of a layer cost ``alpha * peers +
    max(sent, received) bytes / beta`` plus packing, each direction.
    """
    compute = comm = exposed = 0.0
    pending = 0.0  # stale: the exchanges run behind the whole epoch
    for a, b, w, exchanges in plan:
        compute += 2 * part.inner * rates.linear(a, b)  # lin_l and lin_r
        compute += part.inner * b * rates.other_elem_s
        if not exchanges:
            continue
        spmm_pass = part.edges * rates.spmm(w)
        compute += 2 * spmm_pass  # forward, and the transposed product in backward
        rows = max(part.sent, part.halo)
        value_bytes = {"int8": 1 + 4 / w, "sample:0.1": 0.1 * 4 + 0.1 * 8 / w}.get(policy, 4)
        nbytes = rows * w * value_bytes
        local = part.halo * w * 4 * rates.pack_byte_s + (part.halo * w * 4 * rates.int8_byte_s if policy == "int8" else 0)
        if policy == "sample:0.1":
            local *= 0.1
        one_way = net.alpha * part.peers + nbytes / net.beta
        for _direction in range(2):
            comm += one_way + local
            if policy == "stale:1":
                pending += one_way
                exposed += local
            else:  # overlapped with the inner-source share of the aggregation
                inner_share = spmm_pass * slowdown * (1 - min(1.0, part.halo / max(part.inner + part.halo, 1)))
                exposed += local + max(0.0, one_way - inner_share)
    compute *= slowdown
    if policy == "stale:1":
        exposed += max(0.0, pending - compute)
    allreduce = 0.0 if ranks == 1 else (2 * math.log2(ranks) * net.alpha + 2 * (ranks - 1) / ranks * params * 4 / net.beta)
    return {"compute": compute, "comm": comm, "exposed": exposed, "allreduce": allreduce,
            "epoch": compute + exposed + allreduce}


def sage_params(plan) -> int:
    return sum(2 * a * b + b for a, b, _, _ in plan)


# ------------------------------------------------------------------------------------------------ measuring
def calibrate(plan, threads: int, graph_file: str, epoch_1rank: float, n: int, e: int) -> Rates:
    """Per-op rates with ``threads`` threads; ``other_elem_s`` is what a measured one-rank epoch leaves."""
    import numpy as np
    import torch

    from gnnpart.comm import codec_ops as codec
    from gnnpart.comm import row_ops as rows
    from gnnpart.nn import kernels

    torch.set_num_threads(threads)
    rates = Rates(threads=threads)
    rows_n = 100_000
    for a, b, w, _ in plan:
        x = torch.randn(rows_n, a, requires_grad=True)
        weight = torch.randn(a, b, requires_grad=True)

        def lin():
            (x @ weight).sum().backward()

        rates.linear_row_s[f"{a},{b}"] = best_of(lin) / rows_n
    g = np.load(graph_file)
    indptr, indices = torch.from_numpy(g["indptr"]), torch.from_numpy(g["indices"])
    for w in sorted({w for _, _, w, _ in plan}):
        h = torch.randn(len(indptr) - 1, w)
        rates.spmm_edge_s[str(w)] = best_of(lambda: kernels.spmm_sum(indptr, indices, h)) / len(indices)
    src = torch.randn(1_000_000, 64)
    index = torch.randint(0, src.shape[0], (300_000,))
    packed = rows.pack_rows(src, index)
    moved = index.numel() * 64 * 4
    rates.pack_byte_s = (best_of(lambda: rows.pack_rows(src, index)) + best_of(lambda: rows.unpack_rows_(src, index, packed))) / moved
    payload, scales = codec.quantize_rows(src, index, torch.int8)
    out = torch.empty(index.numel(), 64)
    rates.int8_byte_s = (best_of(lambda: codec.quantize_rows(src, index, torch.int8))
                         + best_of(lambda: codec.dequantize_rows_(out, None, payload, scales))) / moved - rates.pack_byte_s / 2
    rates.int8_byte_s = max(rates.int8_byte_s, 0.0)
    ops = 0.0
    for a, b, w, exchanges in plan:
        ops += 2 * n * rates.linear(a, b) + (2 * e * rates.spmm(w) if exchanges else 0.0)
    elements = sum(n * b for _, b, _, _ in plan)
    rates.other_elem_s = max(epoch_1rank - ops, 0.0) / elements
    return rates


def measure_link() -> tuple[float, float]:
    """alpha (s) and beta (B/s) of this machine's MPI between two ranks, from Alltoallv of 8 B and of 64 MiB."""
    from gnnpart.cli.launcher import mpiexec_command

    proc = subprocess.run(mpiexec_command(2, [__file__, "--child", "link"]), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        sys.exit(f"link measurement failed:\n{proc.stderr[-2000:]}")
    return tuple(json.loads(proc.stdout.strip().splitlines()[-1]))


def link_child() -> None:
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD

    def one(nbytes, repeat):
        send, recv = np.ones(2 * nbytes, np.uint8), np.empty(2 * nbytes, np.uint8)
        counts = [nbytes, nbytes]
        times = []
        for _ in range(repeat):
            comm.Barrier()
            start = time.perf_counter()
            comm.Alltoallv([send, counts], [recv, counts])
            times.append(time.perf_counter() - start)
        return min(times)

    small, large = one(8, 200), one(64 << 20, 5)
    if comm.rank == 0:
        print(json.dumps([small, (64 << 20) / max(large - small, 1e-9)]))


def measured_child(part_dir: str, hidden: int, layers: int, epochs: int, halo: str, threads: int) -> None:
    """One rank of a measured run: rank 0 prints the median epoch, halo span and exposed halo time."""
    import torch

    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    comm = Communicator()
    torch.set_num_threads(threads)
    rank = Rank.open(part_dir, comm)
    meta = rank.meta
    torch.manual_seed(0)
    net = build_model("sage", meta["num_features"], hidden, meta["num_classes"], layers, dropout=0.5)
    trainer = Trainer(net, rank, options=TrainOptions(eval_every=10**9, watchdog=None), halo=halo)
    steps = []
    for _ in range(epochs + 1):
        trainer.train_step()
        steps.append(dict(trainer.last_step))
        trainer.epoch += 1
    if comm.rank == 0:
        steady = steps[1:]
        print(json.dumps({k: statistics.median(s[k] for s in steady) for k in ("epoch_s", "halo_s", "halo_wait_s")}))


def part_stats(indptr, indices, owner, k: int) -> Part:
    """The largest part's numbers (by inner rows + edges) from an assignment."""
    import numpy as np

    n = len(indptr) - 1
    dst = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    part_of_dst, part_of_src = owner[dst], owner[indices]
    remote = part_of_dst != part_of_src
    pairs = np.unique(part_of_dst[remote] * n + indices[remote])  # (holder part, halo node), distinct
    holder, node = pairs // n, pairs % n
    halo = np.bincount(holder, minlength=k)
    sent = np.bincount(owner[node], minlength=k)
    peer_pairs = np.unique(holder * k + owner[node])
    peers = np.bincount(peer_pairs // k, minlength=k)
    inner = np.bincount(owner, minlength=k)
    edges = np.bincount(part_of_dst, minlength=k)
    worst = int(np.argmax(inner + edges + halo))
    return Part(float(inner[worst]), float(edges[worst]), float(halo.max()), float(sent.max()), float(peers.max()))


def cover_stats(indptr, indices, owner, k: int, part: Part) -> Part:
    """``part`` with the halo rows received and sent replaced by the largest per-rank sums of the minimum covers of
    every ordered pair's cut edges (what ``--aggregate-at auto`` sends)."""
    import numpy as np

    from gnnpart.partition.cover import pair_cover

    n = len(indptr) - 1
    dst = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    part_of_dst, part_of_src = owner[dst], owner[indices]
    remote = part_of_dst != part_of_src
    src, dst, pair = indices[remote], dst[remote], part_of_src[remote] * k + part_of_dst[remote]
    order = np.argsort(pair, kind="stable")
    src, dst, pair = src[order], dst[order], pair[order]
    bounds = np.flatnonzero(np.diff(pair)) + 1
    sent, received = np.zeros(k), np.zeros(k)
    for s_, d_, p_ in zip(np.split(src, bounds), np.split(dst, bounds), pair[np.r_[0, bounds]]):
        size = pair_cover(s_, d_).size
        sent[p_ // k] += size
        received[p_ % k] += size
    return Part(part.inner, part.edges, float(received.max()), float(sent.max()), part.peers)


def plot(path: str, ks, curves: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = dict(zip(PROJECTED, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    for (policy, network), values in curves.items():
        ax.plot(ks, values, marker="o", label=f"{policy}, {network}", color=colours[policy],
                linestyle="--" if "Ethernet" in network else "-")
    ax.scatter([SAR_REFERENCE["ranks"]], [SAR_REFERENCE["epoch_s"]], marker="*", s=160, color="black",
               label=f"{SAR_REFERENCE['what']}: {SAR_REFERENCE['epoch_s']} s", zorder=5)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("ranks K (one per machine)")
    ax.set_ylabel("projected epoch time (s)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6.5)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=15, help="average degree (papers100M: 14.5)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--classes", type=int, default=172)
    parser.add_argument("--parts", default="8,16,32,64,128,256")
    parser.add_argument("--validate", default="2,4", help="rank counts measured here against the model")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs of each measured run (after a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="threads per rank here")
    parser.add_argument("--cores-per-rank", type=int, default=16,
                        help="cores of one cluster rank; compute scales as 1 + (cores - 1) * the thread efficiency "
                             "measured here")
    parser.add_argument("--plot", default=str(Path(__file__).with_name("scaling_model.png")))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "link":
            link_child()
        else:
            _, part_dir, hidden, layers, epochs, halo, threads = args.child
            measured_child(part_dir, int(hidden), int(layers), int(epochs), halo, int(threads))
        return

    import numpy as np

    import gnnpart
    from gnnpart.partition.assign import assign, parse_balance
    from gnnpart.cli.launcher import mpiexec_command

    spec = f"synthetic:nodes={args.nodes},degree={args.degree},classes={args.classes},features=128"
    plan = layer_plan(128, args.hidden, args.classes, args.layers)
    params = sage_params(plan)
    cores = os.cpu_count() or 1
    print(f"# {spec}; GraphSAGE {args.layers}x{args.hidden} ({params:,} parameters); this machine: {cores} cores, "
          f"{args.threads} thread(s) per rank")
    with tempfile.TemporaryDirectory(prefix="gnnpart-scaling-") as tmp:
        start = time.perf_counter()
        g = gnnpart.load(spec)
        graph_file = str(Path(tmp) / "graph.npz")
        np.savez(graph_file, indptr=g.indptr, indices=g.indices)
        n, e = g.num_nodes, len(g.indices)
        print(f"graph: {n:,} nodes, {e:,} edges, generated in {time.perf_counter() - start:.1f} s", flush=True)

        runs = {}
        for k in [1] + [int(r) for r in args.validate.split(",")]:
            part_dir = str(Path(tmp) / f"p{k}")
            gnnpart.partition_graph(g, k, part_dir)
            for policy in (("exact",) if k == 1 else POLICIES):
                cmd = mpiexec_command(k, [__file__, "--child", "run", part_dir, str(args.hidden), str(args.layers),
                                          str(args.epochs), policy, str(args.threads)])
                runs[k, policy] = spawn(cmd, args.threads)
                print(f"measured {k} rank(s) {policy}: epoch {runs[k, policy]['epoch_s']:.3f} s, halo span "
                      f"{runs[k, policy]['halo_s']:.3f} s, exposed {runs[k, policy]['halo_wait_s']:.3f} s", flush=True)

        rates = calibrate(plan, args.threads, graph_file, runs[1, "exact"]["epoch_s"], n, e)
        rates2 = calibrate(plan, 2, graph_file, float("nan"), n, e) if cores >= 2 else rates
        lin = [f"{k}: {v * 1e9:.0f} ns" for k, v in rates.linear_row_s.items()]
        print(f"rates ({args.threads} thread): linear fwd+bwd per row {', '.join(lin)}; spmm per edge "
              f"{', '.join(f'w={k}: {v * 1e9:.1f} ns' for k, v in rates.spmm_edge_s.items())}; pack+unpack "
              f"{rates.pack_byte_s * 1e9:.3f} ns/B; int8 codec {rates.int8_byte_s * 1e9:.3f} ns/B; the rest "
              f"{rates.other_elem_s * 1e9:.2f} ns per output element")
        efficiency = (sum(rates.linear_row_s.values()) / sum(rates2.linear_row_s.values())) / 2 if rates2 is not rates else 1.0
        alpha, beta = measure_link()
        here = Network("this machine (shared memory)", alpha, beta)
        print(f"this machine's link: alpha {alpha * 1e6:.1f} us, beta {beta / 1e9:.2f} GB/s; 2-thread efficiency of "
              f"the dense products {efficiency:.2f}")

        print("\n## validation here (ranks beyond the cores share them)\n")
        print("| ranks | policy | measured epoch | modelled epoch | model / measured | measured exposed halo | modelled exposed |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        errors, measured_parts = [], {}
        for (k, policy), got in runs.items():
            if k not in measured_parts:
                ownership = assign(g, k, "metis", parse_balance(None), 0, {}) if k > 1 else np.zeros(n, dtype=np.int64)
                measured_parts[k] = part_stats(g.indptr, g.indices, ownership, k)
            part = measured_parts[k]
            slowdown = max(1.0, k * args.threads / cores)
            model = epoch_time(part, plan, rates, here, policy, k, params, slowdown)
            ratio = model["epoch"] / got["epoch_s"]
            errors.append(ratio)
            print(f"| {k} | {policy} | {got['epoch_s']:.3f} s | {model['epoch']:.3f} s | {ratio:.2f} | "
                  f"{got['halo_wait_s']:.3f} s | {model['exposed']:.3f} s |")
        print(f"\nmodel / measured over the validation runs: {min(errors):.2f} .. {max(errors):.2f}")

        ks = [int(k) for k in args.parts.split(",")]
        stats, covers = {}, {}
        for k in ks:
            start = time.perf_counter()
            ownership = assign(g, k, "metis", parse_balance(None), 0, {})
            stats[k] = part_stats(g.indptr, g.indices, ownership, k)
            covered = time.perf_counter()
            covers[k] = cover_stats(g.indptr, g.indices, ownership, k, stats[k])
            print(f"K={k}: METIS {covered - start:.1f} s; largest part {stats[k].inner:,.0f} inner, "
                  f"{stats[k].edges:,.0f} edges, {stats[k].halo:,.0f} halo rows (ratio {stats[k].halo / stats[k].inner:.2f}), "
                  f"{stats[k].peers:.0f} peers; the covers ({time.perf_counter() - covered:.1f} s): at most "
                  f"{covers[k].halo:,.0f} rows received ({covers[k].halo / stats[k].halo:.3f}x) and {covers[k].sent:,.0f} "
                  f"sent ({covers[k].sent / stats[k].sent:.3f}x) per rank", flush=True)

    speedup = 1 + (args.cores_per_rank - 1) * efficiency
    cluster_rates = Rates(threads=args.cores_per_rank,
                          linear_row_s={k: v / speedup for k, v in rates.linear_row_s.items()},
                          spmm_edge_s={k: v / speedup for k, v in rates.spmm_edge_s.items()},
                          pack_byte_s=rates.pack_byte_s / speedup, int8_byte_s=rates.int8_byte_s / speedup,
                          other_elem_s=rates.other_elem_s / speedup)
    print(f"\n## projections: {args.cores_per_rank} cores per rank (compute {speedup:.1f}x one core here)\n")
    shape = PAPERS100M
    pplan = layer_plan(shape["features"], args.hidden, shape["classes"], args.layers)
    pparams = sage_params(pplan)
    curves = {}
    for graph_name, scale in (("synthetic", None), ("papers100M shape", shape)):
        print(f"### {graph_name}\n")
        print("| K | network | " + " | ".join(PROJECTED) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in PROJECTED) + " |")
        for key, net in NETWORKS.items():
            for k in ks:
                s, c = stats[k], covers[k]
                if scale is None:
                    part, cover, use_plan, use_params = s, c, plan, params
                else:  # the synthetic graph's ratios at the same K, on papers100M's sizes
                    inner = scale["nodes"] / k
                    f = inner / s.inner
                    part = Part(inner, scale["edges"] / k, s.halo * f, s.sent * f, s.peers)
                    cover = Part(inner, scale["edges"] / k, c.halo * f, c.sent * f, s.peers)
                    use_plan, use_params = pplan, pparams
                cells = []
                for policy in PROJECTED:
                    if policy == "auto":
                        t = epoch_time(cover, use_plan, cluster_rates, net, "exact", k, use_params)
                    else:
                        t = epoch_time(part, use_plan, cluster_rates, net, policy, k, use_params)
                    cells.append(f"{t['epoch']:.2f} s ({t['exposed'] / t['epoch']:.0%} comm)")
                    if scale is not None:
                        curves.setdefault((policy, net.name), []).append(t["epoch"])
                print(f"| {k} | {net.name} | " + " | ".join(cells) + " |")
        print()
    plot(args.plot, ks, curves, f"GraphSAGE {args.layers}x{args.hidden}, papers100M shape (by statistics), "
                                f"{args.cores_per_rank} cores per rank")
    print(f"plot: {args.plot}; reference: {SAR_REFERENCE['what']}: {SAR_REFERENCE['epoch_s']} s")


if __name__ == "__main__":
    main()
