"""Shared fixtures: where the real datasets are, and small graphs built in memory."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gnnpart.data import Graph
from gnnpart.data.loading import default_root


def _planetoid_root() -> Path | None:
    root = default_root()
    for cand in (root / "planetoid", root):
        if (cand / "ind.cora.graph").exists():
            return root
    return None


def pytest_configure(config):
    """GNNPART_REQUIRE_CUDA=1 (set by benchmarks/gpu_check.sh): no GPU is an error, not a run of skipped tests."""
    if os.environ.get("GNNPART_REQUIRE_CUDA") == "1":
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("GNNPART_REQUIRE_CUDA=1 but torch sees no CUDA device: the CUDA tests would skip")


def mpich_segments(mapped_too: bool = False) -> set[str]:
    """MPICH's shared-memory segments (``/dev/shm/mpich_shm_*``) that no live process maps (``MPI_Abort`` leaves
    one behind; this process's own MPI, started by a test that runs a command in-process, maps its own), or every
    one of them (``mapped_too``)."""
    shm = Path("/dev/shm")
    names = {p.name for p in shm.glob("mpich_shm_*")} if shm.is_dir() else set()
    if not names or mapped_too:
        return names
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text(errors="replace")
        except OSError:
            continue
        names = {n for n in names if n not in text}
    return names


@pytest.fixture(autouse=True)
def no_shared_memory_left():
    """Every test: a job it ran, failed or not, leaves no MPICH segment in /dev/shm (gnnpart's launcher removes
    what an aborted job leaves; a job every rank knows failed ends without aborting). A test that leaves one
    fails (the segment is removed, so that the next test is judged alone)."""
    before = mpich_segments()
    yield
    left = sorted(mpich_segments() - before)
    for name in left:
        Path("/dev/shm", name).unlink(missing_ok=True)
    if left:
        pytest.fail(f"the test left {len(left)} MPICH segment(s) in /dev/shm: {', '.join(left)}")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The datasets folder (GNNPART_DATA, else ../shared/datasets).

    Missing data skips the test with a reason, unless GNNPART_REQUIRE_DATA=1 (set by CI),
    where it fails: CI must never pass by skipping.
    """
    root = _planetoid_root()
    if root is None:
        msg = f"Planetoid files not found under {default_root()} (set GNNPART_DATA)"
        if os.environ.get("GNNPART_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def cora(data_root) -> Graph:
    from gnnpart.data import load

    return load("cora", root=data_root)


def odd_graph() -> Graph:
    """A directed graph with isolated nodes, self loops, duplicates and a hub (edge cases)."""
    rng = np.random.default_rng(7)
    n = 60
    src = rng.integers(0, 40, 300)
    dst = rng.integers(0, 40, 300)
    src = np.concatenate([src, [5, 5, 7, 7, 3], np.full(30, 50)])  # self loops 5->5, 7->7; hub 50
    dst = np.concatenate([dst, [5, 5, 7, 8, 3], np.arange(10, 40)])
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    train = np.zeros(n, dtype=bool)
    train[::3] = True
    return Graph.from_edges(src, dst, num_nodes=n, x=x, y=y, train_mask=train, val_mask=~train, name="odd")


@pytest.fixture
def odd() -> Graph:
    return odd_graph()


# Open MPI, beside pip's MPICH: for tests/launch and for PT-Scotch, which links it (see tests/launch/conftest.py)
SIZE_CHECK = ("import sys; from mpi4py import MPI; "
              "sys.exit(MPI.COMM_WORLD.Get_size() != 2 or 'Open MPI' not in MPI.Get_library_version())")


def _missing(what: str, variable: str, reason: str):
    if os.environ.get(variable) == "1":
        pytest.fail(f"{what} is required ({variable}=1) but {reason}")
    pytest.skip(f"needs {what}: {reason}")


@pytest.fixture(scope="session")
def openmpi() -> dict:
    """The environment that makes ``gnnpart train -n``, the test workers and srun's ranks use Open MPI."""
    mpiexec = os.environ.get("GNNPART_OPENMPI_MPIEXEC") or shutil.which("mpirun.openmpi")
    if not mpiexec:
        _missing("Open MPI", "GNNPART_REQUIRE_OPENMPI",
                 "no mpirun.openmpi on the PATH (apt-get install openmpi-bin libopenmpi-dev; or set "
                 "GNNPART_OPENMPI_MPIEXEC)")
    env = {"GNNPART_MPIEXEC": mpiexec, "MPI4PY_LIBMPI": os.environ.get("GNNPART_OPENMPI_LIBMPI", "libmpi.so.40")}
    check = subprocess.run([mpiexec, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, "-c",
                            SIZE_CHECK], env=dict(os.environ, **env), capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        _missing("Open MPI", "GNNPART_REQUIRE_OPENMPI",
                 f"mpi4py does not run on it under {mpiexec} with MPI4PY_LIBMPI={env['MPI4PY_LIBMPI']}: "
                 f"{(check.stderr or check.stdout).strip()[-300:]}")
    return env


@pytest.fixture
def with_openmpi(openmpi, monkeypatch) -> dict:
    """This test's subprocesses (``gnnpart train -n``, ``run_mpi``) run on Open MPI."""
    for key, value in openmpi.items():
        monkeypatch.setenv(key, value)
    return openmpi
