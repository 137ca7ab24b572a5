"""Partitioning on MPI ranks that each hold only a slice of the graph: ``--method ptscotch``.

Rank ``r`` of ``P`` reads the rows of its nodes ``[lo, hi)`` (:mod:`.graph_slice`: mapped from a graph directory,
only its share), then, each step agreed by all ranks (a failure on any fails all of them, naming each failing rank,
and nothing is left):

1. **symmetric adjacency**: every stored edge ``u -> v`` (in ``v``'s row) is sent, reversed, to the rank holding
   ``u`` (one bounded all-to-all, :mod:`.shuffle`); a rank then has its nodes' in- and out-neighbours, so their
   out-degrees and their undirected adjacency without self loops (skipped for a graph marked undirected);
2. **one weight per node** from ``balance`` by :func:`gnnpart.partition.assign.combine_weights`, the constraints'
   totals summed over the ranks (the weights one process would give);
3. **PT-Scotch** (:mod:`.ptscotch`) gives the part of each node of the slice;
4. each node's **local id** in its part (its rank among the part's nodes by global id: the counts of the slices
   before this one, plus its rank here), so the parts are numbered as :mod:`.build` numbers them;
5. the **rows go to their writer**: part ``k`` is built by rank ``k mod P``, which receives its inner nodes' rows,
   in-edges, features, labels, masks and edge features (bounded all-to-alls), and asks the ranks holding its
   in-neighbours for their part, local id and degrees (:func:`~.shuffle.lookup`);
6. each writer builds and writes its parts in today's format (:class:`~.build.PartArrays`), sends each receive
   plan to the writer of the part that must send it, and writes the send plans it gets;
7. rank 0 gathers the statistics and file records, writes ``meta.json`` last and renames the folder into place.

No rank holds the whole structure or all the features: a rank holds its slice, its share of the exchange, and the
parts it writes (about ``1 / P`` of everything when ``P`` divides the parts). Given the same node-to-part
assignment, the files are byte for byte those of one process (``tests/partition/test_ptscotch.py``).
"""
from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.labels import TASKS
from gnnpart.errors import ResourceError
from gnnpart.data.sliced import ranks_on_host
from gnnpart.limits import allowed_cpus, available_memory, format_bytes
from gnnpart.partition import ptscotch
from gnnpart.partition.assign import combine_weights
from gnnpart.partition.build import PartArrays, Rows
from gnnpart.partition.memory import ptscotch_slice_bytes
from gnnpart.partition.graph_slice import TYPED_REFUSAL, GraphSlice, from_graph, open_slice, slice_bounds
from gnnpart.partition.parallel import WritersFailed, abort_writers, agree
from gnnpart.shuffle import BLOCK_BYTES, exchange, holder_of, lookup
from gnnpart.partition.steps import save_send_plan, write_meta, write_parts
from gnnpart.partition.store import ArrayWriter
from gnnpart.processes import attempt

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ the steps
def symmetric_slice(comm, piece: GraphSlice, bounds: np.ndarray, block_bytes: int):
    """``(xadj, adjncy, out_degree)``: the undirected adjacency of the slice's nodes (global ids, sorted, distinct,
    no self loops) and each node's out-degree in the stored graph."""
    n = piece.num_nodes
    rows = piece.lo + np.repeat(np.arange(piece.num_rows, dtype=np.int64), piece.in_degree())
    cols = piece.indices
    if piece.undirected:  # the rows are the adjacency already (sorted, distinct): only the self loops go
        out_degree = piece.in_degree().astype(np.int64)
        keep = cols != rows
        local, adjncy = rows[keep] - piece.lo, cols[keep]
    else:
        reverse = exchange(comm, holder_of(bounds, cols), np.stack([cols, rows], axis=1), block_bytes)
        out_degree = np.bincount(reverse[:, 0] - piece.lo, minlength=piece.num_rows).astype(np.int64)
        keys = np.concatenate([(rows - piece.lo) * n + cols, (reverse[:, 0] - piece.lo) * n + reverse[:, 1]])
        del reverse, rows
        keys.sort()
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
        local, adjncy = np.divmod(keys, n)
        del keys
        keep = adjncy != local + piece.lo
        local, adjncy = local[keep], adjncy[keep]
    xadj = np.zeros(piece.num_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(local, minlength=piece.num_rows), out=xadj[1:])
    return xadj, np.ascontiguousarray(adjncy, dtype=np.int64), out_degree


