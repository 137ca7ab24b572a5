"""Dataset specs: one string names a dataset, ``gnnpart.data.loading(spec)`` builds the Graph.

=================================  ==============================================
spec                               dataset
=================================  ==============================================
``cora``, ``citeseer``             raw Planetoid files under ``root``
``synthetic[:key=value,...]``      generated (keys in :mod:`gnnpart.data.synthetic`)
``ogb:DIR[,split=NAME,undirected=true]``  OGB node-property layout in ``DIR`` (a heterogeneous one,
                                   ``raw/num-node-dict.csv.gz``: a typed graph; ``reverse=true`` adds
                                   the reverse relations)
``edgelist:FILE[,x=F.npy,y=F.npy,train=F.npy,val=F.npy,test=F.npy,num_nodes=N,undirected=true]``
                                   text edge list plus optional ``.npy`` arrays
``npz:FILE``                       one ``.npz`` (keys in :mod:`gnnpart.data.files`)
``DIR``                            a graph directory (:mod:`gnnpart.data.graph_dir`), memory-mapped
``PATH``                           by what it is: a graph directory, an OGB folder, a ``.npz``, or an edge list
=================================  ==============================================

Relative paths in ``ogb:``/``edgelist:``/``npz:`` specs are taken from the
current directory, then from ``root``. ``root`` defaults to ``$GNNPART_DATA``,
then ``../shared/datasets`` (from the current directory, then from the
source checkout).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gnnpart.data import files, graph_dir, ogb, ogb_hetero, planetoid, synthetic
from gnnpart.data.graph import Graph
from gnnpart.errors import DataError

DATASETS = {
    "cora": "Cora citation graph (2,708 nodes, 10,556 edges, 1,433 features, 7 classes), raw Planetoid files",
    "citeseer": "CiteSeer citation graph (3,327 nodes, 9,104 edges, 3,703 features, 6 classes), raw Planetoid files",
    "synthetic[:nodes=N,degree=D,classes=C,features=F,homophily=H,seed=S]": (
        "generated graph with skewed degrees and planted classes (defaults: "
        + ", ".join(f"{k}={v}" for k, v in vars(synthetic.SyntheticSpec()).items())
        + ")"
    ),
    "ogb:DIR[,split=NAME,undirected=true]": "an OGB node-property folder (raw/edge.csv.gz, raw/node-feat.csv.gz, ...; "
                                            "or heterogeneous, as ogbn-mag: raw/num-node-dict.csv.gz, raw/relations/)",
    "edgelist:FILE[,x=X.npy,y=Y.npy,train=T.npy,val=V.npy,test=T.npy]": "a text edge list plus .npy arrays",
    "npz:FILE": "one .npz with indptr/indices or src/dst, x, y and masks",
    "DIR": "a graph directory written by `gnnpart convert` or `gnnpart generate`, read memory-mapped",
}


def default_root() -> Path:
    """``$GNNPART_DATA``, else the first existing ``../shared/datasets`` (cwd, then source checkout)."""
    env = os.environ.get("GNNPART_DATA")
    if env:
        return Path(env)
    candidates = [Path.cwd().parent / "shared" / "datasets", Path(__file__).resolve().parents[3] / "shared" / "datasets"]
    for cand in candidates:
        if cand.is_dir():
            return cand
    return candidates[0]


def _options(text: str, allowed: set[str]) -> tuple[str, dict[str, str]]:
    """Split ``PATH,key=value,...`` into the path and its options."""
    path, *rest = text.split(",")
    opts = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise DataError(f"dataset option must be `key=value` with key in {sorted(allowed)} (got '{item}')")
        opts[key] = value
    return path, opts


def _flag(opts: dict, key: str) -> bool:
    value = opts.pop(key, "false").lower()
    if value not in ("1", "0", "true", "false", "yes", "no"):
        raise DataError(f"dataset option `{key}` must be true or false (got '{value}')")
    return value in ("1", "true", "yes")


def _resolve(path: str, root: Path) -> Path:
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    for cand in (root / path, root / path.replace("-", "_")):
        if cand.exists():
            return cand
    return p


def load(spec, root=None) -> Graph:
    """Load a dataset from a spec string (see the module docstring), or convert a PyG ``Data``.

    Args:
        spec (str or torch_geometric.data.Data): what to load.
        root (str or Path, optional): where named datasets live; default :func:`default_root`.

    Raises:
        DataError: for an unknown spec, a missing or unreadable file, or invalid data.
    """
    if not isinstance(spec, str):
        if hasattr(spec, "node_types") and hasattr(spec, "edge_types"):  # a PyG HeteroData
            from gnnpart.data.hetero import from_hetero_data

            return from_hetero_data(spec)
        if hasattr(spec, "edge_index"):
            from gnnpart.data.pyg import from_pyg

            return from_pyg(spec)
        raise DataError(f"dataset spec must be a string or a PyG Data object (got {type(spec).__name__})")
    root = Path(root) if root is not None else default_root()
    found = locate(spec, root)
    kind, path, opts = found.kind, found.path, found.options
    if kind == "planetoid":
        return planetoid.load_planetoid(found.name, root)
    if kind == "synthetic":
        return synthetic.generate(found.synthetic)
    if kind == "ogb-hetero":
        return ogb_hetero.load_ogb_hetero(path, split=opts.get("split"),
                                          reverse=_flag(opts, "undirected") or _flag(opts, "reverse"))
    if kind == "ogb":
        return ogb.load_ogb(path, split=opts.get("split"), undirected=_flag(opts, "undirected"))
    if kind == "edgelist":
        undirected = _flag(opts, "undirected")
        num_nodes = opts.pop("num_nodes", None)
        if num_nodes is not None and not num_nodes.isdigit():
            raise DataError(f"dataset option `num_nodes` must be a non-negative integer (got '{num_nodes}')")
        arrays = {k: _resolve(v, root) for k, v in opts.items()}
        return files.load_edgelist(path, num_nodes=int(num_nodes) if num_nodes else None, undirected=undirected,
                                   **arrays)
    if kind == "npz":
        return files.load_npz(path)
    return graph_dir.open_graph(path)  # a graph directory; a broken meta.json is named, not guessed past


@dataclass
class Located:
    """What a dataset spec names, found without reading the dataset (:func:`locate`).

    Attributes:
        kind (str): ``planetoid``, ``synthetic``, ``ogb``, ``ogb-hetero``, ``edgelist``, ``npz`` or ``graph-dir``.
        name (str): the spec's name (``cora``) or scheme.
        path (Path | None): the file or folder (None for a named or generated dataset).
        options (dict): the spec's ``key=value`` options.
        synthetic (SyntheticSpec | None): a generated dataset's parameters.
    """

    kind: str
    name: str
    path: Path | None = None
    options: dict = field(default_factory=dict)
    synthetic: synthetic.SyntheticSpec | None = None

    @property
    def typed(self) -> bool:
        """Whether the dataset is a typed (heterogeneous) graph, as far as its spec and metadata say."""
        if self.synthetic is not None:
            return bool(self.synthetic.hetero)
        if self.kind == "graph-dir":
            return bool(graph_dir.read_graph_meta(self.path).get("node_types"))
        return self.kind == "ogb-hetero"


def locate(spec: str, root=None) -> Located:
    """Find what ``spec`` names without reading it: the checks a launcher makes before any rank starts, with the
    words :func:`load` uses (a path that does not exist, a folder that is no dataset, an unknown name, a bad
    synthetic spec or option).

    Args:
        spec (str): a dataset spec (see the module docstring).
        root (str or Path, optional): where named datasets live; default :func:`default_root`.

    Raises:
        DataError: naming the spec or path and what is wrong.
    """
    root = Path(root) if root is not None else default_root()
    scheme, sep, rest = spec.partition(":")
    name = scheme.strip().lower()
    if name in planetoid.NAMES and not sep:
        return Located("planetoid", name)
    if name == "synthetic":
        return Located("synthetic", name, synthetic=synthetic.SyntheticSpec.parse(rest))
    if sep and name in ("ogb", "edgelist", "npz"):
        allowed = {"ogb": {"split", "undirected", "reverse"}, "npz": set(),
                   "edgelist": {"x", "y", "train", "val", "test", "num_nodes", "undirected"}}[name]
        path, opts = _options(rest, allowed) if name != "npz" else (rest, {})
        resolved = _resolve(path, root)
        if not resolved.exists():
            raise DataError(f"missing data file: {resolved} (the {name}: dataset {path} does not exist, nor under the "
                            f"data root {root})")
        kind = "ogb-hetero" if name == "ogb" and ogb_hetero.is_ogb_hetero_dir(resolved) else name
        return Located(kind, name, resolved, opts)
    path = _resolve(spec, root)
    if path.exists():
        if path.is_dir() and (path / graph_dir.META_FILE).is_file() and not ogb.is_ogb_dir(path):
            return Located("graph-dir", "DIR", path)
        if path.is_dir() and ogb.is_ogb_dir(path):
            return Located("ogb", "ogb", path)
        if path.is_dir() and ogb_hetero.is_ogb_hetero_dir(path):
            return Located("ogb-hetero", "ogb", path)
        if path.suffix == ".npz" and path.is_file():
            return Located("npz", "npz", path)
        if path.suffix in files.EDGELIST_SUFFIXES and path.is_file():
            return Located("edgelist", "edgelist", path)
        raise DataError(_not_a_dataset(spec, path))
    known = ", ".join(k.split("[")[0].split(":")[0] for k in DATASETS if k != "DIR")
    if not sep and ("/" in spec or spec.startswith(".") or Path(spec).suffix):
        raise DataError(f"dataset path {spec} does not exist (nor under the data root {root})")
    raise DataError(f"unknown dataset '{spec}': expected one of {known}, or a path to a graph directory, an OGB folder, "
                    ".npz or edge list")


def _not_a_dataset(spec: str, path: Path) -> str:
    """Why ``path`` (which exists) is no dataset, and what it would need."""
    wanted = (f"{graph_dir.META_FILE} (a graph directory, from `gnnpart convert` or `generate`), raw/edge.csv.gz or "
              "raw/num-node-dict.csv.gz (an OGB folder)")
    if path.is_dir():
        if not any(path.iterdir()):
            return f"dataset path {spec} is an empty directory: a dataset folder holds {wanted}"
        return f"dataset path {spec} is a directory that holds no dataset: it lacks {wanted}"
    return (f"dataset path {spec} is not a dataset file: expected a .npz or an edge list "
            f"({', '.join(files.EDGELIST_SUFFIXES)})")
