"""The types of a heterogeneous graph: node type names, relations, feature widths and target types.

A typed graph is a :class:`~gnnpart.data.graph.Graph` whose ``node_type`` (int64 ``[N]``, non-decreasing: each
type's nodes are one contiguous block of global ids, in the order of ``node_types``) and ``edge_type`` (int64
``[E]``, in the order of ``indices``) index the names held here. Its features stay one ``[N, F]`` matrix: type
``t`` uses the first ``widths[t]`` columns (``F`` is the widest type), the rest of its rows are zeros, and a type of
width 0 is featureless (a model gives it a learnable embedding). Global node ids stay one range; a node's id
within its type is its global id minus its type's first (:func:`type_offsets`).

A relation is ``(source type, name, destination type)``; its edges go from nodes of the source type to nodes of
the destination type. Labels live on the ``targets`` types only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from gnnpart.errors import DataError

Relation = tuple[str, str, str]
_CHUNK_EDGES = 1 << 22  # edges checked against their relation's types at a time


NAME_RULE = ("1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit, without '__' (so never a "
             "path: no '/', no '..')")
"""The rule every node type and relation name follows, wherever it comes from (a dataset's files, a spec, a
``HeteroData``, a partition's ``meta.json``): names are joined into file paths (OGB's folders) and into words."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def check_name(what: str, name, where: str = "") -> str:
    """``name``, if it follows :data:`NAME_RULE`; else ``DataError`` naming ``what`` (``"node type"``,
    ``"relation"``), ``where`` it was read (a file, optional), the rule and the name (shortened).

    Check a name read from a file with this *before* it is joined into a path.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or "__" in name or ".." in name:
        shown = repr(name)[:40] + ("..." if len(repr(name)) > 40 else "")
        raise DataError(f"{where + ': ' if where else ''}{what} names must be {NAME_RULE} (got {shown})")
    return name


def relation_name(relation: Relation) -> str:
    """``"author__writes__paper"``: a relation as one word (file names, statistics)."""
    return "__".join(relation)


@dataclass(frozen=True)
class GraphTypes:
    """The names and widths of a typed graph's node types and relations.

    Args:
        node_types (tuple[str]): the node types; ``node_type`` values index them.
        relations (tuple[tuple[str, str, str]]): ``(source type, relation, destination type)``; ``edge_type``
            values index them.
        widths (tuple[int]): the feature width of each node type (0: featureless).
        targets (tuple[str]): the node types that carry labels (default: none).

    Raises:
        DataError: a name repeated or empty, a relation naming an unknown type, a negative width.
    """

    node_types: tuple[str, ...]
    relations: tuple[Relation, ...]
    widths: tuple[int, ...]
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_types", tuple(str(t) for t in self.node_types))
        object.__setattr__(self, "relations", tuple(tuple(str(s) for s in r) for r in self.relations))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "targets", tuple(str(t) for t in self.targets))
        if not self.node_types:
            raise DataError("`node_types` must name at least one node type (got none)")
        for name in self.node_types:
            check_name("node type", name)
        if len(set(self.node_types)) != len(self.node_types):
            raise DataError(f"`node_types` must be distinct (got {list(self.node_types)})")
        if len(self.widths) != len(self.node_types):
            raise DataError(f"`widths` must give one feature width per node type ({len(self.node_types)}) "
                            f"(got {len(self.widths)})")
        for name, width in zip(self.node_types, self.widths):
            if width < 0:
                raise DataError(f"the feature width of node type '{name}' must be >= 0 (got {width})")
        known = set(self.node_types)
        for relation in self.relations:
            if len(relation) != 3:
                raise DataError(f"a relation must be (source type, name, destination type) (got {relation})")
            src, rel, dst = relation
            for end in (src, dst):
                if end not in known:
                    raise DataError(f"relation {relation} names the unknown node type '{end}' (node types: "
                                    f"{', '.join(self.node_types)})")
            check_name("relation", rel)
        if len(set(self.relations)) != len(self.relations):
            raise DataError(f"`relations` must be distinct (got {[list(r) for r in self.relations]})")
        for name in self.targets:
            if name not in known:
                raise DataError(f"target type '{name}' is not a node type (node types: {', '.join(self.node_types)})")

    # ------------------------------------------------------------------------------------------ lookups
    @property
    def num_node_types(self) -> int:
        return len(self.node_types)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def type_id(self, name: str) -> int:
        """The index of node type ``name``."""
        if name not in self.node_types:
            raise DataError(f"'{name}' is not a node type (node types: {', '.join(self.node_types)})")
        return self.node_types.index(name)

    def relation_ends(self) -> np.ndarray:
        """int64 ``[R, 2]``: the source and destination type of each relation."""
        ends = [(self.type_id(s), self.type_id(d)) for s, _, d in self.relations]
        return np.array(ends, dtype=np.int64).reshape(-1, 2)

    def target_ids(self) -> np.ndarray:
        """int64: the indices of the target types."""
        return np.array([self.type_id(t) for t in self.targets], dtype=np.int64)

    # ------------------------------------------------------------------------------------------ files
    def to_json(self) -> dict:
        """What ``meta.json`` records (``node_types``, ``relations``, ``type_widths``, ``target_types``)."""
        return {"node_types": list(self.node_types), "relations": [list(r) for r in self.relations],
                "type_widths": list(self.widths), "target_types": list(self.targets)}

    @classmethod
    def from_json(cls, meta: dict) -> "GraphTypes | None":
        """The types recorded in ``meta`` (None for a homogeneous graph's)."""
        if not meta.get("node_types"):
            return None
        return cls(tuple(meta["node_types"]), tuple(tuple(r) for r in meta["relations"]),
                   tuple(meta["type_widths"]), tuple(meta.get("target_types", ())))


def type_offsets(counts) -> np.ndarray:
    """int64 ``[T + 1]``: the first global id of each type's block (and the number of nodes last)."""
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]).astype(np.int64)


