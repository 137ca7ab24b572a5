"""Labels of every task (class ids, multi-label, regression) and edge features: validation, loaders, synthetic."""
import gzip

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gnnpart.data import Graph, from_pyg, load
from gnnpart.data.graph import labelled_rows
from gnnpart.errors import DataError

NAN = np.nan


def tiny(**kw):
    args = dict(src=[0, 1, 2, 2], dst=[1, 2, 0, 1], num_nodes=3)
    args.update(kw)
    return Graph.from_edges(**args)


def test_float_targets_give_the_task():
    multi = tiny(y=np.array([[1, 0], [NAN, 1], [0, NAN]], dtype=np.float32))
    assert multi.task == "multilabel" and multi.num_targets == 2 and multi.num_outputs == 2 and multi.num_classes == 0
    reg = tiny(y=np.array([[0.5], [NAN], [2.0]], dtype=np.float32), train_mask=np.array([True, False, True]))
    assert reg.task == "regression" and reg.y.dtype == np.float32
    np.testing.assert_array_equal(labelled_rows(reg.y), [True, False, True])
    assert tiny(y=np.array([[1, 0], [0, 1], [1, 1]], dtype=np.int64)).y.dtype == np.float32  # 0/1 ints: targets
    assert tiny(y=np.array([True, False, True])).y.tolist() == [1, 0, 1]
    classes = tiny(y=np.array([0.0, NAN, 2.0]))  # whole floats and NaN: class ids
    assert classes.task == "multiclass" and classes.y.tolist() == [0, -1, 2]


@pytest.mark.parametrize("y, message", [
    (np.zeros((3, 2, 1)), r"`y` must be class ids of shape \[N\] or targets of shape \[N, T\] \(got shape \(3, 2, 1\)\)"),
    (np.zeros((2, 2), dtype=np.float32), r"`y` must have one row of targets per node \(3\) \(got 2 rows\)"),
    (np.zeros((3, 0), dtype=np.float32), r"`y` of shape \[N, T\] must have at least one target"),
    (np.array([[0.0], [np.inf], [1.0]]), r"`y` must be finite \(got inf at node 1, target 0\)"),
    (np.full((3, 2), NAN), r"`y` has no labelled entry \(all 6 targets are NaN\)"),
    (np.array([[0, 2], [1, 0], [0, 0]]), r"`y` of shape \[N, T\] with integer dtype must hold 0/1 multi-label targets "
                                         r"\(got 2\)"),
    (np.array([0.0, 1.5, 2.0]), r"`y` of shape \[N\] must hold class ids \(got the non-integer 1.5\)"),
    (np.full(3, NAN), r"`y` has no labelled node \(all 3 labels are NaN\)"),
])
def test_bad_labels_name_the_field(y, message):
    with pytest.raises(DataError, match=message):
        tiny(y=y)


def test_masks_must_select_nodes_with_a_target():
    y = np.array([[1, 0], [NAN, NAN], [0, 1]], dtype=np.float32)
    with pytest.raises(DataError, match=r"`val_mask` must select labelled nodes only \(got unlabelled node 1\)"):
        tiny(y=y, val_mask=np.array([False, True, False]))


def test_edge_attr_follows_the_edges_and_merges_duplicates():
    src, dst = [0, 1, 1, 2, 3], [1, 2, 2, 0, 1]
    attr = np.array([[1.0, 10], [2, 20], [4, 40], [5, 50], [6, 60]], dtype=np.float32)
    g = Graph.from_edges(src, dst, num_nodes=4, edge_attr=attr, undirected=True)
    expected = {}  # (source, target) -> the rows given for it, both directions
    for (u, v), row in zip(zip(src, dst), attr):
        expected.setdefault((u, v), []).append(row)
        expected.setdefault((v, u), []).append(row)
    gs, gd = g.edges()
    assert g.num_edges == len(expected) and g.edge_attr.shape == (len(expected), 2)
    for s, d, row in zip(gs.tolist(), gd.tolist(), g.edge_attr):
        np.testing.assert_allclose(row, np.mean(expected[(s, d)], axis=0))
    assert g.num_edge_features == 2


@pytest.mark.parametrize("attr, message", [
    (np.zeros((4, 2, 2)), r"`edge_attr` must have shape \[E, D\] with one row per given edge \(4\)"),
    (np.zeros((3, 2)), r"`edge_attr` must have shape \[E, D\] with one row per given edge \(4\)"),
    (np.array([[0.0], [np.nan], [1], [1]]), r"`edge_attr` must be finite \(got nan at given edge 1, feature 0\)"),
    (np.array(["a", "b", "c", "d"]), r"`edge_attr` must be numeric"),
])
def test_bad_edge_attr_names_the_field(attr, message):
    with pytest.raises(DataError, match=message):
        tiny(edge_attr=attr)


def test_edge_attr_in_csr_must_match_the_edges():
    g = tiny()
    with pytest.raises(DataError, match=r"`edge_attr` must have shape \[E, D\] with one row per stored edge \(4\)"):
        Graph(g.indptr, g.indices, g.x, g.y, edge_attr=np.zeros((3, 1)))


