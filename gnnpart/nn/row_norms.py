"""Normalisation that mixes nodes' rows, found anywhere in a model: synchronised over the ranks, or refused.

A module whose output for a node depends on other nodes' rows (batch statistics, a graph's mean) computes, on one
rank, over that rank's rows only: trained on N ranks it silently differs from one process. :func:`check_row_norms`
(the Trainer calls it before the first step) refuses such a module in one line naming its path and what to do;
:func:`convert_sync_norm` replaces each batch norm over node rows by a :class:`~gnnpart.nn.SyncBatchNorm`, whose
statistics (running ones included) are all-reduced over the ranks' inner rows, so that N ranks equal one. Norms of
one row at a time (``torch.nn.LayerNorm``, PyG's ``LayerNorm(mode="node")``, ``MessageNorm``) are fine as they are.
"""
from __future__ import annotations

from torch import nn

from gnnpart.errors import ConfigError
from gnnpart.nn.norm import SyncBatchNorm

CONVERT = "call gnnpart.nn.convert_sync_norm(model) first (its statistics are then all-reduced over the ranks)"
PER_NODE = ("use gnnpart.nn.SyncBatchNorm (norm='batch' in the built-in models) or a norm of one row at a time "
            "(torch.nn.LayerNorm, PyG's LayerNorm(mode='node'))")
GRAPH_WIDE = {  # PyG's norms over all the nodes of a graph, which no rank holds whole; none has a synchronised form
    "GraphNorm": "normalises by the mean and variance over all the nodes of the graph",
    "PairNorm": "centres and scales by means over all the nodes of the graph",
    "MeanSubtractionNorm": "subtracts the mean over all the nodes of the graph",
    "GraphSizeNorm": "divides by the square root of the graph's node count, which on a rank is its own count",
    "HeteroBatchNorm": "takes batch statistics over each type's rows",
}


def _batch_norm_reason(module: nn.Module) -> str | None:
    """Why a torch batch or instance norm cannot run as it is on a rank's rows (None: it is not one)."""
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.instancenorm import _InstanceNorm

    if isinstance(module, _InstanceNorm):  # PyG's InstanceNorm too: statistics over each graph's nodes
        return f"{type(module).__name__} normalises over all the nodes of a graph; {PER_NODE}"
    if not isinstance(module, _BatchNorm):
        return None
    if isinstance(module, nn.BatchNorm1d) and module.momentum is not None:
        return f"{type(module).__name__} takes its statistics over the rows of this rank alone; {CONVERT}"
    why = ("its momentum=None is a cumulative average" if isinstance(module, nn.BatchNorm1d)
           else "it is not over node rows")
    return (f"{type(module).__name__} takes its statistics over the rows of this rank alone, and "
            f"convert_sync_norm cannot convert it: {why}; {PER_NODE}")


def row_mixing_reason(module: nn.Module) -> str | None:
    """Why ``module`` would make N ranks differ from one process (None: it is fine as it is)."""
    reason = _batch_norm_reason(module)
    if reason is not None:
        return reason
    name = type(module).__name__
    if type(module).__module__.startswith("torch_geometric"):
        if name in GRAPH_WIDE:
            return f"{name} {GRAPH_WIDE[name]}, which no rank holds whole; {PER_NODE}"
        if name in ("LayerNorm", "HeteroLayerNorm") and getattr(module, "mode", "node") != "node":
            return (f"{name}(mode={module.mode!r}) normalises over all the nodes of the graph, which no rank holds "
                    f"whole; use mode='node' or gnnpart.nn.SyncBatchNorm")
    return None


def row_mixing(model: nn.Module) -> list[tuple[str, str]]:
    """``(path, reason)`` of every module of ``model`` that mixes nodes' rows and is not synchronised, in the order
    ``named_modules`` lists them (the model itself has path ``"model"``)."""
    return [(path or "model", reason) for path, module in model.named_modules()
            if (reason := row_mixing_reason(module)) is not None]


def check_row_norms(model: nn.Module) -> None:
    """Refuse a model with a norm that mixes nodes' rows and is not synchronised (see the module's text).

    Raises:
        ConfigError: one line naming the first such module's path, the reason and what to do, and how many more.
    """
    found = row_mixing(model)
    if found:
        (path, reason), more = found[0], len(found) - 1
        raise ConfigError(f"the model's `{path}`: {reason}" + (f" ({more} more such module{'s' * (more > 1)}: "
                          f"{', '.join(p for p, _ in found[1:4])}{', ...' if more > 3 else ''})" if more else ""))


def _synced(bn: nn.BatchNorm1d) -> SyncBatchNorm:
    sync = SyncBatchNorm(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                         track_running_stats=bn.track_running_stats)
    with_stats = bn.track_running_stats and bn.running_mean is not None
    like = bn.weight if bn.affine else bn.running_mean if with_stats else None
    if like is not None:
        sync.to(device=like.device, dtype=like.dtype)
    state = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    if not with_stats:
        state = {k: v for k, v in state.items() if not k.startswith("running_")}
    sync.load_state_dict(state, strict=False)
    sync.train(bn.training)
    return sync


def convert_sync_norm(model: nn.Module) -> nn.Module:
    """Replace every ``torch.nn.BatchNorm1d`` of ``model`` (PyG's ``BatchNorm`` and the MLPs of ``GENConv`` hold one)
    by a :class:`~gnnpart.nn.SyncBatchNorm` with the same weights, running statistics and settings, as
    ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` does for ``torch.distributed``.

    Args:
        model (torch.nn.Module): the model; converted in place.

    Returns:
        the model (a new module when ``model`` itself is a ``BatchNorm1d``).
    """
    if isinstance(model, nn.BatchNorm1d) and model.momentum is not None:
        return _synced(model)
    for name, child in model.named_children():
        setattr(model, name, convert_sync_norm(child))
    return model


def bind_sync_norms(model: nn.Module, comm) -> None:
    """Give every :class:`~gnnpart.nn.SyncBatchNorm` of ``model`` the communicator of its ``norm(h)`` calls."""
    for module in model.modules():
        if isinstance(module, SyncBatchNorm):
            module.comm = comm
