"""One row for every class of ``torch_geometric.nn.conv.__all__``: how HaloConv runs it, or why it refuses it.

An exact row builds a width-keeping layer ``H -> H`` of the conv (``make(H)``: a HaloConv), run twice in
:class:`ConvModel`; tests/nn/test_conv_table.py checks that 2 and 3 ranks equal 1 rank, that the layer runs in the row's
form, and that README.md's table of convs is :func:`markdown` of this one. A refused row builds the conv (or a bare
instance where its constructor needs libraries this machine lacks) for HaloConv to refuse.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch_geometric import nn as pyg
from torch_geometric.nn import MessagePassing

from gnnpart.nn import HaloConv, HashDropout, convert_sync_norm

H = 12
EDGE_DIM = 3  # the test graph's edge features: column 0 an edge type (0, 1 or 2), then two values in [0, 1)
NUM_EDGE_TYPES = 3
POINT = 3  # pos: the first 3 input features; normal: the next 3


class MeanOfNeighbours(MessagePassing):
    """A conv a user writes: the mean of the in-neighbours' rows, plus the target's own, each transformed."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(aggr="mean")
        self.in_channels = in_channels
        self.lin = nn.Linear(in_channels, out_channels)
        self.root = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor], edge_index):
        if isinstance(x, torch.Tensor):
            x = (x, x)
        return self.lin(self.propagate(edge_index, x=x)) + self.root(x[1])


@dataclass
class Row:
    """``make(h)`` builds the layer (exact) or the conv HaloConv refuses; ``inputs``: per-node inputs the model
    gives (``x_0``, ``pos``, ``normal``, ``node_type``); ``edge_type``: pass column 0 of the edge features as
    ``edge_type``; ``needs``: a module without which the conv cannot run (the row is then not run here)."""

    make: object
    how: str = "refused"
    inputs: tuple = ()
    edge_type: bool = False
    stack: bool = False
    needs: str | None = None
    note: str = ""
    kwargs: dict = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.how != "refused"


def _bare(cls):
    """An instance whose constructor is not run (it needs libraries this machine does not have: pylibcugraphops,
    dgNN, pyg-lib): enough for
    HaloConv to refuse it by its class."""
    return cls.__new__(cls)


def _mlp(a, b):
    return nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b))


def _edge(conv):
    return HaloConv(conv, edge_attr=True)


PAIR, SQUARE, DEGREES, HOPS = "pair", "square", "square, whole-graph degrees", "hop by hop"