def test_npz_with_targets_and_edge_attr(tmp_path):
    y = np.array([[1, 0], [0, NAN], [1, 1]], dtype=np.float32)
    path = tmp_path / "g.npz"
    np.savez(path, src=np.array([0, 1, 2]), dst=np.array([1, 2, 0]), x=np.eye(3, dtype=np.float32), y=y,
             edge_attr=np.array([[0.1], [0.2], [0.3]], dtype=np.float32))
    g = load(f"npz:{path}")
    np.testing.assert_array_equal(g.y, y)
    src, dst = g.edges()
    got = {(s, d): a for s, d, a in zip(src.tolist(), dst.tolist(), g.edge_attr[:, 0].tolist())}
    assert got == pytest.approx({(0, 1): 0.1, (1, 2): 0.2, (2, 0): 0.3})


def test_edgelist_with_regression_targets(tmp_path):
    (tmp_path / "e.txt").write_text("0 1\n1 2\n")
    np.save(tmp_path / "y.npy", np.array([[0.5, 1.0], [NAN, 2.0], [3.0, NAN]], dtype=np.float32))
    g = load(f"edgelist:{tmp_path / 'e.txt'},y={tmp_path / 'y.npy'}")
    assert g.task == "regression" and g.y.shape == (3, 2)


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        for row in rows:
            fh.write(",".join(str(v) for v in np.atleast_1d(row)) + "\n")


def test_ogb_multilabel_and_edge_features(tmp_path):
    root = tmp_path / "ogbn_proteinsish"
    _write_csv(root / "raw" / "edge.csv.gz", [(0, 1), (1, 2), (2, 3)])
    _write_csv(root / "raw" / "edge-feat.csv.gz", [(0.1, 1), (0.2, 2), (0.3, 3)])
    _write_csv(root / "raw" / "node-label.csv.gz", [(1, 0, 1), (0, 0, 1), (1, 1, 0), (0, 1, "nan")])
    _write_csv(root / "raw" / "num-node-list.csv.gz", [4])
    g = load(f"ogb:{root}")
    assert g.task == "multilabel" and g.y.shape == (4, 3) and np.isnan(g.y[3, 2])
    src, dst = g.edges()
    got = {(s, d): tuple(a) for s, d, a in zip(src.tolist(), dst.tolist(), g.edge_attr.tolist())}
    assert got == {(0, 1): pytest.approx((0.1, 1)), (1, 2): pytest.approx((0.2, 2)), (2, 3): pytest.approx((0.3, 3))}
    _write_csv(root / "raw" / "edge-feat.csv.gz", [(0.1, 1), (0.2, 2)])
    with pytest.raises(DataError, match=r"`edge_attr` from .*edge-feat.csv.gz must have one row per edge .* \(3\) \(got 2\)"):
        load(f"ogb:{root}")


def test_pyg_targets_and_edge_attr():
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    y = torch.tensor([[1.0, 0.0], [0.0, float("nan")], [1.0, 1.0]])
    g = from_pyg(Data(edge_index=ei, x=torch.ones(3, 2), y=y, edge_attr=torch.tensor([[1.0], [2.0], [3.0]])))
    assert g.task == "multilabel" and g.edge_attr[:, 0].tolist() == [3.0, 1.0, 2.0]  # ordered by target
    reg = from_pyg(Data(edge_index=ei, x=torch.ones(3, 2), y=torch.tensor([[0.5], [1.5], [2.0]])))
    assert reg.task == "regression" and reg.y.shape == (3, 1)
    cls = from_pyg(Data(edge_index=ei, x=torch.ones(3, 2), y=torch.tensor([[0.0], [2.0], [1.0]])))
    assert cls.task == "multiclass" and cls.y.tolist() == [0, 2, 1]


def test_synthetic_tasks_and_edge_features():
    ml = load("synthetic:nodes=600,degree=6,classes=4,task=multilabel:5,edge_features=3,seed=1")
    assert ml.task == "multilabel" and ml.y.shape == (600, 5) and ml.num_edge_features == 3
    assert 0.1 < ml.y.mean() < 0.9
    src, dst = ml.edges()
    row = {(s, d): i for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist()))}
    for s, d in list(row)[:50]:  # both directions of an edge carry the same features
        np.testing.assert_array_equal(ml.edge_attr[row[(s, d)]], ml.edge_attr[row[(d, s)]])
    reg = load("synthetic:nodes=600,degree=6,classes=4,task=regression:2,seed=1")
    assert reg.task == "regression" and reg.y.shape == (600, 2)
    plain = load("synthetic:nodes=600,degree=6,classes=4,seed=1")
    assert "task" not in plain.name and plain.task == "multiclass"
    for bad in ("task=multilabel", "task=regression:0", "task=ranking", "task=multiclass:3"):
        with pytest.raises(DataError, match=r"synthetic `task` must be multiclass, multilabel:T or regression\[:T\]"):
            load(f"synthetic:nodes=100,{bad}")


def test_ogb_one_column_of_fractions_is_a_regression_target(tmp_path):
    root = tmp_path / "ogb_reg"
    _write_csv(root / "raw" / "edge.csv.gz", [(0, 1), (1, 2)])
    _write_csv(root / "raw" / "node-label.csv.gz", [0.5, "nan", 2.25])
    _write_csv(root / "raw" / "num-node-list.csv.gz", [3])
    g = load(f"ogb:{root}")
    assert g.task == "regression" and g.y.shape == (3, 1) and np.isnan(g.y[1, 0])
