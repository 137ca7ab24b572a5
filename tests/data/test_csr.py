import numpy as np
import pytest
import torch

from gnnpart.data.csr import coo_to_csr, coo_to_csr_reference


@pytest.mark.parametrize("dedup", [True, False])
@pytest.mark.parametrize("n,e", [(1, 0), (5, 40), (300, 5000), (70000, 200000)])
def test_matches_reference(n, e, dedup):
    rng = np.random.default_rng(n + e)
    row = rng.integers(0, n, e)
    col = rng.integers(0, n, e)
    got = coo_to_csr(row, col, n, dedup=dedup)
    want = coo_to_csr_reference(row, col, n, dedup=dedup)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_rectangular_and_duplicates_merged():
    indptr, indices = coo_to_csr([2, 0, 2, 2, 1], [1, 3, 0, 1, 1], num_rows=3, num_cols=4)
    np.testing.assert_array_equal(indptr, [0, 1, 2, 4])
    np.testing.assert_array_equal(indices, [3, 1, 0, 1])


@pytest.mark.parametrize(
    "row,col,match",
    [([0, 3], [0, 0], r"`row` ids must be in \[0, 3\) \(got 3"),
     ([0, -1], [0, 0], r"`row` ids must be in \[0, 3\) \(got -1"),
     ([0, 1], [0, 9], r"`col` ids must be in \[0, 3\) \(got 9"),
     ([0, 1], [0], r"same length")],
)
def test_bad_input_names_argument(row, col, match):
    with pytest.raises(ValueError, match=match):
        coo_to_csr(row, col, 3)


def test_opcheck():
    row = torch.tensor([1, 0, 1, 1, 2])
    col = torch.tensor([2, 2, 0, 2, 1])
    for dedup in (False, True):
        torch.library.opcheck(torch.ops.gnnpart.csr_from_coo, (row, col, 3, 3, dedup))
