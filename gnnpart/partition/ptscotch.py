"""k-way PT-Scotch (distributed over MPI ranks) through ctypes: each rank gives its contiguous slice of the
vertices, with their adjacency (both directions of every edge, global ids, no self loops) and one weight each, and
gets the part of each of its vertices.

Debian's ``libptscotch-dev`` ships the library in three integer widths; this uses the 64-bit one
(``scotch-int64/``), whose ``SCOTCH_Num`` is ``int64``, and checks it (``SCOTCH_numSizeof``). Pitfalls handled here:

- the libraries in ``scotch-int64/`` carry no RUNPATH: loaded alone, ``libptscotch`` would pull the default-width
  error library. The error library of the same folder is loaded first, with ``RTLD_GLOBAL``;
- the library links Open MPI's ``libmpi.so.40``: in a process whose mpi4py runs on MPICH, loading it maps both MPIs
  and aborts. So it is loaded only after mpi4py is known to run on Open MPI (:func:`require_ptscotch`);
- Scotch's partitions vary from run to run on identical input (its ranks race), seed or not: the seed fixes
  Scotch's random draws only;
- Scotch 7 starts a thread per core this process may use and pins them, the first to the first core: ranks of one
  host that may all use every core pin their threads to the same cores and crawl (1M nodes on 2 ranks: over 14
  minutes, against 30 s with one core each). So the calling process is restricted to the cores given (the host's
  cores dealt out to its ranks) while Scotch runs, and its affinity is put back afterwards.

The native API is used (``SCOTCH_dgraphBuild``, ``SCOTCH_dgraphPart``), not the ParMETIS compatible layer, which
ignores the imbalance asked for and reports success when Scotch fails.
"""
from __future__ import annotations

import ctypes
import os
import sysconfig
from pathlib import Path

import numpy as np

from gnnpart.errors import ConfigError, PartitionerError

INSTALL_HINT = ("install PT-Scotch and Open MPI, which it links: `apt-get install libptscotch-dev openmpi-bin "
                "libopenmpi-dev` (or `GNNPART_WITH_PTSCOTCH=1 bash install.sh`)")
LIBRARY_ENV = "GNNPART_PTSCOTCH_LIB"  # the 64-bit libptscotch.so, where it is not Debian's
MPI_SONAME = "libmpi.so.40"  # the Open MPI library Debian's PT-Scotch links
STRATEGIES = {"default": 0x0, "quality": 0x1, "speed": 0x2, "balance": 0x4, "scalability": 0x10}
"""Scotch's strategy flags (``SCOTCH_STRAT*``) by name; ``$GNNPART_PTSCOTCH_STRATEGY`` picks one."""
DEFAULT_STRATEGY = "quality"
_lib = None


def library_path() -> Path | None:
    """The 64-bit ``libptscotch.so``: ``$GNNPART_PTSCOTCH_LIB``, else Debian's ``scotch-int64`` folder (None when
    neither exists)."""
    given = os.environ.get(LIBRARY_ENV)
    if given:
        return Path(given) if Path(given).is_file() else None
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    for root in (Path("/usr/lib") / multiarch, Path("/usr/lib64"), Path("/usr/lib")):
        path = root / "scotch-int64" / "libptscotch.so"
        if path.is_file():
            return path
    return None


def available() -> bool:
    """Whether the 64-bit PT-Scotch library is installed (nothing is loaded)."""
    return library_path() is not None


def require_installed() -> Path:
    """The library's path, or ``ConfigError`` in one line saying what to install."""
    path = library_path()
    if path is None:
        where = f"{LIBRARY_ENV}={os.environ[LIBRARY_ENV]} is not a file" if os.environ.get(LIBRARY_ENV) else \
            "no scotch-int64/libptscotch.so"
        raise ConfigError(f"`method` ptscotch needs PT-Scotch (64-bit), which is not installed ({where}): "
                          f"{INSTALL_HINT}")
    return path


