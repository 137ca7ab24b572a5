"""A trained model back from its checkpoint, on a :class:`~gnnpart.rank.Rank` of any partition of its graph.

A checkpoint written by ``gnnpart train --checkpoint`` (or by a :class:`~gnnpart.train.Trainer` given
``settings``) holds the settings that shape the model and what running it again needs (task, input and output
widths, feature normalisation, halo specs, dtype). :class:`TrainedModel` reads them once; the rank is opened with
the checkpoint's dtype and feature normalisation (:meth:`TrainedModel.rank_options`), and :meth:`TrainedModel.build`
makes the model on it, weights loaded. No optimizer, no all-reduce, no labels::

    trained = TrainedModel.load("ck")
    with Rank.open("cora-3", comm, **trained.rank_options()) as rank:
        model = trained.build(rank)
        predict(model, rank, out="pred.npy", task=trained.task)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gnnpart.checkpoint.checkpoint_file import CHECKPOINT_FILE, WEIGHTS, load_checkpoint
from gnnpart.checkpoint.compatibility import check_has_settings, check_inference, load_weights
from gnnpart.checkpoint.shards import local_weights, shard_modules
from gnnpart.comm.policy.spec import needs_sums_check, parse_halo
from gnnpart.nn.contract import halo_layers
from gnnpart.nn.gates import attach_halo_gates
from gnnpart.nn.local_graph import check_sums_compose
from gnnpart.nn.models import build_model
from gnnpart.tasks import Task, task_named

@dataclass
class TrainedModel:
    """What a checkpoint says of its model: read every rank alike, before the rank is opened.

    Attributes:
        directory (Path): the checkpoint folder.
        state (dict): the checkpoint (:func:`~gnnpart.checkpoint.load_checkpoint`).
        settings (dict): what shapes the model (``model``, ``hidden``, ``layers``, ``heads``, ``norm``, ``jk``,
            ``residual``).
        inference (dict): ``task``, ``num_features``, ``num_outputs``, ``normalize_features``, ``halo`` (one spec per
            layer) and ``dtype``.
    """

    directory: Path
    state: dict
    settings: dict
    inference: dict

    @classmethod
    def load(cls, checkpoint) -> "TrainedModel":
        """Read ``checkpoint/checkpoint.pt``.

        Args:
            checkpoint (str | Path): the checkpoint folder.

        Raises:
            FileNotFoundError: no checkpoint there. ValueError: not a gnnpart checkpoint, or one without model
            settings (one line).
        """
        directory = Path(checkpoint)
        state = load_checkpoint(directory)
        check_has_settings(state, directory)
        return cls(directory, state, state["settings"], state["inference"])

    @property
    def task(self) -> Task:
        """The task the model was trained for (what its outputs mean)."""
        return task_named(self.inference["task"])

    @property
    def dtype(self) -> torch.dtype:
        """The dtype it was trained in."""
        return getattr(torch, self.inference["dtype"])

    def rank_options(self) -> dict:
        """The keyword arguments of :meth:`gnnpart.rank.Rank.open` that make the rank's features what the model was
        trained on: ``dtype`` and ``normalize_features``."""
        return {"dtype": self.dtype, "normalize_features": self.inference["normalize_features"]}

    def _skeleton(self, meta: dict, graph=None):
        """``(model, its halo policies, its learned gates)`` as the checkpoint's settings make them, weights not
        loaded (``graph``: the rank's graph, which ``rgcn`` needs)."""
        s = self.settings
        model = build_model(s["model"], self.inference["num_features"], s["hidden"], self.inference["num_outputs"],
                            s["layers"], 0.0, 0.0, s.get("heads", 8), edge_dim=meta["num_edge_features"],
                            norm=s.get("norm"), jk=s.get("jk"), residual=s.get("residual", False), graph=graph,
                            num_bases=s.get("num_bases"))
        policies = parse_halo(self.inference["halo"], len(halo_layers(model)))
        return model, policies, attach_halo_gates(model, policies)

    def check_aggregate_at(self, aggregate_at: str, meta: dict) -> None:
        """Refuse ``aggregate_at`` (``sender``, ``auto``) where the model's learned halo gates, which evaluation
        keeps, would multiply partial sums (:func:`~gnnpart.nn.local_graph.check_sums_compose`); what
        :meth:`build`'s model would refuse at its first exchange, said before any rank opens (``meta``: the
        partition's ``meta.json``)."""
        policies = parse_halo(self.inference["halo"], max(1, len(self.inference["halo"])))
        if self.settings["model"] == "rgcn" or not needs_sums_check(policies, aggregate_at):
            return
        model, policies, gates = self._skeleton(meta)
        check_sums_compose(halo_layers(model), policies, gates, aggregate_at, evaluation=True)

    def build(self, rank, given: dict | None = None, weights: str = "best"):
        """The model, on ``rank``'s device and dtype, with the checkpoint's weights, in evaluation mode; the rank's
        graph then exchanges as the model was trained (its learned halo gates, part of the model, apply).

        Args:
            rank (Rank): this rank, opened with :meth:`rank_options` on any partition of the graph trained on.
            given (dict, optional): settings the caller asked for (``{"hidden": 16}``); each must equal the
                checkpoint's.
            weights (str): ``best`` (the best-validation weights; the last ones when the run never evaluated) or
                ``last``.

        Raises:
            ValueError: one line: a given setting contradicts the checkpoint, another graph, another feature width,
                a rank of another dtype or normalisation, or weights that do not fit.
        """
        if weights not in WEIGHTS:
            raise ValueError(f"`weights` must be best or last (got {weights!r})")
        path = self.directory / CHECKPOINT_FILE
        check_inference(self.state, self.directory, rank.graph_identity(), int(rank.x.shape[1]), given)
        if (rank.dtype, rank.normalize_features) != (self.dtype, self.inference["normalize_features"]):
            raise ValueError(f"checkpoint {path} was trained with dtype {self.inference['dtype']} and "
                             f"normalize_features = {self.inference['normalize_features']}; the rank has "
                             f"{str(rank.dtype).replace('torch.', '')} and {rank.normalize_features}: open it with "
                             "TrainedModel.rank_options()")
        model, policies, gates = self._skeleton(rank.meta, rank.graph)
        model.to(device=rank.device, dtype=rank.dtype)
        best = self.state["best"].get("state") if isinstance(self.state.get("best"), dict) else None
        chosen = best if weights == "best" and best is not None else self.state["model"]
        if shard_modules(model):  # embedding rows by global id: this rank's (any partition of the graph)
            chosen = local_weights(model, chosen, f"checkpoint {path} does not fit this graph",
                                   sizes=self.state.get("shards"), num_nodes=rank.graph_identity()["num_nodes"])
        load_weights(model, chosen, f"checkpoint {path} does not fit its own settings")
        rank.graph.reset()  # the rank's graph now serves this model
        rank.graph.use_policies(policies, gates)
        rank.graph.owner = model
        return model.eval()
