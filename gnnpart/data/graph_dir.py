"""The graph directory: a dataset on disk, one ``.npy`` per field, read memory-mapped.

::

    DIR/meta.json        {"format": "gnnpart-graph", "version": 1, "name", "num_nodes", "num_edges",
                          "num_features", "undirected", "fields": {FIELD: {"dtype", "shape"}}}
    DIR/indptr.npy       int64 [N + 1]   CSR of in-edges, as :class:`~gnnpart.data.Graph`
    DIR/indices.npy      int64 [E]       sources, sorted and distinct within each row
    DIR/x.npy            float32 [N, F]
    DIR/y.npy            int64 [N] class ids (-1 = unlabelled), or float32 [N, T] targets (NaN = unlabelled)
    DIR/train_mask.npy, val_mask.npy, test_mask.npy     bool [N]
    DIR/edge_attr.npy    float32 [E, D], in the order of indices (only with edge features)
    DIR/node_type.npy    int64 [N]       a typed graph only (version 2): each node's type, and meta.json gains
    DIR/edge_type.npy    int64 [E]       node_types, relations, type_widths and target_types
                                         (:mod:`gnnpart.data.typed`)

:func:`open_graph` maps the arrays instead of reading them, so a graph whose features exceed the memory opens;
:class:`~gnnpart.data.Graph` checks it in chunks. :class:`GraphDirWriter` writes one, each array streamed in
row blocks, into a hidden temporary folder that is renamed into place when complete (``meta.json`` last): an
interrupted write leaves nothing that opens. Documented in ``datasets/README.md``.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from gnnpart.atomic import atomic_directory
from gnnpart.data.graph import Graph
from gnnpart.data.typed import GraphTypes
from gnnpart.data.mapped import drop_pages, mapped_blocks, write_npy_blocks
from gnnpart.errors import DataError
from gnnpart.meta_file import META_FILE, read_meta_file

FORMAT_NAME = "gnnpart-graph"
FORMAT_VERSION = 2  # 2: typed graphs (node_type, edge_type and the types in meta.json); version 1 still reads
READ_VERSIONS = (1, 2)
KIND = (FORMAT_NAME, "graph directory")
REQUIRED = ("indptr", "indices", "x", "y", "train_mask", "val_mask", "test_mask")
OPTIONAL = ("edge_attr", "node_type", "edge_type")
DTYPES = {"indptr": ("int64",), "indices": ("int64",), "x": ("float32",), "y": ("int64", "float32"),
          "train_mask": ("bool",), "val_mask": ("bool",), "test_mask": ("bool",), "edge_attr": ("float32",),
          "node_type": ("int64",), "edge_type": ("int64",)}


def is_graph_dir(path) -> bool:
    """Whether ``path`` is a directory whose ``meta.json`` says it is a gnnpart graph directory."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return False


class GraphDirWriter:
    """Writes a graph directory field by field (:func:`write_graph` for a :class:`Graph`).

    Use as a context manager: the directory appears, complete, when the block ends without an exception.

    Args:
        out (str or Path): the directory to create.
        overwrite (bool): replace an existing graph directory (atomically).
    """

    def __init__(self, out, overwrite: bool = False):
        self.out, self.overwrite = Path(out), overwrite
        self.fields: dict[str, dict] = {}
        self._ctx = None
        self.tmp: Path | None = None

    def __enter__(self) -> "GraphDirWriter":
        self._ctx = atomic_directory(self.out, self.overwrite, KIND)
        self.tmp = self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        return bool(self._ctx.__exit__(*exc))

    def _record(self, name: str, shape, dtype) -> None:
        if name not in DTYPES:
            raise ValueError(f"graph directory field must be one of {', '.join(DTYPES)} (got {name!r})")
        self.fields[name] = {"dtype": np.dtype(dtype).name, "shape": [int(s) for s in shape]}

    def save(self, name: str, array: np.ndarray) -> None:
        """Write a whole field, in row blocks (``array`` may be memory-mapped)."""
        self.save_blocks(name, array.shape, array.dtype, mapped_blocks(array))

    def save_blocks(self, name: str, shape, dtype, blocks: Iterable[np.ndarray]) -> None:
        """Write a field of ``shape`` from consecutive row blocks."""
        self._record(name, shape, dtype)
        with open(self.tmp / f"{name}.npy", "wb") as fh:
            write_npy_blocks(fh, shape, dtype, blocks, f"{name}.npy")

    def lay_out(self, name: str, shape, dtype) -> Path:
        """Create field ``name`` at its final ``shape``, its space reserved, for writers that fill its rows in place
        (``np.lib.format.open_memmap(path, mode="r+")``, from any process); its path. A full disk is one
        ``OSError`` here, not a writer killed by SIGBUS when it writes past the end of a sparse file."""
        self._record(name, shape, dtype)
        path = self.tmp / f"{name}.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape)).flush()
        size = path.stat().st_size
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise OSError(errno.ENOSPC, f"no space left on device for {self.out}/{name}.npy: it needs "
                                            f"{size:,} bytes, {shutil.disk_usage(self.tmp).free:,} are free") from None
            raise
        finally:
            os.close(fd)
        return path

    def finish(self, name: str, num_nodes: int, num_edges: int, num_features: int, undirected: bool,
               extra: dict | None = None) -> dict:
        """Check that every field is there and write ``meta.json`` (call last, inside the block)."""
        missing = [f for f in REQUIRED if f not in self.fields]
        if missing:
            raise ValueError(f"graph directory {self.out}: fields {missing} were not written")
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "name": name, "num_nodes": int(num_nodes),
                "num_edges": int(num_edges), "num_features": int(num_features), "undirected": bool(undirected),
                **(extra or {}), "fields": self.fields}
        with open(self.tmp / META_FILE, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        return meta


def write_graph(graph: Graph, out, overwrite: bool = False, name: str | None = None) -> dict:
    """Write ``graph`` as a graph directory ``out``, in row blocks (a memory-mapped graph is copied without
    loading its features).

    Args:
        graph (Graph): the graph.
        out (str or Path): the directory to create.
        overwrite (bool): replace an existing graph directory.
        name (str, optional): the name recorded (default ``graph.name``).

    Returns:
        dict: the ``meta.json`` written.

    """
    with GraphDirWriter(out, overwrite) as w:
        for field in REQUIRED + OPTIONAL:
            value = getattr(graph, field)
            if value is not None:
                w.save(field, value)
        return w.finish(graph.name if name is None else name, graph.num_nodes, graph.num_edges, graph.num_features,
                        graph.undirected, None if graph.types is None else graph.types.to_json())


def read_graph_meta(path) -> dict:
    """Read and check ``meta.json`` of a graph directory."""
    root = Path(path)
    meta = read_meta_file(root, FORMAT_NAME, READ_VERSIONS, DataError, "gnnpart graph description",
                          "{root} is not a gnnpart graph directory: meta.json is missing")
    meta_path = root / META_FILE
    fields = meta.get("fields")
    if not isinstance(fields, dict) or not all(f in fields for f in REQUIRED):
        raise DataError(f"{meta_path}: `fields` must list {', '.join(REQUIRED)}")
    for name, record in fields.items():
        shape = record.get("shape") if isinstance(record, dict) else None
        if not isinstance(record, dict) or not isinstance(record.get("dtype"), str) or not isinstance(shape, list) \
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape):
            raise DataError(f"{meta_path}: the record of `{name}` must be {{\"dtype\": ..., \"shape\": [...]}} "
                            f"(got {record!r:.80})")
    for key in ("num_nodes", "num_edges", "num_features"):
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool) or meta[key] < 0:
            raise DataError(f"{meta_path}: `{key}` must be an integer >= 0 (got {meta.get(key)!r})")
    return meta


