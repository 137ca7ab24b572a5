"""``gnnpart convert``: a dataset to a graph directory. Edge lists and OGB folders go in bounded memory.

Their edges are read in chunks of lines, in passes (the largest id, then the count of each row, then the fill:
:func:`gnnpart.data.csr.csr_from_chunks`), so no in-memory list of edges exists; their features are copied a
block of rows at a time (an ``.npy`` is memory-mapped, an OGB CSV is parsed in blocks). Memory is the CSR and
one chunk. Other datasets (and OGB folders with edge features, which must be merged with their edges) are
loaded whole, then written.

The directory holds exactly the graph ``gnnpart.data.loading(spec)`` gives.
"""
from __future__ import annotations

import gzip
import logging
import re
import zlib
from pathlib import Path

import numpy as np

from gnnpart.data import files, ogb
from gnnpart.data.csr import csr_from_chunks
from gnnpart.data.graph import check_features, normalize_labels
from gnnpart.data.graph_dir import GraphDirWriter, open_graph
from gnnpart.data.mapped import block_rows, mapped_blocks
from gnnpart.data.loading import _flag, _options, _resolve, default_root, load
from gnnpart.errors import DataError

log = logging.getLogger(__name__)

CHUNK_LINES = 1 << 21
"""Lines of an edge list parsed at a time."""

_SEPARATORS = re.compile(rb"[,\t ]+")


def _parse_slow(lines: list[bytes], path: Path, first_line: int) -> np.ndarray:
    """Line by line, as :func:`gnnpart.data.files.load_edgelist` reads (comments, checks with line numbers)."""
    pairs = [files.parse_edge_line(raw.decode("utf-8", errors="replace"), path, first_line + offset)
             for offset, raw in enumerate(lines)]
    return np.array([p for p in pairs if p is not None], dtype=np.int64).reshape(-1, 2)


_PAIR_LINE = re.compile(rb"^[ \t]*-?[0-9]+[ \t,]+-?[0-9]+[ \t]*\r?$", re.MULTILINE)  # "src dst", nothing else


def _parse_chunk(lines: list[bytes], path: Path, first_line: int) -> np.ndarray:
    """``[n, 2]`` int64 pairs of a chunk of lines: vectorised when every non-blank line is two plain integers
    (which the line-by-line reader reads alike), else line by line."""
    text = b"".join(lines)
    nonblank = sum(1 for line in lines if line.strip())
    if len(_PAIR_LINE.findall(text)) == nonblank:
        try:
            return np.array(_SEPARATORS.sub(b" ", text).split(), dtype=np.int64).reshape(-1, 2)
        except (ValueError, OverflowError):
            pass  # an id beyond int64: the slow path names the line
    return _parse_slow(lines, path, first_line)


def edge_chunks(path: Path, chunk_lines: int = CHUNK_LINES, gzipped: bool = False, skip_header: bool = False):
    """A callable giving, each time it is called, the ``(src, dst)`` chunks of a text edge list."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing data file: {path}")

    def chunks():
        try:
            with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as fh:
                if skip_header:
                    fh.readline()
                lineno = 1
                while True:
                    lines = [line for _, line in zip(range(chunk_lines), fh)]
                    if not lines:
                        return
                    pairs = _parse_chunk(lines, path, lineno)
                    lineno += len(lines)
                    yield pairs[:, 0], pairs[:, 1]
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"cannot read data file {path}: {exc}") from None

    return chunks


def _largest_id(chunks, name: str) -> int:
    top = -1
    for pair in chunks():
        for arr_name, ids in zip(("src", "dst"), pair):
            if len(ids):
                if ids.min() < 0:
                    raise DataError(f"{name}: `{arr_name}` must hold node ids >= 0 (got {ids.min()})")
                top = max(top, int(ids.max()))
    return top


def _write_streamed(out, overwrite: bool, name: str, chunks, num_nodes: int, undirected: bool, x_blocks, x_width: int,
                    y, masks: dict) -> dict:
    """Build the CSR from ``chunks`` in passes and write every field; the directory is checked (as
    :class:`~gnnpart.data.Graph` checks) before it appears."""
    try:
        by_target = lambda: ((dst, src) for src, dst in chunks())  # noqa: E731 - rows of the CSR are the targets
        indptr, indices = csr_from_chunks(by_target, num_nodes, symmetric=undirected, names=("dst", "src"))
    except ValueError as exc:
        raise DataError(f"{name}: {exc} (num_nodes = {num_nodes})") from None
    log.info("%s: CSR of %d nodes, %d edges built in passes", name, num_nodes, len(indices))
    with GraphDirWriter(out, overwrite) as w:
        w.save("indptr", indptr)
        w.save("indices", indices)
        num_edges = len(indices)
        del indptr, indices
        w.save_blocks("x", (num_nodes, x_width), np.float32, x_blocks)
        y = np.full(num_nodes, -1, dtype=np.int64) if y is None else normalize_labels(y, num_nodes)
        w.save("y", y)
        for key in ("train_mask", "val_mask", "test_mask"):
            mask = masks.get(key)
            w.save(key, np.zeros(num_nodes, dtype=bool) if mask is None else mask)
        meta = w.finish(name, num_nodes, num_edges, x_width, undirected)
        open_graph(w.tmp)  # every check a Graph makes, in chunks; a failure removes the folder
        return meta


def edgelist_options(rest: str, root: Path) -> tuple[Path, dict, bool, int | None]:
    """``(path, {array name: path}, undirected, num_nodes or None)`` of ``edgelist:REST``'s text."""
    path, opts = _options(rest, {"x", "y", "train", "val", "test", "num_nodes", "undirected"})
    undirected = _flag(opts, "undirected")
    given = opts.pop("num_nodes", None)
    if given is not None and not given.isdigit():
        raise DataError(f"dataset option `num_nodes` must be a non-negative integer (got '{given}')")
    return _resolve(path, root), {k: _resolve(v, root) for k, v in opts.items()}, undirected, \
        None if given is None else int(given)


