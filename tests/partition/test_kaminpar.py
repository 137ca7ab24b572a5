"""KaMinPar (`method="kaminpar"`): valid partitions of the format METIS's have, one combined weight balanced, the
same parts for a seed on one thread, N ranks training on them as exactly as on METIS's, and a refusal in one line
where KaMinPar is not installed. KaMinPar is optional (`pip install kaminpar`); its tests skip without it, unless
GNNPART_REQUIRE_KAMINPAR=1 (set by CI), where its absence fails them."""
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gnnpart import load, partition_graph
from gnnpart.capabilities import kaminpar_available
from gnnpart.errors import ConfigError, PartitionerError
from gnnpart.partition import assign, kaminpar
from gnnpart.partition.store import read_meta
from gnnpart.partition.verify import verify_partition
from tests.mpi import gnnpart_cli, gnnpart_main, json_lines, run_by_size, run_mpi
from tests.partition.helpers import check_partition
from tests.train.test_exactness_mpi import assert_runs_agree

SYNTH = "synthetic:nodes=3000,degree=8,classes=4,features=8,seed=2"


@pytest.fixture(scope="module")
def needs_kaminpar():
    if not kaminpar_available():
        reason = f"needs KaMinPar: {kaminpar.INSTALL_HINT}"
        if os.environ.get("GNNPART_REQUIRE_KAMINPAR") == "1":
            pytest.fail(f"KaMinPar is required (GNNPART_REQUIRE_KAMINPAR=1) but not installed; {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def synth():
    return load(SYNTH)


def test_single_weight_rule():
    g = load("synthetic:nodes=200,degree=5,classes=3,features=2,seed=1")
    deg = g.in_degree().astype(np.float64)
    want = np.maximum(np.rint(16 * (1 + deg / deg.mean()) / 2), 1)
    np.testing.assert_array_equal(assign.single_weight(g, ("nodes", "edges")), want)
    np.testing.assert_array_equal(assign.single_weight(g, ("nodes",)), np.full(200, 16))
    train = g.train_mask.astype(np.float64)
    want = np.maximum(np.rint(16 * (1 + train * 200 / train.sum()) / 2), 1)
    np.testing.assert_array_equal(assign.single_weight(g, ("nodes", "train")), want)


def test_single_weight_drops_a_constraint_nobody_has(caplog):
    g = load("synthetic:nodes=50,degree=3,classes=2,features=2,seed=1")
    g.train_mask[:] = False
    w = assign.single_weight(g, ("nodes", "train"))
    np.testing.assert_array_equal(w, np.full(50, 16))
    assert "not balancing train" in caplog.text


def test_default_balance_follows_the_method():
    assert assign.parse_balance(None, "metis") == ("nodes", "train")
    assert assign.parse_balance(None, "kaminpar") == ("nodes", "edges")
    assert assign.parse_balance("edges,nodes", "kaminpar") == ("edges", "nodes")


def test_parhip_file_reads_back(needs_kaminpar, synth, tmp_path):
    import kaminpar as binding

    xadj, adjncy = assign.symmetric_adjacency(synth, dtype=np.int64)
    weights = assign.single_weight(synth, ("nodes", "edges"))
    path = tmp_path / "g.parhip"
    kaminpar.write_parhip(path, xadj, adjncy, weights)
    got = binding.load_graph(str(path), binding.GraphFileFormat.PARHIP)
    assert got.n() == synth.num_nodes and got.m() == len(adjncy) and got.is_node_weighted()
    for u in (0, 17, synth.num_nodes - 1):
        assert got.node_weight(u) == weights[u]
        assert sorted(v for v, _ in got.neighbors(u)) == sorted(adjncy[xadj[u]:xadj[u + 1]].tolist())


@pytest.mark.parametrize("k", [2, 3, 5])
def test_partition_is_valid_and_balances_the_combined_weight(needs_kaminpar, synth, tmp_path, k):
    out = tmp_path / f"k{k}"
    meta = partition_graph(synth, k, out, method="kaminpar", threads=2)
    assert meta["method"] == "kaminpar" and meta["balance"] == ["nodes", "edges"]
    assert "kaminpar_s" in meta["timing_s"] and meta["memory_plan"]["metis_estimate"] > 0
    verify_partition(out)  # every node owned once, halos and send lists consistent, files whole
    _, owner = check_partition(synth, out, k)  # and the parts reassemble the graph
    assert sorted(np.unique(owner)) == list(range(k))
    w = assign.single_weight(synth, ("nodes", "edges"))
    weight = np.bincount(owner, weights=w, minlength=k)
    assert weight.max() <= int(1.03 * -(-int(w.sum()) // k))  # KaMinPar's limit of a part: 1.03 x ceil(total / k)
    assert meta["threads"] == 2
    # each constraint alone is not bounded by the rule (a part light in nodes may be heavy in edges); a sanity check
    assert meta["stats"]["imbalance"]["edges"] < 1.25 and meta["stats"]["imbalance"]["nodes"] < 1.25


def test_same_parts_for_a_seed_on_one_thread(needs_kaminpar, synth):
    runs = [assign.assign(synth, 4, "kaminpar", ("nodes", "edges"), seed, {}, threads=1) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] != runs[2]).any()  # and the seed is used


def test_cut_close_to_metis(needs_kaminpar, synth, tmp_path):
    halo = {m: partition_graph(synth, 4, tmp_path / m, method=m, balance="nodes,edges")["stats"]["halo_rows_total"]
            for m in ("metis", "kaminpar", "random")}
    assert halo["kaminpar"] <= 1.3 * halo["metis"] < halo["random"]


def test_missing_kaminpar_is_refused_in_one_line(monkeypatch, synth, tmp_path, capsys):
    monkeypatch.setattr(kaminpar, "kaminpar_available", lambda: False)
    with pytest.raises(ConfigError, match=r"`method` kaminpar needs KaMinPar, which is not installed: "
                                          r"install KaMinPar's Python binding: `pip install kaminpar`"):
        partition_graph(synth, 2, tmp_path / "out", method="kaminpar")
    assert not (tmp_path / "out").exists()
    code, out, err = gnnpart_main(capsys, "partition", SYNTH, "-k", "2", "-o", str(tmp_path / "cli"),
                                  "--method", "kaminpar")
    assert code == 1 and not (tmp_path / "cli").exists()
    lines = [line for line in err.splitlines() if line.startswith("gnnpart")]
    assert len(lines) == 1 and "--method kaminpar needs KaMinPar" in lines[0] and "pip install kaminpar" in lines[0], err


def test_a_32_bit_binding_is_refused(needs_kaminpar, monkeypatch, synth, tmp_path):
    # KaMinPar ends the process on a file of another width: refused before it is written
    import kaminpar as binding

    monkeypatch.setattr(binding, "__64bit__", False, raising=False)
    with pytest.raises(ConfigError, match="built with 64-bit ids and weights"):
        partition_graph(synth, 2, tmp_path / "out", method="kaminpar")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(xadj=a["xadj"][:-1]), r"`xadj` must start at 0 and end at len\(adjncy\)"),
    (lambda a: a.update(adjncy=a["adjncy"] + 1), r"`adjncy` must hold node ids in \[0, 6\) \(got 1 ... 6\)"),
    (lambda a: a.update(vwgt=np.array([1, 1, 0, 1, 1, 1])), r"`vwgt` must be >= 1 \(node 2 has 0\)"),
    (lambda a: a.update(vwgt=np.ones(5, dtype=np.int64)), r"`vwgt` must hold one weight per node \(6\) \(got 5\)"),
    (lambda a: a.update(nparts=0), r"`nparts` must be an integer >= 1 \(got 0\)"),
    (lambda a: a.update(epsilon=0.0), r"`epsilon` must be a positive number \(got 0.0\)"),
])
def test_part_graph_checks_what_kaminpar_would_trust(needs_kaminpar, change, message):
    ring = np.arange(6)
    src = np.concatenate([ring, (ring + 1) % 6])
    dst = np.concatenate([(ring + 1) % 6, ring])
    order = np.argsort(src, kind="stable")
    args = {"xadj": np.concatenate([[0], np.cumsum(np.bincount(src, minlength=6))]), "adjncy": dst[order],
            "vwgt": np.ones(6, dtype=np.int64), "nparts": 2, "epsilon": 0.03}
    np.testing.assert_array_equal(np.bincount(kaminpar.part_graph(**args), minlength=2), [3, 3])
    change(args)
    with pytest.raises(ValueError, match=message):
        kaminpar.part_graph(**args)


