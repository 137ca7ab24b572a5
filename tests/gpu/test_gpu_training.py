"""Training on the GPU: exactness against one CPU process, the halo policies that are exact in their limit, the
transports, checkpoints that move between devices, and the one-line refusals where there is no GPU.

The tests that need a GPU skip with a reason elsewhere; benchmarks/gpu_check.sh runs them on a GPU machine.
Two ranks share one GPU here, as they may in a real job. ``GNNPART_GPU_TEST_DEVICE=cpu`` runs the same tests on
the CPU (a dry run of their logic, so that a GPU machine's few minutes go to the GPU alone).
"""
import json
import os
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from gnnpart import load, partition_graph
from tests.mpi import gnnpart_cli, run_mpi

DEVICE = os.environ.get("GNNPART_GPU_TEST_DEVICE", "cuda")
"""Where the tests below put the ranks: ``cuda``, or ``cpu`` for a dry run."""
needs_cuda = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")
"""The tests that run on DEVICE (a dry run on the CPU runs them too)."""
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
"""The tests of the GPU transports and of moving between devices: a GPU, always."""
STEPS = 10
MODELS = ["gcn:16:2:0.5:0.5", "sage:16:2:0.5:0.5", "gat:16:2:0.5:0.5", "gin:16:2:0.5:0.5", "gine:16:2:0.5:0.5"]
# 32 features > hidden 16: every layer exchanges each epoch (no cached first-layer aggregation); edge features for
# gine
SYNTH = "synthetic:nodes=2000,degree=8,classes=4,features=32,edge_features=3,seed=3"
TASKS = {"multilabel": ("synthetic:nodes=900,degree=6,classes=4,features=12,task=multilabel:5,seed=5", ["gcn"]),
         "regression": ("synthetic:nodes=900,degree=6,classes=4,features=12,task=regression:2,seed=5", ["sage"])}


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    graph = load(SYNTH)
    out = {}
    for n in (1, 2):
        out[n] = tmp_path_factory.mktemp("gpu") / f"parts-{n}"
        partition_graph(graph, n, out[n])
    return out


