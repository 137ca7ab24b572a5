"""Distributed models: GCN, GraphSAGE, GAT and GIN over a :class:`LocalGraph`.

Every model takes ``in_dim, hidden, out_dim, num_layers, dropout`` (GAT also
``heads``) and maps this rank's inner features ``[I, in_dim]`` to logits
``[I, out_dim]``. Dropout is applied before every layer but the first (and
before the first with ``input_dropout``), with masks keyed by global node id,
so N ranks and one rank compute the same numbers.
"""
from __future__ import annotations

import torch
from torch import nn

from gnnpart.nn.layers import DistGATConv, DistGCNConv, DistGINConv, DistSAGEConv
from gnnpart.nn.local_graph import LocalGraph

MODELS = ("gcn", "sage", "gat", "gin")


class DistModel(nn.Module):
    """A stack of distributed layers with ReLU and partition-independent dropout between them."""

    def __init__(self, layers: list[nn.Module], dropout: float, input_dropout: float):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1) (got {dropout})")
        if not 0.0 <= input_dropout < 1.0:
            raise ValueError(f"`input_dropout` must be in [0, 1) (got {input_dropout})")
        self.convs = nn.ModuleList(layers)
        for i, conv in enumerate(self.convs):
            conv.index = i
        self.dropout = dropout
        self.input_dropout = input_dropout

    def forward(self, x: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            p = self.input_dropout if i == 0 else self.dropout
            h = graph.dropout(h, layer=i, p=p)
            h = conv(h, graph)
            if i < len(self.convs) - 1:
                h = torch.relu(h)
        return h


def _dims(in_dim: int, hidden: int, out_dim: int, num_layers: int) -> list[tuple[int, int]]:
    for name, value in (("in_dim", in_dim), ("hidden", hidden), ("out_dim", out_dim), ("num_layers", num_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer (got {value!r})")
    sizes = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
    return list(zip(sizes[:-1], sizes[1:]))


def _layers(conv, in_dim, hidden, out_dim, num_layers, input_dropout) -> list[nn.Module]:
    """``num_layers`` layers of ``conv``; the first has a constant input when there is no input dropout."""
    dims = _dims(in_dim, hidden, out_dim, num_layers)
    return [conv(a, b, constant_input=(i == 0 and input_dropout == 0.0)) for i, (a, b) in enumerate(dims)]


class GCN(DistModel):
    def __init__(self, in_dim, hidden, out_dim, num_layers=2, dropout=0.5, input_dropout=0.0):
        super().__init__(_layers(DistGCNConv, in_dim, hidden, out_dim, num_layers, input_dropout), dropout, input_dropout)


class GraphSAGE(DistModel):
    def __init__(self, in_dim, hidden, out_dim, num_layers=2, dropout=0.5, input_dropout=0.0):
        super().__init__(_layers(DistSAGEConv, in_dim, hidden, out_dim, num_layers, input_dropout), dropout, input_dropout)


class GIN(DistModel):
    def __init__(self, in_dim, hidden, out_dim, num_layers=2, dropout=0.5, input_dropout=0.0):
        super().__init__(_layers(DistGINConv, in_dim, hidden, out_dim, num_layers, input_dropout), dropout, input_dropout)


class GAT(DistModel):
    """Hidden layers have ``heads`` heads of ``hidden // heads`` channels, concatenated; the output layer one head."""

    def __init__(self, in_dim, hidden, out_dim, num_layers=2, dropout=0.5, input_dropout=0.0, heads=8):
        dims = _dims(in_dim, hidden, out_dim, num_layers)
        if heads < 1 or hidden % heads:
            raise ValueError(f"`hidden` ({hidden}) must be a multiple of `heads` (got heads={heads})")
        layers = [DistGATConv(a, hidden // heads, heads=heads) for a, _ in dims[:-1]]
        layers.append(DistGATConv(dims[-1][0], out_dim, heads=1, concat=False))
        super().__init__(layers, dropout, input_dropout)


def build_model(name: str, in_dim: int, hidden: int, out_dim: int, num_layers: int = 2, dropout: float = 0.5,
                input_dropout: float = 0.0, heads: int = 8) -> DistModel:
    """A model by name: ``gcn``, ``sage``, ``gat`` or ``gin``."""
    classes = {"gcn": GCN, "sage": GraphSAGE, "gat": GAT, "gin": GIN}
    if name not in classes:
        raise ValueError(f"`model` must be one of {', '.join(MODELS)} (got '{name}')")
    extra = {"heads": heads} if name == "gat" else {}
    return classes[name](in_dim, hidden, out_dim, num_layers, dropout, input_dropout, **extra)
