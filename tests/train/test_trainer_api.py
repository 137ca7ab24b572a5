"""The Trainer's API on one rank: the layer contract, mode, learned gates and optimizers, callbacks, early
stopping, the loss function (multi-rank behaviour is in the *_mpi tests)."""
import json

import pytest
import torch
from torch import nn
from torch_geometric import nn as pyg

from gnnpart import partition_graph
from gnnpart.comm import Communicator
from gnnpart.errors import ConfigError
from gnnpart.nn import GCN, GraphSAGE, HaloConv, HaloLayer, attach_halo_gates, convert_sync_norm
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.train.callbacks import Callback, EarlyStopping, MetricsFile


@pytest.fixture(scope="module")
def part_dir(cora, tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "cora1"
    partition_graph(cora, 1, out)
    return out


@pytest.fixture(scope="module")
def rank(part_dir):
    return Rank.open(part_dir, Communicator())


@pytest.fixture(scope="module")
def normed(part_dir):
    """The same part with each feature row divided by its sum."""
    return Rank.open(part_dir, Communicator(), normalize_features=True)


def gcn(rank, **kwargs):
    torch.manual_seed(0)
    return GCN(rank.x.shape[1], 16, 2, 7, **kwargs)


def test_pyg_argument_order():
    model = GraphSAGE(1433, 32, 3, 7)  # (in_channels, hidden_channels, num_layers, out_channels) as in PyG
    assert [c.out_channels for c in model.convs] == [32, 32, 7] and model.num_layers == 3
    assert GraphSAGE(1433, 32, 2).out_channels == 32  # out_channels defaults to hidden_channels, as in PyG
    with pytest.raises(ValueError, match=r"`jk` must be one of last, cat, max or None \(got 'lstm'\)"):
        GCN(10, 16, 2, 3, jk="lstm")
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\) \(got 1.5\)"):
        GCN(10, 16, 2, 3, dropout=1.5)


def test_a_model_without_halo_layers_is_refused(rank):
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1433, 7)

        def forward(self, x, graph):
            return self.lin(x)

    with pytest.raises(TypeError, match=r"Plain has no HaloLayer: .* Wrap PyG convs with gnnpart.nn.HaloConv"):
        Trainer(Plain(), rank)
    model = gcn(rank)
    model.convs[1].layer_id = 5
    with pytest.raises(ValueError, match=r"`layer_id`s of the HaloLayers of GCN must be 0..1, each once, or all None"):
        Trainer(model, rank)


def test_halo_needs_the_calling_layer(rank):
    trainer = Trainer(gcn(rank), rank)
    with pytest.raises(TypeError, match=r"graph.halo\(x, layer\) needs the calling HaloLayer"):
        trainer.graph.halo(trainer.x, 0)
    loose = HaloConv(pyg.SAGEConv(1433, 4))
    with pytest.raises(ValueError, match=r"HaloConv has no `layer_id`"):
        loose(trainer.x, trainer.graph)


def test_model_eval_disables_dropout_outside_the_trainer(rank):
    model = gcn(rank, dropout=0.5, input_dropout=0.5)
    trainer = Trainer(model, rank)
    model.eval()
    a, b = model(trainer.x, trainer.graph), model(trainer.x, trainer.graph)
    trainer.graph.epoch = 7  # another epoch's masks would differ, if any were drawn
    assert torch.equal(a, b) and torch.equal(a, model(trainer.x, trainer.graph))
    model.train()
    c, d = model(trainer.x, trainer.graph), None
    trainer.graph.epoch = 8
    d = model(trainer.x, trainer.graph)
    assert not torch.equal(c, a) and not torch.equal(c, d)  # training draws masks, per epoch


