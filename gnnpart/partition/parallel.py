"""Writing the parts in parallel: one share of the parts per MPI rank, one directory that appears whole.

Every rank holds the graph (memory-mapped, from a graph directory, so that this costs no memory) and calls
:func:`gnnpart.partition.partition_graph` with the same arguments and ``comm``. Then:

1. rank 0 checks the output and plans the memory, runs the assignment (METIS), and the owner of every node is
   broadcast;
2. rank 0 creates the hidden temporary folder beside the target, and each rank builds and writes parts
   ``rank, rank + size, ...`` into it;
3. rank 0 gathers the receive plans and file records, writes the send plans and ``meta.json`` (last), and
   renames the folder into place.

The ranks agree after each step: a failure on any rank (a full disk, a killed METIS) is raised on every rank
as :class:`WritersFailed`, naming the ranks and their errors, and rank 0 removes the temporary folder; nothing
that loads is left. A rank killed outright ends the whole MPI job, and the temporary folder of the dead run is
removed by the next run to the same target (:func:`gnnpart.atomic.recover`).
"""
from __future__ import annotations

import logging
import time
from contextlib import ExitStack

import numpy as np

from gnnpart.errors import AgreedFailure
from gnnpart.processes import abort_job, attempt
from gnnpart.atomic import atomic_directory, check_output_dir
from gnnpart.partition.assign import num_constraints
from gnnpart.partition.memory import plan_memory
from gnnpart.partition.steps import assign_parts, finish, write_share

log = logging.getLogger(__name__)


class WritersFailed(AgreedFailure, RuntimeError):
    """A step of a parallel partitioning failed on some rank; raised on every rank, with every rank's error."""


def _wait_idle(comm, poll_s: float = 0.02) -> None:
    """Wait until every rank gets here, sleeping: MPI's own waits spin, and ranks waiting for METIS on rank 0
    would take its cores."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(poll_s)


def agree(comm, error: BaseException | None, step: str) -> None:
    """Every rank says whether ``step`` failed on it; if any did, raise :class:`WritersFailed` on all of them."""
    _wait_idle(comm)
    said = None if error is None else f"{type(error).__name__}: {error}" if not str(error) else str(error)
    failures = [(rank, text) for rank, text in enumerate(comm.allgather(said)) if text is not None]
    if failures:
        detail = "; ".join(f"rank {rank}: {text}" for rank, text in failures)
        raise WritersFailed(f"{step} failed on {len(failures)} of {comm.Get_size()} ranks ({detail}); nothing was "
                            "written") from error




def abort_writers(comm, exc: BaseException) -> None:
    """A rank left the agreed steps (an exception outside them, a signal): the others would wait for it forever,
    so end the whole job, after one line saying why (rank 0 has removed its temporary folder by then)."""
    abort_job(f"gnnpart partition: rank {comm.Get_rank()}: error: {type(exc).__name__}: {exc}", comm.Abort)


def partition_in_parallel(comm, graph, num_parts: int, out_dir, method: str, balance, seed: int, overwrite: bool,
                          dataset, max_memory, threads: int = 1) -> dict:
    """The parallel path of :func:`~gnnpart.partition.partition_graph` (arguments as there; those that every
    rank checks alike already checked).

    Args:
        comm: the mpi4py communicator of the writers.
        graph (Graph): the graph, on every rank.
        num_parts (int), out_dir, method (str), balance (tuple), seed (int), overwrite (bool), dataset,
            max_memory, threads (int): as :func:`~gnnpart.partition.partition_graph` (the memory plan is rank 0's, and each
            writer holds the structure's ``[N]`` arrays: the limit is per rank).

    Returns:
        dict: ``meta.json``, on every rank.
    """
    rank, size = comm.Get_rank(), comm.Get_size()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    rename_error, done, meta = None, False, None
    try:
        with ExitStack() as stack:
            def prepare():
                check_output_dir(out_dir, overwrite)
                return plan_memory(graph, num_parts, method, num_constraints(graph, balance), max_memory)

            plan, error = attempt(prepare) if rank == 0 else (None, None)
            agree(comm, error, "checking the output and the memory")
            plan = comm.bcast(plan, root=0)

            # METIS before the temporary folder exists: a job killed during METIS (which no signal interrupts)
            # leaves nothing behind
            owner, error = attempt(assign_parts, graph, num_parts, method, balance, seed, timings, threads) if rank == 0 \
                else attempt(np.empty, graph.num_nodes, np.int64)
            agree(comm, error, "assigning the nodes")
            comm.Bcast(owner, root=0)
            timings["assign_s"] = time.perf_counter() - start

            tmp, error = attempt(lambda: stack.enter_context(atomic_directory(out_dir, overwrite))) if rank == 0 \
                else (None, None)
            agree(comm, error, "creating the output directory")
            tmp = comm.bcast(tmp, root=0)

            mine = range(rank, num_parts, size)
            log.info("writer %d of %d: parts %s", rank, size, list(mine))
            share, error = attempt(write_share, graph, owner, num_parts, tmp, mine, plan.block_bytes)
            agree(comm, error, "writing the parts")
            shares = comm.gather(share, root=0)

            timings["total_s"] = time.perf_counter() - start
            timings["writers"] = size
            meta, error = attempt(finish, tmp, shares, graph, num_parts, method, balance, seed, dataset, plan,
                                   timings, threads) if rank == 0 else (None, None)
            agree(comm, error, "writing meta.json")
            done = True
    except WritersFailed:
        raise  # every rank raises it at the same step
    except BaseException as exc:  # noqa: BLE001 - see below
        if not done:  # outside the agreed steps (a signal, an MPI error): the ranks can no longer agree
            abort_writers(comm, exc)
        rename_error = exc  # rank 0's rename, as the block ended; the others are told below
    agree(comm, rename_error, "renaming the directory into place")
    return comm.bcast(meta if rank == 0 else None, root=0)