def _open_field(root: Path, name: str, record: dict) -> np.ndarray:
    path = root / f"{name}.npy"
    if not path.is_file():
        raise DataError(f"graph directory {root} lacks {path.name}, which {META_FILE} lists")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if array.dtype.name not in DTYPES[name] or array.dtype.name != record.get("dtype"):
        raise DataError(f"{path} has dtype {array.dtype}, expected {record.get('dtype')} (one of "
                        f"{', '.join(DTYPES[name])})")
    if list(array.shape) != record.get("shape"):
        raise DataError(f"{path} has shape {list(array.shape)}, expected {record.get('shape')} (truncated or replaced)")
    return array


def _check_meta_against_arrays(meta_path: Path, meta: dict, arrays: dict) -> None:
    """Every field of ``meta.json`` that the arrays determine must say what they hold (a ``meta.json`` edited or
    copied from another graph is named, key by key, not trusted)."""
    said = {"num_nodes": len(arrays["indptr"]) - 1, "num_edges": len(arrays["indices"]),
            "num_features": arrays["x"].shape[1] if arrays["x"].ndim == 2 else -1}
    for key, actual in said.items():
        if meta[key] != actual:
            raise DataError(f"{meta_path}: `{key}` is {meta[key]}, but the arrays hold {actual} (indptr.npy, "
                            "indices.npy and x.npy decide): the directory was altered")
    if not isinstance(meta.get("undirected", False), bool):
        raise DataError(f"{meta_path}: `undirected` must be true or false (got {meta.get('undirected')!r})")
    if not isinstance(meta.get("name", ""), str):
        raise DataError(f"{meta_path}: `name` must be a string (got {meta.get('name')!r})")
    unknown = sorted(set(meta["fields"]) - set(DTYPES))
    if unknown:
        raise DataError(f"{meta_path}: `fields` lists {unknown}, which a graph directory does not hold (expected "
                        f"{', '.join(DTYPES)})")


def graph_types(meta_path: Path, meta: dict) -> GraphTypes | None:
    """The types ``meta.json`` records (None for an untyped graph), checked (one line naming the file)."""
    try:
        return GraphTypes.from_json(meta)
    except (DataError, KeyError, TypeError) as exc:
        raise DataError(f"{meta_path}: the node types and relations are not valid: {exc}") from None


def open_graph(path) -> Graph:
    """Open a graph directory as a :class:`Graph` backed by memory maps (read-only; checked in chunks).

    Args:
        path (str or Path): the directory.

    Raises:
        DataError: naming the file and what is wrong with it.
    """
    root = Path(path)
    meta = read_graph_meta(root)
    arrays = {name: _open_field(root, name, record) for name, record in meta["fields"].items() if name in DTYPES}
    _check_meta_against_arrays(root / META_FILE, meta, arrays)
    types = graph_types(root / META_FILE, meta)
    if (types is None) != ("node_type" not in arrays) or (types is None) != ("edge_type" not in arrays):
        raise DataError(f"{root / META_FILE}: a typed graph directory holds node_types and relations in meta.json "
                        "and node_type.npy and edge_type.npy, all four or none")
    graph = Graph(arrays["indptr"], arrays["indices"], arrays["x"], arrays["y"], arrays["train_mask"],
                  arrays["val_mask"], arrays["test_mask"], undirected=meta.get("undirected", False),
                  name=str(meta.get("name") or root), edge_attr=arrays.get("edge_attr"),
                  node_type=arrays.get("node_type"), edge_type=arrays.get("edge_type"), types=types)
    for field in ("x", "edge_attr"):
        drop_pages(arrays.get(field))
    return graph