def require_ptscotch(library_version: str):
    """Load the library, after checking that this process's MPI is Open MPI (``library_version``: mpi4py's
    ``MPI.Get_library_version()``); ``ConfigError`` in one line otherwise."""
    global _lib
    if _lib is not None:
        return _lib
    path = require_installed()
    if "Open MPI" not in library_version:
        raise ConfigError("`method` ptscotch needs mpi4py on Open MPI, the MPI PT-Scotch links (" + MPI_SONAME + "), "
                          f"but it runs on {library_version.splitlines()[0][:60] if library_version else 'another MPI'}"
                          ": use `gnnpart partition ... --method ptscotch -n P`, which starts Open MPI's mpirun, or "
                          f"start it with mpirun.openmpi and MPI4PY_LIBMPI={MPI_SONAME}")
    try:
        errors = path.with_name("libptscotcherr.so")
        if errors.is_file():  # no RUNPATH: the error library of the same width first
            ctypes.CDLL(str(errors), mode=ctypes.RTLD_GLOBAL)
        lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise ConfigError(f"`method` ptscotch could not load {path}: {exc}; {INSTALL_HINT}") from None
    lib.SCOTCH_numSizeof.restype = ctypes.c_int
    if lib.SCOTCH_numSizeof() != 8:
        raise ConfigError(f"`method` ptscotch needs PT-Scotch built with 64-bit SCOTCH_Num; {path} has "
                          f"{lib.SCOTCH_numSizeof() * 8}-bit (set {LIBRARY_ENV} to the scotch-int64 library)")
    ptr, num, p = ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p
    lib.SCOTCH_dgraphAlloc.restype = ptr
    lib.SCOTCH_dgraphInit.argtypes = [ptr, ptr]
    lib.SCOTCH_dgraphExit.argtypes = [ptr]
    lib.SCOTCH_dgraphExit.restype = None
    lib.SCOTCH_dgraphBuild.argtypes = [ptr, num, num, num, p, p, p, p, num, num, p, p, p]
    lib.SCOTCH_dgraphCheck.argtypes = [ptr]
    lib.SCOTCH_dgraphPart.argtypes = [ptr, num, ptr, p]
    lib.SCOTCH_stratAlloc.restype = ptr
    lib.SCOTCH_stratInit.argtypes = [ptr]
    lib.SCOTCH_stratExit.argtypes = [ptr]
    lib.SCOTCH_stratExit.restype = None
    lib.SCOTCH_stratDgraphMapBuild.argtypes = [ptr, num, num, num, ctypes.c_double]
    lib.SCOTCH_randomSeed.argtypes = [num]
    lib.SCOTCH_randomSeed.restype = None
    lib.SCOTCH_randomReset.restype = None
    lib.SCOTCH_memFree.argtypes = [ptr]
    lib.SCOTCH_memFree.restype = None
    _lib = lib
    return lib


def _address(array: np.ndarray | None):
    return None if array is None else array.ctypes.data_as(ctypes.c_void_p)


def strategy_flags(name: str | None = None) -> int:
    """The flags of the strategy ``name`` (default ``$GNNPART_PTSCOTCH_STRATEGY``, else :data:`DEFAULT_STRATEGY`)."""
    name = name or os.environ.get("GNNPART_PTSCOTCH_STRATEGY") or DEFAULT_STRATEGY
    if name not in STRATEGIES:
        raise ValueError(f"GNNPART_PTSCOTCH_STRATEGY must be one of {', '.join(STRATEGIES)} (got '{name}')")
    return STRATEGIES[name]


