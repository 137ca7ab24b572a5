"""`gnnpart train` end to end: metrics file, byte accounting, checkpoints and resume, failures."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gnnpart import partition_graph, read_meta
from tests.mpi import ROOT, gnnpart_cli


@pytest.fixture(scope="module")
def cora3(cora, tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "cora3"
    partition_graph(cora, 3, out)
    return out


def read_lines(path):
    """JSON lines of a metrics file; a line cut short by a kill is left out."""
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def test_metrics_file_and_exact_halo_bytes(cora3, tmp_path):
    metrics = tmp_path / "m.jsonl"
    proc = gnnpart_cli("train", cora3, "--epochs", "6", "--eval-every", "3", "--metrics", metrics, "-n", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("epoch ") >= 6  # rank 0 prints one line per epoch
    lines = read_lines(metrics)
    epochs, final = lines[:-1], lines[-1]
    assert [e["epoch"] for e in epochs] == list(range(1, 7))
    keys = {"epoch", "loss", "train_acc", "val_acc", "test_acc", "epoch_s", "compute_s", "halo_s", "allreduce_s",
            "halo_bytes", "allreduce_bytes"}
    assert all(keys <= set(e) for e in epochs)
    assert epochs[2]["val_acc"] is not None and epochs[0]["val_acc"] is None
    assert final["final"] is True and {"best_val_acc", "test_acc", "total_s", "setup_halo_bytes"} <= set(final)
    # Cora GCN 1433 -> 16 -> 7: both layers transform first, exchanging 16 and 7 wide rows, forward and backward
    halo_rows = read_meta(cora3)["stats"]["halo_rows_total"]
    expected = halo_rows * (16 + 7) * 4 * 2
    assert all(e["halo_bytes"] == expected for e in epochs), (expected, [e["halo_bytes"] for e in epochs])
    assert epochs[0]["halo_bytes_by_layer"] == {"0": halo_rows * 16 * 8, "1": halo_rows * 7 * 8}
    params = 1433 * 16 + 16 + 16 * 7 + 7
    assert all(e["allreduce_bytes"] == 3 * params * 4 for e in epochs)
    assert final["setup_halo_bytes"] == 0


def test_ranks_must_equal_parts(cora3):
    proc = gnnpart_cli("train", cora3, "--epochs", "1", "-n", "2")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "-n must equal the number of parts" in proc.stderr and "(3) (got 2)" in proc.stderr


def test_bad_options_are_refused(cora3):
    proc = gnnpart_cli("train", cora3, "--dropout", "1.5")
    assert proc.returncode == 1 and "--dropout must be in [0, 1) (got 1.5)" in proc.stderr
    proc = gnnpart_cli("train", cora3, "--resume")
    assert proc.returncode == 1 and "--resume and --checkpoint-every need --checkpoint DIR" in proc.stderr
    proc = gnnpart_cli("train", cora3, "--block-cache", "-0.5")
    assert proc.returncode == 1 and "--block-cache must be >= 0 (got -0.5)" in proc.stderr


def test_block_cache_off_gives_the_same_losses(cora3, tmp_path):
    """--no-block-cache and the default train the same bits on 3 ranks."""
    runs = []
    for flag in ([], ["--no-block-cache"], ["--block-cache", "0"]):
        metrics = tmp_path / f"m{len(runs)}.jsonl"
        proc = gnnpart_cli("train", cora3, "--model", "sage", "--epochs", "5", "--metrics", metrics, *flag, "-n", "3")
        assert proc.returncode == 0, proc.stderr
        runs.append([e["loss"] for e in read_lines(metrics) if "final" not in e])
    assert len(runs[0]) == 5 and runs[0] == runs[1] == runs[2]


def test_resume_after_kill_gives_the_same_losses(cora3, tmp_path):
    base = ["train", cora3, "--model", "sage", "--eval-every", "5", "--seed", "3"]
    full = tmp_path / "full.jsonl"
    # the killed run is stopped a moment after its first checkpoint, but a fast or loaded machine runs on for a few
    # more epochs (and checkpoints) before the kill lands: compare over enough epochs to lie beyond any of them
    epochs = "100"
    assert gnnpart_cli(*base, "--epochs", epochs, "--metrics", full, "-n", "3").returncode == 0
    ckpt, part = tmp_path / "ckpt", tmp_path / "part.jsonl"
    cmd = [sys.executable, "-m", "gnnpart", *map(str, base), "--epochs", "100000", "--metrics", str(part),
           "--checkpoint", str(ckpt), "--checkpoint-every", "4", "-n", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (ckpt / "checkpoint.pt").exists() and part.exists() and len(read_lines(part)) >= 5:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and every rank, mid-run
        proc.wait()
    resumed = gnnpart_cli(*base, "--epochs", epochs, "--metrics", part, "--checkpoint", ckpt, "--resume", "-n", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    want = {e["epoch"]: e["loss"] for e in read_lines(full)[:-1]}
    lines = [e for e in read_lines(part) if "final" not in e]
    # the resumed run cut the metrics file back to the checkpoint's epoch: each epoch appears once, in order
    assert [e["epoch"] for e in lines] == list(range(1, int(epochs) + 1))
    assert {e["epoch"]: e["loss"] for e in lines} == want
    assert read_lines(part)[-1]["final"] is True


def test_failing_rank_aborts_the_job(cora3, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in cora3.iterdir():
        target = broken / item.name
        if item.is_dir():
            target.mkdir()
            for f in item.iterdir():
                (target / f.name).write_bytes(f.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    x = broken / "part-1" / "x.npy"
    data = bytearray(x.read_bytes())
    data[-1] ^= 0xFF
    x.write_bytes(bytes(data))
    start = time.time()
    proc = gnnpart_cli("train", broken, "--epochs", "50", "-n", "3", timeout=120)
    assert proc.returncode != 0
    assert time.time() - start < 60
    assert "rank 1: error: PartitionFormatError" in proc.stderr and "part-1/x.npy is corrupted" in proc.stderr


def test_launch_script_runs_one_rank_per_part(cora3, tmp_path):
    metrics = tmp_path / "m.jsonl"
    proc = subprocess.run(["bash", str(ROOT / "launch" / "mpirun.sh"), str(cora3), "--epochs", "2", "--metrics", str(metrics)],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ, THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    assert "3 ranks x 1 threads" in proc.stdout
    assert read_lines(metrics)[-1]["final"] is True


def test_demo_partitions_and_trains(tmp_path):
    proc = gnnpart_cli("demo", "--dataset", "synthetic:nodes=3000,degree=6", "--parts", "2", "--epochs", "3",
                       "--out", tmp_path / "parts")
    assert proc.returncode == 0, proc.stderr
    assert "partitioned synthetic:nodes=3000,degree=6 into 2 parts" in proc.stdout
    assert "done: best val acc" in proc.stdout and "demo finished" in proc.stdout
    assert read_meta(tmp_path / "parts")["num_parts"] == 2


def test_train_reads_a_config_file(cora3, tmp_path):
    metrics = tmp_path / "m.jsonl"
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'part_dir = "{cora3}"\nmodel = "gat"\nheads = 2\nepochs = 3\neval-every = 3\nnorm = "batch"\n'
                   f'metrics = "{metrics}"\n')
    proc = gnnpart_cli("train", "--config", cfg, "--epochs", "2", "-n", "3")
    assert proc.returncode == 0, proc.stderr
    assert "training gat" in proc.stdout
    lines = read_lines(metrics)
    assert [e["epoch"] for e in lines[:-1]] == [1, 2] and lines[-1]["final"] is True  # the flag beat the file
