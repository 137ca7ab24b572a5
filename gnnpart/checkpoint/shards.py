"""Sharded embedding rows in checkpoints: stored by global id, so that a run resumes on any partition.

Each rank holds the rows of its own nodes (:class:`gnnpart.nn.embedding.ShardedEmbedding`), and so do the sparse
optimizer's per-row states. A checkpoint holds every row in global id order instead: :func:`gather_state` (every
rank calls it; rank 0 gets the result) replaces a shard's rows with the whole table and adds its ids under
``<module>.global_ids``, in the model's weights, the best epoch's weights and the optimizer's state alike.
:func:`local_state` takes back this rank's rows by global id, on whatever partition it runs.
"""
from __future__ import annotations

import numpy as np
import torch

IDS = ".global_ids"


def shard_modules(model) -> dict:
    """``{name: module}`` of ``model``'s sharded embeddings."""
    return {name: m for name, m in model.named_modules() if getattr(m, "sharded", False)}


def _gather(comm, ids: np.ndarray, rows: torch.Tensor):
    """(ids, rows) of every rank in global id order, on rank 0 (None elsewhere)."""
    all_ids = comm.gather_rows(np.asarray(ids, dtype=np.int64), 0)
    all_rows = comm.gather_rows(rows.detach().cpu().numpy(), 0)
    if all_ids is None:
        return None
    order = np.argsort(all_ids, kind="stable")
    return torch.from_numpy(all_ids[order]), torch.from_numpy(np.ascontiguousarray(all_rows[order]))


def gather_weights(comm, model, weights: dict) -> dict | None:
    """``weights`` (a state dict of ``model``) with each shard's rows for every node, by global id (rank 0; None
    elsewhere). Collective."""
    out = dict(weights)
    for name, module in shard_modules(model).items():
        got = _gather(comm, module.global_ids, weights[f"{name}.weight"])
        if got is not None:
            out[f"{name}{IDS}"], out[f"{name}.weight"] = got
    return out if comm.rank == 0 else None


def gather_optimizer(comm, model, optimizer, state: dict) -> dict | None:
    """The optimizer's ``state`` with every per-row state of a shard's rows (a tensor with one row per node)
    gathered by global id (rank 0; None elsewhere). Collective."""
    shards = {id(m.weight): m for m in shard_modules(model).values()}
    out = _copy(state)
    for entry, (param, slot) in _slots(optimizer, out).items():
        module = shards.get(id(param))
        if module is None:
            continue
        for key, value in list(slot.items()):
            if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == len(module.global_ids):
                got = _gather(comm, module.global_ids, value)
                if got is not None:
                    slot[IDS], slot[key] = got
    return out if comm.rank == 0 else None


def local_weights(model, weights: dict, what: str) -> dict:
    """``weights`` with this rank's rows of each shard, picked by global id (the inverse of :func:`gather_weights`).

    Raises:
        ValueError: a shard's rows missing from ``weights``, or a node of this rank missing from them (``what``
            names the checkpoint).
    """
    out = dict(weights)
    for name, module in shard_modules(model).items():
        ids = out.pop(f"{name}{IDS}", None)
        if ids is None:
            raise ValueError(f"{what}: it holds no rows of the embedding {name} by global id")
        out[f"{name}.weight"] = _pick(ids, out[f"{name}.weight"], module.global_ids, what, name)
    return out


def local_optimizer(model, optimizer, state: dict, what: str) -> dict:
    """The optimizer ``state`` with this rank's rows of each per-row state (the inverse of
    :func:`gather_optimizer`)."""
    shards = {id(m.weight): (name, m) for name, m in shard_modules(model).items()}
    out = _copy(state)
    for entry, (param, slot) in _slots(optimizer, out).items():
        if id(param) not in shards or IDS not in slot:
            continue
        name, module = shards[id(param)]
        ids = slot.pop(IDS)
        for key, value in list(slot.items()):
            if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == len(ids):
                slot[key] = _pick(ids, value, module.global_ids, what, name)
    return out


def _pick(ids: torch.Tensor, rows: torch.Tensor, mine: np.ndarray, what: str, name: str) -> torch.Tensor:
    ids = ids.cpu().numpy()
    at = np.searchsorted(ids, mine)
    found = (at < len(ids)) & (ids[np.minimum(at, len(ids) - 1)] == mine)
    if not found.all():
        raise ValueError(f"{what}: the embedding {name} has no row for node {int(mine[~found][0])}")
    return rows[torch.from_numpy(at)]


def _copy(state: dict) -> dict:
    """A copy of an optimizer state dict whose per-parameter slots can be changed without touching ``state``."""
    def copy(value):
        if isinstance(value, dict):
            return {k: copy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [copy(v) for v in value]
        return value

    return copy(state)


def _slots(optimizer, state: dict) -> dict:
    """``{(member, index): (parameter, its slot in state)}``: each parameter's state entry, for a plain optimizer's
    state dict or an :class:`~gnnpart.train.optimizers.OptimizerGroup`'s."""
    members = getattr(optimizer, "optimizers", [optimizer])
    states = state["optimizers"] if "optimizers" in state else [state]
    found = {}
    for m, (opt, sub) in enumerate(zip(members, states)):
        params = [p for group in opt.param_groups for p in group["params"]]
        for index, slot in sub.get("state", {}).items():
            if int(index) < len(params):
                found[(m, index)] = (params[int(index)], slot)
    return found
