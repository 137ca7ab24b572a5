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
    from tests.conftest import mpich_segments

    cmd = mpiexec_command(n, [str(WORKERS / worker), *map(str, args)])
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    before = mpich_segments(mapped_too=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    finally:  # the harness is these workers' launcher (they are not gnnpart's ranks, which remove MPICH's segment
        # themselves): it removes what the job made, mapped still or not (its ranks may be exiting yet)
        for name in mpich_segments(mapped_too=True) - before:
            Path("/dev/shm", name).unlink(missing_ok=True)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"{worker} on {n} ranks exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def gnnpart_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "gnnpart", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def run_by_size(worker: str, groups: dict, timeout: float = 600) -> dict:
    """Run ``tests/workers/<worker>`` (``name.py[:function]``, default ``main``) at every rank count of ``groups`` (``{n: [args...]}``) in one launch of
    ``max(groups)`` ranks (tests/workers/by_size.py): the ranks start once, and each count runs on a
    sub-communicator of the first ``n`` ranks. Returns ``{n: the stdout of that count}``."""
    args = []
    for n in sorted(groups):
        args += ["--", str(n), *map(str, groups[n])]
    name, _, function = worker.partition(":")
    proc = run_mpi(max(groups), "by_size.py", Path(name).stem + (f":{function}" if function else ""), *args[1:],
                   timeout=timeout)
    return split_by_size(proc.stdout)


def split_by_size(stdout: str) -> dict:
    """``{n: lines}`` of a by_size launch's output, split at its ``{"size": n}`` lines."""
    out, current = {}, None
    for line in stdout.splitlines():
        if line.startswith('{"size": '):
            current = json.loads(line)["size"]
            out[current] = ""
        elif current is not None:
            out[current] += line + "\n"
    return out


def gnnpart_main(capsys, *args) -> tuple[int, str, str]:
    """``gnnpart ARGS`` run in this process (no interpreter to start): ``(exit status, stdout, stderr)``. For the
    refusals that come before any rank starts, and for one-rank runs; what needs a process of its own (signals,
    ranks) goes through :func:`gnnpart_cli`."""
    import torch

    from gnnpart.cli.main import main

    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    finally:  # what a command sets for its process, given back to the tests that follow
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
    out, err = capsys.readouterr()
    return code, out, err


def gnnpart_in_process(capsys, *args):
    """:func:`gnnpart_main` with :func:`gnnpart_cli`'s result: ``.returncode``, ``.stdout``, ``.stderr``."""
    from types import SimpleNamespace

    code, out, err = gnnpart_main(capsys, *args)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def npz_runs(graph, tmp_path_factory, worker: str, *args, timeout: float = 600, sizes=None):
    """``runs(n)`` -> the arrays of ``OUT.npz``: ``graph`` partitioned into ``n`` parts and ``worker PART_DIR OUT.npz
    *args`` run on ``n`` ranks. With ``sizes``, the first call runs every size in one launch (:func:`run_by_size`);
    without, one launch per ``n``."""
    import numpy as np

    from gnnpart import partition_graph

    done = {}

    def runs(n: int) -> dict:
        if n not in done:
            todo = sorted(sizes) if sizes and n in sizes else [n]
            bases = {k: tmp_path_factory.mktemp(f"{Path(worker).stem}{k}") for k in todo}
            for k, base in bases.items():
                partition_graph(graph, k, base / "p")
            if len(todo) > 1:
                run_by_size(worker, {k: [base / "p", base / "out.npz", *args] for k, base in bases.items()},
                            timeout=timeout)
            else:
                run_mpi(n, worker, bases[n] / "p", bases[n] / "out.npz", *args, timeout=timeout)
            done.update({k: dict(np.load(base / "out.npz")) for k, base in bases.items()})
        return done[n]

    return runs


def named_check_runs(graph, tmp_path_factory, worker: str, *args: str, sizes=None):
    """``runs(n)`` -> ``{check: report}``: ``graph`` partitioned into ``n`` parts and ``worker`` run on ``n`` ranks
    (the worker prints named checks, tests/workers/checks.py; the part directory is its last argument). With
    ``sizes``, the first call runs every size in one launch (:func:`run_by_size`)."""
    from gnnpart import partition_graph
    from tests.workers.checks import reports

    done = {}

    def runs(n: int) -> dict:
        if n not in done:
            todo = sorted(sizes) if sizes and n in sizes else [n]
            outs = {k: tmp_path_factory.mktemp(f"{Path(worker).stem}{k}") / "p" for k in todo}
            for k, out in outs.items():
                partition_graph(graph, k, out)
            if len(todo) > 1:
                printed = run_by_size(worker, {k: [*args, out] for k, out in outs.items()})
                done.update({k: reports(text) for k, text in printed.items()})
            else:
                done[n] = reports(run_mpi(n, worker, *args, outs[n]).stdout)
        return done[n]

    return runs
def assert_check_passed(runs, n: int, check: str) -> None:
    """Fail with every rank's failures if ``check`` failed (or did not report) on ``n`` ranks."""
    report = runs(n).get(check)
    assert report is not None, f"{check!r} did not report on {n} ranks"
    assert report["ok"], "\n".join(report["failures"])
