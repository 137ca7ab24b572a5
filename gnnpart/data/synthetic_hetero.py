"""A synthetic heterogeneous graph shaped like OGB's MAG, with its class signal carried through the relations:
``synthetic:hetero=mag[,nodes=N,degree=D,classes=C,features=F,homophily=H,signal=S,seed=S,train=T,val=V,reverse=1]``.

=============  ==================  ==============================================================
node type      nodes               features
=============  ==================  ==============================================================
paper          ``nodes``           ``features`` columns (the target type: labels and splits)
author         ``0.8 * nodes``     ``features // 2`` columns
institution    ``0.02 * nodes``    none (featureless: a model learns an embedding)
field          ``0.18 * nodes``    none
=============  ==================  ==============================================================

Relations: ``(author, writes, paper)``, three authors per paper; ``(paper, cites, paper)``, ``nodes * degree / 2``
citations; ``(paper, has_topic, field)``, two fields per paper; ``(author, affiliated_with, institution)``, one per
author. With ``reverse=1`` (the default) each gets its reverse (``rev_writes``, ``rev_has_topic``,
``rev_affiliated_with``; ``cites`` becomes undirected), as PyG's ``ToUndirected`` does, so that papers hear from
their fields and authors from their papers.

Every node of every type has a class (uniform over ``classes``). An edge's second end lies in its first end's class
with probability ``homophily``, else anywhere; within that choice, nodes are picked in proportion to a heavy-tailed
weight ``1 + Pareto(2.5)``, as :mod:`gnnpart.data.synthetic` draws its edges. Papers and authors carry the class in
their features, ``signal * 1.25 / sqrt(width) * mu_c + N(0, I)``, at half the strength for authors. Fields and
institutions carry it only in whom they join: a paper's label is best read from its fields' and authors' other
papers, which a model that tells the relations apart can do and a homogeneous mean blurs. All draws come from
numpy's PCG64 with the seed: a spec gives the same graph on every machine.

Other shapes: ``hetero=custom`` with ``types=NAME:SHARE:WIDTH+...`` (each type's nodes, ``SHARE * nodes`` at least
one, and feature width, 0 for featureless; the first type is the target) and ``relations=SRC-NAME-DST:K+...``
(each node of type ``DST`` gets ``K`` in-edges of the relation, from nodes of type ``SRC`` drawn as above), for
example ``synthetic:hetero=custom,nodes=1000,types=user:1:16+item:2:8+tag:0.1:0,relations=user-buys-item:3+``
``item-has-tag:2+user-follows-user:4``. Classes, homophily, signal, splits and ``reverse`` work as for MAG.
"""
from __future__ import annotations

import math

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.hetero import hetero_graph
from gnnpart.data.typed import check_name
from gnnpart.errors import DataError

KINDS = ("mag", "custom")
"""The shapes ``hetero=`` draws."""

_SHARE = {"paper": 1.0, "author": 0.8, "institution": 0.02, "field": 0.18}
_PARETO_SHAPE = 2.5
_SIGNAL_SCALE = 1.25
_MAX_SHARE = 1e6  # a type's nodes, in multiples of `nodes`
_STREAM = 0x6D6167  # "mag": draws of their own, apart from the homogeneous generator's for the same seed


def type_counts(nodes: int) -> dict[str, int]:
    """Nodes per type for ``nodes`` papers (each type at least one node)."""
    return {t: max(1, int(round(share * nodes))) for t, share in _SHARE.items()}


