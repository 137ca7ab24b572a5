"""Starting a command on N MPI ranks with ``mpiexec`` (MPICH or Open MPI) and detecting an MPI job."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path



def job_size() -> int | None:
    """The number of ranks of the MPI job this process was started in, or ``None`` when started alone."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    if "PMIX_RANK" in os.environ or "PMI_RANK" in os.environ:
        from mpi4py import MPI

        return MPI.COMM_WORLD.Get_size()
    return None


def find_mpiexec() -> str:
    """``$GNNPART_MPIEXEC``, else ``mpiexec`` on the PATH, else the one beside this Python (pip's mpich)."""
    override = os.environ.get("GNNPART_MPIEXEC")
    if override:
        return override
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found:
        return found
    beside = Path(sysconfig.get_path("scripts")) / "mpiexec"
    if beside.exists():
        return str(beside)
    raise FileNotFoundError("no mpiexec found: install an MPI (`pip install mpich`, or Open MPI) or set GNNPART_MPIEXEC")


def mpiexec_command(nprocs: int, argv: list[str], mpiexec: str | None = None) -> list[str]:
    """``mpiexec -n N python -m mpi4py ARGV``, with the flags Open MPI needs (as root, more ranks than cores)."""
    exe = mpiexec or find_mpiexec()
    flags: list[str] = []
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    if "Open MPI" in version or "OpenRTE" in version:
        flags.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--allow-run-as-root")
    # python -m mpi4py aborts the whole job when any rank dies of an unhandled exception.
    return [exe, *flags, "-n", str(nprocs), sys.executable, "-m", "mpi4py", *argv]
