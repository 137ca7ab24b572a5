"""HaloConv's choice of form (a pair where the conv takes one, else the local square graph), and its refusals,
each with the conv's own reason (exactness against PyG on the whole graph: tests/nn/test_halo_conv_mpi.py)."""
import pytest
import torch
from torch_geometric import nn as pyg

from gnnpart.nn import HaloConv
from gnnpart.nn.halo_conv import REFUSED, takes_pair

REFUSED_CONVS = {
    "ARMAConv": lambda: pyg.ARMAConv(4, 4), "PANConv": lambda: pyg.PANConv(4, 4, filter_size=2),
    "ChebConv": lambda: pyg.ChebConv(4, 4, K=2), "GCN2Conv": lambda: pyg.GCN2Conv(4, alpha=0.1),
    "FAConv": lambda: pyg.FAConv(4), "LGConv": lambda: pyg.LGConv(), "EGConv": lambda: pyg.EGConv(8, 8),
    "PDNConv": lambda: pyg.PDNConv(4, 4, edge_dim=2, hidden_channels=4),
}


def test_the_form_follows_the_convs_signature():
    assert takes_pair(pyg.SAGEConv(4, 4)) and takes_pair(pyg.GATConv(4, 4)) and takes_pair(pyg.GENConv(4, 4))
    assert not takes_pair(pyg.PNAConv(4, 4, ["mean"], ["identity"], deg=torch.tensor([1, 2])))
    assert not takes_pair(pyg.ClusterGCNConv(4, 4)) and not takes_pair(pyg.GCNConv(4, 4))


def test_every_refused_conv_has_a_test_here():
    assert set(REFUSED_CONVS) == set(REFUSED)


@pytest.mark.parametrize("name", sorted(REFUSED_CONVS))
def test_a_refused_conv_says_its_own_reason(name):
    with pytest.raises(ValueError) as caught:
        HaloConv(REFUSED_CONVS[name]())
    message = str(caught.value)
    assert message == f"HaloConv({name}): {name} {REFUSED[name]}" and "\n" not in message
    assert "instead" in message or "use " in message  # an alternative is named


def test_edge_dropout_of_a_multi_hop_conv_is_refused():
    with pytest.raises(ValueError, match=r"HaloConv\(APPNP\): its dropout of edges draws at random on each rank"):
        HaloConv(pyg.APPNP(K=2, alpha=0.1, dropout=0.5))
