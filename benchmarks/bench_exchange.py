"""Benchmark: one exact, differentiable halo exchange (forward + backward) of W-wide float32 rows.

    gnnpart partition synthetic:nodes=1000000,degree=20,classes=16,features=128 -k 2 -o /tmp/gnnpart-1m-2
    mpiexec -n 2 python -m mpi4py benchmarks/bench_exchange.py /tmp/gnnpart-1m-2 [--width 128] [--reps 8]

Each rank runs one thread; the ranks meet at a barrier before and after every repetition, so a repetition's time
is the slowest rank's. Rank 0 prints the median and the minimum of the repetitions after two warm-ups.
"""
import argparse
import statistics
import time

import numpy as np
import torch

from gnnpart import load_partition
from gnnpart.comm import Communicator, HaloExchange
from gnnpart.rank.assemble import exchange_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", help="a partition directory with one part per rank")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--reps", type=int, default=8, help="repetitions, the first two of them warm-ups")
    args = parser.parse_args()
    torch.set_num_threads(1)
    comm = Communicator()
    part = load_partition(args.parts, comm.rank)
    ids = torch.from_numpy(np.asarray(part.global_ids)).long()
    ex = HaloExchange(comm, exchange_plan(part, comm.size), ids)
    h = torch.randn(part.num_inner, args.width, requires_grad=True)
    grad = torch.randn(part.num_local, args.width)
    times = []
    for _ in range(args.reps):
        comm.barrier()
        start = time.perf_counter()
        ex.exchange(h).backward(grad)
        comm.barrier()
        times.append(time.perf_counter() - start)
        h.grad = None
    halo = int(comm.sum_scalars([part.num_halo])[0])
    if comm.rank == 0:
        kept = times[2:] or times
        print(f"{comm.size} ranks, width {args.width}: exchange forward + backward median {statistics.median(kept):.3f} s "
              f"(min {min(kept):.3f} s); {halo:,} halo rows in all, {ex.stats.bytes / args.reps / 2**20:.1f} MiB sent "
              f"by rank 0 per repetition", flush=True)


if __name__ == "__main__":
    main()
