"""k-way METIS through ctypes on the system's ``libmetis`` (Debian's ``libmetis5``).

Why not ``pymetis``: it bundles METIS but passes one weight per node. Given
several weights per node it silently misreads them (on a 100x100 grid with
training nodes in the top quarter, 4 parts got 0 / 1495 / 0 / 1005 training
nodes). gnnpart balances nodes, training nodes and edges at once, so it
calls ``METIS_PartGraphKway`` itself with ``ncon`` weights per node.

The binding adapts to METIS's integer width (``idx_t``), which it detects
at load time; it passes no ``real_t`` arrays (the imbalance tolerance goes
through the integer ``UFACTOR`` option), so the float width does not matter.
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np

from gnnpart.capabilities import metis_library_path
from gnnpart.errors import MetisError

METIS_NOPTIONS = 40
OPTION_SEED = 8  # positions in METIS 5.1's moptions enum (metis.h)
OPTION_UFACTOR = 16
OPTION_NUMBERING = 17
_STATUS = {1: "ok", -2: "input error", -3: "out of memory", -4: "error"}


class _Metis:
    def __init__(self, path: str):
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise MetisError(f"cannot load the METIS library {path}: {exc}") from None
        self.idx = self._detect_idx_width()

    def _detect_idx_width(self):
        # METIS_SetDefaultOptions writes METIS_NOPTIONS idx_t values of -1. Over an int64
        # buffer, a 32-bit METIS fills only the first half of it.
        buf = np.full(METIS_NOPTIONS, 7, dtype=np.int64)
        self.lib.METIS_SetDefaultOptions(buf.ctypes.data_as(ctypes.c_void_p))
        return np.int64 if buf[-1] == -1 else np.int32

    def options(self, seed: int, ufactor: int) -> np.ndarray:
        opts = np.empty(METIS_NOPTIONS, dtype=self.idx)
        self.lib.METIS_SetDefaultOptions(opts.ctypes.data_as(ctypes.c_void_p))
        opts[OPTION_SEED] = seed
        opts[OPTION_UFACTOR] = ufactor
        opts[OPTION_NUMBERING] = 0
        return opts


@functools.lru_cache(maxsize=None)
def _library() -> _Metis:
    path = metis_library_path()
    if path is None:
        raise MetisError(
            "METIS library not found: install it (Debian/Ubuntu: `apt-get install libmetis5`) "
            "or set GNNPART_METIS_LIB to the path of libmetis.so; or use `method='random'`"
        )
    return _Metis(path)


def index_dtype():
    """numpy dtype of METIS's ``idx_t`` (int32 or int64)."""
    return _library().idx


def part_graph_kway(xadj, adjncy, vwgt, ncon: int, nparts: int, seed: int = 0, ufactor: int = 30) -> tuple[np.ndarray, int]:
    """Call ``METIS_PartGraphKway`` (edge-cut objective).

    Args:
        xadj (np.ndarray): ``[N + 1]`` offsets of a symmetric adjacency without self loops.
        adjncy (np.ndarray): ``[2M]`` neighbours.
        vwgt (np.ndarray): ``[N, ncon]`` non-negative integer weights per node.
        ncon (int): number of balance constraints.
        nparts (int): number of parts, >= 2.
        seed (int): METIS's random seed (same seed, same result).
        ufactor (int): allowed imbalance of every constraint, in thousandths (30 = 1.03).

    Returns:
        (part, edgecut): int64 ``[N]`` part of each node, and METIS's edge cut.
    """
    metis = _library()
    idx = metis.idx
    n = len(xadj) - 1
    xadj = np.ascontiguousarray(xadj, dtype=idx)
    adjncy = np.ascontiguousarray(adjncy, dtype=idx)
    vwgt = np.ascontiguousarray(vwgt, dtype=idx).reshape(-1)
    part = np.zeros(n, dtype=idx)
    objval = np.zeros(1, dtype=idx)
    scalars = np.array([n, ncon, nparts], dtype=idx)
    opts = metis.options(seed, ufactor)

    def ptr(a, i=0):
        return ctypes.c_void_p(a.ctypes.data + i * a.itemsize)

    status = metis.lib.METIS_PartGraphKway(
        ptr(scalars, 0), ptr(scalars, 1), ptr(xadj), ptr(adjncy), ptr(vwgt), None, None,
        ptr(scalars, 2), None, None, ptr(opts), ptr(objval), ptr(part),
    )
    if status != 1:
        raise MetisError(f"METIS_PartGraphKway failed: {_STATUS.get(status, status)} (nparts={nparts}, ncon={ncon}, nodes={n})")
    return part.astype(np.int64), int(objval[0])
