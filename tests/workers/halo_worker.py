"""MPI worker: checks the halo exchange, gradient all-reduce and broadcast on any number of ranks.

Usage: mpiexec -n N python -m mpi4py tests/workers/halo_worker.py PART_DIR
Rank 0 prints one JSON line per rank; exits non-zero (aborting the job) on a failed check.
"""
import json
import sys

import numpy as np
import torch

from gnnpart import load_partition
from gnnpart.comm import Communicator, ExchangePlan, GradientAllreduce, HaloExchange, broadcast_parameters


def features(gids: torch.Tensor, width: int) -> torch.Tensor:
    return gids.double().unsqueeze(1) * 1000 + torch.arange(width, dtype=torch.float64)


def main(part_dir: str) -> None:
    comm = Communicator()
    part = load_partition(part_dir, comm.rank)
    ex = HaloExchange(comm, ExchangePlan.from_partition(part, comm.size))
    gids = torch.from_numpy(np.asarray(part.global_ids))
    inner = gids[: part.num_inner]
    width = 5

    # forward: every halo row arrives with its owner's values
    h = features(inner, width).requires_grad_(True)
    full = ex.exchange(h)
    assert torch.equal(full.detach(), features(gids, width)), "halo rows differ from their owners' rows"
    # backward: a halo row's gradient is added into its owner's row, once per rank holding it
    weight = gids.double().unsqueeze(1) + 1
    (full * weight).sum().backward()
    copies = torch.zeros(part.num_inner, dtype=torch.float64)
    for peer, ids in part.send.items():
        copies.index_add_(0, torch.from_numpy(np.asarray(ids)), torch.ones(len(ids), dtype=torch.float64))
    expected = (inner.double() + 1).unsqueeze(1) * (1 + copies).unsqueeze(1) * torch.ones(1, width, dtype=torch.float64)
    assert torch.equal(h.grad, expected), "halo gradients were not returned to their owners"

    # async exchange gives the same rows
    assert torch.equal(ex.exchange_async(features(inner, width)).wait(), features(gids, width))

    # bytes sent forward and backward: halo rows x width x 8 (float64), summed over ranks
    sent = comm.sum_scalars([ex.stats.bytes_forward, ex.stats.bytes_backward])
    halo_total = comm.sum_scalars([part.num_halo])[0]
    assert sent[0] == 2 * halo_total * width * 8 and sent[1] == halo_total * width * 8, (sent, halo_total)

    # weights broadcast from rank 0, gradients summed
    torch.manual_seed(100 + comm.rank)
    model = torch.nn.Linear(4, 3)
    broadcast_parameters(comm, model.parameters())
    reducer = GradientAllreduce(comm, model.parameters())
    reducer.zero_grad()
    model(torch.full((2, 4), float(comm.rank + 1))).sum().backward()
    reducer.allreduce()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()] + [reducer.buffer])
    gathered = comm.comm.allgather(flat.numpy())
    assert all(np.array_equal(gathered[0], g) for g in gathered), "replicas differ after broadcast/all-reduce"
    ranks_sum = comm.size * (comm.size + 1) / 2
    assert torch.allclose(model.bias.grad, torch.full((3,), 2.0 * comm.size)), model.bias.grad
    assert torch.allclose(model.weight.grad, torch.full((3, 4), 2.0 * ranks_sum)), model.weight.grad
    report = comm.comm.gather({"rank": comm.rank, "size": comm.size, "halo": part.num_halo, "ok": True}, root=0)
    if comm.rank == 0:  # one writer: lines of several ranks would interleave
        print("\n".join(json.dumps(r) for r in report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
