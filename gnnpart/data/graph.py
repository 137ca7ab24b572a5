"""The in-memory graph: CSR of in-edges, node features, labels and split masks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnpart.data.csr import coo_to_csr, coo_to_csr_with_rows, csr_rows
from gnnpart.data.labels import labels_task
from gnnpart.data.mapped import drop_pages
from gnnpart.data.typed import GraphTypes, check_typed
from gnnpart.errors import DataError

_CHUNK_ROWS = 1 << 16  # rows of features checked for NaN/inf at a time (bounds temporary memory)
_CHUNK_BYTES = 32 << 20  # ... and at most this many bytes of them


# Class ids are refused when they reach this many times the labelled nodes, plus the slack: every class id
# below the largest costs a model output, so a stray label of 1e9 would ask gigabytes of weights per rank.
MAX_CLASSES_PER_LABEL = 4
MAX_CLASSES_SLACK = 1024


def _as_int64(name: str, value, ndim: int = 1) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise DataError(f"`{name}` must be a {ndim}-D array (got shape {arr.shape})")
    if arr.dtype == np.int64:
        return arr
    if arr.size and arr.dtype.kind not in "iu":
        raise DataError(f"`{name}` must hold integers (got dtype {arr.dtype})")
    return arr.astype(np.int64)


def _as_mask(name: str, value, n: int) -> np.ndarray:
    if value is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise DataError(f"`{name}` must be a boolean array (got dtype {arr.dtype})")
    if arr.shape != (n,):
        raise DataError(f"`{name}` must have shape ({n},), one entry per node (got {arr.shape})")
    return arr


def check_features(x, n: int) -> np.ndarray:
    """``x`` as an array, if it can be a graph's features: 2-D ``[n, F]`` of a real numeric dtype (bool, integer or
    float; complex numbers and strings are refused, not cast). The finiteness of the values is checked apart.

    Args:
        x (array-like): the features.
        n (int): the number of nodes.

    Raises:
        DataError: naming ``x``, the rule and the value.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(f"`x` must be 2-D [num_nodes, num_features] (got shape {x.shape})")
    if x.shape[0] != n:
        raise DataError(f"`x` must have one row per node ({n}) (got {x.shape[0]} rows)")
    if x.dtype.kind not in "fiub":
        raise DataError(f"`x` must be numeric (got dtype {x.dtype})")
    return x