TABLE = {
    "MessagePassing": Row(lambda h: HaloConv(MeanOfNeighbours(h, h)), PAIR,
                          note="a user's subclass; its form follows its forward's `x` annotation"),
    "SimpleConv": Row(lambda h: HaloConv(pyg.SimpleConv("mean", combine_root="sum"), exchange_width=h), PAIR),
    "GCNConv": Row(lambda h: HaloConv(pyg.GCNConv(h, h)), DEGREES),
    "ChebConv": Row(lambda h: HaloConv(pyg.ChebConv(h, h, K=3)), HOPS,
                    note="the Laplacian of the whole graph's out-degrees"),
    "SAGEConv": Row(lambda h: HaloConv(pyg.SAGEConv(h, h, aggr="max")), PAIR),
    "CuGraphSAGEConv": Row(lambda h: _bare(pyg.CuGraphSAGEConv)),
    "GraphConv": Row(lambda h: HaloConv(pyg.GraphConv(h, h)), PAIR),
    "GravNetConv": Row(lambda h: _bare(pyg.GravNetConv)),
    "GatedGraphConv": Row(lambda h: HaloConv(pyg.GatedGraphConv(h, num_layers=2), exchange_width=h), HOPS),
    "ResGatedGraphConv": Row(lambda h: HaloConv(pyg.ResGatedGraphConv(h, h)), PAIR),
    "GATConv": Row(lambda h: HaloConv(pyg.GATConv(h, h // 2, heads=2)), PAIR),
    "CuGraphGATConv": Row(lambda h: _bare(pyg.CuGraphGATConv)),
    "FusedGATConv": Row(lambda h: _bare(pyg.FusedGATConv)),
    "GATv2Conv": Row(lambda h: HaloConv(pyg.GATv2Conv(h, h // 2, heads=2)), PAIR),
    "TransformerConv": Row(lambda h: _edge(pyg.TransformerConv(h, h // 2, heads=2, edge_dim=EDGE_DIM)), PAIR),
    "AGNNConv": Row(lambda h: HaloConv(pyg.AGNNConv(), exchange_width=h), SQUARE),
    "TAGConv": Row(lambda h: HaloConv(pyg.TAGConv(h, h, K=2)), HOPS),
    "GINConv": Row(lambda h: HaloConv(pyg.GINConv(_mlp(h, h), train_eps=True)), PAIR),
    "GINEConv": Row(lambda h: _edge(pyg.GINEConv(_mlp(h, h), edge_dim=EDGE_DIM)), PAIR),
    "ARMAConv": Row(lambda h: HaloConv(pyg.ARMAConv(h, h, num_stacks=2, num_layers=2)), HOPS),
    "SGConv": Row(lambda h: HaloConv(pyg.SGConv(h, h, K=2)), HOPS),
    "SSGConv": Row(lambda h: HaloConv(pyg.SSGConv(h, h, alpha=0.1, K=3)), HOPS),
    "APPNP": Row(lambda h: HaloConv(pyg.APPNP(K=3, alpha=0.1), exchange_width=h), HOPS),
    "MFConv": Row(lambda h: HaloConv(pyg.MFConv(h, h, max_degree=4)), PAIR),
    "RGCNConv": Row(lambda h: HaloConv(pyg.RGCNConv(h, h, NUM_EDGE_TYPES)), PAIR, edge_type=True),
    "FastRGCNConv": Row(lambda h: HaloConv(pyg.FastRGCNConv(h, h, NUM_EDGE_TYPES)), PAIR, edge_type=True),
    "CuGraphRGCNConv": Row(lambda h: _bare(pyg.CuGraphRGCNConv)),
    "RGATConv": Row(lambda h: HaloConv(pyg.RGATConv(h, h, NUM_EDGE_TYPES)), SQUARE, edge_type=True),
    "SignedConv": Row(lambda h: pyg.SignedConv(h, h, first_aggr=True)),
    "DNAConv": Row(lambda h: HaloConv(pyg.DNAConv(h, heads=2)), DEGREES, stack=True,
                   note="`x` is each node's stack of earlier layers' rows, exchanged as one row"),
    "PointNetConv": Row(lambda h: HaloConv(pyg.PointNetConv(nn.Linear(h + POINT, h)), exchange_width=h,
                                           node_inputs=("pos",)), PAIR, inputs=("pos",)),
    "GMMConv": Row(lambda h: _edge(pyg.GMMConv(h, h, dim=EDGE_DIM, kernel_size=2)), PAIR),
    "SplineConv": Row(lambda h: _edge(pyg.SplineConv(h, h, dim=EDGE_DIM, kernel_size=2)), PAIR, needs="pyg_lib"),
    "NNConv": Row(lambda h: _edge(pyg.NNConv(h, h, nn.Linear(EDGE_DIM, h * h))), PAIR),
    "CGConv": Row(lambda h: _edge(pyg.CGConv(h, dim=EDGE_DIM)), PAIR),
    "EdgeConv": Row(lambda h: HaloConv(pyg.EdgeConv(nn.Linear(2 * h, h)), exchange_width=h), PAIR),
    "DynamicEdgeConv": Row(lambda h: _bare(pyg.DynamicEdgeConv)),
    "XConv": Row(lambda h: _bare(pyg.XConv)),
    "PPFConv": Row(lambda h: HaloConv(pyg.PPFConv(nn.Linear(h + 4, h)), exchange_width=h,
                                      node_inputs=("pos", "normal")), PAIR, inputs=("pos", "normal")),
    "FeaStConv": Row(lambda h: HaloConv(pyg.FeaStConv(h, h, heads=2)), PAIR),
    "PointTransformerConv": Row(lambda h: HaloConv(pyg.PointTransformerConv(h, h), node_inputs=("pos",)), PAIR,
                                inputs=("pos",)),
    "HypergraphConv": Row(lambda h: pyg.HypergraphConv(h, h)),
    "LEConv": Row(lambda h: HaloConv(pyg.LEConv(h, h)), PAIR),
    "PNAConv": Row(lambda h: HaloConv(pyg.PNAConv(h, h, ["mean", "min", "max", "std"],
                                                   ["identity", "amplification", "attenuation"],
                                                   deg=torch.tensor([0, 10, 8, 6, 4, 2]))), SQUARE,
                   note="its scalers use the in-degree, whole for an inner node"),
    "ClusterGCNConv": Row(lambda h: HaloConv(pyg.ClusterGCNConv(h, h, diag_lambda=0.1)), SQUARE),
    "GENConv": Row(lambda h: HaloConv(pyg.GENConv(h, h)), PAIR,
                   note="its MLP's BatchNorm1d made a SyncBatchNorm by `convert_sync_norm`"),
    "GCN2Conv": Row(lambda h: HaloConv(pyg.GCN2Conv(h, alpha=0.1, theta=0.5, layer=1), node_inputs=("x_0",)),
                    DEGREES, inputs=("x_0",), note="`x_0` is read at the targets only: never exchanged"),
    "PANConv": Row(lambda h: pyg.PANConv(h, h, filter_size=2)),
    "WLConv": Row(lambda h: pyg.WLConv()),
    "WLConvContinuous": Row(lambda h: HaloConv(pyg.WLConvContinuous(), exchange_width=h), PAIR),
    "FiLMConv": Row(lambda h: HaloConv(pyg.FiLMConv(h, h, num_relations=NUM_EDGE_TYPES)), PAIR, edge_type=True),
    "SuperGATConv": Row(lambda h: pyg.SuperGATConv(h, h)),
    "FAConv": Row(lambda h: HaloConv(pyg.FAConv(h, eps=0.2), node_inputs=("x_0",)), DEGREES, inputs=("x_0",),
                  note="`x_0` is read at the targets only: never exchanged"),
    "EGConv": Row(lambda h: HaloConv(pyg.EGConv(h, h, aggregators=["symnorm", "max"], num_heads=2, num_bases=2)),
                  DEGREES),
    "PDNConv": Row(lambda h: _edge(pyg.PDNConv(h, h, edge_dim=EDGE_DIM, hidden_channels=8)), DEGREES,
                   note="a node's degree sums its in-edges' learned weights; its owner sends it"),
    "GeneralConv": Row(lambda h: _edge(pyg.GeneralConv(h, h, in_edge_channels=EDGE_DIM, attention=True)), PAIR),
    "HGTConv": Row(lambda h: pyg.HGTConv(h, h, (["a"], [("a", "e", "a")]))),
    "HEATConv": Row(lambda h: HaloConv(pyg.HEATConv(h, h, num_node_types=2, num_edge_types=NUM_EDGE_TYPES,
                                                    edge_type_emb_dim=4, edge_dim=EDGE_DIM, edge_attr_emb_dim=4,
                                                    heads=2, concat=False), edge_attr=True,
                                       node_inputs=("node_type",)), SQUARE, inputs=("node_type",), edge_type=True),
    "HeteroConv": Row(lambda h: pyg.HeteroConv({("a", "e", "a"): pyg.GraphConv(h, h)})),
    "HANConv": Row(lambda h: pyg.HANConv(h, h, (["a"], [("a", "e", "a")]))),
    "LGConv": Row(lambda h: HaloConv(pyg.LGConv(), exchange_width=h), HOPS),
    "PointGNNConv": Row(lambda h: HaloConv(pyg.PointGNNConv(nn.Linear(h, POINT), nn.Linear(POINT + h, h),
                                                            nn.Linear(h, h)), exchange_width=h,
                                           node_inputs=("pos",)), SQUARE, inputs=("pos",)),
    "GPSConv": Row(lambda h: pyg.GPSConv(h, pyg.GCNConv(h, h), heads=2)),
    "AntiSymmetricConv": Row(lambda h: HaloConv(pyg.AntiSymmetricConv(h, num_iters=2)), HOPS),
    "DirGNNConv": Row(lambda h: pyg.DirGNNConv(pyg.GraphConv(h, h))),
    "MixHopConv": Row(lambda h: HaloConv(pyg.MixHopConv(h, h // 3, powers=[0, 1, 2])), HOPS),
    "MeshCNNConv": Row(lambda h: pyg.MeshCNNConv(h, h)),
}

VARIANTS = {
    "ChebConv(normalization='rw')": Row(lambda h: HaloConv(pyg.ChebConv(h, h, K=2, normalization="rw")), HOPS),
    "ChebConv(normalization=None)": Row(lambda h: HaloConv(pyg.ChebConv(h, h, K=2, normalization=None)), HOPS),
    "GCN2Conv(shared_weights=False)": Row(lambda h: HaloConv(pyg.GCN2Conv(h, 0.2, 0.5, 2, shared_weights=False),
                                                             node_inputs=("x_0",)), DEGREES, inputs=("x_0",)),
    "EGConv(aggregators=['mean'])": Row(lambda h: HaloConv(pyg.EGConv(h, h, aggregators=["mean"], num_heads=2,
                                                                      num_bases=2)), SQUARE),
}
"""Settings of a conv that take another path through HaloConv, tested like the table's rows (not in the README)."""
ROWS = {**TABLE, **VARIANTS}


class ConvModel(nn.Module):
    """``Linear -> conv -> ReLU -> dropout -> conv -> Linear``, the convs of one row, with the per-node inputs the
    row needs (``x_0``: the first Linear's rows; ``pos`` and ``normal``: input features; ``node_type``: the sign of
    the first feature) and column 0 of the edge features as ``edge_type``."""

    def __init__(self, name: str, in_channels: int, out_channels: int):
        super().__init__()
        row = ROWS[name]
        self.row = row
        self.lin_in = nn.Linear(in_channels, H)
        self.conv1, self.conv2 = row.make(H), row.make(H)
        self.drop = HashDropout(0.3)
        self.lin_out = nn.Linear(H, out_channels)
        self.pyg_alone = False
        convert_sync_norm(self)

    def layer(self, layer: HaloConv, h, graph, **kwargs):
        """``layer(h, graph)``; with :attr:`pyg_alone`, its PyG conv called on ``graph`` as one whole graph (one
        rank's graph is the whole graph, in its own numbering), with PyG's own normalisation."""
        if not self.pyg_alone:
            return layer(h, graph, **kwargs)
        positional = [kwargs.pop(n) for n in layer.node_inputs if n in layer._positional]
        if layer.edge_attr:
            kwargs["edge_attr"] = graph.edge_attr.to(h.dtype)
        return layer.conv(h, *positional, graph.edge_index, **kwargs)

    def forward(self, x, graph):
        h0 = self.lin_in(x)
        kwargs = {}
        if "x_0" in self.row.inputs:
            kwargs["x_0"] = h0
        if "pos" in self.row.inputs:
            kwargs["pos"] = x[:, :POINT]
        if "normal" in self.row.inputs:
            kwargs["normal"] = x[:, POINT:2 * POINT]
        if "node_type" in self.row.inputs:
            kwargs["node_type"] = (x[:, 0] > 0).long()
        if self.row.edge_type:
            kwargs["edge_type"] = graph.edge_attr[:, 0].long()
        if self.row.stack:
            h1 = torch.relu(self.layer(self.conv1, h0.unsqueeze(1), graph))
            h = self.layer(self.conv2, torch.stack([h0, self.drop(h1, graph, stream=1)], dim=1), graph)
        else:
            h1 = torch.relu(self.layer(self.conv1, h0, graph, **dict(kwargs)))
            h = self.layer(self.conv2, self.drop(h1, graph, stream=1), graph, **kwargs)
        return self.lin_out(h)


def runnable(row: Row) -> bool:
    """Whether this machine has what the row's conv needs."""
    if row.needs is None:
        return True
    import importlib.util

    return importlib.util.find_spec(row.needs) is not None


def markdown() -> str:
    """The README's table: every conv, how HaloConv runs it (or why it refuses it)."""
    from gnnpart.nn.conv_forms import REFUSED

    lines = ["| conv | on a part | notes |", "| --- | --- | --- |"]
    for name in sorted(TABLE, key=str.lower):
        row = TABLE[name]
        if row.exact:
            how = f"exact: {row.how}" if row.needs is None else f"untested ({row.how})"
            notes = [row.note] if row.note else []
            if row.inputs:
                notes.append("node inputs " + ", ".join(f"`{n}`" for n in row.inputs))
            if row.edge_type:
                notes.append("`edge_type` per edge, in the order of `graph.edge_index`")
            if row.needs:
                notes.append(f"needs `{row.needs}`, which CI does not install: the test skips it, saying so")
            lines.append(f"| `{name}` | {how} | {'; '.join(notes)} |")
        else:
            lines.append(f"| `{name}` | refused | {name} {REFUSED[name]} |")
    return "\n".join(lines)
