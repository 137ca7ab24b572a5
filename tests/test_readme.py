"""Every Python snippet of the README runs as written: the ones that use ranks on 4 MPI ranks (the partition they
open, `/tmp/cora-4`, has 4 parts), the others in one process. Two things are changed, so that the test neither
writes outside its temporary folder nor trains for minutes: `/tmp/` becomes the test's folder, and `fit(200)`
becomes `fit(5)`. The files the snippets read are made first, as the README's commands make them."""
import json
import os
import re
import subprocess
import sys

from gnnpart import load, partition_graph
from tests.mpi import ROOT, json_lines, run_mpi

README = ROOT / "README.md"


def python_blocks() -> list[dict]:
    text = README.read_text(encoding="utf-8")
    return [{"line": text[: m.start()].count("\n") + 1, "code": m.group(1)}
            for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def uses_ranks(code: str) -> bool:
    return "Communicator" in code


def test_the_readme_has_the_snippets_this_test_expects():
    blocks = python_blocks()
    assert len(blocks) >= 6 and sum(uses_ranks(b["code"]) for b in blocks) >= 4
    assert all("import" in b["code"] for b in blocks), "a snippet without its imports cannot run as written"


def test_every_python_snippet_runs(data_root, tmp_path):
    from gnnpart.cli.main import main

    folder = f"{tmp_path}/"
    # what the README's commands make before the snippets: the ML partition and checkpoint (smaller here)
    spec = "synthetic:nodes=2000,degree=6,classes=4,features=16,task=multilabel:8,seed=1"
    graph = load(spec)
    partition_graph(graph, 4, tmp_path / "ml-4", dataset=spec)
    partition_graph(graph, 1, tmp_path / "ml-1", dataset=spec)
    assert main(["-q", "train", str(tmp_path / "ml-1"), "--epochs", "2", "--checkpoint", str(tmp_path / "ml-ck")]) == 0
    blocks = [{**b, "code": b["code"].replace("/tmp/", folder).replace("fit(200)", "fit(5)")} for b in python_blocks()]
    alone = [b for b in blocks if not uses_ranks(b["code"])]
    together = [b for b in blocks if uses_ranks(b["code"])]
    env = {**os.environ, "GNNPART_DATA": str(data_root), "PYTHONPATH": str(ROOT)}
    for block in alone:  # the partitioning snippet writes cora-4, relative to where it runs: the test's folder
        done = subprocess.run([sys.executable, "-c", block["code"]], capture_output=True, text=True, cwd=tmp_path,
                              timeout=300, env=env)
        assert done.returncode == 0, f"README.md, the block at line {block['line']}:\n{done.stderr}"
    assert (tmp_path / "cora-4" / "meta.json").exists()
    (tmp_path / "blocks.json").write_text(json.dumps(together))
    proc = run_mpi(4, "readme_worker.py", tmp_path / "blocks.json", timeout=600)
    ran = [r["block"] for r in json_lines(proc.stdout) if "block" in r]
    assert ran == [b["line"] for b in together], proc.stdout
    assert (tmp_path / "cora-probabilities.npy").exists() and (tmp_path / "ml-pred.npy").exists()
