"""Which MPI gnnpart runs on, and how it is launched: `gnnpart mpi`, srun without its plugin, the start hint."""
import os
import subprocess
import sys

import pytest

from gnnpart.cli import launcher
from gnnpart.cli.rank_job import dispatch
from gnnpart.errors import ConfigError
from tests.mpi import ROOT, gnnpart_cli

SLURM_STEP = {"SLURM_STEP_NUM_TASKS": "3", "SLURM_PROCID": "0", "SLURM_NTASKS": "3"}


@pytest.fixture
def no_job(monkeypatch):
    """An environment with no MPI job and no Slurm step."""
    for key in list(os.environ):
        if key.startswith(("SLURM_", "PMI_", "PMIX_", "OMPI_COMM_WORLD")) or key == "GNNPART_SRUN_MPI":
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize("version, name, plugin", [
    ("MPICH Version:      5.0.2\nMPICH Release date: ...", "MPICH", "pmi2"),
    ("Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4", "Open MPI", "pmix"),
    ("Intel(R) MPI Library 2021.10 for Linux* OS", "MPICH", "pmi2"),
    ("MVAPICH2 Version      :	2.3.7", "MPICH", "pmi2"),
    ("Some Vendor MPI 1.0", "unknown", None),
])
def test_the_library_and_its_srun_plugin(version, name, plugin, no_job):
    assert launcher.mpi_library(version) == name
    no_job.setattr(launcher, "mpi_library_version", lambda: version)
    assert launcher.srun_plugin() == plugin
    no_job.setenv("GNNPART_SRUN_MPI", "pmix_v4")
    assert launcher.srun_plugin() == "pmix_v4"


def test_an_srun_step_without_the_plugin_is_found(no_job):
    assert launcher.srun_tasks_without_mpi() is None
    no_job.setenv("SLURM_NTASKS", "3")  # a batch script's environment is no step
    assert launcher.srun_tasks_without_mpi() is None
    for key, value in SLURM_STEP.items():
        no_job.setenv(key, value)
    assert launcher.srun_tasks_without_mpi() == 3
    no_job.setenv("SLURM_STEP_NUM_TASKS", "1")  # `srun -n 1 gnnpart train -n 3`: one task that launches
    assert launcher.srun_tasks_without_mpi() is None


def test_srun_without_the_plugin_is_refused_on_task_0_only(no_job, tmp_path):
    for key, value in SLURM_STEP.items():
        no_job.setenv(key, value)
    no_job.setattr(launcher, "mpi_library_version", lambda: "MPICH Version: 5.0.2")
    ran = []
    with pytest.raises(ConfigError, match=r"srun started 3 tasks but MPI sees each as a world of 1 rank: srun is "
                                          r"missing its MPI plugin; use srun --mpi=pmi2 \(mpi4py runs on MPICH; "
                                          r"Open MPI needs --mpi=pmix\)"):
        dispatch(None, str(tmp_path), [], "gnnpart train", ran.append)
    no_job.setenv("SLURM_PROCID", "2")
    assert dispatch(None, str(tmp_path), [], "gnnpart train", ran.append) == 1  # quietly: task 0 says it
    assert ran == []  # no task trained alone


def test_the_start_hint_speaks_the_launchers_terms(no_job):
    assert launcher.start_hint(4) == "run with -n 4"
    no_job.setenv("SLURM_STEP_NUM_TASKS", "3")
    assert launcher.start_hint(4) == "start 4 tasks (srun -n 4, or sbatch --ntasks=4)"


def test_mpiexec_beside_this_python_comes_first(no_job, tmp_path):
    no_job.delenv("GNNPART_MPIEXEC", raising=False)
    beside = tmp_path / "bin"
    beside.mkdir()
    (beside / "mpiexec").write_text("#!/bin/sh\n")
    no_job.setattr(launcher.sysconfig, "get_path", lambda name: str(beside))
    assert launcher.find_mpiexec() == str(beside / "mpiexec")
    chosen = tmp_path / "mpirun"
    chosen.write_text("#!/bin/sh\n")
    chosen.chmod(0o755)
    no_job.setenv("GNNPART_MPIEXEC", str(chosen))
    assert launcher.find_mpiexec() == str(chosen)
    no_job.setenv("GNNPART_MPIEXEC", "/opt/mpi/bin/mpirun")  # a path that is not there: named, with the variable
    with pytest.raises(ConfigError, match="GNNPART_MPIEXEC names /opt/mpi/bin/mpirun, which does not exist"):
        launcher.find_mpiexec()


def test_gnnpart_mpi_shows_the_mpi_and_checks_a_job():
    shown = gnnpart_cli("mpi")
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines() if not line.startswith(("srun", "warn")))
    assert set(fields) >= {"mpi4py", "MPI", "mpiexec"}
    plugin = gnnpart_cli("mpi", "--srun-plugin")
    assert plugin.returncode == 0 and plugin.stdout.strip() in ("pmi2", "pmix")
    assert f"srun --mpi=  {plugin.stdout.strip()}" in shown.stdout
    mpiexec = gnnpart_cli("mpi", "--mpiexec").stdout.strip()
    assert mpiexec and mpiexec in shown.stdout
    check = gnnpart_cli("mpi", "--check")
    assert check.returncode == 0 and check.stdout.startswith(f"2 ranks through {mpiexec} formed one job"), check.stderr


def test_gnnpart_mpi_check_names_an_mpiexec_of_another_mpi(tmp_path):
    # an "mpiexec" that starts each rank as a job of its own, as one of another MPI does
    fake = tmp_path / "mpiexec"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "-n" ]; do shift; done; n=$2; shift 2\n'
                    'i=0; while [ $i -lt $n ]; do "$@" & i=$((i+1)); done; wait\n')
    fake.chmod(0o755)
    proc = subprocess.run([sys.executable, "-m", "gnnpart", "mpi", "--check"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, GNNPART_MPIEXEC=str(fake)), timeout=120)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"`--check`: 2 ranks through {fake} did not form one job" in proc.stderr
    assert "mpiexec and mpi4py must be of the same MPI" in proc.stderr
