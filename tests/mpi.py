"""Starting test workers on N MPI ranks from pytest."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gnnpart.cli.launcher import mpiexec_command

WORKERS = Path(__file__).parent / "workers"
ROOT = Path(__file__).parent.parent


def run_mpi(n: int, worker: str, *args: str, timeout: float = 240, expect_ok: bool = True) -> subprocess.CompletedProcess:
    """Run ``tests/workers/<worker>`` on ``n`` ranks; on failure, fail with every rank's output."""
    cmd = mpiexec_command(n, [str(WORKERS / worker), *map(str, args)])
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"{worker} on {n} ranks exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def gnnpart_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "gnnpart", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def npz_runs(graph, tmp_path_factory, worker: str, *args, timeout: float = 600):
    """``runs(n)`` -> the arrays of ``OUT.npz``: ``graph`` partitioned into ``n`` parts and ``worker PART_DIR OUT.npz
    *args`` run on ``n`` ranks, once per ``n``."""
    import numpy as np

    from gnnpart import partition_graph

    done = {}

    def runs(n: int) -> dict:
        if n not in done:
            base = tmp_path_factory.mktemp(f"{Path(worker).stem}{n}")
            partition_graph(graph, n, base / "p")
            run_mpi(n, worker, base / "p", base / "out.npz", *args, timeout=timeout)
            done[n] = dict(np.load(base / "out.npz"))
        return done[n]

    return runs


def named_check_runs(graph, tmp_path_factory, worker: str, *args: str):
    """``runs(n)`` -> ``{check: report}``: ``graph`` partitioned into ``n`` parts and ``worker`` run on ``n`` ranks
    once per ``n`` (the worker prints named checks, tests/workers/checks.py; the part directory is its last
    argument)."""
    from gnnpart import partition_graph
    from tests.workers.checks import reports

    done = {}

    def runs(n: int) -> dict:
        if n not in done:
            out = tmp_path_factory.mktemp(f"{Path(worker).stem}{n}") / "p"
            partition_graph(graph, n, out)
            done[n] = reports(run_mpi(n, worker, *args, out).stdout)
        return done[n]

    return runs


def assert_check_passed(runs, n: int, check: str) -> None:
    """Fail with every rank's failures if ``check`` failed (or did not report) on ``n`` ranks."""
    report = runs(n).get(check)
    assert report is not None, f"{check!r} did not report on {n} ranks"
    assert report["ok"], "\n".join(report["failures"])
