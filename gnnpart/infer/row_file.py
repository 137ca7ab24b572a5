"""One ``.npy`` of rows in global node order, written by every rank at once and appearing whole or not at all.

Each rank writes its inner rows, memory-mapped, at their
global ids into one file that rank 0 preallocated under a hidden temporary name next to the output; rows are
never gathered into one process. When every rank has written, rank 0 syncs the file and renames it into place,
so the output appears complete or not at all: a failure on any rank removes the temporary file and raises on
every rank. (A rank killed outright can leave the hidden ``.NAME.tmp-*`` file behind, never the output.) The
output's folder must be on a filesystem every rank sees.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

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


def _temporary_name(path: Path, comm) -> Path:
    import torch

    token = torch.tensor([os.getpid() if comm.rank == 0 else 0], dtype=torch.int64)
    comm.broadcast_(token)  # every rank names the same file (rank 0's pid)
    return path.with_name(f".{path.name}.tmp-{int(token[0])}")


def write_rows(comm, out, global_ids: np.ndarray, rows: torch.Tensor, num_nodes: int) -> Path:
    """Every rank writes its ``rows`` at ``global_ids`` of one ``[num_nodes, C]`` float32 ``.npy``, atomically.

    Every rank calls it. See the module docstring for how the file appears.

    Args:
        comm (Communicator): the job's communicator.
        out (str | Path): the ``.npy`` to write (replaced if it exists).
        global_ids (np.ndarray): int64 ``[I]`` the global id of each of this rank's rows.
        rows (torch.Tensor): ``[I, C]`` this rank's rows (the same ``C`` on every rank).
        num_nodes (int): rows of the file (every node owned by exactly one rank).

    Returns:
        Path: ``out``.

    Raises:
        RuntimeError: on every rank, when any rank failed (the failing rank raises its own error).
    """
    path = Path(out)
    width = int(rows.shape[1])
    total, squares, ranks = comm.sum_scalars([width, width * width, 1])
    if total * total != squares * ranks:  # the same decision on every rank: all widths equal, or refused
        raise ValueError(f"every rank must write rows of the same width (this rank: {width}, mean "
                         f"{total / ranks:g})")
    tmp = _temporary_name(path, comm)
    error = None
    if comm.rank == 0:
        try:
            np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(num_nodes, width)).flush()
        except Exception as exc:  # noqa: BLE001 - every rank must learn of it, or the others wait forever
            error = exc
    if comm.sum_scalars([error is not None])[0]:
        _fail(comm, tmp, error, f"rank 0 could not create {tmp}")
    try:
        target = np.load(tmp, mmap_mode="r+")
        target[np.asarray(global_ids, dtype=np.int64)] = rows.detach().cpu().numpy()
        target.flush()
        del target
    except Exception as exc:  # noqa: BLE001 - as above
        error = exc
    failed = comm.sum_scalars([error is not None])[0]
    if failed:
        _fail(comm, tmp, error, f"{int(failed)} rank(s) could not write their rows into {tmp}")
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
    if comm.sum_scalars([error is not None])[0]:
        _fail(comm, tmp, error, f"rank 0 could not move {tmp} to {path}")
    return path


def _fail(comm, tmp: Path, error, message: str):
    if comm.rank == 0:
        tmp.unlink(missing_ok=True)
    comm.barrier()  # the temporary file is gone before any rank reports
    if error is not None:
        raise OSError(f"{message}: {type(error).__name__}: {error}") from None
    raise RuntimeError(f"{message} (see that rank's error); no output was written")
