import numpy as np
import pytest

from gnnpart import load, partition_graph
from tests.conftest import odd_graph
from tests.partition.helpers import check_partition

KS = [1, 2, 3, 4, 8]


@pytest.fixture(scope="module")
def synthetic():
    return load("synthetic:nodes=3000,degree=8,classes=4,features=8,seed=11")


@pytest.mark.parametrize("method", ["metis", "random"])
@pytest.mark.parametrize("k", KS)
def test_cora(cora, tmp_path, method, k):
    partition_graph(cora, k, tmp_path / "out", method=method)
    check_partition(cora, tmp_path / "out", k)


@pytest.mark.parametrize("method", ["metis", "random"])
@pytest.mark.parametrize("k", KS)
def test_synthetic(synthetic, tmp_path, method, k):
    partition_graph(synthetic, k, tmp_path / "out", method=method, balance="nodes,edges,train")
    check_partition(synthetic, tmp_path / "out", k)


@pytest.mark.parametrize("method", ["metis", "random"])
@pytest.mark.parametrize("k", KS)
def test_isolated_nodes_self_loops_directed(tmp_path, method, k):
    g = odd_graph()
    partition_graph(g, k, tmp_path / "out", method=method)
    parts, owner = check_partition(g, tmp_path / "out", k)
    if k == 8:
        assert any(p.num_halo > p.num_inner for p in parts), "expected a part smaller than its halo"


def test_directed_graph_keeps_direction(tmp_path):
    g = odd_graph()
    assert not g.undirected and not g.is_symmetric()
    partition_graph(g, 3, tmp_path / "out")
    parts, _ = check_partition(g, tmp_path / "out", 3)
    # the hub (node 50) only has out-edges: it is a halo node wherever it is needed, never a row with in-edges
    assert g.in_degree()[50] == 0 and g.out_degree()[50] == 30


@pytest.mark.parametrize("task", ["multilabel:6", "regression:2"])
@pytest.mark.parametrize("k", [1, 3])
def test_targets_and_edge_features_reassemble(tmp_path, task, k):
    """Float targets (NaN entries included) and edge features land with the right nodes and edges; --verify passes."""
    from gnnpart import load, read_meta
    from gnnpart.partition.verify import verify_partition

    graph = load(f"synthetic:nodes=800,degree=6,classes=4,task={task},edge_features=3,seed=4")
    graph.y[::7, 0] = np.nan  # some unlabelled entries
    partition_graph(graph, k, tmp_path / "out")
    check_partition(graph, tmp_path / "out", k)
    meta = read_meta(tmp_path / "out")
    assert (meta["version"], meta["task"], meta["num_outputs"], meta["num_edge_features"]) == (
        3, task.split(":")[0], int(task.split(":")[1]), 3)
    assert verify_partition(tmp_path / "out")["unchecked"] == []
