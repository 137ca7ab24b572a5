"""A rank that asked MPI to abort exits by itself after a bound, whatever the abort does (``MPI_Abort`` may block
when it cannot reach the launcher or another host: a link down)."""
import subprocess
import sys

from tests.mpi import ROOT

BLOCKING_ABORT = """
import threading
from gnnpart.processes import abort_job

def blocking_abort(code):
    print("abort called, blocking", flush=True)
    threading.Event().wait()

abort_job("gnnpart: rank 3 on node2: the test's line", blocking_abort, grace=0.1, bound={bound})
print("abort returned", flush=True)
"""


def test_a_rank_whose_abort_blocks_exits_after_the_bound():
    """The abort never returns; the process ends anyway, with status 1 (a hang fails by the timeout)."""
    proc = subprocess.run([sys.executable, "-c", BLOCKING_ABORT.format(bound=1.0)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 1, proc
    assert proc.stderr.splitlines()[-1] == "gnnpart: rank 3 on node2: the test's line"
    assert proc.stdout.splitlines() == ["abort called, blocking"], proc.stdout


def test_the_default_bound_keeps_a_lost_host_under_30_seconds():
    """15 s of silence, one report interval (3 s), the grace before the abort and the bound: under 30 s."""
    from gnnpart.processes import ABORT_BOUND_S, ABORT_GRACE_S
    from gnnpart.train.watchdog import PEER_SILENCE_S

    assert PEER_SILENCE_S + 3 + ABORT_GRACE_S + ABORT_BOUND_S < 30