def check_typed(types: GraphTypes, node_type: np.ndarray, edge_type: np.ndarray, indptr: np.ndarray,
                indices: np.ndarray, num_features: int, labelled: np.ndarray) -> None:
    """Check a typed graph's arrays against its types (one line naming the rule and the value on failure).

    Args:
        types (GraphTypes): the types.
        node_type (np.ndarray): int64 ``[N]``.
        edge_type (np.ndarray): int64 ``[E]``, in the order of ``indices`` (its range checked already).
        indptr, indices (np.ndarray): the in-edge CSR.
        num_features (int): the columns of ``x``.
        labelled (np.ndarray): bool ``[N]``, the nodes with a label.
    """
    n, e = len(indptr) - 1, len(indices)
    if node_type.shape != (n,):
        raise DataError(f"`node_type` must have one entry per node ({n}) (got shape {node_type.shape})")
    if edge_type.shape != (e,):
        raise DataError(f"`edge_type` must have one entry per stored edge ({e}) (got shape {edge_type.shape})")
    if n and (node_type.min() < 0 or node_type.max() >= types.num_node_types):
        bad = node_type.min() if node_type.min() < 0 else node_type.max()
        raise DataError(f"`node_type` must be in [0, {types.num_node_types}) (got {bad})")
    back = np.flatnonzero(np.diff(node_type) < 0)
    if len(back):
        at = int(back[0]) + 1
        raise DataError(f"nodes must be numbered type by type, in the order of `node_types` (node {at} of type "
                        f"'{types.node_types[node_type[at]]}' follows a node of type "
                        f"'{types.node_types[node_type[at - 1]]}')")
    widest = max(types.widths)
    if widest > num_features:
        t = int(np.argmax(types.widths))
        raise DataError(f"node type '{types.node_types[t]}' has {widest} features, but `x` has only {num_features} "
                        "columns: x must be as wide as the widest type")
    ends = types.relation_ends()
    for start in range(0, e, _CHUNK_EDGES):  # in blocks of edges: a mapped graph is checked in bounded memory
        stop = min(start + _CHUNK_EDGES, e)
        kinds = np.asarray(edge_type[start:stop])
        dst = np.searchsorted(indptr, np.arange(start, stop, dtype=np.int64), side="right") - 1
        for side, nodes, col in (("source", np.asarray(indices[start:stop]), 0), ("destination", dst, 1)):
            wrong = node_type[nodes] != ends[kinds, col]
            if wrong.any():
                at = int(np.argmax(wrong))
                rel = types.relations[kinds[at]]
                raise DataError(f"edge {start + at} of relation {rel} has the {side} node {int(nodes[at])} of type "
                                f"'{types.node_types[node_type[nodes[at]]]}', not '{rel[0 if col == 0 else 2]}'")
    off_target = labelled & ~np.isin(node_type, types.target_ids())
    if off_target.any():
        node = int(np.argmax(off_target))
        raise DataError(f"node {node} of type '{types.node_types[node_type[node]]}' has a label, but labels belong to "
                        f"the target types only ({', '.join(types.targets) or 'none given'})")
