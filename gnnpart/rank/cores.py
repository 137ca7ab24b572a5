"""How many torch threads a rank uses when it is not told: the cores it may run on, shared with the ranks of its
node that may run on the same cores.

A launcher that binds each rank to its own cores (``srun --cpus-per-task``, Open MPI's ``--bind-to core``) leaves
each rank its own set; one that binds nothing (MPICH's ``mpiexec``) leaves every rank the whole node, which the
node's ranks then share. Counting, on each node, the ranks whose CPU set is the same as this rank's covers both,
on one machine or many.
"""
from __future__ import annotations

import numpy as np

from gnnpart.limits import allowed_cpus


def cpu_set_key(cpus: frozenset) -> int:
    """A number that stands for a CPU set across processes (a tuple of ints hashes the same in every process)."""
    return hash(tuple(sorted(cpus)))


def share(mine: frozenset, node: list[int]) -> int:
    """Threads for a rank with CPU set ``mine`` among its node's ranks' set keys ``node`` (:func:`cpu_set_key`): its
    CPUs divided by the ranks that have the same set (at least 1)."""
    key = cpu_set_key(mine)
    return max(1, len(mine) // max(1, sum(1 for other in node if other == key)))


def default_threads(comm=None) -> int:
    """This rank's default torch threads (see the module's text); ``comm`` None: a rank alone, all its CPUs.

    Args:
        comm (Communicator, optional): the job's communicator; its node's ranks exchange their CPU sets (collective:
            every rank calls it).
    """
    mine = allowed_cpus()
    if comm is None or comm.size == 1:
        return len(mine)
    local = comm.comm.Split_type(comm.MPI.COMM_TYPE_SHARED, key=comm.rank)
    try:
        keys = np.zeros(local.Get_size(), dtype=np.int64)
        local.Allgather(np.array([cpu_set_key(mine)], dtype=np.int64), keys)
    finally:
        local.Free()
    return share(mine, keys.tolist())
