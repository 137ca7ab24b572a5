import numpy as np
import pytest

from gnnpart import Graph, partition_graph, read_meta
from gnnpart.errors import MetisError
from gnnpart.partition import assign, metis


def grid(n=100, train_rows=25):
    ids = np.arange(n * n).reshape(n, n)
    src = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    dst = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    train = np.zeros(n * n, dtype=bool)
    train[: n * train_rows] = True  # the top quarter of the grid
    return Graph.from_edges(src, dst, n * n, y=np.zeros(n * n, np.int64), train_mask=train, undirected=True)


@pytest.mark.parametrize("balance", [("nodes",), ("nodes", "train"), ("nodes", "edges", "train"), ("edges",)])
def test_each_requested_constraint_is_balanced(tmp_path, balance):
    g = grid()
    meta = partition_graph(g, 4, tmp_path / "out", balance=",".join(balance))
    for name in balance:
        assert meta["stats"]["imbalance"][name] <= 1.05, (name, meta["stats"]["imbalance"])
    assert meta["balance"] == list(balance)


def test_training_nodes_are_unbalanced_when_not_asked(tmp_path):
    """The failure the train constraint prevents: balancing nodes alone leaves parts without training nodes."""
    meta = partition_graph(grid(), 4, tmp_path / "out", balance="nodes")
    assert meta["stats"]["imbalance"]["train"] > 1.5
    assert min(p["train"] for p in meta["stats"]["parts"]) < 0.3 * 625


def test_metis_beats_random_on_cut(cora, tmp_path):
    m = partition_graph(cora, 4, tmp_path / "m", method="metis")
    r = partition_graph(cora, 4, tmp_path / "r", method="random")
    assert m["stats"]["edge_cut"] < 0.3 * r["stats"]["edge_cut"]
    assert m["stats"]["halo_rows_total"] < r["stats"]["halo_rows_total"]


def test_binding_detects_integer_width():
    lib = metis._library()
    assert lib.idx in (np.int32, np.int64)
    # two 5-cliques joined by one edge: the best bisection cuts exactly that edge
    g = Graph.from_edges(
        [u for c in (0, 5) for u in range(c, c + 5) for v in range(c, c + 5) if u != v] + [4],
        [v for c in (0, 5) for u in range(c, c + 5) for v in range(c, c + 5) if u != v] + [5],
        undirected=True,
    )
    xadj, adjncy = assign.symmetric_adjacency(g)
    part, cut = metis.part_graph_kway(xadj, adjncy, np.ones((10, 1)), 1, 2)
    assert cut == 1 and len(set(part[:5])) == 1 and len(set(part[5:])) == 1 and part[0] != part[5]


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GNNPART_METIS_LIB", "/nonexistent/libmetis.so")
    metis._library.cache_clear()
    from gnnpart.capabilities import metis_library_path

    metis_library_path.cache_clear()
    try:
        with pytest.raises(MetisError, match=r"cannot load the METIS library /nonexistent/libmetis\.so"):
            metis._library()
    finally:
        monkeypatch.delenv("GNNPART_METIS_LIB")
        metis._library.cache_clear()
        metis_library_path.cache_clear()


def test_constraint_without_weight_is_dropped(tmp_path, caplog):
    g = grid(20, train_rows=0)
    meta = partition_graph(g, 2, tmp_path / "out", balance="nodes,train")
    assert "not balancing train" in caplog.text
    assert meta["stats"]["imbalance"]["nodes"] <= 1.05
    assert read_meta(tmp_path / "out")["num_parts"] == 2


def test_parse_balance_errors():
    assert assign.parse_balance("train, nodes") == ("train", "nodes")
    with pytest.raises(ValueError, match=r"`balance` must be a non-empty comma-separated subset of nodes,edges,train,types \(got 'nodes,colour'\)"):
        assign.parse_balance("nodes,colour")
    with pytest.raises(ValueError, match=r"`balance`"):
        assign.parse_balance("")


@pytest.mark.parametrize("k", [2, 4])
def test_random_baseline_is_independent_of_a_synthetic_graph_with_the_same_seed(tmp_path, k):
    """Regression: both once drew from PCG64(seed), so 'random' owners followed the planted classes."""
    from gnnpart import load

    g = load("synthetic:nodes=20000,degree=10,classes=16,seed=0")
    meta = partition_graph(g, k, tmp_path / "out", method="random", seed=0)
    assert abs(meta["stats"]["edge_cut"] / g.num_edges - (1 - 1 / k)) < 0.01


@pytest.mark.parametrize("undirected", [True, False])
def test_symmetric_adjacency_in_chunks(monkeypatch, undirected):
    """METIS's input: every edge both ways, no self loops, no repeats; built chunk by chunk."""
    monkeypatch.setattr(assign, "_CHUNK_EDGES", 7)
    rng = np.random.default_rng(0)
    for _ in range(10):
        n, e = int(rng.integers(1, 40)), int(rng.integers(0, 200))
        g = Graph.from_edges(rng.integers(0, n, e), rng.integers(0, n, e), n, undirected=undirected)
        indptr, indices = assign.symmetric_adjacency(g, dtype=np.int32)
        assert indices.dtype == np.int32 and len(indptr) == n + 1
        src, dst = g.edges()
        want = {(u, v) for u, v in zip(src.tolist(), dst.tolist()) if u != v}
        want |= {(v, u) for u, v in want}
        rows = np.repeat(np.arange(n), np.diff(indptr))
        got = list(zip(indices.tolist(), rows.tolist()))
        assert len(got) == len(want) and set(got) == want
