"""Partitioning a memory-mapped graph: the same files as from memory, written by one rank or several; a failing
writer leaves nothing; a METIS that cannot fit is refused up front; parts load memory-mapped."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from gnnpart import load, load_partition, partition_graph
from gnnpart.data.graph_dir import open_graph, write_graph
from gnnpart.errors import PartitionFormatError, ResourceError
from gnnpart.partition.store import PART_ARRAYS
from tests.mpi import gnnpart_cli, gnnpart_in_process, json_lines, run_mpi

SPEC = "synthetic:nodes=3000,edge_features=3,task=multilabel:4,seed=5"
VOLATILE = ("timing_s", "memory_plan")  # meta.json keys that record this run, not the partition


def directory(root: Path) -> dict:
    """Every file of a partition directory: the bytes, and meta.json without the run's own records."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = str(path.relative_to(root))
            if rel == "meta.json":
                meta = json.loads(path.read_text())
                out[rel] = {k: v for k, v in meta.items() if k not in VOLATILE}
            else:
                out[rel] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    base = tmp_path_factory.mktemp("streaming")
    graph = load(SPEC)
    write_graph(graph, base / "g")
    serial = base / "serial"
    partition_graph(graph, 5, serial, dataset="d")
    return base, graph, serial


def test_a_mapped_graph_gives_the_same_partition_files(graphs):
    base, _, serial = graphs
    partition_graph(open_graph(base / "g"), 5, base / "mapped", dataset="d")
    assert directory(base / "mapped") == directory(serial)
    assert len(directory(serial)) == 1 + 5 * (len(PART_ARRAYS) + 1)  # meta.json, and every array with edge_attr


def test_small_blocks_give_the_same_files(graphs, monkeypatch):
    """Features copied a few rows at a time (a small memory limit) are still the same files."""
    from gnnpart.partition import memory

    base, _, serial = graphs
    monkeypatch.setattr(memory, "MIN_BLOCK", 1000)
    monkeypatch.setattr(memory, "MAX_BLOCK", 1000)
    meta = partition_graph(open_graph(base / "g"), 5, base / "small", dataset="d")
    assert meta["memory_plan"]["block_bytes"] == 1000
    assert directory(base / "small") == directory(serial)


def test_features_reach_the_parts_in_blocks(graphs):
    """The parts' features, labels and edge features are read from the graph a block at a time, never whole."""
    from gnnpart.partition.build import Rows, build_parts

    base, _, _ = graphs
    graph = open_graph(base / "g")
    owner = np.arange(graph.num_nodes) % 3
    row_bytes = graph.x[:1].nbytes
    for part in build_parts(graph, owner, 3, block_bytes=10 * row_bytes):
        assert all(isinstance(getattr(part, name), Rows) for name in ("x", "y", "edge_attr"))
        blocks = list(part.x.blocks())
        assert max(len(b) for b in blocks) == 10 and sum(len(b) for b in blocks) == part.num_inner
        np.testing.assert_array_equal(np.concatenate(blocks), graph.x[part.global_ids[: part.num_inner]])


@pytest.mark.parametrize("ranks", [2, 3])
def test_parallel_writers_equal_one_writer(graphs, ranks):
    base, _, serial = graphs
    out = base / f"parallel{ranks}"
    reports = json_lines(run_mpi(ranks, "partition_worker.py", base / "g", out, 5).stdout)
    assert sorted(r["rank"] for r in reports) == list(range(ranks)) and all(r["error"] is None for r in reports)
    got, want = directory(out), directory(serial)
    got["meta.json"]["dataset"] = want["meta.json"]["dataset"]
    assert got == want


