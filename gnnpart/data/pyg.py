"""Conversion from a PyG ``torch_geometric.data.Data`` object."""
from __future__ import annotations

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.errors import DataError


def _numpy(value):
    return None if value is None else value.detach().cpu().numpy()


def from_pyg(data, undirected: bool | None = None, name: str = "pyg") -> Graph:
    """Build a :class:`Graph` from a PyG ``Data`` (``edge_index`` is ``[2, E]``, source row first).

    Args:
        data: a ``torch_geometric.data.Data`` with ``edge_index``, ``x`` (optional), ``y`` (optional: ``[N]`` or
            ``[N, 1]`` class ids, or float ``[N, T]`` targets with ``NaN`` for unlabelled entries; a float
            ``[N, 1]`` is read as class ids when it holds whole numbers), ``edge_attr`` (optional, ``[E, D]``) and
            optional ``train_mask``/``val_mask``/``test_mask``.
        undirected (bool, optional): flag the graph undirected; by default detected from the edges.
    """
    if getattr(data, "edge_index", None) is None:
        raise DataError("`data.edge_index` is required to build a Graph from a PyG Data object")
    ei = _numpy(data.edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise DataError(f"`data.edge_index` must have shape [2, E] (got {tuple(ei.shape)})")
    y = _numpy(getattr(data, "y", None))
    if y is not None and y.ndim == 2 and y.shape[1] == 1:
        known = y[~np.isnan(y)] if y.dtype.kind == "f" else y
        if y.dtype.kind != "f" or np.all(known == np.round(known)):
            y = y.reshape(-1)  # PyG's [N, 1] class ids
    masks = {k: _numpy(getattr(data, k, None)) for k in ("train_mask", "val_mask", "test_mask")}
    edge_attr = _numpy(getattr(data, "edge_attr", None))
    graph = Graph.from_edges(
        ei[0], ei[1], num_nodes=data.num_nodes, x=_numpy(getattr(data, "x", None)), y=y, name=name,
        edge_attr=edge_attr, **masks
    )
    graph.undirected = graph.is_symmetric() if undirected is None else bool(undirected)
    return graph
