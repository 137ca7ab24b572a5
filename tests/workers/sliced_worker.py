"""MPI worker: generate a synthetic graph in slices on every rank of the job.

Usage: mpiexec -n N python tests/workers/sliced_worker.py SPEC OUT_DIR [FAIL_RANK]
Every rank prints one JSON line: its rank and the error it got (or null). With FAIL_RANK, that rank cannot write
its feature rows (a full disk).
"""
import json
import os
import sys

from mpi4py import MPI

from gnnpart.data import sliced
from gnnpart.data.synthetic import SyntheticSpec


def main(spec, out, fail_rank=-1):
    comm = MPI.COMM_WORLD
    if comm.Get_rank() == int(fail_rank):
        def full(*args, **kwargs):
            raise OSError(28, "No space left on device (injected)")
            yield  # a generator, as feature_rows

        sliced.feature_rows = full
    error = None
    try:
        sliced.generate_sliced(SyntheticSpec.parse(spec), out, comm=comm)
    except Exception as exc:  # noqa: BLE001 - reported
        error = f"{type(exc).__name__}: {exc}"
    os.write(1, (json.dumps({"rank": comm.Get_rank(), "error": error}) + "\n").encode())  # one write: lines never mix


if __name__ == "__main__":
    main(*sys.argv[1:])
