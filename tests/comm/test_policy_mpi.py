"""The halo policies at the exchange, on 1 to 4 ranks (checks in tests/workers/policy_worker.py, each reported
on its own, so that one failing check does not hide the others)."""
import pytest

from tests.mpi import assert_check_passed, named_check_runs

CHECKS = ["exact rows and bytes", "sample:1 equals exact", "topk:1.0 equals exact", "delta:0 equals exact",
          "delta sends the moved rows", "fp16 within its bound", "bf16 within its bound", "int8 within its bound",
          "sample:0.5 backward is the adjoint", "topk:0.25 backward is the adjoint",
          "sample:0.3+topk:0.5 backward is the adjoint", "stale:1 uses last epoch's rows",
          "learned sends the kept channels", "async messages in flight"]
RANKS = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def runs(cora, tmp_path_factory):
    return named_check_runs(cora, tmp_path_factory, "policy_worker.py", "exchange", sizes=RANKS)


@pytest.mark.parametrize("n", RANKS)
def test_every_check_ran(runs, n):
    assert sorted(runs(n)) == sorted(CHECKS)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("n", RANKS)
def test_check(runs, n, check):
    assert_check_passed(runs, n, check)
