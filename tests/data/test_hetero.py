"""Typed graphs: GraphTypes, Graph's checks of node and edge types, hetero_graph, PyG HeteroData, synthetic MAG."""
import numpy as np
import pytest
import torch

from gnnpart.data import Graph, load
from gnnpart.data.hetero import from_hetero_data, hetero_graph
from gnnpart.data.typed import GraphTypes
from gnnpart.errors import DataError

NODES = {"paper": 4, "author": 3}
EDGES = {("author", "writes", "paper"): ([0, 1, 2, 0], [0, 0, 1, 3]), ("paper", "cites", "paper"): ([0, 1], [1, 2])}


def small(**kw):
    args = dict(num_nodes=NODES, edges=EDGES, x={"paper": np.arange(12.0).reshape(4, 3)},
                y={"paper": np.array([0, 1, 1, 0])}, masks={"train": {"paper": np.array([1, 1, 0, 0], bool)}},
                target="paper")
    args.update(kw)
    return hetero_graph(**args)


def test_types_are_blocks_of_global_ids_and_edges_keep_their_relation():
    g = small()
    assert g.is_typed and g.types.node_types == ("paper", "author") and g.types.widths == (3, 0)
    assert g.types.targets == ("paper",)
    np.testing.assert_array_equal(g.node_type, [0, 0, 0, 0, 1, 1, 1])
    src, dst = g.edges()
    got = sorted((int(s), int(d), g.types.relations[t][1]) for s, d, t in zip(src, dst, g.edge_type))
    want = sorted([(4, 0, "writes"), (5, 0, "writes"), (6, 1, "writes"), (4, 3, "writes"), (0, 1, "cites"),
                   (1, 2, "cites")])
    assert got == want
    # features padded to the widest type, zeros for the featureless author; labels and masks on papers only
    np.testing.assert_array_equal(g.x[:4], np.arange(12.0).reshape(4, 3))
    assert not g.x[4:].any() and g.y.tolist() == [0, 1, 1, 0, -1, -1, -1]
    assert g.train_mask.tolist() == [True, True, False, False, False, False, False]


def test_reverse_relations_as_to_undirected_adds_them():
    g = small(reverse=True)
    assert [r[1] for r in g.types.relations] == ["writes", "cites", "rev_writes"]
    counts = np.bincount(g.edge_type)
    assert counts.tolist() == [4, 4, 4]  # cites made undirected in place: 2 edges both ways
    src, dst = g.edges()
    rev = g.edge_type == 2
    assert sorted(zip(dst[rev].tolist(), src[rev].tolist())) == sorted(zip([4, 5, 6, 4], [0, 0, 1, 3]))


def test_two_relations_may_join_the_same_pair():
    g = hetero_graph({"a": 2}, {("a", "likes", "a"): ([0], [1]), ("a", "follows", "a"): ([0], [1])})
    assert g.num_edges == 2 and sorted(g.edge_type.tolist()) == [0, 1]
    with pytest.raises(DataError, match=r"sorted by \(source, edge type\), each pair once"):
        Graph(g.indptr, g.indices, g.x, g.y, node_type=g.node_type, edge_type=np.zeros(2, np.int64), types=g.types)


