"""A synthetic, learnable graph with a skewed degree distribution and planted classes.

``synthetic:nodes=N,degree=D,classes=C,features=F,homophily=H,seed=S,train=T,val=V``

=========  =======  ==========================================================
key        default  meaning
=========  =======  ==========================================================
nodes      10000    number of nodes
degree     10       average degree: the graph has exactly ``nodes * degree``
                    directed edges (rounded down to even), stored both ways
classes    8        number of planted classes (uniform at random)
features   64       feature width
homophily  0.6      fraction of edges drawn inside their class
signal     1.0      strength of the class signal in the features
seed       0        seed of every random draw
train      0.6      fraction of nodes in the training set
val        0.2      fraction in the validation set (the rest is test)
task       multiclass  the labels: ``multiclass`` (the planted class),
                    ``multilabel:T`` (``T`` binary tasks) or ``regression[:T]``
                    (``T`` real targets, default 1)
edge_features  0    width ``D`` of the edge features (0: none)
hetero     (none)   ``mag``: a typed graph shaped like OGB's MAG instead
                    (:mod:`gnnpart.data.synthetic_hetero`; ``nodes`` counts
                    its papers)
reverse    1        with ``hetero``: add each relation's reverse
types      (none)   with ``hetero=custom``: NAME:SHARE:WIDTH+... (the first
                    type is the target)
relations  (none)   with ``hetero=custom``: SRC-NAME-DST:K+... (K in-edges
                    per node of DST)
=========  =======  ==========================================================

Model (a degree-corrected stochastic block model, Chung-Lu style): node
``i`` gets a weight ``w_i ~ 1 + Pareto(2.5)`` (so degrees are heavy-tailed);
an edge picks one end with probability proportional to ``w``, and the other
end, also weight-proportional, inside the first end's class with probability
``homophily`` and outside it otherwise. Self loops and repeats are discarded
and sampling continues until exactly ``nodes * degree / 2`` distinct
undirected edges exist. Features are ``signal * 1.25 / sqrt(features) * mu_c +
N(0, I)`` for a random class centroid ``mu_c``: one node's own features
separate the classes poorly, its neighbourhood's average well, so a GCN
beats an MLP clearly. All draws come from numpy's PCG64 with the given seed,
so a spec gives the same graph on every machine.

The other tasks plant their signal in the same classes: each class ``c`` gets
a logit ``b[c, t] ~ N(0, 4)`` per binary task ``t``, and a node of class ``c``
has label 1 for task ``t`` with probability ``sigmoid(b[c, t])``
(``multilabel``); or a mean ``m[c, t] ~ N(0, 1)``, and a node's target is
``m[c, t] + N(0, 0.25)`` (``regression``). Edge features are
``N(0, I)`` plus, in the first column, 1 for an edge inside a class; both
directions of an edge have the same row.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import numpy as np

from gnnpart.data.csr import coo_to_csr, coo_to_csr_with_rows
from gnnpart.data.graph import Graph
from gnnpart.errors import DataError
from gnnpart.limits import require_memory

log = logging.getLogger(__name__)

_PARETO_SHAPE = 2.5
_SIGNAL_SCALE = 1.25
_MAX_ROUNDS = 64
_STREAM = 0x73796E74  # "synt": a stream of its own, not shared with other users of the same seed


@dataclass(frozen=True)
class SyntheticSpec:
    nodes: int = 10000
    degree: float = 10
    classes: int = 8
    features: int = 64
    homophily: float = 0.6
    signal: float = 1.0
    seed: int = 0
    train: float = 0.6
    val: float = 0.2
    task: str = "multiclass"
    edge_features: int = 0
    hetero: str = ""
    reverse: int = 1
    types: str = ""
    relations: str = ""

    def __post_init__(self) -> None:
        def fail(key, rule):
            raise DataError(f"synthetic `{key}` must be {rule} (got {getattr(self, key)})")

        kind, _, targets = str(self.task).partition(":")
        if kind not in ("multiclass", "multilabel", "regression") or (kind == "multiclass" and targets) or (
                targets and not (targets.isdigit() and int(targets) >= 1)) or (kind == "multilabel" and not targets):
            fail("task", "multiclass, multilabel:T or regression[:T] with T >= 1 targets")
        if self.edge_features < 0:
            fail("edge_features", ">= 0")
        if self.hetero not in ("", "mag", "custom"):
            fail("hetero", "mag (a MAG-shaped typed graph), custom (with `types` and `relations`), or left out")
        if (self.types or self.relations) and self.hetero != "custom":
            fail("hetero", "custom when `types` or `relations` are given (hetero=mag's are fixed)")
        if self.reverse not in (0, 1):
            fail("reverse", "0 or 1")

        if self.nodes < 2:
            fail("nodes", ">= 2")
        if self.classes < 1 or self.classes > self.nodes:
            fail("classes", f"between 1 and nodes ({self.nodes})")
        if self.features < 1:
            fail("features", ">= 1")
        if not 0 <= self.degree <= (self.nodes - 1) / 2:
            fail("degree", f"between 0 and (nodes - 1) / 2 = {(self.nodes - 1) / 2} so that the graph is not near-complete")
        if not 0.0 <= self.homophily <= 1.0:
            fail("homophily", "in [0, 1]")
        if self.homophily == 1.0 and self.classes > 0 and self.nodes // self.classes < 2:
            fail("homophily", "below 1 when classes hold single nodes")
        if self.signal < 0:
            fail("signal", ">= 0")
        for key in ("train", "val"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                fail(key, "in [0, 1]")
        if self.train + self.val > 1.0:
            fail("val", f"at most 1 - train = {1 - self.train}")
        if not 0 <= self.seed < 2**63:
            fail("seed", "an integer in [0, 2**63)")

    @property
    def num_targets(self) -> int:
        """``T`` of a multi-label or regression task (0 for multiclass)."""
        kind, _, targets = self.task.partition(":")
        return 0 if kind == "multiclass" else int(targets or 1)

    def memory_estimate(self, features: bool = True) -> int:
        """Bytes the generator needs at its peak (measured: 1.75 GiB for 1M nodes, degree 20, 128 features; 6.3
        GiB for 4M nodes written to disk); without ``features``, what writing it to disk needs (the features go
        out in blocks)."""
        edge_rows = self.nodes * self.degree * (self.edge_features * 12 + 40) if self.edge_features else 0
        x = self.nodes * self.features * 4 * 1.05 if features else 2 * _BLOCK_BYTES
        return int(x + self.nodes * self.degree * 80 + self.nodes * 64 + self.nodes * self.num_targets * 8 + edge_rows)

    @classmethod
    def parse(cls, text: str) -> "SyntheticSpec":
        """Parse ``key=value,key=value`` (any key may be left out)."""
        types = {f.name: f.type for f in fields(cls)}
        values = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in types:
                raise DataError(f"synthetic spec keys must be `key=value` with key in {sorted(types)} (got '{item}')")
            if types[key] in (str, "str"):
                values[key] = raw.strip()
                continue
            conv = int if types[key] in (int, "int") else float
            try:
                number = float(raw)
                values[key] = conv(number) if conv is float or number.is_integer() else None
                if values[key] is None:
                    raise ValueError
            except ValueError:
                raise DataError(f"synthetic `{key}` must be a {conv.__name__} (got '{raw}')") from None
        return cls(**values)

    def to_spec(self) -> str:
        def fmt(v):
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

        optional = {"task": "multiclass", "edge_features": 0, "hetero": "", "reverse": 1, "types": "", "relations": ""}  # left out at their defaults: older names stay
        return "synthetic:" + ",".join(f"{f.name}={fmt(getattr(self, f.name))}" for f in fields(self)
                                       if optional.get(f.name, object()) != getattr(self, f.name))


class _Inverter:
    """Inverse of a cumulative-weight array: position ``i`` with ``cum[i-1] <= p < cum[i]``.

    A guide table (one bucket per node) gives each query a start that is at
    most a few steps short of its answer, so a batch costs O(m) vectorised
    steps instead of the O(m log n) cache-missing probes of ``searchsorted``.
    """

    def __init__(self, cum: np.ndarray):
        self.cum = cum
        self.total = float(cum[-1])
        self.buckets = len(cum)
        edges = np.arange(self.buckets, dtype=np.float64) * (self.total / self.buckets)
        self.guide = np.searchsorted(cum, edges, side="right")

    def __call__(self, p: np.ndarray) -> np.ndarray:
        b = np.minimum((p * (self.buckets / self.total)).astype(np.int64), self.buckets - 1)
        idx = self.guide[b]
        last = len(self.cum) - 1
        todo = np.flatnonzero((idx < last) & (self.cum[np.minimum(idx, last)] <= p))
        while len(todo):
            idx[todo] += 1
            more = (idx[todo] < last) & (self.cum[idx[todo]] <= p[todo])
            todo = todo[more]
        return np.minimum(idx, last)


def _sample(rng, m, invert, cls_lo, cls_hi, labels_sorted, homophily):
    """Draw ``m`` edges as positions into the class-sorted node order."""
    total = invert.total
    u = invert(rng.random(m) * total)
    c = labels_sorted[u]
    lo, hi = cls_lo[c], cls_hi[c]
    inside = rng.random(m) < homophily
    t = rng.random(m) * np.where(inside, hi - lo, total - (hi - lo))
    pos = np.where(inside, lo + t, np.where(t < lo, t, t + (hi - lo)))
    return u, invert(pos)


_BLOCK = 1 << 16  # rows of features drawn, and written, at a time (at most _BLOCK_BYTES of them)
_BLOCK_BYTES = 32 << 20


def generate(spec: SyntheticSpec) -> Graph:
    """Generate the graph described by ``spec`` (see the module docstring).

    Raises:
        ResourceError: if the estimated peak memory exceeds what is available (before allocating).
    """
    if spec.hetero:
        from gnnpart.data import synthetic_hetero

        require_memory(synthetic_hetero.memory_estimate(spec), spec.to_spec(), "lower `nodes` or `degree`")
        return synthetic_hetero.generate_typed(spec)
    require_memory(spec.memory_estimate(), spec.to_spec(), "lower `nodes`, `degree` or `features`, or write it to "
                   "disk with `gnnpart generate`")
    rng = np.random.default_rng((_STREAM, spec.seed))
    labels, indptr, indices, edge_attr = _structure(spec, rng)
    x = np.empty((spec.nodes, spec.features), dtype=np.float32)
    for start, block in _feature_blocks(spec, rng, labels):
        x[start : start + len(block)] = block
    masks, y = _splits_and_labels(spec, rng, labels)
    return Graph(indptr, indices, x, y, *masks, undirected=True, name=spec.to_spec(), edge_attr=edge_attr)


def generate_to_dir(spec: SyntheticSpec, out, overwrite: bool = False) -> dict:
    """Write the graph of ``spec`` to the graph directory ``out`` (:mod:`gnnpart.data.graph_dir`): the structure
    is built in memory, the features are drawn and written in row blocks, so the features never are. The
    directory holds exactly the graph :func:`generate` returns.

    Returns:
        dict: the ``meta.json`` written.

    Raises:
        ResourceError: if the structure's estimated peak memory exceeds what is available.
    """
    from gnnpart.data.graph_dir import GraphDirWriter, write_graph

    if spec.hetero:  # drawn in memory whole (the typed generator), then written
        return write_graph(generate(spec), out, overwrite=overwrite)
    require_memory(spec.memory_estimate(features=False), spec.to_spec(), "lower `nodes` or `degree`")
    with GraphDirWriter(out, overwrite) as w:
        rng = np.random.default_rng((_STREAM, spec.seed))
        labels, indptr, indices, edge_attr = _structure(spec, rng)
        w.save("indptr", indptr)
        w.save("indices", indices)
        num_edges = len(indices)
        del indptr, indices
        if edge_attr is not None:
            w.save("edge_attr", edge_attr)
            del edge_attr
        log.info("synthetic: structure written (%d edges); drawing %d x %d features", num_edges, spec.nodes,
                 spec.features)
        w.save_blocks("x", (spec.nodes, spec.features), np.float32,
                      (block for _, block in _feature_blocks(spec, rng, labels)))
        masks, y = _splits_and_labels(spec, rng, labels)
        w.save("y", y)
        for name, mask in zip(("train_mask", "val_mask", "test_mask"), masks):
            w.save(name, mask)
        return w.finish(spec.to_spec(), spec.nodes, num_edges, spec.features, True)


def _structure(spec: SyntheticSpec, rng):
    """``(labels, indptr, indices, edge_attr)``: the planted classes and the edges (the first draws of ``rng``)."""
    n, k = spec.nodes, spec.classes
    labels = rng.integers(0, k, n, dtype=np.int64)
    weight = 1.0 + rng.pareto(_PARETO_SHAPE, n)

    order = np.argsort(labels, kind="stable")  # node at each position of the class-sorted order
    labels_sorted = labels[order]
    cum = np.cumsum(weight[order])
    invert = _Inverter(cum)
    first = np.searchsorted(labels_sorted, np.arange(k), side="left")
    last = np.searchsorted(labels_sorted, np.arange(k), side="right")
    padded = np.concatenate([[0.0], cum])
    cls_lo, cls_hi = padded[first], padded[last]

    target = int(n * spec.degree) // 2  # distinct undirected edges
    a = np.empty(0, dtype=np.int64)
    b = np.empty(0, dtype=np.int64)
    rounds = 0
    while len(a) < target:
        if rounds == _MAX_ROUNDS:
            raise DataError(f"synthetic: could not draw {target} distinct edges in {rounds} rounds; lower `degree`")
        rounds += 1
        m = int((target - len(a)) * 1.08) + 64
        u, v = _sample(rng, m, invert, cls_lo, cls_hi, labels_sorted, spec.homophily)
        u, v = order[u], order[v]
        keep = u != v
        lo_end, hi_end = np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])
        indptr, b = coo_to_csr(np.concatenate([a, lo_end]), np.concatenate([b, hi_end]), n)
        a = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    if len(a) > target:
        chosen = np.sort(rng.permutation(len(a))[:target])
        a, b = a[chosen], b[chosen]
    edge_attr = None
    if spec.edge_features:
        pair_attr = rng.standard_normal((len(a), spec.edge_features), dtype=np.float32)
        pair_attr[:, 0] += labels[a] == labels[b]
        indptr, indices, edge_attr = coo_to_csr_with_rows(np.concatenate([b, a]), np.concatenate([a, b]),
                                                    np.concatenate([pair_attr, pair_attr]), n)
        del pair_attr
    else:
        indptr, indices = coo_to_csr(np.concatenate([a, b]), np.concatenate([b, a]), n, dedup=False)
    return labels, indptr, indices, edge_attr


def _feature_blocks(spec: SyntheticSpec, rng, labels):
    """``(first row, block)`` of the features in row blocks: the same draws as one ``[N, F]`` draw."""
    centroids = rng.standard_normal((spec.classes, spec.features), dtype=np.float32)
    centroids *= np.float32(spec.signal * _SIGNAL_SCALE / math.sqrt(spec.features))
    rows = max(1, min(_BLOCK, _BLOCK_BYTES // (4 * spec.features)))  # the draws do not depend on the block size
    for start in range(0, spec.nodes, rows):
        block = rng.standard_normal((min(rows, spec.nodes - start), spec.features), dtype=np.float32)
        block += centroids[labels[start : start + len(block)]]
        yield start, block


def _splits_and_labels(spec: SyntheticSpec, rng, labels):
    """The three masks and ``y`` (the last draws of ``rng``)."""
    n = spec.nodes
    perm = rng.permutation(n)
    n_train, n_val = int(round(spec.train * n)), int(round(spec.val * n))
    masks = [np.zeros(n, dtype=bool) for _ in range(3)]
    masks[0][perm[:n_train]] = True
    masks[1][perm[n_train : n_train + n_val]] = True
    masks[2][perm[n_train + n_val :]] = True
    y = _targets(rng, spec, labels) if spec.num_targets else labels
    return masks, y


def _targets(rng, spec: SyntheticSpec, labels: np.ndarray) -> np.ndarray:
    """float32 ``[N, T]`` multi-label or regression targets planted in the classes (see the module docstring)."""
    t = spec.num_targets
    if spec.task.startswith("multilabel"):
        logit = rng.standard_normal((spec.classes, t)) * 2.0
        prob = 1.0 / (1.0 + np.exp(-logit))
        y = np.empty((len(labels), t), dtype=np.float32)
        for start in range(0, len(labels), 1 << 16):
            block = labels[start : start + (1 << 16)]
            y[start : start + len(block)] = rng.random((len(block), t)) < prob[block]
        return y
    mean = rng.standard_normal((spec.classes, t)).astype(np.float32)
    y = rng.standard_normal((len(labels), t), dtype=np.float32) * np.float32(0.5)
    for start in range(0, len(labels), 1 << 16):
        y[start : start + (1 << 16)] += mean[labels[start : start + (1 << 16)]]
    return y
