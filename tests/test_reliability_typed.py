"""Reliability, third round, typed graphs: names read from a dataset never become paths, every bad input of the
typed path is one line (exit 1) before anything is allocated, and a damaged sharded-embedding checkpoint is named
in one line. One table per class (README: "Failure behaviour")."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnpart import load
from gnnpart.errors import DataError
from tests.mpi import gnnpart_main
from tests.test_reliability import gnnpart_lines, leftovers

SECRET = "TOPSECRET-contents-of-a-file-outside-the-dataset"


def one_line(err: str) -> str:
    lines = gnnpart_lines(err)
    assert len(lines) == 1, err
    return lines[0]


def _csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        for row in rows:
            fh.write(",".join(str(v) for v in row) + "\n")


def ogb_hetero(root: Path, types=("paper", "author"), relations=(("author", "writes", "paper"),),
               listed: bool = True) -> Path:
    """A small OGB heterogeneous folder: 3 papers (features, labels), 2 authors; ``types`` and ``relations`` are
    written as given (names from the files are what is tested)."""
    raw = root / "raw"
    _csv(raw / "num-node-dict.csv.gz", [list(types), [3] * len(types)])
    if listed:
        _csv(raw / "triplet-type-list.csv.gz", [list(r) for r in relations])
    for rel in relations:
        folder = raw / "relations" / "___".join(rel)
        if ".." not in rel and "/" not in "".join(rel):
            _csv(folder / "edge.csv.gz", [[0, 1], [1, 2]])
    _csv(raw / "node-feat" / "paper" / "node-feat.csv.gz", [[0.5, 1.0]] * 3)
    _csv(raw / "node-label" / "paper" / "node-label.csv.gz", [[0], [1], [0]])
    return root


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside any dataset, in the place a crafted name would reach: its contents must never be echoed."""
    folder = tmp_path / "outside"
    folder.mkdir()
    for name in ("node-feat.csv.gz", "node-label.csv.gz", "edge.csv.gz"):
        with gzip.open(folder / name, "wt") as fh:
            fh.write(f"{SECRET}\n")
    return folder


# ---------------------------------------------------------------------------- 1. names never become paths
NAME_CASES = [
    ("a node type climbing out", dict(types=("paper", "../../../outside"), relations=(("paper", "cites", "paper"),)),
     "node type names must be"),
    ("a node type with a slash", dict(types=("paper", "a/b"), relations=(("paper", "cites", "paper"),)),
     "node type names must be"),
    ("a relation climbing out", dict(relations=(("author", "../../../../outside", "paper"),)),
     "relation names must be"),
    ("a relation's end climbing out", dict(relations=(("../../outside", "writes", "paper"),)),
     "node type names must be"),
    ("a relation named '..' by its folder", dict(relations=(("author", "..", "paper"),), listed=False),
     "relation names must be"),
]


@pytest.mark.parametrize("kw,message", [c[1:] for c in NAME_CASES], ids=[c[0] for c in NAME_CASES])
def test_names_from_a_dataset_are_checked_before_they_become_paths(capsys, tmp_path, outside, kw, message):
    data = ogb_hetero(tmp_path / "data" / "mag", **kw)
    if not kw.get("listed", True):  # the relation's name comes from its folder: make the folder itself
        (data / "raw" / "relations" / "author___..___paper").mkdir(parents=True)
    for argv in (["convert", data, "--out", tmp_path / "g"], ["partition", data, "-k", "1", "-o", tmp_path / "p"]):
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and message in line and "(got '" in line, (argv[0], err)
        assert SECRET not in err and "Traceback" not in err
    assert not (tmp_path / "g").exists() and not (tmp_path / "p").exists()
    assert leftovers(tmp_path, "g") == [] and leftovers(tmp_path, "p") == []


def test_a_split_name_is_checked_too(capsys, tmp_path, outside):
    data = ogb_hetero(tmp_path / "data" / "mag")
    code, _, err = gnnpart_main(capsys, "convert", f"ogb:{data},split=../../../outside", "--out", tmp_path / "g")
    assert code == 1 and "split names must be" in one_line(err) and SECRET not in err


