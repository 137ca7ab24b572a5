"""R-GCN: the built-in layer and model against PyG's RGCNConv on the whole graph, the typed input, the embeddings."""
import numpy as np
import pytest
import torch

from gnnpart import load, partition_graph
from gnnpart.nn import halo_layers
from gnnpart.nn.embedding import ShardedEmbedding, dense_parameters, hashed_uniform, sharded_parameters
from gnnpart.nn.models import build_model
from gnnpart.nn.rgcn import RGCN, DistRGCNConv
from gnnpart.rank import Rank

SPEC = "synthetic:hetero=mag,nodes=1500,features=12,classes=4,seed=4"


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    """The typed graph and its one-part rank (local ids are the global ids)."""
    graph = load(SPEC)
    out = tmp_path_factory.mktemp("rgcn") / "p"
    partition_graph(graph, 1, out)
    return graph, Rank.open(out)


def pyg_edges(graph):
    src, dst = graph.edges()
    return torch.stack([torch.from_numpy(src), torch.from_numpy(dst)]), torch.from_numpy(graph.edge_type)


@pytest.mark.parametrize("bases", [None, 3])
def test_layer_equals_pyg_rgcnconv(one_rank, bases):
    from torch_geometric.nn import RGCNConv

    graph, rank = one_rank
    torch.manual_seed(0)
    conv = DistRGCNConv(12, 8, graph.types.num_relations, num_bases=bases)
    ref = RGCNConv(12, 8, graph.types.num_relations, num_bases=bases)
    ref.load_state_dict(conv.state_dict())  # the same parameter names and shapes
    halo_layers(torch.nn.ModuleList([conv]))
    x = torch.randn(graph.num_nodes, 12, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    edge_index, edge_type = pyg_edges(graph)
    got, want = conv(x, rank.graph), ref(x_ref, edge_index, edge_type)
    assert (got - want).abs().max().item() <= 1e-5 * max(1.0, want.abs().max().item())
    # backward too (each relation's mean is recomputed there, not kept): the same gradients as PyG's
    probe = torch.randn_like(want)
    (got * probe).sum().backward()
    (want * probe).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-5)
    for name, p in conv.named_parameters():
        torch.testing.assert_close(p.grad, dict(ref.named_parameters())[name].grad, rtol=1e-4, atol=1e-5)


def test_model_equals_pyg_rgcnconv_stack(one_rank):
    from torch_geometric.nn import RGCNConv

    graph, rank = one_rank
    torch.manual_seed(1)
    model = RGCN(rank.graph, 16, 2, graph.num_classes, num_bases=2).eval()
    halo_layers(model)
    refs = []
    for conv in model.convs:
        ref = RGCNConv(16, conv.out_channels, graph.types.num_relations, num_bases=2)
        ref.load_state_dict(conv.state_dict())
        refs.append(ref)
    edge_index, edge_type = pyg_edges(graph)
    with torch.no_grad():
        got = model(rank.x, rank.graph)
        h = model.input(rank.x, rank.graph)  # each type's projection (or embedding), then PyG's layers
        want = refs[1](torch.relu(refs[0](h, edge_index, edge_type)), edge_index, edge_type)
    assert (got - want).abs().max().item() <= 1e-5 * max(1.0, want.abs().max().item())


