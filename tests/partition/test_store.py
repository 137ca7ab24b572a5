import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gnnpart import load, load_partition, partition_graph, read_meta
from gnnpart.errors import PartitionFormatError
from gnnpart.partition import store
from tests.conftest import odd_graph


def part_checksums(out):
    return {k: v for k, v in read_meta(out)["files"].items()}


@pytest.mark.parametrize("method", ["metis", "random"])
def test_same_seed_same_files_other_seed_other_files(tmp_path, method):
    g = load("synthetic:nodes=2000,degree=6,seed=1")
    partition_graph(g, 3, tmp_path / "a", method=method, seed=4)
    partition_graph(g, 3, tmp_path / "b", method=method, seed=4)
    partition_graph(g, 3, tmp_path / "c", method=method, seed=5)
    assert part_checksums(tmp_path / "a") == part_checksums(tmp_path / "b")
    assert part_checksums(tmp_path / "a") != part_checksums(tmp_path / "c")


@pytest.fixture
def written(tmp_path):
    out = tmp_path / "out"
    partition_graph(odd_graph(), 2, out)
    return out


def test_flipped_byte_is_detected_and_named(written):
    path = written / "part-1" / "x.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    load_partition(written, 0)  # other parts still load
    with pytest.raises(PartitionFormatError, match=r"part-1/x\.npy is corrupted \(CRC-32 mismatch\)"):
        load_partition(written, 1)