@pytest.mark.parametrize("step", ["write", "meta"])
def test_a_failing_writer_leaves_nothing_that_loads(graphs, step):
    base, _, _ = graphs
    out = base / f"failed-{step}"
    failing = 1 if step == "write" else 0
    reports = json_lines(run_mpi(3, "partition_worker.py", base / "g", out, 5, failing, step).stdout)
    assert len(reports) == 3
    for r in reports:  # every rank is told which rank failed and why
        assert r["error"].startswith("WritersFailed") and f"rank {failing}: [Errno 28] No space left" in r["error"]
    assert not out.exists()
    assert not [p for p in base.iterdir() if p.name.startswith(f".{out.name}.")]  # nor a temporary folder
    with pytest.raises(PartitionFormatError):
        load_partition(out, 0)


def test_a_writer_failing_outside_the_agreed_steps_ends_the_job(graphs):
    """Not a hang: the rank says why and aborts the job; nothing that loads is left."""
    base, _, _ = graphs
    out = base / "aborted"
    proc = run_mpi(3, "partition_worker.py", base / "g", out, 5, 1, "bcast", expect_ok=False, timeout=120)
    assert proc.returncode != 0
    assert "gnnpart partition: rank 1: error: RuntimeError: MPI error (injected)" in proc.stderr, proc.stderr
    assert not out.exists()


def test_the_command_writes_in_parallel(graphs):
    base, _, serial = graphs
    proc = gnnpart_cli("partition", base / "g", "-k", "5", "-o", base / "cli", "-n", "2")
    assert proc.returncode == 0 and "5 parts" in proc.stdout, proc.stderr
    got, want = directory(base / "cli"), directory(serial)
    got["meta.json"]["dataset"] = want["meta.json"]["dataset"]
    assert got == want


def test_a_metis_that_cannot_fit_is_refused_in_one_line(capsys, graphs):
    base, graph, _ = graphs
    proc = gnnpart_in_process(capsys, "-q", "partition", base / "g", "-k", "4", "-o", base / "refused", "--max-memory", "0.001")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "METIS needs about" in lines[0] and "more than the limit of 0.001 GiB (--max-memory)" in lines[0]
    assert f"{graph.num_nodes:,} nodes" in lines[0] and not (base / "refused").exists()
    proc = gnnpart_cli("-q", "partition", base / "g", "-k", "4", "-o", base / "refused", "--max-memory", "0.001",
                       "-n", "2")  # the parallel writers: rank 0's line, in the flag's name too
    assert proc.returncode == 1 and "more than the limit of 0.001 GiB (--max-memory)" in proc.stderr, proc.stderr
    assert not (base / "refused").exists()
    with pytest.raises(ResourceError, match="METIS needs about"):
        partition_graph(graph, 4, base / "refused", max_memory=1e6)
    with pytest.raises(ValueError, match=r"`max_memory` must be a positive number of bytes \(got -1\)"):
        partition_graph(graph, 4, base / "refused", max_memory=-1)
    proc = gnnpart_in_process(capsys, "partition", base / "g", "-k", "4", "-o", base / "refused", "--max-memory", "inf")
    assert proc.returncode == 1 and "--max-memory must be a positive, finite number of GiB (got inf)" in proc.stderr
    partition_graph(graph, 4, base / "random", method="random", max_memory=2e8)  # no METIS: the parts fit


def test_parts_load_memory_mapped(graphs):
    base, _, serial = graphs
    for part_id in range(5):
        read, mapped = load_partition(serial, part_id), load_partition(serial, part_id, mmap=True)
        for name in ("global_ids", "indptr", "indices", "x", "y", "train_mask", "edge_attr"):
            np.testing.assert_array_equal(getattr(mapped, name), getattr(read, name))
        assert isinstance(mapped.x, np.memmap) and mapped.x.flags.writeable  # copy-on-write: torch takes it
    mapped.x[0, 0] = 123.0  # a write stays in this process
    assert load_partition(serial, 4).x[0, 0] != 123.0
    damaged = base / "damaged"
    partition_graph(load(SPEC), 2, damaged)
    path = damaged / "part-1" / "x.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PartitionFormatError, match=r"part-1/x.npy is corrupted \(CRC-32 mismatch\)"):
        load_partition(damaged, 1, mmap=True)
    assert os.path.getsize(path) == len(data)
