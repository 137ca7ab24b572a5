"""Run a worker at several rank counts in one launch: the ranks start once, and each count runs on a
sub-communicator of the first N ranks while the others wait, asleep (starting a rank costs more than most runs).

Usage: mpiexec -n MAX python -m mpi4py tests/workers/by_size.py WORKER[:FUNCTION] N ARG... [-- N ARG... ...]

For each group, world rank 0 prints ``{"size": N}`` and ranks ``0 .. N-1`` call ``WORKER.FUNCTION(*ARGS,
comm=Communicator(sub))`` (the worker module is ``tests/workers/WORKER.py``; FUNCTION defaults to ``main``);
a group's ARGS separated by ``::`` make several calls, one after the other. What the worker prints after that line
belongs to that count (:func:`tests.mpi.split_by_size`).
"""
import importlib
import json
import sys
import time

from mpi4py import MPI

from gnnpart.comm import Communicator


def _wait_asleep(comm) -> None:
    """A barrier that sleeps: MPI's own waits spin, and the waiting ranks would take the working ranks' cores."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(0.01)


def main(worker: str, groups: list) -> None:
    name, _, function = worker.partition(":")
    run = getattr(importlib.import_module(f"tests.workers.{name}"), function or "main")
    world = MPI.COMM_WORLD
    rank = world.Get_rank()
    for size, args in groups:
        if size > world.Get_size():
            raise ValueError(f"a group asks for {size} ranks; the launch has {world.Get_size()}")
        sub = world.Split(0 if rank < size else MPI.UNDEFINED, rank)
        if rank == 0:
            print(json.dumps({"size": size}), flush=True)
        if sub != MPI.COMM_NULL:
            comm = Communicator(sub)
            while args:
                call, args = (args[: args.index("::")], args[args.index("::") + 1:]) if "::" in args else (args, [])
                run(*call, comm=comm)
            sub.Barrier()
            sub.Free()
        _wait_asleep(world)


def parse(argv: list) -> tuple:
    worker, rest = argv[0], argv[1:]
    groups = []
    while rest:
        group, rest = (rest[: rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (rest, [])
        groups.append((int(group[0]), group[1:]))
    return worker, groups


if __name__ == "__main__":
    main(*parse(sys.argv[1:]))
