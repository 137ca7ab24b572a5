"""Training on the GPU: exactness against one CPU process, the halo policies that are exact in their limit, the
transports, checkpoints that move between devices, and the one-line refusals where there is no GPU.

The tests that need a GPU skip with a reason elsewhere; benchmarks/gpu_check.sh runs them on a GPU machine.
Two ranks share one GPU here, as they may in a real job.
"""
import os

import numpy as np
import pytest
import torch

from gnnpart import load, partition_graph
from tests.mpi import gnnpart_cli, run_mpi

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
STEPS = 10
MODELS = ["gcn:16:2:0.5:0.5", "sage:16:2:0.5:0.5", "gat:16:2:0.5:0.5", "gin:16:2:0.5:0.5"]
# 32 features > hidden 16: every layer exchanges each epoch (no cached first-layer aggregation)
SYNTH = "synthetic:nodes=2000,degree=8,classes=4,features=32,seed=3"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    graph = load(SYNTH)
    out = {}
    for n in (1, 2):
        out[n] = tmp_path_factory.mktemp("gpu") / f"parts-{n}"
        partition_graph(graph, n, out[n])
    return out


def train(parts, tmp_path, n, device, specs=MODELS, transport="mpi", halo=None, dtype="float64", expect_ok=True,
          timeout=400):
    out = tmp_path / f"run-{n}-{device}-{transport}-{halo}.npz"
    # the synthetic features are signed: row sums near zero would blow up a row normalisation
    env = {"GNNPART_TEST_DEVICE": device, "GNNPART_TEST_TRANSPORT": transport, "GNNPART_TEST_NORMALIZE": "0"}
    if halo:
        env["GNNPART_TEST_HALO"] = halo
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        proc = run_mpi(n, "train_worker.py", parts[n], out, STEPS, dtype, *specs, timeout=timeout, expect_ok=expect_ok)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
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
    got = train(parts, tmp_path, 2, "cuda")
    assert all(str(got[f"{m}/device"]).startswith("cuda") for m in MODELS)
    assert_same_training(got, cpu_reference)
    assert all(got[f"{m}/loss"][-1] < got[f"{m}/loss"][0] for m in MODELS)


@needs_cuda
@pytest.mark.parametrize("halo", ["sample:1", "topk:1.0", "delta:0"])
def test_policies_exact_in_their_limit_give_exact_losses_on_the_gpu(parts, cpu_reference, tmp_path, halo):
    got = train(parts, tmp_path, 2, "cuda", specs=MODELS[:2], halo=halo)
    for m in MODELS[:2]:
        np.testing.assert_allclose(got[f"{m}/loss"], cpu_reference[f"{m}/loss"], rtol=1e-5, atol=0, err_msg=f"{halo} {m}")


@needs_cuda
@pytest.mark.parametrize("halo", ["sample:0.5+int8", "fp16", "topk:0.25", "stale:1", "learned:0.01"])
def test_cheaper_policies_train_on_the_gpu(parts, tmp_path, halo):
    got = train(parts, tmp_path, 2, "cuda", specs=MODELS[:1], halo=halo, dtype="float32")
    loss = got[f"{MODELS[0]}/loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]


@needs_cuda
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


@needs_cuda
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


@needs_cuda
def test_mpi_cuda_transport_works_or_is_refused_in_one_line(parts, cpu_reference, tmp_path):
    from gnnpart.comm.transport import mpi_cuda_support

    proc = train(parts, tmp_path, 2, "cuda", specs=MODELS[:1], transport="mpi-cuda", expect_ok=mpi_cuda_support())
    if mpi_cuda_support():
        np.testing.assert_allclose(proc[f"{MODELS[0]}/loss"], cpu_reference[f"{MODELS[0]}/loss"], rtol=1e-5, atol=0)
    else:
        assert proc.returncode != 0 and "is not CUDA-aware" in proc.stderr


@needs_cuda
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
