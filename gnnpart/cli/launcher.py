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


def srun_tasks_without_mpi() -> int | None:
    """The task count of the ``srun`` step this process is one task of, when that step has more than one task but
    the MPI sees no job (each task a world of one: srun lacks the MPI plugin); else ``None``.

    Only meaningful when :func:`job_size` found no job: with a plugin, srun hands each task the PMI variables that
    :func:`job_size` reads. (A batch script's ``SLURM_NTASKS`` without ``SLURM_STEP_NUM_TASKS`` is not a step.)
    """
    tasks = os.environ.get("SLURM_STEP_NUM_TASKS", "")
    if tasks.isdigit() and int(tasks) > 1 and os.environ.get("SLURM_PROCID", "").isdigit():
        return int(tasks)
    return None


LIBRARY_QUERY = ("import mpi4py; mpi4py.rc.initialize = False; from mpi4py import MPI; "
                 "print(MPI.Get_library_version())")
"""Asks which MPI library mpi4py loads without starting MPI (``MPI_Get_library_version`` may precede ``MPI_Init``)."""


def mpi_library_version() -> str:
    """The version text of the MPI library mpi4py runs on (``""`` when it cannot be read).

    Asked in this process when mpi4py's MPI module is loaded already, else in a short child process, so that this
    process's MPI is neither started nor left unstartable."""
    try:
        if "mpi4py.MPI" in sys.modules:
            return sys.modules["mpi4py.MPI"].Get_library_version()
        return subprocess.run([sys.executable, "-c", LIBRARY_QUERY], capture_output=True, text=True,
                              timeout=60).stdout
    except Exception:  # noqa: BLE001 - a hint, not a requirement
        return ""


def mpi_library(version: str | None = None) -> str:
    """``"MPICH"`` (or a derivative), ``"Open MPI"`` or ``"unknown"``: the MPI library of ``version`` (default: the
    one mpi4py runs on, :func:`mpi_library_version`)."""
    version = mpi_library_version() if version is None else version
    if "Open MPI" in version:
        return "Open MPI"
    return "MPICH" if any(name in version for name in ("MPICH", "MVAPICH", "Intel(R) MPI")) else "unknown"


SRUN_PLUGIN = {"MPICH": "pmi2", "Open MPI": "pmix"}
"""The ``srun --mpi=`` plugin each MPI library needs (MPICH and its derivatives speak PMI-2; Open MPI 4 and 5 are
built with PMIx, and Debian's Open MPI without Slurm's PMI-2)."""


def srun_plugin() -> str | None:
    """The ``srun --mpi=`` value for the MPI that mpi4py runs on (``GNNPART_SRUN_MPI`` overrides), or None when
    the library is one gnnpart does not know."""
    return os.environ.get("GNNPART_SRUN_MPI") or SRUN_PLUGIN.get(mpi_library())


def start_hint(parts: int) -> str:
    """How to start one rank per part, in the terms of the launcher in use (srun's when in a Slurm step)."""
    if os.environ.get("SLURM_STEP_NUM_TASKS", "").isdigit():
        return f"start {parts} tasks (srun -n {parts}, or sbatch --ntasks={parts})"
    return f"run with -n {parts}"


def refuse_srun_without_mpi(size: int | None, doing: str) -> int | None:
    """Where srun started several tasks that MPI sees as worlds of one rank (:func:`srun_tasks_without_mpi`), each
    would do the whole work alone (``doing``, e.g. "train alone"): task 0 raises ``ConfigError`` with
    :func:`srun_plugin_hint`, the others get the exit status 1 to return quietly. ``None`` otherwise."""
    tasks = srun_tasks_without_mpi() if size in (None, 1) else None
    if tasks is None:
        return None
    if os.environ.get("SLURM_PROCID") != "0":
        return 1
    from gnnpart.errors import ConfigError

    raise ConfigError(srun_plugin_hint(tasks))


