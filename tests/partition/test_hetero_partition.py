"""Partitioning typed graphs: every node type balanced, each part's node and edge types, format version 3, inspect."""
import json

import numpy as np
import pytest

from gnnpart import load, partition_graph
from gnnpart.data.csr import csr_rows
from gnnpart.errors import PartitionFormatError
from gnnpart.partition import load_partition, read_meta
from gnnpart.partition.verify import verify_partition
from tests.mpi import gnnpart_cli
from tests.partition.helpers import check_partition

SPEC = "synthetic:hetero=mag,nodes=3000,features=16,classes=4,seed=2"


@pytest.fixture(scope="module")
def mag():
    return load(SPEC)


@pytest.mark.parametrize("k", [1, 3])
def test_parts_keep_node_and_edge_types(mag, tmp_path, k):
    meta = partition_graph(mag, k, tmp_path / "out")
    check_partition(mag, tmp_path / "out", k)
    assert meta["version"] == 3 and meta["node_types"] == list(mag.types.node_types)
    assert meta["relations"] == [list(r) for r in mag.types.relations]
    assert meta["type_widths"] == [16, 8, 0, 0] and meta["target_types"] == ["paper"]
    assert meta["num_nodes_by_type"] == np.bincount(mag.node_type).tolist()
    n = mag.num_nodes
    src_all, dst_all = mag.edges()
    type_of = dict(zip((dst_all * n + src_all).tolist(), mag.edge_type.tolist()))
    for p in range(k):
        part = load_partition(tmp_path / "out", p)
        np.testing.assert_array_equal(part.node_type, mag.node_type[part.global_ids])
        dst = part.global_ids[csr_rows(part.indptr)]
        src = part.global_ids[part.indices]
        np.testing.assert_array_equal(part.edge_type, [type_of[key] for key in (dst * n + src).tolist()])
    assert verify_partition(tmp_path / "out")["unchecked"] == []


def test_metis_balances_every_node_type(mag, tmp_path):
    meta = partition_graph(mag, 4, tmp_path / "out")
    assert meta["balance"] == ["types", "edges", "train"]
    by_type = meta["stats"]["by_type"]
    assert set(by_type) == {"paper", "author", "institution", "field"}
    for name, row in by_type.items():
        assert sum(row["parts"]) == int((mag.node_type == mag.types.type_id(name)).sum())
        assert row["imbalance"] <= 1.1, (name, row)  # 3% asked; institutions are few (60 nodes)
    assert sum(sum(r["parts"]) for r in meta["stats"]["by_relation"].values()) == mag.num_edges
    # balancing only nodes lets the types drift: the default is what keeps them even
    loose = partition_graph(mag, 4, tmp_path / "loose", balance="nodes")
    assert max(r["imbalance"] for r in loose["stats"]["by_type"].values()) > max(
        r["imbalance"] for r in by_type.values())


def test_verify_catches_a_node_of_the_wrong_type(mag, tmp_path):
    partition_graph(mag, 2, tmp_path / "out")
    part = tmp_path / "out" / "part-1"
    types = np.load(part / "node_type.npy")
    types[0] = (types[0] + 1) % 4
    np.save(part / "node_type.npy", types)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    import zlib

    data = (part / "node_type.npy").read_bytes()
    meta["files"]["part-1/node_type.npy"] = {"size": len(data), "crc32": f"{zlib.crc32(data):08x}"}
    (tmp_path / "out" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(PartitionFormatError, match=r"node_type\.npy: each node's type must be the type whose block"):
        verify_partition(tmp_path / "out")


def test_ptscotch_refuses_a_typed_graph(mag, tmp_path):
    with pytest.raises(ValueError, match=r"`method` 'ptscotch' does not carry node and edge types yet"):
        partition_graph(mag, 2, tmp_path / "out", method="ptscotch")


def test_cli_partitions_and_inspects_per_type_and_relation(tmp_path):
    out = tmp_path / "out"
    proc = gnnpart_cli("partition", SPEC, "-k", "2", "--out", out)
    assert proc.returncode == 0, proc.stderr
    proc = gnnpart_cli("inspect", out, "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "4 node types (nodes per part; imbalance):" in proc.stdout
    assert "paper (16 features, target):" in proc.stdout and "field (featureless):" in proc.stdout
    assert "(author, writes, paper):" in proc.stdout and "verified:" in proc.stdout
    shown = json.loads(gnnpart_cli("inspect", out, "--json").stdout)
    assert shown["node_types"] == ["paper", "author", "institution", "field"]
    assert set(shown["by_relation"]) == {"__".join(r) for r in read_meta(out)["relations"]}


def test_parallel_writers_write_the_same_typed_parts(tmp_path):
    for name, extra in (("one", []), ("two", ["-n", "2"])):
        proc = gnnpart_cli("partition", SPEC, "-k", "3", "--out", tmp_path / name, *extra)
        assert proc.returncode == 0, proc.stderr
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").glob("part-*/*.npy"))
    assert any(f.name == "edge_type.npy" for f in files)
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