def test_a_file_a_dataset_points_at_is_never_quoted(capsys, tmp_path, outside):
    """A node-feat file that is a link to a file elsewhere: the parse error names the file and the line, never what
    the file holds (a link is how a dataset points outside itself without a name that climbs)."""
    data = ogb_hetero(tmp_path / "data" / "mag")
    feat = data / "raw" / "node-feat" / "paper" / "node-feat.csv.gz"
    feat.unlink()
    feat.symlink_to(outside / "node-feat.csv.gz")
    for spec in (str(data), f"ogb:{data}"):
        code, _, err = gnnpart_main(capsys, "convert", spec, "--out", tmp_path / "g")
        line = one_line(err)
        assert code == 1 and "cannot read data file" in line and "at line 1" in line, err
        assert SECRET not in err


def test_the_naming_rule_holds_for_every_source():
    from gnnpart.data.typed import GraphTypes

    for bad in ("", "..", "a__b", "a/b", "x" * 65, ".hidden", "a b"):
        with pytest.raises(DataError, match="node type names must be"):
            GraphTypes((bad, "b"), (), (0, 0))
        with pytest.raises(DataError, match="relation names must be"):
            GraphTypes(("a",), (("a", bad, "a"),), (0,))
    GraphTypes(("paper", "field_of_study", "v1.2", "A-b"), (("paper", "rev_has-topic.2", "A-b"),), (1, 0, 0, 0))


# ---------------------------------------------------------------------------- 2. typed inputs: one line, exit 1
CUSTOM = "synthetic:hetero=custom,nodes=200,types={types},relations={relations}"
SPECS = [
    ("a NaN share", CUSTOM.format(types="a:nan:4+b:1:0", relations="a-r-b:1"), "share a number in (0, 1e+06)"),
    ("an infinite share", CUSTOM.format(types="a:inf:4+b:1:0", relations="a-r-b:1"), "share a number in (0, 1e+06)"),
    ("a share beyond int64", CUSTOM.format(types="a:1e300:4+b:1:0", relations="a-r-b:1"), "share a number in (0"),
    ("a relation twice", CUSTOM.format(types="a:1:4+b:1:0", relations="a-r-b:1+a-r-b:2"),
     "must give each relation once (got 'a-r-b' twice)"),
    ("a relation name of the wrong form", CUSTOM.format(types="a:1:4+b:1:0", relations="a-x__y-b:1"),
     "relation names must be"),
    ("a type name of the wrong form", CUSTOM.format(types="a..b:1:4+b:1:0", relations="a..b-r-b:1"),
     "node type names must be"),
]


@pytest.mark.parametrize("spec,message", [c[1:] for c in SPECS], ids=[c[0] for c in SPECS])
def test_a_bad_typed_spec_is_one_line(capsys, tmp_path, spec, message):
    for argv in (["partition", spec, "-k", "2", "-o", tmp_path / "p"], ["generate", spec, "--out", tmp_path / "g"]):
        code, _, err = gnnpart_main(capsys, *argv)
        assert code == 1 and message in one_line(err), (argv[0], err)
        assert "internal error" not in err
    assert not (tmp_path / "p").exists() and not (tmp_path / "g").exists()


def test_hetero_data_labels_of_the_wrong_length_are_named():
    from torch_geometric.data import HeteroData

    data = HeteroData()
    data["paper"].x = torch.ones(4, 2)
    data["paper"].y = torch.tensor([0, 1, 0])  # one short
    data["author"].num_nodes = 2
    data["author", "writes", "paper"].edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(DataError, match=r"labels of node type 'paper' must have one entry \(or row\) per node of the "
                                        r"type \(4\) \(got shape \(3,\)\)"):
        load(data)
    data["paper"].y = torch.zeros(5, 2)  # [N, T] targets, one row too many
    with pytest.raises(DataError, match=r"labels of node type 'paper' .* \(got shape \(5, 2\)\)"):
        load(data)


