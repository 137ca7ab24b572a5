import pytest
import torch

from gnnpart.nn import kernels


def test_hash_dropout_matches_reference_and_grad():
    x = torch.randn(8, 13, requires_grad=True)
    ids = torch.tensor([5, 100, 7, 3, 2, 9, 2**40, 0])
    y = kernels.hash_dropout(x, ids, seed=3, epoch=1, layer=2, p=0.3)
    ref = kernels.hash_dropout_reference(x.detach(), ids, 3, 1, 2, 0.3)
    assert torch.equal(y != 0, ref != 0)  # the same mask, element for element
    torch.testing.assert_close(y, ref)
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, kernels.hash_dropout_reference(torch.ones(8, 13), ids, 3, 1, 2, 0.3))


def test_mask_depends_on_ids_not_row_order():
    x = torch.ones(1000, 32)
    ids = torch.randperm(5000)[:1000]
    perm = torch.randperm(1000)
    a = kernels.hash_dropout(x, ids, 0, 4, 1, 0.5)
    b = kernels.hash_dropout(x[perm], ids[perm], 0, 4, 1, 0.5)
    assert torch.equal(a[perm], b)
    kept = (a != 0).float().mean().item()
    assert abs(kept - 0.5) < 0.01 and torch.allclose(a[a != 0], torch.tensor(2.0))
    others = [kernels.hash_dropout(x, ids, *args, 0.5) for args in ((1, 4, 1), (0, 5, 1), (0, 4, 2))]
    for o in others:  # seed, epoch and layer each change the mask
        assert ((o != 0) != (a != 0)).float().mean() > 0.4


def test_hash_dropout_errors_and_identity():
    x = torch.randn(3, 4)
    assert kernels.hash_dropout(x, torch.arange(3), 0, 0, 0, 0.0) is x
    with pytest.raises(RuntimeError, match=r"hash_dropout: `p` must be in \[0, 1\) \(got 1"):
        kernels.hash_dropout(x, torch.arange(3), 0, 0, 0, 1.0)
    with pytest.raises(RuntimeError, match=r"`ids` must be int64 with one global id per row"):
        kernels.hash_dropout(x, torch.arange(2), 0, 0, 0, 0.5)


def test_spmm_matches_reference():
    torch.manual_seed(0)
    indptr = torch.tensor([0, 2, 2, 5, 6])
    indices = torch.tensor([0, 3, 1, 1, 2, 5])
    x = torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(kernels.spmm_sum(indptr, indices, x), kernels.spmm_sum_reference(indptr, indices, x))
    with pytest.raises(RuntimeError, match=r"spmm_sum: `indices` entries must be in \[0, 3\) \(got [35]\)"):
        kernels.spmm_sum(indptr, indices, x[:3])


def test_opcheck():
    ids = torch.tensor([4, 1, 9])
    torch.library.opcheck(torch.ops.gnnpart.hash_dropout, (torch.randn(3, 5, requires_grad=True), ids, 1, 2, 3, 0.5))
    torch.library.opcheck(torch.ops.gnnpart.spmm_sum, (torch.tensor([0, 1, 3]), torch.tensor([2, 0, 1]), torch.randn(3, 4)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the device machine)")
def test_cuda_dropout_matches_cpu():
    x = torch.randn(100, 40)
    ids = torch.randperm(1000)[:100]
    cpu = kernels.hash_dropout(x, ids, 1, 2, 3, 0.4)
    assert torch.equal(kernels.hash_dropout(x.cuda(), ids.cuda(), 1, 2, 3, 0.4).cpu(), cpu)