def memory_estimate(spec) -> int:
    """Bytes :func:`generate_typed` needs at its peak (about 3x the graph's arrays while the CSR is sorted)."""
    if spec.hetero == "custom":
        shapes = parse_types(spec.types, spec.nodes)
        relations = parse_relations(spec.relations, list(shapes))
        edges = 2 * sum(shapes[d][0] * per for _, _, d, per in relations)
        total, width = sum(n for n, _ in shapes.values()), max(w for _, w in shapes.values())
        return int(edges * 8 * 6 + total * (4 * width + 40))
    counts = type_counts(spec.nodes)
    edges = 2 * (3 * spec.nodes + int(spec.nodes * spec.degree) // 2 + 2 * spec.nodes + counts["author"])
    total = sum(counts.values())
    width = spec.features
    return int(edges * 8 * 6 + total * (4 * width + 40))


class _Picker:
    """Draws nodes of one type by weight, inside or outside a given class (the class-sorted cumulative weights)."""

    def __init__(self, rng, classes: np.ndarray, num_classes: int):
        weight = 1.0 + rng.pareto(_PARETO_SHAPE, len(classes))
        self.order = np.argsort(classes, kind="stable")
        self.cum = np.cumsum(weight[self.order])
        padded = np.concatenate([[0.0], self.cum])
        sorted_classes = classes[self.order]
        self.lo = padded[np.searchsorted(sorted_classes, np.arange(num_classes), side="left")]
        self.hi = padded[np.searchsorted(sorted_classes, np.arange(num_classes), side="right")]

    def pick(self, rng, classes: np.ndarray, homophily: float) -> np.ndarray:
        """One node per entry of ``classes``: of that class with probability ``homophily`` (when it has nodes)."""
        total = self.cum[-1]
        lo, hi = self.lo[classes], self.hi[classes]
        inside = (rng.random(len(classes)) < homophily) & (hi > lo)
        t = rng.random(len(classes)) * np.where(inside, hi - lo, total - (hi - lo))
        pos = np.where(inside, lo + t, np.where(t < lo, t, t + (hi - lo)))
        at = np.minimum(np.searchsorted(self.cum, pos, side="right"), len(self.cum) - 1)
        return self.order[at]

    def any(self, rng, count: int) -> np.ndarray:
        """``count`` nodes by weight alone."""
        at = np.minimum(np.searchsorted(self.cum, rng.random(count) * self.cum[-1], side="right"), len(self.cum) - 1)
        return self.order[at]


def _features(rng, classes: np.ndarray, num_classes: int, width: int, signal: float) -> np.ndarray:
    centroids = rng.standard_normal((num_classes, width), dtype=np.float32)
    centroids *= np.float32(signal * _SIGNAL_SCALE / math.sqrt(width))
    x = rng.standard_normal((len(classes), width), dtype=np.float32)
    x += centroids[classes]
    return x


def parse_types(text: str, nodes: int) -> dict[str, tuple[int, int]]:
    """``{name: (nodes, width)}`` of ``types=NAME:SHARE:WIDTH+...`` (in order; the first is the target)."""
    out = {}
    for item in filter(None, text.split("+")):
        parts = item.split(":")
        try:
            name, share, width = parts[0], float(parts[1]), int(parts[2])
            # a finite share (nan and inf pass a `> 0` test or overflow the count), and a count in int64
            if len(parts) != 3 or not name or not 0 < share < _MAX_SHARE or width < 0 or name in out:
                raise ValueError
        except (ValueError, IndexError):
            raise DataError(f"synthetic `types` must be NAME:SHARE:WIDTH items joined by '+', each name once, share "
                            f"a number in (0, {_MAX_SHARE:g}), width >= 0 (got '{item}')") from None
        check_name("node type", name, "synthetic `types`")
        out[name] = (max(1, int(round(share * nodes))), width)
    if not out:
        raise DataError("synthetic `hetero=custom` needs `types` (NAME:SHARE:WIDTH+...)")
    return out


def parse_relations(text: str, names) -> list[tuple[str, str, str, int]]:
    """``[(src, name, dst, K)]`` of ``relations=SRC-NAME-DST:K+...``."""
    out = []
    for item in filter(None, text.split("+")):
        triple, _, k = item.partition(":")
        ends = triple.split("-")
        if len(ends) != 3 or not k.isdigit() or int(k) < 1:
            raise DataError(f"synthetic `relations` must be SRC-NAME-DST:K items joined by '+', K >= 1 (got '{item}')")
        for end in (ends[0], ends[2]):
            if end not in names:
                raise DataError(f"synthetic relation '{triple}' names the unknown node type '{end}' (types: "
                                f"{', '.join(names)})")
        check_name("relation", ends[1], "synthetic `relations`")
        if any(tuple(ends) == have[:3] for have in out):
            raise DataError(f"synthetic `relations` must give each relation once (got '{triple}' twice): give one "
                            "item with the sum of the K's")
        out.append((ends[0], ends[1], ends[2], int(k)))
    if not out:
        raise DataError("synthetic `hetero=custom` needs `relations` (SRC-NAME-DST:K+...)")
    return out


def _check(spec) -> None:
    if spec.hetero not in KINDS:
        raise DataError(f"synthetic `hetero` must be one of {', '.join(KINDS)} (got '{spec.hetero}')")
    if spec.task != "multiclass" or spec.edge_features:
        raise DataError(f"synthetic `hetero={spec.hetero}` draws multi-class labels on its target type, without edge "
                        f"features (got task={spec.task}, edge_features={spec.edge_features})")


def _finish(spec, rng, counts: dict, edges: dict, x: dict, classes: dict, target: str) -> Graph:
    """Labels and splits on the target type, then the typed graph."""
    n = counts[target]
    perm = rng.permutation(n)
    n_train, n_val = int(round(spec.train * n)), int(round(spec.val * n))
    masks = {split: {target: np.zeros(n, dtype=bool)} for split in ("train", "val", "test")}
    masks["train"][target][perm[:n_train]] = True
    masks["val"][target][perm[n_train : n_train + n_val]] = True
    masks["test"][target][perm[n_train + n_val :]] = True
    return hetero_graph(counts, edges, x, {target: classes[target]}, masks, target, bool(spec.reverse),
                        spec.to_spec())


def generate_typed(spec) -> Graph:
    """The typed graph of ``spec`` (a :class:`~gnnpart.data.synthetic.SyntheticSpec` with ``hetero``)."""
    _check(spec)
    if spec.hetero == "mag":
        return generate_mag(spec)
    shapes = parse_types(spec.types, spec.nodes)
    relations = parse_relations(spec.relations, list(shapes))
    rng = np.random.default_rng((_STREAM, spec.seed))
    counts = {t: n for t, (n, _) in shapes.items()}
    k = spec.classes
    classes = {t: rng.integers(0, k, n, dtype=np.int64) for t, n in counts.items()}
    pickers = {t: _Picker(rng, c, k) for t, c in classes.items()}
    edges = {}
    for src, name, dst, per in relations:
        targets = np.repeat(np.arange(counts[dst], dtype=np.int64), per)
        sources = pickers[src].pick(rng, classes[dst][targets], spec.homophily)
        keep = sources != targets if src == dst else np.ones(len(targets), dtype=bool)
        edges[(src, name, dst)] = (sources[keep], targets[keep])
    x = {t: _features(rng, classes[t], k, width, spec.signal) for t, (_, width) in shapes.items() if width}
    return _finish(spec, rng, counts, edges, x, classes, next(iter(shapes)))


def generate_mag(spec) -> Graph:
    """The MAG-shaped graph of ``spec`` (a :class:`~gnnpart.data.synthetic.SyntheticSpec` with ``hetero=mag``)."""
    _check(spec)
    rng = np.random.default_rng((_STREAM, spec.seed))
    counts = type_counts(spec.nodes)
    k = spec.classes
    classes = {t: rng.integers(0, k, n, dtype=np.int64) for t, n in counts.items()}
    pickers = {t: _Picker(rng, c, k) for t, c in classes.items()}
    h, n = spec.homophily, counts["paper"]

    def each(t: str, times: int) -> np.ndarray:
        return np.repeat(np.arange(counts[t], dtype=np.int64), times)

    papers3 = each("paper", 3)
    citing = pickers["paper"].any(rng, int(n * spec.degree) // 2)
    papers2 = each("paper", 2)
    authors = each("author", 1)
    edges = {
        ("author", "writes", "paper"): (pickers["author"].pick(rng, classes["paper"][papers3], h), papers3),
        ("paper", "cites", "paper"): (citing, pickers["paper"].pick(rng, classes["paper"][citing], h)),
        ("paper", "has_topic", "field"): (papers2, pickers["field"].pick(rng, classes["paper"][papers2], h)),
        ("author", "affiliated_with", "institution"): (
            authors, pickers["institution"].pick(rng, classes["author"][authors], h)),
    }
    s, d = edges[("paper", "cites", "paper")]
    loops = s == d
    edges[("paper", "cites", "paper")] = (s[~loops], d[~loops])
    x = {"paper": _features(rng, classes["paper"], k, spec.features, spec.signal),
         "author": _features(rng, classes["author"], k, max(1, spec.features // 2), spec.signal / 2)}
    return _finish(spec, rng, counts, edges, x, classes, "paper")
