"""Full-graph inference on one rank: the model's outputs (or probabilities, or a layer's embeddings) for its inner
nodes, with exact halo exchange and no dropout, returned or written into one ``.npy`` in global node order
(:mod:`gnnpart.infer.row_file`). No optimizer, no gradient, no labels: any partition of the graph will do.
"""
from __future__ import annotations

import torch

from gnnpart.comm.policy.spec import parse_halo
from gnnpart.data.typed import GraphTypes, type_offsets
from gnnpart.infer.row_file import write_rows
from gnnpart.nn.contract import halo_layers
from gnnpart.nn.gates import attached_halo_gates


def check_layer(embeddings, num_layers: int) -> None:
    """Refuse an ``embeddings`` that is no layer number of a model of ``num_layers`` halo layers.

    Args:
        embeddings (int): the layer asked for.
        num_layers (int): the model's halo layers.
    """
    if isinstance(embeddings, bool) or not isinstance(embeddings, int) or not 0 <= embeddings < num_layers:
        raise ValueError(f"`embeddings` must be a layer number in [0, {num_layers}) (got {embeddings!r})")


@torch.no_grad()
def model_rows(model, x: torch.Tensor, graph, task, embeddings: int | None = None,
               probabilities: bool = False) -> torch.Tensor:
    """This rank's rows: the model's outputs (or probabilities), or the representation after halo layer
    ``embeddings``, in evaluation mode (exact exchange, no dropout).

    Args:
        model (torch.nn.Module): the trained model.
        x (torch.Tensor): ``[I, F]`` this rank's input features.
        graph (LocalGraph): this rank's graph.
        task (Task): the model's task (how outputs become probabilities).
        embeddings (int, optional): a layer number ``0 .. layers - 1``: a built-in model returns what
            :meth:`~gnnpart.nn.BasicGNN.embed` gives (after the layer's norm and activation); any other model,
            the output of the halo layer with that ``layer_id``.
        probabilities (bool): softmax or sigmoid of the outputs (not with ``embeddings``).

    Returns:
        float32 ``[I, C]`` on the CPU.
    """
    model.eval()
    layers = halo_layers(model)
    if embeddings is None:
        rows = task.output(model(x, graph), probabilities)
    else:
        if probabilities:
            raise ValueError("`probabilities` applies to the model's outputs, not to `embeddings`")
        check_layer(embeddings, len(layers))
        if hasattr(model, "embed"):
            rows = model.embed(x, graph, embeddings)
        else:
            captured = []
            hook = layers[embeddings].register_forward_hook(lambda module, args, output: captured.append(output))
            try:
                model(x, graph)
            finally:
                hook.remove()
            rows = captured[0]
    return rows.detach().float().cpu()


def type_selection(meta: dict, node_type: str | None, embeddings: int | None) -> int | None:
    """The node type whose rows a prediction writes: ``node_type`` (any type's embeddings; the outputs only of a
    target type), by default the first target type; None for an untyped graph (every node).

    Raises:
        ValueError: ``node_type`` on an untyped graph, an unknown type, or the outputs of a type without labels.
    """
    types = GraphTypes.from_json(meta)
    if types is None:
        if node_type is not None:
            raise ValueError(f"`node_type` {node_type!r} needs a typed graph; this partition has no node types")
        return None
    name = node_type if node_type is not None else (types.targets[0] if types.targets else None)
    if name is None:
        raise ValueError("the graph has no target type: name the node type whose rows to write (`node_type`)")
    if name not in types.node_types:
        raise ValueError(f"`node_type` must be one of {', '.join(types.node_types)} (got {name!r})")
    if embeddings is None and name not in types.targets:
        raise ValueError(f"the outputs of node type '{name}' mean nothing (the model learned the labels of "
                         f"{', '.join(types.targets)}): write its embeddings instead")
    return types.type_id(name)


@torch.no_grad()
def predict(model, rank, out=None, embeddings: int | None = None, probabilities: bool = False, task=None, halo=None,
            node_type: str | None = None):
    """Run ``model`` over the full graph on every rank (exact halo exchange, no dropout; learned halo gates, which
    are part of the model, still apply). Every rank calls it.

    Args:
        model (torch.nn.Module): the model, on the rank's device and dtype (as :class:`TrainedModel` builds it, or a
            trained one).
        rank (Rank): this rank (:class:`gnnpart.rank.Rank`).
        out (str | Path, optional): write every rank's rows into this one ``.npy``, ``[num_nodes, C]`` float32 in
            global node order (:func:`~gnnpart.infer.row_file.write_rows`). Without it, this rank's rows are
            returned.
        embeddings (int, optional): the representation after halo layer ``embeddings`` (``0 .. layers - 1``) instead
            of the outputs.
        probabilities (bool): softmax (multi-class) or sigmoid (multi-label) of the outputs.
        task (Task, optional): what the outputs mean (default the rank's task).
        halo (str | list, optional): the policies the model was trained with, when it has learned halo gates that
            the rank's graph does not use yet (a model restored by :class:`TrainedModel` or trained by a
            :class:`~gnnpart.train.Trainer` on this rank already does).
        node_type (str, optional): on a typed graph, the type whose rows to keep, in that type's order (its nodes'
            ids within the type): the outputs of a target type, or any type's embeddings (default: the first
            target type). Untyped graphs: every node.

    Returns:
        ``[I, C]`` this rank's rows (float32, on the CPU; on a typed graph, its rows of the type) without ``out``;
        else the path written.
    """
    chosen = type_selection(rank.meta, node_type, embeddings)
    if halo is not None:
        policies = parse_halo(halo, len(halo_layers(model)))
        rank.graph.use_policies(policies, attached_halo_gates(model, policies))
    rank.graph.enter("prediction")
    rows = model_rows(model, rank.x, rank.graph, task or rank.task, embeddings, probabilities)
    ids, total = rank.inner_ids, rank.num_nodes
    if chosen is not None:  # one type's rows, numbered within the type
        keep = (rank.graph.node_type[: rank.num_inner] == chosen).cpu().numpy()
        rows = rows[torch.from_numpy(keep)]
        first = type_offsets(rank.meta["num_nodes_by_type"])
        ids, total = ids[keep] - first[chosen], int(rank.meta["num_nodes_by_type"][chosen])
    if out is None:
        return rows
    return write_rows(rank.comm, out, ids, rows, total)
