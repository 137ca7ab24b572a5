"""Graphs from plain files: a text edge list with optional ``.npy`` arrays, or one ``.npz``.

Edge list (``.txt``, ``.csv``, ``.tsv``, ``.el``, ``.edges``): one ``src dst``
pair per line, separated by whitespace or a comma; ``#`` starts a comment.

``.npz`` keys:

* edges, either ``indptr`` + ``indices`` (CSR of in-edges, as :class:`Graph`)
  or ``src`` + ``dst`` (COO, duplicates merged; ``edge_index`` of shape
  ``[2, E]`` is accepted for ``src``/``dst``);
* ``x`` (float ``[N, F]``), ``y`` (int ``[N]`` class ids, ``-1`` = unlabelled; or float ``[N, T]`` multi-label
  or regression targets, ``NaN`` = unlabelled entry);
* optional ``edge_attr`` (float ``[E, D]``): one row per edge, in the order of the edges given (``indices``,
  ``src``/``dst`` or ``edge_index``); duplicates are merged as :meth:`Graph.from_edges` says (rows averaged);
* optional ``train_mask``, ``val_mask``, ``test_mask`` (bool ``[N]``, or int node ids);
* optional ``num_nodes`` (scalar) and ``undirected`` (scalar bool: add reverse edges).

Arrays are loaded with ``allow_pickle=False``: a data file never runs code.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.errors import DataError

EDGELIST_SUFFIXES = (".txt", ".csv", ".tsv", ".el", ".edges")


def load_npy(path, name: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing data file for `{name}`: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read data file {path} (`{name}`): {exc}") from None


def load_npy_mapped(path, name: str) -> np.ndarray:
    """A ``.npy`` memory-mapped read-only (features larger than the memory), with the errors of :func:`load_npy`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing data file for `{name}`: {path}")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read data file {path} (`{name}`): {exc}") from None


def as_mask(value, n: int, name: str) -> np.ndarray | None:
    """A boolean mask from a bool array of length ``n`` or from integer node ids."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise DataError(f"`{name}` must be a boolean mask or a 1-D array of node ids (got {arr.dtype}, shape {arr.shape})")
    if len(arr) and (arr.min() < 0 or arr.max() >= n):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise DataError(f"`{name}` node ids must be in [0, {n}) (got {bad})")
    mask = np.zeros(n, dtype=bool)
    mask[arr] = True
    return mask


def parse_edge_line(line: str, path: Path, lineno: int) -> tuple[int, int] | None:
    """The ``(src, dst)`` of one line of an edge list, None for a blank or comment line.

    Raises:
        DataError: naming the file, the line and what is wrong with it.
    """
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    fields = re.split(r"[,\s]+", line)
    if len(fields) < 2:
        raise DataError(f"{path}, line {lineno}: expected `src dst`, two node ids (got {line!r})")
    try:
        pair = (int(fields[0]), int(fields[1]))
    except ValueError:
        raise DataError(f"{path}, line {lineno}: node ids must be integers (got {line!r})") from None
    if len(fields) > 2:
        raise DataError(f"{path}, line {lineno}: expected `src dst`, two node ids (got {line!r}); a third column "
                        "(a weight?) is not read: remove it")
    if not all(-(2**63) <= v < 2**63 for v in pair):
        raise DataError(f"{path}, line {lineno}: node ids must fit in 64 bits (got {line!r})")
    return pair


def _parse_edgelist(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    pairs = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            pair = parse_edge_line(line, path, lineno)
            if pair is not None:
                pairs.append(pair)
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


MAX_NODES = 1 << 40
"""The most nodes an edge list may give (node ids below 2**40, about 1.1e12): ids beyond are refused before any
``[N]`` array is made, whatever memory the machine has (the graph directory's arrays alone would need 8 B a node
for the CSR's offsets, more than any disk at this count)."""


def check_node_count(num_nodes: int, path) -> None:
    """Refuse an edge list that gives no node at all (no edge, no ``num_nodes``, no ``x`` or ``y``), or more than
    :data:`MAX_NODES` (a node id of 2**40 or beyond, or such a ``num_nodes``)."""
    if num_nodes == 0:
        raise DataError(f"{path} holds no edge, and neither `num_nodes` nor `x` or `y` gives the nodes: a graph needs "
                        "at least one node")
    if num_nodes > MAX_NODES:
        raise DataError(f"{path}: node ids must be below {MAX_NODES:,} (2**40), and `num_nodes` at most that (got "
                        f"{num_nodes:,} nodes): renumber the nodes from 0")


def load_edgelist(
    path, x=None, y=None, train=None, val=None, test=None, num_nodes=None, undirected: bool = False
) -> Graph:
    """Load a text edge list; ``x``, ``y``, ``train``, ``val``, ``test`` are optional ``.npy`` paths (``y``: int
    ``[N]`` class ids, or float ``[N, T]`` targets with ``NaN`` for unlabelled entries)."""
    path = Path(path)
    edges = _parse_edgelist(path)
    feats = load_npy(x, "x") if x else None
    labels = load_npy(y, "y") if y else None
    if num_nodes is None:
        sizes = [int(edges.max()) + 1 if edges.size else 0]
        sizes += [len(a) for a in (feats, labels) if a is not None]
        num_nodes = max(sizes)
    check_node_count(num_nodes, path)
    masks = {
        key: as_mask(load_npy(p, key), num_nodes, key)
        for key, p in (("train_mask", train), ("val_mask", val), ("test_mask", test))
        if p
    }
    return Graph.from_edges(
        edges[:, 0], edges[:, 1], num_nodes=num_nodes, x=feats, y=labels, undirected=undirected, name=str(path), **masks
    )


def load_npz(path) -> Graph:
    """Load a graph from one ``.npz`` (keys in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from None
    if "x" not in arrays:
        raise DataError(f"{path} must hold the key `x` (node features); it has {sorted(arrays)}")
    x = arrays["x"]
    y = arrays.get("y")
    n = len(x)
    if "num_nodes" in arrays:
        given = arrays["num_nodes"]
        if given.ndim != 0 or given.dtype.kind not in "iu" or int(given) < 1:
            raise DataError(f"`num_nodes` in {path} must be one integer >= 1 (got {given.dtype} of shape {given.shape})")
        n = int(given)
    undirected = bool(arrays["undirected"]) if "undirected" in arrays else False
    masks = {k: as_mask(arrays.get(k), n, k) for k in ("train_mask", "val_mask", "test_mask") if k in arrays}
    edge_attr = arrays.get("edge_attr")
    if "indptr" in arrays and "indices" in arrays:
        if y is None:
            y = np.full(n, -1, dtype=np.int64)
        return Graph(arrays["indptr"], arrays["indices"], x, y, undirected=undirected, name=str(path),
                     edge_attr=edge_attr, **masks)
    if "edge_index" in arrays:
        ei = arrays["edge_index"]
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise DataError(f"`edge_index` in {path} must have shape [2, E] (got {ei.shape})")
        arrays["src"], arrays["dst"] = ei[0], ei[1]
    if "src" not in arrays or "dst" not in arrays:
        raise DataError(f"{path} must hold `indptr`+`indices`, `src`+`dst` or `edge_index`; it has {sorted(arrays)}")
    return Graph.from_edges(
        arrays["src"], arrays["dst"], num_nodes=n, x=x, y=y, undirected=undirected, name=str(path),
        edge_attr=edge_attr, **masks
    )
