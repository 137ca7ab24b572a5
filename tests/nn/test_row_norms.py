"""Norms that mix nodes' rows: found anywhere in a model, converted to SyncBatchNorm, or refused (one process; N
ranks against one are in tests/nn/test_halo_conv_mpi.py: GENConv, and a BatchNorm1d between two HaloConvs)."""
import copy

import pytest
import torch
from torch import nn
from torch_geometric import nn as pyg

from gnnpart.errors import ConfigError
from gnnpart.nn import SyncBatchNorm, check_row_norms, convert_sync_norm
from gnnpart.nn.row_norms import bind_sync_norms, row_mixing


class OneRank:
    """A communicator of one rank (sums are the values themselves)."""

    def sum_scalars(self, values):
        return [float(v) for v in values]

    def allreduce_(self, t):
        return t


def model_with_every_norm():
    return nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), pyg.GraphNorm(4), pyg.LayerNorm(4, mode="graph"),
                         pyg.LayerNorm(4, mode="node"), nn.LayerNorm(4), pyg.BatchNorm(4), pyg.MessageNorm(),
                         nn.BatchNorm1d(4, momentum=None), nn.InstanceNorm1d(4), pyg.DiffGroupNorm(4, 2),
                         pyg.PairNorm(), nn.BatchNorm2d(4))


def test_every_norm_that_mixes_rows_is_found_by_its_path():
    found = dict(row_mixing(model_with_every_norm()))
    assert sorted(found, key=lambda p: int(p.split(".")[0])) == ["1", "2", "3", "6.module", "8", "9", "10.norm", "11",
                                                                "12"]
    assert "call gnnpart.nn.convert_sync_norm(model) first" in found["1"]
    assert "GraphNorm normalises by the mean and variance over all the nodes" in found["2"]
    assert "LayerNorm(mode='graph')" in found["3"] and "use mode='node'" in found["3"]
    assert "momentum=None is a cumulative average" in found["8"]
    assert "BatchNorm2d" in found["12"] and "it is not over node rows" in found["12"]
    assert dict(row_mixing(pyg.GENConv(8, 8))).keys() == {"mlp.1"}  # GENConv's default MLP holds a BatchNorm1d


def test_the_check_names_the_first_path_and_how_many_more():
    with pytest.raises(ConfigError, match=r"^the model's `1`: BatchNorm1d takes its statistics over the rows of this "
                                          r"rank alone; call gnnpart.nn.convert_sync_norm\(model\) first .* \(8 more "
                                          r"such modules: 2, 3, 6.module, \.\.\.\)$"):
        check_row_norms(model_with_every_norm())


def test_conversion_synchronises_the_batch_norms_and_leaves_the_rest():
    model = convert_sync_norm(model_with_every_norm())
    assert isinstance(model[1], SyncBatchNorm) and isinstance(model[6].module, SyncBatchNorm)
    assert isinstance(model[10].norm, SyncBatchNorm)  # DiffGroupNorm is exact once its batch norm is synchronised
    assert [p for p, _ in row_mixing(model)] == ["2", "3", "8", "9", "11", "12"]
    gen = convert_sync_norm(pyg.GENConv(8, 8))
    check_row_norms(gen)
    assert isinstance(convert_sync_norm(nn.BatchNorm1d(3)), SyncBatchNorm)
    copy.deepcopy(model)  # a bound communicator is not copied


@pytest.mark.parametrize("settings", [{}, {"affine": False}, {"track_running_stats": False}, {"momentum": 0.3}])
def test_a_converted_batch_norm_computes_what_torch_does(settings):
    torch.manual_seed(1)
    bn = nn.BatchNorm1d(5, **settings).double()
    if bn.affine:
        with torch.no_grad():
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_(-1, 1)
    sync = convert_sync_norm(copy.deepcopy(bn))
    bind_sync_norms(sync, OneRank())
    for step in range(3):
        x = torch.randn(40, 5, dtype=torch.float64, requires_grad=True)
        x2 = x.detach().clone().requires_grad_(True)
        want, got = bn(x), sync(x2)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        grad = torch.randn_like(want)
        want.backward(grad)
        got.backward(grad)
        torch.testing.assert_close(x2.grad, x.grad, rtol=1e-10, atol=1e-12)
        if bn.affine:
            torch.testing.assert_close(sync.weight.grad, bn.weight.grad, rtol=1e-10, atol=1e-12)
    if bn.track_running_stats:
        torch.testing.assert_close(sync.running_mean, bn.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(sync.running_var, bn.running_var, rtol=1e-12, atol=1e-12)
    bn.eval(), sync.eval()
    x = torch.randn(7, 5, dtype=torch.float64)
    torch.testing.assert_close(sync(x), bn(x), rtol=1e-12, atol=1e-12)


def test_an_unbound_sync_norm_says_what_to_do():
    with pytest.raises(RuntimeError, match="train the model with gnnpart's Trainer"):
        SyncBatchNorm(3)(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"one row per node, \[I, F\] \(got a tensor of shape \[4, 3, 2\]\)"):
        sync = SyncBatchNorm(3)
        sync.comm = OneRank()
        sync(torch.randn(4, 3, 2))
