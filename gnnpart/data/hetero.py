"""Building a typed graph from per-type arrays: :func:`hetero_graph` (what PyG's ``HeteroData``, the OGB-MAG layout
and the synthetic ``hetero=`` spec give), and :func:`from_hetero_data` for a PyG ``HeteroData``.

Each node type's nodes get one contiguous block of global ids, in the order the types are given; an edge of a
relation names its ends by their ids within their own type. The result is a :class:`~gnnpart.data.graph.Graph`
with ``node_type``, ``edge_type`` and ``types`` (:mod:`gnnpart.data.typed`).
"""
from __future__ import annotations

import numpy as np

from gnnpart.data.csr import coo_to_csr
from gnnpart.data.graph import Graph, normalize_labels
from gnnpart.data.labels import SPLITS
from gnnpart.data.typed import GraphTypes, Relation
from gnnpart.errors import DataError


def _ids(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise DataError(f"`{name}` must be a 1-D array of node ids (got shape {arr.shape}, dtype {arr.dtype})")
    return arr.astype(np.int64, copy=False)


def with_reverse(edges: dict) -> dict:
    """``edges`` with each relation's reverse, as PyG's ``ToUndirected`` adds them: a relation between two types
    gets ``(dst, "rev_<name>", src)`` (unless that relation is already there); a relation inside one type is made
    undirected in place."""
    out = dict(edges)
    for (src, rel, dst), (s, d) in edges.items():
        if src == dst:
            out[(src, rel, dst)] = (np.concatenate([s, d]), np.concatenate([d, s]))
        elif (dst, f"rev_{rel}", src) not in edges:
            out[(dst, f"rev_{rel}", src)] = (d, s)
    return out


def hetero_graph(num_nodes: dict, edges: dict, x: dict | None = None, y: dict | None = None,
                 masks: dict | None = None, target=None, reverse: bool = False, name: str = "hetero") -> Graph:
    """A typed :class:`Graph` from per-type nodes, features and labels and per-relation edges.

    Args:
        num_nodes (dict): node type -> its number of nodes (the order gives the blocks of global ids).
        edges (dict): ``(source type, relation, destination type)`` -> ``(src, dst)``, the ends' ids within their
            types. Repeated edges of a relation are merged.
        x (dict, optional): node type -> ``[N_t, F_t]`` features (a type left out is featureless).
        y (dict, optional): target type -> ``[N_t]`` class ids (``-1`` unlabelled) or ``[N_t, T]`` targets.
        masks (dict, optional): ``"train"|"val"|"test"`` -> {target type -> bool ``[N_t]``}.
        target (str | list[str], optional): the type(s) that carry labels (default: the types of ``y``).
        reverse (bool): add every relation's reverse (:func:`with_reverse`).
        name (str): where the graph came from.

    Raises:
        DataError: naming the type or relation, the rule and the value (an unknown type, an id past its type's
            nodes, features or labels of the wrong shape, labels on a type that is not a target).
    """
    counts = {str(t): int(n) for t, n in num_nodes.items()}
    for t, n in counts.items():
        if n < 0:
            raise DataError(f"`num_nodes['{t}']` must be >= 0 (got {n})")
    x, y, masks = dict(x or {}), dict(y or {}), dict(masks or {})
    targets = [target] if isinstance(target, str) else list(target) if target is not None else list(y)
    for t in list(x) + list(y) + targets:
        if t not in counts:
            raise DataError(f"'{t}' is not a node type (node types: {', '.join(counts)})")
    for t in y:
        if t not in targets:
            raise DataError(f"labels given for node type '{t}', which is not a target type ({', '.join(targets)})")
    offsets = dict(zip(counts, np.concatenate([[0], np.cumsum(list(counts.values()))]).tolist()))
    total = int(sum(counts.values()))

    edges = {tuple(map(str, rel)): (_ids(f"edges[{rel}] source", s), _ids(f"edges[{rel}] destination", d))
             for rel, (s, d) in edges.items()}
    for rel, (s, d) in edges.items():
        if len(rel) != 3 or rel[0] not in counts or rel[2] not in counts:
            unknown = [end for end in (rel[0], rel[-1]) if end not in counts]
            raise DataError(f"relation {rel} names the unknown node type '{unknown[0] if unknown else rel}' (node "
                            f"types: {', '.join(counts)})")
        if len(s) != len(d):
            raise DataError(f"edges of {rel} need as many sources as destinations (got {len(s)} and {len(d)})")
        for end, ids, t in (("source", s, rel[0]), ("destination", d, rel[2])):
            if len(ids) and (ids.min() < 0 or ids.max() >= counts[t]):
                bad = int(ids.min() if ids.min() < 0 else ids.max())
                raise DataError(f"edges of {rel} have the {end} id {bad}, past the {counts[t]} nodes of type '{t}' "
                                f"(ids are within their type, in [0, {counts[t]}))")
    if reverse:
        edges = with_reverse(edges)
    relations: list[Relation] = list(edges)

    widths = []
    for t, n in counts.items():
        if t not in x:
            widths.append(0)
            continue
        arr = np.asarray(x[t])
        if arr.ndim != 2 or arr.shape[0] != n:
            raise DataError(f"features of node type '{t}' must have shape [{n}, F], one row per node (got shape "
                            f"{arr.shape})")
        widths.append(int(arr.shape[1]))
    features = np.zeros((total, max(widths + [1]) if widths else 1), dtype=np.float32)
    for t, width in zip(counts, widths):
        if width:
            features[offsets[t] : offsets[t] + counts[t], :width] = x[t]

    labels = _labels(counts, offsets, total, y)
    split_masks = {}
    for split in SPLITS:
        mask = np.zeros(total, dtype=bool)
        for t, m in (masks.get(split) or {}).items():
            if t not in counts:
                raise DataError(f"`masks['{split}']` names the unknown node type '{t}'")
            m = np.asarray(m)
            if m.dtype != np.bool_ or m.shape != (counts[t],):
                raise DataError(f"`masks['{split}']['{t}']` must be bool [{counts[t]}] (got shape {m.shape}, dtype "
                                f"{m.dtype})")
            mask[offsets[t] : offsets[t] + counts[t]] = m
        split_masks[f"{split}_mask"] = mask

    node_type = np.repeat(np.arange(len(counts), dtype=np.int64), list(counts.values()))
    src = [s + offsets[rel[0]] for rel, (s, _) in edges.items()]
    dst = [d + offsets[rel[2]] for rel, (_, d) in edges.items()]
    kind = [np.full(len(s), r, dtype=np.int64) for r, (s, _) in enumerate(edges.values())]
    num_rel = max(1, len(relations))
    cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
    key = cat(src) * num_rel + cat(kind)  # a row's in-edges sorted by (source, relation)
    indptr, keys = coo_to_csr(cat(dst), key, total, total * num_rel)
    types = GraphTypes(tuple(counts), tuple(relations), tuple(widths), tuple(targets))
    return Graph(indptr, keys // num_rel, features, labels, undirected=False, name=name, node_type=node_type,
                 edge_type=keys % num_rel, types=types, **split_masks)


def _labels(counts: dict, offsets: dict, total: int, y: dict) -> np.ndarray:
    """The global label array: each target type's labels in its block, unlabelled elsewhere."""
    for t, v in y.items():
        rows = np.shape(v)[0] if np.ndim(v) else None
        if rows != counts[t]:
            raise DataError(f"labels of node type '{t}' must have one entry (or row) per node of the type "
                            f"({counts[t]}) (got shape {np.shape(v)})")
    given = {t: normalize_labels(v, counts[t]) for t, v in y.items()}
    shapes = {v.shape[1:] for v in given.values()}
    if len(shapes) > 1:
        raise DataError(f"the target types' labels must be of one kind (got shapes {[v.shape for v in given.values()]})")
    shape = shapes.pop() if shapes else ()
    out = np.full((total,) + shape, np.nan, dtype=np.float32) if shape else np.full(total, -1, dtype=np.int64)
    for t, v in given.items():
        out[offsets[t] : offsets[t] + counts[t]] = v
    return out


def from_hetero_data(data, target=None, reverse: bool = False, name: str = "pyg-hetero") -> Graph:
    """A typed :class:`Graph` from a PyG ``HeteroData``: each node type's ``num_nodes``, ``x`` (optional), ``y`` and
    ``train_mask``/``val_mask``/``test_mask`` (on target types), and each edge type's ``edge_index``.

    Args:
        data: a ``torch_geometric.data.HeteroData``.
        target (str | list[str], optional): the labelled type(s) (default: the node types with ``y``).
        reverse (bool): add the reverse relations (``rev_<name>``), as ``ToUndirected`` does.
    """
    def numpy(v):
        return None if v is None else v.detach().cpu().numpy()

    num_nodes, x, y, masks = {}, {}, {}, {split: {} for split in SPLITS}
    for t in data.node_types:
        store = data[t]
        num_nodes[t] = int(store.num_nodes)
        if getattr(store, "x", None) is not None:
            x[t] = numpy(store.x)
        if getattr(store, "y", None) is not None:
            labels = numpy(store.y)
            y[t] = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
        for split in SPLITS:
            if getattr(store, f"{split}_mask", None) is not None:
                masks[split][t] = numpy(getattr(store, f"{split}_mask"))
    edges = {}
    for rel in data.edge_types:
        ei = numpy(data[rel].edge_index)
        if ei.ndim != 2 or ei.shape[0] != 2:
            raise DataError(f"`edge_index` of {rel} must have shape [2, E] (got {ei.shape})")
        edges[rel] = (ei[0], ei[1])
    return hetero_graph(num_nodes, edges, x, y, masks, target, reverse, name)
