"""MPI worker: train relational models on a typed partition for a few steps; save losses, the shared weights and
every featureless type's embedding rows in global order (rank 0).

Usage (through tests/workers/by_size.py): main(PART_DIR, OUT.npz, STEPS, DTYPE, SPEC [SPEC ...]) with
SPEC = rgcn:hidden:layers:dropout[:bases] (the built-in R-GCN), or KIND:hidden:layers:dropout with KIND one of
rgcnconv, fastrgcnconv, rgatconv (PyG's relational convs through HaloConv(edge_type=True)), heteroconv
(examples/hetero_sage.py: PyG's HeteroConv of SAGEConvs) or hgtconv (PyG's HGTConv over the typed local graph). The shared weights start from a fixed seed and the
embeddings from their hash of the global id, so runs on any number of ranks start from the same model.
"""
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gnnpart.comm import Communicator
from gnnpart.nn import HaloConv, HashDropout
from gnnpart.nn.embedding import ShardedEmbedding
from gnnpart.nn.rgcn import RGCN, TypedInput, TypedStack
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions


class RelationalNet(TypedStack):
    """TypedInput, then PyG relational convs wrapped in HaloConv(edge_type=True), ReLU and dropout between."""

    def __init__(self, graph, kind: str, hidden: int, layers: int, out: int, dropout: float):
        super().__init__()
        from torch_geometric.nn import FastRGCNConv, RGATConv, RGCNConv

        make = {"rgcnconv": RGCNConv, "fastrgcnconv": FastRGCNConv, "rgatconv": RGATConv}[kind]
        relations = graph.types.num_relations
        self.input = TypedInput(graph, hidden, seed=5)
        outs = [hidden] * (layers - 1) + [out]
        self.convs = nn.ModuleList(HaloConv(make(hidden, o, relations), edge_type=True) for o in outs)
        for conv in self.convs:  # PyG's RGATConv.reset_parameters leaves l2 as torch.empty made it (unused here):
            if hasattr(conv.conv, "l2"):  # the value it meant, so that one process and N start alike
                nn.init.constant_(conv.conv.l2, 1.0 / conv.conv.out_channels)
        self.drop = HashDropout(dropout)


class HGTNet(TypedStack):
    """TypedInput, then PyG's HGTConv over the typed local graph (gnnpart.nn.typed_view), in HaloLayers."""

    def __init__(self, graph, hidden: int, layers: int, out: int, dropout: float):
        super().__init__()
        from torch_geometric.nn import HGTConv

        from gnnpart.nn import HaloLayer
        from gnnpart.nn.typed_view import inner_output, typed_inputs

        class HGTLayer(HaloLayer):
            exchange_width = hidden

            def __init__(self, width):
                super().__init__()
                self.width = width
                self.conv = HGTConv(hidden, width, (list(graph.types.node_types), list(graph.types.relations)),
                                    heads=1)

            def forward(self, x, g):
                x_dict, edges = typed_inputs(g, g.halo(x, self))
                return inner_output(g, self.conv(x_dict, edges), self.width)

        self.input = TypedInput(graph, hidden, seed=5)
        self.convs = nn.ModuleList(HGTLayer(o) for o in [hidden] * (layers - 1) + [out])
        self.drop = HashDropout(dropout)


def build(spec: str, rank: Rank):
    name, hidden, layers, dropout, *rest = spec.split(":")
    torch.manual_seed(1234)
    out = rank.meta["num_outputs"]
    if name == "rgcn":
        return RGCN(rank.graph, int(hidden), int(layers), out, num_bases=int(rest[0]) if rest else None,
                    dropout=float(dropout), seed=5)
    if name == "heteroconv":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
        from hetero_sage import HeteroSAGE

        return HeteroSAGE(rank.graph, int(hidden), out, int(layers), float(dropout))
    if name == "hgtconv":
        return HGTNet(rank.graph, int(hidden), int(layers), out, float(dropout))
    return RelationalNet(rank.graph, name, int(hidden), int(layers), out, float(dropout))


def global_rows(comm, model) -> dict:
    """Each embedding's rows, gathered to rank 0 in global id order: ``{name: [N_t, dim]}``."""
    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, ShardedEmbedding):
            continue
        got = comm.comm.gather((module.global_ids, module.weight.detach().cpu().numpy()), root=0)
        if comm.rank == 0:
            ids = np.concatenate([g[0] for g in got])
            rows = np.concatenate([g[1] for g in got])
            out[name] = rows[np.argsort(ids)]
    return out


def main(part_dir, out, steps, dtype, *specs, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm, dtype=getattr(torch, dtype))
    results = {}
    for spec in specs:
        model = build(spec, rank)
        trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=7, eval_every=1000,
                                                            watchdog=None))
        history = trainer.fit(int(steps), restore_best=False)
        results[f"{spec}/loss"] = np.array([r.loss for r in history])
        for key, value in model.state_dict().items():
            if ".embeddings." not in key:
                results[f"{spec}/{key}"] = value.cpu().numpy()
        for name, rows in global_rows(comm, model).items():
            results[f"{spec}/{name}"] = rows
    if comm.rank == 0:
        np.savez(out, **results)


def elastic(mode, part_dir, ckpt, out, steps, spec, comm=None):
    """``mode`` ``first``: train ``steps`` epochs and checkpoint into ``ckpt``; ``then``: resume from ``ckpt`` (on
    another partition) to ``2 * steps`` epochs; ``whole``: ``2 * steps`` epochs at once. Saves the epochs' losses,
    the shared weights and the embeddings in global order (rank 0)."""
    comm = comm or Communicator()
    torch.set_num_threads(1)
    rank = Rank.open(part_dir, comm, dtype=torch.float64)
    model = build(spec, rank)
    trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=7, eval_every=1000,
                                                        watchdog=None))
    steps = int(steps)
    if mode == "then":
        trainer.load_checkpoint(ckpt)
    history = trainer.fit(steps if mode == "first" else 2 * steps, restore_best=False)
    if mode == "first":
        trainer.save_checkpoint(ckpt)
    results = {"loss": np.array([r.loss for r in history])}
    results.update({k: v.cpu().numpy() for k, v in model.state_dict().items() if ".embeddings." not in k})
    results.update(global_rows(comm, model))
    if comm.rank == 0:
        np.savez(out, **results)
