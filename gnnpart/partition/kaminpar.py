"""k-way KaMinPar (shared memory, multi-threaded) through its Python binding, ``kaminpar`` on PyPI.

The binding builds its graph only from a file, so the symmetric adjacency and the node weights are written once
in ParHIP's binary layout (all fields 64-bit, as the PyPI wheel is built) to a temporary file, which KaMinPar
reads and which is removed as soon as it has been read:

- a header of three ``uint64``: the version (bit flags, a set bit meaning *absent* or *32-bit*: bit 0 edge
  weights, bit 1 node weights, bits 2-5 32-bit edge ids, node ids, node weights, edge weights), ``n`` and ``m``
  (adjacency entries: both directions of every edge);
- ``n + 1`` offsets, each the *byte* position of the node's first neighbour in the file;
- ``m`` neighbours, then ``n`` node weights.

KaMinPar takes one weight per node; :func:`gnnpart.partition.assign.single_weight` makes it from ``balance``.
Its cut depends on the seed and, with more than one thread, on the threads' timing: a partition is the same
for a seed on one thread only.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from gnnpart.capabilities import kaminpar_available
from gnnpart.errors import ConfigError, PartitionerError
from gnnpart.limits import format_bytes

INSTALL_HINT = "install KaMinPar's Python binding: `pip install kaminpar` (or `GNNPART_WITH_KAMINPAR=1 bash install.sh`)"
_VERSION_NODE_WEIGHTS_64BIT = 0b000001  # edge weights absent; node weights present; every field 64-bit
_HEADER_BYTES = 24


def require_kaminpar():
    """Import the binding, or refuse (``ConfigError``) in one line that says what to install: when it is missing,
    when it cannot be imported, or when it was built with 32-bit ids (the file written here is 64-bit, and
    KaMinPar ends the process on a file of another width instead of raising)."""
    if not kaminpar_available():
        raise ConfigError(f"`method` kaminpar needs KaMinPar, which is not installed: {INSTALL_HINT}")
    try:
        import kaminpar
    except ImportError as exc:
        raise ConfigError(f"`method` kaminpar needs KaMinPar, whose binding could not be imported ({exc}): "
                          f"{INSTALL_HINT}") from None
    if not getattr(kaminpar, "__64bit__", True):
        raise ConfigError("`method` kaminpar needs KaMinPar's binding built with 64-bit ids and weights (the "
                          "default of `pip install kaminpar`); this one is 32-bit")
    return kaminpar


def parhip_bytes(num_nodes: int, entries: int) -> int:
    """Size of the ParHIP file of ``num_nodes`` nodes and ``entries`` adjacency entries, with node weights."""
    return _HEADER_BYTES + 8 * (2 * num_nodes + 1 + entries)


def write_parhip(path, xadj: np.ndarray, adjncy: np.ndarray, vwgt: np.ndarray) -> None:
    """Write an undirected graph (CSR, both directions of every edge, no self loops) with node weights as a
    ParHIP binary file (the layout above)."""
    n, m = len(xadj) - 1, len(adjncy)
    base = _HEADER_BYTES + (n + 1) * 8
    with open(path, "wb") as fh:
        np.array([_VERSION_NODE_WEIGHTS_64BIT, n, m], dtype=np.uint64).tofile(fh)
        step = 1 << 22
        for start in range(0, n + 1, step):  # byte offsets, written in blocks (no second [N] array in memory)
            (base + 8 * np.asarray(xadj[start:start + step], dtype=np.uint64)).tofile(fh)
        for start in range(0, m, step):
            np.asarray(adjncy[start:start + step], dtype=np.uint64).tofile(fh)
        np.asarray(vwgt, dtype=np.int64).tofile(fh)


def part_graph(xadj: np.ndarray, adjncy: np.ndarray, vwgt: np.ndarray, nparts: int, seed: int = 0,
               threads: int = 1, epsilon: float = 0.03, workdir=None) -> np.ndarray:
    """KaMinPar's k-way partition of an undirected graph with one weight per node.

    Args:
        xadj (np.ndarray), adjncy (np.ndarray): the symmetric adjacency in CSR, without self loops.
        vwgt (np.ndarray): int ``[N]`` node weights (at least 1 each).
        nparts (int): number of parts.
        seed (int): KaMinPar's seed.
        threads (int): KaMinPar's threads (default 1).
        epsilon (float): allowed imbalance of the weight (0.03: every part at most 1.03x the mean).
        workdir (str or Path, optional): folder of the temporary graph file (default: the system's, ``TMPDIR``;
            it needs :func:`parhip_bytes`).

    Returns:
        np.ndarray: int64 ``[N]`` part of every node.

    Raises:
        ValueError: for a bad argument (named, with its value).
        ConfigError: when KaMinPar is not installed (one line: what to install).
        PartitionerError: when the temporary file cannot be written, or KaMinPar fails (one line).
    """
    kaminpar = require_kaminpar()
    _check_input(xadj, adjncy, vwgt, nparts, threads, epsilon)
    n = len(xadj) - 1
    size = format_bytes(parhip_bytes(n, len(adjncy)))
    try:
        fd, name = tempfile.mkstemp(prefix="gnnpart-kaminpar-", suffix=".parhip", dir=workdir)
    except OSError as exc:
        raise PartitionerError(f"could not create KaMinPar's input ({size}) in {workdir or tempfile.gettempdir()}: "
                               f"{exc.strerror or exc}; set TMPDIR to a folder with room") from None
    os.close(fd)
    try:
        try:
            write_parhip(name, xadj, adjncy, vwgt)
        except OSError as exc:
            raise PartitionerError(f"could not write KaMinPar's input {name} ({size}): {exc.strerror or exc}; set "
                                   "TMPDIR to a folder with room") from None
        try:
            graph = kaminpar.load_graph(name, kaminpar.GraphFileFormat.PARHIP)
        except (ValueError, RuntimeError) as exc:
            raise PartitionerError(f"KaMinPar could not read the graph it was given: {exc}") from None
    finally:
        Path(name).unlink(missing_ok=True)
    kaminpar.reseed(int(seed))
    solver = kaminpar.KaMinPar(num_threads=int(threads), ctx=kaminpar.default_context())
    try:
        part = solver.compute_partition(graph, k=int(nparts), eps=float(epsilon))
    except (ValueError, RuntimeError) as exc:
        raise PartitionerError(f"KaMinPar failed to partition {n:,} nodes into {nparts} parts: {exc}") from None
    return np.fromiter(part, dtype=np.int64, count=n)


def _check_input(xadj, adjncy, vwgt, nparts, threads, epsilon) -> None:
    """KaMinPar trusts its file's offsets and ids (a bad one reads past the mapped file): check them first."""
    n = len(xadj) - 1
    if n < 0 or xadj[0] != 0 or xadj[-1] != len(adjncy):
        raise ValueError(f"`xadj` must start at 0 and end at len(adjncy) ({len(adjncy)}) "
                         f"(got {xadj[0] if len(xadj) else None} ... {xadj[-1] if len(xadj) else None})")
    if n and np.any(np.diff(xadj) < 0):
        raise ValueError(f"`xadj` must not decrease (it does after node {int(np.flatnonzero(np.diff(xadj) < 0)[0])})")
    if len(adjncy) and (int(np.min(adjncy)) < 0 or int(np.max(adjncy)) >= n):
        raise ValueError(f"`adjncy` must hold node ids in [0, {n}) (got {int(np.min(adjncy))} ... {int(np.max(adjncy))})")
    if len(vwgt) != n:
        raise ValueError(f"`vwgt` must hold one weight per node ({n}) (got {len(vwgt)})")
    if n and int(np.min(vwgt)) < 1:
        node = int(np.argmin(vwgt))
        raise ValueError(f"`vwgt` must be >= 1 (node {node} has {int(vwgt[node])})")
    for name, value, ok in (("nparts", nparts, isinstance(nparts, (int, np.integer)) and nparts >= 1),
                            ("threads", threads, isinstance(threads, (int, np.integer)) and threads >= 1),
                            ("epsilon", epsilon, isinstance(epsilon, (int, float)) and 0 < epsilon < float("inf"))):
        if isinstance(value, bool) or not ok:
            raise ValueError(f"`{name}` must be {'a positive number' if name == 'epsilon' else 'an integer >= 1'} "
                             f"(got {value!r})")
