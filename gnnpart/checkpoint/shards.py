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


def shard_sizes(comm, model) -> dict:
    """``{name: [rows, width]}`` of each shard over all ranks: what a checkpoint records of its shards, so that a
    reader checks the rows it finds against it (:func:`local_weights`). Collective."""
    return {name: [int(comm.sum_scalars([len(m.global_ids)])[0]), int(m.dim)]
            for name, m in shard_modules(model).items()}


def local_weights(model, weights: dict, what: str, sizes: dict | None = None, num_nodes: int | None = None) -> dict:
    """``weights`` with this rank's rows of each shard, picked by global id (the inverse of :func:`gather_weights`),
    after checking each shard's ids and rows (:func:`_check_shard`).

    Args:
        model: the model the weights are for.
        weights (dict): a state dict as a checkpoint holds it.
        what (str): the start of a refusal, naming the checkpoint.
        sizes (dict, optional): the checkpoint's ``{name: [rows, width]}`` of its shards (:func:`shard_sizes`).
        num_nodes (int, optional): the nodes of the graph it was trained on (every id is below it).

    Raises:
        ValueError: one line: a shard's rows missing, ids or rows of the wrong shape, kind or number, ids out of
            order or range, or a node of this rank missing from them.
    """
    out = dict(weights)
    for name, module in shard_modules(model).items():
        ids = out.pop(f"{name}{IDS}", None)
        if ids is None:
            raise ValueError(f"{what}: it holds no rows of the embedding {name} by global id")
        rows = out.get(f"{name}.weight")
        ids = _check_shard(ids, {"weight": rows}, (module.dim,), (sizes or {}).get(name), num_nodes, what, name)
        out[f"{name}.weight"] = _pick(ids, rows, module.global_ids, what, name)
    return out


def local_optimizer(model, optimizer, state: dict, what: str, sizes: dict | None = None,
                    num_nodes: int | None = None) -> dict:
    """The optimizer ``state`` with this rank's rows of each per-row state (the inverse of
    :func:`gather_optimizer`), after checking them as :func:`local_weights` does: every state of a shard's
    parameter with rows (SparseAdam's moments, Adagrad's sums) has one row per id, as wide as the embedding."""
    shards = {id(m.weight): (name, m) for name, m in shard_modules(model).items()}
    out = _copy(state)
    for entry, (param, slot) in _slots(optimizer, out).items():
        if id(param) not in shards or IDS not in slot:
            continue
        name, module = shards[id(param)]
        per_row = {key: value for key, value in slot.items()
                   if key != IDS and torch.is_tensor(value) and value.dim() >= 1}
        ids = _check_shard(slot.pop(IDS), per_row, (module.dim,), (sizes or {}).get(name), num_nodes, what,
                           f"{name}'s optimizer state")
        for key in per_row:
            slot[key] = _pick(ids, slot[key], module.global_ids, what, name)
    return out


def _check_shard(ids, rows: dict, width: tuple, size, num_nodes, what: str, name: str) -> np.ndarray:
    """``ids`` as int64 numpy, once they and every tensor of ``rows`` (``{key: tensor}``) fit: ids a 1-D integer
    tensor, strictly ascending, in ``[0, num_nodes)``, as many as ``size`` says (``[rows, width]``, the checkpoint's
    record); each tensor ``[len(ids), *width]``. Else ``ValueError`` in one line naming the checkpoint (``what``),
    the shard (``name``), the key and the rule."""
    if not torch.is_tensor(ids) or ids.dim() != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        shape = tuple(ids.shape) if torch.is_tensor(ids) else type(ids).__name__
        raise ValueError(f"{what}: the global ids of the embedding {name} must be a 1-D tensor of node ids (got "
                         f"{shape})")
    ids = ids.cpu().numpy().astype(np.int64, copy=False)
    if size is not None and (len(size) != 2 or len(ids) != size[0] or tuple(width) != (size[1],)):
        raise ValueError(f"{what}: the embedding {name} must hold the {size[0]} rows of width {size[1]} its record "
                         f"says, for this model's width {width[0]} (got {len(ids)} ids): the file was cut or altered")
    if len(ids) and (ids[0] < 0 or (num_nodes is not None and ids[-1] >= num_nodes) or np.any(np.diff(ids) <= 0)):
        raise ValueError(f"{what}: the global ids of the embedding {name} must be ascending node ids in [0, "
                         f"{num_nodes}), each once: the file was altered")
    for key, value in rows.items():
        if not torch.is_tensor(value) or tuple(value.shape) != (len(ids), *width):
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise ValueError(f"{what}: `{key}` of the embedding {name} must have one row of {width[0]} per global id, "
                             f"shape {(len(ids), *width)} (got {shape}): the file was cut or altered")
    return ids


def _pick(ids: np.ndarray, rows: torch.Tensor, mine: np.ndarray, what: str, name: str) -> torch.Tensor:
    at = np.searchsorted(ids, mine)
    found = at < len(ids)
    found[found] = ids[at[found]] == mine[found]
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
