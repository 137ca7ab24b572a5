"""PyG convs that read edge features (GINEConv, TransformerConv and GATConv with edge_dim) through
HaloConv(conv, edge_attr=True), on 1 and 3 ranks, equal the same convs on the whole graph with PyG alone."""
import numpy as np
import pytest
import torch

from gnnpart import load
from gnnpart.nn import HaloConv
from tests.mpi import npz_runs
from tests.workers.edge_conv_worker import EDGE_CONVS, TwoEdgeLayers

SPEC = "synthetic:nodes=700,degree=6,classes=4,features=10,task=regression:3,edge_features=4,seed=8"


@pytest.fixture(scope="module")
def graph():
    return load(SPEC)


@pytest.fixture(scope="module")
def runs(graph, tmp_path_factory):
    return npz_runs(graph, tmp_path_factory, "edge_conv_worker.py", timeout=300, sizes=(1, 3))


@pytest.mark.parametrize("name", list(EDGE_CONVS))
@pytest.mark.parametrize("n", [1, 3])
def test_edge_convs_equal_the_whole_graph(graph, runs, n, name):
    got = runs(n)
    init = {k.split("/init/")[1].replace(".conv.", "."): torch.from_numpy(v)
            for k, v in got.items() if k.startswith(f"{name}/init/")}
    model = TwoEdgeLayers(name, graph.num_features, graph.num_outputs, graph.num_edge_features, wrap=False).double()
    model.load_state_dict(init)
    model.eval()
    src, dst = graph.edges()
    edge_index = torch.from_numpy(np.stack([src, dst]))
    with torch.no_grad():
        want = model(torch.from_numpy(graph.x).double(), edge_index, torch.from_numpy(graph.edge_attr).double())
    np.testing.assert_allclose(got[f"{name}/forward"], want.numpy(), rtol=1e-6, atol=1e-6,  # predict() rows: float32
                               err_msg=f"{name} on {n}")
    # the features matter: without them the same weights give other outputs
    with torch.no_grad():
        other = model(torch.from_numpy(graph.x).double(), edge_index, torch.zeros(len(src), graph.num_edge_features,
                                                                                   dtype=torch.float64))
    assert np.abs(other.numpy() - want.numpy()).max() > 1e-3


def test_edge_attr_needs_edge_features_and_no_gcn(tmp_path):
    from torch_geometric.nn import GCNConv

    with pytest.raises(ValueError, match=r"GCNConv takes edge weights, not edge features"):
        HaloConv(GCNConv(4, 4), edge_attr=True)
