"""``gnnpart inspect --verify``: every file against its size and CRC-32, and what a CRC cannot vouch for.

A CRC only says a file is the one that was written. A partition directory can also be wrong inside consistent
files (written by a buggy tool, or edited and re-checksummed), so the contents are checked too: every index in
range, every node owned by exactly one part, each halo slot filled once, and each part's send list for a peer
equal to that peer's receive list (the same rows, in the same order, with the same global ids).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gnnpart.data.typed import GraphTypes, type_offsets
from gnnpart.errors import PartitionFormatError
from gnnpart.partition.store import META_FILE, load_partition, part_arrays, part_dir_name, read_meta


_BLOCK_ENTRIES = 1 << 24  # feature entries checked at a time


def _fail(where: Path, rule: str) -> None:
    raise PartitionFormatError(f"{where}: {rule}")


def _check_part(root: Path, part, meta: dict) -> None:
    where = root / part_dir_name(part.part_id)
    n, inner, local = meta["num_nodes"], part.num_inner, part.num_local
    ids = part.global_ids
    if len(ids) and (ids.min() < 0 or ids.max() >= n):
        _fail(where / "global_ids.npy", f"global ids must be in [0, {n})")
    if inner > 1 and np.any(np.diff(ids[:inner]) <= 0):
        _fail(where / "global_ids.npy", "the inner nodes' global ids must be ascending")
    if part.indptr[0] != 0 or np.any(np.diff(part.indptr) < 0):
        _fail(where / "indptr.npy", "offsets must start at 0 and never decrease")
    if np.any(part.in_degree < 0) or np.any(part.out_degree < 0):
        _fail(where, "degrees must be >= 0")
    y = part.y
    if meta["task"] == "multiclass" and len(y) and (y.min() < -1 or y.max() >= max(meta["num_classes"], 1)):
        _fail(where / "y.npy", f"labels must be -1 or in [0, {meta['num_classes']})")
    if meta["task"] != "multiclass" and np.isinf(y).any():
        _fail(where / "y.npy", "targets must be finite, or NaN for an unlabelled entry")
    if meta["task"] == "multilabel" and np.any((y != 0) & (y != 1) & ~np.isnan(y)):
        _fail(where / "y.npy", "multi-label targets must be 0, 1 or NaN")
    if part.edge_attr is not None and not np.isfinite(part.edge_attr).all():
        _fail(where / "edge_attr.npy", "edge features must be finite")
    if part.node_type is not None:
        _check_types(where, part, meta)
    filled = np.zeros(local - inner, dtype=np.int64)
    for peer, (slots, remote) in part.recv.items():
        if not 0 <= peer < part.num_parts or peer == part.part_id:
            _fail(where / "recv_peers.npy", f"peer {peer} must be another part in [0, {part.num_parts})")
        if len(slots) and (slots.min() < inner or slots.max() >= local):
            _fail(where / "recv_slot.npy", f"halo slots must be in [{inner}, {local})")
        np.add.at(filled, slots - inner, 1)
    if np.any(filled != 1):
        _fail(where / "recv_slot.npy", "every halo slot must be filled by exactly one entry")
    for peer, local_ids in part.send.items():
        if not 0 <= peer < part.num_parts or peer == part.part_id:
            _fail(where / "send_peers.npy", f"peer {peer} must be another part in [0, {part.num_parts})")
        if len(local_ids) and (local_ids.min() < 0 or local_ids.max() >= inner):
            _fail(where / "send_local.npy", f"sent rows must be inner local ids in [0, {inner})")


def _check_types(where: Path, part, meta: dict) -> None:
    """A typed part: each local node's type is the block of its global id, each edge's relation joins the types of
    its ends."""
    first = type_offsets(meta["num_nodes_by_type"])
    block = np.searchsorted(first, part.global_ids, side="right") - 1
    if np.any(part.node_type != block):
        _fail(where / "node_type.npy", "each node's type must be the type whose block of global ids holds it")
    widths = np.asarray(meta["type_widths"], dtype=np.int64)
    columns = np.arange(part.x.shape[1])
    step = max(1, _BLOCK_ENTRIES // max(1, len(columns)))
    for start in range(0, part.num_inner, step):  # x holds the inner rows; in blocks: it may be mapped and large
        rows = slice(start, min(start + step, part.num_inner))
        beyond = (columns[None, :] >= widths[part.node_type[rows]][:, None]) & (np.asarray(part.x[rows]) != 0)
        if beyond.any():  # a row of type t holds features past its width: meta.json's type_widths are wrong
            row, col = (int(v[0]) for v in np.nonzero(beyond))
            t = int(part.node_type[start + row])
            _fail(where / "x.npy", f"a node of type '{meta['node_types'][t]}' must have zeros past its type's "
                                   f"{int(widths[t])} features (`type_widths` of meta.json), but local node "
                                   f"{start + row} has feature {col} set")
    ends = GraphTypes.from_json(meta).relation_ends()
    dst = np.repeat(np.arange(part.num_inner), np.diff(part.indptr))
    if len(dst) and (np.any(part.node_type[part.indices] != ends[part.edge_type, 0])
                     or np.any(part.node_type[dst] != ends[part.edge_type, 1])):
        _fail(where / "edge_type.npy", "each edge's relation must join the types of its source and destination")


def verify_partition(path) -> dict:
    """Check a partition directory completely (see the module docstring).

    Returns:
        ``{"files": number checked, "unchecked": [entries of meta.json that belong to no part], "parts": P}``.

    Raises:
        PartitionFormatError: at the first problem, naming the file and the rule.
    """
    root = Path(path)
    meta = read_meta(root)
    parts = [load_partition(root, p, verify=True) for p in range(meta["num_parts"])]
    expected = {f"{part_dir_name(p)}/{name}.npy" for p in range(meta["num_parts"]) for name in part_arrays(meta)}
    unchecked = sorted(set(meta["files"]) - expected)
    owned = np.zeros(meta["num_nodes"], dtype=np.int64)
    for part in parts:
        _check_part(root, part, meta)
        np.add.at(owned, part.global_ids[: part.num_inner], 1)
    if np.any(owned != 1):
        node = int(np.flatnonzero(owned != 1)[0])
        _fail(root / META_FILE, f"every node must be the inner node of exactly one part (node {node} is owned "
                                f"{int(owned[node])} times)")
    for part in parts:
        for peer, (slots, remote) in part.recv.items():
            sent = parts[peer].send.get(part.part_id)
            where = root / part_dir_name(peer) / "send_local.npy"
            if sent is None or len(sent) != len(remote) or np.any(sent != remote):
                _fail(where, f"part {peer}'s rows for part {part.part_id} must equal part {part.part_id}'s "
                             f"recv_remote entries for it, in order")
            if np.any(parts[peer].global_ids[sent] != part.global_ids[slots]):
                _fail(where, f"part {peer} sends part {part.part_id} rows of other nodes than the halo slots they fill")
        for peer in part.send:
            if part.part_id not in parts[peer].recv:
                _fail(root / part_dir_name(part.part_id) / "send_peers.npy",
                      f"part {part.part_id} sends to part {peer}, which receives nothing from it")
    return {"files": len(expected), "unchecked": unchecked, "parts": len(parts)}