def test_typed_input_projects_each_type_and_embeds_the_featureless(one_rank):
    graph, rank = one_rank
    torch.manual_seed(2)
    model = RGCN(rank.graph, 8, 1, 4)
    with torch.no_grad():
        h = model.input(rank.x, rank.graph)
    for t, (name, width) in enumerate(zip(graph.types.node_types, graph.types.widths)):
        rows = np.flatnonzero(graph.node_type == t)
        if width:
            want = model.input.lins[name](torch.from_numpy(graph.x[rows, :width]))
        else:
            want = model.input.embeddings[name].weight
        torch.testing.assert_close(h[torch.from_numpy(rows)], want.detach())
    assert {p.shape for p in sharded_parameters(model)} == {(40 * 1500 // 2000, 8), (270, 8)}
    shards = {id(p) for p in sharded_parameters(model)}
    assert all(id(p) not in shards for p in dense_parameters(model))


def test_embedding_rows_depend_on_the_global_id_only():
    ids = np.array([5, 17, 99, 3])
    whole = ShardedEmbedding(ids, 6, seed=3, stream=2).weight.detach()
    split = ShardedEmbedding(ids[[2, 0]], 6, seed=3, stream=2).weight.detach()
    torch.testing.assert_close(split, whole[[2, 0]])
    assert not torch.equal(ShardedEmbedding(ids, 6, seed=4, stream=2).weight, whole)
    values = hashed_uniform(np.arange(20000), 4, 0, 0)
    assert -1 <= values.min() and values.max() < 1 and abs(values.mean()) < 0.02


def test_sparse_gradients_touch_only_the_rows_used():
    emb = ShardedEmbedding(np.arange(10), 3)
    opt = torch.optim.SparseAdam([emb.weight], lr=0.1)
    before = emb.weight.detach().clone()
    emb()[[2, 7]].sum().backward()
    assert emb.weight.grad.is_sparse
    opt.step()
    changed = (emb.weight.detach() != before).any(dim=1)
    assert changed.tolist() == [i in (2, 7) for i in range(10)]


def test_untyped_graph_and_bad_arguments_are_refused(tmp_path, cora):
    partition_graph(cora, 1, tmp_path / "p")
    rank = Rank.open(tmp_path / "p")
    with pytest.raises(ValueError, match=r"the R-GCN model needs a typed graph \(node and edge types\)"):
        RGCN(rank.graph, 16, 2, 7)
    with pytest.raises(ValueError, match=r"`model` rgcn needs the rank's typed graph"):
        build_model("rgcn", 1433, 16, 7)
    with pytest.raises(ValueError, match=r"`num_bases` must be a positive integer or None \(got 0\)"):
        DistRGCNConv(4, 4, 3, num_bases=0)


def test_haloconv_passes_edge_types_and_typed_view_splits_by_type(one_rank, tmp_path, cora):
    from torch_geometric.nn import RGCNConv

    from gnnpart.nn import HaloConv
    from gnnpart.nn.typed_view import inner_output, typed_inputs

    graph, rank = one_rank
    torch.manual_seed(3)
    conv = RGCNConv(12, 5, graph.types.num_relations)
    wrapped = HaloConv(conv, edge_type=True)
    halo_layers(torch.nn.ModuleList([wrapped]))
    x = torch.randn(graph.num_nodes, 12)
    edge_index, edge_type = pyg_edges(graph)
    torch.testing.assert_close(wrapped(x, rank.graph), conv(x, edge_index, edge_type))
    x_dict, edges = typed_inputs(rank.graph, x)
    assert [len(v) for v in x_dict.values()] == np.bincount(graph.node_type).tolist()
    rel = graph.types.relations[0]
    assert edges[rel].shape[1] == int((graph.edge_type == 0).sum())
    back = inner_output(rank.graph, {name: v[:, :3] for name, v in x_dict.items()}, 3)
    torch.testing.assert_close(back, x[:, :3])
    partition_graph(cora, 1, tmp_path / "cora")
    untyped = Rank.open(tmp_path / "cora")
    plain = HaloConv(RGCNConv(1433, 4, 2), edge_type=True)
    halo_layers(torch.nn.ModuleList([plain]))
    with pytest.raises(ValueError, match=r"HaloConv\(RGCNConv, edge_type=True\) needs a typed graph"):
        plain(untyped.x, untyped.graph)


def test_the_trainer_refuses_an_optimizer_that_cannot_step_embedding_rows(one_rank):
    from gnnpart.train import Trainer, TrainOptions
    from gnnpart.train.optimizers import OptimizerGroup

    _, rank = one_rank
    model = RGCN(rank.graph, 8, 2, 4)
    with pytest.raises(ValueError, match=r"Adam holds the rows of a sharded embedding, whose gradients are sparse"):
        Trainer(model, rank, torch.optim.Adam(model.parameters()), TrainOptions(watchdog=None))
    with pytest.raises(ValueError, match=r"the optimizer does not hold the rows of the model's sharded embeddings"):
        Trainer(model, rank, torch.optim.Adam(dense_parameters(model)), TrainOptions(watchdog=None))
    group = OptimizerGroup([torch.optim.Adam(dense_parameters(model)),
                            torch.optim.Adagrad(sharded_parameters(model), lr=0.1)])
    trainer = Trainer(model, rank, group, TrainOptions(watchdog=None))
    before = [p.detach().clone() for p in sharded_parameters(model)]
    trainer.fit(2)
    assert all(not torch.equal(b, p) for b, p in zip(before, sharded_parameters(model)))
