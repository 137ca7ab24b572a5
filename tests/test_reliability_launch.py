"""Reliability, third round, jobs: what the launcher can check it checks before any rank starts (and what only a
rank can check is said once, by rank 0); a launcher for PT-Scotch that starts another MPI's ranks is refused; a
failed multi-rank job leaves nothing in /dev/shm; an interrupted writer leaves no temporary; and the smaller cases
(huge node ids, absurd thread counts, a hub KaMinPar cannot balance, a folder that holds no dataset). One table per
class (README: "Failure behaviour"); tests/conftest.py fails any test after which a new MPICH segment remains."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gnnpart import load, partition_graph
from gnnpart.cli.launcher import find_mpiexec, mpiexec_command
from tests.mpi import ROOT, gnnpart_cli, gnnpart_main
from tests.test_reliability import gnnpart_lines, leftovers, processes_with, wait_gone

SPEC = "synthetic:nodes=1500,degree=6,classes=4,features=16,seed=3"


def one_line(err: str) -> str:
    lines = gnnpart_lines(err)
    assert len(lines) == 1, err
    return lines[0]


def shm_segments() -> set[str]:
    return {p for p in os.listdir("/dev/shm") if p.startswith("mpich_shm_")} if os.path.isdir("/dev/shm") else set()


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    base = tmp_path_factory.mktemp("launch")
    partition_graph(load(SPEC), 2, base / "p2")
    return base / "p2"


# ---------------------------------------------------------------------------- refused before any rank starts
@pytest.fixture
def no_mpiexec(monkeypatch):
    """Starting a job fails the test: these refusals must come first."""
    import gnnpart.cli.launcher as launcher

    def started(*_args, **_kw):
        raise AssertionError("a rank was started")

    monkeypatch.setattr(launcher, "run_job", started)


def test_a_typed_graph_for_ptscotch_is_refused_before_the_ranks(capsys, tmp_path, no_mpiexec):
    from gnnpart.data.synthetic import SyntheticSpec, generate_to_dir

    typed_dir = tmp_path / "typed"
    generate_to_dir(SyntheticSpec.parse("hetero=mag,nodes=200,features=4"), typed_dir)
    for dataset in ("synthetic:hetero=mag,nodes=200,features=4", typed_dir):
        code, _, err = gnnpart_main(capsys, "partition", dataset, "--method", "ptscotch", "-k", "2", "-n", "2", "-o",
                                    tmp_path / "p")
        line = one_line(err)
        assert code == 1 and line.startswith("gnnpart partition: error: --method 'ptscotch' does not carry node and "
                                             "edge types"), err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("method", ["ptscotch", "metis"])
def test_a_dataset_that_is_not_there_is_refused_before_the_ranks(capsys, tmp_path, no_mpiexec, method):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt.bak").write_text("x")
    cases = [(tmp_path / "missing", f"dataset path {tmp_path / 'missing'} does not exist"),
             (f"npz:{tmp_path / 'missing.npz'}", "missing data file"),
             (empty, f"dataset path {empty} is an empty directory: a dataset folder holds meta.json"),
             (other, f"dataset path {other} is a directory that holds no dataset: it lacks meta.json"),
             ("nosuchname", "unknown dataset 'nosuchname'")]
    for dataset, message in cases:
        code, _, err = gnnpart_main(capsys, "partition", dataset, "--method", method, "-k", "2", "-n", "2", "-o",
                                    tmp_path / "p")
        line = one_line(err)
        assert code == 1 and line.startswith("gnnpart partition: error: ") and message in line, err
    assert not (tmp_path / "p").exists() and leftovers(tmp_path, "p") == []


def test_a_folder_without_a_dataset_is_said_to_be_one_not_missing(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in (["partition", empty, "-k", "1", "-o", tmp_path / "p"], ["convert", empty, "-o", tmp_path / "g"]):
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and "is an empty directory" in line and "does not exist" not in line, err


HALO_WITH_SUMS = [
    ("sample on every layer", ["--halo", "sample:0.1"], "does not compose with `sample`"),
    ("topk on the hidden layer", ["--halo", "exact,topk:0.5"], "does not compose with `topk`"),
    ("learned gates", ["--halo", "learned:0.01"], "does not compose with `learned`"),
]


@pytest.mark.parametrize("flags,message", [c[1:] for c in HALO_WITH_SUMS], ids=[c[0] for c in HALO_WITH_SUMS])
def test_halo_policies_that_do_not_compose_with_sums_are_refused_before_the_ranks(capsys, parts, no_mpiexec, flags,
                                                                                   message):
    code, _, err = gnnpart_main(capsys, "train", parts, "-n", "2", "--aggregate-at", "auto", "--epochs", "1", *flags)
    line = one_line(err)
    assert code == 1 and line.startswith("gnnpart train: error: aggregate_at='auto'") and message in line, err
    code, _, err = gnnpart_main(capsys, "train", parts, "-n", "2", "--aggregate-at", "auto", "--model", "gat",
                                "--epochs", "1", *flags)  # GAT sends rows: nothing to refuse
    assert "does not compose" not in err


@pytest.fixture(scope="module")
def learned_checkpoint(parts, tmp_path_factory):
    ck = tmp_path_factory.mktemp("learned") / "ck"
    proc = gnnpart_cli("train", parts, "-n", "2", "--halo", "learned:0.01", "--epochs", "2", "--checkpoint", ck)
    assert proc.returncode == 0, proc.stderr
    return ck


def test_predict_with_learned_gates_and_sums_is_refused_before_the_ranks(capsys, parts, learned_checkpoint, tmp_path,
                                                                          no_mpiexec):
    for at in ("auto", "sender"):
        code, _, err = gnnpart_main(capsys, "predict", parts, "-n", "2", "--checkpoint", learned_checkpoint, "--out",
                                    tmp_path / "o.npy", "--aggregate-at", at)
        line = one_line(err)
        assert code == 1 and f"aggregate_at='{at}' does not compose with `learned`" in line, err
    assert not (tmp_path / "o.npy").exists()


def test_what_only_a_rank_can_check_is_said_once_by_rank_0(parts, tmp_path):
    """Started by a plain mpiexec (no gnnpart launcher to check first): every rank refuses alike, rank 0 says it
    once, and the job ends cleanly (exit 1, no MPI_Abort, nothing in /dev/shm)."""
    before = shm_segments()
    cmd = mpiexec_command(2, ["-m", "gnnpart", "train", str(parts), "--aggregate-at", "auto", "--halo", "sample:0.1",
                              "--epochs", "1"])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert line.startswith("gnnpart train: error: aggregate_at='auto' does not compose with `sample`"), proc.stderr
    assert "Abort" not in proc.stderr and shm_segments() - before == set()


# ---------------------------------------------------------------------------- PT-Scotch's launcher is checked
def test_an_openmpi_launcher_of_another_mpi_is_refused(capsys, tmp_path, monkeypatch):
    mpich = find_mpiexec()
    monkeypatch.setenv("GNNPART_OPENMPI_MPIEXEC", mpich)
    code, _, err = gnnpart_main(capsys, "partition", SPEC, "--method", "ptscotch", "-k", "2", "-n", "2", "-o",
                                tmp_path / "p")
    line = one_line(err)
    assert code == 1 and f"GNNPART_OPENMPI_MPIEXEC names {mpich}, which is MPICH's launcher" in line, err
    assert not (tmp_path / "p").exists() and leftovers(tmp_path, "p") == []
    for variable, argv in (("GNNPART_OPENMPI_MPIEXEC", ["partition", SPEC, "--method", "ptscotch", "-k", "2", "-n",
                                                        "2", "-o", tmp_path / "p"]),
                           ("GNNPART_MPIEXEC", ["generate", "nodes=100", "--out", tmp_path / "g", "-n", "2"])):
        monkeypatch.setenv(variable, str(tmp_path / "no-such-mpiexec"))
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and f"{variable} names {tmp_path / 'no-such-mpiexec'}, which does not exist" in line, err
        assert "Errno" not in line
        monkeypatch.delenv(variable)


def test_ranks_that_do_not_form_one_job_refuse_before_writing(tmp_path):
    """MPICH's mpiexec starting ranks whose mpi4py loads Open MPI: each is a world of one. The launcher asked for
    2: the ranks refuse, one line, and write nothing (what a PT-Scotch launcher of the wrong MPI did)."""
    pytest.importorskip("mpi4py")
    if not shutil.which("mpirun.openmpi"):
        pytest.skip("Open MPI's library is not installed (tests/launch covers it in CI)")
    env = dict(os.environ, GNNPART_MPIEXEC=find_mpiexec(), MPI4PY_LIBMPI="libmpi.so.40")
    proc = subprocess.run([sys.executable, "-m", "gnnpart", "generate", "nodes=300", "--out", str(tmp_path / "g"),
                           "-n", "2"], capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert "the ranks did not form one job of 2: this one sees a world of 1" in line, proc.stderr
    assert not (tmp_path / "g").exists() and leftovers(tmp_path, "g") == []


# ---------------------------------------------------------------------------- /dev/shm after failed jobs
def test_a_rank_failing_alone_aborts_and_leaves_no_segment(parts, tmp_path):
    broken = tmp_path / "p2"
    shutil.copytree(parts, broken)
    x = broken / "part-1" / "x.npy"
    data = bytearray(x.read_bytes())
    data[-8:] = b"\xff" * 8  # same size (the launcher's check passes), another CRC: rank 1 fails alone
    x.write_bytes(bytes(data))
    before = shm_segments()
    proc = gnnpart_cli("train", broken, "-n", "2", "--epochs", "1")
    assert proc.returncode == 1
    assert "rank 1: error: PartitionFormatError" in proc.stderr and "x.npy" in proc.stderr, proc.stderr
    assert shm_segments() - before == set()
    # started by a plain mpiexec, which knows nothing of gnnpart: nothing left either
    cmd = mpiexec_command(2, ["-m", "gnnpart", "train", str(broken), "--epochs", "1"])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode != 0 and "rank 1: error: PartitionFormatError" in proc.stderr, proc.stderr
    assert shm_segments() - before == set()


def test_failures_every_rank_knows_end_without_abort(tmp_path):
    """A failure the ranks agreed on ends through MPI_Finalize: rank 0's one line, exit 1, no segment."""
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1\n1 2\n2 x\n3 4\n" * 50)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "keep").write_text("mine")
    before = shm_segments()
    for argv, message in (
            (["convert", bad, "-o", tmp_path / "out", "-n", "2"], "converting in slices failed while parsing"),
            (["generate", "nodes=300", "--out", blocked, "--overwrite", "-n", "2"], "refusing to replace")):
        proc = gnnpart_cli(*argv)
        assert proc.returncode == 1, proc.stderr
        line = one_line(proc.stderr)
        assert message in line and "Abort" not in proc.stderr, proc.stderr
    assert shm_segments() - before == set()
    assert (blocked / "keep").read_text() == "mine" and leftovers(tmp_path, "out") == []


