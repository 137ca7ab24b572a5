"""Mini-batch training from the command line and the Python API: train, checkpoint, resume (the losses of an
uninterrupted run), predict; what it refuses, one line each; a batch larger than the training set."""
import json
import re

import numpy as np
import pytest
import torch

from gnnpart import load, partition_graph
from gnnpart.nn import HaloConv, build_model
from gnnpart.nn.models import BasicGNN
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from tests.mpi import gnnpart_cli, gnnpart_main
from tests.test_reliability import gnnpart_lines

SPEC = "synthetic:nodes=1200,degree=6,classes=4,features=10,seed=8"
FLAGS = ["--model", "sage", "--hidden", "16", "--batch-size", "128", "--fanouts", "5,3", "--seed", "3"]


def one_line(err: str) -> str:
    lines = gnnpart_lines(err)
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    base = tmp_path_factory.mktemp("mbcli")
    graph = load(SPEC)
    for k in (1, 2, 3):
        partition_graph(graph, k, base / f"p{k}")
    return base


def _losses(path):
    return [json.loads(line)["loss"] for line in path.read_text().splitlines() if '"epoch"' in line]


def test_train_checkpoint_resume_elsewhere_and_predict(parts, tmp_path):
    """4 epochs straight on 2 ranks; 2 epochs on 2 ranks, then --resume to 4 on 3 ranks (another partition): the
    same losses; predict writes every node's outputs from the checkpoint, the same on any partition."""
    straight = tmp_path / "straight.jsonl"
    proc = gnnpart_cli("train", parts / "p2", *FLAGS, "--epochs", "4", "--metrics", straight, "-n", "2")
    assert proc.returncode == 0, proc.stderr
    assert "steps (sampling" in proc.stdout and "fetch_bytes" in proc.stdout
    ck, resumed = tmp_path / "ck", tmp_path / "resumed.jsonl"
    proc = gnnpart_cli("train", parts / "p2", *FLAGS, "--epochs", "2", "--metrics", resumed, "--checkpoint", ck,
                       "-n", "2")
    assert proc.returncode == 0, proc.stderr
    proc = gnnpart_cli("train", parts / "p3", *FLAGS, "--epochs", "4", "--metrics", resumed, "--checkpoint", ck,
                       "--resume", "-n", "3")
    assert proc.returncode == 0, proc.stderr
    assert "resumed from" in proc.stdout
    np.testing.assert_allclose(_losses(resumed), _losses(straight), rtol=2e-5)
    assert len(_losses(straight)) == 4 and _losses(straight)[-1] < _losses(straight)[0]
    outs = {}
    for k in (1, 2):
        out = tmp_path / f"out{k}.npy"
        proc = gnnpart_cli("predict", parts / f"p{k}", "--checkpoint", ck, "--out", out, "-n", str(k))
        assert proc.returncode == 0, proc.stderr
        outs[k] = np.load(out)
    assert outs[1].shape == (1200, 4)
    np.testing.assert_allclose(outs[1], outs[2], rtol=1e-5, atol=1e-5)


def test_a_config_file_takes_the_same_keys(parts, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"batch_size": 128, "fanouts": "5,3", "epochs": 1, "hidden": 16}))
    proc = gnnpart_cli("train", parts / "p1", "--config", config)
    assert proc.returncode == 0, proc.stderr
    assert "steps (sampling" in proc.stdout


REFUSED = [
    ("fanouts without a batch size", ["--fanouts", "5,3"], "--fanouts needs --batch-size"),
    ("a batch size without fanouts", ["--batch-size", "64"], "--batch-size needs --fanouts"),
    ("a fanout per layer", ["--batch-size", "64", "--fanouts", "5"], "--fanouts must give one fanout per layer "
                                                                     "(--layers 2) (got 1: 5)"),
    ("a zero fanout", ["--batch-size", "64", "--fanouts", "5,0"], "--fanouts must be integers >= 1"),
    ("a word for a fanout", ["--batch-size", "64", "--fanouts", "5,x"], "--fanouts must be integers >= 1"),
    ("a zero batch", ["--batch-size", "0", "--fanouts", "5,3"], "--batch-size must be >= 1 (got 0)"),
    ("a halo policy", ["--batch-size", "64", "--fanouts", "5,3", "--halo", "int8"], "--halo int8 cannot train "
                                                                                     "mini-batch"),
    ("pre-aggregation", ["--batch-size", "64", "--fanouts", "5,3", "--aggregate-at", "auto"],
     "--aggregate-at auto cannot train mini-batch"),
    ("batch norm", ["--batch-size", "64", "--fanouts", "5,3", "--norm", "batch"], "--norm batch cannot train"),
    ("jumping knowledge", ["--batch-size", "64", "--fanouts", "5,3", "--jk", "cat"], "--jk cat cannot train"),
    ("a typed graph's model", ["--batch-size", "64", "--fanouts", "5,3", "--model", "rgcn"],
     "--model rgcn cannot train mini-batch"),
]