def test_learned_gates_with_a_user_optimizer(rank):
    model = gcn(rank)
    late = torch.optim.Adam(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match=r"`halo` has learned gates, but the model has none: call "
                                         r"gnnpart.nn.attach_halo_gates\(model, halo\) before building the optimizer"):
        Trainer(model, rank, optimizer=late, halo="learned:0.1")
    attach_halo_gates(model, "learned:0.1")
    with pytest.raises(ValueError, match=r"the optimizer does not hold model.halo_gates \(gates.0, gates.1\)"):
        Trainer(model, rank, optimizer=late, halo="learned:0.1")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)  # built after the gates: it holds them
    trainer = Trainer(model, rank, optimizer=optimizer, halo="learned:0.1")
    before = model.halo_gates.gates["0"].detach().clone()
    trainer.fit(3)
    assert not torch.equal(model.halo_gates.gates["0"].detach(), before)  # the optimizer steps the gates


def test_the_default_optimizer_holds_the_gates(rank):
    model = gcn(rank)
    trainer = Trainer(model, rank, halo="learned:0.1")
    held = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in held for p in model.halo_gates.parameters())


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_fit_start(self, trainer):
        self.events.append("start")

    def on_epoch_end(self, trainer, record):
        self.events.append(record.epoch)

    def on_fit_end(self, trainer, summary):
        self.events.append(("end", summary.epochs, summary.stopped_early))


def test_callbacks_metrics_and_early_stopping(rank, tmp_path):
    recorder = Recorder()
    metrics = tmp_path / "m.jsonl"
    # lr 0: nothing improves after the first evaluation, so patience 3 stops at epoch 4
    trainer = Trainer(gcn(rank), rank, options=TrainOptions(lr=0.0),
                      callbacks=[MetricsFile(metrics), EarlyStopping(3), recorder])
    history = trainer.fit(50)
    assert len(history) == 4 and trainer.best.epoch == 1
    assert recorder.events == ["start", 1, 2, 3, 4, ("end", 4, True)]
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [line["epoch"] for line in lines[:-1]] == [1, 2, 3, 4]
    assert lines[-1]["final"] is True and lines[-1]["stopped_early"] is True and lines[-1]["best_epoch"] == 1


def test_train_step_returns_the_loss_and_loss_fn_is_used(rank):
    calls = []

    def half_loss(out, target):
        calls.append(out.shape[0])
        return 0.5 * torch.nn.functional.cross_entropy(out, target, reduction="sum")

    plain = Trainer(gcn(rank), rank)
    halved = Trainer(gcn(rank), rank, loss_fn=half_loss)
    a, b = plain.train_step(), halved.train_step()
    assert isinstance(a, float) and b == pytest.approx(a / 2, rel=1e-6)
    assert calls == [int(rank.part.train_mask.sum())]
    assert plain.last_step["halo_bytes"] == 0  # one rank: nothing to exchange


class Custom(nn.Module):
    """A user's model of a custom HaloLayer: a mean of neighbours, then a linear map."""

    def __init__(self):
        super().__init__()
        self.layer = MeanLayer(1433)
        self.lin = nn.Linear(1433, 7)

    def forward(self, x, graph):
        return self.lin(self.layer(x, graph))


class MeanLayer(HaloLayer):
    def __init__(self, width):
        super().__init__()
        self.width = width

    @property
    def exchange_width(self):
        return self.width

    def forward(self, x, graph):
        local = graph.halo(x, self)
        deg = graph.in_degree[: graph.num_inner].clamp(min=1).unsqueeze(1).to(x.dtype)
        return graph.aggregate(local) / deg


def test_a_custom_halo_layer_trains(normed):
    torch.manual_seed(0)
    trainer = Trainer(Custom(), normed, options=TrainOptions(lr=0.05, eval_every=10))
    history = trainer.fit(30)
    assert trainer.layers[0].layer_id == 0
    assert history[-1].loss < history[0].loss and trainer.best.val_acc > 0.5


