import pickle
import shutil

import numpy as np
import pytest

from gnnpart.data import load
from gnnpart.errors import DataError

SIZES = {"cora": (2708, 10556, 1433, 7, 140), "citeseer": (3327, 9104, 3703, 6, 120)}


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_sizes_and_standard_split(name, data_root):
    g = load(name, root=data_root)
    n, e, f, c, train = SIZES[name]
    assert (g.num_nodes, g.num_edges, g.num_features, g.num_classes) == (n, e, f, c)
    assert g.undirected and g.is_symmetric()
    assert int(g.train_mask.sum()) == train
    np.testing.assert_array_equal(np.flatnonzero(g.train_mask), np.arange(train))
    np.testing.assert_array_equal(np.flatnonzero(g.val_mask), np.arange(train, train + 500))
    assert int(g.test_mask.sum()) == 1000
    src, dst = g.edges()
    assert not np.any(src == dst)


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_matches_pyg_reader(name, data_root):
    """Same features, labels, edges and masks as PyG's own Planetoid reader (public split)."""
    from torch_geometric.io import read_planetoid_data

    g = load(name, root=data_root)
    folder = data_root / "planetoid" if (data_root / "planetoid").is_dir() else data_root
    ref = read_planetoid_data(str(folder), name)
    np.testing.assert_array_equal(g.x, ref.x.numpy())
    labelled = g.y >= 0
    np.testing.assert_array_equal(g.y[labelled], ref.y.numpy()[labelled])
    assert (labelled.sum(), name) in ((g.num_nodes, "cora"), (g.num_nodes - 15, "citeseer"))
    src, dst = g.edges()
    ours = set(zip(src.tolist(), dst.tolist()))
    theirs = set(zip(ref.edge_index[0].tolist(), ref.edge_index[1].tolist()))
    assert ours == theirs
    for key in ("train_mask", "val_mask"):
        np.testing.assert_array_equal(getattr(g, key), getattr(ref, key).numpy())
    np.testing.assert_array_equal(g.test_mask, ref.test_mask.numpy() & labelled)


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (shutil.copyfile, ("/etc/hostname", self.path))


def _fake_root(tmp_path, data_root, replace: str, payload: bytes):
    folder = tmp_path / "planetoid"
    folder.mkdir()
    src = data_root / "planetoid"
    for f in src.glob("ind.cora.*"):
        shutil.copy(f, folder / f.name)
    (folder / f"ind.cora.{replace}").write_bytes(payload)
    return tmp_path


def test_crafted_pickle_cannot_run_code(tmp_path, data_root):
    marker = tmp_path / "pwned"
    root = _fake_root(tmp_path, data_root, "graph", pickle.dumps(_Payload(str(marker)), protocol=2))
    with pytest.raises(DataError, match=r"ind\.cora\.graph.*global 'shutil\.copyfile' is not allowed"):
        load("cora", root=root)
    assert not marker.exists()


def test_truncated_file_is_reported(tmp_path, data_root):
    data = (data_root / "planetoid" / "ind.cora.allx").read_bytes()
    root = _fake_root(tmp_path, data_root, "allx", data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read data file .*ind\.cora\.allx"):
        load("cora", root=root)


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(DataError, match=r"dataset 'cora': no Planetoid files"):
        load("cora", root=tmp_path)


def test_object_arrays_are_refused(tmp_path, data_root):
    root = _fake_root(tmp_path, data_root, "y", pickle.dumps(np.array([print], dtype=object), protocol=2))
    with pytest.raises(DataError, match=r"ind\.cora\.y"):
        load("cora", root=root)
