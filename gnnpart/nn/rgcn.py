"""Relational models over a typed :class:`~gnnpart.nn.LocalGraph`: the per-type input (:class:`TypedInput`), the
R-GCN layer (:class:`DistRGCNConv`) and the built-in R-GCN model (:class:`RGCN`, ``gnnpart train --model rgcn``).

Rows cross ranks at one width per layer. The first step, each node type's input projection (a linear map of its
own features, or a learnable embedding for a featureless type, :class:`~gnnpart.nn.embedding.ShardedEmbedding`),
runs at the node's owner before any exchange, so every row crosses at the hidden width, whatever its type's width.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gnnpart.data.csr import coo_to_csr
from gnnpart.limits import require_memory
from gnnpart.nn.contract import HaloLayer
from gnnpart.nn.dropout import HashDropout
from gnnpart.nn.embedding import ShardedEmbedding
from gnnpart.nn.kernels import spmm_sum
from gnnpart.nn.local_graph import LocalGraph


def _glorot(weight: torch.Tensor) -> None:
    """PyG's ``glorot`` (uniform in ``+-sqrt(6 / (fan_in + fan_out))`` over the last two dimensions)."""
    bound = math.sqrt(6.0 / (weight.size(-2) + weight.size(-1)))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


def require_typed(graph: LocalGraph, what: str) -> None:
    """Refuse, in one line, an untyped graph for a relational module."""
    if graph.types is None:
        raise ValueError(f"{what} needs a typed graph (node and edge types); this partition has none: partition a "
                         "heterogeneous dataset (a PyG HeteroData, synthetic:hetero=mag, ...)")


def type_rows(graph: LocalGraph, node_type: int) -> torch.Tensor:
    """int64: the inner local rows of nodes of type ``node_type`` (ascending; computed once per graph)."""
    key = ("type_rows", node_type)
    if key not in graph.cache:
        graph.cache[key] = (graph.node_type[: graph.num_inner] == node_type).nonzero().view(-1)
    return graph.cache[key]


def relation_csr(graph: LocalGraph, relation: int):
    """``(indptr [I + 1], indices, t_indptr [L + 1], t_indices, inv_degree [I, 1])``: the in-edges of relation
    ``relation`` by target, the same by source (for the gradient), and ``1 / |N_r(i)|`` (0 without such edges);
    computed once per graph. Every in-edge of an inner node is local, so the degrees are the whole graph's."""
    key = ("relation_csr", relation)
    if key not in graph.cache:
        mask = graph.edge_type == relation
        src = graph.indices[mask].cpu().numpy()
        dst = graph.edge_dst[mask].cpu().numpy()
        indptr, indices = coo_to_csr(dst, src, graph.num_inner, graph.num_local, dedup=False)
        t_indptr, t_indices = coo_to_csr(src, dst, graph.num_local, graph.num_inner, dedup=False)
        dev = graph.device
        deg = torch.from_numpy(indptr).diff().to(dev, torch.float64)
        inv = torch.where(deg > 0, 1.0 / deg.clamp(min=1.0), torch.zeros_like(deg)).unsqueeze(1)
        graph.cache[key] = tuple(torch.from_numpy(a).to(dev) for a in (indptr, indices, t_indptr, t_indices)) + (inv,)
    return graph.cache[key]


class RelationalSum(torch.autograd.Function):
    """``sum_r mean_r(local) @ weights[r]`` over the inner rows, each relation's mean recomputed in backward instead
    of kept: autograd would keep ``R`` means of ``[I, F]`` (7 GiB for MAG's 7 relations at 2M nodes and width 64,
    two layers), this keeps none (one more sparse pass per relation in backward)."""

    @staticmethod
    def forward(ctx, local, weights, csrs):
        out = local.new_zeros(csrs[0][0].numel() - 1, weights.shape[2])
        for r, (indptr, indices, _, _, inv) in enumerate(csrs):
            if indices.numel():
                out.addmm_(spmm_sum(indptr, indices, local) * inv.to(local.dtype), weights[r])
        ctx.save_for_backward(local, weights)
        ctx.csrs = csrs
        return out

    @staticmethod
    def backward(ctx, grad):
        local, weights = ctx.saved_tensors
        grad_local = torch.zeros_like(local) if ctx.needs_input_grad[0] else None
        grad_weights = torch.zeros_like(weights) if ctx.needs_input_grad[1] else None
        for r, (indptr, indices, t_indptr, t_indices, inv) in enumerate(ctx.csrs):
            if not indices.numel():
                continue
            inv = inv.to(local.dtype)
            if grad_weights is not None:
                grad_weights[r] = (spmm_sum(indptr, indices, local) * inv).t() @ grad
            if grad_local is not None:
                grad_local += spmm_sum(t_indptr, t_indices, (grad @ weights[r].t()) * inv)
        return grad_local, grad_weights, None


