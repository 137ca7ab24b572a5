"""Several hosts on one machine (``.ci/hosts.sh``: network namespaces as nodes, a private bridge between them): MPICH
and Open MPI across 3 hosts x 2 ranks, a 3-node Slurm, network faults, the steps before training across hosts, and
what crosses the network.

Every test here needs root and namespaces; without them it skips with a reason, unless ``GNNPART_REQUIRE_HOSTS=1``
(set by ``.ci/run``), where it fails. The traffic between hosts is forced over TCP, as on separate machines
(``UCX_TLS=tcp,self`` for MPICH; ``--mca pml ob1 --mca btl tcp,self,vader`` for Open MPI): otherwise UCX sees one
machine and carries it through shared memory. The bytes on each host's link show where it went.
"""
from __future__ import annotations

import json
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
from gnnpart.cli.launcher import find_mpiexec
from tests.mpi import ROOT, WORKERS

HOSTS = ROOT / ".ci" / "hosts.sh"
RSH = ROOT / ".ci" / "hosts-rsh"
SPEC = "synthetic:nodes=3000,degree=8,classes=4,features=16,seed=1"
TCP_MPICH = {"UCX_TLS": "tcp,self"}
OPENMPI_TCP = ["--mca", "pml", "ob1", "--mca", "btl", "tcp,self,vader"]