def test_policies_reach_a_users_layers_by_layer_id(rank):
    from gnnpart.comm import HaloPolicy

    torch.manual_seed(0)
    model = nn.ModuleDict({"a": HaloConv(pyg.SAGEConv(1433, 8)), "b": HaloConv(pyg.GraphConv(8, 7))})
    model.forward = lambda x, graph: model["b"](torch.relu(model["a"](x, graph)), graph)
    trainer = Trainer(model, rank, halo="sample:0.5+int8,topk:0.5")
    first, second = trainer.layers
    assert (first.layer_id, second.layer_id) == (0, 1)
    model.train()
    assert trainer.graph._exchange_for(first).policy == HaloPolicy(sample=0.5, encoding="int8")
    assert trainer.graph._exchange_for(second).policy == HaloPolicy(topk=0.5)
    model.eval()
    assert trainer.graph._exchange_for(first).policy.is_exact  # evaluation exchanges exactly
    trainer.fit(2)
    assert set(trainer.history[-1].halo_bytes_by_layer) == {"0", "1"}


def test_checkpoint_state_records_what_inference_needs(normed):
    from gnnpart.comm import HaloPolicy

    trainer = Trainer(gcn(normed), normed, halo=HaloPolicy(encoding="fp16"))
    inference = trainer.state_dict()["inference"]
    assert inference == {"task": "multiclass", "num_features": 1433, "num_outputs": 7, "normalize_features": True,
                         "halo": ["fp16", "fp16"], "dtype": "float32"}
    metrics = trainer.evaluate()
    assert set(metrics) == {"train", "val", "test"} and set(metrics["val"]) == {"accuracy", "macro_f1"}
    assert 0 <= metrics["val"]["accuracy"] <= 1


def test_resume_with_other_feature_normalisation_is_refused(rank, normed, tmp_path):
    Trainer(gcn(normed), normed).save_checkpoint(tmp_path)
    with pytest.raises(ValueError, match=r"was trained with normalize_features = True; this run has "
                                         r"normalize_features = False"):
        Trainer(gcn(rank), rank).load_checkpoint(tmp_path)
    Trainer(gcn(normed), normed).load_checkpoint(tmp_path)  # the same: accepted


def test_the_trainer_takes_a_model_and_a_rank_and_few_parameters():
    import inspect

    params = inspect.signature(Trainer.__init__).parameters
    assert list(params)[1:3] == ["model", "rank"] and len(params) - 1 <= 10
    with pytest.raises(ValueError, match=r"`eval_every` must be an integer >= 1 \(got 0\)"):
        TrainOptions(eval_every=0)
    with pytest.raises(ValueError, match=r"`lr` must be a finite number >= 0 \(got nan\)"):
        TrainOptions(lr=float("nan"))
    with pytest.raises(ValueError, match=r"`watchdog` must be a finite number > 0 \(got inf\)"):
        TrainOptions(watchdog=float("inf"))
    with pytest.raises(TypeError, match=r"`options` must be a gnnpart.train.TrainOptions \(got dict\)"):
        Trainer(gcn_model(), None, options={"lr": 0.1})


def gcn_model():
    torch.manual_seed(0)
    return GCN(1433, 16, 2, 7)


def test_a_rank_serves_one_model_after_another(rank):
    """A rank's graph caches a layer's aggregation of the constant input; a new Trainer starts it afresh, so a
    second model trained on the same rank gives what it gives on a rank of its own."""
    first = Trainer(gcn(rank), rank, options=TrainOptions(eval_every=100))
    first.fit(3)
    again = Trainer(gcn(rank), rank, options=TrainOptions(eval_every=100)).fit(3)
    fresh_rank = Rank.from_partition(rank.part, rank.comm)
    fresh = Trainer(gcn(fresh_rank), fresh_rank, options=TrainOptions(eval_every=100)).fit(3)
    assert [r.loss for r in again] == [r.loss for r in fresh] == [r.loss for r in first.history]


