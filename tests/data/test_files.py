import numpy as np
import pytest

from gnnpart.data import load
from gnnpart.errors import DataError


def test_edgelist_with_comments_and_arrays(tmp_path):
    (tmp_path / "g.txt").write_text("# a comment\n0 1\n1,2  # trailing\n\n2\t0\n0 1\n")
    np.save(tmp_path / "x.npy", np.eye(4, dtype=np.float32))
    np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1]))
    np.save(tmp_path / "train.npy", np.array([0, 1]))
    np.save(tmp_path / "test.npy", np.array([False, False, True, True]))
    g = load(f"edgelist:{tmp_path / 'g.txt'},x={tmp_path / 'x.npy'},y={tmp_path / 'y.npy'},"
             f"train={tmp_path / 'train.npy'},test={tmp_path / 'test.npy'}")
    assert g.num_nodes == 4 and g.num_edges == 3  # duplicate 0 1 merged, node 3 isolated
    np.testing.assert_array_equal(g.train_mask, [True, True, False, False])
    np.testing.assert_array_equal(g.test_mask, [False, False, True, True])
    assert load(str(tmp_path / "g.txt")).num_nodes == 3
    assert load(f"edgelist:{tmp_path / 'g.txt'},undirected=true").num_edges == 6


@pytest.mark.parametrize(
    "text,match",
    [("0 1\n-1 2\n", r"`src` must hold node ids in \[0, 3\) \(got -1\)"),
     ("0 1\nfoo bar\n", r"line 2: node ids must be integers"),
     ("0 1\n7\n", r"line 2: expected `src dst`")],
)
def test_edgelist_errors(tmp_path, text, match):
    (tmp_path / "g.txt").write_text(text)
    with pytest.raises(DataError, match=match):
        load(str(tmp_path / "g.txt"))


def test_edgelist_out_of_range_given_num_nodes(tmp_path):
    (tmp_path / "g.txt").write_text("0 1\n1 5\n")
    with pytest.raises(DataError, match=r"`dst` must hold node ids in \[0, 3\) \(got 5\)"):
        load(f"edgelist:{tmp_path / 'g.txt'},num_nodes=3")


def test_npz_coo_and_csr(tmp_path):
    x = np.ones((3, 2), np.float32)
    np.savez(tmp_path / "coo.npz", src=[0, 1, 1], dst=[1, 2, 2], x=x, y=[0, 1, 1], train_mask=[True, False, True])
    g = load(str(tmp_path / "coo.npz"))
    assert g.num_edges == 2 and g.train_mask.sum() == 2
    np.savez(tmp_path / "csr.npz", indptr=[0, 0, 1, 2], indices=[0, 1], x=x, y=[0, 1, 1], undirected=False)
    g2 = load(f"npz:{tmp_path / 'csr.npz'}")
    np.testing.assert_array_equal(g2.indptr, g.indptr)
    np.testing.assert_array_equal(g2.indices, g.indices)
    np.savez(tmp_path / "ei.npz", edge_index=np.array([[0, 1], [1, 2]]), x=x, y=[0, 1, 1])
    assert load(str(tmp_path / "ei.npz")).num_edges == 2


@pytest.mark.parametrize(
    "arrays,match",
    [
        (dict(src=[0, 1], dst=[1], x=np.ones((3, 1))), r"`src` and `dst` must have the same length \(got 2 and 1\)"),
        (dict(src=[0], dst=[1], x=np.array([[1.0], [np.nan], [0]])), r"`x` must be finite \(got nan at node 1"),
        (dict(src=[0], dst=[1], x=np.ones((3, 1)), y=[0, 1]), r"`y` must have one label per node \(3\) \(got 2"),
        (dict(src=[0], dst=[1]), r"must hold the key `x`"),
        (dict(x=np.ones((3, 1))), r"must hold `indptr`\+`indices`, `src`\+`dst` or `edge_index`"),
        (dict(src=[0], dst=[1], x=np.ones((3, 1)), train_mask=[4]), r"`train_mask` node ids must be in \[0, 3\) \(got 4\)"),
    ],
)
def test_npz_errors(tmp_path, arrays, match):
    np.savez(tmp_path / "g.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load(str(tmp_path / "g.npz"))


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "g.npz", x=np.array([object()], dtype=object))
    with pytest.raises(DataError, match=r"cannot read data file .*g\.npz"):
        load(str(tmp_path / "g.npz"))


def test_missing_and_truncated_npz(tmp_path):
    with pytest.raises(DataError, match="missing data file"):
        load(f"npz:{tmp_path / 'nope.npz'}")
    np.savez(tmp_path / "g.npz", src=np.arange(1000), dst=np.arange(1000), x=np.ones((1000, 4)))
    data = (tmp_path / "g.npz").read_bytes()
    (tmp_path / "g.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read data file .*g\.npz"):
        load(str(tmp_path / "g.npz"))


def test_unknown_spec():
    with pytest.raises(DataError, match=r"unknown dataset 'nope'"):
        load("nope")
    with pytest.raises(DataError, match=r"dataset option must be `key=value`"):
        load("ogb:somewhere,bogus=1")
