"""HaloConv's choice of form (a pair where the conv takes one, else the local square graph) and its refusals of
settings it cannot make exact (every conv's row, exactness included: tests/nn/test_conv_table.py)."""
import pytest
import torch
from torch_geometric import nn as pyg

from gnnpart.nn import HaloConv
from gnnpart.nn.halo_conv import takes_pair


def test_the_form_follows_the_convs_signature():
    assert takes_pair(pyg.SAGEConv(4, 4)) and takes_pair(pyg.GATConv(4, 4)) and takes_pair(pyg.GENConv(4, 4))
    assert not takes_pair(pyg.PNAConv(4, 4, ["mean"], ["identity"], deg=torch.tensor([1, 2])))
    assert not takes_pair(pyg.ClusterGCNConv(4, 4)) and not takes_pair(pyg.GCNConv(4, 4))
    assert HaloConv(pyg.SAGEConv(4, 4)).form == "pair" and HaloConv(pyg.ClusterGCNConv(4, 4)).form == "square"
    assert HaloConv(pyg.GCNConv(4, 4)).form == "square, whole-graph degrees"
    assert HaloConv(pyg.GCNConv(4, 4, normalize=False)).form == "square"
    assert HaloConv(pyg.SGConv(4, 4)).form == "hop by hop"


@pytest.mark.parametrize("conv", [pyg.APPNP(K=2, alpha=0.1, dropout=0.5), pyg.FAConv(4, dropout=0.2),
                                  pyg.ARMAConv(4, 4, dropout=0.3)], ids=["APPNP", "FAConv", "ARMAConv"])
def test_a_convs_own_dropout_is_refused_where_halo_conv_changes_its_math(conv):
    name = type(conv).__name__
    with pytest.raises(ValueError, match=rf"HaloConv\({name}\): its dropout draws at random on each rank; set "
                                         r"dropout=0 \(and use gnnpart.nn.HashDropout"):
        HaloConv(conv)


def test_a_conv_that_takes_node_inputs_needs_them_named():
    with pytest.raises(ValueError, match=r"HaloConv\(GCN2Conv\): GCN2Conv takes 'x_0' besides x, one row per node: "
                                         r"pass node_inputs=\('x_0',\)"):
        HaloConv(pyg.GCN2Conv(4, alpha=0.1))
    with pytest.raises(ValueError, match=r"HaloConv\(PPFConv\): PPFConv takes 'pos', 'normal' besides x"):
        HaloConv(pyg.PPFConv(torch.nn.Linear(8, 4)), exchange_width=4, node_inputs=("pos",))
    with pytest.raises(ValueError, match=r"`node_inputs` names 'x0', which GCN2Conv.forward does not take \(it takes "
                                         r"x, x_0, edge_index, edge_weight\)"):
        HaloConv(pyg.GCN2Conv(4, alpha=0.1), node_inputs=("x_0", "x0"))
    layer = HaloConv(pyg.GCN2Conv(4, alpha=0.1), node_inputs=("x_0",))
    assert layer.node_inputs == ("x_0",) and layer.exchange_width == 4


def test_a_missing_or_misshapen_node_input_is_named():
    from types import SimpleNamespace

    layer = HaloConv(pyg.GCN2Conv(4, alpha=0.1), node_inputs=("x_0",))
    graph = SimpleNamespace(num_inner=5)
    with pytest.raises(ValueError, match=r"HaloConv\(GCN2Conv\) takes `x_0` as one row per inner node "
                                         r"\(\[5, \.\.\.\]\) at each call, layer\(x, graph, x_0=\.\.\.\) \(got NoneType\)"):
        layer._take_inputs({}, graph)
    with pytest.raises(ValueError, match=r"\(got shape \(3, 4\)\)"):
        layer._take_inputs({"x_0": torch.zeros(3, 4)}, graph)


def test_settings_halo_conv_cannot_make_exact_are_refused():
    with pytest.raises(ValueError, match=r"HaloConv\(AntiSymmetricConv\): its phi runs once per iteration, and "
                                         r"HaloConv makes that exact for a GCNConv phi \(the default\); got GATConv"):
        HaloConv(pyg.AntiSymmetricConv(4, phi=pyg.GATConv(4, 4)))
    with pytest.raises(ValueError, match=r"HaloConv\(PDNConv\) weighs each edge from its features: pass "
                                         r"edge_attr=True"):
        HaloConv(pyg.PDNConv(4, 4, edge_dim=2, hidden_channels=4))
    with pytest.raises(TypeError, match=r"`conv` must be a torch_geometric MessagePassing layer \(got Linear\)"):
        HaloConv(torch.nn.Linear(4, 4))
