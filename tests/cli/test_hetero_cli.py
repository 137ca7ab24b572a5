"""The command line on a typed graph: partition, train --model rgcn with a checkpoint, predict one type's rows in its
own order (on another partition too), and the refusals."""
import numpy as np

from gnnpart import load, read_meta
from tests.mpi import gnnpart_cli

SPEC = "synthetic:hetero=mag,nodes=1200,features=8,classes=4,seed=6"


def test_rgcn_trains_checkpoints_and_predicts_per_type(tmp_path):
    for k in (1, 2):
        proc = gnnpart_cli("partition", SPEC, "-k", k, "--out", tmp_path / f"p{k}")
        assert proc.returncode == 0, proc.stderr
    ck = tmp_path / "ck"
    proc = gnnpart_cli("train", tmp_path / "p2", "--model", "rgcn", "--hidden", "16", "--num-bases", "2", "--epochs",
                       "3", "--checkpoint", ck, "-n", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "training rgcn" in proc.stdout and "done: best val accuracy" in proc.stdout
    counts = dict(zip(read_meta(tmp_path / "p2")["node_types"], read_meta(tmp_path / "p2")["num_nodes_by_type"]))
    outs = {}
    for k in (1, 2):
        out = tmp_path / f"paper{k}.npy"
        proc = gnnpart_cli("predict", tmp_path / f"p{k}", "--checkpoint", ck, "--out", out, "-n", k, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert f"wrote outputs of {counts['paper']:,} nodes of type 'paper'" in proc.stdout
        outs[k] = np.load(out)
    assert outs[2].shape == (counts["paper"], 4)
    np.testing.assert_allclose(outs[1], outs[2], rtol=1e-5, atol=1e-5)  # any partition: embeddings by global id
    emb = tmp_path / "field.npy"
    proc = gnnpart_cli("predict", tmp_path / "p2", "--checkpoint", ck, "--out", emb, "--embeddings", "0",
                       "--node-type", "field", "-n", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert np.load(emb).shape == (counts["field"], 16)
    proc = gnnpart_cli("predict", tmp_path / "p2", "--checkpoint", ck, "--out", tmp_path / "x.npy", "--node-type",
                       "field", "-n", "2")
    assert proc.returncode != 0
    assert "the outputs of node type 'field' mean nothing" in proc.stderr and not (tmp_path / "x.npy").exists()
    proc = gnnpart_cli("predict", tmp_path / "p2", "--checkpoint", ck, "--out", tmp_path / "x.npy", "--node-type",
                       "venue", "--embeddings", "0", "-n", "2")
    assert proc.returncode != 0 and "--node-type must be one of paper, author, institution, field" in proc.stderr


def test_halo_policies_apply_to_typed_graphs_unchanged(tmp_path):
    proc = gnnpart_cli("partition", SPEC, "-k", "2", "--out", tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    ratios = {}
    for halo in ("exact", "fp16"):
        proc = gnnpart_cli("train", tmp_path / "p", "--model", "rgcn", "--hidden", "16", "--epochs", "2", "--halo",
                           halo, "-n", "2", timeout=300)
        assert proc.returncode == 0, proc.stderr
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("halo traffic")][0]
        ratios[halo] = float(line.split("MiB per epoch, ")[1].split("x exact")[0])
    assert ratios["exact"] == 1.0 and 0.5 <= ratios["fp16"] < 0.6  # half the bytes, and a scale per row


def test_rgcn_on_an_untyped_partition_is_refused(tmp_path):
    graph = load("synthetic:nodes=500,features=8,classes=3")
    from gnnpart import partition_graph

    partition_graph(graph, 1, tmp_path / "p")
    proc = gnnpart_cli("train", tmp_path / "p", "--model", "rgcn", "--epochs", "1")
    assert proc.returncode != 0
    assert "the R-GCN model needs a typed graph (node and edge types)" in proc.stderr
    assert "Traceback" not in proc.stderr
