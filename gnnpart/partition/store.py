"""The on-disk partition format (version 2; version 1 is still read): writing it atomically and loading one part.

A partition directory holds ``meta.json`` (format, version, sizes, method,
statistics, and the size and CRC-32 of every file) and one folder
``part-<i>/`` per part with plain ``.npy`` arrays (no pickle): the files in
:data:`PART_ARRAYS`. Each field is documented in README.md, section
"Partition directory format"; that table is the one place it is described.

Version 2 added ``task``, ``num_outputs`` and ``num_edge_features`` to ``meta.json``, ``[I, T]`` float
targets in ``y.npy``, and ``edge_attr.npy`` (present when ``num_edge_features`` > 0). A version 1 directory
reads as version 2 with ``task`` multiclass, ``num_outputs`` = ``num_classes`` and no edge features.

Version 3 added typed (heterogeneous) graphs: ``node_types``, ``relations``, ``type_widths`` and ``target_types``
in ``meta.json`` (present for a typed graph only), per-type and per-relation statistics, and ``node_type.npy``
(``[L]``) and ``edge_type.npy`` (``[E]``) in each part. A version 1 or 2 directory reads as an untyped version 3.

Writing goes to a hidden temporary folder next to the target, ``meta.json``
last, then one rename (or one atomic exchange with the directory it replaces;
see :mod:`gnnpart.atomic`): an interrupted run leaves no directory that loads.
"""
from __future__ import annotations

import io
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gnnpart.data.labels import TASKS
from gnnpart.data.mapped import write_npy_blocks
from gnnpart.data.typed import GraphTypes
from gnnpart.errors import DataError, PartitionFormatError
from gnnpart.meta_file import META_FILE, read_meta_file

FORMAT_NAME = "gnnpart-partition"
FORMAT_VERSION = 3
READ_VERSIONS = (1, 2, 3)

PART_ARRAYS = (
    "global_ids", "indptr", "indices", "in_degree", "out_degree", "x", "y", "train_mask", "val_mask", "test_mask",
    "recv_peers", "recv_ptr", "recv_slot", "recv_remote", "send_peers", "send_ptr", "send_local",
)
"""The arrays of every part; ``edge_attr`` (:func:`part_arrays`) is there too when the graph has edge features."""


def part_arrays(meta: dict) -> tuple[str, ...]:
    """The names of the arrays each part of the directory described by ``meta`` holds."""
    return (PART_ARRAYS + (("edge_attr",) if meta.get("num_edge_features", 0) else ())
            + (("node_type", "edge_type") if meta.get("node_types") else ()))


def part_dir_name(part_id: int) -> str:
    return f"part-{part_id}"


# ------------------------------------------------------------------------------------------ writing
class _ChecksumFile:
    """A write-only file object that keeps a running CRC-32 and byte count."""

    def __init__(self, fh):
        self.fh = fh
        self.crc = 0
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.crc = zlib.crc32(view, self.crc)
        self.size += len(view)
        return self.fh.write(view)


class ArrayWriter:
    """Writes ``.npy`` files under a folder and records each file's size and CRC-32."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files: dict[str, dict] = {}

    def save(self, rel: str, array) -> None:
        """Write ``array``: a numpy array, or an object with ``shape``, ``dtype`` and ``blocks()`` (consecutive row
        blocks, such as :class:`gnnpart.partition.build.Rows`), streamed without being in memory whole."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            out = _ChecksumFile(fh)
            if hasattr(array, "blocks"):
                write_npy_blocks(out, array.shape, array.dtype, array.blocks(), rel)
            else:
                np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)
        self.files[rel] = {"size": out.size, "crc32": f"{out.crc:08x}"}

    def save_json(self, rel: str, obj: dict) -> None:
        with open(self.root / rel, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())


