"""Reliability: every bad input and injected fault ends with the documented exit status and one line, and leaves
nothing behind (no partial output, no temporaries, no processes). One table per class of failure (README:
"Failure behaviour")."""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from gnnpart import load_partition, partition_graph
from gnnpart.errors import PartitionFormatError
from tests.mpi import ROOT, gnnpart_cli, gnnpart_main, run_mpi

FAST = ["--epochs", "1"]


def gnnpart_lines(stderr: str) -> list[str]:
    """stderr without the progress lines of the loggers."""
    return [line for line in stderr.splitlines() if not line.startswith("[gnnpart")]


def leftovers(folder: Path, name: str) -> list[str]:
    """Temporaries of ``name`` beside it (``.NAME.tmp-*``, ``.NAME.old-*``)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def processes_with(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and marker in " ".join(proc.info["cmdline"] or []):
                found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'])[:120]}")
        except psutil.Error:
            pass
    return found


def wait_gone(marker: str, seconds: float) -> list[str]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        left = processes_with(marker)
        if not left:
            return []
        time.sleep(0.2)
    return processes_with(marker)


@pytest.fixture(scope="module")
def cora3(cora, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "cora3"
    partition_graph(cora, 3, out, dataset="cora")
    return out


@pytest.fixture
def files(tmp_path, data_root):
    """Bad input files (in ``tmp_path``)."""
    d = tmp_path
    (d / "big.txt").write_text("0 1\n1 99999999999999999999\n")
    np.savez(d / "num_nodes.npz", src=[0, 1], dst=[1, 0], x=np.ones((2, 1), np.float32), num_nodes=np.array([2, 3]))
    np.savez(d / "labels.npz", src=[0, 1], dst=[1, 2], x=np.ones((3, 1), np.float32), y=np.array([0, 1, 10**9]))
    (d / "ogb" / "raw").mkdir(parents=True)
    with gzip.open(d / "ogb" / "raw" / "num-node-list.csv.gz", "wt") as fh:
        fh.write("")
    with gzip.open(d / "ogb" / "raw" / "edge.csv.gz", "wt") as fh:
        fh.write("0,1\n")
    planetoid = d / "bad_cora" / "planetoid"
    planetoid.mkdir(parents=True)
    for f in (data_root / "planetoid").glob("ind.cora.*"):
        shutil.copy(f, planetoid / f.name)
    lines = (planetoid / "ind.cora.test.index").read_text().split()
    (planetoid / "ind.cora.test.index").write_text("\n".join(lines[:-1] + ["99999"]) + "\n")
    (d / "thesis").mkdir()
    (d / "thesis" / "chapter1.tex").write_text("years of work")
    (d / "a_file").write_text("")
    for name, content in {"overwrite": {"overwrite": "false"}, "balance": {"balance": 5}}.items():
        (d / f"{name}.json").write_text(json.dumps({"dataset": "synthetic:nodes=50", "num_parts": 2, **content}))
    return d


# (id, argv with {d} = the files' folder, {p} = a 3-part Cora partition, exit status, message)
BAD_INPUT = [
    ("config string for a flag", "partition --config {d}/overwrite.json -o {d}/thesis", 1,
     "`overwrite` must be true or false (got 'false')"),
    ("config number for a string", "partition --config {d}/balance.json -o {d}/out", 1, "`balance` must be a string or null (got 5)"),
    ("overwrite a folder that is no partition", "partition synthetic:nodes=50 -k 2 -o {d}/thesis --overwrite", 1,
     "refusing to replace"),
    ("synthetic graph too large", "partition synthetic:nodes=1000000000000 -k 2 -o {d}/out", 1, "needs about"),
    ("synthetic features too wide", "partition synthetic:nodes=1000,features=1000000000 -k 2 -o {d}/out", 1,
     "needs about"),
    ("synthetic negative seed", "partition synthetic:seed=-1 -k 2 -o {d}/out", 1, "synthetic `seed` must be"),
    ("partition seed overflow", "partition synthetic:nodes=50 -k 2 -o {d}/out --seed 18446744073709551616", 1,
     "--seed must be an integer"),
    ("label far beyond the labelled nodes", "partition {d}/labels.npz -k 2 -o {d}/out", 1, "names class 1000000000"),
    ("edge list id beyond int64", "partition {d}/big.txt -k 2 -o {d}/out", 1, "node ids must fit in 64 bits"),
    ("npz num_nodes not a scalar", "partition {d}/num_nodes.npz -k 2 -o {d}/out", 1, "`num_nodes` in"),
    ("ogb empty node count", "partition ogb:{d}/ogb -k 2 -o {d}/out", 1, "must hold one node count"),
    ("planetoid test index out of range", "partition cora --root {d}/bad_cora -k 2 -o {d}/out", 1,
     "test node ids must start at"),
    ("train hidden too large", "train {p} --hidden 1000000000 -n 3", 1, "needs about"),
    ("train threads negative", "train {p} --threads -1 -n 3", 1, "--threads must be >= 0 (got -1)"),
    ("train seed overflow", "train {p} --seed 18446744073709551616 -n 3", 1, "--seed must be an integer in [0, 2**63)"),
    ("metrics in a missing folder", "train {p} --metrics {d}/nowhere/m.jsonl -n 3", 1, "its directory"),
    ("checkpoint is a file", "train {p} --checkpoint {d}/a_file --checkpoint-every 1 -n 3", 1,
     "exists and is not a directory"),
    ("resume without a checkpoint", "train {p} --checkpoint {d}/empty --resume -n 3", 1, "no checkpoint to resume from"),
    ("usage error", "train {p} --hidden", 2, "expected one argument"),
]


@pytest.mark.parametrize("argv,status,message", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_up_front(capsys, files, cora3, argv, status, message):
    # in this process: each is refused before any rank starts (a launched job would print `: rank ` lines)
    code, _, err = gnnpart_main(capsys, *argv.format(d=files, p=cora3).split())
    lines = gnnpart_lines(err)
    assert code == status, err
    assert message in err and "Traceback" not in err
    if status == 1:
        assert len(lines) == 1, err
        assert ": rank " not in err  # refused before any rank started
    assert not (files / "out").exists() and leftovers(files, "out") == []
    assert (files / "thesis" / "chapter1.tex").read_text() == "years of work"


def _meta_without(meta: dict, path: str) -> dict:
    meta = json.loads(json.dumps(meta))
    *parents, last = path.split(".")
    node = meta
    for key in parents:
        node = node[key] if key in node else node[next(iter(node))]
    del node[last]
    return meta


@pytest.mark.parametrize("missing,message", [
    ("files", "lacks `files`"), ("stats", "lacks `stats`"), ("num_parts", "lacks `num_parts`"),
    ("files.*.size", "must have an integer `size`"), ("stats.parts", "`stats.parts` must list"),
])
def test_meta_json_without_keys(capsys, cora3, tmp_path, missing, message):
    broken = tmp_path / "broken"
    shutil.copytree(cora3, broken)
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps(_meta_without(meta, missing.replace("*.", ""))
                                                 if "*" not in missing else _drop_size(meta)))
    for argv in (["inspect", broken], ["train", broken, "-n", "3", *FAST]):  # refused before any rank starts
        code, _, err = gnnpart_main(capsys, *argv)
        assert code == 1 and message in err and "Traceback" not in err and ": rank " not in err, err
        assert "KeyError" not in err


def _drop_size(meta):
    first = next(iter(meta["files"]))
    del meta["files"][first]["size"]
    return meta


def _rewrite_with_crc(root: Path, rel: str, array: np.ndarray) -> None:
    """Replace one part file and recompute its size and CRC in meta.json (a tampering a CRC cannot see)."""
    path = root / rel
    np.save(path, array)
    data = path.read_bytes()
    meta = json.loads((root / "meta.json").read_text())
    meta["files"][rel] = {"size": len(data), "crc32": f"{zlib.crc32(data):08x}"}
    (root / "meta.json").write_text(json.dumps(meta))


def test_verify_checks_what_a_crc_cannot(cora3, tmp_path):
    good = gnnpart_cli("inspect", cora3, "--verify")
    assert good.returncode == 0 and "send and receive lists agree" in good.stdout
    tampered = tmp_path / "t"
    shutil.copytree(cora3, tampered)
    send = np.load(tampered / "part-0" / "send_local.npy")
    _rewrite_with_crc(tampered, "part-0/send_local.npy", send[::-1].copy())
    proc = gnnpart_cli("inspect", tampered, "--verify")
    assert proc.returncode == 1 and "part-0/send_local.npy" in proc.stderr and "in order" in proc.stderr
    extra = tmp_path / "e"
    shutil.copytree(cora3, extra)
    meta = json.loads((extra / "meta.json").read_text())
    meta["files"]["notes/readme.npy"] = {"size": 0, "crc32": "00000000"}
    (extra / "meta.json").write_text(json.dumps(meta))
    proc = gnnpart_cli("inspect", extra, "--verify")
    assert proc.returncode == 1 and "could not check 1 entries" in proc.stderr and "notes/readme.npy" in proc.stderr


# ---------------------------------------------------------------------------------------------- checkpoints
# On 2 ranks: these checks do not depend on the number of ranks, and each rank started costs ~4 s of CPU.
@pytest.fixture(scope="module")
def cora2(cora, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "cora2"
    partition_graph(cora, 2, out, dataset="cora")
    return out


@pytest.fixture(scope="module")
def checkpointed(cora2, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("ckpt")
    proc = gnnpart_cli("train", cora2, "--epochs", "2", "--checkpoint", ckpt, "--checkpoint-every", "2", "-n", "2")
    assert proc.returncode == 0, proc.stderr
    return ckpt


@pytest.fixture(scope="module")
def cora1(cora, tmp_path_factory):
    """One part of the same graph: a checkpoint of any partition resumes on it (elastic resume), so the refusals
    below run on one rank, in this process (starting ranks costs ~4 s each; they do not depend on the count)."""
    out = tmp_path_factory.mktemp("c") / "cora1"
    partition_graph(cora, 1, out, dataset="cora")
    return out


@pytest.mark.parametrize("change,message", [
    (["--hidden", "32"], "was written with hidden = 16; this run has hidden = 32"),
    (["--model", "sage"], "was written with model = 'gcn'; this run has model = 'sage'"),
    (["--layers", "3"], "was written with layers = 2"),
])
def test_resume_with_other_settings_is_one_line(capsys, cora1, checkpointed, change, message):
    code, _, err = gnnpart_main(capsys, "train", cora1, "--epochs", "3", "--checkpoint", checkpointed, "--resume",
                                *change)
    assert code == 1 and message in err and str(checkpointed) in err, err
    assert "state_dict" not in err and "Traceback" not in err and len(gnnpart_lines(err)) == 1


def test_resume_on_another_graph_is_refused(capsys, checkpointed, tmp_path):
    other = tmp_path / "other"
    partition_graph(__import__("gnnpart").load("synthetic:nodes=300,features=1433,classes=7"), 1, other)
    code, _, err = gnnpart_main(capsys, "train", other, "--epochs", "3", "--checkpoint", checkpointed, "--resume")
    assert code == 1 and "was trained on cora (2,708 nodes)" in err, err


def _damaged(checkpointed, folder, damage):
    folder.mkdir()
    data = (checkpointed / "checkpoint.pt").read_bytes()
    if damage == "truncated":
        (folder / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    elif damage == "header":
        (folder / "checkpoint.pt").write_bytes(b"\0" * 64 + data[64:])
    else:  # a valid torch file that is not a gnnpart checkpoint
        torch.save({"epoch": 3, "weights": torch.ones(2)}, folder / "checkpoint.pt")
    return folder


@pytest.mark.parametrize("damage,reason", [("truncated", "cannot be read"), ("header", "cannot be read"),
                                            ("crafted", "it lacks model, optimizer")])
def test_bad_checkpoint_is_one_line(capsys, cora1, checkpointed, tmp_path, damage, reason):
    bad = _damaged(checkpointed, tmp_path / "bad", damage)
    code, _, err = gnnpart_main(capsys, "train", cora1, "--epochs", "3", "--checkpoint", bad, "--resume")
    lines = [line for line in gnnpart_lines(err) if line.strip()]
    assert code == 1 and len(lines) == 1 and "is not a valid gnnpart checkpoint" in lines[0] and reason in lines[0]
    assert "weights_only" not in err and "Traceback" not in err


def test_bad_checkpoint_on_several_ranks_is_one_line_each(cora2, checkpointed, tmp_path):
    bad = _damaged(checkpointed, tmp_path / "bad", "truncated")
    proc = gnnpart_cli("train", cora2, "--epochs", "3", "--checkpoint", bad, "--resume", "-n", "2")
    lines = [line for line in gnnpart_lines(proc.stderr) if line.strip()]
    errors = [line for line in lines if "is not a valid gnnpart checkpoint" in line]
    assert proc.returncode != 0 and errors and all("cannot be read" in line for line in errors)
    assert "weights_only" not in proc.stderr and "Traceback" not in proc.stderr
    # each failing rank says it in one line of its own (MPICH adds its Abort lines); no rank says it twice
    ranks = [re.match(r"gnnpart train: rank (\d+): error: ", line).group(1) for line in errors]
    assert len(ranks) == len(set(ranks))
    assert all(line in errors or line.startswith("Abort(") for line in lines), proc.stderr


def test_resume_with_another_lr_warns_and_applies_it(capsys, cora1, checkpointed, tmp_path):
    ckpt = tmp_path / "c"
    shutil.copytree(checkpointed, ckpt)
    code, out, err = gnnpart_main(capsys, "train", cora1, "--epochs", "3", "--checkpoint", ckpt, "--resume", "--lr",
                                  "0.05")
    assert code == 0 and "warning: resuming with --lr 0.05; the checkpoint trained with 0.01" in out, err


def test_full_disk_names_the_path(tmp_path, monkeypatch):
    from gnnpart.checkpoint import checkpoint_file as checkpoint

    def full(state, fh):
        fh.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 0))
    with pytest.raises(OSError, match=r"no space left on device while writing checkpoint .*checkpoint.pt"):
        checkpoint.save_checkpoint(tmp_path, {"model": {"w": torch.ones(3)}})
    assert list(tmp_path.iterdir()) == []  # no temporary left


def test_elastic_resume_matches_an_uninterrupted_run(cora, tmp_path):
    """10 epochs on 2 ranks, then --resume to 20 on 4 ranks (another partition of the same graph), equals 20
    epochs straight on 3 ranks: dropout masks follow global ids, and checkpoints hold only replicated state."""
    dirs = {}
    for k in (2, 3, 4):
        dirs[k] = tmp_path / f"p{k}"
        partition_graph(cora, k, dirs[k], dataset="cora")
    base = ["--model", "sage", "--input-dropout", "0.5", "--eval-every", "5", "--seed", "4"]
    straight, part = tmp_path / "straight.jsonl", tmp_path / "resumed.jsonl"
    assert gnnpart_cli("train", dirs[3], *base, "--epochs", "20", "--metrics", straight, "-n", "3").returncode == 0
    ckpt = tmp_path / "ckpt"
    first = gnnpart_cli("train", dirs[2], *base, "--epochs", "10", "--metrics", part, "--checkpoint", ckpt,
                        "--checkpoint-every", "10", "-n", "2")
    assert first.returncode == 0, first.stderr
    second = gnnpart_cli("train", dirs[4], *base, "--epochs", "20", "--metrics", part, "--checkpoint", ckpt,
                         "--resume", "-n", "4")
    assert second.returncode == 0, second.stderr
    want = [json.loads(line)["loss"] for line in straight.read_text().splitlines()[:-1]]
    lines = [json.loads(line) for line in part.read_text().splitlines()]
    got = [line["loss"] for line in lines if "loss" in line]
    assert [line["epoch"] for line in lines if "epoch" in line and "loss" in line] == list(range(1, 21))
    np.testing.assert_allclose(got, want, rtol=2e-6)


# ---------------------------------------------------------------------------------------------- signals
def _start(argv: list, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gnnpart", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _wait_for_lines(path: Path, count: int, proc, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {count} lines")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["TERM", "HUP", "KILL"])
def test_stopping_the_launcher_stops_every_rank(cora3, tmp_path, signum):
    marker = str(tmp_path)
    metrics = tmp_path / "m.jsonl"
    proc = _start(["train", cora3, "--epochs", "100000", "--metrics", metrics, "--threads", "1", "-n", "3"], tmp_path)
    try:
        _wait_for_lines(metrics, 2, proc)
        proc.send_signal(signum)
        code = proc.wait(timeout=30)
        assert code == (-signal.SIGKILL if signum == signal.SIGKILL else 128 + signum)
        assert wait_gone(marker, 20) == [], "ranks outlived their launcher"
    finally:
        if proc.poll() is None:
            proc.kill()
        for leftover in processes_with(marker):
            os.kill(int(leftover.split(":")[0]), signal.SIGKILL)


def test_sigterm_during_partition_leaves_nothing(tmp_path):
    out = tmp_path / "big"
    proc = _start(["partition", "synthetic:nodes=400000,degree=10", "-k", "4", "-o", out], tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline and not leftovers(tmp_path, "big"):
        time.sleep(0.05)
    assert leftovers(tmp_path, "big"), "the run never started writing"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert "terminated by signal 15" in proc.stderr.read()
    assert not out.exists() and leftovers(tmp_path, "big") == []


def test_sigterm_to_parallel_writers_leaves_nothing_that_loads(tmp_path):
    """SIGTERM while rank 0 runs METIS (which no signal interrupts; the other rank ends the job at once): no
    directory and no temporary, since rank 0 makes its temporary folder only after METIS."""
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir
    from gnnpart.atomic import check_output_dir

    generate_to_dir(SyntheticSpec.parse("nodes=300000,degree=10,features=8"), tmp_path / "g")
    out = tmp_path / "parts"
    proc = _start(["partition", tmp_path / "g", "-k", "8", "-o", out, "-n", "2"], tmp_path)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "assigning" in line:
            break
    assert any("assigning" in line for line in seen), "".join(seen)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    assert not out.exists()
    assert leftovers(tmp_path, "parts") == []  # METIS runs before the temporary folder is made
    with pytest.raises(PartitionFormatError):
        load_partition(out, 0)
    check_output_dir(out, overwrite=False)  # the next run to the same target
    assert leftovers(tmp_path, "parts") == []


def test_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path):
    from gnnpart.atomic import check_output_dir

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".p.tmp-{dead.pid}-abc"
    stale.mkdir()
    (stale / "x.npy").write_bytes(b"\0" * 1000)
    alive = tmp_path / f".p.tmp-{os.getppid()}-abc"  # a live run's temporary is left alone
    alive.mkdir()
    check_output_dir(tmp_path / "p", overwrite=False)
    assert not stale.exists() and alive.exists()


def test_an_interrupted_fallback_swap_is_repaired(cora3, tmp_path):
    from gnnpart.atomic import check_output_dir

    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = tmp_path / f".p.old-{dead.pid}-xyz"
    aside.mkdir()
    shutil.copytree(cora3, aside / "previous")  # the crash came between the two renames: no `p` at all
    check_output_dir(tmp_path / "p", overwrite=True)
    assert (tmp_path / "p" / "meta.json").is_file() and not aside.exists()


def test_overwrite_is_one_exchange_and_follows_the_umask(tmp_path):
    from gnnpart import atomic

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    assert atomic._exchange(a, b) and (a / "f").read_text() == "b" and (b / "f").read_text() == "a"
    out = tmp_path / "parts"
    old = os.umask(0o022)
    try:
        partition_graph(__import__("gnnpart").load("synthetic:nodes=60"), 2, out)
        assert (out.stat().st_mode & 0o777) == 0o755
        inode = out.stat().st_ino
        partition_graph(__import__("gnnpart").load("synthetic:nodes=70"), 2, out, overwrite=True)
    finally:
        os.umask(old)
    assert json.loads((out / "meta.json").read_text())["num_nodes"] == 70 and out.stat().st_ino != inode
    assert leftovers(tmp_path, "parts") == []


# ---------------------------------------------------------------------------------------------- ranks
def test_watchdog_names_the_stuck_rank(cora3):
    start = time.time()
    proc = run_mpi(3, "stall_worker.py", cora3, 1, 3, timeout=120, expect_ok=False)
    assert proc.returncode != 0 and time.time() - start < 60
    assert "finished without the watchdog" not in proc.stdout
    verdict = [line for line in proc.stderr.splitlines() if line.startswith("gnnpart watchdog:")]
    assert verdict, proc.stderr
    assert "stuck: rank 1 (epoch 3, layer 0: computing" in verdict[0]
    assert "waiting for them: rank 0" in verdict[0] and "rank 2" in verdict[0]


def test_a_silent_rank_is_gone_long_before_the_epoch_limit(cora3):
    # a stopped rank (as one killed under srun without -K, or on a dead node) sends nothing: the others end the job
    # once it has been silent for the peer limit (here 1.5 s), not after the epoch limit (60 s)
    start = time.time()
    proc = run_mpi(3, "stall_worker.py", cora3, 1, 60, "stop", 1.5, timeout=120, expect_ok=False)
    assert proc.returncode != 0 and time.time() - start < 40
    verdict = [line for line in proc.stderr.splitlines() if line.startswith("gnnpart watchdog:")]
    assert verdict and "rank 1 on " in verdict[0] and "(last heard" in verdict[0], proc.stderr
    assert "is gone: no word for more than" in verdict[0], proc.stderr


def test_a_slow_rank_is_not_taken_for_gone(cora3):
    # rank 1 spends 5 s in one epoch, more than three times the peer limit: its watchdog thread keeps reporting
    proc = run_mpi(3, "stall_worker.py", cora3, 1, 60, "slow", 1.5, timeout=120)
    assert "finished without the watchdog" in proc.stdout, proc.stderr
    assert "gnnpart watchdog" not in proc.stderr


def test_errors_of_several_ranks_are_whole_lines(cora3, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(cora3, broken)
    for part in ("part-0", "part-2"):
        x = broken / part / "x.npy"
        data = bytearray(x.read_bytes())
        data[-1] ^= 0xFF
        x.write_bytes(bytes(data))
    proc = gnnpart_cli("train", broken, *FAST, "-n", "3")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "gnnpart train" in line]
    assert lines and all(line.count("gnnpart train") == 1 and line.startswith("gnnpart train: rank") for line in lines)


def test_an_unexpected_exception_is_an_internal_error(monkeypatch, capsys):
    from gnnpart.cli import main as cli_main
    from gnnpart.cli import partition_command as partition

    def bug(config):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(partition, "run", bug)
    monkeypatch.delenv("GNNPART_DEBUG", raising=False)
    code = cli_main.main(["partition", "synthetic:nodes=50", "-k", "2", "-o", "/tmp/never-written"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1
    assert "internal error: TypeError: unsupported operand type(s) (GNNPART_DEBUG=1 shows the traceback" in err


def test_a_planetoid_matrix_too_large_to_densify_is_refused():
    from gnnpart.data.safe_pickle import SparseCSR
    from gnnpart.errors import ResourceError

    matrix = SparseCSR()
    matrix.__setstate__({"data": np.ones(1), "indices": np.zeros(1), "indptr": np.array([0, 1]), "_shape": (10**7, 10**7)})
    with pytest.raises(ResourceError, match=r"a dense \[10000000, 10000000\] feature matrix needs about 363.8 TiB"):
        matrix.toarray()
