"""The halo exchange overlapped with the inner-source aggregation (gnnpart/nn/overlap.py): the same bits as the
blocking exchange, forward and backward, under exact and lossy policies; and its time accounting."""
import numpy as np
import pytest
import torch

from gnnpart import load
from gnnpart.nn.kernels import spmm_sum, spmm_sum_add_
from gnnpart.nn.overlap import inner_first
from tests.mpi import npz_runs
from tests.workers.overlap_worker import MODELS, SPECS

SPEC = "synthetic:nodes=900,degree=7,classes=4,features=10,seed=5"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return npz_runs(load(SPEC), tmp_path_factory, "overlap_worker.py", timeout=400)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("model", MODELS)
def test_overlap_gives_the_same_bits(runs, model, spec):
    got = runs(3)
    on, off = f"{model}/{spec}/on", f"{model}/{spec}/off"
    assert np.array_equal(got[f"{on}/loss"], got[f"{off}/loss"]), (got[f"{on}/loss"], got[f"{off}/loss"])
    weights = [k[len(on) + len("/weight/"):] for k in got if k.startswith(f"{on}/weight/")]
    assert weights
    for name in weights:
        assert np.array_equal(got[f"{on}/weight/{name}"], got[f"{off}/weight/{name}"]), f"{model} {spec}: {name}"
    # training moved the weights: the comparison covers the backward pass
    assert np.isfinite(got[f"{on}/loss"]).all() and got[f"{on}/loss"][0] != got[f"{on}/loss"][-1]


@pytest.mark.parametrize("model", MODELS)
def test_exposed_halo_time_is_part_of_the_span(runs, model):
    got = runs(3)
    span, exposed = got[f"{model}/exact/on/halo_s"], got[f"{model}/exact/on/halo_wait_s"]
    assert (span > 0).all() and (exposed > 0).all()
    assert (exposed < span).all(), (exposed, span)  # the inner-source product ran inside the span
    blocking_span, blocking_exposed = got[f"{model}/exact/off/halo_s"], got[f"{model}/exact/off/halo_wait_s"]
    assert np.array_equal(blocking_span, blocking_exposed)  # a blocking exchange is exposed all along


def _random_part(rng, rows, num_local, num_inner, degree):
    deg = rng.integers(0, degree, rows)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    indices = rng.integers(0, num_local, indptr[-1]).astype(np.int64)
    return indptr, indices


@pytest.mark.parametrize("seed", range(4))
def test_inner_first_keeps_each_rows_edges_in_order(seed):
    rng = np.random.default_rng(seed)
    indptr, indices = _random_part(rng, 40, 70, 40, 9)
    order, split = inner_first(indptr, indices, 40)
    new = indices if order is None else indices[order]
    for r in range(40):
        old_row, new_row = indices[indptr[r]:indptr[r + 1]], new[indptr[r]:indptr[r + 1]]
        want = np.concatenate([old_row[old_row < 40], old_row[old_row >= 40]])
        assert np.array_equal(new_row, want)
        assert split[r] == indptr[r] + (old_row < 40).sum()
    # the same sums up to rounding, and in inner-then-halo order the two-step sum is the same bits as one call
    x = torch.randn(70, 33, dtype=torch.float64)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    whole = spmm_sum(t(indptr), t(new), x)
    torch.testing.assert_close(whole, spmm_sum(t(indptr), t(indices), x))
    two_steps = torch.zeros(40, 33, dtype=torch.float64)
    spmm_sum_add_(two_steps, t(indptr[:-1]), t(split), t(new), x[:40])
    spmm_sum_add_(two_steps, t(split), t(indptr[1:]), t(new), x[40:], 40)
    assert torch.equal(two_steps, whole)


def test_inner_first_of_an_inner_first_csr_is_no_reorder():
    indptr = np.array([0, 2, 3, 3], dtype=np.int64)
    indices = np.array([0, 5, 1], dtype=np.int64)
    order, split = inner_first(indptr, indices, 3)
    assert order is None and split.tolist() == [1, 3, 3]
