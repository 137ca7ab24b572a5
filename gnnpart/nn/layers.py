"""Distributed graph layers: GCN, GraphSAGE, GIN (sparse aggregation) and GAT (per-edge attention).

Each layer is a :class:`~gnnpart.nn.HaloLayer`: it takes this rank's inner rows ``[I, F_in]`` and returns
``[I, F_out]``, fetching the halo rows it needs through ``graph.halo(h, self)`` (``I`` inner, ``H`` halo,
``L = I + H`` local rows). GCN, GraphSAGE and GIN
order their products so that the sparse product and the exchange run on the
narrower side: aggregate first when ``F_in <= F_out``, transform first otherwise.
A layer whose input never changes (the features, with no input dropout) computes
its aggregation once and reuses it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gnnpart.nn.contract import HaloLayer
from gnnpart.nn.fused import dual_linear, ones_linear, with_ones
from gnnpart.nn.local_graph import LocalGraph


def _glorot(weight: torch.Tensor) -> None:
    nn.init.xavier_uniform_(weight)


class _Dist(HaloLayer):
    """Shared logic: ``sparse(x) @ W`` or ``sparse(x @ W)``, with the constant-input cache."""

    sums_halo = True  # aggregates through graph.aggregate_halo
    runs_on_blocks = True  # reads its targets' rows through graph.targets

    def __init__(self, in_channels: int, out_channels: int, constant_input: bool = False):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.aggregate_first = in_channels <= out_channels
        self.constant_input = constant_input

    @property
    def exchange_width(self) -> int:
        """Width of the rows this layer exchanges."""
        return self.in_channels if self.aggregate_first else self.out_channels

    @property
    def exchanges_each_epoch(self) -> bool:
        """False when the exchange happens once (the aggregation of a constant input is cached)."""
        return not (self.constant_input and self.aggregate_first)

    def prepare(self, x: torch.Tensor, graph: LocalGraph) -> None:
        """Aggregate the constant input once (its one-time exchange), when the layer caches it."""
        if not self.exchanges_each_epoch:
            self.sparse_input(x, graph)

    def propagate(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        raise NotImplementedError

    def sparse_input(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        """``propagate(h)``, computed once and cached when the input is constant."""
        if not self.constant_input:
            return self.propagate(h, graph)
        key = ("propagated", id(self))
        if key not in graph.cache:
            with torch.no_grad():
                graph.cache[key] = self.cached_form(self.propagate(h, graph))
        return graph.cache[key]

    def cached_form(self, propagated: torch.Tensor) -> torch.Tensor:
        """How the cached aggregation of a constant input is kept (as it is, here)."""
        return propagated


class DistGCNConv(_Dist):
    r"""GCN layer with the global degrees the partition stores (a self loop added to every node).

    .. math::
        \mathbf{x}'_i = \sum_{j \in \mathcal{N}(i) \cup \{i\}} \frac{1}{\sqrt{\hat d_j \hat d_i}} \mathbf{W}^\top
        \mathbf{x}_j + \mathbf{b}, \qquad \hat d_i = 1 + \deg_{\mathrm{in}}(i)

    Matches ``torch_geometric.nn.GCNConv`` on graphs without self loops. The sparse product and the exchange run
    on the narrower of ``in_channels`` and ``out_channels``.

    Args:
        in_channels (int), out_channels (int): widths.
        bias (bool): add a bias (default True).
        constant_input (bool): the input never changes (then an aggregate-first layer caches its aggregation).

    Shapes:
        ``[I, in_channels]`` -> ``[I, out_channels]``; it exchanges ``[I, min(in_channels, out_channels)]`` -> ``[L, ...]``.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, constant_input: bool = False):
        super().__init__(in_channels, out_channels, constant_input)
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weight, zero bias (as PyG's ``GCNConv``)."""
        _glorot(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def propagate(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        key = "gcn_dinv"
        if key not in graph.cache:
            graph.cache[key] = (graph.in_degree + 1.0).rsqrt().unsqueeze(1)
        dinv = graph.cache[key]
        inner = dinv[: graph.num_inner]
        return inner * (graph.aggregate_halo(h, self, scale=dinv) + inner * graph.targets(h))

    @property
    def _ones_column(self) -> bool:
        """The cached aggregation is kept as ``[A | 1]``, so backward gets the bias's gradient from the weight's
        product (:func:`~gnnpart.nn.fused.ones_linear`) instead of a separate pass over ``[I, out_channels]``."""
        return self.constant_input and self.aggregate_first and self.bias is not None

    def cached_form(self, propagated: torch.Tensor) -> torch.Tensor:
        return with_ones(propagated) if self._ones_column else propagated

    def forward(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        if self._ones_column:
            return ones_linear(self.sparse_input(h, graph), self.weight, self.bias)
        if self.aggregate_first and self.bias is not None:  # the bias added by the product itself
            return torch.addmm(self.bias, self.sparse_input(h, graph), self.weight)
        out = self.sparse_input(h, graph) @ self.weight if self.aggregate_first else self.propagate(h @ self.weight, graph)
        return out + self.bias if self.bias is not None else out


class DistSAGEConv(_Dist):
    r"""GraphSAGE layer with mean aggregation and a root weight.

    .. math::
        \mathbf{x}'_i = \mathbf{W}_r \mathbf{x}_i + \mathbf{W}_l \cdot \frac{1}{|\mathcal{N}(i)|}
        \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j + \mathbf{b}

    Matches ``torch_geometric.nn.SAGEConv`` (``aggr="mean"``, ``root_weight=True``).

    Args:
        in_channels (int), out_channels (int): widths.
        constant_input (bool): the input never changes (then an aggregate-first layer caches its aggregation).

    Shapes:
        ``[I, in_channels]`` -> ``[I, out_channels]``; it exchanges ``[I, min(in_channels, out_channels)]`` -> ``[L, ...]``.
    """

    def __init__(self, in_channels: int, out_channels: int, constant_input: bool = False):
        super().__init__(in_channels, out_channels, constant_input)
        self.lin_l = nn.Linear(in_channels, out_channels, bias=True)
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False)

    def reset_parameters(self) -> None:
        """The two linear maps' own initialisation (as PyG's ``SAGEConv``)."""
        self.lin_l.reset_parameters()
        self.lin_r.reset_parameters()

    def propagate(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        key = "sage_inv_deg"
        if key not in graph.cache:
            graph.cache[key] = (1.0 / graph.in_degree[: graph.num_inner].clamp(min=1.0)).unsqueeze(1)
        return graph.aggregate_halo(h, self) * graph.cache[key]

    def forward(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        if self.aggregate_first:  # both products accumulate into one output
            return dual_linear(self.sparse_input(h, graph), graph.targets(h), self.lin_l.weight, self.lin_r.weight,
                               self.lin_l.bias)
        # one product against the stacked weights: [W_l h | W_r h], so backward's input gradient is one product too
        both = F.linear(h, torch.cat([self.lin_l.weight, self.lin_r.weight]))
        width = self.out_channels
        return self.propagate(both[:, :width].contiguous(), graph) + self.lin_l.bias + graph.targets(both[:, width:])


class DistGINConv(_Dist):
    r"""GIN layer with an MLP of two linear maps (``eps`` fixed).

    .. math::
        \mathbf{x}'_i = \mathbf{W}_2\, \mathrm{ReLU}\Big(\mathbf{W}_1 \big((1 + \epsilon) \mathbf{x}_i +
        \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j\big) + \mathbf{b}_1\Big) + \mathbf{b}_2

    Matches ``torch_geometric.nn.GINConv(mlp)``. The sum commutes with the MLP's first linear map, so the
    exchange runs on the narrower of its input and output.

    Args:
        in_channels (int), out_channels (int): widths.
        eps (float): default 0.
        constant_input (bool): the input never changes (then an aggregate-first layer caches its aggregation).

    Shapes:
        ``[I, in_channels]`` -> ``[I, out_channels]``; it exchanges ``[I, min(in_channels, out_channels)]`` -> ``[L, ...]``.
    """

    def __init__(self, in_channels: int, out_channels: int, eps: float = 0.0, constant_input: bool = False):
        super().__init__(in_channels, out_channels, constant_input)
        self.eps = eps
        self.lin1 = nn.Linear(in_channels, out_channels)
        self.lin2 = nn.Linear(out_channels, out_channels)

    def reset_parameters(self) -> None:
        """The MLP's linear maps' own initialisation."""
        self.lin1.reset_parameters()
        self.lin2.reset_parameters()

    def propagate(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        return graph.aggregate_halo(h, self) + (1.0 + self.eps) * graph.targets(h)

    def forward(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        if self.aggregate_first:
            z = self.lin1(self.sparse_input(h, graph))
        else:
            z = self.propagate(F.linear(h, self.lin1.weight), graph) + self.lin1.bias
        return self.lin2(torch.relu(z))


class DistGATConv(HaloLayer):
    r"""Multi-head GAT layer: softmax attention over all in-neighbours (halo included) plus a self loop.

    .. math::
        \alpha^k_{ij} = \mathrm{softmax}_{j \in \mathcal{N}(i) \cup \{i\}}\big(\mathrm{LeakyReLU}(
        \mathbf{a}^{k\top}_{s} \mathbf{W}^k \mathbf{x}_j + \mathbf{a}^{k\top}_{d} \mathbf{W}^k \mathbf{x}_i)\big),
        \qquad \mathbf{x}'_i = \big\Vert_k \sum_j \alpha^k_{ij} \mathbf{W}^k \mathbf{x}_j + \mathbf{b}

    (heads averaged instead of concatenated with ``concat=False``). Matches ``torch_geometric.nn.GATConv(in, out,
    heads, concat)`` (negative slope 0.2, no attention dropout). Attention needs one score per edge and head, so
    this layer builds per-edge tensors; it exchanges the transformed rows ``x W``.

    Args:
        in_channels (int): input width.
        out_channels (int): channels per head.
        heads (int): attention heads (default 1).
        concat (bool): concatenate the heads (else average them), default True.
        negative_slope (float): of the LeakyReLU (default 0.2).

    Shapes:
        ``[I, in_channels]`` -> ``[I, heads * out_channels]`` (``[I, out_channels]`` without ``concat``); it exchanges
        ``[I, heads * out_channels]`` -> ``[L, heads * out_channels]``.
    """

    runs_on_blocks = True  # attends over a target's in-edges only (its own row is the first of the sources)

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, concat: bool = True, negative_slope: float = 0.2):
        super().__init__()
        self.in_channels, self.out_channels, self.heads, self.concat = in_channels, out_channels, heads, concat
        self.negative_slope = negative_slope
        self.weight = nn.Parameter(torch.empty(in_channels, heads * out_channels))
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = nn.Parameter(torch.empty(heads * out_channels if concat else out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weight and attention vectors, zero bias (as PyG's ``GATConv``)."""
        _glorot(self.weight)
        _glorot(self.att_src)
        _glorot(self.att_dst)
        nn.init.zeros_(self.bias)

    @property
    def exchange_width(self) -> int:
        """Width of the exchanged rows: the transformed rows ``x W``, ``heads * out`` wide."""
        return self.heads * self.out_channels

    def forward(self, h: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        num_inner, heads, width = graph.num_inner, self.heads, self.out_channels
        z = graph.halo(h @ self.weight, self).view(-1, heads, width)  # [L, H, C]
        a_src = (z * self.att_src).sum(-1)  # [L, H]
        a_dst = (z[:num_inner] * self.att_dst).sum(-1)  # [I, H]
        loops = torch.arange(num_inner, device=z.device)
        src = torch.cat([graph.indices, loops])
        dst = torch.cat([graph.edge_dst, loops])
        score = F.leaky_relu(a_src[src] + a_dst[dst], self.negative_slope)  # [E, H]
        peak = torch.full((num_inner, heads), -math.inf, dtype=z.dtype, device=z.device).scatter_reduce(0, dst.unsqueeze(1).expand(-1, heads), score, "amax")
        weight = (score - peak.detach()[dst]).exp()  # the shift cancels in the softmax
        total = torch.zeros(num_inner, heads, dtype=z.dtype, device=z.device).index_add(0, dst, weight)
        alpha = weight / total[dst]
        out = torch.zeros(num_inner, heads, width, dtype=z.dtype, device=z.device).index_add(0, dst, z[src] * alpha.unsqueeze(-1))
        out = out.reshape(num_inner, heads * width) if self.concat else out.mean(dim=1)
        return out + self.bias
