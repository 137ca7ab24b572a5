"""What HaloConv knows of PyG's convs, by class name: which are refused and why, which run hop by hop, and the
adapters that give a conv the whole graph's normalisation on a part.

Every conv that :class:`~gnnpart.nn.HaloConv` runs is in one of four forms (tests/workers/conv_table.py lists each
PyG conv's): a pair ``(x_local, x_inner)``; the local square graph (inner rows kept); the square graph with the
whole graph's ``gcn_norm`` given as edge weights (:data:`NORM_BY_WEIGHTS`); or hop by hop (:data:`HOP_BY_HOP`).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

NORM_BY_WEIGHTS = {"GCNConv", "GCN2Conv", "FAConv", "DNAConv"}
"""Convs that run PyG's ``gcn_norm`` unless ``normalize`` is off and then take its weights as ``edge_weight``:
HaloConv passes the whole graph's (:meth:`~gnnpart.nn.LocalGraph.gcn_norm`) with ``normalize`` off."""

HOP_BY_HOP = {
    "SGConv": lambda c: (False, c.add_self_loops),
    "SSGConv": lambda c: (False, c.add_self_loops),
    "TAGConv": lambda c: (False, False) if c.normalize else None,
    "APPNP": lambda c: (False, c.add_self_loops) if c.normalize else None,
    "MixHopConv": lambda c: (False, c.add_self_loops),
    "GatedGraphConv": lambda c: None,
    "ARMAConv": lambda c: (False, False),
    "LGConv": lambda c: (False, False) if c.normalize else None,
    "AntiSymmetricConv": lambda c: (c.phi.improved, c.phi.add_self_loops) if c.phi.normalize else None,
    "ChebConv": lambda c: "laplacian",
}
"""Convs that call ``propagate`` several times in one call (hops), run with the halo rows refreshed before every
hop after the first; each maps to the ``(improved, add_self_loops)`` of the ``gcn_norm`` it runs itself (None: it
runs none; ``"laplacian"``: ChebConv's, given by :func:`chebyshev_norm`)."""

TARGET_ONLY_INPUTS = {"GCN2Conv": {"x_0"}, "FAConv": {"x_0"}}
"""Per-node inputs a conv reads only at the targets (inner nodes): their halo rows are zeros, never exchanged."""

_KNN = "builds its own k-NN graph from all nodes' features, which no part holds; use EdgeConv on the graph's edges"
_HETERO = ("takes dicts of typed nodes and edges (a heterogeneous graph), and gnnpart partitions homogeneous graphs; "
           "use RGCNConv with edge_type (the types as an edge feature column)")
_CUGRAPH = ("runs on pylibcugraphops' CUDA kernels only (deprecated by PyG); use the same conv without the CuGraph "
            "prefix")

REFUSED = {
    "PANConv": ("builds the sum of the adjacency's powers as one matrix inside one call and normalises it by its row "
                "sums, which need every path of up to L hops; stack HaloConv(GCNConv) layers instead"),
    "CuGraphSAGEConv": _CUGRAPH, "CuGraphGATConv": _CUGRAPH, "CuGraphRGCNConv": _CUGRAPH,
    "FusedGATConv": ("takes the whole graph's CSR and CSC from dgNN's fused CUDA kernels, which a part does not "
                     "have; use GATConv"),
    "GravNetConv": _KNN, "DynamicEdgeConv": _KNN, "XConv": _KNN,
    "HypergraphConv": ("takes hyperedges (hyperedge_index), not a graph's edges, and gnnpart partitions graphs; "
                       "use GCNConv on the clique expansion"),
    "SignedConv": ("takes two edge sets (positive and negative edges), and a partition holds one; use RGCNConv with "
                   "the sign as edge_type"),
    "WLConv": ("numbers colours in the order a dictionary first meets them, which differs with the nodes a part "
               "holds; use WLConvContinuous"),
    "DirGNNConv": ("aggregates over each node's out-edges too, and a part holds only its nodes' in-edges (an edge "
                   "lives with its target); add the reverse edges (undirected) and use the wrapped conv"),
    "GPSConv": ("attends over every node of the graph (global attention), which no part holds; use "
                "TransformerConv, which attends over each node's neighbours"),
    "MeshCNNConv": ("takes a mesh's edges as its nodes, each with exactly four neighbours in a fixed order, which a "
                    "partition does not keep; use EdgeConv"),
    "SuperGATConv": ("samples negative edges at random inside its forward pass for its attention loss, and each "
                     "part draws its own; use GATConv"),
    "HGTConv": _HETERO, "HANConv": _HETERO, "HeteroConv": _HETERO,
}
"""Convs HaloConv cannot make exact on a part, each with the reason and an alternative."""

