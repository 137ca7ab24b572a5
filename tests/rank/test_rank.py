"""A part becomes a Rank in one call: what it holds, and what it refuses (one line each, naming the argument)."""
import numpy as np
import pytest
import torch

from gnnpart import load_partition, partition_graph
from gnnpart.comm import Communicator
from gnnpart.errors import ConfigError
from gnnpart.rank import Placement, Rank
from gnnpart.rank.assemble import exchange_plan


@pytest.fixture(scope="module")
def part_dir(tmp_path_factory):
    from tests.conftest import odd_graph

    out = tmp_path_factory.mktemp("rank") / "p1"
    partition_graph(odd_graph(), 1, out)
    return out


def test_open_builds_everything_a_rank_holds(part_dir):
    rank = Rank.open(part_dir, Communicator(), dtype=torch.float64, normalize_features=True)
    part = rank.part
    assert rank.device == torch.device("cpu") and rank.comm.transport.name == "mpi"
    assert rank.x.dtype == torch.float64 and rank.x.shape == (part.num_inner, part.x.shape[1])
    x = torch.from_numpy(np.asarray(part.x))
    assert torch.equal(rank.x, (x / x.sum(1, keepdim=True).clamp(min=1e-12)).double())  # each row over its sum
    assert rank.task.name == "multiclass" and rank.y.dtype == torch.int64
    assert set(rank.masks) == {"train", "val", "test"} and rank.masks["train"].dtype == torch.bool
    assert rank.graph.num_inner == part.num_inner and rank.exchange.plan is rank.plan
    assert rank.num_nodes == 60 and np.array_equal(rank.inner_ids, np.asarray(part.global_ids[: part.num_inner]))
    assert rank.graph_identity() == {"dataset": "odd", "num_nodes": 60}
    same = Rank.from_partition(load_partition(part_dir, 0), Communicator(), dtype=torch.float64,
                               normalize_features=True)
    assert torch.equal(same.x, rank.x) and torch.equal(same.graph.indices, rank.graph.indices)
    assert "Rank(0 of 1: 60 inner and 0 halo nodes of odd, cpu, task multiclass)" == repr(rank)


def test_a_rank_count_that_is_not_the_part_count_is_refused(part_dir, tmp_path, odd):
    partition_graph(odd, 2, tmp_path / "p2")
    with pytest.raises(ValueError, match=r"the job has 1 ranks, but .*p2 has 2 parts: start one rank per part"):
        Rank.open(tmp_path / "p2", Communicator())
    with pytest.raises(ValueError, match=r"the job has 1 ranks, but the partition has 2 parts"):
        exchange_plan(load_partition(tmp_path / "p2", 0), 1)
    with pytest.raises(ValueError, match=r"`dtype` must be a floating torch.dtype \(got torch.int32\)"):
        Rank.open(part_dir, Communicator(), dtype=torch.int32)
    with pytest.raises(ValueError, match=r"`task` multilabel needs 0/1 targets \[N, T\], but the partition's labels "
                                         r"are class ids \[N\] \(task multiclass\): leave `task` out"):
        Rank.open(part_dir, Communicator(), task="multilabel")


@pytest.mark.parametrize("device,transport,message", [
    ("gpu", "mpi", r"`device` must be one of cpu, cuda, auto, or cuda:N \(got 'gpu'\)"),
    ("cpu", "carrier-pigeon", r"`transport` must be one of mpi, mpi-cuda, nccl \(got 'carrier-pigeon'\)"),
    ("cpu", "nccl", r"`transport` nccl moves GPU memory: it needs `device` cuda \(or auto\) \(got `device` cpu\)"),
])
def test_a_placement_is_checked_when_made(device, transport, message):
    with pytest.raises(ConfigError, match=message):
        Placement(device, transport)


def test_a_placement_keeps_its_canonical_text():
    assert str(Placement()) == "cpu, transport mpi" and Placement(torch.device("cuda", 1)).device == "cuda:1"
    assert Placement("auto", "nccl").transport == "nccl" and not Placement("auto").wants_cuda


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where torch sees no GPU")
def test_cuda_without_a_gpu_is_one_line(part_dir):
    with pytest.raises(ConfigError, match=r"`device` cuda: .*; use `device` cpu \(or auto\)"):
        Placement("cuda").check_available()
    with pytest.raises(ConfigError, match=r"`device` cuda"):
        Rank.open(part_dir, Communicator(), placement=Placement("cuda"))
    assert Rank.open(part_dir, Communicator(), placement=Placement("auto")).device.type == "cpu"
