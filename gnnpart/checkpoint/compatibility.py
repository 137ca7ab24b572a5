"""Whether a checkpoint fits what it is loaded into, checked before any weight is touched: one line each.

A checkpoint (:mod:`gnnpart.checkpoint.checkpoint_file`) records the graph it was trained on (``graph``: dataset
spec and node count), the settings that shape the model (``settings``) and what running the model again needs
(``inference``: task, widths, feature normalisation, halo specs, dtype). A resume must match all of it; inference
needs the settings and the input width, and any partition of the same graph.
"""
from __future__ import annotations

from pathlib import Path

from gnnpart.checkpoint.checkpoint_file import CHECKPOINT_FILE

RESUME_KEYS = ("task", "normalize_features")
"""Inference settings that change the loss or the input of any model: a resume must keep them."""


def check_graph(state: dict, path, graph: dict) -> None:
    """Refuse a checkpoint trained on another graph.

    Args:
        state (dict): the checkpoint.
        path (str | Path): its file, for the message.
        graph (dict): ``{"dataset", "num_nodes"}`` of the partition it is loaded on.
    """
    saved = state.get("graph")
    if saved is not None and saved != graph:
        raise ValueError(f"checkpoint {path} was trained on {saved['dataset']} ({saved['num_nodes']:,} nodes), not "
                         f"on this partition's {graph['dataset']} ({graph['num_nodes']:,} nodes): resume on a "
                         "partition of the same graph")


def check_resume(state: dict, directory, graph: dict, inference: dict, settings: dict) -> None:
    """Refuse to resume a run from a checkpoint that does not fit it.

    Args:
        state (dict): the checkpoint (:func:`~gnnpart.checkpoint.load_checkpoint`).
        directory (str | Path): its folder.
        graph (dict): the graph of this run (``{"dataset", "num_nodes"}``).
        inference (dict): this run's inference settings (task, feature normalisation, ...).
        settings (dict): this run's model settings (``{"model": "gcn", "hidden": 16, ...}``).

    Raises:
        ValueError: one line naming the checkpoint and the setting that differs.
    """
    path = Path(directory) / CHECKPOINT_FILE
    check_graph(state, path, graph)
    saved_run = state.get("inference") or {}
    for key in RESUME_KEYS:
        if key in saved_run and saved_run[key] != inference[key]:
            raise ValueError(f"checkpoint {path} was trained with {key} = {saved_run[key]!r}; this run has {key} = "
                             f"{inference[key]!r}: use the checkpoint's value, or start without resuming")
    saved = state.get("settings") or {}
    for key in sorted(saved.keys() & settings.keys()):
        if saved[key] != settings[key]:
            raise ValueError(f"checkpoint {path} was written with {key} = {saved[key]!r}; this run has {key} = "
                             f"{settings[key]!r}: use the checkpoint's value, or start without resuming")


def check_has_settings(state: dict, directory) -> None:
    """Refuse a checkpoint that holds no model settings (written through the API without ``settings=``, or by an
    older gnnpart): its model cannot be rebuilt from it."""
    settings, inference = state.get("settings") or {}, state.get("inference")
    if inference is None or "model" not in settings:
        raise ValueError(f"checkpoint {Path(directory) / CHECKPOINT_FILE} holds no model settings (it was written "
                         "through the Python API without `settings=`, or by an older gnnpart): build the model "
                         "yourself, load its weights and call gnnpart.infer.predict")


def load_weights(module, weights: dict, what: str) -> None:
    """``module.load_state_dict(weights)``, refused in one line (the first line of torch's own message that names a
    key) when the weights do not fit.

    Args:
        module (torch.nn.Module | torch.optim.Optimizer): what takes the weights.
        weights (dict): a state dict.
        what (str): the start of the message, e.g. ``"checkpoint ck/checkpoint.pt does not fit this model"``.
    """
    try:
        module.load_state_dict(weights)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()
        raise ValueError(f"{what}: {first[1].strip() if len(first) > 1 else first[0] if first else type(exc).__name__}"
                         ) from None


def check_inference(state: dict, directory, graph: dict, num_features: int, given: dict | None = None) -> None:
    """Refuse to run a checkpoint's model where it cannot run as it was trained.

    Args:
        state (dict): the checkpoint.
        directory (str | Path): its folder.
        graph (dict): the graph of the partition it runs on (``{"dataset", "num_nodes"}``).
        num_features (int): the partition's feature width.
        given (dict, optional): settings the caller asked for (``{"hidden": 16}``); each must equal the
            checkpoint's.

    Raises:
        ValueError: one line: no settings in the checkpoint, a setting that contradicts it, another graph or
            another feature width.
    """
    path = Path(directory) / CHECKPOINT_FILE
    check_has_settings(state, directory)
    settings, inference = state["settings"], state["inference"]
    for key, value in (given or {}).items():
        if settings.get(key) != value:
            raise ValueError(f"`{key}` {value} contradicts checkpoint {path}, which was trained with {key} = "
                             f"{settings.get(key)!r}: leave `{key}` out")
    check_graph(state, path, graph)
    if num_features != inference["num_features"]:
        raise ValueError(f"checkpoint {path} was trained on {inference['num_features']} features; {graph['dataset']} "
                         f"has {num_features}")