def _check_finite(x: np.ndarray, name: str = "x", row: str = "node", column: str = "feature",
                  allow_nan: bool = False) -> None:
    rows = max(1, min(_CHUNK_ROWS, _CHUNK_BYTES // max(1, x[:1].nbytes)))
    for start in range(0, x.shape[0], rows):
        block = x[start : start + rows]
        ok = np.isfinite(block)
        if allow_nan:
            ok |= np.isnan(block)
        if not ok.all():
            r, c = np.argwhere(~ok)[0]
            raise DataError(f"`{name}` must be finite (got {block[r, c]} at {row} {start + r}, {column} {c})")
        drop_pages(x)  # memory-mapped: the rows checked do not stay resident


_CHUNK_EDGES = 1 << 22  # edges checked for order at a time (the check of a memory-mapped graph stays small)


def _first_unsorted_edge(indptr: np.ndarray, indices: np.ndarray, edge_type: np.ndarray | None = None,
                         num_relations: int = 1) -> int:
    """The first edge whose source is not above the previous one in the same row, or -1; in chunks of edges. With
    ``edge_type``, the key is ``(source, edge type)``: a pair of nodes may be joined once per relation."""
    num_edges = len(indices)
    a = 0
    while a + 1 < num_edges:
        b = min(a + _CHUNK_EDGES + 1, num_edges)
        seg = np.asarray(indices[a:b])
        if edge_type is not None:
            seg = seg * num_relations + np.asarray(edge_type[a:b])
        bad = seg[1:] <= seg[:-1]  # position i: edge a + 1 + i against its predecessor
        lo, hi = np.searchsorted(indptr, [a + 1, b], side="left")
        starts = np.asarray(indptr[lo:hi]) - (a + 1)  # row starts inside (a, b): no predecessor in their row
        bad[starts[(starts >= 0) & (starts < len(bad))]] = False
        if bad.any():
            return a + 1 + int(np.argmax(bad))
        a = b - 1
    return -1


def _float_labels(y: np.ndarray, n: int) -> np.ndarray:
    """Check and convert 2-D labels: float32 ``[N, T]``, ``NaN`` = unlabelled entry, finite otherwise."""
    if y.shape[0] != n:
        raise DataError(f"`y` must have one row of targets per node ({n}) (got {y.shape[0]} rows)")
    if y.shape[1] < 1:
        raise DataError(f"`y` of shape [N, T] must have at least one target (got shape {y.shape})")
    if y.dtype.kind == "b":
        y = y.astype(np.float32)
    if y.dtype.kind in "iu":
        if y.size and (y.min() < 0 or y.max() > 1):
            bad = y.min() if y.min() < 0 else y.max()
            raise DataError(f"`y` of shape [N, T] with integer dtype must hold 0/1 multi-label targets (got {bad}); "
                            "pass float32 with NaN for unlabelled entries, or class ids as a 1-D array")
        y = y.astype(np.float32)
    if y.dtype.kind != "f":
        raise DataError(f"`y` of shape [N, T] must hold float targets (got dtype {y.dtype})")
    y = np.ascontiguousarray(y, dtype=np.float32)
    _check_finite(y, "y", "node", "target", allow_nan=True)
    if n and np.isnan(y).all():
        raise DataError(f"`y` has no labelled entry (all {y.size} targets are NaN): give at least one label")
    return y


def _class_labels(y: np.ndarray, n: int) -> np.ndarray:
    """Check and convert 1-D labels: int64 class ids, ``-1`` = unlabelled."""
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        known = y[~np.isnan(y)]
        if n and not known.size:
            raise DataError(f"`y` has no labelled node (all {n} labels are NaN): give at least one label")
        if known.size and (not np.isfinite(known).all() or np.any(known != np.round(known))):
            bad = known[~np.isfinite(known) | (known != np.round(known))][0]
            raise DataError(f"`y` of shape [N] must hold class ids (got the non-integer {bad}); regression or "
                            "multi-label targets are a float array of shape [N, T] (T = 1 for one target)")
        y = np.where(np.isnan(y), -1, y).astype(np.int64)
    return _as_int64("y", y)


def normalize_labels(y, n: int) -> np.ndarray:
    """Labels as a :class:`Graph` stores them: int64 ``[N]`` class ids (``-1`` = unlabelled), or float32
    ``[N, T]`` targets (``NaN`` = unlabelled entry); conversions and checks as :class:`Graph` documents.

    Args:
        y (array-like): the labels given.
        n (int): the number of nodes.
    """
    y = np.asarray(y)
    if y.ndim == 2:
        return _float_labels(y, n)
    if y.ndim != 1:
        raise DataError(f"`y` must be class ids of shape [N] or targets of shape [N, T] (got shape {y.shape})")
    return _class_labels(y, n)


def labelled_rows(y: np.ndarray) -> np.ndarray:
    """bool ``[N]``: nodes with a label (class id >= 0, or at least one non-NaN target)."""
    return y >= 0 if y.ndim == 1 else ~np.isnan(y).all(axis=1)


@dataclass(eq=False, repr=False)
class Graph:
    """A graph held in memory, validated on construction.

    Edges are stored as CSR over destinations: the in-neighbours (sources) of
    node ``v`` are ``indices[indptr[v]:indptr[v + 1]]``, sorted and distinct.
    Self loops and isolated nodes are kept as given.

    Args:
        indptr (np.ndarray): int64 ``[N + 1]`` row offsets, starting at 0, non-decreasing.
        indices (np.ndarray): int64 ``[E]`` source node of each in-edge.
        x (np.ndarray): float32 ``[N, F]`` node features, finite.
        y (np.ndarray): labels, of one of two kinds: int64 ``[N]`` class ids (``-1`` for an unlabelled node;
            a float ``[N]`` array of whole numbers and ``NaN`` is converted), or float32 ``[N, T]`` targets,
            ``NaN`` for an unlabelled entry (multi-label 0/1, or regression values; integer or bool ``[N, T]``
            arrays of 0/1 are converted). Float targets must be finite or NaN, and not all NaN.
        train_mask, val_mask, test_mask (np.ndarray, optional): bool ``[N]``; masked nodes
            must be labelled (with ``[N, T]`` targets: at least one entry). Missing masks are all ``False``.
        edge_attr (np.ndarray, optional): float32 ``[E, D]`` features of the edges, finite, in the order of
            ``indices`` (row ``e`` belongs to the edge ``indices[e] -> v``).
        undirected (bool): every edge ``u -> v`` also exists as ``v -> u``.
        name (str): where the graph came from (a dataset spec), for the record.
        node_type (np.ndarray, optional): int64 ``[N]``, each node's type, for a typed (heterogeneous) graph.
        edge_type (np.ndarray, optional): int64 ``[E]``, each edge's relation, in the order of ``indices``. In a typed
            graph a row's in-edges are sorted by ``(source, edge type)`` and distinct in that pair: two nodes may
            be joined once per relation.
        types (GraphTypes, optional): the names, relations, feature widths and target types
            (:mod:`gnnpart.data.typed`); given with ``node_type`` and ``edge_type``, or none of the three.

    Raises:
        DataError (a ``ValueError``): naming the field, the rule and the offending value.
    """

    indptr: np.ndarray
    indices: np.ndarray
    x: np.ndarray
    y: np.ndarray
    train_mask: np.ndarray | None = None
    val_mask: np.ndarray | None = None
    test_mask: np.ndarray | None = None
    undirected: bool = False
    name: str = ""
    edge_attr: np.ndarray | None = None
    node_type: np.ndarray | None = None
    edge_type: np.ndarray | None = None
    types: GraphTypes | None = None

    def __post_init__(self) -> None:
        self.indptr = _as_int64("indptr", self.indptr)
        self.indices = _as_int64("indices", self.indices)
        if len(self.indptr) < 1:
            raise DataError("`indptr` must have at least one entry (got an empty array)")
        n = len(self.indptr) - 1
        if self.indptr[0] != 0:
            raise DataError(f"`indptr` must start at 0 (got {self.indptr[0]})")
        steps = np.diff(self.indptr)
        if n and steps.min() < 0:
            at = int(np.argmax(steps < 0))
            raise DataError(f"`indptr` must be non-decreasing (got {self.indptr[at]} then {self.indptr[at + 1]} at node {at})")
        if self.indptr[-1] != len(self.indices):
            raise DataError(f"`indptr[-1]` must equal len(indices) = {len(self.indices)} (got {self.indptr[-1]})")
        if len(self.indices):
            lo, hi = int(self.indices.min()), int(self.indices.max())
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                raise DataError(f"`indices` (edge sources) must be node ids in [0, {n}) (got {bad})")
            self._check_typed_fields()
            typed = self.types is not None
            at = _first_unsorted_edge(self.indptr, self.indices, self.edge_type if typed else None,
                                      self.types.num_relations if typed else 1)
            drop_pages(self.indices)
            if at >= 0:
                rule = "by (source, edge type), each pair once," if typed else "and distinct"
                raise DataError(
                    f"`indices` must be sorted {rule} within each node's in-edges (got a repeated or "
                    f"unsorted source {self.indices[at]} at edge {at}); build with Graph.from_edges to merge duplicates"
                )
        else:
            self._check_typed_fields()

        self.x = np.ascontiguousarray(check_features(self.x, n), dtype=np.float32)
        _check_finite(self.x)

        self.y = normalize_labels(self.y, n)
        self._check_class_ids(n)
        labelled = labelled_rows(self.y)
        for field in ("train_mask", "val_mask", "test_mask"):
            mask = _as_mask(field, getattr(self, field), n)
            if mask.any() and not labelled[mask].all():
                node = int(np.flatnonzero(mask & ~labelled)[0])
                raise DataError(f"`{field}` must select labelled nodes only (got unlabelled node {node})")
            setattr(self, field, mask)
        self.undirected = bool(self.undirected)
        if self.edge_attr is not None:
            self.edge_attr = self._checked_edge_attr(self.edge_attr)
        if self.types is not None:
            check_typed(self.types, self.node_type, self.edge_type, self.indptr, self.indices, self.x.shape[1],
                        labelled)

    def _check_typed_fields(self) -> None:
        given = [f for f in ("node_type", "edge_type", "types") if getattr(self, f) is not None]
        if given and len(given) != 3:
            missing = [f for f in ("node_type", "edge_type", "types") if f not in given]
            raise DataError(f"a typed graph needs `node_type`, `edge_type` and `types` together (got "
                            f"{', '.join(given)} without {', '.join(missing)})")
        if given:
            if not isinstance(self.types, GraphTypes):
                raise DataError(f"`types` must be a gnnpart.data.typed.GraphTypes (got {type(self.types).__name__})")
            self.node_type = _as_int64("node_type", self.node_type)
            self.edge_type = _as_int64("edge_type", self.edge_type)
            if self.edge_type.shape != self.indices.shape:
                raise DataError(f"`edge_type` must have one entry per stored edge ({len(self.indices)}) (got shape "
                                f"{self.edge_type.shape})")
            if len(self.edge_type) and (self.edge_type.min() < 0 or self.edge_type.max() >= self.types.num_relations):
                bad = self.edge_type.min() if self.edge_type.min() < 0 else self.edge_type.max()
                raise DataError(f"`edge_type` must be in [0, {self.types.num_relations}) (got {bad})")

    def _checked_edge_attr(self, value) -> np.ndarray:
        attr = np.asarray(value)
        if attr.ndim == 1:
            attr = attr.reshape(-1, 1)
        if attr.ndim != 2 or attr.shape[0] != self.num_edges or attr.shape[1] < 1:
            raise DataError(f"`edge_attr` must have shape [E, D] with one row per stored edge ({self.num_edges}) and "
                            f"D >= 1 (got shape {attr.shape})")
        if attr.dtype.kind not in "fiub":
            raise DataError(f"`edge_attr` must be numeric (got dtype {attr.dtype})")
        attr = np.ascontiguousarray(attr, dtype=np.float32)
        _check_finite(attr, "edge_attr", "edge", "feature")
        return attr

    def _check_class_ids(self, n: int) -> None:
        if self.y.ndim != 1:
            return
        if self.y.shape != (n,):
            raise DataError(f"`y` must have one label per node ({n}) (got {self.y.shape[0]} labels)")
        if n and self.y.min() < -1:
            raise DataError(f"`y` must be a class id >= 0, or -1 for unlabelled (got {self.y.min()})")
        labelled = int((self.y >= 0).sum())
        if labelled and int(self.y.max()) >= MAX_CLASSES_PER_LABEL * labelled + MAX_CLASSES_SLACK:
            raise DataError(f"`y` names class {int(self.y.max())}, far beyond the {labelled} labelled nodes (a model "
                            f"would need {int(self.y.max()) + 1} outputs); class ids must be at most "
                            f"{MAX_CLASSES_PER_LABEL * labelled + MAX_CLASSES_SLACK - 1}: renumber the classes 0..C-1")

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_edges(
        cls,
        src,
        dst,
        num_nodes: int | None = None,
        x=None,
        y=None,
        train_mask=None,
        val_mask=None,
        test_mask=None,
        undirected: bool = False,
        name: str = "",
        edge_attr=None,
    ) -> "Graph":
        """Build a graph from directed edges ``src[i] -> dst[i]``, merging duplicates.

        Args:
            src, dst (array-like of int): ``[E]`` edge endpoints.
            num_nodes (int, optional): defaults to ``max id + 1`` (or the rows of ``x``).
            x (array-like, optional): ``[N, F]`` features; default one constant feature.
            y (array-like, optional): ``[N]`` class ids or ``[N, T]`` targets; default all ``-1`` (unlabelled).
            undirected (bool): add every reverse edge, so the graph is undirected.
            edge_attr (array-like, optional): ``[E, D]`` features of the given edges, in their order. A reverse
                edge added by ``undirected`` gets its edge's row; edges given more than once (a reverse edge
                included) are merged into one whose row is the mean of theirs.
        """
        src = _as_int64("src", src)
        dst = _as_int64("dst", dst)
        if len(src) != len(dst):
            raise DataError(f"`src` and `dst` must have the same length (got {len(src)} and {len(dst)})")
        if num_nodes is None:
            if x is not None:
                num_nodes = int(np.asarray(x).shape[0])
            else:
                num_nodes = int(max(src.max(initial=-1), dst.max(initial=-1))) + 1
        if num_nodes < 0:
            raise DataError(f"`num_nodes` must be >= 0 (got {num_nodes})")
        for arr_name, arr in (("src", src), ("dst", dst)):
            if len(arr) and (arr.min() < 0 or arr.max() >= num_nodes):
                bad = arr.min() if arr.min() < 0 else arr.max()
                raise DataError(f"`{arr_name}` must hold node ids in [0, {num_nodes}) (got {bad})")
        attr = None
        if edge_attr is not None:
            attr = np.asarray(edge_attr)
            attr = attr.reshape(-1, 1) if attr.ndim == 1 else attr
            if attr.ndim != 2 or attr.shape[0] != len(src):
                raise DataError(f"`edge_attr` must have shape [E, D] with one row per given edge ({len(src)}) "
                                f"(got shape {np.asarray(edge_attr).shape})")
            if attr.dtype.kind not in "fiub":
                raise DataError(f"`edge_attr` must be numeric (got dtype {attr.dtype})")
            _check_finite(attr, "edge_attr", "given edge", "feature")  # named by its place in the input
        if undirected:
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
            attr = None if attr is None else np.concatenate([attr, attr])
        if attr is None:
            indptr, indices = coo_to_csr(dst, src, num_nodes)
        else:
            indptr, indices, attr = coo_to_csr_with_rows(dst, src, attr, num_nodes)
        if x is None:
            x = np.ones((num_nodes, 1), dtype=np.float32)
        if y is None:
            y = np.full(num_nodes, -1, dtype=np.int64)
        return cls(indptr, indices, x, y, train_mask, val_mask, test_mask, undirected=undirected, name=name,
                   edge_attr=attr)

    # ---------------------------------------------------------------- properties
    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_edges(self) -> int:
        """Number of stored directed edges."""
        return len(self.indices)

    @property
    def num_features(self) -> int:
        return self.x.shape[1]

    @property
    def num_classes(self) -> int:
        """Classes of multi-class labels (``max id + 1``); 0 for ``[N, T]`` targets."""
        if self.y.ndim != 1:
            return 0
        return int(self.y.max()) + 1 if self.num_nodes and self.y.max() >= 0 else 0

    @property
    def task(self) -> str:
        """What the labels ask for: ``multiclass``, ``multilabel`` or ``regression`` (see :func:`labels_task`)."""
        return labels_task(self.y)

    @property
    def num_targets(self) -> int:
        """``T`` of ``[N, T]`` targets; 1 for class ids."""
        return 1 if self.y.ndim == 1 else self.y.shape[1]

    @property
    def num_outputs(self) -> int:
        """The width a model's output needs: the classes, or the targets."""
        return self.num_classes if self.y.ndim == 1 else self.num_targets

    @property
    def is_typed(self) -> bool:
        """Whether the graph has node and edge types (:attr:`types`)."""
        return self.types is not None

    @property
    def num_edge_features(self) -> int:
        """``D`` of ``edge_attr``; 0 without edge features."""
        return 0 if self.edge_attr is None else self.edge_attr.shape[1]

    def in_degree(self) -> np.ndarray:
        """int64 ``[N]``: in-edges of each node."""
        return np.diff(self.indptr)

    def out_degree(self) -> np.ndarray:
        """int64 ``[N]``: out-edges of each node."""
        return np.bincount(self.indices, minlength=self.num_nodes).astype(np.int64)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """``(src, dst)`` of every stored edge, ordered by destination."""
        return self.indices, csr_rows(self.indptr)

    def is_symmetric(self) -> bool:
        """Whether every edge ``u -> v`` has its reverse ``v -> u``."""
        src, dst = self.edges()
        t_indptr, t_indices = coo_to_csr(src, dst, self.num_nodes, dedup=False)
        return np.array_equal(t_indptr, self.indptr) and np.array_equal(t_indices, self.indices)

    def __repr__(self) -> str:
        kind = "undirected" if self.undirected else "directed"
        return (
            f"Graph({self.name or 'unnamed'}: {self.num_nodes} nodes, {self.num_edges} {kind} edges, "
            f"{self.num_features} features, "
            + (f"{self.num_classes} classes, " if self.y.ndim == 1 else f"{self.num_targets} {self.task} targets, ")
            + (f"{self.num_edge_features} edge features, " if self.edge_attr is not None else "")
            + (f"{self.types.num_node_types} node types, {self.types.num_relations} relations, "
               if self.types is not None else "")
            + f"train/val/test {int(self.train_mask.sum())}/{int(self.val_mask.sum())}/{int(self.test_mask.sum())})"
        )