@pytest.fixture(scope="module")
def typed_parts(tmp_path_factory):
    from gnnpart import partition_graph

    base = tmp_path_factory.mktemp("typed")
    partition_graph(load("synthetic:hetero=mag,nodes=400,features=8,classes=3,seed=4"), 1, base / "p1")
    return base / "p1"


def test_model_sizes_are_estimated_and_refused_before_allocating(capsys, typed_parts, tmp_path):
    from gnnpart.errors import ResourceError
    from gnnpart.nn.rgcn import DistRGCNConv

    code, _, err = gnnpart_main(capsys, "train", typed_parts, "--model", "rgcn", "--num-bases", "1000000000",
                                "--epochs", "1")
    line = one_line(err)
    assert code == 1 and "needs about" in line and "TiB" in line, err
    code, _, err = gnnpart_main(capsys, "train", typed_parts, "--model", "rgcn", "--hidden", "300000", "--epochs", "1")
    assert code == 1 and "needs about" in one_line(err), err
    with pytest.raises(ResourceError, match=r"DistRGCNConv\(16, 16, num_relations=7, num_bases=1000000000\)'s "
                                            "weights needs about"):
        DistRGCNConv(16, 16, 7, num_bases=10**9)


def test_num_bases_without_bases_is_refused(capsys, typed_parts):
    from gnnpart.nn.models import build_model

    for model in ("gcn", "sage"):
        code, _, err = gnnpart_main(capsys, "train", typed_parts, "--model", model, "--num-bases", "4", "--epochs",
                                    "1")
        assert code == 1 and "--num-bases applies to --model rgcn only" in one_line(err), err
    with pytest.raises(ValueError, match="`num_bases` applies to model rgcn only"):
        build_model("sage", 8, 16, 3, num_bases=2)


def _edit_meta(parts: Path, out: Path, edit) -> Path:
    shutil.copytree(parts, out)
    meta = json.loads((out / "meta.json").read_text())
    edit(meta)
    (out / "meta.json").write_text(json.dumps(meta))
    return out


def test_type_widths_that_disagree_with_the_features_are_named(capsys, typed_parts, tmp_path):
    wider = _edit_meta(typed_parts, tmp_path / "wider", lambda m: m.update(type_widths=[64, 4, 0, 0]))
    for argv in (["train", wider, "--model", "rgcn", "--epochs", "1"], ["inspect", wider, "--verify"]):
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and "meta.json: `type_widths` [64, 4, 0, 0] must be at most `num_features` (8)" in line, err
    narrower = _edit_meta(typed_parts, tmp_path / "narrower", lambda m: m.update(type_widths=[2, 4, 0, 0]))
    code, _, err = gnnpart_main(capsys, "inspect", narrower, "--verify")
    line = one_line(err)
    assert code == 1 and "x.npy: a node of type 'paper' must have zeros past its type's 2 features" in line, err
    counts = _edit_meta(typed_parts, tmp_path / "counts", lambda m: m.update(num_nodes_by_type=[1, 2]))
    code, _, err = gnnpart_main(capsys, "train", counts, "--model", "rgcn", "--epochs", "1")
    assert code == 1 and "`num_nodes_by_type` must give one count >= 0 per node type (4)" in one_line(err), err


# ---------------------------------------------------------------------------- 3. damaged sharded checkpoints
@pytest.fixture(scope="module")
def sharded_checkpoint(typed_parts, tmp_path_factory):
    from tests.mpi import gnnpart_cli

    ck = tmp_path_factory.mktemp("ck") / "ck"
    proc = gnnpart_cli("train", typed_parts, "--model", "rgcn", "--hidden", "8", "--epochs", "2", "--checkpoint", ck)
    assert proc.returncode == 0, proc.stderr
    return ck


