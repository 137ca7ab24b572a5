"""One ``.npy`` of rows in global node order, written by every rank at once and appearing whole or not at all.

Each rank writes its inner rows, memory-mapped, at their
global ids into one file that rank 0 preallocated under a hidden temporary name next to the output; rows are
never gathered into one process. When every rank has written, rank 0 syncs the file and renames it into place,
so the output appears complete or not at all: a failure on any rank removes the temporary file and raises on
every rank. A rank killed outright (SIGKILL) can leave the hidden ``.NAME.tmp-PID`` file behind, never the output,
and the next run to the same output removes it. The
output's folder must be on a filesystem every rank sees.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gnnpart.errors import AgreedFailure
from gnnpart.limits import format_bytes
from gnnpart.processes import failures_of_step, pid_alive

if TYPE_CHECKING:  # torch is imported by the calls that need it: a launcher checks `out` without it
    import torch


def check_output(out, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output that could not be written.

    Args:
        out (str | Path): the ``.npy`` to write.
        overwrite (bool): replace an existing file.

    Raises:
        ValueError: naming ``out``, the rule and the path.
    """
    path = Path(out)
    if path.suffix != ".npy":
        raise ValueError(f"`out` must name a .npy file (got {path})")
    if path.is_dir():
        raise ValueError(f"`out` {path} is a directory (expected a .npy file path)")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise ValueError(f"`out` {path}: its directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"`out` {path}: its directory {parent} is not writable")
    if path.exists() and not overwrite:
        raise ValueError(f"`out` {path} already exists (pass `overwrite` to replace it)")
    return path


class RowsNotWritten(AgreedFailure, OSError):
    """A step of :func:`write_rows` failed on some rank; raised on every rank alike, naming the ranks and their
    errors (the temporary file is gone by then, and no output was written)."""


def _temporary_name(path: Path, comm) -> Path:
    import torch

    token = torch.tensor([os.getpid() if comm.rank == 0 else 0], dtype=torch.int64)
    comm.broadcast_(token)  # every rank names the same file (rank 0's pid)
    return path.with_name(f".{path.name}.tmp-{int(token[0])}")


def remove_stale(path: Path) -> list[Path]:
    """Remove the hidden temporaries ``.NAME.tmp-PID`` beside ``path`` that a run killed outright left (their
    process is gone); returns what was removed."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.tmp-(\d+)$")
    removed = []
    parent = path.absolute().parent
    for entry in parent.iterdir() if parent.is_dir() else ():
        match = pattern.match(entry.name)
        if match and entry.is_file() and (not pid_alive(int(match.group(1))) or int(match.group(1)) == os.getpid()):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _create(tmp: Path, path: Path, num_nodes: int, width: int) -> None:
    """Rank 0 makes the temporary ``.npy`` and reserves all of its space, so that a full disk is one error now, not
    a rank killed by SIGBUS when it writes past the end of a sparse file later."""
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(num_nodes, width)).flush()
    size = tmp.stat().st_size
    try:
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            free = shutil.disk_usage(tmp.parent).free
            raise OSError(errno.ENOSPC, f"no space left on device for {path}: it needs {format_bytes(size)}, "
                                        f"{format_bytes(free)} are free") from None
        raise


def _agree(comm, tmp: Path, error: BaseException | None, step: str) -> None:
    """Every rank says whether ``step`` failed on it; if any did, rank 0 removes the temporary file and every rank
    raises :class:`RowsNotWritten`, naming each failing rank and its error."""
    failures = failures_of_step(comm.comm, error)
    if not failures:
        return
    if comm.rank == 0:
        tmp.unlink(missing_ok=True)
    comm.barrier()  # the temporary file is gone before any rank reports
    detail = "; ".join(f"rank {r}: {text}" for r, text in failures)
    raise RowsNotWritten(f"{step} ({detail}); no output was written")


def write_rows(comm, out, global_ids: np.ndarray, rows: torch.Tensor, num_nodes: int) -> Path:
    """Every rank writes its ``rows`` at ``global_ids`` of one ``[num_nodes, C]`` float32 ``.npy``, atomically.

    Every rank calls it. See the module docstring for how the file appears. Rank 0 removes the temporaries of dead
    runs to the same ``out`` first, and reserves the whole file's space before any rank writes; a signal that stops
    rank 0 (SIGTERM, made an exception by :func:`gnnpart.atomic.terminate_on_signals`) removes the temporary file.

    Args:
        comm (Communicator): the job's communicator.
        out (str | Path): the ``.npy`` to write (replaced if it exists).
        global_ids (np.ndarray): int64 ``[I]`` the global id of each of this rank's rows.
        rows (torch.Tensor): ``[I, C]`` this rank's rows (the same ``C`` on every rank).
        num_nodes (int): rows of the file (every node owned by exactly one rank).

    Returns:
        Path: ``out``.

    Raises:
        RowsNotWritten: on every rank, when a step failed on any rank (a full disk, an id outside the file, the
            rename), naming the ranks and their errors.
    """
    path = Path(out)
    width = int(rows.shape[1])
    total, squares, ranks = comm.sum_scalars([width, width * width, 1])
    if total * total != squares * ranks:  # the same decision on every rank: all widths equal, or refused
        raise ValueError(f"every rank must write rows of the same width (this rank: {width}, mean "
                         f"{total / ranks:g})")
    tmp = _temporary_name(path, comm)
    try:
        error = None
        if comm.rank == 0:
            try:
                remove_stale(path)
                _create(tmp, path, num_nodes, width)
            except Exception as exc:  # noqa: BLE001 - every rank must learn of it, or the others wait forever
                error = exc
        _agree(comm, tmp, error, f"rank 0 could not create {tmp}")
        try:
            target = np.load(tmp, mmap_mode="r+")
            target[np.asarray(global_ids, dtype=np.int64)] = rows.detach().cpu().numpy()
            target.flush()
            del target
        except Exception as exc:  # noqa: BLE001 - as above
            error = exc
        _agree(comm, tmp, error, f"some rank(s) could not write their rows into {tmp}")
        if comm.rank == 0:
            try:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
                folder = os.open(path.absolute().parent, os.O_RDONLY)
                try:
                    os.fsync(folder)  # the rename itself survives a crash
                finally:
                    os.close(folder)
            except Exception as exc:  # noqa: BLE001 - as above
                error = exc
        _agree(comm, tmp, error, f"rank 0 could not move {tmp} to {path}")
    except BaseException:
        if comm.rank == 0:  # a signal, or an error outside the agreed steps: leave nothing behind
            tmp.unlink(missing_ok=True)
        raise
    return path
