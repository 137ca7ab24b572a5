"""Statistics of a partition: per-part sizes, balance of each constraint, edge cut, halo volume."""
from __future__ import annotations

import numpy as np


def imbalance(values) -> float:
    """``max / mean`` of the per-part values (1.0 is perfect balance; 1.0 when all are zero)."""
    arr = np.asarray(values, dtype=np.float64)
    mean = arr.mean() if len(arr) else 0.0
    return float(arr.max() / mean) if mean > 0 else 1.0


def summarize(parts: list[dict], types=None) -> dict:
    """Statistics from per-part counts.

    Args:
        parts: one dict per part with ``inner``, ``halo``, ``edges`` (local in-edges),
            ``train`` (training nodes) and ``cut`` (local edges whose source is remote); for a typed graph also
            ``types`` (inner nodes per node type) and ``relations`` (local edges per relation).
        types (GraphTypes, optional): the graph's types (names for the per-type statistics).

    Returns:
        dict with ``parts`` (inner, halo, edges, train per part), ``imbalance`` (nodes, edges, train),
        ``edge_cut`` (stored directed edges whose ends lie in different parts) and ``halo_rows_total``; for a typed
        graph, ``by_type`` and ``by_relation``: per name, the count in each part and its imbalance.
    """
    stats = {
        "parts": [{k: int(p[k]) for k in ("inner", "halo", "edges", "train")} for p in parts],
        "imbalance": {
            "nodes": imbalance([p["inner"] for p in parts]),
            "edges": imbalance([p["edges"] for p in parts]),
            "train": imbalance([p["train"] for p in parts]),
        },
        "edge_cut": int(sum(p["cut"] for p in parts)),
        "halo_rows_total": int(sum(p["halo"] for p in parts)),
    }
    if types is not None:
        for key, names, label in (("types", types.node_types, "by_type"),
                                  ("relations", ["__".join(r) for r in types.relations], "by_relation")):
            table = {}
            for i, name in enumerate(names):
                per_part = [int(p[key][i]) if i < len(p[key]) else 0 for p in parts]
                table[name] = {"parts": per_part, "imbalance": imbalance(per_part)}
            stats[label] = table
    return stats
