"""Inference without a Trainer: a checkpoint's model rebuilt on a Rank of any partition of its graph, labelled or
not (no optimizer, no gradient all-reduce, no training-node count), and its refusals, one line each."""
import numpy as np
import pytest
import torch

from gnnpart import partition_graph
from gnnpart.comm import Communicator
from gnnpart.data import Graph
from gnnpart.infer import TrainedModel, predict
from gnnpart.nn import build_model
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions

SETTINGS = {"model": "sage", "hidden": 16, "layers": 2, "heads": 8, "norm": None, "jk": None, "residual": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A GraphSAGE trained 5 epochs on a labelled graph, checkpointed with its settings; and the same graph
    without any label."""
    from tests.conftest import odd_graph

    base = tmp_path_factory.mktemp("infer")
    graph = odd_graph()
    partition_graph(graph, 1, base / "labelled")
    unlabelled = Graph(graph.indptr, graph.indices, graph.x, np.full(graph.num_nodes, -1), None, None, None,
                       name=graph.name)
    partition_graph(unlabelled, 1, base / "unlabelled")
    rank = Rank.open(base / "labelled", Communicator(), normalize_features=True)
    torch.manual_seed(0)
    model = build_model("sage", rank.x.shape[1], 16, rank.meta["num_outputs"], 2, 0.5, 0.0)
    trainer = Trainer(model, rank, options=TrainOptions(eval_every=2), halo="int8", settings=SETTINGS)
    trainer.fit(5)  # restores the best-validation weights
    trainer.save_checkpoint(base / "ck")
    return base, trainer.predict(probabilities=True), trainer


def test_a_partition_without_labels_predicts_what_the_trainer_predicted(trained):
    base, expected, _ = trained
    model = TrainedModel.load(base / "ck")
    assert model.rank_options() == {"dtype": torch.float32, "normalize_features": True}
    with Rank.open(base / "unlabelled", Communicator(), **model.rank_options()) as rank:
        assert int((rank.y >= 0).sum()) == 0 and not rank.masks["train"].any()  # no label, no split at all
        net = model.build(rank)
        assert not net.training
        rows = predict(net, rank, task=model.task, probabilities=True)
        out = predict(net, rank, base / "pred.npy", task=model.task, probabilities=True)
    torch.testing.assert_close(rows, expected, rtol=0, atol=1e-6)
    written = np.load(out)
    np.testing.assert_allclose(written[rank.inner_ids], rows.numpy(), rtol=0, atol=0)


def test_the_last_weights_differ_from_the_best_ones(trained):
    base, _, trainer = trained
    model = TrainedModel.load(base / "ck")
    with Rank.open(base / "labelled", Communicator(), **model.rank_options()) as rank:
        last = model.build(rank, weights="last")
        state = last.state_dict()
        key = next(k for k in state if k.endswith("weight"))
        assert torch.equal(state[key], torch.load(base / "ck" / "checkpoint.pt", weights_only=True)["model"][key])
        with pytest.raises(ValueError, match=r"`weights` must be best or last \(got 'first'\)"):
            model.build(rank, weights="first")


def test_inference_refusals_are_one_line(trained, tmp_path):
    base, _, _ = trained
    model = TrainedModel.load(base / "ck")
    with Rank.open(base / "labelled", Communicator(), **model.rank_options()) as rank:
        with pytest.raises(ValueError, match=r"`hidden` 32 contradicts checkpoint .*checkpoint.pt, which was trained "
                                             r"with hidden = 16: leave `hidden` out"):
            model.build(rank, given={"hidden": 32})
    with Rank.open(base / "labelled", Communicator()) as plain:  # not the checkpoint's feature normalisation
        with pytest.raises(ValueError, match=r"normalize_features = True; the rank has float32 and False: open it "
                                             r"with TrainedModel.rank_options\(\)"):
            model.build(plain)
    from tests.conftest import odd_graph

    other = odd_graph()
    other.name = "other"
    partition_graph(other, 1, tmp_path / "other")
    with Rank.open(tmp_path / "other", Communicator(), **model.rank_options()) as rank:
        with pytest.raises(ValueError, match=r"was trained on odd \(60 nodes\), not on this partition's other"):
            model.build(rank)
    bare = tmp_path / "bare"
    from gnnpart.checkpoint import save_checkpoint

    save_checkpoint(bare, {"model": {}, "optimizer": {}, "epoch": 0, "best": {}, "rng": torch.get_rng_state()})
    with pytest.raises(ValueError, match=r"holds no model settings .* gnnpart.infer.predict"):
        TrainedModel.load(bare)
