"""MPI worker: run code blocks one after the other on every rank (the README's Python snippets).

Usage: mpiexec -n N python -m mpi4py tests/workers/readme_worker.py BLOCKS.json
BLOCKS.json is a list of ``{"line": L, "code": "..."}``; each block runs in a namespace of its own, every rank
together, and rank 0 prints ``{"block": L}`` after each. An exception in a block ends the job (``python -m
mpi4py``), and the test shows every rank's output.
"""
import json
import sys

from mpi4py import MPI


def main(path):
    blocks = json.loads(open(path, encoding="utf-8").read())
    for block in blocks:
        exec(compile(block["code"], f"README.md, the block at line {block['line']}", "exec"), {"__name__": "__main__"})
        MPI.COMM_WORLD.Barrier()
        if MPI.COMM_WORLD.Get_rank() == 0:
            print(json.dumps({"block": block["line"]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
