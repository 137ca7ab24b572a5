"""Whether a process still runs (used to end ranks whose launcher died, and to clean up after dead runs); ranks
agreeing on a step's failures."""
from __future__ import annotations

import os
import time


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie (killed, not yet reaped).

    Args:
        pid (int): a process id.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def attempt(fn, *args):
    """``(result, None)``, or ``(None, the exception)``: a step whose failure the ranks then agree on
    (:func:`failures_of_step`)."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - reported to every rank by the caller's agreement
        return None, exc


def failures_of_step(comm, error: BaseException | None) -> list[tuple[int, str]]:
    """``(rank, "Type: message")`` of every rank of ``comm`` (mpi4py) whose step raised ``error`` (collective: each
    rank says whether its step failed, so all of them go on, or stop, together)."""
    said = None if error is None else f"{type(error).__name__}: {' '.join(str(error).split())}"
    return [(r, text) for r, text in enumerate(comm.allgather(said)) if text is not None]


ABORT_GRACE_S = 0.5
"""Seconds a failing rank waits between writing its error line and aborting the job."""
ABORT_BOUND_S = 5.0
"""Seconds a rank that asked MPI to abort the job waits for it before it exits by itself: ``MPI_Abort`` may not
return, nor end the process, when it cannot reach the launcher or another host (a link down)."""


def abort_job(line: str, abort, grace: float = ABORT_GRACE_S, bound: float = ABORT_BOUND_S) -> None:
    """End an MPI job from one failing rank: write ``line`` to stderr in one write (the lines of several ranks never
    run together), give it ``grace`` seconds to reach the terminal, then ``abort(1)``.

    mpiexec forwards a rank's output asynchronously and ``MPI_Abort`` ends the job at once: without the pause a
    loaded machine sometimes lost every rank's line.

    Args:
        line (str): the one-line error (without the newline).
        abort (callable): ``abort(code)``, e.g. ``Communicator.abort`` or an mpi4py communicator's ``Abort``.
        grace (float): seconds to wait before aborting.
        bound (float): seconds after which this process exits (status 1) by itself if the abort has not ended it.
    """
    import threading

    os.write(2, (line + "\n").encode())
    time.sleep(grace)
    threading.Thread(target=_exit_after, args=(bound,), name="gnnpart-abort-bound", daemon=True).start()
    abort(1)


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    os._exit(1)


# ------------------------------------------------------------------------------------------ MPICH's segment
MPICH_SEGMENT = "/dev/shm/mpich_shm_"
"""The prefix of the shared-memory file MPICH's ``MPI_Init`` makes for the ranks of a host."""


def release_shared_segments(comm) -> list[str]:
    """Remove the name of MPICH's shared-memory segment once every rank has attached it (collective over ``comm``,
    the job's world: a barrier first); returns the paths removed.

    MPICH unlinks the file at ``MPI_Finalize`` only, so a job that ends otherwise (``MPI_Abort``, a rank killed, a
    node's ranks killed by ``scancel``) left a 2 MiB file in ``/dev/shm`` per host. After the barrier no rank opens
    it by name again; the memory itself stays mapped, and goes when the last rank of the host exits, however it
    ends. Only MPICH's segment is touched: Open MPI attaches its peers' segments lazily, by name, and cleans them up
    itself.
    """
    comm.Barrier()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split(None, 5)[5].strip() for line in fh if MPICH_SEGMENT in line
                     and len(line.split(None, 5)) == 6}
    except OSError:
        return []
    removed = []
    for path in sorted(p for p in paths if p.startswith(MPICH_SEGMENT) and not p.endswith("(deleted)")):
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass  # another rank of the host removed it first
        except OSError:
            pass  # not ours to remove: MPICH's own finalize tries again
    return removed
