import pytest
import torch

from gnnpart.comm import row_ops as rows


def cases():
    torch.manual_seed(0)
    src = torch.randn(50, 9)
    idx = torch.tensor([3, 7, 3, 49, 0, 12, 3])
    vals = torch.randn(7, 9)
    return src, idx, vals


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_ops_match_references(dtype):
    src, idx, vals = (t.to(dtype) if t.is_floating_point() else t for t in cases())
    assert torch.equal(rows.pack_rows(src, idx), rows.pack_rows_reference(src, idx))
    kept = torch.full((7, 9), 5.0, dtype=dtype)
    assert torch.equal(rows.pack_rows_into_(src, idx, kept), rows.pack_rows_reference(src, idx))
    slots = torch.tensor([1, 5, 9, 11, 20, 30, 40])
    assert torch.equal(rows.unpack_rows_(src.clone(), slots, vals), rows.unpack_rows_reference(src, slots, vals))
    got = rows.scatter_add_rows_(src.clone(), idx, vals)
    torch.testing.assert_close(got, rows.scatter_add_rows_reference(src, idx, vals))


def test_wide_rows_and_empty_index():
    src = torch.randn(20, 300)
    idx = torch.tensor([4, 4, 19])
    vals = torch.randn(3, 300)
    torch.testing.assert_close(rows.scatter_add_rows_(src.clone(), idx, vals), rows.scatter_add_rows_reference(src, idx, vals))
    empty = torch.zeros(0, dtype=torch.long)
    assert rows.pack_rows(src, empty).shape == (0, 300)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: rows.pack_rows(s, torch.tensor([0, 50])), r"pack_rows: `index` entries must be in \[0, 50\) \(got 50 at position 1\)"),
        (lambda s: rows.pack_rows(s, torch.tensor([[0]])), r"pack_rows: `index` must be a 1-D int64 tensor"),
        (lambda s: rows.unpack_rows_(s, torch.tensor([1]), torch.randn(2, 9)), r"unpack_rows_: `rows` must have shape \[1, 9\]"),
        (lambda s: rows.scatter_add_rows_(s, torch.tensor([-1]), torch.randn(1, 9)), r"scatter_add_rows_: `index` entries must be in \[0, 50\) \(got -1"),
        (lambda s: rows.unpack_rows_(s, torch.tensor([1]), torch.randn(1, 9, dtype=torch.float64)), r"`rows` must have dtype Float"),
        (lambda s: rows.pack_rows_into_(s, torch.tensor([1, 2]), torch.empty(3, 9)), r"pack_rows_into_: `out` must have shape \[2, 9\]"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(RuntimeError, match=match):
        call(torch.randn(50, 9))


def test_opcheck():
    src, idx, vals = cases()
    torch.library.opcheck(torch.ops.gnnpart.pack_rows, (src, idx))
    torch.library.opcheck(torch.ops.gnnpart.pack_rows_into_, (src, idx, torch.empty(7, 9)))
    torch.library.opcheck(torch.ops.gnnpart.unpack_rows_, (src.clone(), torch.arange(7) * 2, vals))
    torch.library.opcheck(torch.ops.gnnpart.scatter_add_rows_, (src.clone(), idx, vals))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the device machine)")
def test_cuda_matches_cpu():
    src, idx, vals = cases()
    dev = torch.device("cuda")
    assert torch.equal(rows.pack_rows(src.to(dev), idx.to(dev)).cpu(), rows.pack_rows(src, idx))
    torch.testing.assert_close(rows.scatter_add_rows_(src.to(dev), idx.to(dev), vals.to(dev)).cpu(),
                               rows.scatter_add_rows_reference(src, idx, vals))
