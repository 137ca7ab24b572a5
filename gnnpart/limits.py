"""Memory limits: estimate what a request needs from its parameters and refuse it, with the estimate, before
allocating anything (instead of a MemoryError or an allocator traceback deep inside numpy or torch); and the CPUs
this process may run on.

The memory available is ``MemAvailable`` of ``/proc/meminfo`` (else the physical memory), or
``GNNPART_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) where set.
"""
from __future__ import annotations

import os

from gnnpart.errors import ResourceError

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def format_bytes(n: float) -> str:
    """``1.5 GiB``-style text for a byte count."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def available_memory() -> int:
    """Bytes of memory this process may use (see the module docstring)."""
    limit = os.environ.get("GNNPART_MEMORY_LIMIT", "").strip().upper().removesuffix("B").removesuffix("I")
    if limit:
        unit = limit[-1] if limit[-1] in _UNITS else ""
        try:
            return int(float(limit[: len(limit) - len(unit)]) * _UNITS[unit])
        except ValueError:
            raise ResourceError(f"GNNPART_MEMORY_LIMIT must be a byte count such as 8G (got {limit!r})") from None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def allowed_cpus() -> frozenset[int]:
    """The CPUs this process may run on (its affinity; every CPU where the platform cannot say)."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return frozenset(range(os.cpu_count() or 1))


def require_memory(nbytes: float, what: str, hint: str = "") -> None:
    """Refuse (``ResourceError``) a request estimated to need ``nbytes`` when that exceeds the memory available.

    Args:
        nbytes (float): the estimate.
        what (str): the request, as the user wrote it (e.g. ``"synthetic:nodes=10**12"``).
        hint (str): what to do instead (optional).
    """
    available = available_memory()
    if nbytes > available:
        raise ResourceError(f"{what} needs about {format_bytes(nbytes)}, more than the {format_bytes(available)} of "
                            f"memory available{'; ' + hint if hint else ''}")


THREADS_PER_CPU = 16
"""At most this many threads per CPU a process may use (:func:`check_threads`): more only thrash, and a pool of
100,000 threads took minutes to start and would not end on SIGTERM."""


def check_threads(threads: int, name: str = "`threads`") -> int:
    """``threads``, if it is at most :data:`THREADS_PER_CPU` times the CPUs this process may use; else
    ``ValueError`` naming ``name`` (the argument or flag), the bound and the value."""
    bound = THREADS_PER_CPU * len(allowed_cpus())
    if threads > bound:
        raise ValueError(f"{name} must be at most {bound} ({THREADS_PER_CPU} per CPU this process may use, "
                         f"{len(allowed_cpus())}) (got {threads})")
    return threads