# ------------------------------------------------------------------------------------------ reading
def read_meta(path) -> dict:
    """Read and check ``meta.json`` of a partition directory."""
    root = Path(path)
    if not root.is_dir():
        raise PartitionFormatError(f"partition directory {root} does not exist")
    meta = read_meta_file(root, FORMAT_NAME, READ_VERSIONS, PartitionFormatError, "gnnpart partition description",
                          "{root} is not a complete gnnpart partition directory: meta.json is missing")
    if meta["version"] == 1:  # what version 2 added, at the values version 1 implied
        meta.setdefault("task", "multiclass")
        meta.setdefault("num_outputs", meta.get("num_classes"))
        meta.setdefault("num_edge_features", 0)
    check_meta_schema(meta, root / META_FILE)
    if meta.get("node_types"):
        try:
            types = GraphTypes.from_json(meta)
        except (DataError, KeyError, TypeError, ValueError) as exc:
            raise PartitionFormatError(f"{root / META_FILE}: the node types and relations are not valid: "
                                       f"{exc}") from None
        if max(types.widths) > meta["num_features"]:
            raise PartitionFormatError(f"{root / META_FILE}: `type_widths` {list(types.widths)} must be at most "
                                       f"`num_features` ({meta['num_features']}), the columns of x.npy")
        counts = meta.get("num_nodes_by_type")
        if (not isinstance(counts, list) or len(counts) != types.num_node_types
                or not all(_count(c) for c in counts) or sum(counts) != meta["num_nodes"]):
            raise PartitionFormatError(f"{root / META_FILE}: `num_nodes_by_type` must give one count >= 0 per node "
                                       f"type ({types.num_node_types}), summing to `num_nodes` ({meta['num_nodes']})")
    return meta


def graph_identity(meta: dict) -> dict:
    """What graph a partition is of: its dataset spec and node count (the same on every partition of the graph;
    what a checkpoint records, so that it resumes or predicts only on the graph it was trained on)."""
    return {"dataset": str(meta.get("dataset")), "num_nodes": int(meta.get("num_nodes", -1))}


