"""The halo exchange, all-reduce and broadcast on 1, 2, 3 and 4 MPI ranks."""
import pytest

from gnnpart import partition_graph
from tests.mpi import json_lines, run_mpi


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_halo_exchange_on_n_ranks(cora, tmp_path, n):
    partition_graph(cora, n, tmp_path / "p")
    proc = run_mpi(n, "halo_worker.py", tmp_path / "p")
    lines = json_lines(proc.stdout)
    assert sorted(r["rank"] for r in lines) == list(range(n))
    assert all(r["ok"] and r["size"] == n for r in lines)
    if n > 1:
        assert all(r["halo"] > 0 for r in lines)