def _convert_edgelist(rest: str, root: Path, out, overwrite: bool, chunk_lines: int) -> dict:
    path, arrays, undirected, given = edgelist_options(rest, root)
    chunks = edge_chunks(path, chunk_lines)
    x = files.load_npy_mapped(arrays["x"], "x") if "x" in arrays else None
    y = files.load_npy(arrays["y"], "y") if "y" in arrays else None
    if given is not None:
        num_nodes = given
    else:
        num_nodes = max([_largest_id(chunks, str(path)) + 1] + [len(a) for a in (x, y) if a is not None])
    files.check_node_count(num_nodes, path)
    masks = {key: files.as_mask(files.load_npy(arrays[short], key), num_nodes, key)
             for key, short in (("train_mask", "train"), ("val_mask", "val"), ("test_mask", "test")) if short in arrays}
    if x is not None:
        check_features(x, num_nodes)  # what Graph refuses (a complex or string x), refused before any copy
    if x is None:
        x_blocks, width = mapped_blocks(np.ones((num_nodes, 1), dtype=np.float32)), 1
    else:
        x_blocks, width = mapped_blocks(x), x.shape[1]
    return _write_streamed(out, overwrite, str(path), chunks, num_nodes, undirected, x_blocks, width, y, masks)


def _convert_ogb(path: Path, split, undirected: bool, out, overwrite: bool, chunk_lines: int) -> dict:
    raw = path / "raw"
    num_nodes = ogb.read_num_nodes(raw)
    chunks = edge_chunks(raw / "edge.csv.gz", chunk_lines, gzipped=True)
    y = ogb.read_labels(raw, num_nodes)
    masks = ogb.read_masks(path, split, num_nodes)
    if (raw / "node-feat.csv.gz").exists():
        width = ogb.feature_width(raw)
        x_blocks = ogb.feature_blocks(raw, num_nodes, block_rows(4 * width))
    else:
        x_blocks, width = mapped_blocks(np.ones((num_nodes, 1), dtype=np.float32)), 1
    return _write_streamed(out, overwrite, str(path), chunks, num_nodes, undirected, x_blocks, width, y, masks)


def convert(spec: str, out, root=None, overwrite: bool = False, chunk_lines: int = CHUNK_LINES) -> dict:
    """Write the dataset ``spec`` (as :func:`gnnpart.data.loading` takes it) to the graph directory ``out``.

    Args:
        spec (str): the dataset.
        out (str or Path): the directory to create.
        root (str or Path, optional): where named datasets live.
        overwrite (bool): replace an existing graph directory.
        chunk_lines (int): lines of an edge list read at a time.

    Returns:
        dict: the ``meta.json`` written.
    """
    from gnnpart.data.graph_dir import write_graph

    root = Path(root) if root is not None else default_root()
    scheme, sep, rest = spec.partition(":")
    scheme = scheme.strip().lower()
    if sep and scheme == "edgelist":
        return _convert_edgelist(rest, root, out, overwrite, chunk_lines)
    if sep and scheme == "ogb":
        path, opts = _options(rest, {"split", "undirected"})
        undirected = _flag(opts, "undirected")
        ogb_dir = _resolve(path, root)
        if ogb.is_ogb_dir(ogb_dir) and not (ogb_dir / "raw" / "edge-feat.csv.gz").exists():
            return _convert_ogb(ogb_dir, opts.get("split"), undirected, out, overwrite, chunk_lines)
    elif not sep:
        path = _resolve(spec, root)
        if path.is_dir() and ogb.is_ogb_dir(path) and not (path / "raw" / "edge-feat.csv.gz").exists():
            return _convert_ogb(path, None, False, out, overwrite, chunk_lines)
        if path.is_file() and path.suffix in files.EDGELIST_SUFFIXES:
            return _convert_edgelist(str(path), root, out, overwrite, chunk_lines)
    log.info("%s is loaded whole, then written", spec)
    return write_graph(load(spec, root=root), out, overwrite=overwrite, name=spec)
