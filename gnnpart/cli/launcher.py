"""Starting a command on N MPI ranks with ``mpiexec`` (MPICH or Open MPI) and detecting an MPI job."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

from gnnpart.processes import pid_alive


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


LAUNCHER_PID = "GNNPART_LAUNCHER_PID"
LAUNCHER_HOST = "GNNPART_LAUNCHER_HOST"
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def run_job(cmd: list[str], env: dict | None = None, grace: float = 10.0) -> int:
    """Run an ``mpiexec`` command and wait for it; what stops this process stops the job.

    SIGTERM, SIGHUP and SIGINT (what Slurm, systemd, ``kill`` and Ctrl-C send) are forwarded to ``mpiexec``; a job
    still alive ``grace`` seconds later is killed with its whole process group. The ranks get this process's id
    (``GNNPART_LAUNCHER_PID``) and end themselves if it dies, even by SIGKILL (:func:`watch_launcher`).

    Returns:
        the job's exit status (``128 + signal`` when a signal stopped it).
    """
    env = dict(os.environ if env is None else env)
    env[LAUNCHER_PID], env[LAUNCHER_HOST] = str(os.getpid()), socket.gethostname()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)  # own group: signals reach it only through us
    received: list[int] = []

    def forward(signum, _frame):
        received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        deadline = None
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + grace
                if deadline is not None and time.monotonic() > deadline:  # mpiexec did not end in time
                    _kill_group(proc.pid)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
    if received:
        return 128 + received[0]
    return 128 - code if code < 0 else code


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def watch_launcher(interval: float = 1.0) -> threading.Thread | None:
    """In a rank started by :func:`run_job`: end this process when the launcher is gone.

    A daemon thread checks every ``interval`` seconds whether the launcher's process still exists (only when it
    runs on this host; ranks elsewhere end when ``mpiexec`` tears the job down). Returns the thread, or None when
    there is no launcher to watch.
    """
    pid = os.environ.get(LAUNCHER_PID, "")
    if not pid.isdigit() or os.environ.get(LAUNCHER_HOST) != socket.gethostname():
        return None
    pid_value = int(pid)

    def watch():
        while True:
            time.sleep(interval)
            if not pid_alive(pid_value):
                os.write(2, f"gnnpart: the launcher (pid {pid_value}) is gone; ending this rank\n".encode())
                os._exit(143)

    thread = threading.Thread(target=watch, name="gnnpart-launcher-watch", daemon=True)
    thread.start()
    return thread
