import gzip

import numpy as np
import pytest

from gnnpart.data import load
from gnnpart.errors import DataError


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        for row in rows:
            fh.write(",".join(str(v) for v in np.atleast_1d(row)) + "\n")


def make_ogb(root, n=6, split="time"):
    edges = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (0, 1)]
    write_csv(root / "raw" / "edge.csv.gz", edges)
    write_csv(root / "raw" / "node-feat.csv.gz", np.arange(n * 3).reshape(n, 3) / 10)
    write_csv(root / "raw" / "node-label.csv.gz", [0, 1, 2, 0, 1, "nan"])
    write_csv(root / "raw" / "num-node-list.csv.gz", [n])
    write_csv(root / "split" / split / "train.csv.gz", [0, 1, 2])
    write_csv(root / "split" / split / "valid.csv.gz", [3])
    write_csv(root / "split" / split / "test.csv.gz", [4])
    return root


def test_load_ogb_layout(tmp_path):
    root = make_ogb(tmp_path / "ogbn_tiny")
    for spec in (f"ogb:{root}", str(root)):
        g = load(spec)
        assert g.num_nodes == 6 and g.num_edges == 5  # the repeated (0, 1) is merged
        assert not g.undirected
        np.testing.assert_allclose(g.x[5], [1.5, 1.6, 1.7], rtol=1e-6)
        np.testing.assert_array_equal(g.y, [0, 1, 2, 0, 1, -1])
        np.testing.assert_array_equal(np.flatnonzero(g.train_mask), [0, 1, 2])
        np.testing.assert_array_equal(np.flatnonzero(g.val_mask), [3])
        np.testing.assert_array_equal(np.flatnonzero(g.test_mask), [4])


def test_named_under_root_and_undirected(tmp_path):
    make_ogb(tmp_path / "ogbn_tiny")
    g = load("ogb:ogbn-tiny,undirected=true", root=tmp_path)
    assert g.undirected and g.num_edges == 10


def test_missing_and_truncated_files(tmp_path):
    root = make_ogb(tmp_path / "d")
    (root / "raw" / "node-label.csv.gz").unlink()
    (root / "split" / "time" / "valid.csv.gz").unlink()
    with pytest.raises(DataError, match=r"missing data file: .*valid\.csv\.gz"):
        load(f"ogb:{root}")
    root = make_ogb(tmp_path / "e")
    data = (root / "raw" / "edge.csv.gz").read_bytes()
    (root / "raw" / "edge.csv.gz").write_bytes(data[: len(data) - 12])
    with pytest.raises(DataError, match=r"cannot read data file .*edge\.csv\.gz"):
        load(f"ogb:{root}")


def test_bad_ids_and_lengths(tmp_path):
    root = make_ogb(tmp_path / "d")
    write_csv(root / "split" / "time" / "test.csv.gz", [9])
    with pytest.raises(DataError, match=r"test\.csv\.gz must be in \[0, 6\) \(got 9\)"):
        load(f"ogb:{root}")
    root = make_ogb(tmp_path / "e")
    write_csv(root / "raw" / "node-label.csv.gz", [0, 1])
    with pytest.raises(DataError, match=r"must have 6 labels \(got 2\)"):
        load(f"ogb:{root}")
    root = make_ogb(tmp_path / "f")
    write_csv(root / "raw" / "edge.csv.gz", [(0, 7)])
    with pytest.raises(DataError, match=r"`dst` must hold node ids in \[0, 6\) \(got 7\)"):
        load(f"ogb:{root}")


def test_several_splits_need_a_choice(tmp_path):
    root = make_ogb(tmp_path / "d")
    make_ogb(root, split="other")
    with pytest.raises(DataError, match=r"several splits \['other', 'time'\]"):
        load(f"ogb:{root}")
    assert load(f"ogb:{root},split=other").train_mask.sum() == 3
