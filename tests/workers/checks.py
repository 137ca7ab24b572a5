"""Named checks for MPI test workers, each reported on its own (in the manner of mpi4py's test_cco_nb_vec.py).

A check is a function ``check(expect)`` that every rank runs. ``expect(condition, message)`` records a failure and
carries on: every rank makes the same collective calls whatever fails, and a failing expectation never hides the
ones after it. After each check the failures of all ranks are gathered, and rank 0 prints one JSON line:
``{"check": name, "ok": bool, "failures": ["rank r: message", ...]}``. An exception (a bug, not a failed
expectation) still ends the job through ``python -m mpi4py``, and the test fails with every rank's output.
"""
import json


class Checks:
    """Runs named checks on every rank of ``comm`` (a :class:`gnnpart.comm.Communicator`)."""

    def __init__(self, comm):
        self.comm = comm

    def run(self, name, check, *args):
        failures = []

        def expect(condition, message):
            if not condition:
                failures.append(str(message))

        check(expect, *args)
        gathered = self.comm.comm.allgather(failures)
        merged = [f"rank {rank}: {message}" for rank, messages in enumerate(gathered) for message in messages]
        if self.comm.rank == 0:
            print(json.dumps({"check": name, "ok": not merged, "failures": merged}), flush=True)


def reports(stdout: str) -> dict:
    """``{name: report}`` from a worker's output."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"check"')]
    return {r["check"]: r for r in lines}
