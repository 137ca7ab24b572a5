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
"""
from __future__ import annotations

import math

import numpy as np

from gnnpart.data.graph import Graph
from gnnpart.data.hetero import hetero_graph
from gnnpart.errors import DataError

KINDS = ("mag",)
"""The shapes ``hetero=`` draws."""

_SHARE = {"paper": 1.0, "author": 0.8, "institution": 0.02, "field": 0.18}
_PARETO_SHAPE = 2.5
_SIGNAL_SCALE = 1.25
_STREAM = 0x6D6167  # "mag": draws of their own, apart from the homogeneous generator's for the same seed


def type_counts(nodes: int) -> dict[str, int]:
    """Nodes per type for ``nodes`` papers (each type at least one node)."""
    return {t: max(1, int(round(share * nodes))) for t, share in _SHARE.items()}


def memory_estimate(spec) -> int:
    """Bytes :func:`generate_mag` needs at its peak (about 3x the graph's arrays while the CSR is sorted)."""
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


def generate_mag(spec) -> Graph:
    """The MAG-shaped graph of ``spec`` (a :class:`~gnnpart.data.synthetic.SyntheticSpec` with ``hetero=mag``)."""
    if spec.hetero not in KINDS:
        raise DataError(f"synthetic `hetero` must be one of {', '.join(KINDS)} (got '{spec.hetero}')")
    if spec.task != "multiclass" or spec.edge_features:
        raise DataError("synthetic `hetero=mag` draws multi-class labels on papers, without edge features (got "
                        f"task={spec.task}, edge_features={spec.edge_features})")
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
    perm = rng.permutation(n)
    n_train, n_val = int(round(spec.train * n)), int(round(spec.val * n))
    masks = {split: {"paper": np.zeros(n, dtype=bool)} for split in ("train", "val", "test")}
    masks["train"]["paper"][perm[:n_train]] = True
    masks["val"]["paper"][perm[n_train : n_train + n_val]] = True
    masks["test"]["paper"][perm[n_train + n_val :]] = True
    return hetero_graph(counts, edges, x, {"paper": classes["paper"]}, masks, "paper", bool(spec.reverse),
                        spec.to_spec())
