"""How ``train`` and ``predict`` run as MPI jobs: launched here with ``-n`` (this process then only starts
``mpiexec`` and never imports torch), run alone for a one-part directory, or run as one rank of a job that
``mpiexec`` (or ``srun``) started.
"""
from __future__ import annotations

import os
import warnings

from gnnpart.cli.exit_status import error_line
from gnnpart.cli.launcher import (JOB_SIZE, check_world, job_size, launch_job, launcher_rank, refuse_srun_without_mpi,
                                  start_hint, watch_launcher)
from gnnpart.errors import AgreedFailure, SameOnEveryRank
from gnnpart.partition.store import check_files_present, read_meta
from gnnpart.processes import abort_job, attempt, failures_of_step, release_shared_segments


def start_rank(part_dir: str, comm=None, threads: int = 0):
    """This rank's communicator (made if None), the partition's ``meta.json``, and its torch threads (``threads``,
    else :func:`~gnnpart.rank.cores.default_threads`); refuses a job whose rank count is not the number of parts.

    Returns:
        ``(comm, meta, threads)``.
    """
    import torch

    from gnnpart.comm.communicator import Communicator
    from gnnpart.rank.cores import default_threads

    comm = comm or Communicator()
    meta = read_meta(part_dir)
    if comm.size != meta["num_parts"]:
        raise ValueError(f"the number of ranks ({comm.size}) must equal the number of parts of {part_dir} "
                         f"({meta['num_parts']}): {start_hint(meta['num_parts'])}")
    threads = threads or default_threads(comm)
    torch.set_num_threads(threads)
    return comm, meta, threads


def strip_nprocs(argv: list[str]) -> list[str]:
    """``argv`` without ``-n N`` / ``--nprocs N`` (the command a launched rank runs)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("-n", "--nprocs"):
            skip = True
            continue
        if a.startswith("--nprocs=") or (a.startswith("-n") and a[2:].isdigit()):
            continue
        out.append(a)
    return out


def launch(part_dir: str, nprocs: int, argv: list[str], check=None) -> int:
    """Re-run this command under ``mpiexec -n nprocs`` (without ``-n``) and return its exit status.

    Args:
        part_dir (str): the partition directory (``nprocs`` must equal its parts).
        nprocs (int): ranks to start.
        argv (list[str]): the command's arguments.
        check (callable, optional): ``check(meta)`` before starting (e.g. a memory estimate).
    """
    meta = read_meta(part_dir)
    if nprocs != meta["num_parts"]:
        raise ValueError(f"-n must equal the number of parts of {part_dir} ({meta['num_parts']}) (got {nprocs})")
    check_files_present(part_dir, meta)
    if check is not None:
        check(meta)
    return launch_job(nprocs, ["-m", "gnnpart", *strip_nprocs(argv)])


def run_rank(command: str, body, flags: dict[str, str] | None = None) -> int:
    """Run one rank of a job: ``body(comm)``. A failure the ranks agreed on (:class:`~gnnpart.errors.AgreedFailure`)
    is reported once, by rank 0, and every rank returns 1 after ``MPI_Finalize``; any other error on any rank
    aborts the whole job at once, after this rank's one-line error.

    Args:
        command (str): e.g. ``"gnnpart train"``.
        body (callable): ``body(comm)``.
        flags (dict[str, str], optional): the command's flags by argument name, for the error line.

    Returns:
        0, or 1 after an agreed failure (MPI is finalized by then).
    """
    from gnnpart.comm.communicator import Communicator

    watch_launcher()
    with warnings.catch_warnings():
        if os.environ.get(JOB_SIZE):  # started by gnnpart's launcher: check_world says what mpi4py warns of
            warnings.filterwarnings("ignore", "suspicious MPI execution environment", RuntimeWarning)
        comm = Communicator()
    release_shared_segments(comm.comm)  # once all have attached: no abort or kill leaves MPICH's file behind
    wrong_world = check_world(comm.size)
    if wrong_world is not None:  # every process is a world of its own: the launcher's rank 0 says it
        if launcher_rank() in (0, None):
            os.write(2, f"{command}: error: {wrong_world}\n".encode())
        return end_agreed(comm)
    try:
        body(comm)
    except AgreedFailure as exc:
        if comm.rank == 0:
            if isinstance(exc, SameOnEveryRank):
                line, _ = error_line(command, exc.error, flags=flags)
            else:
                line, _ = error_line(f"{command}: rank {comm.rank}", exc, with_type=True, flags=flags)
            os.write(2, (line + "\n").encode())
        return end_agreed(comm)
    except BaseException as exc:  # noqa: BLE001 - every failure must end the job, not hang it
        line, _ = error_line(f"{command}: rank {comm.rank}", exc, with_type=True, flags=flags)
        abort_job(line, comm.abort)
    return 0


def end_agreed(comm) -> int:
    """End this rank after a failure every rank knows of: flush, ``MPI_Finalize`` (collective: every rank of the
    job calls it), and return the exit status 1 (mpi4py does not abort a finalized job on ``SystemExit``)."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    comm.MPI.Finalize()
    return 1


def agree(comm, fn, *args):
    """``fn(*args)`` on every rank of ``comm`` (a :class:`~gnnpart.comm.Communicator`; None: alone), a step without
    collectives; if it failed on any rank, every rank raises :class:`~gnnpart.errors.AgreedFailure`, so that the
    job reports it once and ends cleanly (:func:`run_rank`): the error itself when every rank failed alike
    (:class:`~gnnpart.errors.SameOnEveryRank`), else which ranks failed and each one's error.

    Returns:
        ``fn(*args)``.
    """
    if comm is None or comm.size == 1:
        return fn(*args)
    result, error = attempt(fn, *args)
    failures = failures_of_step(comm.comm, error)
    if not failures:
        return result
    if error is not None and len(failures) == comm.size and len({text for _, text in failures}) == 1:
        raise SameOnEveryRank(error)
    raise AgreedFailure(f"failed on {len(failures)} of {comm.size} ranks: "
                        + "; ".join(f"rank {r}: {text}" for r, text in failures))


def dispatch(nprocs: int | None, part_dir: str, argv: list[str], command: str, body, check=None,
             flags: dict[str, str] | None = None) -> int:
    """Launch under mpiexec (``-n`` outside a job), run alone (one rank), or run as one rank of the job.

    Args:
        nprocs (int | None): ``-n``.
        part_dir (str): the partition directory.
        argv (list[str]): the command's arguments.
        command (str): e.g. ``"gnnpart train"``.
        body (callable): ``body(comm)``, with ``comm`` None when running alone.
        check (callable, optional): as :func:`launch`.
        flags (dict[str, str], optional): as :func:`run_rank`.
    """
    size = job_size()
    refused = refuse_srun_without_mpi(size, "train")  # each srun task would train alone: task 0 says why
    if refused is not None:
        return refused
    if nprocs is not None and size is None:
        return launch(part_dir, nprocs, argv, check)
    if nprocs is not None and size != nprocs:
        raise ValueError(f"-n {nprocs} does not match the MPI job this runs in ({size} ranks)")
    if size is None or size == 1:
        body(None)
        return 0
    return run_rank(command, body, flags)
