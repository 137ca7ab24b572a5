"""The counter-based hash: dropout masks and row draws keyed by global ids, not by partitioning."""
import pytest
import torch

from gnnpart import hashing


def test_hash_dropout_matches_reference_and_grad():
    x = torch.randn(8, 13, requires_grad=True)
    ids = torch.tensor([5, 100, 7, 3, 2, 9, 2**40, 0])
    y = hashing.hash_dropout(x, ids, seed=3, epoch=1, stream=2, p=0.3)
    ref = hashing.hash_dropout_reference(x.detach(), ids, 3, 1, 2, 0.3)
    assert torch.equal(y != 0, ref != 0)  # the same mask, element for element
    torch.testing.assert_close(y, ref)
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, hashing.hash_dropout_reference(torch.ones(8, 13), ids, 3, 1, 2, 0.3))


@pytest.mark.parametrize("width", [1, 3, 255, 256, 257, 600])
@pytest.mark.parametrize("relu", [False, True])
def test_every_width_draws_the_reference_mask_in_the_input_precision(width, relu):
    # widths on both sides of the CPU kernel's 256-channel blocks; float64 is scaled in float64, not rounded to float
    x = torch.randn(5, width, dtype=torch.float64)
    ids = torch.tensor([0, 2**40, 7, 31, 5])
    op = hashing.hash_dropout_relu if relu else hashing.hash_dropout
    want = hashing.hash_dropout_reference(torch.relu(x) if relu else x, ids, 9, 3, 1, 0.4)
    for dtype in (torch.float64, torch.float32):
        got = op(x.to(dtype), ids, 9, 3, 1, 0.4)
        assert torch.equal(got != 0, want != 0)
        torch.testing.assert_close(got, want.to(dtype), rtol=1e-14 if dtype == torch.float64 else 1e-6, atol=0)


def test_mask_depends_on_ids_not_row_order():
    x = torch.ones(1000, 32)
    ids = torch.randperm(5000)[:1000]
    perm = torch.randperm(1000)
    a = hashing.hash_dropout(x, ids, 0, 4, 1, 0.5)
    b = hashing.hash_dropout(x[perm], ids[perm], 0, 4, 1, 0.5)
    assert torch.equal(a[perm], b)
    kept = (a != 0).float().mean().item()
    assert abs(kept - 0.5) < 0.01 and torch.allclose(a[a != 0], torch.tensor(2.0))
    others = [hashing.hash_dropout(x, ids, *args, 0.5) for args in ((1, 4, 1), (0, 5, 1), (0, 4, 2))]
    for o in others:  # seed, epoch and layer each change the mask
        assert ((o != 0) != (a != 0)).float().mean() > 0.4


def test_hash_dropout_errors_and_identity():
    x = torch.randn(3, 4)
    assert hashing.hash_dropout(x, torch.arange(3), 0, 0, 0, 0.0) is x
    with pytest.raises(RuntimeError, match=r"hash_dropout: `p` must be in \[0, 1\) \(got 1"):
        hashing.hash_dropout(x, torch.arange(3), 0, 0, 0, 1.0)
    with pytest.raises(RuntimeError, match=r"`ids` must be int64 with one global id per row"):
        hashing.hash_dropout(x, torch.arange(2), 0, 0, 0, 0.5)


def test_opcheck():
    ids = torch.tensor([4, 1, 9])
    torch.library.opcheck(torch.ops.gnnpart.hash_dropout, (torch.randn(3, 5, requires_grad=True), ids, 1, 2, 3, 0.5))


def test_keep_rows_is_the_first_channel_of_the_mask():
    ids = torch.randperm(20000)[:4000]
    kept = hashing.keep_rows(ids, 5, 2, hashing.SAMPLE_STREAM, 0.3)
    mask = hashing.hash_dropout(torch.ones(4000, 1), ids, 5, 2, hashing.SAMPLE_STREAM, 0.7)[:, 0] != 0
    assert torch.equal(kept, mask)
    assert abs(kept.float().mean().item() - 0.3) < 0.03
    perm = torch.randperm(4000)  # a node's draw follows its id, wherever it sits
    assert torch.equal(hashing.keep_rows(ids[perm], 5, 2, hashing.SAMPLE_STREAM, 0.3), kept[perm])
    assert bool(hashing.keep_rows(ids, 5, 2, hashing.SAMPLE_STREAM, 1.0).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the device machine)")
def test_cuda_dropout_matches_cpu():
    x = torch.randn(100, 40)
    ids = torch.randperm(1000)[:100]
    cpu = hashing.hash_dropout(x, ids, 1, 2, 3, 0.4)
    assert torch.equal(hashing.hash_dropout(x.cuda(), ids.cuda(), 1, 2, 3, 0.4).cpu(), cpu)
