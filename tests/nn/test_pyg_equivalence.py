"""On one rank, each distributed layer computes what PyG's layer computes on the whole graph."""
import numpy as np
import pytest
import torch
from torch_geometric import nn as pyg

from gnnpart import partition_graph
from gnnpart.comm import Communicator
from gnnpart.nn import DistGATConv, DistGCNConv, DistGINConv, DistSAGEConv, halo_layers
from gnnpart.rank import Rank


@pytest.fixture(scope="module")
def whole(cora, tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "cora1"
    partition_graph(cora, 1, out)
    graph = Rank.open(out, Communicator()).graph
    src, dst = cora.edges()
    edge_index = torch.from_numpy(np.stack([src, dst]))
    x = torch.from_numpy(cora.x)
    x = x / x.sum(1, keepdim=True).clamp(min=1)
    return graph, edge_index, x


def close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("in_channels,out_channels", [(1433, 16), (1433, 2000)])  # transform first / aggregate first
def test_gcn(whole, in_channels, out_channels):
    graph, edge_index, x = whole
    torch.manual_seed(0)
    ref = pyg.GCNConv(in_channels, out_channels)
    torch.nn.init.normal_(ref.bias)
    ours = DistGCNConv(in_channels, out_channels)
    halo_layers(ours)  # numbers the layer (the Trainer does this for a model)
    with torch.no_grad():
        ours.weight.copy_(ref.lin.weight.T)
        ours.bias.copy_(ref.bias)
    assert ours.aggregate_first == (in_channels <= out_channels)
    close(ours(x, graph), ref(x, edge_index))


def test_gcn_cached_input_gradients(whole):
    # a constant input aggregated once is kept as [A | 1] (gnnpart.nn.fused.ones_linear): the output and the
    # weight's and bias's gradients are PyG's (float64: the bias's gradient sums 2708 rows), and the next call
    # reuses the cache
    graph, edge_index, x = whole
    x = x.double()
    torch.manual_seed(0)
    ref = pyg.GCNConv(1433, 2000).double()
    torch.nn.init.normal_(ref.bias)
    ours = DistGCNConv(1433, 2000, constant_input=True).double()
    halo_layers(ours)
    with torch.no_grad():
        ours.weight.copy_(ref.lin.weight.T)
        ours.bias.copy_(ref.bias)
    upstream = torch.randn(x.shape[0], 2000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for _ in range(2):
        ours.zero_grad()
        ref.zero_grad()
        got, want = ours(x, graph), ref(x, edge_index)
        close(got, want)
        got.backward(upstream)
        want.backward(upstream)
        close(ours.weight.grad, ref.lin.weight.grad.T)
        close(ours.bias.grad, ref.bias.grad)
    assert graph.cache[("propagated", id(ours))].shape == (x.shape[0], 1434)


@pytest.mark.parametrize("out_channels", [16, 2000])
def test_sage(whole, out_channels):
    graph, edge_index, x = whole
    torch.manual_seed(0)
    ref = pyg.SAGEConv(1433, out_channels)
    ours = DistSAGEConv(1433, out_channels)
    halo_layers(ours)  # numbers the layer (the Trainer does this for a model)
    ours.load_state_dict({"lin_l.weight": ref.lin_l.weight, "lin_l.bias": ref.lin_l.bias, "lin_r.weight": ref.lin_r.weight})
    close(ours(x, graph), ref(x, edge_index))


@pytest.mark.parametrize("out_channels", [16, 2000])
def test_gin(whole, out_channels):
    graph, edge_index, x = whole
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(1433, out_channels), torch.nn.ReLU(), torch.nn.Linear(out_channels, out_channels))
    ref = pyg.GINConv(mlp)
    ours = DistGINConv(1433, out_channels)
    halo_layers(ours)  # numbers the layer (the Trainer does this for a model)
    ours.load_state_dict({"lin1.weight": mlp[0].weight, "lin1.bias": mlp[0].bias,
                          "lin2.weight": mlp[2].weight, "lin2.bias": mlp[2].bias})
    close(ours(x, graph), ref(x, edge_index))


@pytest.mark.parametrize("heads,concat", [(8, True), (1, False), (3, False)])
def test_gat(whole, heads, concat):
    graph, edge_index, x = whole
    torch.manual_seed(0)
    ref = pyg.GATConv(1433, 8, heads=heads, concat=concat)
    torch.nn.init.normal_(ref.bias)
    ours = DistGATConv(1433, 8, heads=heads, concat=concat)
    halo_layers(ours)  # numbers the layer (the Trainer does this for a model)
    with torch.no_grad():
        ours.weight.copy_(ref.lin.weight.T)
        ours.att_src.copy_(ref.att_src)
        ours.att_dst.copy_(ref.att_dst)
        ours.bias.copy_(ref.bias)
    close(ours(x, graph), ref(x, edge_index))


def test_gradients_match_pyg(whole):
    graph, edge_index, x = whole
    torch.manual_seed(0)
    ref = pyg.GCNConv(1433, 16)
    ours = DistGCNConv(1433, 16)
    halo_layers(ours)  # numbers the layer (the Trainer does this for a model)
    with torch.no_grad():
        ours.weight.copy_(ref.lin.weight.T)
    (ref(x, edge_index) ** 2).sum().backward()
    (ours(x, graph) ** 2).sum().backward()
    torch.testing.assert_close(ours.weight.grad, ref.lin.weight.grad.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["relu", "ReLU", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "silu", "prelu", "swish"])
def test_activations_resolve_as_pyg_resolves_them(name):
    """Models resolve activation names without importing PyG (about 2 s a rank), to the same modules."""
    from torch_geometric.nn.resolver import activation_resolver

    from gnnpart.nn.models import resolve_activation

    ours, theirs = resolve_activation(name), activation_resolver(name)
    assert type(ours) is type(theirs) and repr(ours) == repr(theirs)
    assert resolve_activation(None) is None and resolve_activation(torch.tanh) is torch.tanh
