"""MPI worker (Open MPI): the distributed partitioner's pieces and whole, on N ranks.

Usage: mpirun.openmpi -n N python tests/workers/ptscotch_worker.py MODE ARGS...

- ``files GRAPH K OUT``: partition GRAPH (``synth``: an undirected synthetic graph; ``directed``: a directed graph
  with edge features and regression targets, marked directed) with PT-Scotch, then rank 0 writes, with one
  process, the parts of the same assignment and compares every file's size and CRC-32;
- ``pieces``: the bounded all-to-all against one round, the lookup, and the slice weights against the weights of
  one process;
- ``fail STEP RANK GRAPH_DIR OUT``: STEP ``ptscotch`` (PT-Scotch's strategy fails on RANK) or ``write`` (RANK's part
  files cannot be written: a full disk).

Every rank prints one JSON line.
"""
import json
import os
import sys

import numpy as np
from mpi4py import MPI

from gnnpart import load
from gnnpart.data.graph import Graph
from gnnpart.partition import distributed, ptscotch, store

SYNTH = "synthetic:nodes=3000,degree=8,classes=4,features=8,seed=2"


def directed_graph() -> Graph:
    """A directed graph with edge features, regression targets and self loops."""
    rng = np.random.default_rng(7)
    n = 1500
    src, dst = rng.integers(0, n, 9000), rng.integers(0, n, 9000)
    src[:20] = dst[:20]  # some self loops
    y = rng.normal(size=(n, 2)).astype(np.float32)
    y[::7, 1] = np.nan
    g = Graph.from_edges(src, dst, n, rng.normal(size=(n, 5)).astype(np.float32), y,
                         train_mask=rng.random(n) < 0.5)
    return Graph(g.indptr, g.indices, g.x, g.y, g.train_mask, g.val_mask, g.test_mask, undirected=False,
                 name="directed", edge_attr=rng.normal(size=(g.num_edges, 3)).astype(np.float32))


def say(comm, **fields):
    os.write(1, (json.dumps({"rank": comm.Get_rank(), **fields}) + "\n").encode())


def files(kind, k, out):
    from gnnpart.atomic import atomic_directory
    from gnnpart.partition import steps
    from gnnpart.partition.memory import plan_memory
    from gnnpart.partition.verify import verify_partition

    comm, k = MPI.COMM_WORLD, int(k)
    graph = load(SYNTH) if kind == "synth" else directed_graph()
    meta = distributed.partition_distributed(comm, graph, k, out, ("nodes", "edges"), seed=1)
    if comm.Get_rank() != 0:
        return say(comm, ok=True)
    verify_partition(out)
    owner = np.full(graph.num_nodes, -1, dtype=np.int64)
    for p in range(k):
        part = store.load_partition(out, p)
        owner[part.global_ids[:part.num_inner]] = p
    plan = plan_memory(graph, k, "random", 1)
    with atomic_directory(out + "-one", True) as tmp:
        share = steps.write_share(graph, owner, k, tmp, range(k), plan.block_bytes)
        one = steps.finish(tmp, [share], graph, k, "ptscotch", ("nodes", "edges"), 1, None, plan, {})
    differ = sorted(f for f in one["files"] if one["files"][f] != meta["files"].get(f))
    say(comm, ok=True, differ=differ, files=len(meta["files"]), stats=meta["stats"]["imbalance"],
        ranks=meta["ranks"], fields={key: meta[key] == one[key] for key in
                                     ("num_nodes", "num_edges", "num_features", "num_classes", "task", "num_outputs",
                                      "num_edge_features", "undirected", "stats")})


def pieces():
    from gnnpart.partition.assign import single_weight
    from gnnpart.partition.graph_slice import from_graph, slice_bounds
    from gnnpart.shuffle import exchange, lookup

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    rng = np.random.default_rng(rank)
    rows = rng.normal(size=(1000 + 37 * rank, 3)).astype(np.float32)
    dest = rng.integers(0, size, len(rows))
    whole = exchange(comm, dest, rows)  # one round
    small = exchange(comm, dest, rows, block_bytes=12 * 17)  # about 17 rows a round
    empty = exchange(comm, dest, np.empty((len(rows), 0), dtype=np.float32))  # rows of no width
    graph = load(SYNTH)
    bounds = slice_bounds(graph.indptr, size)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    piece = from_graph(graph, lo, hi)
    table = np.stack([np.arange(lo, hi) * 3, np.arange(lo, hi) + 5], axis=1)
    ids = np.unique(rng.integers(0, graph.num_nodes, 200))
    got = lookup(comm, bounds, ids, table, lo, block_bytes=64)
    weights = distributed.slice_weights(comm, piece, ("nodes", "edges", "train"))
    _, _, out_degree = distributed.symmetric_slice(comm, piece, bounds, 1 << 20)
    say(comm, aligned=bool(np.array_equal(whole, small)), received=len(whole), empty=empty.shape == (len(whole), 0),
        sent_total=int(comm.allreduce(len(rows))), received_total=int(comm.allreduce(len(whole))),
        lookup=bool(np.array_equal(got, np.stack([ids * 3, ids + 5], axis=1))),
        weights=bool(np.array_equal(weights, single_weight(graph, ("nodes", "edges", "train"))[lo:hi])),
        out_degree=bool(np.array_equal(out_degree, graph.out_degree()[lo:hi])),
        balanced=int(hi - lo + graph.indptr[hi] - graph.indptr[lo]))


def fail(step, rank, graph_dir, out):
    comm = MPI.COMM_WORLD
    if comm.Get_rank() == int(rank):
        if step == "ptscotch":  # Scotch's strategy fails on this rank (a local step: the others get to agree)
            real = ptscotch.require_ptscotch

            class Failing:
                def __init__(self, lib):
                    self.lib = lib

                def __getattr__(self, name):
                    return getattr(self.lib, name)

                def SCOTCH_stratDgraphMapBuild(self, *args):
                    return 1

            ptscotch.require_ptscotch = lambda version: Failing(real(version))
        else:
            def full(*args, **kwargs):
                raise OSError(28, "No space left on device (injected)")

            store.ArrayWriter.save = full
    error = None
    try:
        distributed.partition_distributed(comm, graph_dir, 4, out, ("nodes", "edges"))
    except Exception as exc:  # noqa: BLE001 - reported
        error = f"{type(exc).__name__}: {exc}"
    say(comm, error=error)


if __name__ == "__main__":
    {"files": files, "pieces": pieces, "fail": fail}[sys.argv[1]](*sys.argv[2:])
