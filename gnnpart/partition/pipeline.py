"""``partition_graph``: assign nodes to parts, build each part, write the partition directory."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.partition.assign import METHODS, assign, parse_balance
from gnnpart.partition.atomic import atomic_directory, check_output_dir
from gnnpart.data.mapped import drop_pages
from gnnpart.partition.build import build_parts, send_plans
from gnnpart.partition.memory import plan_memory
from gnnpart.partition.stats import summarize
from gnnpart.partition.store import (
    FORMAT_NAME, FORMAT_VERSION, META_FILE, ArrayWriter, part_dir_name,
)

log = logging.getLogger(__name__)

_PART_FIELDS = (
    "global_ids", "indptr", "indices", "in_degree", "out_degree", "x", "y", "train_mask", "val_mask", "test_mask",
    "recv_peers", "recv_ptr", "recv_slot", "recv_remote",
)


def _check_args(graph: Graph, num_parts, method: str, seed) -> None:
    if not isinstance(graph, Graph):
        raise TypeError(f"`graph` must be a gnnpart.data.Graph (got {type(graph).__name__})")
    if isinstance(num_parts, bool) or not isinstance(num_parts, (int, np.integer)):
        raise ValueError(f"`num_parts` must be an integer (got {num_parts!r})")
    if not 1 <= num_parts <= max(graph.num_nodes, 1) or graph.num_nodes == 0:
        raise ValueError(f"`num_parts` must be between 1 and the number of nodes ({graph.num_nodes}) (got {num_parts})")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)} (got '{method}')")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**31:
        raise ValueError(f"`seed` must be an integer in [0, 2**31) (got {seed!r})")


def partition_graph(
    graph: Graph,
    num_parts: int,
    out_dir,
    method: str = "metis",
    balance="nodes,train",
    seed: int = 0,
    overwrite: bool = False,
    dataset: str | None = None,
    max_memory: float | None = None,
    comm=None,
) -> dict:
    """Split ``graph`` into ``num_parts`` parts and write the partition directory ``out_dir``.

    Args:
        graph (Graph): the graph to split.
        num_parts (int): number of parts, between 1 and the number of nodes.
        out_dir (str or Path): directory to create (format in :mod:`gnnpart.partition.store`).
        method (str): ``"metis"`` (k-way, minimum edge cut, balanced) or ``"random"`` (uniform owner).
        balance (str or list of str): constraints METIS balances, from ``nodes``, ``edges`` (in-edges)
            and ``train`` (training nodes). Default ``"nodes,train"``. Ignored by ``random``.
        seed (int): seed of METIS or of the random assignment; same seed, same files.
        overwrite (bool): replace an existing ``out_dir`` (atomically).
        dataset (str, optional): the dataset spec, recorded in ``meta.json`` (default ``graph.name``).
        max_memory (float, optional): bytes partitioning may use (default: the memory available). Refused up
            front, with the estimate, when METIS cannot fit (:mod:`gnnpart.partition.memory`); otherwise it sizes
            the blocks in which features are copied. The features do not count: open a large graph memory-mapped
            (a graph directory, :mod:`gnnpart.data.graph_dir`).
        comm (mpi4py communicator, optional): write the parts in parallel, one share per rank
            (:mod:`gnnpart.partition.parallel`); every rank calls this with the same arguments and gets the same
            result. Default: one writer.

    Returns:
        dict: the contents written to ``meta.json`` (statistics under ``stats``).

    Raises:
        ValueError: for a bad argument (names the argument and the value).
        FileExistsError: if ``out_dir`` exists and ``overwrite`` is false.
        ResourceError: if METIS would not fit in ``max_memory`` (one line, with the estimate).
    """
    _check_args(graph, num_parts, method, seed)
    num_parts, seed = int(num_parts), int(seed)
    balance = parse_balance(balance)
    if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, (int, float))
                                   or not 0 < max_memory < float("inf")):
        raise ValueError(f"`max_memory` must be a positive number of bytes (got {max_memory!r})")
    if comm is not None and comm.Get_size() > 1:  # rank 0 checks the output and the memory, and tells the others
        from gnnpart.partition.parallel import partition_in_parallel

        meta = partition_in_parallel(comm, graph, num_parts, out_dir, method, balance, seed, overwrite, dataset,
                                     max_memory)
    else:
        check_output_dir(out_dir, overwrite)
        plan = plan_memory(graph, num_parts, method, len(balance), max_memory)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        owner = assign_parts(graph, num_parts, method, balance, seed, timings)
        timings["assign_s"] = time.perf_counter() - start
        with atomic_directory(out_dir, overwrite) as tmp:
            share = write_share(graph, owner, num_parts, tmp, range(num_parts), plan.block_bytes)
            timings["total_s"] = time.perf_counter() - start
            meta = finish(tmp, [share], graph, num_parts, method, balance, seed, dataset, plan, timings)
    counts, stats = meta["stats"]["parts"], meta["stats"]
    if any(c["inner"] == 0 for c in counts):
        log.warning("some parts are empty: %s", [i for i, c in enumerate(counts) if c["inner"] == 0])
    log.info("wrote %s: edge cut %d, halo rows %d, %.2f s", Path(out_dir), stats["edge_cut"], stats["halo_rows_total"],
             meta["timing_s"]["total_s"])
    return meta


def assign_parts(graph: Graph, num_parts: int, method: str, balance: tuple[str, ...], seed: int, timings: dict):
    """int64 ``[N]`` owner part of every node (logged)."""
    log.info("assigning %d nodes to %d parts (%s, balance %s, seed %d)", graph.num_nodes, num_parts, method,
             ",".join(balance), seed)
    return assign(graph, num_parts, method, balance, seed, timings)


def write_share(graph: Graph, owner: np.ndarray, num_parts: int, tmp: Path, parts, block_bytes: int) -> dict:
    """Build and write the parts ``parts`` under ``tmp``; what :func:`finish` needs of them.

    Returns:
        dict: ``counts`` (part -> its statistics), ``recv`` (part -> its receive plan) and ``files`` (the size
        and CRC-32 of every file written).
    """
    writer = ArrayWriter(tmp)
    counts, recv = {}, {}
    for part in build_parts(graph, owner, num_parts, block_bytes, parts):
        sub = part_dir_name(part.part_id)
        for name in _PART_FIELDS:
            writer.save(f"{sub}/{name}.npy", getattr(part, name))
        if part.edge_attr is not None:
            writer.save(f"{sub}/edge_attr.npy", part.edge_attr)
        recv[part.part_id] = (part.recv_peers, part.recv_ptr, part.recv_remote)
        counts[part.part_id] = {
            "inner": part.num_inner, "halo": part.num_halo, "edges": len(part.indices),
            "train": int(part.train_mask.sum()), "cut": part.num_cut_edges,
        }
        log.info("part %d/%d written: %d inner, %d halo, %d edges", part.part_id + 1, num_parts,
                 part.num_inner, part.num_halo, len(part.indices))
        del part
        drop_pages(graph.indices)  # memory-mapped: the structure read for this part does not stay resident
    return {"counts": counts, "recv": recv, "files": writer.files}


def finish(tmp: Path, shares: list[dict], graph: Graph, num_parts: int, method: str, balance, seed: int,
           dataset: str | None, plan, timings: dict) -> dict:
    """Write every part's send plan and ``meta.json`` (last) under ``tmp``, from the shares of all writers."""
    writer = ArrayWriter(tmp)
    recv, counts = {}, {}
    for share in shares:
        recv.update(share["recv"])
        counts.update(share["counts"])
        writer.files.update(share["files"])
    for p, (peers, ptr, local) in send_plans(recv, num_parts).items():
        sub = part_dir_name(p)
        writer.save(f"{sub}/send_peers.npy", peers)
        writer.save(f"{sub}/send_ptr.npy", ptr)
        writer.save(f"{sub}/send_local.npy", local)
    timings.setdefault("total_s", 0.0)
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "dataset": dataset if dataset is not None else graph.name,
        "num_nodes": graph.num_nodes,
        "num_edges": graph.num_edges,
        "num_parts": num_parts,
        "num_features": graph.num_features,
        "num_classes": graph.num_classes,
        "task": graph.task,
        "num_outputs": graph.num_outputs,
        "num_edge_features": graph.num_edge_features,
        "undirected": graph.undirected,
        "method": method,
        "balance": list(balance) if method == "metis" else [],
        "seed": seed,
        "stats": summarize([counts[p] for p in range(num_parts)]),
        "timing_s": {k: round(v, 4) for k, v in timings.items()},
        "memory_plan": {"limit": plan.limit, "metis_estimate": plan.metis, "block_bytes": plan.block_bytes},
        "files": dict(sorted(writer.files.items(), key=lambda kv: _file_order(kv[0]))),
    }
    writer.save_json(META_FILE, meta)
    return meta


def _file_order(rel: str) -> tuple:
    """Files listed part by part, in the order a single writer writes them."""
    sub, name = rel.split("/", 1)
    fields = _PART_FIELDS + ("edge_attr", "send_peers", "send_ptr", "send_local")
    stem = name.removesuffix(".npy")
    return int(sub.split("-")[1]), fields.index(stem) if stem in fields else len(fields)