@contextmanager
def environment(**values):
    """``os.environ`` with ``values`` set (None: removed) inside the block; the workers read it."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def train(parts, tmp_path, n, device, specs=MODELS, transport="mpi", halo=None, dtype="float64", expect_ok=True,
          timeout=400):
    out = tmp_path / f"run-{n}-{device}-{transport}-{halo}.npz"
    # the synthetic features are signed: row sums near zero would blow up a row normalisation
    with environment(GNNPART_TEST_DEVICE=device, GNNPART_TEST_TRANSPORT=transport, GNNPART_TEST_NORMALIZE="0",
                     GNNPART_TEST_HALO=halo):
        proc = run_mpi(n, "train_worker.py", parts[n], out, STEPS, dtype, *specs, timeout=timeout, expect_ok=expect_ok)
    return dict(np.load(out)) if proc.returncode == 0 else proc


@pytest.fixture(scope="module")
def cpu_reference(parts, tmp_path_factory):
    return train(parts, tmp_path_factory.mktemp("ref"), 1, "cpu")


def assert_same_training(got, want, tol=1e-5):
    for key, ref in want.items():
        if key.endswith(("/halo_bytes", "/device")):
            continue
        if key.endswith("/loss"):
            np.testing.assert_allclose(got[key], ref, rtol=tol, atol=0, err_msg=key)
        else:
            err = np.abs(got[key] - ref).max() / max(np.abs(ref).max(), 1e-12)
            assert err <= tol, f"{key}: max difference {err:.2e} of the largest entry"


@needs_cuda
def test_two_ranks_sharing_the_gpu_equal_one_cpu_rank(parts, cpu_reference, tmp_path):
    got = train(parts, tmp_path, 2, DEVICE)
    assert all(str(got[f"{m}/device"]).startswith(DEVICE) for m in MODELS)
    assert_same_training(got, cpu_reference)
    assert all(got[f"{m}/loss"][-1] < got[f"{m}/loss"][0] for m in MODELS)


@needs_cuda
@pytest.mark.parametrize("halo", ["sample:1", "topk:1.0", "delta:0"])
def test_policies_exact_in_their_limit_give_exact_losses_on_the_gpu(parts, cpu_reference, tmp_path, halo):
    got = train(parts, tmp_path, 2, DEVICE, specs=MODELS[:2], halo=halo)
    for m in MODELS[:2]:
        np.testing.assert_allclose(got[f"{m}/loss"], cpu_reference[f"{m}/loss"], rtol=1e-5, atol=0, err_msg=f"{halo} {m}")


@needs_cuda
@pytest.mark.parametrize("halo", ["sample:0.5+int8", "fp16", "topk:0.25", "stale:1", "learned:0.01"])
def test_cheaper_policies_train_on_the_gpu(parts, tmp_path, halo):
    got = train(parts, tmp_path, 2, DEVICE, specs=MODELS[:1], halo=halo, dtype="float32")
    loss = got[f"{MODELS[0]}/loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]


@needs_gpu
def test_nccl_transport_on_one_rank_and_refused_for_ranks_sharing_a_gpu(parts, cpu_reference, tmp_path):
    got = train(parts, tmp_path, 1, "cuda", specs=MODELS[:1], transport="nccl", timeout=120)
    np.testing.assert_allclose(got[f"{MODELS[0]}/loss"], cpu_reference[f"{MODELS[0]}/loss"], rtol=1e-5, atol=0)
    if torch.cuda.device_count() == 1:
        proc = train(parts, tmp_path, 2, "cuda", specs=MODELS[:1], transport="nccl", expect_ok=False, timeout=120)
        assert proc.returncode != 0 and "needs one GPU per rank" in proc.stderr


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices (NCCL needs one GPU per rank)")
def test_nccl_transport_on_two_gpus(parts, cpu_reference, tmp_path):
    got = train(parts, tmp_path, 2, "cuda", specs=MODELS[:2], transport="nccl", timeout=200)
    for m in MODELS[:2]:
        np.testing.assert_allclose(got[f"{m}/loss"], cpu_reference[f"{m}/loss"], rtol=1e-5, atol=0, err_msg=m)


@needs_gpu
def test_transport_moves_any_dtype_counted_in_elements():
    """One rank to itself: GPU tensors of several dtypes through the staged path, counts in elements."""
    from gnnpart.comm import Communicator

    comm = Communicator()
    for dtype in (torch.float32, torch.float64, torch.int32, torch.uint8):
        send = torch.arange(7, device="cuda").to(dtype)
        recv = torch.zeros(7, dtype=dtype, device="cuda")
        comm.alltoallv(send, np.array([7]), recv, np.array([7]))
        assert torch.equal(recv, send), dtype
    empty = torch.zeros(0, device="cuda")
    comm.alltoallv(empty, np.array([0]), empty.clone(), np.array([0]))


@needs_gpu
def test_mpi_cuda_transport_works_or_is_refused_in_one_line(parts, cpu_reference, tmp_path):
    from gnnpart.comm.transport import mpi_cuda_support

    proc = train(parts, tmp_path, 2, "cuda", specs=MODELS[:1], transport="mpi-cuda", expect_ok=mpi_cuda_support())
    if mpi_cuda_support():
        np.testing.assert_allclose(proc[f"{MODELS[0]}/loss"], cpu_reference[f"{MODELS[0]}/loss"], rtol=1e-5, atol=0)
    else:
        assert proc.returncode != 0 and "is not CUDA-aware" in proc.stderr


@needs_gpu
@pytest.mark.parametrize("first,second", [("cuda", "cpu"), ("cpu", "cuda")])
def test_checkpoint_moves_between_devices(parts, tmp_path, first, second):
    ckpt, metrics = tmp_path / "ckpt", tmp_path / "m.jsonl"
    base = ["train", parts[1], "--epochs", "4", "--checkpoint", ckpt, "--checkpoint-every", "2", "--metrics", metrics]
    proc = gnnpart_cli(*base, "--device", first)
    assert proc.returncode == 0, proc.stderr
    proc = gnnpart_cli("train", parts[1], "--epochs", "6", "--checkpoint", ckpt, "--resume", "--metrics", metrics,
                       "--device", second)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout and ("x cuda" in proc.stdout) == (second == "cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_one_line_before_any_rank_starts(parts):
    proc = gnnpart_cli("train", parts[2], "--device", "cuda", "-n", "2", "--epochs", "1")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device cuda" in lines[0] and "CUDA" in lines[0], proc.stderr
    assert "rank" not in proc.stderr  # refused in the launcher, before mpiexec


def test_gpu_transports_need_a_gpu_device(parts):
    proc = gnnpart_cli("train", parts[1], "--transport", "nccl", "--epochs", "1")
    assert proc.returncode != 0 and "--transport nccl moves GPU memory" in proc.stderr


def test_auto_trains_on_what_there_is(parts, tmp_path):
    proc = gnnpart_cli("train", parts[1], "--device", "auto", "--epochs", "2")
    assert proc.returncode == 0, proc.stderr
    assert ("x cuda" in proc.stdout) == torch.cuda.is_available()


@pytest.fixture(scope="module")
def task_parts(tmp_path_factory):
    out = {}
    for task, (spec, _) in TASKS.items():
        graph = load(spec)
        graph.y[::11, 0] = np.nan  # unlabelled entries, in every split
        for n in (1, 2):
            out[task, n] = tmp_path_factory.mktemp(f"gpu-{task}") / f"p{n}"
            partition_graph(graph, n, out[task, n])
    return out


def run_tasks(task_parts, tmp_path, task, n, device):
    base = tmp_path / f"{task}-{n}-{device}"
    base.mkdir()
    with environment(GNNPART_TEST_DEVICE=device):
        run_mpi(n, "task_worker.py", task_parts[task, n], base / "out.npz", 6, *TASKS[task][1], timeout=400)
    got = dict(np.load(base / "out.npz"))
    for model in TASKS[task][1]:
        got[f"{model}/file"] = np.load(base / f"out.npz.{model}.npy")
    return got


@needs_cuda
@pytest.mark.parametrize("task", list(TASKS))
def test_tasks_and_predict_on_the_gpu_equal_the_cpu(task_parts, tmp_path, task):
    """Multi-label and regression training on 2 ranks sharing the GPU equal 1 CPU rank (float64): losses, weights,
    every metric, and the rows ``Trainer.predict`` writes."""
    want, got = run_tasks(task_parts, tmp_path, task, 1, "cpu"), run_tasks(task_parts, tmp_path, task, 2, DEVICE)
    for model in TASKS[task][1]:
        np.testing.assert_allclose(got[f"{model}/loss"], want[f"{model}/loss"], rtol=1e-5, atol=0, err_msg=model)
        for key in want:
            if key.startswith(f"{model}/w/"):
                np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-8, err_msg=key)
        metrics, reference = json.loads(str(got[f"{model}/metrics"])), json.loads(str(want[f"{model}/metrics"]))
        assert set(metrics) == set(reference)
        for split in reference:
            assert metrics[split] == pytest.approx(reference[split], rel=1e-5), f"{model} {split}"
        np.testing.assert_allclose(got[f"{model}/file"], want[f"{model}/file"], rtol=0, atol=1e-5, err_msg=model)


@needs_cuda
def test_overlap_on_and_off_give_the_same_bits_on_the_gpu(tmp_path):
    from tests.workers.overlap_worker import MODELS as OVERLAP_MODELS, SPECS

    partition_graph(load("synthetic:nodes=900,degree=7,classes=4,features=10,seed=5"), 2, tmp_path / "p")
    with environment(GNNPART_TEST_DEVICE=DEVICE):
        run_mpi(2, "overlap_worker.py", tmp_path / "p", tmp_path / "out.npz", timeout=400)
    got = dict(np.load(tmp_path / "out.npz"))
    for model in OVERLAP_MODELS:
        for spec in SPECS:
            on, off = f"{model}/{spec}/on", f"{model}/{spec}/off"
            assert np.array_equal(got[f"{on}/loss"], got[f"{off}/loss"]), (model, spec)
            names = [k[len(on) + len("/weight/"):] for k in got if k.startswith(f"{on}/weight/")]
            assert names and all(np.array_equal(got[f"{on}/weight/{n}"], got[f"{off}/weight/{n}"]) for n in names)


@needs_cuda
def test_minibatch_on_the_gpu_equals_one_cpu_rank(parts, tmp_path):
    """Mini-batch training (blocks moved to the device through pinned memory, input rows too) on 2 ranks sharing the
    GPU takes the steps of one CPU rank: every step's loss and the final weights, float64."""
    specs = ["sage:16:2:0.5:0.2", "gat:16:2:0.5:0.2"]
    runs = {}
    for n, device in ((1, "cpu"), (2, DEVICE)):
        out = tmp_path / f"mb-{n}-{device}.npz"
        with environment(GNNPART_TEST_DEVICE=device):
            run_mpi(n, "minibatch_worker.py", parts[n], out, 2, 400, "5,3", *specs, timeout=400)
        runs[n] = dict(np.load(out))
    for spec in specs:
        assert str(runs[2][f"{spec}/device"]).startswith(DEVICE)
        assert len(runs[1][f"{spec}/loss"]) >= 4
    assert_same_training({k: v for k, v in runs[2].items() if not k.endswith(("/device", "/epoch_loss"))},
                         {k: v for k, v in runs[1].items() if not k.endswith(("/device", "/epoch_loss"))}, tol=1e-9)