@contextmanager
def replaced(module, name: str, value):
    """``module.<name>`` set to ``value`` for the call (an attribute such as ``normalize``, a child module, or a
    method on this instance), the original again after (a method of the class by removing the instance's)."""
    own = name in module.__dict__ or name in module._modules
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        if own:
            setattr(module, name, saved)
        else:
            delattr(module, name)


class Fixed(torch.nn.Module):
    """A module that returns the same tensor whatever it is given (stands in for a conv's edge MLP)."""

    def __init__(self, value: torch.Tensor):
        super().__init__()
        self.value = value

    def forward(self, *_):
        return self.value


def chebyshev_norm(conv, graph, dtype, lambda_max=None):
    """ChebConv's scaled Laplacian ``2 L / lambda_max - I`` for the local edges into inner nodes, with the whole
    graph's degrees (PyG's ``get_laplacian`` counts a node's out-edges, self loops left out:
    :meth:`~gnnpart.nn.LocalGraph.out_degree`) and the whole graph's ``lambda_max`` when none is given."""
    key = ("chebyshev", conv.normalization, None if lambda_max is None else float(lambda_max), dtype)
    if key not in graph.cache:  # the graph's, so computed (and lambda_max reduced over the ranks) once
        graph.cache[key] = _chebyshev_norm(conv.normalization, graph, dtype, lambda_max)
    return graph.cache[key]


def _chebyshev_norm(norm, graph, dtype, lambda_max):
    src, dst = graph.edge_index
    keep = src != dst
    src, dst = src[keep], dst[keep]
    deg = graph.out_degree()
    if norm == "sym":
        dinv = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
        weight, diag = -dinv[src] * dinv[dst], torch.ones(graph.num_inner, dtype=torch.float64, device=deg.device)
    elif norm == "rw":
        dinv = (1.0 / deg).masked_fill(deg == 0, 0.0)
        weight, diag = -dinv[src], torch.ones(graph.num_inner, dtype=torch.float64, device=deg.device)
    else:
        weight, diag = -torch.ones(src.shape[0], dtype=torch.float64, device=deg.device), deg[: graph.num_inner]
    if lambda_max is None:  # PyG's: twice the largest entry of the Laplacian, over the whole graph
        local = max(float(diag.max()) if diag.numel() else float("-inf"),
                    float(weight.max()) if weight.numel() else float("-inf"))
        lambda_max = 2.0 * graph.comm.max_scalar(local)
    lambda_max = torch.as_tensor(lambda_max, dtype=torch.float64)
    loops = torch.arange(graph.num_inner, device=deg.device)
    edge_index = torch.cat([torch.stack([src, dst]), loops.unsqueeze(0).repeat(2, 1)], dim=1)
    weight = 2.0 * torch.cat([weight, diag]) / lambda_max
    weight = weight.masked_fill(weight == float("inf"), 0.0)
    weight[src.shape[0]:] -= 1.0
    return edge_index, weight.to(dtype)


def learned_degree_edges(conv, graph, layer, dtype):
    """PDNConv's edges and learned weights, made whole-graph: its MLP weighs each local edge from its features,
    the inner nodes' degrees are summed here, and each halo node gets a self loop weighted with its degree, sent
    by its owner (differentiable: the owner's MLP gets the gradient). ``gcn_norm`` then sees every local node's
    whole degree. Returns ``(edge_index, edge_weight)`` for the conv's MLP to pass through."""
    src, dst = graph.edge_index
    weight = conv.mlp(graph.edge_attr.to(dtype)).squeeze(-1)
    deg = torch.zeros(graph.num_inner, dtype=weight.dtype, device=weight.device).index_add(0, dst, weight)
    if conv.add_self_loops:
        loop = torch.zeros(graph.num_inner, dtype=torch.bool, device=weight.device)
        loop[dst[src == dst]] = True
        deg = deg + (~loop).to(weight.dtype)
    halo_deg = graph.halo_exact(deg.unsqueeze(1), layer)[graph.num_inner:, 0]
    halo = torch.arange(graph.num_inner, graph.num_local, device=weight.device)
    edge_index = torch.cat([graph.edge_index, halo.unsqueeze(0).repeat(2, 1)], dim=1)
    return edge_index, torch.cat([weight, halo_deg])
