"""examples/appnp_cora.py (APPNP hop by hop with a batch norm made a SyncBatchNorm) gives the same training on 3
ranks as on one process, in float64, and learns Cora."""
import os
import re
import subprocess
import sys
from pathlib import Path

from gnnpart import partition_graph
from gnnpart.cli.launcher import mpiexec_command

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "appnp_cora.py"


def run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_the_appnp_example_is_exact_on_three_ranks(cora, tmp_path):
    for k in (1, 3):
        partition_graph(cora, k, tmp_path / f"p{k}")
    three = run(mpiexec_command(3, [str(EXAMPLE), str(tmp_path / "p3"), "30", "float64"]))
    one = run([sys.executable, str(EXAMPLE), str(tmp_path / "p1"), "30", "float64"])
    assert three.startswith("3 ranks, float64, 30 epochs") and one.startswith("1 ranks, float64, 30 epochs")
    assert three.split(",", 1)[1] == one.split(",", 1)[1], (three, one)
    assert float(re.search(r"test accuracy there ([0-9.]+)", one).group(1)) > 0.7
