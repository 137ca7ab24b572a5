"""Reliability, second round: the commands that landed last (`convert`, `generate`, `predict`, graph directories)
held to the promises of `partition` and `train`; inputs checked before any rank starts; no temporary left by a
failure that can be caught, and a stale one removed by the next run. One table per class of failure (README:
"Failure behaviour")."""
from __future__ import annotations

import json
import os
import signal
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import psutil
import pytest

from gnnpart import load, partition_graph
from tests.mpi import ROOT, gnnpart_cli, gnnpart_main
from tests.test_reliability import gnnpart_lines, leftovers

SPEC = "synthetic:nodes=1500,degree=6,classes=4,features=16,seed=3"


def one_line(err: str) -> str:
    lines = gnnpart_lines(err)
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------- convert checks what load checks
@pytest.fixture
def inputs(tmp_path):
    d = tmp_path
    (d / "edges.txt").write_text("0 1\n1 2\n2 0\n")
    (d / "empty.txt").write_text("# nothing here\n")
    (d / "weighted.txt").write_text("0 1 0.5\n1 2 0.25\n")
    np.save(d / "complex.npy", np.ones((3, 2), np.complex64))
    np.save(d / "strings.npy", np.array([["a", "b"], ["c", "d"], ["e", "f"]]))
    np.save(d / "short.npy", np.ones((2, 2), np.float32))
    np.save(d / "nan.npy", np.array([[1.0, np.nan], [0, 0], [1, 1]], np.float32))
    return d


# (id, dataset spec with {d}, message both `convert` and `partition` give)
DATASETS = [
    ("complex features", "edgelist:{d}/edges.txt,x={d}/complex.npy", "`x` must be numeric (got dtype complex64)"),
    ("string features", "edgelist:{d}/edges.txt,x={d}/strings.npy", "`x` must be numeric (got dtype <U1)"),
    ("features for other nodes", "edgelist:{d}/edges.txt,x={d}/short.npy,num_nodes=3",
     "`x` must have one row per node (3) (got 2 rows)"),
    ("a NaN feature", "edgelist:{d}/edges.txt,x={d}/nan.npy", "`x` must be finite (got nan at node 0, feature 1)"),
    ("an empty edge list", "{d}/empty.txt", "holds no edge, and neither `num_nodes` nor `x` or `y` gives the nodes"),
    ("a third column", "{d}/weighted.txt", "line 1: expected `src dst`, two node ids (got '0 1 0.5'); a third column"),
    ("a path that does not exist", "{d}/no-such-graph.txt", "dataset path {d}/no-such-graph.txt does not exist"),
]


@pytest.mark.parametrize("spec,message", [c[1:] for c in DATASETS], ids=[c[0] for c in DATASETS])
def test_convert_refuses_what_load_refuses_in_the_same_words(capsys, inputs, spec, message):
    spec, message = spec.format(d=inputs), message.format(d=inputs)
    for argv in (["convert", spec, "--out", inputs / "g"], ["partition", spec, "-k", "1", "-o", inputs / "p"]):
        code, _, err = gnnpart_main(capsys, *argv)
        assert code == 1 and message in one_line(err), (argv[0], err)
        assert "Warning" not in err and "Traceback" not in err
    assert not (inputs / "g").exists() and not (inputs / "p").exists()
    assert leftovers(inputs, "g") == [] and leftovers(inputs, "p") == []


# ---------------------------------------------------------------------------- graph directories: meta.json checked
@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gd") / "g"
    from gnnpart.data.graph_dir import write_graph

    write_graph(load(SPEC), out)
    return out


