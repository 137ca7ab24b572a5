import pytest
import torch

from gnnpart.nn import kernels


def test_spmm_matches_reference():
    torch.manual_seed(0)
    indptr = torch.tensor([0, 2, 2, 5, 6])
    indices = torch.tensor([0, 3, 1, 1, 2, 5])
    x = torch.randn(6, 4, dtype=torch.float64)
    torch.testing.assert_close(kernels.spmm_sum(indptr, indices, x), kernels.spmm_sum_reference(indptr, indices, x))
    with pytest.raises(RuntimeError, match=r"spmm_sum: `indices` entries must be in \[0, 3\) \(got [35]\)"):
        kernels.spmm_sum(indptr, indices, x[:3])


def test_opcheck():
    torch.library.opcheck(torch.ops.gnnpart.spmm_sum, (torch.tensor([0, 1, 3]), torch.tensor([2, 0, 1]), torch.randn(3, 4)))
