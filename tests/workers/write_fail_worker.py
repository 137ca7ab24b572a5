"""MPI worker: every rank writes rows with write_rows; rank FAIL gives an id outside the file, so it fails.

Usage: mpiexec -n N python -m mpi4py tests/workers/write_fail_worker.py OUT.npy FAIL
Each rank prints one JSON line: its rank, the error it raised (or null) and whether OUT.npy exists afterwards.
"""
import json
import os
import sys

import numpy as np
import torch

from gnnpart.comm import Communicator
from gnnpart.infer.row_file import write_rows


def main(out, fail):
    comm = Communicator()
    n = 4 * comm.size
    ids = np.arange(comm.rank * 4, comm.rank * 4 + 4)
    if comm.rank == int(fail):
        ids[-1] = n + 10  # beyond the file's rows
    error = None
    try:
        write_rows(comm, out, ids, torch.ones(4, 3), n)
    except (OSError, RuntimeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    comm.barrier()
    line = json.dumps({"rank": comm.rank, "error": error, "exists": os.path.exists(out)}) + "\n"
    for rank in range(comm.size):  # one rank at a time: mpiexec would run lines written together into one
        if rank == comm.rank:
            os.write(1, line.encode())
        comm.barrier()


if __name__ == "__main__":
    main(*sys.argv[1:])
