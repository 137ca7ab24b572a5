"""Checkpoints: written atomically by rank 0, read back with ``weights_only=True`` (no arbitrary pickles)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(directory, state: dict) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``directory/checkpoint.pt`` atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / CHECKPOINT_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return directory / CHECKPOINT_FILE


def load_checkpoint(directory) -> dict:
    """Read ``directory/checkpoint.pt`` with ``weights_only=True``.

    Raises:
        FileNotFoundError: if there is no checkpoint (names the path).
        ValueError: if the file is not a readable gnnpart checkpoint.
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises several types for bad files
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise ValueError(f"{path} is not a gnnpart checkpoint (missing `model` or `epoch`)")
    return state