# ---------------------------------------------------------------------------- interrupted writers leave nothing
def _start(argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gnnpart", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _wait_for_temporary(folder: Path, name: str, proc, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not leftovers(folder, name):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    assert leftovers(folder, name), "the run never started writing"


def _rank_pids(marker: str) -> list[int]:
    """The ranks (``python -m mpi4py ...``; not mpiexec, whose command line holds theirs)."""
    return [int(p.split(":")[0]) for p in processes_with(marker)
            if p.split(": ", 1)[1].split()[:3][1:] == ["-m", "mpi4py"]]


WRITERS = [("generate", ["generate", "nodes=400000,degree=8,features=32", "--out", "{out}", "-n", "2"]),
           ("convert", ["convert", "{edges}", "-o", "{out}", "-n", "2"])]


@pytest.fixture(scope="module")
def big_edge_list(tmp_path_factory):
    path = tmp_path_factory.mktemp("el") / "big.txt"
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 300000, size=(3_000_000, 2))
    np.savetxt(path, pairs, fmt="%d")
    return path


@pytest.mark.parametrize("who", ["launcher", "rank 1"])
@pytest.mark.parametrize("name,argv", WRITERS, ids=[w[0] for w in WRITERS])
def test_sigterm_while_writing_in_slices_leaves_nothing(tmp_path, big_edge_list, name, argv, who):
    out = tmp_path / "out"
    before = shm_segments()
    proc = _start([a.format(out=out, edges=big_edge_list) for a in argv])
    try:
        _wait_for_temporary(tmp_path, "out", proc)
        if who == "launcher":
            proc.send_signal(signal.SIGTERM)
        else:
            ranks = _rank_pids(str(out))
            assert len(ranks) == 2, processes_with(str(out))
            os.kill(max(ranks), signal.SIGTERM)  # the rank started last
        code = proc.wait(timeout=120)
        assert code != 0 and (who != "launcher" or code == 128 + signal.SIGTERM)
        assert wait_gone(str(out), 20) == []
        assert not out.exists() and leftovers(tmp_path, "out") == [], os.listdir(tmp_path)
        assert shm_segments() - before == set()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_killed_writer_leaves_a_temporary_the_next_run_removes_and_says_so(capsys, tmp_path):
    out = tmp_path / "g"
    proc = _start(["generate", "nodes=400000,degree=8,features=32", "--out", out])
    try:
        _wait_for_temporary(tmp_path, "g", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stale = leftovers(tmp_path, "g")
    assert stale, "SIGKILL cannot be caught: the temporary stays until the next run"
    code, _, err = gnnpart_main(capsys, "generate", "nodes=300", "--out", out)
    assert code == 0, err
    said = [line for line in err.splitlines() if "ended without cleaning up" in line]
    assert len(said) == 1 and stale[0] in said[0] and f"process {proc.pid} is gone" in said[0], err
    assert leftovers(tmp_path, "g") == [] and (out / "meta.json").is_file()


# ---------------------------------------------------------------------------- smaller ones
def test_node_ids_beyond_the_limit_are_refused_before_allocating(capsys, tmp_path):
    huge = tmp_path / "huge.txt"
    huge.write_text(f"0 1\n1 {10**18}\n")
    for argv in (["convert", huge, "-o", tmp_path / "g"], ["partition", huge, "-k", "1", "-o", tmp_path / "p"],
                 ["convert", f"edgelist:{tmp_path / 'small.txt'},num_nodes={2**41}", "-o", tmp_path / "g"]):
        (tmp_path / "small.txt").write_text("0 1\n")
        code, _, err = gnnpart_main(capsys, *argv)
        line = one_line(err)
        assert code == 1 and "node ids must be below 1,099,511,627,776 (2**40)" in line, err
        assert "allocate" not in err
    proc = gnnpart_cli("convert", huge, "-o", tmp_path / "g", "-n", "2")
    assert proc.returncode == 1 and "node ids must be below 1,099,511,627,776" in one_line(proc.stderr), proc.stderr
    assert "allocate" not in proc.stderr and not (tmp_path / "g").exists() and leftovers(tmp_path, "g") == []


def test_absurd_thread_counts_are_refused(capsys, parts, tmp_path):
    for argv in (["train", parts, "--threads", "100000", "--epochs", "1"],
                 ["partition", SPEC, "-k", "2", "--method", "kaminpar", "--threads", "100000", "-o", tmp_path / "p"]):
        code, _, err = gnnpart_main(capsys, *argv)
        assert code == 1 and "--threads must be at most" in one_line(err) and "(got 100000)" in err, err


def test_kaminpar_says_when_a_node_is_heavier_than_a_part(tmp_path):
    pytest.importorskip("kaminpar")
    star = tmp_path / "star.txt"
    star.write_text("".join(f"0 {i}\n" for i in range(1, 2001)))
    proc = gnnpart_cli("partition", f"edgelist:{star},undirected=true", "-k", "16", "--method", "kaminpar",
                       "--threads", "1", "-o", tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "KaMinPar cannot balance" in line]
    assert len(said) == 1 and "node 0 weighs" in said[0] and "balance fewer constraints" in said[0], proc.stderr
