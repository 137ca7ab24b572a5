"""The halo policies at the exchange, on 1 to 4 ranks (checks in tests/workers/policy_worker.py)."""
import pytest

from gnnpart import partition_graph
from tests.mpi import json_lines, run_mpi


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_policies_at_the_exchange(cora, tmp_path, n):
    partition_graph(cora, n, tmp_path / "p")
    proc = run_mpi(n, "policy_worker.py", "exchange", tmp_path / "p")
    assert json_lines(proc.stdout) == [{"ok": True, "ranks": n}]
