"""PyG convs that gnnpart.nn.HaloConv runs distributed, and a two-layer model of them (tests share these).

Each entry makes the two convs of a model ``F -> 16 -> C``; the same factories build the whole-graph reference.
"""
import torch
from torch import nn
from torch_geometric import nn as pyg

from gnnpart.nn import HaloConv, HashDropout, convert_sync_norm

HIDDEN = 16


def _gin(a, b):
    return pyg.GINConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b)))


PNA_DEGREES = torch.tensor([0, 40, 30, 20, 10, 5])  # a histogram of in-degrees: only its averages matter here

CONVS = {
    "GraphConv": lambda a, b: pyg.GraphConv(a, b),
    "SAGEConv-mean": lambda a, b: pyg.SAGEConv(a, b),
    "SAGEConv-max": lambda a, b: pyg.SAGEConv(a, b, aggr="max"),
    "GATConv": lambda a, b: pyg.GATConv(a, b // 2, heads=2) if b == HIDDEN else pyg.GATConv(a, b),
    "GATv2Conv": lambda a, b: pyg.GATv2Conv(a, b // 2, heads=2) if b == HIDDEN else pyg.GATv2Conv(a, b),
    "TransformerConv": lambda a, b: pyg.TransformerConv(a, b // 2, heads=2) if b == HIDDEN else pyg.TransformerConv(a, b),
    "GINConv": _gin,
    "GCNConv": lambda a, b: pyg.GCNConv(a, b),
    # convs without a bipartite form, run on the local square graph
    # (PNAConv transforms every edge's [x_i, x_j]: on Cora's 1433 features that is 8 s a step, so the first layer
    # is a GraphConv and PNAConv the second, on 16-wide rows)
    "PNAConv": lambda a, b: pyg.GraphConv(a, b) if a > HIDDEN else pyg.PNAConv(
        a, b, ["mean", "min", "max", "std"], ["identity", "amplification", "attenuation"], deg=PNA_DEGREES),
    "ClusterGCNConv": lambda a, b: pyg.ClusterGCNConv(a, b, diag_lambda=0.1),
    # multi-hop convs, the halo rows refreshed before every hop, with the whole graph's gcn_norm
    "SGConv": lambda a, b: pyg.SGConv(a, b, K=2),
    "SSGConv": lambda a, b: pyg.GraphConv(a, b) if a > HIDDEN else pyg.SSGConv(a, b, alpha=0.1, K=3),
    "TAGConv": lambda a, b: pyg.GraphConv(a, b) if a > HIDDEN else pyg.TAGConv(a, b, K=2),
    # convs that keep the width: the second layer is a Linear to the classes, then the conv (KEEP_WIDTH)
    "APPNP": lambda a, b: pyg.GraphConv(a, b),
    "GatedGraphConv": lambda a, b: pyg.GraphConv(a, b),
    "MixHopConv": lambda a, b: pyg.GraphConv(a, b) if a > HIDDEN else pyg.MixHopConv(a, b, powers=[2]),
    # a BatchNorm1d inside the conv (GENConv's MLP), and one between two convs: synchronised by convert_sync_norm
    "GENConv": lambda a, b: pyg.GENConv(a, b),
    "GraphConv+BatchNorm1d": lambda a, b: pyg.GraphConv(a, b),
}
NORM_BETWEEN = "+BatchNorm1d"
KEEP_WIDTH = {"APPNP": lambda c: pyg.APPNP(K=3, alpha=0.1), "GatedGraphConv": lambda c: pyg.GatedGraphConv(c, 2)}


class TwoLayer(nn.Module):
    """What a user writes: two PyG convs through HaloConv, ReLU and partition-independent dropout between them."""

    def __init__(self, name: str, in_channels: int, out_channels: int, dropout: float = 0.5):
        super().__init__()
        self.conv1 = HaloConv(CONVS[name](in_channels, HIDDEN))
        if name in KEEP_WIDTH:
            self.lin = nn.Linear(HIDDEN, out_channels)
            self.conv2 = HaloConv(KEEP_WIDTH[name](out_channels), exchange_width=out_channels)
        else:
            self.lin = nn.Identity()
            self.conv2 = HaloConv(CONVS[name](HIDDEN, out_channels))
        self.norm = nn.BatchNorm1d(HIDDEN) if name.endswith(NORM_BETWEEN) else nn.Identity()
        self.drop = HashDropout(dropout)
        convert_sync_norm(self)  # a no-op for convs without a BatchNorm1d

    def forward(self, x, graph):
        h = torch.relu(self.norm(self.conv1(x, graph)))
        return self.conv2(self.lin(self.drop(h, graph, stream=1)), graph)


class WholeGraph(nn.Module):
    """The same model on the whole graph with PyG alone (dropout: the same hash, keyed by node id)."""

    def __init__(self, name: str, in_channels: int, out_channels: int, dropout: float = 0.5):
        super().__init__()
        self.conv1 = CONVS[name](in_channels, HIDDEN)
        self.lin = nn.Linear(HIDDEN, out_channels) if name in KEEP_WIDTH else nn.Identity()
        self.conv2 = KEEP_WIDTH[name](out_channels) if name in KEEP_WIDTH else CONVS[name](HIDDEN, out_channels)
        self.norm = nn.BatchNorm1d(HIDDEN) if name.endswith(NORM_BETWEEN) else nn.Identity()
        self.p = dropout

    def forward(self, x, edge_index, seed=0, epoch=0):
        from gnnpart.hashing import hash_dropout

        h = torch.relu(self.norm(self.conv1(x, edge_index)))
        if self.training and self.p:
            h = hash_dropout(h, torch.arange(x.shape[0]), seed, epoch, 1, self.p)
        return self.conv2(self.lin(h), edge_index)


def whole_graph_state(state: dict) -> dict:
    """The keys of a TwoLayer state dict as WholeGraph names them."""
    return {k.replace("conv1.conv.", "conv1.").replace("conv2.conv.", "conv2."): v for k, v in state.items()}