@pytest.mark.parametrize("flags,message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_what_mini_batch_cannot_do_is_one_line_before_any_rank(capsys, parts, flags, message):
    code, _, err = gnnpart_main(capsys, "train", parts / "p2", "-n", "2", "--epochs", "1", *flags)
    assert code == 1 and message in one_line(err), err


class SquareForm(BasicGNN):
    """A conv that needs whole neighbourhoods (HaloConv runs AGNNConv on the square graph)."""

    def init_conv(self, in_channels, out_channels, last=False, **kwargs):
        from torch_geometric.nn import GraphConv

        if in_channels == out_channels:
            from torch_geometric.nn import AGNNConv

            return HaloConv(AGNNConv(), exchange_width=in_channels)
        return HaloConv(GraphConv(in_channels, out_channels))


def test_the_api_refuses_what_cannot_run_on_blocks(parts):
    rank = Rank.open(parts / "p1")
    options = TrainOptions(batch_size=64, fanouts=(5, 3))
    cases = [
        (build_model("sage", 10, 16, 4, 2, norm="batch"), "batch norm averages over every row of a layer"),
        (build_model("gcn", 10, 16, 4, 2, jk="max"), "jumping knowledge (jk='max')"),
        (SquareForm(10, 10, 2, 4), "HaloConv(AGNNConv) runs in the 'square' form, which needs each node's whole "
                                   "neighbourhood"),
        (build_model("sage", 10, 16, 4, 3), "`fanouts` must give one fanout per halo layer of the model (3)"),
    ]
    for model, message in cases:
        with pytest.raises(ValueError) as info:
            Trainer(model, rank, options=options)
        assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match="halo policies"):
        Trainer(build_model("sage", 10, 16, 4, 2), rank, options=options, halo="fp16")
    for kw, message in ((dict(batch_size=64), "`batch_size` needs `fanouts`"), (dict(fanouts=(2,)), "`fanouts` needs"),
                        (dict(batch_size=0, fanouts=(2,)), "`batch_size` must be an integer >= 1 (got 0)"),
                        (dict(batch_size=8, fanouts=(2, 0)), "`fanouts` must be integers >= 1")):
        with pytest.raises(ValueError, match=re.escape(message)):
            TrainOptions(**kw)


def test_a_batch_larger_than_the_training_set_is_one_batch_said_once(parts, caplog):
    rank = Rank.open(parts / "p1")
    torch.manual_seed(0)
    trainer = Trainer(build_model("sage", 10, 16, 4, 2), rank, options=TrainOptions(batch_size=10**6, fanouts=(3, 2)))
    history = trainer.fit(2, restore_best=False)
    assert [r.steps for r in history] == [1, 1]
    said = [r for r in caplog.records if "is larger than the" in r.getMessage()]
    assert len(said) == 1 and "every epoch is one batch" in said[0].getMessage()


def test_a_model_whose_layer_ignores_the_targets_is_named(parts):
    """A HaloLayer that declares runs_on_blocks but returns one row per source: the step names the layer."""
    from gnnpart.nn import HaloLayer

    class Wrong(HaloLayer):
        runs_on_blocks = True

        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(10, 4)

        @property
        def exchange_width(self):
            return 10

        def forward(self, x, graph):
            return self.lin(graph.halo(x, self))  # one row per source: wrong on a block

    rank = Rank.open(parts / "p1")
    trainer = Trainer(Wrong(), rank, options=TrainOptions(batch_size=64, fanouts=(3,)))
    with pytest.raises(ValueError, match=r"layer 0 \(Wrong\) returned \d+ rows; on a sampled batch it must return one "
                                         r"row per target of its block"):
        trainer.fit(1)
