"""Writing a directory atomically: it appears whole, or not at all, and replacing one is a single swap.

The new directory is written under a hidden temporary name beside the target (``.NAME.tmp-PID-XXXX``), then:

* a new target is one ``rename``;
* an existing target is exchanged with it in one step (``renameat2(RENAME_EXCHANGE)``, Linux 3.15+); the old
  contents, now under the temporary name, are deleted after. There is no moment without a complete directory.
  Where the file system cannot exchange, the old directory is first renamed aside (``.NAME.old-PID-XXXX``); a
  crash between the two renames is repaired by the next run (:func:`recover`), which puts the old one back.

Only a directory gnnpart wrote in the expected format (a partition directory, or a graph directory where the
caller says so), or an empty one, is replaced. Temporaries of runs that died (their PID is
gone) are removed by the next run to the same target; SIGTERM and SIGHUP end a run cleanly (see
:func:`terminate_on_signals`).
"""
from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import re
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

from gnnpart.processes import pid_alive

log = logging.getLogger("gnnpart.atomic")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind (removing temporaries) and exit with ``128 + signal``."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


@contextmanager
def terminate_on_signals():
    """Turn SIGTERM and SIGHUP into :class:`Terminated` in the block, so that cleanup code runs."""
    def handler(signum, _frame):
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def leftovers(out: Path, kind: str):
    """``(path, pid)`` of the ``.NAME.kind-PID-*`` folders beside ``out``."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.{kind}-(\d+)-")
    parent = out.absolute().parent
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir():
            yield entry, int(match.group(1))


def recover(out) -> None:
    """Repair what a run that died left beside ``out``: put back a directory renamed aside by an interrupted
    fallback swap, and delete the temporaries of dead runs."""
    out = Path(out)
    for old, pid in leftovers(out, "old"):
        if pid_alive(pid) and pid != os.getpid():
            continue
        previous = old / "previous"
        if not out.exists() and previous.is_dir():
            os.rename(previous, out)
        shutil.rmtree(old, ignore_errors=True)
    for tmp, pid in leftovers(out, "tmp"):
        if not pid_alive(pid) or pid == os.getpid():
            shutil.rmtree(tmp, ignore_errors=True)
            if pid != os.getpid():
                log.warning("removed %s, the temporary of a run to %s that ended without cleaning up (process %d "
                            "is gone)", tmp, out, pid)


PARTITION = ("gnnpart-partition", "partition directory")
"""``(format, what it is)``: the ``format`` of ``meta.json`` that marks a directory as replaceable, for messages."""


def is_replaceable(out: Path, kind: tuple[str, str] = PARTITION) -> bool:
    """Whether ``out`` may be replaced: an empty directory, or one whose ``meta.json`` has the format of ``kind``."""
    if not any(out.iterdir()):
        return True
    try:
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("format") == kind[0]


def check_output_dir(out_dir, overwrite: bool, kind: tuple[str, str] = PARTITION) -> Path:
    """Refuse an existing output unless ``overwrite`` (and then one that is not a ``kind`` directory or empty),
    and an output whose parent is not writable."""
    out = Path(out_dir)
    recover(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"output directory {out} already exists (pass --overwrite / overwrite=True to replace it)")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {out} exists and is not a directory")
    if out.exists() and not is_replaceable(out, kind):
        raise FileExistsError(f"refusing to replace {out}: it is neither a gnnpart {kind[1]} (no meta.json "
                              "of one) nor empty; remove it yourself or choose another --out")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot create output directory {out}: parent {parent} is not an existing directory")
    try:  # a real probe: os.access says yes to root even on read-only file systems
        probe = tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise PermissionError(f"cannot create output directory {out}: {parent} is not writable ({exc.strerror})") from None
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step; False where the system or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"cannot replace {b}: {os.strerror(err)}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_directory(out_dir, overwrite: bool = False, kind: tuple[str, str] = PARTITION):
    """Yield a temporary folder that becomes ``out_dir`` only if the block completes (see the module docstring).

    On any exception (KeyboardInterrupt and :class:`Terminated` included) the temporary folder is removed and
    ``out_dir`` is untouched. The directory gets the permissions of the umask, like one made with ``mkdir``.
    """
    out = check_output_dir(out_dir, overwrite, kind)
    parent = out.absolute().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if not out.exists():
            os.rename(tmp, out)
        elif _exchange(tmp, out):
            shutil.rmtree(tmp, ignore_errors=True)  # now the old directory
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=parent))
            os.rename(out, old / "previous")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