def part_slice(comm, xadj: np.ndarray, adjncy: np.ndarray, vwgt: np.ndarray, nparts: int, seed: int = 0,
               epsilon: float = 0.03, check: bool = True, cores=None) -> np.ndarray:
    """PT-Scotch's k-way partition, collective over ``comm`` (mpi4py, on Open MPI): every rank gives its slice.

    Args:
        comm: the communicator; rank ``r``'s vertices follow rank ``r - 1``'s in the global numbering.
        xadj (np.ndarray): int64 ``[n_r + 1]`` offsets of this rank's vertices into ``adjncy`` (from 0).
        adjncy (np.ndarray): int64 global ids of their neighbours (symmetric over all ranks, no self loops).
        vwgt (np.ndarray): int64 ``[n_r]`` vertex weights (>= 1).
        nparts (int): number of parts.
        seed (int): Scotch's random seed.
        epsilon (float): allowed imbalance of the weight (0.03: a part at most 1.03x the mean).
        check (bool): let Scotch check the distributed graph first (collective; one line for a bad one).
        cores (list of int, optional): the cores this rank may use while Scotch runs (Scotch starts a thread on each).

    Returns:
        np.ndarray: int64 ``[n_r]`` part of each of this rank's vertices.

    Raises:
        ConfigError: when PT-Scotch or Open MPI is missing (one line).
        PartitionerError: when Scotch refuses the graph or fails (one line, the same on every rank).
    """
    from mpi4py import MPI

    lib = require_ptscotch(MPI.Get_library_version())
    flags = strategy_flags()
    xadj = np.ascontiguousarray(xadj, dtype=np.int64)
    adjncy = np.ascontiguousarray(adjncy, dtype=np.int64)
    vwgt = np.ascontiguousarray(vwgt, dtype=np.int64)
    n = len(xadj) - 1
    bad = None
    if n < 0 or len(vwgt) != n or (n >= 0 and len(xadj) and xadj[-1] != len(adjncy)):
        bad = (f"`xadj` must hold n + 1 offsets ending at len(adjncy) ({len(adjncy)}) and `vwgt` n weights (got "
               f"{len(xadj)} offsets, {len(vwgt)} weights)")
    elif n and int(vwgt.min()) < 1:
        bad = f"`vwgt` must be >= 1 (got {int(vwgt.min())})"
    said = comm.allgather(bad)  # every rank checks its slice before any rank enters Scotch's collectives
    if any(said):
        rank = next(r for r, text in enumerate(said) if text)
        raise ValueError(f"rank {rank}'s slice: {said[rank]}")
    part = np.zeros(n, dtype=np.int64)
    comm_handle = ctypes.c_void_p(MPI._handleof(comm))
    graph, strat = lib.SCOTCH_dgraphAlloc(), lib.SCOTCH_stratAlloc()
    made = []  # what was initialised, to be freed in reverse
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cores and affinity is not None:
        os.sched_setaffinity(0, list(cores))
    try:
        lib.SCOTCH_randomSeed(int(seed))
        lib.SCOTCH_randomReset()
        steps = [
            ("allocating its graph and strategy", lambda: 0 if (graph and strat) else 1),
            ("building the distributed graph", lambda: lib.SCOTCH_dgraphInit(graph, comm_handle) or
             made.append("graph") or lib.SCOTCH_dgraphBuild(
                graph, 0, n, n, _address(xadj), None, _address(vwgt), None, len(adjncy), len(adjncy),
                _address(adjncy), None, None)),
            ("checking the distributed graph", (lambda: lib.SCOTCH_dgraphCheck(graph)) if check else (lambda: 0)),
            ("building the strategy", lambda: lib.SCOTCH_stratInit(strat) or made.append("strat") or
             lib.SCOTCH_stratDgraphMapBuild(strat, flags, comm.Get_size(), int(nparts), float(epsilon))),
            ("partitioning", lambda: lib.SCOTCH_dgraphPart(graph, int(nparts), strat, _address(part))),
        ]
        for step, call in steps:
            try:
                said = str(call() or 0)
            except Exception as exc:  # noqa: BLE001 - told to every rank, which would otherwise wait for this one
                said = f"{type(exc).__name__}: {exc}"
            failed = comm.allgather(said)  # a rank whose step failed: every rank stops at the same step
            ranks = [r for r, text in enumerate(failed) if text != "0"]
            if ranks:
                raise PartitionerError(f"PT-Scotch failed {step} (error {failed[ranks[0]]} on rank"
                                       f"{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}; Scotch's "
                                       "message, if any, is above)")
    finally:
        if "strat" in made:
            lib.SCOTCH_stratExit(strat)
        if "graph" in made:
            lib.SCOTCH_dgraphExit(graph)
        for handle in (strat, graph):
            if handle:
                lib.SCOTCH_memFree(handle)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)  # Scotch pinned this thread to its first core
    return part
