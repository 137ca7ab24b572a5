"""Open MPI beside MPICH: the launch, exactness, abort and signal tests of MPICH's suite, run on Open MPI.

Each test here runs one that the MPICH suite has, with this test's subprocesses on Open MPI (``with_openmpi``:
``GNNPART_MPIEXEC`` names Open MPI's launcher, ``MPI4PY_LIBMPI`` points mpi4py at its library).
"""
import signal
import subprocess
import sys

import numpy as np
import pytest

from gnnpart import partition_graph
from tests.mpi import ROOT, gnnpart_cli, run_by_size
from tests.test_reliability import test_stopping_the_launcher_stops_every_rank as stopping_the_launcher
from tests.train.test_exactness_mpi import STEPS, assert_runs_agree
from tests.train.test_train_cli import read_lines
from tests.train.test_train_cli import test_failing_rank_aborts_the_job as failing_rank_aborts
from tests.train.test_train_cli import test_launch_script_runs_one_rank_per_part as launch_script
from tests.train.test_train_cli import test_metrics_file_and_exact_halo_bytes as metrics_and_bytes

SPECS = ["gcn:16:2:0.5:0.5", "sage:16:2:0.5:0.5", "gat:16:2:0.5:0.5"]


def test_gnnpart_runs_on_open_mpi(with_openmpi):
    proc = subprocess.run([sys.executable, "-m", "gnnpart", "mpi"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "MPI library  Open MPI" in proc.stdout and "(Open MPI)" in proc.stdout
    assert "srun --mpi=  pmix" in proc.stdout and "warning" not in proc.stdout


def test_launch(with_openmpi, cora3, tmp_path):
    metrics_and_bytes(cora3, tmp_path)


def test_launch_script(with_openmpi, cora3, tmp_path):
    launch_script(cora3, tmp_path)


def test_losses_equal_mpichs(with_openmpi, cora3, tmp_path, monkeypatch):
    args = ["train", cora3, "--epochs", "8", "--seed", "4", "-n", "3"]
    assert gnnpart_cli(*args, "--metrics", tmp_path / "ompi.jsonl").returncode == 0
    for key in with_openmpi:
        monkeypatch.delenv(key)
    assert gnnpart_cli(*args, "--metrics", tmp_path / "mpich.jsonl").returncode == 0
    ompi, mpich = ([e["loss"] for e in read_lines(tmp_path / f"{m}.jsonl")[:-1]] for m in ("ompi", "mpich"))
    # the two libraries may sum the all-reduce of 3 ranks in another order: equal up to float32 rounding
    np.testing.assert_allclose(ompi, mpich, rtol=1e-5)
    assert len(ompi) == 8


def test_exactness(with_openmpi, cora, tmp_path):
    for n in (1, 3):
        partition_graph(cora, n, tmp_path / f"cora-{n}")
    groups = {n: [tmp_path / f"cora-{n}", tmp_path / f"run-{n}.npz", STEPS, "float64", *SPECS] for n in (1, 3)}
    run_by_size("train_worker.py", groups, timeout=600)
    runs = {n: {"cora64": dict(np.load(tmp_path / f"run-{n}.npz"))} for n in (1, 3)}
    assert_runs_agree(runs[3], runs[1], 3)


def test_a_failing_rank_aborts_the_job(with_openmpi, cora3, tmp_path):
    failing_rank_aborts(cora3, tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_stopping_the_launcher_stops_every_rank(with_openmpi, cora3, tmp_path, signum):
    stopping_the_launcher(cora3, tmp_path, signum)