def test_an_unwritable_input_file_is_one_line(needs_kaminpar, synth, tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kaminpar, "write_parhip", full_disk)
    xadj, adjncy = assign.symmetric_adjacency(synth, dtype=np.int64)
    with pytest.raises(PartitionerError, match=r"could not write KaMinPar's input .*\.parhip \(.* KiB\): No space "
                                               r"left on device; set TMPDIR to a folder with room"):
        kaminpar.part_graph(xadj, adjncy, np.ones(synth.num_nodes, dtype=np.int64), 2, workdir=tmp_path)
    assert not list(tmp_path.iterdir())  # the temporary file is removed


def test_a_node_heavier_than_a_part_is_explained(needs_kaminpar, caplog):
    g = load("synthetic:nodes=40,degree=3,classes=2,features=2,seed=1")
    g.train_mask[:] = False
    g.train_mask[0] = True  # one training node weighs more than half the combined weight
    assign.assign(g, 4, "kaminpar", ("train",), 0, {}, threads=1)
    assert "KaMinPar cannot balance" in caplog.text and "parts are empty" in caplog.text
    assert "node 0 weighs 640 of 679 in all, more than a part may hold" in caplog.text


def test_threads_refused_below_one(synth, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"`threads` must be an integer >= 1 \(got 0\)"):
        partition_graph(synth, 2, tmp_path / "out", method="kaminpar", threads=0)
    code, _, err = gnnpart_main(capsys, "partition", SYNTH, "-k", "2", "-o", str(tmp_path / "cli"), "--threads", "0")
    assert code == 1 and "--threads must be >= 1 (got 0)" in err


