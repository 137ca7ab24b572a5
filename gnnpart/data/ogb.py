"""Datasets in the OGB node-property layout (as downloaded for ogbn-arxiv, ogbn-products, ...).

Expected files, all gzip-compressed CSV without header::

    raw/edge.csv.gz           one "src,dst" per line (directed edges)
    raw/node-feat.csv.gz      one row of comma-separated floats per node
    raw/node-label.csv.gz     one label per node ("nan" or empty for unlabelled); with several columns (or
                              one column of fractions), one row of targets per node (multi-label 0/1 or
                              regression, "nan" = unlabelled)
    raw/edge-feat.csv.gz      optional: one row of comma-separated floats per edge, in edge.csv order
    raw/num-node-list.csv.gz  the number of nodes
    split/<name>/{train,valid,test}.csv.gz   one node id per line

OGB's node-property graphs are stored directed; gnnpart keeps them as given
(pass ``undirected=true`` in the spec to add reverse edges, as most ogbn-arxiv
recipes do).
"""
from __future__ import annotations

import gzip
import re
import warnings
import zlib
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.typed import check_name
from gnnpart.errors import DataError


def is_ogb_dir(path: Path) -> bool:
    return (Path(path) / "raw" / "edge.csv.gz").is_file()


def read_csv(path: Path, dtype, ndmin: int) -> np.ndarray:
    """A gzip-compressed CSV without header as an array (one line naming the file when it cannot be read)."""
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    try:
        with gzip.open(path, "rt") as fh, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")  # callers say what is wrong
            return np.loadtxt(fh, delimiter=",", dtype=dtype, ndmin=ndmin)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"cannot read data file {path}: {without_contents(exc)}") from None


_AT_ROW = re.compile(r"at row (\d+), column (\d+)")


def without_contents(exc: BaseException) -> str:
    """What went wrong reading a CSV, in words that never quote the file's contents: a dataset may point at a file
    that is not its own (a link), and an error message must not echo it. numpy's parse errors keep their row
    and column only."""
    if isinstance(exc, ValueError):
        at = _AT_ROW.search(str(exc))
        where = f" at line {int(at.group(1)) + 1}, column {int(at.group(2)) + 1}" if at else ""
        return f"not comma-separated numbers of the expected kind{where}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"not a gzip-compressed CSV ({type(exc).__name__})"


def split_dir(root: Path, split: str | None) -> Path | None:
    """The folder of split ``split`` under ``root/split`` (the only one when not named; None without splits)."""
    base = root / "split"
    if split is not None:
        check_name("split", split, "`split`")
        if not (base / split).is_dir():
            raise DataError(f"`split` must name a folder under {base} (got '{split}')")
        return base / split
    if not base.is_dir():
        return None
    names = sorted(p.name for p in base.iterdir() if p.is_dir())
    if len(names) > 1:
        raise DataError(f"dataset {root} has several splits {names}: choose one with `split=NAME` in the spec")
    return base / names[0] if names else None


def load_ogb(path, split: str | None = None, undirected: bool = False) -> Graph:
    """Load a node-property dataset from an OGB-layout folder."""
    root = Path(path)
    if not is_ogb_dir(root):
        raise DataError(f"missing data file: {root / 'raw' / 'edge.csv.gz'} (not an OGB-layout folder)")
    raw = root / "raw"
    num_nodes = read_num_nodes(raw)
    edges = read_csv(raw / "edge.csv.gz", np.int64, 2)
    if edges.size and edges.shape[1] != 2:
        raise DataError(f"cannot read data file {raw / 'edge.csv.gz'}: expected 2 columns (got {edges.shape[1]})")
    edges = edges.reshape(-1, 2)
    x = read_csv(raw / "node-feat.csv.gz", np.float32, 2) if (raw / "node-feat.csv.gz").exists() else None
    if x is not None and len(x) != num_nodes:
        raise DataError(f"`x` from {raw / 'node-feat.csv.gz'} must have {num_nodes} rows (got {len(x)})")
    y = read_labels(raw, num_nodes)
    edge_attr = None
    if (raw / "edge-feat.csv.gz").exists():
        edge_attr = read_csv(raw / "edge-feat.csv.gz", np.float32, 2)
        if len(edge_attr) != len(edges):
            raise DataError(f"`edge_attr` from {raw / 'edge-feat.csv.gz'} must have one row per edge of edge.csv.gz "
                            f"({len(edges)}) (got {len(edge_attr)})")
    masks = read_masks(root, split, num_nodes)
    return Graph.from_edges(
        edges[:, 0], edges[:, 1], num_nodes=num_nodes, x=x, y=y, undirected=undirected, name=str(root),
        edge_attr=edge_attr, **masks
    )


def read_num_nodes(raw: Path) -> int:
    """The node count of ``raw/num-node-list.csv.gz``."""
    counts = read_csv(raw / "num-node-list.csv.gz", np.int64, 1)
    if counts.size != 1 or counts[0] < 1:
        raise DataError(f"{raw / 'num-node-list.csv.gz'} must hold one node count >= 1 (got {counts.tolist()[:3]})")
    return int(counts[0])


def read_labels(raw: Path, num_nodes: int):
    """Class ids ``[N]`` or ``[N, T]`` targets from ``raw/node-label.csv.gz``, or None without the file."""
    if not (raw / "node-label.csv.gz").exists():
        return None
    labels = read_csv(raw / "node-label.csv.gz", np.float64, 2)
    if len(labels) != num_nodes:
        raise DataError(f"`y` from {raw / 'node-label.csv.gz'} must have {num_nodes} labels (got {len(labels)})")
    known = labels[~np.isnan(labels)]
    class_ids = labels.shape[1] == 1 and np.all(known == np.round(known))
    return labels[:, 0] if class_ids else labels.astype(np.float32)  # class ids, or [N, T] targets


def read_masks(root: Path, split: str | None, num_nodes: int) -> dict:
    """``{train_mask, val_mask, test_mask}`` of the split folder (empty without one)."""
    masks = {}
    folder = split_dir(root, split)
    if folder is not None:
        for key, fname in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
            ids = read_csv(folder / f"{fname}.csv.gz", np.int64, 1)
            if len(ids) and (ids.min() < 0 or ids.max() >= num_nodes):
                bad = ids.min() if ids.min() < 0 else ids.max()
                raise DataError(f"node ids in {folder / (fname + '.csv.gz')} must be in [0, {num_nodes}) (got {bad})")
            m = np.zeros(num_nodes, dtype=bool)
            m[ids] = True
            masks[key] = m
    return masks


def feature_blocks(raw: Path, num_nodes: int, rows: int):
    """``raw/node-feat.csv.gz`` in blocks of ``rows`` rows (float32), checked to hold ``num_nodes`` rows."""
    path = raw / "node-feat.csv.gz"
    seen = 0
    try:
        with gzip.open(path, "rt") as fh, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            while True:
                block = np.loadtxt(fh, delimiter=",", dtype=np.float32, ndmin=2, max_rows=rows)
                if not len(block):
                    break
                seen += len(block)
                if seen > num_nodes:
                    break
                yield block
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"cannot read data file {path}: {without_contents(exc)}") from None
    if seen != num_nodes:
        raise DataError(f"`x` from {path} must have {num_nodes} rows (got {seen if seen <= num_nodes else 'more'})")


def feature_width(raw: Path) -> int:
    """Columns of the first row of ``raw/node-feat.csv.gz``."""
    path = raw / "node-feat.csv.gz"
    try:
        with gzip.open(path, "rt") as fh:
            return len(fh.readline().split(","))
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read data file {path}: {without_contents(exc)}") from None
