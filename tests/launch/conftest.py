"""The launchers beyond pip's MPICH: Open MPI (its fixtures, shared with the PT-Scotch tests, are in tests/conftest.py),
and a Slurm to run srun, sbatch and salloc against.

Where one is absent the tests that need it skip, saying why, unless CI asks for it (``GNNPART_REQUIRE_OPENMPI=1``,
``GNNPART_REQUIRE_SLURM=1``, set by ``.ci/run``): then its absence fails them, as ``GNNPART_REQUIRE_DATA`` does for
data. Open MPI is found as ``$GNNPART_OPENMPI_MPIEXEC``, else Debian's ``mpirun.openmpi``; mpi4py is pointed at it
with ``MPI4PY_LIBMPI`` (``$GNNPART_OPENMPI_LIBMPI``, default ``libmpi.so.40``), as the README says for the mpi4py
wheel. Slurm is whatever ``sinfo`` reaches (``SLURM_CONF``; ``.ci/slurm.sh up`` starts a one-node one).
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from gnnpart import partition_graph
from tests.conftest import _missing


@pytest.fixture(scope="session")
def slurm() -> None:
    """A Slurm with an idle node, or a skip (a failure where ``GNNPART_REQUIRE_SLURM=1``)."""
    if not shutil.which("sinfo") or not shutil.which("srun"):
        _missing("Slurm", "GNNPART_REQUIRE_SLURM", "no sinfo/srun on the PATH (bash .ci/slurm.sh install up)")
    try:
        info = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        _missing("Slurm", "GNNPART_REQUIRE_SLURM", "sinfo did not answer in 30 s")
    states = info.stdout.split()
    if info.returncode != 0 or not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        _missing("Slurm", "GNNPART_REQUIRE_SLURM",
                 f"no node is up (sinfo: {(info.stderr or info.stdout).strip()[:200] or 'nothing'}; "
                 "bash .ci/slurm.sh up starts one)")


@pytest.fixture(scope="module")
def cora3(cora, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "cora3"
    partition_graph(cora, 3, out, dataset="cora")
    return out
