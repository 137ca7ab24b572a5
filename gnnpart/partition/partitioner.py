"""``partition_graph``: check the arguments, then write the partition directory with one writer, or with several
MPI ranks (:mod:`gnnpart.partition.parallel`); both run the steps of :mod:`gnnpart.partition.steps`."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from gnnpart.atomic import atomic_directory, check_output_dir
from gnnpart.data.graph import Graph
from gnnpart.partition.assign import DISTRIBUTED_METHODS, METHODS, num_constraints, parse_balance
from gnnpart.partition.memory import plan_memory
from gnnpart.partition.parallel import partition_in_parallel
from gnnpart.partition.steps import assign_parts, finish, write_share
from gnnpart.limits import allowed_cpus

log = logging.getLogger(__name__)

def _check_args(graph: Graph, num_parts, method: str, seed, threads) -> None:
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
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                or threads < 1):
        raise ValueError(f"`threads` must be an integer >= 1 (got {threads!r})")


def partition_graph(
    graph: Graph,
    num_parts: int,
    out_dir,
    method: str = "metis",
    balance=None,
    seed: int = 0,
    overwrite: bool = False,
    dataset: str | None = None,
    max_memory: float | None = None,
    comm=None,
    threads: int | None = None,
) -> dict:
    """Split ``graph`` into ``num_parts`` parts and write the partition directory ``out_dir``.

    Args:
        graph (Graph): the graph to split.
        num_parts (int): number of parts, between 1 and the number of nodes.
        out_dir (str or Path): directory to create (format in :mod:`gnnpart.partition.store`).
        method (str): ``"metis"`` (k-way, minimum edge cut, every constraint balanced), ``"kaminpar"``
            (KaMinPar k-way, multi-threaded, one combined weight balanced; needs ``pip install kaminpar``),
            ``"ptscotch"`` (PT-Scotch k-way on the MPI ranks of ``comm``, each reading only its slice of the graph,
            one combined weight balanced; needs PT-Scotch and mpi4py on Open MPI, :mod:`gnnpart.partition.distributed`)
            or ``"random"`` (uniform owner).
        balance (str or list of str): constraints to balance, from ``nodes``, ``edges`` (in-edges), ``train``
            (training nodes) and ``types`` (the nodes of each node type, one constraint per type; ``nodes`` on an
            untyped graph). Default ``"nodes,train"`` for METIS (each within 3%; ``"types,edges,train"`` on a typed
            graph), ``"nodes,edges"`` for KaMinPar and PT-Scotch, which balance one weight combined from them
            within 3% (:func:`gnnpart.partition.assign.single_weight`). Ignored by ``random``.
        seed (int): seed of the partitioner; same seed, same files (for KaMinPar: on one thread; not for
            PT-Scotch, whose result depends on the order in which its ranks' messages arrive).
        overwrite (bool): replace an existing ``out_dir`` (atomically).
        dataset (str, optional): the dataset spec, recorded in ``meta.json`` (default ``graph.name``).
        max_memory (float, optional): bytes partitioning may use (default: the memory available). Refused up
            front, with the estimate, when METIS or KaMinPar cannot fit (:mod:`gnnpart.partition.memory`); otherwise it sizes
            the blocks in which features are copied. The features do not count: open a large graph memory-mapped
            (a graph directory, :mod:`gnnpart.data.graph_dir`).
        comm (mpi4py communicator, optional): write the parts in parallel, one share per rank
            (:mod:`gnnpart.partition.parallel`); every rank calls this with the same arguments and gets the same
            result. Default: one writer (for ``ptscotch``: the ranks of ``MPI.COMM_WORLD``; ``max_memory`` is then
            per rank).
        threads (int, optional): KaMinPar's threads (default: the cores this process may use; recorded in
            ``meta.json``). With more than one, KaMinPar's parts can differ from run to run. Ignored by the others.

    Returns:
        dict: the contents written to ``meta.json`` (statistics under ``stats``).

    Raises:
        ValueError: for a bad argument (names the argument and the value).
        FileExistsError: if ``out_dir`` exists and ``overwrite`` is false.
        ResourceError: if METIS or KaMinPar would not fit in ``max_memory`` (one line, with the estimate).
        ConfigError: if ``method="kaminpar"`` and KaMinPar is not installed (one line: what to install).
        PartitionerError: if the partitioner fails (one line).
    """
    _check_args(graph, num_parts, method, seed, threads)
    num_parts, seed = int(num_parts), int(seed)
    threads = len(allowed_cpus()) if threads is None else int(threads)
    balance = parse_balance(balance, method, graph.is_typed)
    if graph.is_typed and method in DISTRIBUTED_METHODS:
        from gnnpart.partition.graph_slice import TYPED_REFUSAL

        raise ValueError(TYPED_REFUSAL)
    if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, (int, float))
                                   or not 0 < max_memory < float("inf")):
        raise ValueError(f"`max_memory` must be a positive number of bytes (got {max_memory!r})")
    if method in DISTRIBUTED_METHODS:  # every rank holds a slice only (gnnpart.partition.distributed)
        from gnnpart.partition.distributed import partition_distributed

        if comm is None:  # alone: refused here in one line when PT-Scotch or Open MPI is missing
            from gnnpart.partition.ptscotch import require_installed, require_ptscotch

            require_installed()
            from mpi4py import MPI

            require_ptscotch(MPI.Get_library_version())
            comm = MPI.COMM_WORLD
        meta = partition_distributed(comm, graph, num_parts, out_dir, balance, seed, overwrite, dataset,
                                     max_memory)
    elif comm is not None and comm.Get_size() > 1:  # rank 0 checks the output and the memory, and tells the others
        meta = partition_in_parallel(comm, graph, num_parts, out_dir, method, balance, seed, overwrite, dataset,
                                     max_memory, threads)
    else:
        check_output_dir(out_dir, overwrite)
        plan = plan_memory(graph, num_parts, method, num_constraints(graph, balance), max_memory)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        owner = assign_parts(graph, num_parts, method, balance, seed, timings, threads)
        timings["assign_s"] = time.perf_counter() - start
        with atomic_directory(out_dir, overwrite) as tmp:
            share = write_share(graph, owner, num_parts, tmp, range(num_parts), plan.block_bytes)
            timings["total_s"] = time.perf_counter() - start
            meta = finish(tmp, [share], graph, num_parts, method, balance, seed, dataset, plan, timings, threads)
    counts, stats = meta["stats"]["parts"], meta["stats"]
    if any(c["inner"] == 0 for c in counts):
        log.warning("some parts are empty: %s", [i for i, c in enumerate(counts) if c["inner"] == 0])
    log.info("wrote %s: edge cut %d, halo rows %d, %.2f s", Path(out_dir), stats["edge_cut"], stats["halo_rows_total"],
             meta["timing_s"]["total_s"])
    return meta
