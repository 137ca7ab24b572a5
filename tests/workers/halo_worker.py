"""MPI worker: the exact halo exchange, gradient all-reduce and broadcast on any number of ranks.

Usage: mpiexec -n N python -m mpi4py tests/workers/halo_worker.py PART_DIR
Rank 0 prints one JSON line per named check (tests/workers/checks.py).
"""
import sys

import numpy as np
import torch

from gnnpart import load_partition
from gnnpart.comm import Communicator, GradientAllreduce, HaloExchange, broadcast_parameters
from gnnpart.rank.assemble import exchange_plan
from tests.workers.checks import Checks

WIDTH = 5


def features(gids: torch.Tensor) -> torch.Tensor:
    return gids.double().unsqueeze(1) * 1000 + torch.arange(WIDTH, dtype=torch.float64)


class Setup:
    def __init__(self, part_dir, comm=None):
        self.comm = comm or Communicator()
        self.part = load_partition(part_dir, self.comm.rank)
        self.plan = exchange_plan(self.part, self.comm.size)
        self.gids = torch.from_numpy(np.asarray(self.part.global_ids))
        self.inner = self.gids[: self.part.num_inner]


def forward_rows(expect, s):
    full = HaloExchange(s.comm, s.plan).exchange(features(s.inner))
    expect(torch.equal(full, features(s.gids)), "halo rows differ from their owners' rows")


def backward_rows(expect, s):
    h = features(s.inner).requires_grad_(True)
    full = HaloExchange(s.comm, s.plan).exchange(h)
    weight = s.gids.double().unsqueeze(1) + 1
    (full * weight).sum().backward()
    copies = torch.zeros(s.part.num_inner, dtype=torch.float64)
    for ids in s.part.send.values():
        copies.index_add_(0, torch.from_numpy(np.asarray(ids)), torch.ones(len(ids), dtype=torch.float64))
    expected = (s.inner.double() + 1).unsqueeze(1) * (1 + copies).unsqueeze(1) * torch.ones(1, WIDTH, dtype=torch.float64)
    expect(torch.equal(h.grad, expected), "halo gradients were not returned to their owners once per copy")


def async_rows(expect, s):
    ex = HaloExchange(s.comm, s.plan)
    handle = ex.exchange_async(features(s.inner))
    expect(torch.equal(handle.wait(), features(s.gids)), "exchange_async().wait() differs from the owners' rows")


def bytes_sent(expect, s):
    ex = HaloExchange(s.comm, s.plan)
    h = features(s.inner).requires_grad_(True)
    ex.exchange(h).sum().backward()
    ex.exchange_async(features(s.inner)).wait()
    sent = s.comm.sum_scalars([ex.stats.bytes_forward, ex.stats.bytes_backward])
    halo_total = s.comm.sum_scalars([s.part.num_halo])[0]
    expect(sent == [2 * halo_total * WIDTH * 8, halo_total * WIDTH * 8],
           f"bytes forward/backward {sent}, halo rows {halo_total}")
    expect(ex.stats.bytes == ex.stats.bytes_exact, "exact bytes differ from the exact count")


def replicas(expect, s):
    comm = s.comm
    torch.manual_seed(100 + comm.rank)
    model = torch.nn.Linear(4, 3)
    broadcast_parameters(comm, model.parameters())
    reducer = GradientAllreduce(comm, model.parameters())
    reducer.zero_grad()
    model(torch.full((2, 4), float(comm.rank + 1))).sum().backward()
    reducer.allreduce()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()] + [reducer.buffer])
    gathered = comm.comm.allgather(flat.numpy())
    expect(all(np.array_equal(gathered[0], g) for g in gathered), "replicas differ after broadcast/all-reduce")
    ranks_sum = comm.size * (comm.size + 1) / 2
    expect(torch.allclose(model.bias.grad, torch.full((3,), 2.0 * comm.size)), f"bias gradient {model.bias.grad}")
    expect(torch.allclose(model.weight.grad, torch.full((3, 4), 2.0 * ranks_sum)), f"weight gradient {model.weight.grad}")


def halo_present(expect, s):
    expect(s.comm.size == 1 or s.part.num_halo > 0, "a part on several ranks has no halo")


CHECKS = {"forward rows": forward_rows, "backward rows": backward_rows, "async rows": async_rows,
          "bytes sent": bytes_sent, "broadcast and all-reduce": replicas, "halo present": halo_present}


def main(part_dir, comm=None):
    setup = Setup(part_dir, comm)
    checks = Checks(setup.comm)
    for name, check in CHECKS.items():
        checks.run(name, check, setup)


if __name__ == "__main__":
    main(sys.argv[1])
