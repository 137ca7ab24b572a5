"""Default torch threads: a rank's cores, shared with the ranks of its node that run on the same cores."""
import os

import pytest

from gnnpart.rank import cores


@pytest.mark.parametrize("mine, node, want", [
    (range(8), [range(8)] * 4, 2),                             # mpiexec without binding: 4 ranks share 8 cores
    (range(0, 4), [range(0, 4), range(4, 8)], 4),              # srun --cpus-per-task=4: each its own 4
    (range(0, 1), [range(i, i + 1) for i in range(8)], 1),     # Open MPI --bind-to core
    (range(0, 4), [range(0, 4)] * 3 + [range(4, 8)] * 3, 1),   # bound to a socket of 4 cores, 3 ranks on it
    (range(2), [range(2)] * 3, 1),                             # more ranks than cores: at least one thread
])
def test_share(mine, node, want):
    assert cores.share(frozenset(mine), [cores.cpu_set_key(frozenset(c)) for c in node]) == want


def test_a_rank_alone_uses_all_its_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert cores.allowed_cpus() == frozenset({0, 1, 2})
    assert cores.default_threads() == 3