def _shard_keys(weights: dict) -> tuple[str, str]:
    ids = sorted(k for k in weights if k.endswith(".global_ids"))
    return ids[0], ids[0].removesuffix(".global_ids") + ".weight"


def _optimizer_slot(state: dict) -> dict:
    for member in state["optimizer"]["optimizers"]:
        for slot in member["state"].values():
            if ".global_ids" in slot:
                return slot
    raise AssertionError("no sharded optimizer state")


def _weights(state: dict) -> list[dict]:
    """The last epoch's weights and the best ones (what `predict` reads by default): both are damaged alike."""
    return [state["model"], state["best"]["state"]]


def _cut_rows(state):
    for weights in _weights(state):
        _, weight = _shard_keys(weights)
        weights[weight] = weights[weight][:-3]


def _ids_2d(state):
    for weights in _weights(state):
        ids, _ = _shard_keys(weights)
        weights[ids] = weights[ids].reshape(1, -1)


def _ids_unsorted(state):
    for weights in _weights(state):
        ids, _ = _shard_keys(weights)
        weights[ids] = weights[ids].flip(0)


def _ids_beyond(state):
    for weights in _weights(state):
        ids, _ = _shard_keys(weights)
        weights[ids] = weights[ids] + 10**9


def _adam_cut(state):
    slot = _optimizer_slot(state)
    key = next(k for k, v in slot.items() if k != ".global_ids" and torch.is_tensor(v) and v.dim() >= 1)
    slot[key] = slot[key][:-2]


def _record_cut(state):
    for weights in _weights(state):
        ids, weight = _shard_keys(weights)
        weights[ids], weights[weight] = weights[ids][:-1], weights[weight][:-1]


def _record_mangled(state):
    state["shards"] = {"x": "y"}


DAMAGE = [
    ("an embedding table cut short", _cut_rows, "must have one row of 8 per global id"),
    ("global ids of the wrong shape", _ids_2d, "must be a 1-D tensor of node ids (got (1, "),
    ("global ids out of order", _ids_unsorted, "must be ascending node ids in [0, "),
    ("global ids beyond the graph", _ids_beyond, "must be ascending node ids in [0, "),
    ("SparseAdam state cut short", _adam_cut, "optimizer state must have one row of 8 per global id"),
    ("rows and ids cut alike, against the record", _record_cut, "rows of width 8 its record says"),
    ("a mangled record", _record_mangled, "`shards` must map each sharded embedding to [rows, width]"),
]


@pytest.mark.parametrize("damage,message", [c[1:] for c in DAMAGE], ids=[c[0] for c in DAMAGE])
def test_a_damaged_sharded_checkpoint_is_named_in_one_line(capsys, typed_parts, sharded_checkpoint, tmp_path, damage,
                                                           message):
    ck = tmp_path / "ck"
    shutil.copytree(sharded_checkpoint, ck)
    state = torch.load(ck / "checkpoint.pt", weights_only=True)
    damage(state)
    torch.save(state, ck / "checkpoint.pt")
    runs = [["train", typed_parts, "--model", "rgcn", "--hidden", "8", "--epochs", "3", "--checkpoint", ck,
             "--resume"]]
    if damage is not _adam_cut:  # predict reads no optimizer state
        runs.append(["predict", typed_parts, "--checkpoint", ck, "--out", tmp_path / "out.npy"])
    for argv in runs:
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and str(ck / "checkpoint.pt") in line and message in line, (argv[0], err)
    assert not (tmp_path / "out.npy").exists()
    assert torch.load(ck / "checkpoint.pt", weights_only=True)["epoch"] == 2  # the checkpoint as it was


def test_a_sound_sharded_checkpoint_records_its_shards(sharded_checkpoint):
    state = torch.load(sharded_checkpoint / "checkpoint.pt", weights_only=True)
    ids, weight = _shard_keys(state["model"])
    name = ids.removesuffix(".global_ids")
    assert state["shards"][name] == [len(state["model"][ids]), 8] == list(state["model"][weight].shape)