def slice_weights(comm, piece: GraphSlice, balance: tuple[str, ...]) -> np.ndarray:
    """One weight per node of the slice, as :func:`gnnpart.partition.assign.single_weight` gives on the whole graph."""
    from mpi4py import MPI

    columns = {"nodes": lambda: np.ones(piece.num_rows, dtype=np.int64), "edges": piece.in_degree,
               "train": lambda: np.asarray(piece.train_mask).astype(np.int64)}
    cols = np.stack([columns[name]() for name in balance], axis=1).astype(np.int64)
    totals = np.zeros(len(balance), dtype=np.float64)
    comm.Allreduce(cols.sum(axis=0).astype(np.float64), totals, op=MPI.SUM)
    return combine_weights(cols, totals, piece.num_nodes, balance)


def scotch_cores(comm) -> list[int]:
    """The cores this rank gives PT-Scotch: the cores of its host dealt out to the host's ranks (a rank gets
    ``cores // ranks`` of them, at least one; with more ranks than cores, ranks share cores in turn)."""
    from mpi4py import MPI

    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        mine, ranks = local.Get_rank(), local.Get_size()
    finally:
        local.Free()
    cpus = sorted(allowed_cpus())
    share = max(1, len(cpus) // ranks)
    return [cpus[(mine * share + i) % len(cpus)] for i in range(share)]


def local_ids(comm, part: np.ndarray, num_parts: int) -> np.ndarray:
    """Each node's local id in its part: its rank among the part's nodes in ascending global id."""
    counts = np.bincount(part, minlength=num_parts).astype(np.int64)
    every = np.array(comm.allgather(counts), dtype=np.int64).reshape(comm.Get_size(), num_parts)
    before = every[:comm.Get_rank()].sum(axis=0)
    order = np.argsort(part, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.empty(len(part), dtype=np.int64)
    within[order] = np.arange(len(part), dtype=np.int64) - np.repeat(starts, counts)
    return before[part] + within


def _gather_edges(edge_ptr: np.ndarray, rows: np.ndarray):
    """``(local indptr, positions of the edges of ``rows``)`` in a CSR of offsets ``edge_ptr``."""
    deg = edge_ptr[rows + 1] - edge_ptr[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    positions = np.arange(indptr[-1], dtype=np.int64) + np.repeat(edge_ptr[rows] - indptr[:-1], deg)
    return indptr, positions


def build_received(part_id: int, info: np.ndarray, edge_ptr: np.ndarray, src: np.ndarray, src_info: np.ndarray,
                   x: np.ndarray, y: np.ndarray, masks: np.ndarray, edge_attr: np.ndarray | None) -> PartArrays:
    """One part's arrays from the rows its writer received.

    Args:
        info (np.ndarray): int64 ``[R, 4]`` of every received row: global id, part, in-degree, out-degree (rows
            in ascending global id within a part).
        edge_ptr (np.ndarray): int64 ``[R + 1]`` offsets of each row's in-edges into ``src``.
        src (np.ndarray): int64 global sources of the received rows' in-edges.
        src_info (np.ndarray): int64 ``[len(src), 4]``: each source's part, local id, in- and out-degree.
    """
    rows = np.flatnonzero(info[:, 1] == part_id)
    inner = info[rows, 0]
    indptr, positions = _gather_edges(edge_ptr, rows)
    sources, about = src[positions], src_info[positions]
    remote = about[:, 0] != part_id
    keys = about[remote, 0] * (1 << 40) + sources[remote]  # halo order: by owner, then global id
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    first = np.concatenate([[True], keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=bool)
    halo_at = np.flatnonzero(remote)[order][first]  # one edge of each halo node
    halo, halo_owner = sources[halo_at], about[halo_at, 0]
    global_ids = np.concatenate([inner, halo])
    by_id = np.argsort(global_ids, kind="stable")
    indices = by_id[np.searchsorted(global_ids[by_id], sources)]
    num_inner = len(inner)
    starts = np.flatnonzero(np.diff(halo_owner, prepend=-1)) if len(halo) else np.zeros(0, dtype=np.int64)
    return PartArrays(
        part_id=part_id, global_ids=global_ids, num_inner=num_inner, indptr=indptr, indices=indices.astype(np.int64),
        in_degree=np.concatenate([info[rows, 2], about[halo_at, 2]]),
        out_degree=np.concatenate([info[rows, 3], about[halo_at, 3]]),
        x=Rows(x, rows), y=Rows(y, rows), train_mask=masks[rows, 0].astype(bool),
        val_mask=masks[rows, 1].astype(bool), test_mask=masks[rows, 2].astype(bool),
        recv_peers=halo_owner[starts], recv_ptr=np.append(starts, len(halo)).astype(np.int64),
        recv_slot=np.arange(num_inner, len(global_ids), dtype=np.int64), recv_remote=about[halo_at, 1],
        num_cut_edges=int(remote.sum()),
        edge_attr=None if edge_attr is None else Rows(edge_attr, positions))


def send_plans_across(comm, recv: dict, num_parts: int, mine, block_bytes: int) -> dict:
    """Each receive plan goes to the writer of the part that sends it; returns the send plans of ``mine``, as
    :func:`gnnpart.partition.build.send_plans` makes them on one process."""
    size = comm.Get_size()
    triples = [np.stack([np.full(ptr[i + 1] - ptr[i], peer), np.full(ptr[i + 1] - ptr[i], q), remote[ptr[i]:ptr[i + 1]]],
                        axis=1) for q, (peers, ptr, remote) in sorted(recv.items())
               for i, peer in enumerate(peers.tolist())]
    triples = np.concatenate(triples).astype(np.int64) if triples else np.zeros((0, 3), dtype=np.int64)
    got = exchange(comm, triples[:, 0] % size, triples, block_bytes)
    got = got[np.lexsort((got[:, 1], got[:, 0]))]  # stable: each pair's rows keep the receiver's slot order
    plans = {}
    for p in mine:
        mine_rows = got[got[:, 0] == p]
        peers, counts = np.unique(mine_rows[:, 1], return_counts=True)
        ptr = np.zeros(len(peers) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        plans[p] = (peers.astype(np.int64), ptr, mine_rows[:, 2].copy())
    return plans


def graph_fields(comm, piece: GraphSlice, dataset: str | None) -> dict:
    """What ``meta.json`` says of the graph, agreed from the slices."""
    y = np.asarray(piece.y)
    if y.ndim == 1:
        top = comm.allreduce(int(y.max()) if len(y) else -1, op=_max())
        task, classes, outputs = "multiclass", top + 1 if top >= 0 else 0, top + 1 if top >= 0 else 0
    else:
        known = y[~np.isnan(y)]
        binary = comm.allreduce(bool(np.all((known == 0) | (known == 1))), op=_land())
        task, classes, outputs = "multilabel" if binary else "regression", 0, y.shape[1]
    assert task in TASKS
    return {"dataset": dataset if dataset is not None else piece.name, "num_nodes": piece.num_nodes,
            "num_edges": piece.num_edges, "num_features": int(piece.x.shape[1]), "num_classes": classes,
            "task": task, "num_outputs": outputs,
            "num_edge_features": 0 if piece.edge_attr is None else int(piece.edge_attr.shape[1]),
            "undirected": piece.undirected}


def _max():
    from mpi4py import MPI

    return MPI.MAX


def _land():
    from mpi4py import MPI

    return MPI.LAND


# ------------------------------------------------------------------------------------------ the driver
def partition_distributed(comm, source, num_parts: int, out_dir, balance: tuple[str, ...], seed: int = 0,
                          overwrite: bool = False, dataset: str | None = None, max_memory: float | None = None,
                          block_bytes: int = BLOCK_BYTES) -> dict:
    """Partition with PT-Scotch on the ranks of ``comm`` and write the partition directory (the module's steps).

    Every rank calls this with the same arguments and gets the same result.

    Args:
        comm: mpi4py communicator, on Open MPI (the MPI PT-Scotch links).
        source (Graph or path): the graph, or the path of a graph directory (each rank maps only its slice).
        num_parts (int), out_dir, balance (tuple of str), seed (int), overwrite (bool), dataset (str): as
            :func:`gnnpart.partition.partition_graph`.
        max_memory (float, optional): bytes each rank may use (default: the memory available to it); a slice
            whose estimate exceeds it is refused before anything is built.
        block_bytes (int): bytes a rank sends per round of an all-to-all.

    Returns:
        dict: ``meta.json`` (on every rank).

    Raises:
        WritersFailed: when a step fails on any rank (on every rank, naming the ranks and their errors).
    """
    if isinstance(source, Graph) and source.is_typed:
        raise ValueError(TYPED_REFUSAL)
    rank, size = comm.Get_rank(), comm.Get_size()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    done, rename_error, meta = False, None, None
    try:
        with ExitStack() as stack:
            from mpi4py import MPI

            from gnnpart.atomic import atomic_directory, check_output_dir

            def prepare():
                ptscotch.require_ptscotch(MPI.Get_library_version())
                if rank == 0:
                    check_output_dir(out_dir, overwrite)

            _, error = attempt(prepare)
            agree(comm, error, "checking PT-Scotch and the output")

            def read():
                if isinstance(source, Graph):
                    bounds = slice_bounds(source.indptr, size)
                    return from_graph(source, int(bounds[rank]), int(bounds[rank + 1])), bounds
                piece = open_slice(source, rank, size)
                return piece, None

            got, error = attempt(read)
            if error is None and not 1 <= num_parts <= got[0].num_nodes:
                error = ValueError(f"`num_parts` must be between 1 and the number of nodes ({got[0].num_nodes}) (got "
                                   f"{num_parts})")
            agree(comm, error, "reading the slices")
            piece, bounds = got
            on_host = collective(comm, ranks_on_host, comm)
            bounds = bounds if bounds is not None else np.array(comm.allgather(piece.lo) + [piece.num_nodes],
                                                                dtype=np.int64)

            def plan():
                row_bytes = piece.x[:1].nbytes + np.asarray(piece.y[:1]).nbytes + 3
                edge_bytes = 0 if piece.edge_attr is None else piece.edge_attr[:1].nbytes
                share = -(-num_parts // size) / num_parts  # of the graph, in the parts this rank writes
                need = ptscotch_slice_bytes(piece.num_rows, len(piece.indices), piece.undirected, row_bytes,
                                            int(share * piece.num_nodes), int(share * piece.num_edges), edge_bytes)
                given = max_memory is not None
                limit = int(max_memory) if given else available_memory() // on_host
                if need > limit:
                    flag = f"the limit of {limit / 2**30:.4g} GiB (`max_memory`, per rank)" if given else \
                        f"the {format_bytes(limit)} a rank has ({on_host} ranks share this host's memory)"
                    raise ResourceError(f"a slice of {piece.num_rows:,} nodes and {len(piece.indices):,} edges, "
                                        f"writing {-(-num_parts // size)} of {num_parts} parts, needs about "
                                        f"{format_bytes(need)}, more than {flag}; partition on more ranks (-n)")
                return need, limit

            estimates, error = attempt(plan)
            agree(comm, error, "planning the memory")
            fields = collective(comm, graph_fields, comm, piece, dataset)
            timings["read_s"] = time.perf_counter() - start

            log.info("PT-Scotch: %d nodes, %d stored edges into %d parts on %d ranks (balance %s)",
                     piece.num_nodes, piece.num_edges, num_parts, size, ",".join(balance))
            # steps whose collectives follow one another end the job on a rank's error (the others would wait
            # in a collective for it); PT-Scotch's own failures are agreed inside part_slice
            xadj, adjncy, out_degree = collective(comm, symmetric_slice, comm, piece, bounds, block_bytes)
            weights = collective(comm, slice_weights, comm, piece, balance)
            t0 = time.perf_counter()
            # PT-Scotch before the temporary folder exists: a job killed in it leaves nothing behind
            cores = collective(comm, scotch_cores, comm)
            part, error = (np.zeros(piece.num_rows, dtype=np.int64), None) if num_parts == 1 else \
                attempt(ptscotch.part_slice, comm, xadj, adjncy, weights, num_parts, seed, 0.03, True, cores)
            agree(comm, error, "partitioning with PT-Scotch")
            del xadj, adjncy, weights
            timings["ptscotch_s"] = time.perf_counter() - t0
            timings["assign_s"] = time.perf_counter() - start
            log.info("PT-Scotch: parts in %.1f s; sending the rows to their writers", timings["ptscotch_s"])

            tmp, error = attempt(lambda: stack.enter_context(atomic_directory(out_dir, overwrite))) if rank == 0 \
                else (None, None)
            agree(comm, error, "creating the output directory")
            tmp = Path(comm.bcast(tmp, root=0))

            mine = list(range(rank, num_parts, size))
            received = collective(comm, receive_rows, comm, piece, bounds, part, out_degree, num_parts, block_bytes)
            share, error = attempt(lambda rows=received: write_parts(
                (build_received(p, *rows) for p in mine), num_parts, tmp))
            agree(comm, error, "writing the parts")
            del received
            plans = collective(comm, send_plans_across, comm, share["recv"], num_parts, mine, block_bytes)
            files, error = attempt(_save_send_plans, tmp, plans)
            agree(comm, error, "writing the send plans")
            counts, files = share["counts"], {**share["files"], **files}
            peak = _peak_rss()
            gathered = comm.gather((counts, files, peak), root=0)
            timings["total_s"] = time.perf_counter() - start
            timings["writers"] = size

            def finish():
                writer = ArrayWriter(tmp)
                all_counts: dict = {}
                for c, f, _ in gathered:
                    all_counts.update(c)
                    writer.files.update(f)
                peaks = [p for _, _, p in gathered]
                memory = {"limit": estimates[1], "ptscotch_estimate": estimates[0], "block_bytes": block_bytes,
                          "peak_rss_per_rank": peaks}
                return write_meta(writer, fields, all_counts, num_parts, "ptscotch", balance, seed, memory, timings,
                                  {"ranks": size, "threads": len(cores)})

            meta, error = attempt(finish) if rank == 0 else (None, None)
            agree(comm, error, "writing meta.json")
            done = True
    except WritersFailed:
        raise
    except BaseException as exc:  # noqa: BLE001 - outside the agreed steps, the ranks can no longer agree
        if not done:
            abort_writers(comm, exc)
        rename_error = exc
    agree(comm, rename_error, "renaming the directory into place")
    return comm.bcast(meta if rank == 0 else None, root=0)


def receive_rows(comm, piece: GraphSlice, bounds, part, out_degree, num_parts: int, block_bytes: int) -> tuple:
    """Steps 4 and 5 of the module: send the slice's rows to the writers of their parts, and look up what the
    received rows' in-neighbours are. Returns the arguments of :func:`build_received` after the part id."""
    size = comm.Get_size()
    local = local_ids(comm, part, num_parts)
    in_degree = piece.in_degree().astype(np.int64)
    table = np.stack([part, local, in_degree, out_degree], axis=1)  # what another rank asks of a node here
    ids = np.arange(piece.lo, piece.hi, dtype=np.int64)
    writer_of_row = part % size
    writer_of_edge = np.repeat(writer_of_row, in_degree)
    info = exchange(comm, writer_of_row, np.stack([ids, part, in_degree, out_degree], axis=1), block_bytes)
    src = exchange(comm, writer_of_edge, piece.indices, block_bytes)
    x = exchange(comm, writer_of_row, np.asarray(piece.x), block_bytes)
    y = exchange(comm, writer_of_row, np.asarray(piece.y), block_bytes)
    masks = np.stack([np.asarray(piece.train_mask), np.asarray(piece.val_mask), np.asarray(piece.test_mask)], axis=1)
    masks = exchange(comm, writer_of_row, masks.astype(np.uint8), block_bytes)
    edge_attr = None if piece.edge_attr is None else exchange(comm, writer_of_edge, piece.edge_attr, block_bytes)
    edge_ptr = np.zeros(len(info) + 1, dtype=np.int64)
    np.cumsum(info[:, 2], out=edge_ptr[1:])
    # the rows arrive by source rank, each source's in ascending id: so in ascending id (slices are in id order)
    asked = np.sort(src)
    asked = asked[np.concatenate([[True], asked[1:] != asked[:-1]])] if len(asked) else asked
    answers = lookup(comm, bounds, asked, table, piece.lo, block_bytes)
    src_info = answers[np.searchsorted(asked, src)]
    return info, edge_ptr, src, src_info, x, y, masks, edge_attr


def _save_send_plans(tmp: Path, plans: dict) -> dict:
    writer = ArrayWriter(tmp)
    for p, plan in plans.items():
        save_send_plan(writer, p, *plan)
    return writer.files


def collective(comm, fn, *args):
    """``fn(*args)``, a step of collectives: an error on this rank ends the whole job (one line, then
    ``MPI_Abort``), since the other ranks would wait for this one in their next collective. A temporary folder
    left by an aborted job is removed by the next run to the same target (:func:`gnnpart.atomic.recover`)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the job cannot go on
        abort_writers(comm, exc)
        raise


def _peak_rss() -> int:
    """This process's peak resident memory, in bytes (0 where unknown)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):
        return 0


