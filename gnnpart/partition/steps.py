"""The steps of writing a partition directory, the same for one writer and for several (:mod:`.parallel`): assign
the nodes, build and write a share of the parts, then the send plans and ``meta.json`` (last)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.mapped import drop_pages
from gnnpart.data.typed import GraphTypes
from gnnpart.partition.assign import assign
from gnnpart.partition.build import build_parts, send_plans
from gnnpart.partition.store import FORMAT_NAME, FORMAT_VERSION, META_FILE, ArrayWriter, part_dir_name
from gnnpart.partition.summary import summarize

log = logging.getLogger(__name__)

_PART_FIELDS = (
    "global_ids", "indptr", "indices", "in_degree", "out_degree", "x", "y", "train_mask", "val_mask", "test_mask",
    "recv_peers", "recv_ptr", "recv_slot", "recv_remote",
)
OPTIONAL_FIELDS = ("edge_attr", "node_type", "edge_type")  # written when the graph has them


def assign_parts(graph: Graph, num_parts: int, method: str, balance: tuple[str, ...], seed: int, timings: dict,
                 threads: int = 1):
    """int64 ``[N]`` owner part of every node (logged)."""
    log.info("assigning %d nodes to %d parts (%s, balance %s, seed %d)", graph.num_nodes, num_parts, method,
             ",".join(balance), seed)
    return assign(graph, num_parts, method, balance, seed, timings, threads)


def write_share(graph: Graph, owner: np.ndarray, num_parts: int, tmp: Path, parts, block_bytes: int) -> dict:
    """Build and write the parts ``parts`` under ``tmp``; what :func:`finish` needs of them.

    Returns:
        dict: ``counts`` (part -> its statistics), ``recv`` (part -> its receive plan) and ``files`` (the size
        and CRC-32 of every file written).
    """
    return write_parts(build_parts(graph, owner, num_parts, block_bytes, parts), num_parts, tmp,
                       after_each=lambda: drop_pages(graph.indices))  # mapped: the part's structure not kept


def write_parts(parts, num_parts: int, tmp: Path, after_each=None) -> dict:
    """Write each :class:`~gnnpart.partition.build.PartArrays` of ``parts`` (but its send plan) under ``tmp``;
    the share :func:`finish` takes (``after_each`` is called after each part is written)."""
    writer = ArrayWriter(tmp)
    counts, recv = {}, {}
    for part in parts:
        sub = part_dir_name(part.part_id)
        for name in _PART_FIELDS:
            writer.save(f"{sub}/{name}.npy", getattr(part, name))
        for name in OPTIONAL_FIELDS:
            if getattr(part, name, None) is not None:
                writer.save(f"{sub}/{name}.npy", getattr(part, name))
        recv[part.part_id] = (part.recv_peers, part.recv_ptr, part.recv_remote)
        counts[part.part_id] = part_counts(part)
        log.info("part %d/%d written: %d inner, %d halo, %d edges", part.part_id + 1, num_parts,
                 part.num_inner, part.num_halo, len(part.indices))
        del part
        if after_each is not None:
            after_each()
    return {"counts": counts, "recv": recv, "files": writer.files}


def part_counts(part) -> dict:
    """The statistics of one part that ``meta.json`` summarises."""
    counts = {"inner": part.num_inner, "halo": part.num_halo, "edges": len(part.indices),
              "train": int(np.asarray(part.train_mask).sum()), "cut": part.num_cut_edges}
    if getattr(part, "node_type", None) is not None:
        counts["types"] = np.bincount(part.node_type[: part.num_inner]).tolist()
        counts["relations"] = np.bincount(np.asarray(part.edge_type)).tolist()
    return counts


def save_send_plan(writer: ArrayWriter, part: int, peers: np.ndarray, ptr: np.ndarray, local: np.ndarray) -> None:
    """Write one part's send plan."""
    sub = part_dir_name(part)
    writer.save(f"{sub}/send_peers.npy", peers)
    writer.save(f"{sub}/send_ptr.npy", ptr)
    writer.save(f"{sub}/send_local.npy", local)


def graph_fields(graph: Graph, dataset: str | None) -> dict:
    """What ``meta.json`` says of the graph (a distributed partitioner gathers the same from its slices)."""
    return {
        "dataset": dataset if dataset is not None else graph.name,
        "num_nodes": graph.num_nodes,
        "num_edges": graph.num_edges,
        "num_features": graph.num_features,
        "num_classes": graph.num_classes,
        "task": graph.task,
        "num_outputs": graph.num_outputs,
        "num_edge_features": graph.num_edge_features,
        "undirected": graph.undirected,
        **({} if graph.types is None else {**graph.types.to_json(), "num_nodes_by_type": np.bincount(
            graph.node_type, minlength=graph.types.num_node_types).tolist()}),
    }


def finish(tmp: Path, shares: list[dict], graph: Graph, num_parts: int, method: str, balance, seed: int,
           dataset: str | None, plan, timings: dict, threads: int = 1) -> dict:
    """Write every part's send plan and ``meta.json`` (last) under ``tmp``, from the shares of all writers
    (``threads``: the partitioner's, recorded for KaMinPar, whose parts depend on them)."""
    writer = ArrayWriter(tmp)
    recv, counts = {}, {}
    for share in shares:
        recv.update(share["recv"])
        counts.update(share["counts"])
        writer.files.update(share["files"])
    for p, (peers, ptr, local) in send_plans(recv, num_parts).items():
        save_send_plan(writer, p, peers, ptr, local)
    memory = {"limit": plan.limit, "metis_estimate": plan.metis, "block_bytes": plan.block_bytes}
    return write_meta(writer, graph_fields(graph, dataset), counts, num_parts, method, balance, seed, memory,
                      timings, {"threads": threads} if method == "kaminpar" else {})


def write_meta(writer: ArrayWriter, fields: dict, counts: dict, num_parts: int, method: str, balance, seed: int,
               memory_plan: dict, timings: dict, extra: dict) -> dict:
    """Write ``meta.json`` (last) with every file ``writer`` has recorded; returns its contents."""
    timings.setdefault("total_s", 0.0)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        **fields,
        "num_parts": num_parts,
        "method": method,
        "balance": list(balance) if method != "random" else [],
        "seed": seed,
        **extra,
        "stats": summarize([counts[p] for p in range(num_parts)], GraphTypes.from_json(fields)),
        "timing_s": {k: round(v, 4) for k, v in timings.items()},
        "memory_plan": memory_plan,
        "files": dict(sorted(writer.files.items(), key=lambda kv: _file_order(kv[0]))),
    }
    writer.save_json(META_FILE, meta)
    return meta


def _file_order(rel: str) -> tuple:
    """Files listed part by part, in the order a single writer writes them."""
    sub, name = rel.split("/", 1)
    fields = _PART_FIELDS + OPTIONAL_FIELDS + ("send_peers", "send_ptr", "send_local")
    stem = name.removesuffix(".npy")
    return int(sub.split("-")[1]), fields.index(stem) if stem in fields else len(fields)