def test_hetero_data_loads_to_the_same_graph():
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["paper"].x = torch.arange(12.0).reshape(4, 3)
    data["paper"].y = torch.tensor([0, 1, 1, 0])
    data["paper"].train_mask = torch.tensor([True, True, False, False])
    data["author"].num_nodes = 3
    for rel, (s, d) in EDGES.items():
        data[rel].edge_index = torch.tensor([s, d])
    got, want = from_hetero_data(data, reverse=True), small(reverse=True)
    for field in ("indptr", "indices", "x", "y", "train_mask", "node_type", "edge_type"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    assert got.types == want.types


@pytest.mark.parametrize("kw, match", [
    (dict(edges={("author", "writes", "journal"): ([0], [0])}),
     r"relation \('author', 'writes', 'journal'\) names the unknown node type 'journal'"),
    (dict(edges={("author", "writes", "paper"): ([3], [0])}),
     r"edges of \('author', 'writes', 'paper'\) have the source id 3, past the 3 nodes of type 'author'"),
    (dict(edges={("author", "writes", "paper"): ([0], [-1])}), r"destination id -1, past the 4 nodes of type 'paper'"),
    (dict(x={"paper": np.zeros((5, 3))}), r"features of node type 'paper' must have shape \[4, F\].*\(got shape \(5, 3\)\)"),
    (dict(y={"author": np.zeros(3, int)}), r"labels given for node type 'author', which is not a target type \(paper\)"),
])
def test_bad_inputs_get_one_line(kw, match):
    with pytest.raises(DataError, match=match):
        small(**kw)


def test_graph_checks_its_types():
    g = small()
    fields = dict(indptr=g.indptr, indices=g.indices, x=g.x, y=g.y, node_type=g.node_type, edge_type=g.edge_type,
                  types=g.types)
    wrong = g.edge_type.copy()
    wrong[wrong == 1] = 0  # a citation (paper -> paper) called writes (author -> paper)
    with pytest.raises(DataError, match=r"edge \d+ of relation \('author', 'writes', 'paper'\) has the source node 0 "
                                        r"of type 'paper', not 'author'"):
        Graph(**{**fields, "edge_type": wrong})
    wide = GraphTypes(g.types.node_types, g.types.relations, (5, 0), ("paper",))
    with pytest.raises(DataError, match=r"node type 'paper' has 5 features, but `x` has only 3 columns"):
        Graph(**{**fields, "types": wide})
    y = g.y.copy()
    y[5] = 1
    with pytest.raises(DataError, match=r"node 5 of type 'author' has a label, but labels belong to the target types "
                                        r"only \(paper\)"):
        Graph(**{**fields, "y": y})
    with pytest.raises(DataError, match=r"numbered type by type"):
        Graph(**{**fields, "node_type": g.node_type[::-1].copy()})
    with pytest.raises(DataError, match=r"needs `node_type`, `edge_type` and `types` together"):
        Graph(g.indptr, g.indices, g.x, g.y, node_type=g.node_type)
    with pytest.raises(DataError, match=r"`edge_type` must be in \[0, 2\) \(got 7\)"):
        Graph(**{**fields, "edge_type": np.full_like(g.edge_type, 7)})
    with pytest.raises(DataError, match=r"relation \('paper', 'cites', 'venue'\) names the unknown node type 'venue'"):
        GraphTypes(("paper",), (("paper", "cites", "venue"),), (3,))


def test_synthetic_mag_is_typed_deterministic_and_homophilous():
    spec = "synthetic:hetero=mag,nodes=2000,features=16,classes=4,seed=1"
    g, again = load(spec), load(spec)
    np.testing.assert_array_equal(g.indices, again.indices)
    np.testing.assert_array_equal(g.x, again.x)
    assert g.types.node_types == ("paper", "author", "institution", "field")
    assert g.types.widths == (16, 8, 0, 0) and g.types.targets == ("paper",)
    names = [r[1] for r in g.types.relations]
    assert names == ["writes", "cites", "has_topic", "affiliated_with", "rev_writes", "rev_has_topic",
                     "rev_affiliated_with"]
    counts = np.bincount(g.node_type).tolist()
    assert counts == [2000, 1600, 40, 360] and g.train_mask.sum() == 1200
    # the class signal runs through citations: cited papers share the citer's class far above chance (1/4)
    src, dst = g.edges()
    cites = g.edge_type == 1
    same = (g.y[src[cites]] == g.y[dst[cites]]).mean()
    assert same > 0.5
    without = load("synthetic:hetero=mag,nodes=2000,features=16,classes=4,seed=1,reverse=0")
    assert without.types.num_relations == 4 and without.num_edges < g.num_edges


def write_ogb_layout(data, root, split="time"):
    """A HeteroData written as OGB writes ogbn-mag: counts with a header, a folder per relation, per-type
    features and labels, and a split folder per labelled type."""
    import gzip

    def csv(path, rows):
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as fh:
            for row in rows:
                fh.write(",".join(str(v) for v in (row if isinstance(row, (list, tuple, np.ndarray)) else [row])) + "\n")

    raw = root / "raw"
    csv(raw / "num-node-dict.csv.gz", [data.node_types, [data[t].num_nodes for t in data.node_types]])
    csv(raw / "triplet-type-list.csv.gz", [list(rel) for rel in data.edge_types])
    for rel in data.edge_types:
        csv(raw / "relations" / "___".join(rel) / "edge.csv.gz", data[rel].edge_index.t().tolist())
    for t in data.node_types:
        store = data[t]
        if getattr(store, "x", None) is not None:
            csv(raw / "node-feat" / t / "node-feat.csv.gz", [[repr(float(v)) for v in row] for row in store.x.tolist()])
        if getattr(store, "y", None) is not None:
            csv(raw / "node-label" / t / "node-label.csv.gz", store.y.tolist())
            for key, name in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
                ids = store[key].nonzero().view(-1).tolist() if key in store else []
                csv(root / "split" / split / t / f"{name}.csv.gz", ids)


def test_hetero_data_and_its_ogb_layout_copy_load_to_the_same_graph(tmp_path):
    from torch_geometric.data import HeteroData

    g = load("synthetic:hetero=mag,nodes=300,features=6,classes=3,seed=5,reverse=0")
    data = HeteroData()
    first = np.concatenate([[0], np.cumsum(np.bincount(g.node_type))])
    for t, name in enumerate(g.types.node_types):
        lo, hi = first[t], first[t + 1]
        data[name].num_nodes = int(hi - lo)
        if g.types.widths[t]:
            data[name].x = torch.from_numpy(g.x[lo:hi, : g.types.widths[t]].copy())
        if name in g.types.targets:
            data[name].y = torch.from_numpy(g.y[lo:hi].copy())
            for key in ("train_mask", "val_mask", "test_mask"):
                data[name][key] = torch.from_numpy(getattr(g, key)[lo:hi].copy())
    src, dst = g.edges()
    for r, rel in enumerate(g.types.relations):
        keep = g.edge_type == r
        s = src[keep] - first[g.types.type_id(rel[0])]
        d = dst[keep] - first[g.types.type_id(rel[2])]
        data[rel].edge_index = torch.from_numpy(np.stack([s, d]))
    write_ogb_layout(data, tmp_path / "mag")
    fields = ("indptr", "indices", "x", "y", "train_mask", "val_mask", "test_mask", "node_type", "edge_type")
    from_pyg, from_files = load(data), load(str(tmp_path / "mag"))
    assert from_files.types == from_pyg.types == g.types
    for field in fields:
        np.testing.assert_array_equal(getattr(from_files, field), getattr(from_pyg, field), err_msg=field)
        np.testing.assert_array_equal(getattr(from_files, field), getattr(g, field), err_msg=field)
    reversed_files = load(f"ogb:{tmp_path / 'mag'},reverse=true")
    reversed_pyg = from_hetero_data(data, reverse=True)
    assert reversed_files.types == reversed_pyg.types and reversed_files.types.num_relations == 7
    for field in fields:
        np.testing.assert_array_equal(getattr(reversed_files, field), getattr(reversed_pyg, field), err_msg=field)


def test_ogb_layout_errors_name_the_file(tmp_path):
    import gzip

    raw = tmp_path / "bad" / "raw"
    raw.mkdir(parents=True)
    with gzip.open(raw / "num-node-dict.csv.gz", "wt") as fh:
        fh.write("paper,author\n3\n")
    with pytest.raises(DataError, match=r"num-node-dict\.csv\.gz must give one count >= 0 per node type"):
        load(str(tmp_path / "bad"))


def test_typed_graph_directories_keep_the_types(tmp_path):
    from gnnpart.data.graph_dir import open_graph, write_graph
    from tests.mpi import gnnpart_cli

    spec = "synthetic:hetero=mag,nodes=300,features=6,seed=2"
    g = load(spec)
    fields = ("indptr", "indices", "x", "y", "train_mask", "node_type", "edge_type")
    for how, args in (("generate", ["generate", spec, "--out", tmp_path / "gen"]),
                      ("convert", ["convert", spec, "--out", tmp_path / "conv"])):
        proc = gnnpart_cli(*args)
        assert proc.returncode == 0, proc.stderr
    write_graph(g, tmp_path / "api")
    for name in ("gen", "conv", "api"):
        got = open_graph(tmp_path / name)
        assert got.types == g.types, name
        for field in fields:
            np.testing.assert_array_equal(getattr(got, field), getattr(g, field), err_msg=f"{name} {field}")
    proc = gnnpart_cli("generate", spec, "--out", tmp_path / "sliced", "-n", "2")
    assert proc.returncode != 0 and "`generate -n` does not draw typed graphs" in proc.stderr
    proc = gnnpart_cli("partition", tmp_path / "gen", "-k", "2", "--method", "ptscotch", "-n", "2", "--out",
                       tmp_path / "p")
    assert proc.returncode != 0 and "'ptscotch' does not carry node and edge types yet" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "p").exists()


