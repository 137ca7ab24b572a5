"""A typed local graph as PyG's heterogeneous convs take it: per-type rows and per-relation edges in type-local
ids (:func:`typed_inputs`), and their outputs back to one ``[I, C]`` tensor of inner rows (:func:`inner_output`).

So a :class:`~gnnpart.nn.HaloLayer` can exchange its rows once and run PyG's ``HeteroConv`` (or any module over
``x_dict`` and ``edge_index_dict``) on a rank's part: each type's rows are its local nodes of that type (inner and
halo), each relation's edges go from local sources into inner targets, and only the inner rows of the result are
kept. A target's output then depends on its own row, its in-neighbours' rows and its in-edges, all local: for
convs of that kind (``SAGEConv``, ``GraphConv``, ``GATConv``, ...) the result is the whole graph's.
"""
from __future__ import annotations

import torch

from gnnpart.nn.local_graph import LocalGraph


def _layout(graph: LocalGraph):
    """(per type: its local rows; each local row's id within its type; per relation: its edges' type-local ids)."""
    key = "typed_view"
    if key not in graph.cache:
        types = graph.types
        if types is None:
            raise ValueError("typed_inputs needs a typed graph (node and edge types); this partition has none")
        rows = [(graph.node_type == t).nonzero().view(-1) for t in range(types.num_node_types)]
        within = torch.empty(graph.num_local, dtype=torch.long, device=graph.device)
        for r in rows:
            within[r] = torch.arange(len(r), device=graph.device)
        src, dst = graph.edge_index
        edges = {}
        for r, rel in enumerate(types.relations):
            mask = graph.edge_type == r
            edges[rel] = torch.stack([within[src[mask]], within[dst[mask]]])
        graph.cache[key] = (rows, edges)
    return graph.cache[key]


def typed_inputs(graph: LocalGraph, x_local: torch.Tensor) -> tuple[dict, dict]:
    """``(x_dict, edge_index_dict)``: each node type's local rows of ``x_local`` (``[L, F]``, inner and halo, in
    local order) and each relation's edges in type-local ids (``{(src, rel, dst): [2, E_r]}``)."""
    rows, edges = _layout(graph)
    x_dict = {name: x_local.index_select(0, r) for name, r in zip(graph.types.node_types, rows)}
    return x_dict, edges


def inner_output(graph: LocalGraph, out_dict: dict, width: int) -> torch.Tensor:
    """``[I, width]``: the inner rows of each type's output in ``out_dict`` (rows of a type without output, which
    no relation reaches, are zeros)."""
    rows, _ = _layout(graph)
    out = None
    for name, r in zip(graph.types.node_types, rows):
        value = out_dict.get(name)
        if value is None:
            continue
        if out is None:
            out = value.new_zeros(graph.num_inner, width)
        inner = r < graph.num_inner
        out = out.index_copy(0, r[inner], value[inner])
    if out is None:
        raise ValueError("the heterogeneous conv gave no output for any node type")
    return out