def test_reset_parameters_gives_a_fresh_model():
    from gnnpart.nn import GAT, GIN, SyncBatchNorm

    for model in (GCN(20, 8, 2, 3, norm="batch", jk="cat"), GraphSAGE(20, 8, 2, 3), GIN(20, 8, 2, 3),
                  GAT(20, 8, 2, 3, heads=2)):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.25)
        for m in model.modules():
            if isinstance(m, SyncBatchNorm):
                m.running_mean.fill_(3.0)
        model.reset_parameters()
        for name, p in model.named_parameters():
            assert not torch.all(p == 0.25), f"{type(model).__name__}.{name} was not reset"
        assert all(torch.all(m.running_mean == 0) for m in model.modules() if isinstance(m, SyncBatchNorm))


def test_init_conv_is_told_which_layer_is_last():
    from gnnpart.nn import DistGCNConv

    seen = []

    class Recording(GCN):
        def init_conv(self, in_channels, out_channels, last=False, **kwargs):
            seen.append((in_channels, out_channels, last))
            return DistGCNConv(in_channels, out_channels)

    model = Recording(10, 8, 3, 2)
    assert seen == [(10, 8, False), (8, 8, False), (8, 2, True)] and not hasattr(model, "_building_last")


def test_a_trainer_takes_its_rank_back_after_another_model_used_it(rank):
    """Two trainers on one rank: the second starts the graph afresh; the first, called again, takes it back with its
    own policies and learned gates, and evaluates as it did before."""
    first = Trainer(gcn(rank), rank, halo="learned:0.1", options=TrainOptions(eval_every=100))
    first.fit(2, restore_best=False)
    before = first.evaluate()
    second = Trainer(gcn(rank), rank, halo="int8", options=TrainOptions(eval_every=100))
    assert rank.graph.owner is second and rank.graph.gates is None
    second.fit(1)
    assert first.evaluate() == before and rank.graph.owner is first and rank.graph.gates is first.model.halo_gates


def test_gat_widths_are_checked_before_any_rank(capsys, part_dir):
    from tests.mpi import gnnpart_main

    code, _, err = gnnpart_main(capsys, "train", part_dir, "--model", "gat", "--hidden", "10", "--heads", "8")
    assert code == 1 and "--hidden must be a multiple of --heads for gat (got --hidden 10, --heads 8)" in err, err


def test_a_norm_over_one_ranks_rows_is_refused_before_training(rank):
    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = HaloConv(pyg.GraphConv(rank.x.shape[1], 16))
            self.norm = nn.BatchNorm1d(16)
            self.conv2 = HaloConv(pyg.GraphConv(16, 7))

        def forward(self, x, graph):
            return self.conv2(torch.relu(self.norm(self.conv1(x, graph))), graph)

    with pytest.raises(ConfigError, match=r"the model's `norm`: BatchNorm1d takes its statistics over the rows of "
                                          r"this rank alone; call gnnpart.nn.convert_sync_norm\(model\) first"):
        Trainer(Normed(), rank)
    model = convert_sync_norm(Normed())
    trainer = Trainer(model, rank, options=TrainOptions(eval_every=1000))
    assert model.norm.comm is rank.comm  # bound by the trainer
    losses = [r.loss for r in trainer.fit(3, restore_best=False)]
    assert losses[-1] < losses[0]


def test_a_multi_hop_conv_takes_only_the_exact_policy(normed):
    class Hops(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = HaloConv(pyg.GraphConv(normed.x.shape[1], 16))
            self.conv2 = HaloConv(pyg.SGConv(16, 7, K=2))

        def forward(self, x, graph):
            return self.conv2(torch.relu(self.conv1(x, graph)), graph)

    trainer = Trainer(Hops(), normed, halo="exact,int8", options=TrainOptions(eval_every=1000))
    with pytest.raises(ValueError, match=r"HaloConv\(SGConv\) exchanges once per hop, which only the exact halo "
                                         r"exchange does: give its layer \(1\) the exact policy"):
        trainer.fit(1)
    losses = [r.loss for r in Trainer(Hops(), normed, options=TrainOptions(eval_every=1000)).fit(3, restore_best=False)]
    assert losses[-1] < losses[0]
