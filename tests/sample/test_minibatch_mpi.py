"""Mini-batch training across ranks: 2 and 3 ranks take the steps of one process (losses of every step and the
final weights, float64, dropout on), the sampled blocks are the same edges on any partition, and the fetched rows
are the graph's rows."""
import numpy as np
import pytest

from gnnpart import load, partition_graph
from tests.mpi import run_by_size

GRAPH = "synthetic:nodes=900,degree=7,classes=3,features=12,seed=4"
EPOCHS = 2
FANOUTS = "4,3"
SPECS = ["sage:16:2:0.5:0.2", "gcn:16:2:0.5:0", "gat:16:2:0.5:0.2", "gatv2:16:2:0.5:0.2",
         "gin:16:2:0.5:0.2", "sage:16:2:0.5:0:norm=layer,residual=1"]
EDGE_GRAPH = "synthetic:nodes=700,degree=6,classes=3,features=8,edge_features=3,seed=6"
EDGE_SPECS = ["gine:16:2:0.5:0.2"]
SIZES = [1, 2, 3]


@pytest.fixture(scope="module")
def graph():
    return load(GRAPH)


@pytest.fixture(scope="module")
def batch(graph):
    """Five batches an epoch: ten steps in two epochs."""
    return -(-int(graph.train_mask.sum()) // 5)


@pytest.fixture(scope="module")
def runs(graph, batch, tmp_path_factory):
    """Training and sampling on 1, 2 and 3 ranks, in one launch: ``{n: (training arrays, sampling arrays)}``."""
    tmp = tmp_path_factory.mktemp("minibatch")
    groups = {}
    for n in SIZES:
        partition_graph(graph, n, tmp / f"p{n}")
        groups[n] = [tmp / f"p{n}", tmp / f"train{n}.npz", EPOCHS, batch, FANOUTS, *SPECS]
    edged = load(EDGE_GRAPH)  # GINE on blocks: the sampled edges' features travel with the answers
    for n in SIZES:
        partition_graph(edged, n, tmp / f"e{n}")
        groups[n] += ["::", tmp / f"e{n}", tmp / f"edges{n}.npz", EPOCHS, -(-int(edged.train_mask.sum()) // 5),
                      FANOUTS, *EDGE_SPECS]
    run_by_size("minibatch_worker.py", groups, timeout=900)
    run_by_size("minibatch_worker.py:blocks", {n: [tmp / f"p{n}", tmp / f"blocks{n}.npz", batch, FANOUTS]
                                               for n in SIZES}, timeout=600)
    return {n: ({**np.load(tmp / f"train{n}.npz"), **np.load(tmp / f"edges{n}.npz")},
                dict(np.load(tmp / f"blocks{n}.npz"))) for n in SIZES}


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("spec", SPECS + EDGE_SPECS)
def test_n_ranks_take_the_steps_of_one(runs, n, spec):
    ref, got = runs[1][0], runs[n][0]
    assert len(ref[f"{spec}/loss"]) == 10
    np.testing.assert_allclose(got[f"{spec}/loss"], ref[f"{spec}/loss"], rtol=1e-9, atol=1e-12)
    assert ref[f"{spec}/loss"][-1] < ref[f"{spec}/loss"][0]  # it learns
    keys = [k for k in ref if k.startswith(f"{spec}/") and not k.endswith(("loss", "epoch_loss", "/device"))]
    assert keys
    for key in keys:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-9, atol=1e-12, err_msg=key)


def _edge_set(arrays) -> set:
    return {tuple(row) for row in arrays["edges"].tolist()}


@pytest.mark.parametrize("n", [2, 3])
def test_the_sampled_blocks_are_the_same_edges_on_any_partition(runs, n):
    """Each (batch, hop, target, source) edge, over all ranks: the same set as one process's. A node two ranks
    both compute is sampled alike by each (a set, so counted once)."""
    ref, got = runs[1][1], runs[n][1]
    assert int(ref["num_batches"]) == int(got["num_batches"]) == 5
    assert _edge_set(got) == _edge_set(ref)
    seeds = lambda a: sorted(map(tuple, a["seeds"].tolist()))  # noqa: E731
    assert seeds(got) == seeds(ref)  # the same global batches
    assert len({s for _, s in seeds(ref)}) == len(seeds(ref))  # every training node once an epoch


@pytest.mark.parametrize("n", SIZES)
def test_fetched_rows_are_the_graph_rows(runs, graph, n):
    rows = runs[n][1]["rows"]
    gids = rows[:, 0].astype(np.int64)
    np.testing.assert_array_equal(rows[:, 1:], graph.x[gids].astype(np.float64))
    assert len(gids) > len(np.unique(runs[n][1]["seeds"][:, 1]))  # inputs beyond the seeds were fetched


def test_fanouts_bound_each_target_and_keep_short_rows_whole(runs, graph):
    edges = runs[1][1]["edges"]
    degree = np.diff(graph.indptr)
    for hop, fanout in enumerate(int(k) for k in FANOUTS.split(",")):
        at = edges[edges[:, 1] == hop]
        pairs, counts = np.unique(at[:, [0, 2]], axis=0, return_counts=True)
        assert counts.max() <= fanout
        np.testing.assert_array_equal(counts, np.minimum(degree[pairs[:, 1]], fanout))
        for b, t, s in at[:200][:, [0, 2, 3]]:  # a sampled source is an in-neighbour
            assert s in graph.indices[graph.indptr[t]:graph.indptr[t + 1]]