def _count(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


_CRC = re.compile(r"^[0-9a-f]{8}$")
META_SCHEMA = {
    "dataset": (lambda v: isinstance(v, str), "a string"),
    "num_nodes": (_count, "an integer >= 0"),
    "num_edges": (_count, "an integer >= 0"),
    "num_parts": (lambda v: _count(v, 1), "an integer >= 1"),
    "num_features": (_count, "an integer >= 0"),
    "num_classes": (_count, "an integer >= 0"),
    "task": (lambda v: v in TASKS, f"one of {', '.join(TASKS)}"),
    "num_outputs": (_count, "an integer >= 0"),
    "num_edge_features": (_count, "an integer >= 0"),
    "method": (lambda v: isinstance(v, str), "a string"),
    "balance": (lambda v: isinstance(v, list) and all(isinstance(b, str) for b in v), "a list of strings"),
    "seed": (_count, "an integer >= 0"),
    "stats": (lambda v: isinstance(v, dict), "an object"),
    "files": (lambda v: isinstance(v, dict), "an object"),
}
"""The keys of ``meta.json`` that readers use, and what each must be (the README documents them)."""


def check_meta_schema(meta: dict, meta_path) -> None:
    """Check ``meta.json`` against :data:`META_SCHEMA`, its statistics and every file record.

    Raises:
        PartitionFormatError: naming the file, the key, the rule and the value.
    """
    for key, (ok, rule) in META_SCHEMA.items():
        if key not in meta:
            raise PartitionFormatError(f"{meta_path} lacks `{key}` (it must be {rule})")
        if not ok(meta[key]):
            raise PartitionFormatError(f"{meta_path}: `{key}` must be {rule} (got {meta[key]!r:.80})")
    stats = meta["stats"]
    for key in ("edge_cut", "halo_rows_total"):
        if not _count(stats.get(key)):
            raise PartitionFormatError(f"{meta_path}: `stats.{key}` must be an integer >= 0 (got {stats.get(key)!r})")
    parts = stats.get("parts")
    fields = ("inner", "halo", "edges", "train")
    if not isinstance(parts, list) or len(parts) != meta["num_parts"] or not all(
            isinstance(p, dict) and all(_count(p.get(f)) for f in fields) for p in parts):
        raise PartitionFormatError(f"{meta_path}: `stats.parts` must list {meta['num_parts']} parts with integer "
                                   f"{', '.join(fields)}")
    imbalance = stats.get("imbalance")
    if not isinstance(imbalance, dict) or not all(isinstance(imbalance.get(k), (int, float)) for k in ("nodes", "edges", "train")):
        raise PartitionFormatError(f"{meta_path}: `stats.imbalance` must give numbers for nodes, edges and train")
    for rel, record in meta["files"].items():
        path = Path(rel)
        if path.is_absolute() or ".." in path.parts or not rel:
            raise PartitionFormatError(f"{meta_path}: file `{rel}` must be a path inside the directory")
        if not isinstance(record, dict) or not _count(record.get("size")) or not _CRC.match(str(record.get("crc32"))):
            raise PartitionFormatError(f"{meta_path}: the record of `{rel}` must have an integer `size` >= 0 and an "
                                       f"8-digit hex `crc32` (got {record!r:.80})")


_CRC_BLOCK = 16 << 20


def _file_crc(path: Path) -> int:
    """CRC-32 of a file, read in blocks (nothing held)."""
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(_CRC_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


def _mapped_array(path: Path, record: dict, verify: bool) -> np.ndarray:
    """A copy-on-write memory map of one ``.npy`` (writable, as torch wants; a write never reaches the file), its
    CRC-32 checked by a pass in blocks."""
    if verify and f"{_file_crc(path):08x}" != record["crc32"]:
        raise PartitionFormatError(f"partition file {path} is corrupted (CRC-32 mismatch)")
    try:
        array = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise PartitionFormatError(f"partition file {path} is not a valid .npy array: {exc}") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject or (array.ndim > 1 and not array.flags.c_contiguous):
        raise PartitionFormatError(f"partition file {path} is not a valid .npy array: unsupported array layout")
    return array


def read_array(root: Path, rel: str, record: dict, verify: bool = True, mmap: bool = False) -> np.ndarray:
    """Read one ``.npy`` after checking its size and CRC-32 against ``record`` (``mmap``: map it read-only
    instead of reading it, copy-on-write; the CRC is then checked by a pass in blocks)."""
    path = root / rel
    if not path.is_file():
        raise PartitionFormatError(f"missing partition file {path}")
    size = path.stat().st_size
    if size != record["size"]:
        raise PartitionFormatError(f"partition file {path} has {size} bytes, expected {record['size']} (truncated or replaced)")
    if mmap:
        return _mapped_array(path, record, verify)
    buf = bytearray(size)
    with open(path, "rb") as fh:
        got = fh.readinto(buf)
    if got != size:
        raise PartitionFormatError(f"partition file {path}: read {got} of {size} bytes")
    if verify and f"{zlib.crc32(buf):08x}" != record["crc32"]:
        raise PartitionFormatError(f"partition file {path} is corrupted (CRC-32 mismatch)")
    try:
        header = io.BytesIO(memoryview(buf)[: min(size, 65536)])
        version = np.lib.format.read_magic(header)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran, dtype = readers[version](header)
        if fortran or dtype.hasobject:
            raise ValueError("unsupported array layout")
        count = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(buf, dtype=dtype, count=count, offset=header.tell()).reshape(shape)
    except ValueError as exc:
        raise PartitionFormatError(f"partition file {path} is not a valid .npy array: {exc}") from None


@dataclass(eq=False)
class Partition:
    """One part of a partitioned graph, as one rank sees it.

    Attributes:
        part_id (int), num_parts (int): which part, of how many.
        global_ids (np.ndarray): int64 ``[L]`` global id of each local node, inner then halo.
        num_inner (int): number of inner (owned) nodes ``I``.
        indptr, indices (np.ndarray): int64 local in-edge CSR over the inner rows; columns index local nodes.
        in_degree, out_degree (np.ndarray): int64 ``[L]`` global degrees of the local nodes.
        x (np.ndarray): float32 ``[I, F]``; y (np.ndarray): int64 ``[I]`` class ids, or float32 ``[I, T]``
            targets (``NaN`` = unlabelled entry).
        train_mask, val_mask, test_mask (np.ndarray): bool ``[I]``.
        recv (dict[int, tuple[np.ndarray, np.ndarray]]): peer -> (halo slots, the peer's local ids).
        send (dict[int, np.ndarray]): peer -> my inner local ids the peer needs, in its slot order.
        meta (dict): the directory's ``meta.json``.
        edge_attr (np.ndarray | None): float32 ``[E, D]`` features of the local edges, in the order of ``indices``.
        node_type (np.ndarray | None): int64 ``[L]`` type of each local node (typed graphs; names in ``meta``).
        edge_type (np.ndarray | None): int64 ``[E]`` relation of each local edge, in the order of ``indices``.
    """

    part_id: int
    num_parts: int
    global_ids: np.ndarray
    num_inner: int
    indptr: np.ndarray
    indices: np.ndarray
    in_degree: np.ndarray
    out_degree: np.ndarray
    x: np.ndarray
    y: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    recv: dict = field(default_factory=dict)
    send: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    edge_attr: np.ndarray | None = None
    node_type: np.ndarray | None = None
    edge_type: np.ndarray | None = None

    @property
    def task(self) -> str:
        """``multiclass``, ``multilabel`` or ``regression`` (from ``meta.json``)."""
        return self.meta.get("task", "multiclass")

    @property
    def num_local(self) -> int:
        return len(self.global_ids)

    @property
    def num_halo(self) -> int:
        return self.num_local - self.num_inner

    @property
    def halo_owner(self) -> np.ndarray:
        """int64 ``[H]``: owner part of each halo slot."""
        owner = np.empty(self.num_halo, dtype=np.int64)
        for peer, (slots, _) in self.recv.items():
            owner[slots - self.num_inner] = peer
        return owner


def _plan(arrays: dict, prefix: str, values: tuple[str, ...]) -> dict:
    peers, ptr = arrays[f"{prefix}_peers"], arrays[f"{prefix}_ptr"]
    plan = {}
    for i, peer in enumerate(peers.tolist()):
        parts = tuple(arrays[v][ptr[i] : ptr[i + 1]] for v in values)
        plan[peer] = parts if len(parts) > 1 else parts[0]
    return plan


def _check_part(root: Path, a: dict, meta: dict) -> None:
    """Cross-check the shapes of one part's arrays (a wrong shape names the file)."""
    num_inner = len(a["indptr"]) - 1
    num_local = len(a["global_ids"])
    num_edges = int(a["indptr"][-1]) if len(a["indptr"]) else 0
    targets = meta["task"] != "multiclass"
    expect = {
        "indices": (num_edges,),
        "in_degree": (num_local,), "out_degree": (num_local,),
        "x": (num_inner, meta["num_features"]), "y": (num_inner, meta["num_outputs"]) if targets else (num_inner,),
        "train_mask": (num_inner,), "val_mask": (num_inner,), "test_mask": (num_inner,),
        "recv_ptr": (len(a["recv_peers"]) + 1,), "recv_slot": (num_local - num_inner,),
        "recv_remote": (num_local - num_inner,), "send_ptr": (len(a["send_peers"]) + 1,),
    }
    if "edge_attr" in a:
        expect["edge_attr"] = (num_edges, meta["num_edge_features"])
    if "node_type" in a:
        expect["node_type"], expect["edge_type"] = (num_local,), (num_edges,)
    dtypes = {"y": np.float32 if targets else np.int64, "x": np.float32, "edge_attr": np.float32,
              "node_type": np.int64, "edge_type": np.int64}
    for name, dtype in dtypes.items():
        if name in a and a[name].dtype != dtype:
            raise PartitionFormatError(f"partition file {root / (name + '.npy')} has dtype {a[name].dtype}, expected "
                                       f"{np.dtype(dtype)}")
    for name, shape in expect.items():
        if a[name].shape != shape:
            raise PartitionFormatError(f"partition file {root / (name + '.npy')} has shape {a[name].shape}, expected {shape}")
    if len(a["indices"]) and (a["indices"].min() < 0 or a["indices"].max() >= num_local):
        raise PartitionFormatError(f"partition file {root / 'indices.npy'} has local ids outside [0, {num_local})")
    check_labels(root / "y.npy", a["y"], meta)
    for name, key in (("node_type", "node_types"), ("edge_type", "relations")):
        if name in a and len(a[name]) and (a[name].min() < 0 or a[name].max() >= len(meta[key])):
            raise PartitionFormatError(f"partition file {root / (name + '.npy')} holds values outside [0, "
                                       f"{len(meta[key])}) ({key} in meta.json)")


def check_labels(path: Path, y: np.ndarray, meta: dict) -> None:
    """What a CRC cannot vouch for in ``y.npy``: class ids in ``[-1, num_classes)`` (``-1`` = unlabelled), or float
    targets finite where they are not ``NaN`` (unlabelled).

    Raises:
        PartitionFormatError: naming the file, the rule and the first bad value.
    """
    if meta["task"] == "multiclass":
        bad = (y < -1) | (y >= meta["num_classes"])
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise PartitionFormatError(f"partition file {path} holds class id {int(y[at])} at row {at}, outside [-1, "
                                       f"{meta['num_classes']}) (num_classes in meta.json): the file was altered")
    elif np.isinf(y).any():
        at = int(np.argwhere(np.isinf(y))[0][0])
        raise PartitionFormatError(f"partition file {path} holds an infinite target at row {at} (targets are finite, "
                                   "NaN where unlabelled): the file was altered")


def check_files_present(path, meta: dict) -> None:
    """Every file ``meta.json`` lists exists with its size (a stat each, no read): what a launcher checks before it
    starts any rank, so that a missing part file is one line, not a job that aborts.

    Raises:
        PartitionFormatError: naming the first missing or resized file.
    """
    root = Path(path)
    for rel, record in meta["files"].items():
        file = root / rel
        if not file.is_file():
            raise PartitionFormatError(f"missing partition file {file} ({META_FILE} lists it)")
        size = file.stat().st_size
        if size != record["size"]:
            raise PartitionFormatError(f"partition file {file} has {size} bytes, expected {record['size']} "
                                       "(truncated or replaced)")


def load_partition(path, part_id: int, verify: bool = True, mmap: bool = False) -> Partition:
    """Load part ``part_id`` of the partition directory ``path``.

    Reads only ``meta.json`` and that part's folder. Every file's size is checked and, with
    ``verify`` (the default), its CRC-32; a mismatch raises :class:`PartitionFormatError`
    naming the file.

    With ``mmap``, the arrays are copy-on-write memory maps of the files instead of copies: a rank that copies
    them on (to tensors, normalised features) does not hold them twice during setup, and no write reaches the
    files.
    """
    root = Path(path)
    meta = read_meta(root)
    num_parts = int(meta["num_parts"])
    if not isinstance(part_id, (int, np.integer)) or not 0 <= part_id < num_parts:
        raise ValueError(f"`part_id` must be in [0, {num_parts}) for {root} (got {part_id})")
    sub = part_dir_name(int(part_id))
    arrays = {}
    for name in part_arrays(meta):
        rel = f"{sub}/{name}.npy"
        if rel not in meta["files"]:
            raise PartitionFormatError(f"{root / META_FILE} lists no file {rel}")
        arrays[name] = read_array(root, rel, meta["files"][rel], verify, mmap)
    _check_part(root / sub, arrays, meta)
    return Partition(
        part_id=int(part_id),
        num_parts=num_parts,
        global_ids=arrays["global_ids"],
        num_inner=len(arrays["indptr"]) - 1,
        indptr=arrays["indptr"],
        indices=arrays["indices"],
        in_degree=arrays["in_degree"],
        out_degree=arrays["out_degree"],
        x=arrays["x"],
        y=arrays["y"],
        train_mask=arrays["train_mask"],
        val_mask=arrays["val_mask"],
        test_mask=arrays["test_mask"],
        recv=_plan(arrays, "recv", ("recv_slot", "recv_remote")),
        send=_plan(arrays, "send", ("send_local",)),
        meta=meta,
        edge_attr=arrays.get("edge_attr"),
        node_type=arrays.get("node_type"),
        edge_type=arrays.get("edge_type"),
    )
