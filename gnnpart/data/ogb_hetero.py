"""Heterogeneous datasets in OGB's raw layout (as downloaded for ogbn-mag): a typed :class:`Graph`.

Expected files, gzip-compressed CSV::

    raw/num-node-dict.csv.gz          a header of node type names, then one row of their node counts
    raw/triplet-type-list.csv.gz      optional: one "src type,relation,dst type" per line (default: the folders
                                      of raw/relations, sorted)
    raw/relations/<src>___<rel>___<dst>/edge.csv.gz
                                      one "src,dst" per line, ids within their types
    raw/node-feat/<type>/node-feat.csv.gz    optional: one row of floats per node of the type
    raw/node-label/<type>/node-label.csv.gz  optional: one label per node of the type (its type is a target)
    split/<name>/<type>/{train,valid,test}.csv.gz   one id (within the type) per line

Node types without features are featureless; the types with labels are the targets. ``reverse`` adds each
relation's reverse, as PyG's ``ToUndirected`` does (:func:`gnnpart.data.hetero.with_reverse`).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.hetero import hetero_graph
from gnnpart.data.ogb import read_csv, split_dir, without_contents
from gnnpart.data.typed import check_name
from gnnpart.errors import DataError

NUM_NODES = "num-node-dict.csv.gz"


def is_ogb_hetero_dir(path) -> bool:
    return (Path(path) / "raw" / NUM_NODES).is_file()


def read_type_counts(raw: Path) -> dict[str, int]:
    """``{type: count}`` of ``raw/num-node-dict.csv.gz`` (a header of names, one row of counts)."""
    path = raw / NUM_NODES
    try:
        with gzip.open(path, "rt") as fh:
            lines = [line.strip() for line in fh if line.strip()]
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read data file {path}: {without_contents(exc)}") from None
    if len(lines) != 2:
        raise DataError(f"{path} must hold a header of node type names and one row of counts (got {len(lines)} lines)")
    names, counts = [n.strip() for n in lines[0].split(",")], lines[1].split(",")
    for name in names:  # before any of them is joined into a path (raw/node-feat/<type>/...)
        check_name("node type", name, str(path))
    if len(names) != len(counts) or not all(c.strip().isdigit() for c in counts):
        raise DataError(f"{path} must give one count >= 0 per node type (got {len(counts)} fields for {len(names)} "
                        "names, or a field that is not a whole number)")
    return {name: int(c) for name, c in zip(names, counts)}


def read_relations(raw: Path) -> list[tuple[str, str, str]]:
    """The relations, from ``triplet-type-list.csv.gz`` or else the folders of ``raw/relations``."""
    listed = raw / "triplet-type-list.csv.gz"
    if listed.is_file():
        rows = read_csv(listed, str, 2)
        if rows.size and rows.shape[1] != 3:
            raise DataError(f"{listed} must hold 'src type,relation,dst type' per line (got {rows.shape[1]} columns)")
        return [_checked_relation(tuple(r), str(listed)) for r in rows.reshape(-1, 3).tolist()]
    folder = raw / "relations"
    if not folder.is_dir():
        raise DataError(f"missing data folder: {folder} (an OGB heterogeneous dataset keeps its edges there)")
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        parts = sub.name.split("___")
        if len(parts) != 3:
            raise DataError(f"relation folder {sub} must be named <src type>___<relation>___<dst type>")
        found.append(_checked_relation(tuple(parts), str(sub)))
    return found


def _checked_relation(relation: tuple, where: str) -> tuple[str, str, str]:
    """``relation`` with each of its three names checked (:func:`~gnnpart.data.typed.check_name`): they become the
    folder ``raw/relations/<src>___<rel>___<dst>``."""
    src, rel, dst = (str(v).strip() for v in relation)
    check_name("node type", src, where)
    check_name("relation", rel, where)
    check_name("node type", dst, where)
    return src, rel, dst


def load_ogb_hetero(path, split: str | None = None, reverse: bool = False) -> Graph:
    """Load an OGB heterogeneous node-property dataset (see the module docstring)."""
    root = Path(path)
    raw = root / "raw"
    if not is_ogb_hetero_dir(root):
        raise DataError(f"missing data file: {raw / NUM_NODES} (not an OGB heterogeneous folder)")
    counts = read_type_counts(raw)
    edges = {}
    for rel in read_relations(raw):
        file = raw / "relations" / "___".join(rel) / "edge.csv.gz"
        pairs = read_csv(file, np.int64, 2)
        if pairs.size and pairs.shape[1] != 2:
            raise DataError(f"cannot read data file {file}: expected 2 columns (got {pairs.shape[1]})")
        pairs = pairs.reshape(-1, 2)
        edges[rel] = (pairs[:, 0], pairs[:, 1])
    x, y = {}, {}
    for t in counts:
        feat = raw / "node-feat" / t / "node-feat.csv.gz"
        if feat.is_file():
            x[t] = read_csv(feat, np.float32, 2)
        label = raw / "node-label" / t / "node-label.csv.gz"
        if label.is_file():
            values = read_csv(label, np.float64, 2)
            known = values[~np.isnan(values)]
            y[t] = values[:, 0] if values.shape[1] == 1 and np.all(known == np.round(known)) else values.astype(
                np.float32)
    masks = _typed_masks(root, split, counts)
    return hetero_graph(counts, edges, x, y, masks, list(y), reverse, str(root))


def _typed_masks(root: Path, split: str | None, counts: dict) -> dict:
    """``{"train"|"val"|"test": {type: mask}}`` of the split folder's type folders (empty without a split)."""
    folder = split_dir(root, split)
    masks: dict = {"train": {}, "val": {}, "test": {}}
    if folder is None:
        return masks
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        t = sub.name
        if t not in counts:
            raise DataError(f"split folder {sub} names the unknown node type '{t}' (node types: {', '.join(counts)})")
        for key, fname in (("train", "train"), ("val", "valid"), ("test", "test")):
            ids = read_csv(sub / f"{fname}.csv.gz", np.int64, 1)
            if len(ids) and (ids.min() < 0 or ids.max() >= counts[t]):
                bad = ids.min() if ids.min() < 0 else ids.max()
                raise DataError(f"node ids in {sub / (fname + '.csv.gz')} must be in [0, {counts[t]}) (got {bad})")
            mask = np.zeros(counts[t], dtype=bool)
            mask[ids] = True
            masks[key][t] = mask
    return masks