def srun_plugin_hint(tasks: int) -> str:
    """The one line saying that srun started ``tasks`` tasks of one rank each, and which ``--mpi=`` to use."""
    library = mpi_library()
    plugin = SRUN_PLUGIN.get(library)
    use = (f"use srun --mpi={plugin} (mpi4py runs on {library}"
           f"{'; Open MPI needs --mpi=pmix' if library == 'MPICH' else '; MPICH needs --mpi=pmi2'})" if plugin
           else "use srun --mpi=pmi2 for MPICH, --mpi=pmix for Open MPI")
    return (f"srun started {tasks} tasks but MPI sees each as a world of 1 rank: srun is missing its MPI plugin; "
            f"{use}, or set MpiDefault in slurm.conf; `srun --mpi=list` shows the plugins this Slurm has")


def find_mpiexec() -> str:
    """``$GNNPART_MPIEXEC``, else the ``mpiexec`` beside this Python (an MPI installed into this environment, such
    as pip's mpich, is the one its mpi4py loads), else ``mpiexec`` (or ``mpirun``) on the PATH."""
    override = os.environ.get("GNNPART_MPIEXEC")
    if override:
        return checked_program(override, "GNNPART_MPIEXEC")
    beside = Path(sysconfig.get_path("scripts")) / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found:
        return found
    raise FileNotFoundError("no mpiexec found: install an MPI (`pip install mpich`, or Open MPI) or set GNNPART_MPIEXEC")


def checked_program(path: str, variable: str) -> str:
    """``path`` (from the environment variable ``variable``), resolved on the PATH when it is a bare name, if it is
    an executable file; else ``ConfigError`` in one line naming the variable and the path."""
    from gnnpart.errors import ConfigError

    found = shutil.which(path)
    if found is None:
        why = "is not executable" if os.path.exists(path) else "does not exist"
        raise ConfigError(f"{variable} names {path}, which {why}: set it to an mpiexec (or unset it)")
    return found


def mpiexec_library(exe: str) -> str:
    """``"MPICH"``, ``"Open MPI"`` or ``"unknown"``: the MPI an ``mpiexec`` belongs to (its ``--version``)."""
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "Open MPI" in version or "OpenRTE" in version:
        return "Open MPI"
    return "MPICH" if "HYDRA" in version or "MPICH" in version else "unknown"


def open_mpi_launcher(what: str, install: str) -> str:
    """Open MPI's ``mpirun``, for work that needs the Open MPI library (``what``, e.g. PT-Scotch, which links it):
    ``$GNNPART_OPENMPI_MPIEXEC``, else Debian's ``mpirun.openmpi``, else the ``mpiexec`` :func:`find_mpiexec`
    finds when it is Open MPI's; ``ConfigError`` in one line, saying what to ``install``, otherwise."""
    from gnnpart.errors import ConfigError

    override = os.environ.get("GNNPART_OPENMPI_MPIEXEC")
    if override:
        found = checked_program(override, "GNNPART_OPENMPI_MPIEXEC")
        library = mpiexec_library(found)
        if library != "Open MPI":  # each rank would start as a job of its own and partition alone
            kind = "not Open MPI's" if library == "unknown" else f"{library}'s"
            raise ConfigError(f"GNNPART_OPENMPI_MPIEXEC names {found}, which is {kind} launcher: {what} runs on "
                              "Open MPI, and another MPI's mpiexec starts each rank as a job of its own; set it to "
                              "Open MPI's mpirun (mpirun.openmpi)")
        return found
    found = shutil.which("mpirun.openmpi")
    if found:
        return found
    try:
        other = find_mpiexec()
    except FileNotFoundError:
        other = None
    if other is not None and mpiexec_library(other) == "Open MPI":
        return other
    raise ConfigError(f"{what} runs on Open MPI, and no Open MPI launcher was found (no mpirun.openmpi, "
                      f"GNNPART_OPENMPI_MPIEXEC or Open MPI mpiexec): {install}")