def _why_not() -> str | None:
    """Why this machine cannot make hosts (None: it can)."""
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    for tool in ("ip", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"no `{tool}` on the PATH (iproute2, util-linux)"
    probe = subprocess.run(["ip", "netns", "add", "gnp-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns add` failed: {probe.stderr.strip()[:200]}"
    subprocess.run(["ip", "netns", "del", "gnp-probe"], capture_output=True)
    return None


def hosts(*args, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", str(HOSTS), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hosts.sh {' '.join(map(str, args))}: {proc.stderr}")
    return proc


def on(host: str, cmd: list, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``cmd`` on ``host``, from this directory, with this environment plus ``env``."""
    return subprocess.run(["bash", str(HOSTS), "exec", host, *map(str, cmd)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def start_on(host: str, cmd: list, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(HOSTS), "exec", host, *map(str, cmd)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def processes_on(host: str) -> list[str]:
    """The processes of ``host`` (its network namespace), with their command lines."""
    i = int(host[4:])
    pids = subprocess.run(["ip", "netns", "pids", f"gnp-node{i}"], capture_output=True, text=True).stdout.split()
    found = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cmdline = cmdline.strip() or f"[{Path(f'/proc/{pid}/comm').read_text().strip()}]"  # exiting, or a zombie
        except OSError:
            continue
        found.append(f"{pid}: {cmdline[:120]}")
    return found


def mpich(hostfile: Path, n: int, argv: list) -> list:
    """MPICH's mpiexec over the hosts of ``hostfile``, its ssh the hosts' stand-in (launch/README.md's command)."""
    return [find_mpiexec(), "-f", hostfile, "-n", n, sys.executable, "-m", "mpi4py", *argv]


MPICH_ENV = {"HYDRA_LAUNCHER": "ssh", "HYDRA_LAUNCHER_EXEC": str(RSH), **TCP_MPICH}


def openmpi(ompi: dict, hostfile: Path, n: int, argv: list) -> list:
    """Open MPI's mpirun (``ompi``: the ``openmpi`` fixture) over the hosts of ``hostfile``."""
    return [ompi["GNNPART_MPIEXEC"], "--allow-run-as-root", "--hostfile", hostfile, "-n", n, "--map-by", "slot",
            *OPENMPI_TCP, "-x", "MPI4PY_LIBMPI", sys.executable, "-m", "mpi4py", *argv]


def launch(request, cluster: Path, mpi: str, n: int, argv: list) -> tuple[list, dict]:
    """The command and environment that start ``argv`` on ``n`` ranks of the 3 hosts with ``mpi``."""
    if mpi == "mpich":
        return mpich(cluster / "mpich", n, argv), MPICH_ENV
    ompi = request.getfixturevalue("openmpi")  # skips (or fails in CI) without Open MPI
    return openmpi(ompi, cluster / "ompi", n, argv), {"OMPI_MCA_plm_rsh_agent": str(RSH),
                                                       "MPI4PY_LIBMPI": ompi["MPI4PY_LIBMPI"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """node1, node2, node3 (removed after the module; a test checks nothing is left)."""
    why = _why_not()
    if why is not None:
        if os.environ.get("GNNPART_REQUIRE_HOSTS") == "1":
            pytest.fail(f"hosts: {why} (GNNPART_REQUIRE_HOSTS=1)")
        pytest.skip(f"hosts: {why}")
    hosts("up", 3)
    base = tmp_path_factory.mktemp("hosts")
    (base / "mpich").write_text("node1:2\nnode2:2\nnode3:2\n")
    (base / "mpich2").write_text("node1:2\nnode2:2\n")
    (base / "ompi").write_text("node1 slots=2\nnode2 slots=2\nnode3 slots=2\n")
    graph = load(SPEC)
    for k in (4, 6):
        partition_graph(graph, k, base / f"p{k}", dataset=SPEC)
    try:
        yield base
    finally:
        hosts("down", check=False)


def losses(path: Path) -> list:
    return [json.loads(line)["loss"] for line in path.read_text().splitlines() if '"epoch"' in line]


def records(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if '"epoch"' in line]


def library_lines(stderr: str) -> list:
    """What an MPI library (or its launcher) printed: every stderr line but gnnpart's."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(("[gnnpart", "gnnpart"))]


@pytest.fixture(scope="module")
def whole(cluster, tmp_path_factory) -> list:
    """The records of one uninterrupted run on this host (no namespaces; 4 ranks, the 4-part partition): every run
    here trains the same model on the same graph, so that any partition, on any hosts, gives these losses."""
    metrics = tmp_path_factory.mktemp("whole") / "whole.jsonl"
    ref = subprocess.run([sys.executable, "-m", "gnnpart", "train", cluster / "p4", "--epochs", str(WHOLE_EPOCHS),
                          "--threads", "1", "--metrics", metrics, "-n", "4"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert ref.returncode == 0, ref.stderr
    return records(metrics)


WHOLE_EPOCHS = 80


# ---------------------------------------------------------------------------- the hosts themselves
def test_hosts_have_names_addresses_and_one_file_system(cluster):
    for i in (1, 2, 3):
        got = on(f"node{i}", ["sh", "-c", "hostname; ip -4 -o addr show eth0; getent hosts node3; cat "
                                          f"{cluster / 'mpich'}"])
        assert got.returncode == 0, got.stderr
        lines = got.stdout.splitlines()
        assert lines[0] == f"node{i}" and f"10.77.0.{i}/24" in lines[1] and lines[2].split()[0] == "10.77.0.3"
        assert "node2:2" in got.stdout  # the files are shared
    rsh = subprocess.run([str(RSH), "-x", "node2", "hostname", "&&", "pwd"], capture_output=True, text=True,
                         cwd=ROOT, timeout=30)
    assert rsh.stdout.split() == ["node2", str(ROOT)], rsh.stderr


# ---------------------------------------------------------------------------- MPI across hosts
@pytest.mark.parametrize("mpi", ["mpich", "openmpi"])
def test_one_host_s_ranks_share_memory_and_the_others_talk_over_tcp(request, cluster, mpi):
    """Rank 0 sends 32 MiB to a rank of its own host, then to one of another host: only the second crosses its
    link (the worker reads its host's eth0 counters)."""
    size = 32 << 20
    cmd, env = launch(request, cluster, mpi, 6, [WORKERS / "traffic_worker.py", size])
    got = on("node1", cmd, env={**env, "PYTHONPATH": str(ROOT)})
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout.splitlines()[-1])
    assert report["names"] == ["node1", "node2", "node3"] and report["host"] == [0, 0, 1, 1, 2, 2]
    crossed = {int(k): v for k, v in report["crossed"].items()}
    assert crossed[2] >= 2 * size, crossed  # there and back, over node1's link
    assert crossed[1] < size // 4, crossed  # through the host's own memory


@pytest.mark.parametrize("mpi", ["mpich", "openmpi"])
def test_six_ranks_on_three_hosts_train_as_one_host_does(request, cluster, whole, mpi, tmp_path):
    """launch/README.md's command for several machines, 3 hosts x 2 ranks: the losses of one host's run, the halo
    bytes between hosts counted (none on one host), and nothing printed by the MPI library."""
    many = tmp_path / "many.jsonl"
    cmd, env = launch(request, cluster, mpi, 6, ["-m", "gnnpart", "train", cluster / "p6", "--epochs", "8",
                                                 "--threads", "1", "--metrics", many])
    got = on("node1", cmd, env=env)
    assert got.returncode == 0, got.stderr
    np.testing.assert_allclose(losses(many), [r["loss"] for r in whole[:8]], rtol=1e-5)
    epochs = records(many)
    assert all(0 < r["halo_bytes_internode"] < r["halo_bytes"] for r in epochs), epochs[0]
    assert "MiB between hosts" in got.stdout
    assert all(r["halo_bytes_internode"] == 0 < r["halo_bytes"] for r in whole)
    assert library_lines(got.stderr) == [], got.stderr  # a clean end: no message left unreceived


def test_mpi_check_takes_a_hostfile(cluster):
    got = on("node1", [sys.executable, "-m", "gnnpart", "mpi", "--check", "--hostfile", cluster / "mpich"],
             env=MPICH_ENV)
    assert got.returncode == 0, got.stderr
    assert "6 ranks on 3 hosts (node1, node2, node3) formed one job" in got.stdout, got.stdout


# ---------------------------------------------------------------------------- the steps before training
def test_generate_and_convert_on_three_hosts_write_what_one_host_writes(cluster, tmp_path):
    edges = tmp_path / "el.txt"
    np.savetxt(edges, np.random.default_rng(0).integers(0, 3000, size=(20000, 2)), fmt="%d")
    for name, argv in (("g", ["generate", "nodes=2000,degree=6,features=8,seed=4", "--out"]),
                       ("c", ["convert", edges, "-o"])):
        one = subprocess.run([sys.executable, "-m", "gnnpart", *argv, tmp_path / f"{name}1", "-n", "6"],
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert one.returncode == 0, one.stderr
        got = on("node1", mpich(cluster / "mpich", 6, ["-m", "gnnpart", *argv, tmp_path / f"{name}3"]), env=MPICH_ENV)
        assert got.returncode == 0, got.stderr
        _same_files(tmp_path / f"{name}1", tmp_path / f"{name}3")


def test_ptscotch_on_three_hosts_writes_a_partition_as_good_as_one_host_s(request, cluster, tmp_path):
    """PT-Scotch's result depends on the order in which its messages arrive (the cut of one graph in 6 parts, by 6
    ranks, was 6892 to 6908 over runs on one host and on three): the 3 hosts' partition is checked whole
    (``inspect --verify``: every block, send plan and checksum) and as good as one host's."""
    from gnnpart.partition.ptscotch import available

    if not available():
        from tests.conftest import _missing

        _missing("PT-Scotch", "GNNPART_REQUIRE_PTSCOTCH", "its 64-bit library is not installed")
    g = tmp_path / "g"
    subprocess.run([sys.executable, "-m", "gnnpart", "generate", "nodes=3000,degree=6,features=8,seed=2", "--out", g],
                   check=True, capture_output=True, timeout=300, cwd=ROOT)
    one = subprocess.run([sys.executable, "-m", "gnnpart", "partition", g, "-k", "6", "--method", "ptscotch", "-o",
                          tmp_path / "p1", "-n", "6"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert one.returncode == 0, one.stderr
    cmd, env = launch(request, cluster, "openmpi", 6, ["-m", "gnnpart", "partition", g, "-k", "6", "--method",
                                                       "ptscotch", "-o", tmp_path / "p3"])
    got = on("node1", cmd, env=env)
    assert got.returncode == 0, got.stderr
    verify = subprocess.run([sys.executable, "-m", "gnnpart", "inspect", tmp_path / "p3", "--verify"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert verify.returncode == 0, verify.stderr
    a, b = (json.loads((tmp_path / p / "meta.json").read_text())["stats"] for p in ("p1", "p3"))
    assert len(b["parts"]) == 6 and sum(p["inner"] for p in b["parts"]) == 3000
    assert abs(b["edge_cut"] - a["edge_cut"]) <= 0.03 * a["edge_cut"], (a["edge_cut"], b["edge_cut"])
    assert all(b["imbalance"][k] <= a["imbalance"][k] + 0.05 for k in ("nodes", "edges")), (a, b)


def _same_files(a: Path, b: Path, skip=()) -> None:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name not in skip)
    assert names and names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name not in skip)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


# ---------------------------------------------------------------------------- faults
FAULT_LIMIT_S = 30
"""Seconds from a fault to the end of every rank (the issue's bound)."""
DAEMONS = ("slurmd", "slurmctld", "slurmscriptd", "munged")


def job_processes() -> dict:
    """What is still running on each host, Slurm's own daemons apart."""
    left = {}
    for i in (1, 2, 3):
        procs = [p for p in processes_on(f"node{i}") if not any(d in p for d in DAEMONS)]
        if procs:
            left[f"node{i}"] = procs
    return left


def wait_for_epochs(metrics: Path, proc, count: int, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if metrics.exists() and len(records(metrics)) >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the job ended before the fault: {proc.communicate()[1]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no {count} epochs in {timeout} s")


def end_of(proc, started: float) -> tuple[float, str, str]:
    """Wait for the job's launcher; the seconds since ``started`` and what it printed."""
    try:
        out, err = proc.communicate(timeout=3 * FAULT_LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the job hung after the fault: {err}") from None
    return time.monotonic() - started, out, err


def no_job_left(started: float) -> float:
    """Nothing of the job on any host within :data:`FAULT_LIMIT_S` of the fault (ranks cut off from the others end
    by themselves); the seconds from the fault until the last went."""
    while True:
        left = job_processes()
        if not left:
            return time.monotonic() - started
        if time.monotonic() - started > FAULT_LIMIT_S:
            raise AssertionError(f"left behind {FAULT_LIMIT_S} s after the fault: {left}")
        time.sleep(0.1)


def fault_line(err: str, ranks: set, host: str) -> str:
    """The one gnnpart line that names the unreachable ranks and their host."""
    lines = [line for line in err.splitlines() if line.startswith("gnnpart") and host in line
             and any(f"rank {r} on {host}" in line for r in ranks)]
    assert lines, err
    return lines[0]


def resume_on_two_hosts(cluster: Path, checkpoint: Path, tmp_path: Path, whole: list) -> None:
    """After a fault: ``--resume`` from the last checkpoint on node1 and node2 with the 4-part partition equals
    one uninterrupted run of as many epochs."""
    import torch

    done = int(torch.load(checkpoint / "checkpoint.pt", weights_only=True)["epoch"])
    epochs = done + 3
    if epochs > len(whole):  # a run that went on long before the fault ended it (Slurm's): a longer reference
        metrics = tmp_path / "whole.jsonl"
        ref = subprocess.run([sys.executable, "-m", "gnnpart", "train", cluster / "p4", "--epochs", str(epochs),
                              "--threads", "1", "--metrics", metrics, "-n", "4"], capture_output=True, text=True,
                             timeout=300, cwd=ROOT)
        assert ref.returncode == 0, ref.stderr
        whole = records(metrics)
    resumed = tmp_path / "resumed.jsonl"
    got = on("node1", mpich(cluster / "mpich2", 4, ["-m", "gnnpart", "train", cluster / "p4", "--epochs", epochs,
                                                    "--threads", "1", "--checkpoint", checkpoint, "--resume",
                                                    "--metrics", resumed]), env=MPICH_ENV)
    assert got.returncode == 0, got.stderr
    assert [r["epoch"] for r in records(resumed)] == list(range(done + 1, epochs + 1))
    np.testing.assert_allclose(losses(resumed), [r["loss"] for r in whole[done:epochs]], rtol=1e-5)


UNTIL_FAULT = ["--epochs", 1000000, "--checkpoint-every", 5]


def train_until_fault(cluster: Path, tmp_path: Path, env: dict | None = None) -> tuple:
    """6 ranks on 3 hosts (MPICH over TCP), a checkpoint every 10 epochs, until a fault ends them."""
    checkpoint, metrics = tmp_path / "ck", tmp_path / "m.jsonl"
    cmd = mpich(cluster / "mpich", 6, ["-m", "gnnpart", "train", cluster / "p6", *UNTIL_FAULT, "--threads", 1,
                                       "--checkpoint", checkpoint, "--metrics", metrics])
    proc = start_on("node1", cmd, env={**MPICH_ENV, **(env or {})})
    wait_for_epochs(metrics, proc, 15)
    return proc, checkpoint


@pytest.fixture
def healed(cluster):
    """Every host's link up again after the test."""
    yield
    for i in (1, 2, 3):
        hosts("link", f"node{i}", "up", check=False)


@pytest.mark.parametrize("fault", ["link down", "host killed"])
def test_a_lost_host_ends_the_job_in_seconds_and_a_resume_on_the_others_goes_on(cluster, whole, healed, tmp_path,
                                                                                fault):
    proc, checkpoint = train_until_fault(cluster, tmp_path)
    started = time.monotonic()
    hosts(*(["link", "node3", "down"] if fault == "link down" else ["kill", "node3"]))
    took, out, err = end_of(proc, started)
    assert proc.returncode != 0
    assert took <= FAULT_LIMIT_S, (took, err)
    if fault == "link down":  # a killed host's ranks are known gone at once (the launcher's proxy died with them)
        fault_line(err, {4, 5}, "node3")
    took = max(took, no_job_left(started))
    print(f"{fault}: the job ended {took:.1f} s after the fault")
    hosts("link", "node3", "up")
    resume_on_two_hosts(cluster, checkpoint, tmp_path, whole)


def test_a_link_cut_while_rank_0_writes_a_checkpoint_keeps_the_previous_one(cluster, whole, healed, tmp_path):
    from gnnpart.checkpoint.checkpoint_file import PAUSE_VARIABLE, load_checkpoint

    proc, checkpoint = train_until_fault(cluster, tmp_path, env={PAUSE_VARIABLE: "3"})
    before = load_checkpoint(checkpoint)["epoch"]
    for _ in range(600):  # the next write, caught with its temporary file written
        if list(checkpoint.glob(".checkpoint-*.tmp")):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no checkpoint write seen")
    started = time.monotonic()
    hosts("link", "node1", "down")
    took, out, err = end_of(proc, started)
    assert proc.returncode != 0 and took <= FAULT_LIMIT_S, (took, err)
    line = fault_line(err, {2, 3}, "node2")  # rank 0's view: the others are unreachable
    assert "rank 4 on node3" in line and "rank 5 on node3" in line, line
    took = max(took, no_job_left(started))
    print(f"link down during a checkpoint: the job ended {took:.1f} s after the fault")
    assert load_checkpoint(checkpoint)["epoch"] >= before  # the previous one, or the one being written, whole
    assert not list(checkpoint.glob(".checkpoint-*.tmp"))
    hosts("link", "node1", "up")
    resume_on_two_hosts(cluster, checkpoint, tmp_path, whole)


# ---------------------------------------------------------------------------- a 3-node Slurm
@pytest.fixture(scope="module")
def slurm3(cluster):
    hosts("slurm", "up", timeout=180)
    conf = Path(os.environ.get("GNNPART_HOSTS_DIR", "/tmp/gnnpart-hosts")) / "slurm" / "slurm.conf"
    try:
        yield {"SLURM_CONF": str(conf), **TCP_MPICH}
    finally:
        hosts("slurm", "down", check=False)


def test_slurm_runs_srun_sbatch_and_salloc_across_three_nodes(cluster, slurm3, whole, tmp_path):
    runs = {
        "srun": ["srun", "-N", "3", "-n", "6", "--mpi=pmi2", "--kill-on-bad-exit=1", sys.executable, "-m", "mpi4py",
                 "-m", "gnnpart", "train", cluster / "p6", "--epochs", "8", "--metrics", tmp_path / "srun.jsonl"],
        "salloc": ["salloc", "-N", "3", "-n", "6", sys.executable, "-m", "gnnpart", "train", cluster / "p6", "-n", "6",
                   "--epochs", "8", "--metrics", tmp_path / "salloc.jsonl"],
        "sbatch": ["sbatch", "--wait", "--nodes=3", "--ntasks=6", "-o", tmp_path / "sbatch.out",
                   ROOT / "launch" / "slurm.sbatch", cluster / "p6", "--epochs", "8", "--metrics",
                   tmp_path / "sbatch.jsonl"],
    }
    for name, cmd in runs.items():
        got = on("node1", cmd, env=slurm3)
        out = got.stdout + (Path(tmp_path / "sbatch.out").read_text() if name == "sbatch" else "")
        assert got.returncode == 0, f"{name}: {got.stderr}\n{out}"
        np.testing.assert_allclose(losses(tmp_path / f"{name}.jsonl"), [r["loss"] for r in whole[:8]], rtol=1e-5,
                                   err_msg=name)
        assert "6 ranks x 1 threads" in out, f"{name}: {out}"  # each node's 2 CPUs, shared by its 2 ranks
        assert all(r["halo_bytes_internode"] > 0 for r in records(tmp_path / f"{name}.jsonl")), name


def test_a_killed_slurmd_ends_the_slurm_job_in_seconds(cluster, slurm3, whole, tmp_path):
    """A node's slurmd killed during ``srun``: Slurm takes the node for failed (its test bed's ``SlurmdTimeout`` is
    10 s) and ends the job; every rank ends, on every node, within the bound, and a resume goes on."""
    checkpoint, metrics = tmp_path / "ck", tmp_path / "m.jsonl"
    cmd = ["srun", "-N", "3", "-n", "6", "--mpi=pmi2", "--kill-on-bad-exit=1", sys.executable, "-m", "mpi4py", "-m",
           "gnnpart", "train", cluster / "p6", *UNTIL_FAULT, "--checkpoint", checkpoint, "--metrics", metrics]
    proc = start_on("node1", cmd, env=slurm3)
    wait_for_epochs(metrics, proc, 15)
    pid = int((Path(slurm3["SLURM_CONF"]).parent / "slurmd-node3.pid").read_text())
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    took, out, err = end_of(proc, started)
    assert proc.returncode != 0 and took <= FAULT_LIMIT_S, (took, err)
    assert "Node failure on node3" in err, err
    took = max(took, no_job_left(started))
    print(f"slurmd killed: the job ended {took:.1f} s after the fault")
    resume_on_two_hosts(cluster, checkpoint, tmp_path, whole)


def test_down_removes_everything_up_made(cluster):
    """Last in the module: ``down`` removes the namespaces, links, mounts, files and every process of the hosts,
    Slurm's daemons included (``check`` says what is left)."""
    pids = {}
    for i in (1, 2, 3):
        got = subprocess.run(["ip", "netns", "pids", f"gnp-node{i}"], capture_output=True, text=True)
        pids[i] = [int(p) for p in got.stdout.split()]
    hosts("down")
    assert hosts("check", check=False).returncode == 0, hosts("check", check=False).stderr
    alive = [p for ps in pids.values() for p in ps if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0] != "Z"]
    assert alive == [], alive
    assert hosts("down", check=False).returncode == 0  # and again, with nothing there
