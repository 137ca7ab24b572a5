"""Cora and CiteSeer from the raw Planetoid files, with the standard split.

Follows the GCN paper and PyG's ``Planetoid`` (split ``public``): train = the
first 140 (Cora) / 120 (CiteSeer) nodes, validation = the next 500, test = the
1000 nodes of ``test.index``. Self loops in the raw adjacency are dropped and
duplicate edges merged (as PyG does), giving 10,556 directed edges for Cora
and 9,104 for CiteSeer. CiteSeer's 15 isolated test-range nodes missing from
``tx`` get zero features and label ``-1`` (unlabelled), and are in no mask.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gnnpart.data import safe_pickle
from gnnpart.data.graph import Graph
from gnnpart.errors import DataError

NAMES = ("cora", "citeseer")
_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph")


def find_dir(root: Path, name: str) -> Path:
    """The folder holding ``ind.<name>.*``: ``root/planetoid`` or ``root`` itself."""
    for cand in (root / "planetoid", root):
        if (cand / f"ind.{name}.graph").exists():
            return cand
    raise DataError(
        f"dataset '{name}': no Planetoid files ind.{name}.* under {root} or {root / 'planetoid'} "
        "(set `--root` or GNNPART_DATA to the folder that holds them)"
    )


def _dense(obj, path: Path) -> np.ndarray:
    if isinstance(obj, safe_pickle.SparseCSR):
        return obj.toarray(np.float32)
    if isinstance(obj, np.ndarray) and obj.ndim == 2:
        return obj.astype(np.float32)
    raise DataError(f"cannot read data file {path}: expected a matrix (got {type(obj).__name__})")


def load_planetoid(name: str, root: Path) -> Graph:
    """Load ``cora`` or ``citeseer`` from the raw files under ``root``."""
    if name not in NAMES:
        raise DataError(f"planetoid dataset must be one of {NAMES} (got '{name}')")
    folder = find_dir(Path(root), name)
    raw = {part: safe_pickle.load(folder / f"ind.{name}.{part}") for part in _PARTS}
    index_path = folder / f"ind.{name}.test.index"
    try:
        test_index = np.loadtxt(index_path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read data file {index_path}: {exc}") from None

    allx, tx = _dense(raw["allx"], folder / f"ind.{name}.allx"), _dense(raw["tx"], folder / f"ind.{name}.tx")
    ally, ty = np.asarray(raw["ally"], dtype=np.float32), np.asarray(raw["ty"], dtype=np.float32)
    num_train = len(np.asarray(raw["y"]))
    if len(tx) != len(test_index) or len(ty) != len(test_index) or len(allx) != len(ally):
        raise DataError(f"dataset '{name}': tx/ty/test.index/allx/ally lengths disagree in {folder}")

    if not len(test_index):
        raise DataError(f"{index_path} lists no test node")
    sorted_test = np.sort(test_index)
    lo, hi = int(sorted_test[0]), int(sorted_test[-1])
    # the test nodes follow the training-side ones: ids from len(allx) on (a range with gaps for CiteSeer)
    if lo != len(allx) or hi - lo + 1 > 2 * len(tx) + 1000:
        bad = lo if lo != len(allx) else hi
        raise DataError(f"{index_path}: test node ids must start at {len(allx)} (after the training-side rows) and "
                        f"span at most {2 * len(tx) + 1000} ids for {len(tx)} test rows (got {bad})")
    # Place test rows at their sorted positions inside the full test range; ids in the range that have
    # no row (CiteSeer's isolated nodes) keep zero features and an all-zero label row.
    tx_full = np.zeros((hi - lo + 1, tx.shape[1]), dtype=np.float32)
    ty_full = np.zeros((hi - lo + 1, ty.shape[1]), dtype=np.float32)
    tx_full[sorted_test - lo] = tx
    ty_full[sorted_test - lo] = ty
    x = np.concatenate([allx, tx_full])
    onehot = np.concatenate([ally, ty_full])
    y = np.where(onehot.any(axis=1), onehot.argmax(axis=1), -1).astype(np.int64)
    x[test_index] = x[sorted_test]
    y[test_index] = y[sorted_test]
    n = len(x)

    adjacency = raw["graph"]
    if not isinstance(adjacency, dict):
        raise DataError(f"cannot read data file {folder / f'ind.{name}.graph'}: expected a dict of adjacency lists")
    src = np.fromiter((u for u, nbrs in adjacency.items() for _ in nbrs), dtype=np.int64)
    dst = np.fromiter((v for nbrs in adjacency.values() for v in nbrs), dtype=np.int64)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    if len(src) and max(src.max(), dst.max()) >= n:
        raise DataError(f"dataset '{name}': adjacency names node {max(src.max(), dst.max())} but there are {n} nodes")

    def mask(ids):
        m = np.zeros(n, dtype=bool)
        m[ids] = True
        return m & (y >= 0)

    graph = Graph.from_edges(
        src, dst, num_nodes=n, x=x, y=y,
        train_mask=mask(np.arange(num_train)),
        val_mask=mask(np.arange(num_train, num_train + 500)),
        test_mask=mask(test_index),
        name=name,
    )
    graph.undirected = graph.is_symmetric()
    return graph
