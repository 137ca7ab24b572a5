"""MPI worker: partition a graph directory with one writer per rank.

Usage: mpiexec -n N python tests/workers/partition_worker.py GRAPH_DIR OUT_DIR K [FAIL_RANK [FAIL_STEP]]
Every rank prints one JSON line: its rank, and the error it got (or null). With FAIL_RANK, that rank's writes fail
(FAIL_STEP ``write``, the default: its first part file; ``meta``: rank 0's meta.json; ``bcast``: its broadcast of the
owners, outside the steps the ranks agree on, which must end the whole job instead of leaving the others waiting;
``kaminpar``: the parts are made by KaMinPar, whose input file cannot be written on that rank).
"""
import json
import os
import sys

from mpi4py import MPI

from gnnpart.data.graph_dir import open_graph
from gnnpart.partition import kaminpar, partition_graph, store


class _FailingBcast:
    """The communicator, whose ``Bcast`` fails (an MPI error on this rank)."""

    def __init__(self, comm):
        self._comm = comm

    def __getattr__(self, name):
        return getattr(self._comm, name)

    def Bcast(self, *args, **kwargs):
        raise RuntimeError("MPI error (injected)")


def main(graph_dir, out, k, fail_rank=-1, fail_step="write"):
    comm = MPI.COMM_WORLD
    method = "kaminpar" if fail_step == "kaminpar" else "metis"
    if comm.Get_rank() == int(fail_rank) and fail_step == "kaminpar":
        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        kaminpar.write_parhip = full
    elif comm.Get_rank() == int(fail_rank) and fail_step == "bcast":
        comm = _FailingBcast(comm)
    elif comm.Get_rank() == int(fail_rank):
        def full(*args, **kwargs):
            raise OSError(28, "No space left on device (injected)")

        setattr(store.ArrayWriter, "save" if fail_step == "write" else "save_json", full)
    error = None
    try:
        partition_graph(open_graph(graph_dir), int(k), out, method=method, comm=comm)
    except Exception as exc:  # noqa: BLE001 - reported
        error = f"{type(exc).__name__}: {exc}"
    os.write(1, (json.dumps({"rank": comm.Get_rank(), "error": error}) + "\n").encode())  # one write: lines never mix


if __name__ == "__main__":
    main(*sys.argv[1:])
