"""The exact halo exchange, all-reduce and broadcast on 1, 2, 3 and 4 MPI ranks (checks in
tests/workers/halo_worker.py, each reported on its own)."""
import pytest

from tests.mpi import assert_check_passed, named_check_runs

CHECKS = ["forward rows", "backward rows", "async rows", "bytes sent", "broadcast and all-reduce", "halo present"]
RANKS = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def runs(cora, tmp_path_factory):
    return named_check_runs(cora, tmp_path_factory, "halo_worker.py", sizes=RANKS)


@pytest.mark.parametrize("n", RANKS)
def test_every_check_ran(runs, n):
    assert sorted(runs(n)) == sorted(CHECKS)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("n", RANKS)
def test_check(runs, n, check):
    assert_check_passed(runs, n, check)
