"""Slurm as a launcher, on both MPIs: srun, sbatch of the launch/ templates, salloc, scancel, a rank killed under
srun, and a checkpoint that outlives scancel.

Every job runs on the test's Slurm with ``-O`` (more tasks than the node's CPUs); each MPI's losses are compared
with those of ``gnnpart train -n 3`` through that MPI's own mpiexec.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.mpi import ROOT
from tests.test_reliability import processes_with, wait_gone
from tests.train.test_train_cli import read_lines

EPOCHS = 6
TRAIN = ["--epochs", str(EPOCHS), "--seed", "5", "--threads", "1"]
PLUGIN = {"mpich": "pmi2", "openmpi": "pmix"}
KILL_AIM_S = 30


@pytest.fixture(params=["mpich", "openmpi"])
def mpi(request, slurm, monkeypatch) -> str:
    """The MPI of this test's ranks: MPICH (pip's wheel, this suite's default) or Open MPI."""
    if request.param == "openmpi":
        for key, value in request.getfixturevalue("openmpi").items():
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return request.param


def run(cmd: list, timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs)


def losses(metrics: Path) -> list[float]:
    return [e["loss"] for e in read_lines(metrics) if "final" not in e]


@pytest.fixture(scope="module")
def references() -> dict:
    """``{mpi: losses}``, filled by :func:`reference` (one run of each MPI for the module)."""
    return {}


@pytest.fixture
def reference(mpi, cora3, tmp_path, references) -> list[float]:
    """The losses of ``gnnpart train -n 3`` through this MPI's mpiexec."""
    if mpi not in references:
        out = tmp_path / "mpiexec.jsonl"
        proc = run([sys.executable, "-m", "gnnpart", "train", cora3, *TRAIN, "--metrics", out, "-n", "3"])
        assert proc.returncode == 0, proc.stderr
        references[mpi] = losses(out)
    return references[mpi]


def srun(*args) -> list:
    return ["srun", "-O", "-n", "3", *args, sys.executable, "-m", "mpi4py", "-m", "gnnpart"]