def test_truncation_is_detected_and_named(written):
    path = written / "part-0" / "indices.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(PartitionFormatError, match=r"part-0/indices\.npy has \d+ bytes, expected \d+ \(truncated"):
        load_partition(written, 0)


def test_missing_file_and_meta(written):
    (written / "part-0" / "recv_ptr.npy").unlink()
    with pytest.raises(PartitionFormatError, match=r"missing partition file .*part-0/recv_ptr\.npy"):
        load_partition(written, 0)
    (written / "meta.json").unlink()
    with pytest.raises(PartitionFormatError, match=r"meta\.json is missing"):
        load_partition(written, 1)


def test_bad_meta_and_version(written):
    meta = json.loads((written / "meta.json").read_text())
    meta["version"] = 99
    (written / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PartitionFormatError, match=r"format version 99; this gnnpart reads versions 1, 2, 3"):
        load_partition(written, 0)
    (written / "meta.json").write_text("{not json")
    with pytest.raises(PartitionFormatError, match=r"corrupted .*meta\.json"):
        load_partition(written, 0)


def test_version_2_directory_still_loads(written):
    """A version 2 directory (before node and edge types) reads as an untyped version 3 one."""
    meta = json.loads((written / "meta.json").read_text())
    assert "node_types" not in meta  # an untyped graph records no types
    meta["version"] = 2
    (written / "meta.json").write_text(json.dumps(meta))
    old = load_partition(written, 0)
    assert old.node_type is None and old.edge_type is None and old.meta["version"] == 2


def test_version_1_directory_still_loads(written):
    """A version 1 directory (no task, outputs or edge features in meta.json) reads as a multiclass version 2 one."""
    current = load_partition(written, 1)
    meta = json.loads((written / "meta.json").read_text())
    assert meta["version"] == 3 and meta["task"] == "multiclass" and meta["num_outputs"] == meta["num_classes"]
    for key in ("task", "num_outputs", "num_edge_features"):
        del meta[key]
    meta["version"] = 1
    (written / "meta.json").write_text(json.dumps(meta))
    old = load_partition(written, 1)
    assert old.task == "multiclass" and old.edge_attr is None and old.meta["num_outputs"] == meta["num_classes"]
    np.testing.assert_array_equal(old.y, current.y)
    np.testing.assert_array_equal(old.indices, current.indices)
    meta["task"] = "ranking"
    meta["version"] = 2
    (written / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PartitionFormatError, match=r"`task` must be one of multiclass, multilabel, regression "
                                                   r"\(got 'ranking'\)"):
        read_meta(written)


def test_part_id_out_of_range(written):
    with pytest.raises(ValueError, match=r"`part_id` must be in \[0, 2\) .* \(got 2\)"):
        load_partition(written, 2)


def test_existing_output_refused_unless_overwrite(written):
    before = part_checksums(written)
    with pytest.raises(FileExistsError, match=r"already exists \(pass --overwrite"):
        partition_graph(odd_graph(), 3, written)
    assert part_checksums(written) == before
    partition_graph(odd_graph(), 3, written, overwrite=True)
    assert read_meta(written)["num_parts"] == 3
    assert not (written / "part-0" / "..").resolve().joinpath(".out.old").exists()
    assert [p.name for p in written.parent.iterdir()] == ["out"]  # no temporary folders left


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch, exc):
    calls = {"n": 0}
    real_save = store.ArrayWriter.save

    def failing_save(self, rel, array):
        calls["n"] += 1
        if calls["n"] == 20:
            raise exc
        return real_save(self, rel, array)

    monkeypatch.setattr(store.ArrayWriter, "save", failing_save)
    with pytest.raises(type(exc)):
        partition_graph(odd_graph(), 3, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_old_directory(written, monkeypatch):
    before = part_checksums(written)
    monkeypatch.setattr(store.ArrayWriter, "save_json", lambda *a: (_ for _ in ()).throw(OSError("no space")))
    with pytest.raises(OSError, match="no space"):
        partition_graph(odd_graph(), 3, written, overwrite=True)
    assert part_checksums(written) == before
    load_partition(written, 1)


def _writing(folder) -> bool:
    """Whether a temporary partition directory in ``folder`` has its first file (it may be renamed meanwhile)."""
    for p in folder.iterdir():
        try:
            if p.name.startswith(".out.tmp-") and any(p.iterdir()):
                return True
        except FileNotFoundError:  # renamed into place between the two listings: the write is over
            return True
    return False


def test_killed_process_leaves_nothing_loadable(tmp_path):
    # the kill must land while the parts are written; a fast machine may finish first: then try again
    for attempt in range(3):
        base = tmp_path / f"try{attempt}"
        base.mkdir()
        out = base / "out"
        proc = subprocess.Popen(
            [sys.executable, "-m", "gnnpart", "partition", "synthetic:nodes=300000,degree=10,features=64",
             "--num-parts", "4", "--method", "random", "--out", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            deadline = time.time() + 120
            while time.time() < deadline and not _writing(base):
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode == 0:  # it finished before the kill landed
            continue
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()
        with pytest.raises(PartitionFormatError):
            load_partition(out, 0)
        leftovers = [p for p in base.iterdir()]
        assert all(p.name.startswith(".out.tmp-") for p in leftovers)
        for p in leftovers:
            with pytest.raises(PartitionFormatError, match="meta.json is missing"):
                read_meta(p)
        return
    pytest.fail("the partition finished before the kill in 3 attempts")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_parts=0), r"`num_parts` must be between 1 and the number of nodes \(60\) \(got 0\)"),
        (dict(num_parts=61), r"`num_parts` must be between 1 and the number of nodes \(60\) \(got 61\)"),
        (dict(num_parts=2.0), r"`num_parts` must be an integer \(got 2\.0\)"),
        (dict(num_parts=2, method="spectral"), r"`method` must be one of metis, kaminpar, ptscotch, random \(got 'spectral'\)"),
        (dict(num_parts=2, seed=-1), r"`seed` must be an integer in \[0, 2\*\*31\) \(got -1\)"),
        (dict(num_parts=2, balance="nodes,foo"), r"`balance` must be"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        partition_graph(odd_graph(), out_dir=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=r"cannot create output directory .*file/out"):
        partition_graph(odd_graph(), 2, blocker / "out")
    with pytest.raises(PermissionError, match=r"/proc is not writable"):
        partition_graph(odd_graph(), 2, "/proc/gnnpart-out")


def test_arrays_load_writable_and_typed(written):
    p = load_partition(written, 0)
    assert p.x.dtype == np.float32 and p.x.flags.writeable
    assert p.indices.dtype == np.int64 and p.train_mask.dtype == bool
    assert os.path.exists(written / "meta.json")