def mpiexec_command(nprocs: int, argv: list[str], mpiexec: str | None = None) -> list[str]:
    """``mpiexec -n N python -m mpi4py ARGV``, with the flags Open MPI needs (as root, more ranks than cores)."""
    exe = mpiexec or find_mpiexec()
    flags: list[str] = []
    if mpiexec_library(exe) == "Open MPI":
        # --bind-to none: with more ranks than cores Open MPI binds every rank to the first core (measured: 4 ranks
        # on 2 cores ran at 25% each, all on core 0); the ranks set their own thread counts (gnnpart.rank.cores)
        flags += ["--oversubscribe", "--bind-to", "none"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--allow-run-as-root")
    # python -m mpi4py aborts the whole job when any rank dies of an unhandled exception.
    return [exe, *flags, "-n", str(nprocs), sys.executable, "-m", "mpi4py", *argv]


JOB_SIZE = "GNNPART_JOB_SIZE"
"""The rank count a launcher asked for: a rank of a world of another size refuses to run (:func:`check_world`)."""


def launch_job(nprocs: int, argv: list[str], mpiexec: str | None = None, env: dict | None = None,
               outputs=()) -> int:
    """Run ``python -m mpi4py ARGV`` on ``nprocs`` ranks (:func:`mpiexec_command`, :func:`run_job`); the ranks learn
    the size asked for (:func:`check_world`), and when the job failed or was stopped, the temporaries of its dead
    ranks beside each output in ``outputs`` are removed (:func:`remove_temporaries`, one line each).

    Args:
        nprocs (int): ranks to start.
        argv (list[str]): what each rank runs after ``python -m mpi4py``.
        mpiexec (str, optional): the launcher (default :func:`find_mpiexec`).
        env (dict, optional): the ranks' environment (default this process's).
        outputs: directories the job writes atomically.

    Returns:
        the job's exit status (``128 + signal`` when a signal stopped it).
    """
    cmd = mpiexec_command(nprocs, argv, mpiexec)
    code = 1
    try:
        code = run_job(cmd, dict(os.environ if env is None else env, **{JOB_SIZE: str(nprocs)}))
    finally:
        if code:
            remove_temporaries(outputs)
    return code


def remove_temporaries(outputs, wait_s: float = 10.0) -> None:
    """After a job that failed or was stopped: remove the temporaries its ranks left beside each output
    (:func:`gnnpart.atomic.recover`), once the ranks that made them have ended (``mpiexec`` may return while its
    ranks still die; each is waited for up to ``wait_s`` seconds in all, else its temporary is left to the next
    run)."""
    from gnnpart.atomic import leftovers, recover

    deadline = time.monotonic() + wait_s
    for out in outputs:
        out = Path(out)
        while time.monotonic() < deadline and any(pid_alive(pid) for _, pid in leftovers(out, "tmp")):
            time.sleep(0.05)
        recover(out)


def check_world(size: int) -> str | None:
    """In a rank started by :func:`launch_job`: the one-line refusal when its MPI world (``size`` ranks) is not the
    job asked for (an ``mpiexec`` of another MPI than mpi4py's starts each rank as a world of its own), else
    None."""
    asked = os.environ.get(JOB_SIZE, "")
    if not asked.isdigit() or int(asked) == size:
        return None
    return (f"the ranks did not form one job of {asked}: this one sees a world of {size} (the mpiexec that started "
            f"them belongs to another MPI than the one mpi4py loads: {mpi_library()}); use that MPI's mpiexec, or "
            "set GNNPART_MPIEXEC")


def launcher_rank() -> int | None:
    """This process's rank as its launcher numbered it (``PMI_RANK``, ``OMPI_COMM_WORLD_RANK``, ``SLURM_PROCID``),
    whatever MPI sees; None outside a launch."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return None


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