def wait_for(check, what: str, seconds: float = 120, proc=None, job: str | None = None, log: Path | None = None):
    """Wait until ``check()``; fail at once when the process ``proc`` or the Slurm ``job`` ends first."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ended before {what}: {proc.stderr.read() if proc.stderr else ''}")
        if job is not None and job_gone(job) and not check():
            raise AssertionError(f"job {job} ended before {what}:\n{log.read_text() if log and log.exists() else ''}")
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds} s")


def job_gone(job: str) -> bool:
    return run(["squeue", "-h", "-j", job], timeout=30).stdout.strip() == ""


def submit(*args) -> str:
    """``sbatch -O ARGS``: the job id."""
    proc = run(["sbatch", "--parsable", "-O", *args])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def sbatch(*args, seconds: float = 240) -> str:
    """``sbatch -O ARGS`` and wait for the job (polling: ``sbatch --wait`` looks only every 10 s): its state,
    e.g. ``COMPLETED`` or ``FAILED``."""
    job = submit(*args)
    state = ""
    deadline = time.time() + seconds
    while time.time() < deadline:
        info = run(["scontrol", "show", "job", "-o", job], timeout=30).stdout
        state = next((f.split("=", 1)[1] for f in info.split() if f.startswith("JobState=")), "")
        if state not in ("", "PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return state
        time.sleep(0.2)
    run(["scancel", job], timeout=30)
    raise AssertionError(f"job {job} still {state} after {seconds} s")


def test_the_plugin_follows_the_mpi(mpi):
    proc = run([sys.executable, "-m", "gnnpart", "mpi", "--srun-plugin"])
    assert proc.returncode == 0 and proc.stdout.strip() == PLUGIN[mpi], proc.stderr


def test_srun_trains_as_mpiexec_does(mpi, cora3, tmp_path, reference):
    out = tmp_path / "srun.jsonl"
    proc = run(srun(f"--mpi={PLUGIN[mpi]}") + ["train", cora3, *TRAIN, "--metrics", out])
    assert proc.returncode == 0, proc.stderr
    assert losses(out) == reference and len(reference) == EPOCHS


def test_ptscotch_under_srun(slurm, openmpi, cora, tmp_path, monkeypatch):
    # the README's example: srun --mpi=pmix starts PT-Scotch's ranks on Open MPI, each reading its slice
    from gnnpart.data.graph_dir import write_graph
    from gnnpart.partition import ptscotch
    from gnnpart.partition.store import read_meta
    from gnnpart.partition.verify import verify_partition

    if not ptscotch.available():
        if os.environ.get("GNNPART_REQUIRE_PTSCOTCH") == "1":
            pytest.fail(f"PT-Scotch is required (GNNPART_REQUIRE_PTSCOTCH=1) but not installed: {ptscotch.INSTALL_HINT}")
        pytest.skip(f"needs PT-Scotch: {ptscotch.INSTALL_HINT}")
    for key, value in openmpi.items():
        monkeypatch.setenv(key, value)
    write_graph(cora, tmp_path / "cora")
    proc = run(srun("--mpi=pmix") + ["partition", tmp_path / "cora", "-k", "4", "-o", tmp_path / "parts", "--method",
                                     "ptscotch"])
    assert proc.returncode == 0, proc.stderr
    meta = read_meta(tmp_path / "parts")
    assert meta["ranks"] == 3 and meta["method"] == "ptscotch"
    verify_partition(tmp_path / "parts")


def test_srun_without_the_plugin_says_which_to_use(mpi, cora3):
    proc = run(srun() + ["train", cora3, *TRAIN])
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gnnpart")]
    assert len(lines) == 1, proc.stderr  # task 0 says it; the others end quietly
    assert "srun started 3 tasks but MPI sees each as a world of 1 rank" in lines[0]
    assert f"use srun --mpi={PLUGIN[mpi]}" in lines[0]


def test_train_n_inside_an_allocation(mpi, cora3, tmp_path, reference):
    out = tmp_path / "salloc.jsonl"
    proc = run(["salloc", "-O", "-n", "3", sys.executable, "-m", "gnnpart", "train", cora3, *TRAIN, "--metrics", out,
                "-n", "3"])
    assert proc.returncode == 0, proc.stderr
    assert losses(out) == reference


@pytest.mark.parametrize("template", ["slurm.sbatch", "slurm-gpu.sbatch"])
def test_sbatch_of_a_template(mpi, cora3, tmp_path, reference, template, monkeypatch):
    if template == "slurm-gpu.sbatch":  # the GPU template, unchanged, on this CPU node: told to use the CPU
        monkeypatch.setenv("GNNPART_DEVICE", "cpu")
        monkeypatch.setenv("GNNPART_TRANSPORT", "mpi")
    out, log = tmp_path / "sbatch.jsonl", tmp_path / "job.out"
    state = sbatch("--ntasks=3", f"--output={log}", ROOT / "launch" / template, cora3, *TRAIN, "--metrics", out)
    assert state == "COMPLETED", log.read_text() if log.exists() else state
    assert losses(out) == reference
    assert "3 ranks x 1 threads" in log.read_text()


def test_a_template_refuses_another_task_count(mpi, cora3, tmp_path):
    log = tmp_path / "job.out"
    assert sbatch("--ntasks=2", f"--output={log}", ROOT / "launch" / "slurm.sbatch", cora3, *TRAIN) == "FAILED"
    assert "start 3 tasks (srun -n 3, or sbatch --ntasks=3)" in log.read_text()


def _submit_long(cora3, tmp_path, *extra) -> tuple[str, Path]:
    metrics = tmp_path / "long.jsonl"
    job = submit("--ntasks=3", f"--output={tmp_path / 'long.out'}", ROOT / "launch" / "slurm.sbatch", cora3,
                 "--epochs", "100000", "--seed", "5", "--threads", "1", "--metrics", metrics, *extra)
    return job, metrics


def test_scancel_leaves_nothing(mpi, cora3, tmp_path):
    job, metrics = _submit_long(cora3, tmp_path)
    try:
        wait_for(lambda: metrics.exists() and len(read_lines(metrics)) >= 2, "epochs", job=job,
                 log=tmp_path / "long.out")
        start = time.time()
        assert run(["scancel", job], timeout=30).returncode == 0
        wait_for(lambda: job_gone(job), "end of the job", 60)
        assert wait_gone(str(tmp_path), 30) == [], "ranks outlived scancel"
        assert time.time() - start < 30
    finally:
        run(["scancel", job], timeout=30)


def _task_pid(marker: str, task: int) -> int | None:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if marker in " ".join(proc.info["cmdline"] or []) and "mpi4py" in proc.info["cmdline"] and \
                    proc.environ().get("SLURM_PROCID") == str(task):
                return proc.pid
        except psutil.Error:
            pass
    return None


def test_a_rank_killed_under_srun_ends_the_job(mpi, cora3, tmp_path):
    """Without --kill-on-bad-exit, Slurm leaves the other ranks running: they must end the job themselves."""
    metrics = tmp_path / "killed.jsonl"
    cmd = srun(f"--mpi={PLUGIN[mpi]}", "--kill-on-bad-exit=0") + ["train", cora3, "--epochs", "100000", "--threads",
                                                                  "1", "--metrics", metrics]
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        wait_for(lambda: metrics.exists() and len(read_lines(metrics)) >= 3, "epochs", proc=proc)
        pid = _task_pid(str(tmp_path), 2)
        assert pid is not None, "task 2 not found"
        start = time.time()
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=KILL_AIM_S + 30)
        took = time.time() - start
        err = proc.stderr.read()
        assert took < KILL_AIM_S, f"the job took {took:.1f} s to end\n{err}"
        assert proc.returncode != 0
        # MPICH (PMI-2): gnnpart's watchdog names the rank; Open MPI (PMIx): Slurm's PMIx server ends the step
        named = (re.search(r"rank 2 on \S+ \(last heard", err) is not None and "is gone" in err if mpi == "mpich"
                 else "task 2: Killed" in err)
        assert named, err
        assert wait_gone(str(tmp_path), 20) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for leftover in processes_with(str(tmp_path)):
            os.kill(int(leftover.split(":")[0]), signal.SIGKILL)


def test_a_checkpoint_survives_scancel_and_resumes_exactly(mpi, cora3, tmp_path):
    ckpt = tmp_path / "ckpt"
    base = [cora3, "--seed", "5", "--threads", "1", "--checkpoint", ckpt]
    full = tmp_path / "full.jsonl"
    whole = run([sys.executable, "-m", "gnnpart", "train", cora3, "--seed", "5", "--threads", "1", "--epochs", "60",
                 "--metrics", full, "-n", "3"])
    assert whole.returncode == 0, whole.stderr
    job, metrics = _submit_long(cora3, tmp_path, "--checkpoint", ckpt, "--checkpoint-every", "4")
    try:
        wait_for(lambda: (ckpt / "checkpoint.pt").exists() and len(read_lines(metrics)) >= 5, "a checkpoint",
                 job=job, log=tmp_path / "long.out")
        run(["scancel", job], timeout=30)
        wait_for(lambda: job_gone(job), "end of the job", 60)
    finally:
        run(["scancel", job], timeout=30)
    log = tmp_path / "resume.out"
    state = sbatch("--ntasks=3", f"--output={log}", ROOT / "launch" / "slurm.sbatch", *base, "--epochs", "60",
                   "--metrics", metrics, "--resume")
    assert state == "COMPLETED", log.read_text()
    assert "resumed from" in log.read_text()
    got = {e["epoch"]: e["loss"] for e in read_lines(metrics) if "final" not in e}
    want = {e["epoch"]: e["loss"] for e in read_lines(full) if "final" not in e}
    assert sorted(got) == list(range(1, 61)) and got == want