def test_cli_kaminpar(needs_kaminpar, tmp_path, capsys):
    out = tmp_path / "p"
    code, stdout, err = gnnpart_main(capsys, "partition", SYNTH, "-k", "3", "-o", str(out), "--method", "kaminpar",
                                     "--threads", "1", "--balance", "nodes,edges,train")
    assert code == 0, err
    assert "kaminpar (balance nodes,edges,train)" in stdout
    assert read_meta(out)["balance"] == ["nodes", "edges", "train"]
    code, stdout, err = gnnpart_main(capsys, "inspect", str(out), "--verify", "--json")
    assert code == 0, err
    assert json.loads(stdout)["num_parts"] == 3


def test_training_on_kaminpar_parts_is_exact(needs_kaminpar, cora, tmp_path):
    # 2 and 3 ranks on KaMinPar's parts against 1 rank, float64, dropout on (tests/train/test_exactness_mpi.py)
    specs = ["gcn:16:2:0.5:0.5", "sage:16:2:0.5:0.5"]
    groups = {}
    for n in (1, 2, 3):
        partition_graph(cora, n, tmp_path / f"cora-{n}", method="kaminpar", threads=1)
        groups[n] = [tmp_path / f"cora-{n}", tmp_path / f"run-{n}.npz", 10, "float64", *specs]
    run_by_size("train_worker.py", groups, timeout=600)
    runs = {n: {"cora64": dict(np.load(tmp_path / f"run-{n}.npz"))} for n in (1, 2, 3)}
    for n in (2, 3):
        assert_runs_agree(runs[n], runs[1], n, tolerance=1e-5, first=specs[0])


def test_parallel_writers_write_one_writers_files(needs_kaminpar, synth, tmp_path):
    # gnnpart partition -n 2 --method kaminpar: rank 0 runs KaMinPar (one thread: the same parts), both write
    from gnnpart.data.graph_dir import write_graph
    from tests.partition.test_streaming import directory

    write_graph(synth, tmp_path / "g")
    partition_graph(synth, 3, tmp_path / "serial", method="kaminpar", threads=1)
    proc = gnnpart_cli("partition", tmp_path / "g", "-k", "3", "-o", tmp_path / "par", "-n", "2", "--method",
                       "kaminpar", "--threads", "1")
    assert proc.returncode == 0 and "3 parts" in proc.stdout, proc.stderr
    got, want = directory(tmp_path / "par"), directory(tmp_path / "serial")
    got["meta.json"]["dataset"] = want["meta.json"]["dataset"]
    assert got == want


def test_a_kaminpar_failure_under_parallel_writers_leaves_nothing(needs_kaminpar, synth, tmp_path):
    # rank 0 cannot write KaMinPar's input (a full TMPDIR): every writer is told, and nothing is left
    from gnnpart.data.graph_dir import write_graph

    write_graph(synth, tmp_path / "g")
    proc = run_mpi(2, "partition_worker.py", tmp_path / "g", tmp_path / "out", 3, 0, "kaminpar", expect_ok=False,
                   timeout=240)
    reports = json_lines(proc.stdout)
    assert len(reports) == 2, proc.stderr
    for r in reports:
        assert r["error"].startswith("WritersFailed") and "could not write KaMinPar's input" in r["error"], r
        assert "No space left on device; set TMPDIR to a folder with room" in r["error"]
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert not [p for p in Path(tempfile.gettempdir()).glob("gnnpart-kaminpar-*")]  # nor KaMinPar's input