class TypedInput(nn.Module):
    """Each node type's rows at ``channels`` wide, at their owner: a linear map of the type's own features (its
    first ``widths[t]`` columns of ``x``), or a learnable embedding of this rank's nodes for a featureless type.

    Args:
        graph (LocalGraph): this rank's typed graph (the embeddings hold its inner nodes of each featureless type).
        channels (int): the output width.
        seed (int): seed of the embeddings' first values (the same on every rank).

    Shapes:
        ``[I, F]`` -> ``[I, channels]``.
    """

    def __init__(self, graph: LocalGraph, channels: int, seed: int = 0):
        super().__init__()
        require_typed(graph, "TypedInput")
        self.channels, self.widths = int(channels), tuple(graph.types.widths)
        self.lins = nn.ModuleDict()
        self.embeddings = nn.ModuleDict()
        for t, (name, width) in enumerate(zip(graph.types.node_types, self.widths)):
            if width:
                self.lins[name] = nn.Linear(width, channels)
            else:
                rows = type_rows(graph, t)
                self.embeddings[name] = ShardedEmbedding(graph.global_ids[rows].cpu().numpy(), channels, seed, t)
        self.names = tuple(graph.types.node_types)

    def reset_parameters(self) -> None:
        for module in list(self.lins.values()) + list(self.embeddings.values()):
            module.reset_parameters()

    def forward(self, x: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        out = x.new_zeros(graph.num_inner, self.channels)
        for t, (name, width) in enumerate(zip(self.names, self.widths)):
            rows = type_rows(graph, t)
            value = self.lins[name](x.index_select(0, rows)[:, :width]) if width else self.embeddings[name]()
            out = out.index_copy(0, rows, value.to(out.dtype))
        return out


class DistRGCNConv(HaloLayer):
    r"""The relational graph convolution (Schlichtkrull et al.), as PyG's ``RGCNConv`` with ``aggr="mean"``.

    .. math::
        \mathbf{x}'_i = \mathbf{\Theta}_{\textrm{root}} \mathbf{x}_i + \sum_{r \in \mathcal{R}}
        \frac{1}{|\mathcal{N}_r(i)|} \sum_{j \in \mathcal{N}_r(i)} \mathbf{\Theta}_r \mathbf{x}_j + \mathbf{b}

    with ``Theta_r = sum_b comp[r, b] V_b`` under basis decomposition (``num_bases``). The parameters have PyG's
    names and shapes (``weight``, ``comp``, ``root``, ``bias``), so a PyG ``RGCNConv``'s state loads as it is.
    The layer exchanges its input rows, then sums each relation's in-edges apart (each in-edge of an inner node
    is local: the means are the whole graph's).

    Args:
        in_channels (int), out_channels (int): widths.
        num_relations (int): the relations (``edge_type`` values).
        num_bases (int, optional): basis decomposition with this many bases (default none).
        root_weight (bool), bias (bool): as PyG (default True).

    Shapes:
        ``[I, in_channels]`` -> ``[I, out_channels]``; it exchanges ``[I, in_channels]`` -> ``[L, in_channels]``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, num_bases: int | None = None,
                 root_weight: bool = True, bias: bool = True):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("num_relations", num_relations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer (got {value!r})")
        if num_bases is not None and (isinstance(num_bases, bool) or not isinstance(num_bases, int) or num_bases < 1):
            raise ValueError(f"`num_bases` must be a positive integer or None (got {num_bases!r})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_relations, self.num_bases = num_relations, num_bases
        maps = num_relations if num_bases is None else num_bases
        require_memory(4 * ((maps + 1) * in_channels * out_channels + num_relations * (num_bases or 0)),
                       f"DistRGCNConv({in_channels}, {out_channels}, num_relations={num_relations}, "
                       f"num_bases={num_bases})'s weights", "lower `num_bases` or the widths")
        if num_bases is not None:
            self.weight = nn.Parameter(torch.empty(num_bases, in_channels, out_channels))
            self.comp = nn.Parameter(torch.empty(num_relations, num_bases))
        else:
            self.weight = nn.Parameter(torch.empty(num_relations, in_channels, out_channels))
            self.register_parameter("comp", None)
        self.root = nn.Parameter(torch.empty(in_channels, out_channels)) if root_weight else None
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    @property
    def exchange_width(self) -> int:
        return self.in_channels

    def reset_parameters(self) -> None:
        """PyG's initialisation: Glorot for the weights, zero bias."""
        for p in (self.weight, self.comp, self.root):
            if p is not None:
                _glorot(p)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def relation_weights(self) -> torch.Tensor:
        """``[R, in_channels, out_channels]``: each relation's map (composed from the bases if any)."""
        if self.comp is None:
            return self.weight
        return (self.comp @ self.weight.view(self.num_bases, -1)).view(self.num_relations, self.in_channels,
                                                                       self.out_channels)

    def forward(self, x: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        require_typed(graph, "DistRGCNConv")
        if graph.types.num_relations != self.num_relations:
            raise ValueError(f"DistRGCNConv was built for {self.num_relations} relations, but the graph has "
                             f"{graph.types.num_relations}")
        local = graph.halo(x, self)
        csrs = [relation_csr(graph, r) for r in range(self.num_relations)]
        out = RelationalSum.apply(local, self.relation_weights(), csrs)
        if self.root is not None:
            out = out + x @ self.root
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, num_relations={self.num_relations}"
                + (f", num_bases={self.num_bases}" if self.num_bases is not None else ""))


class TypedStack(nn.Module):
    """A typed graph's model of three parts, set by a subclass: ``input`` (:class:`TypedInput`), ``convs`` (halo
    layers) and ``drop`` (:class:`~gnnpart.nn.HashDropout`, after a ReLU between layers; none after the last)."""

    def forward(self, x: torch.Tensor, graph: LocalGraph) -> torch.Tensor:
        """Map this rank's features ``x`` (``[I, F]``) to ``[I, out_channels]``."""
        return self._run(x, graph, None)

    def embed(self, x: torch.Tensor, graph: LocalGraph, layer: int) -> torch.Tensor:
        """The representation after layer ``layer`` (``0 .. len(convs) - 1``; after the last, the output)."""
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(self.convs):
            raise ValueError(f"`layer` must be in [0, {len(self.convs)}) (got {layer!r})")
        return self._run(x, graph, layer)

    def _run(self, x, graph, stop_after):
        h = self.input(x, graph)
        for i, conv in enumerate(self.convs):
            h = conv(h, graph)
            if i < len(self.convs) - 1:
                h = self.drop.after_relu(h, graph, stream=i + 1)
            if i == stop_after:
                break
        return h


class RGCN(TypedStack):
    r"""R-GCN over a typed graph: :class:`TypedInput` to ``hidden_channels``, then ``num_layers``
    :class:`DistRGCNConv` layers, ReLU and dropout between them.

    .. math::
        \mathbf{H}^{(0)} = \mathrm{input}_{\tau(i)}(\mathbf{x}_i), \qquad
        \mathbf{H}^{(\ell+1)} = \mathrm{drop}\big(\mathrm{ReLU}(\mathrm{RGCN}_\ell(\mathbf{H}^{(\ell)}))\big)

    (no activation after the last layer). Every layer exchanges hidden-width rows.

    Args:
        graph (LocalGraph): this rank's typed graph (types, relations and feature widths; the rows of its
            featureless nodes' embeddings).
        hidden_channels (int): the width of the input projection and hidden layers.
        num_layers (int): the R-GCN layers.
        out_channels (int): the output width (classes).
        num_bases (int, optional): basis decomposition in every layer.
        dropout (float): dropout after each hidden layer (keyed by global id, so N ranks equal one).
        seed (int): seed of the embeddings' first values.

    Shapes:
        ``[I, F]`` -> ``[I, out_channels]``.
    """

    def __init__(self, graph: LocalGraph, hidden_channels: int, num_layers: int, out_channels: int,
                 num_bases: int | None = None, dropout: float = 0.0, seed: int = 0):
        super().__init__()
        require_typed(graph, "the R-GCN model")
        for name, value in (("hidden_channels", hidden_channels), ("num_layers", num_layers),
                            ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer (got {value!r})")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1) (got {dropout!r})")
        self.hidden_channels, self.num_layers, self.out_channels = hidden_channels, num_layers, out_channels
        self.input = TypedInput(graph, hidden_channels, seed)
        relations = graph.types.num_relations
        outs = [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(DistRGCNConv(hidden_channels, o, relations, num_bases) for o in outs)
        self.drop = HashDropout(dropout)

    def reset_parameters(self) -> None:
        self.input.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()

    def extra_repr(self) -> str:
        return f"hidden={self.hidden_channels}, num_layers={self.num_layers}, out={self.out_channels}"