def test_synthetic_custom_types_and_relations():
    spec = ("synthetic:hetero=custom,nodes=500,classes=3,types=user:1:16+item:2:8+tag:0.1:0,"
            "relations=user-buys-item:3+item-has-tag:2+user-follows-user:4")
    g = load(spec)
    assert g.types.node_types == ("user", "item", "tag") and g.types.widths == (16, 8, 0)
    assert g.types.targets == ("user",) and np.bincount(g.node_type).tolist() == [500, 1000, 50]
    assert [r[1] for r in g.types.relations] == ["buys", "has", "follows", "rev_buys", "rev_has"]
    src, dst = g.edges()
    per_item = np.bincount(dst[g.edge_type == 0] - 500, minlength=1000)  # K = 3 in-edges per item, repeats merged
    assert per_item.max() == 3 and per_item.sum() > 0.95 * 3000
    assert set(np.unique(src[g.edge_type == 1])) <= set(range(500, 1500))  # items -> tags
    assert load(spec).num_edges == g.num_edges  # the seed decides
    for bad, match in (("synthetic:hetero=custom,types=user:1:16", r"needs `relations`"),
                       ("synthetic:hetero=custom,types=user:1:16,relations=user-x-item:2",
                        r"relation 'user-x-item' names the unknown node type 'item'"),
                       ("synthetic:hetero=custom,types=user:0:16,relations=user-x-user:2",
                        r"`types` must be NAME:SHARE:WIDTH items"),
                       ("synthetic:types=a:1:2,relations=a-r-a:1", r"`hetero` must be custom when `types`")):
        with pytest.raises(DataError, match=match):
            load(bad)