def _edit_meta(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    meta_path = dst / "meta.json"
    text = meta_path.read_text()
    if callable(edit):
        meta = json.loads(text)
        edit(meta)
        text = json.dumps(meta)
    else:
        text = text[: int(len(text) * edit)]  # cut short
    meta_path.write_text(text)
    return dst


def _set(key, value):
    def edit(meta):
        meta[key] = value
    return edit


META_CASES = [
    ("num_nodes says more", _set("num_nodes", 5000), "`num_nodes` is 5000, but the arrays hold 1500"),
    ("num_edges says less", _set("num_edges", 3), "`num_edges` is 3, but the arrays hold"),
    ("num_features", _set("num_features", 99), "`num_features` is 99, but the arrays hold 16"),
    ("undirected not a bool", _set("undirected", "yes"), "`undirected` must be true or false (got 'yes')"),
    ("a field record", lambda m: m["fields"].__setitem__("x", "float32"), "the record of `x` must be"),
    ("a field it cannot hold", lambda m: m["fields"].__setitem__("notes", {"dtype": "int64", "shape": [1]}),
     "`fields` lists ['notes']"),
    ("cut short", 0.5, "corrupted"),
]


@pytest.mark.parametrize("edit,message", [c[1:] for c in META_CASES], ids=[c[0] for c in META_CASES])
def test_a_graph_directory_meta_json_is_checked_against_its_arrays(capsys, graph_dir, tmp_path, edit, message):
    broken = _edit_meta(graph_dir, tmp_path / "g", edit)
    code, _, err = gnnpart_main(capsys, "partition", broken, "-k", "2", "-o", tmp_path / "p")
    line = one_line(err)
    assert code == 1 and message in line and "meta.json" in line, err
    assert "unknown dataset" not in line and not (tmp_path / "p").exists()


# ---------------------------------------------------------------------------- part contents a CRC cannot vouch for
@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    base = tmp_path_factory.mktemp("parts")
    graph = load(SPEC)
    for k in (1, 3):
        partition_graph(graph, k, base / f"p{k}")
    return base


def _rewrite_with_crc(root: Path, rel: str, array: np.ndarray) -> None:
    path = root / rel
    np.save(path, array)
    data = path.read_bytes()
    meta = json.loads((root / "meta.json").read_text())
    meta["files"][rel] = {"size": len(data), "crc32": f"{zlib.crc32(data):08x}"}
    (root / "meta.json").write_text(json.dumps(meta))


def test_a_class_id_beyond_the_classes_is_one_line_naming_the_file(capsys, parts, tmp_path):
    bad = tmp_path / "p1"
    shutil.copytree(parts / "p1", bad)
    y = np.load(bad / "part-0" / "y.npy")
    y[5] = 1000
    _rewrite_with_crc(bad, "part-0/y.npy", y)
    for argv in (["inspect", bad, "--verify"], ["train", bad, "--epochs", "1"]):
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and "part-0/y.npy holds class id 1000 at row 5, outside [-1, 4)" in line, (argv, err)
        assert "IndexError" not in line and "internal error" not in line


def test_a_missing_part_file_is_found_before_any_rank_starts(capsys, parts, tmp_path):
    bad = tmp_path / "p3"
    shutil.copytree(parts / "p3", bad)
    (bad / "part-1" / "x.npy").unlink()
    for argv in (["train", bad, "-n", "3", "--epochs", "1"], ["inspect", bad, "--verify"]):
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and "part-1/x.npy" in line and ": rank " not in line and "Abort" not in err, (argv, err)
    shutil.copy(parts / "p3" / "part-1" / "x.npy", bad / "part-1" / "x.npy")
    with open(bad / "part-2" / "indices.npy", "ab") as fh:
        fh.write(b"\0" * 8)  # a size meta.json does not record
    code, _, err = gnnpart_main(capsys, "train", bad, "-n", "3", "--epochs", "1")
    assert code == 1 and "part-2/indices.npy has" in one_line(err) and "expected" in err


# ---------------------------------------------------------------------------- float options must be finite
FLOATS = [
    ("--watchdog", "nan"), ("--lr", "nan"), ("--lr", "inf"), ("--weight-decay", "inf"), ("--dropout", "nan"),
    ("--input-dropout", "nan"),
]


@pytest.mark.parametrize("flag,value", FLOATS, ids=[f"{f} {v}" for f, v in FLOATS])
def test_float_options_must_be_finite(capsys, parts, tmp_path, flag, value):
    code, _, err = gnnpart_main(capsys, "train", parts / "p3", "-n", "3", flag, value)
    assert code == 1 and f"{flag} must be a finite number (got {value})" in one_line(err), err
    config = tmp_path / "t.toml"
    config.write_text(f"{flag[2:]} = {value}\n")  # TOML has nan and inf
    code, _, err = gnnpart_main(capsys, "train", parts / "p3", "-n", "3", "--config", config)
    assert code == 1 and f"{flag} must be a finite number (got {value})" in one_line(err), err


# ---------------------------------------------------------------------------- predict: full disk, signals, stale
@pytest.fixture(scope="module")
def checkpoint(parts, tmp_path_factory):
    """A GCN trained 2 epochs on one part, in this process; the 3-part partition is of the same graph."""
    from gnnpart.cli.main import main

    ck = tmp_path_factory.mktemp("ck")
    assert main(["-q", "train", str(parts / "p1"), "--epochs", "2", "--checkpoint", str(ck), "--hidden", "64"]) == 0
    return ck


@pytest.fixture
def small_disk(tmp_path):
    """A 16 KiB tmpfs: too small for the rows (1,500 x 64 float32 = 375 KiB)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(disk)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("GNNPART_REQUIRE_DATA") == "1":
            pytest.fail(f"cannot mount a small tmpfs for the full-disk test: {done.stderr.decode().strip()}")
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], capture_output=True)


def test_predict_into_a_full_disk_is_one_line_from_rank_0(parts, checkpoint, small_disk):
    proc = gnnpart_cli("predict", parts / "p3", "--checkpoint", checkpoint, "--out", small_disk / "emb.npy",
                       "--embeddings", "0", "--threads", "1", "-n", "3")
    lines = [line for line in gnnpart_lines(proc.stderr) if line.strip() and not line.startswith("Abort(")]
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("gnnpart predict: rank 0: error: ") and "Bus error" not in proc.stderr
    assert f"no space left on device for {small_disk / 'emb.npy'}: it needs 375" in lines[0], proc.stderr
    assert list(small_disk.iterdir()) == []  # neither the output nor a temporary


def test_a_stale_temporary_is_removed_by_the_next_predict(capsys, parts, checkpoint, tmp_path):
    dead = psutil.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    stale = tmp_path / f".out.npy.tmp-{dead.pid}"
    stale.write_bytes(b"half a file")
    code, _, err = gnnpart_main(capsys, "predict", parts / "p1", "--checkpoint", checkpoint, "--out",
                                tmp_path / "out.npy")
    assert code == 0, err
    assert not stale.exists() and np.load(tmp_path / "out.npy").shape == (1500, 4)


def test_a_signal_while_writing_leaves_no_temporary(monkeypatch, parts, checkpoint, tmp_path):
    """SIGTERM arrives while the rows are written (made an exception, as terminate_on_signals makes it): the
    temporary file is removed and the signal ends the command."""
    from gnnpart.atomic import Terminated, terminate_on_signals
    from gnnpart.comm import Communicator
    from gnnpart.infer import row_file

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        raise AssertionError("the signal did not arrive")

    monkeypatch.setattr(row_file.np, "load", interrupted)
    import torch

    with pytest.raises(Terminated), terminate_on_signals():
        row_file.write_rows(Communicator(), tmp_path / "rows.npy", np.arange(4), torch.ones(4, 2), 4)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- a stopped rank 0
def test_a_stopped_rank_0_ends_the_job_within_the_watchdog_and_a_few_seconds(parts, tmp_path):
    marker = str(parts / "p3")
    metrics = tmp_path / "m.jsonl"
    proc = subprocess.Popen(
        [os.sys.executable, "-m", "gnnpart", "train", marker, "--epochs", "100000", "--watchdog", "8",
         "--metrics", str(metrics), "--threads", "1", "-n", "3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    stopped = None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        ranks = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])
                 and "mpi4py" in " ".join(p.info["cmdline"] or [])]
        rank0 = [p for p in ranks if p.environ().get("PMI_RANK", p.environ().get("OMPI_COMM_WORLD_RANK")) == "0"]
        assert rank0, [p.info["cmdline"] for p in ranks]
        stopped = rank0[0]
        stopped.send_signal(signal.SIGSTOP)
        start = time.time()
        code = proc.wait(timeout=60)
        took = time.time() - start
    finally:
        if stopped is not None and stopped.is_running():
            stopped.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read()
    assert code != 0 and took < 8 + 8, (took, err)  # the limit, then at most two intervals and the abort
    verdicts = [line for line in err.splitlines() if line.startswith("gnnpart watchdog:")]
    assert verdicts and all("stuck: rank 0 (silent" in line for line in verdicts), err
    assert "rank 0 did not end the job" not in err
