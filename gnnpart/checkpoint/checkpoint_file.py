"""Checkpoints: written atomically by rank 0, read back with ``weights_only=True`` (no arbitrary pickles).

A checkpoint holds the weights, the optimizer state, the epoch, the best-validation record, the RNG state, the
graph it was trained on (dataset spec and node count) and the settings that shape the model, so that a resume
that does not fit is refused in one line naming the setting, before any weight is touched
(:mod:`gnnpart.checkpoint.compatibility`). torch is imported by the calls that read and write, so that a launcher
can look for a checkpoint without it.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from pathlib import Path

CHECKPOINT_FILE = "checkpoint.pt"
WEIGHTS = ("best", "last")
"""The weights a checkpoint holds: the best-validation ones (``best["state"]``) and the last epoch's (``model``)."""


def _no_space(directory: Path, needed: int) -> bool:
    try:
        return shutil.disk_usage(directory).free < max(needed, 1 << 20)
    except OSError:
        return False


def _state_bytes(state) -> int:
    import torch

    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(_state_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(_state_bytes(v) for v in state)
    return 0


PAUSE_VARIABLE = "GNNPART_TEST_CHECKPOINT_PAUSE_S"
"""A fault-injection point for tests: seconds that a checkpoint write waits with its temporary file written but not yet
renamed, so that a test can cut a host's link or kill a rank while a checkpoint is being written."""


def _pause_for_a_test() -> None:
    seconds = os.environ.get(PAUSE_VARIABLE)
    if seconds:
        time.sleep(float(seconds))


def save_checkpoint(directory, state: dict) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``directory/checkpoint.pt`` atomically.

    Raises:
        OSError: naming the path, and saying "no space left on device" when the disk is full (the previous
            checkpoint, if any, is kept).
    """
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_FILE
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            _pause_for_a_test()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        if getattr(exc, "errno", None) == errno.ENOSPC or _no_space(directory, _state_bytes(state)):
            raise OSError(errno.ENOSPC, f"no space left on device while writing checkpoint {path} (the previous "
                                        "checkpoint, if any, is kept)") from None
        raise OSError(f"cannot write checkpoint {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(directory) -> dict:
    """Read ``directory/checkpoint.pt`` with ``weights_only=True``.

    Raises:
        FileNotFoundError: if there is no checkpoint (names the path).
        ValueError: one line, if the file is not a valid gnnpart checkpoint.
    """
    import torch

    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from: {path} does not exist")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises several types, with messages of several lines
        raise ValueError(f"{path} is not a valid gnnpart checkpoint (it cannot be read: {type(exc).__name__})") from None
    required = ("model", "optimizer", "epoch", "best", "rng")
    if not isinstance(state, dict) or any(key not in state for key in required):
        missing = [key for key in required if not isinstance(state, dict) or key not in state]
        raise ValueError(f"{path} is not a valid gnnpart checkpoint (it lacks {', '.join(missing)})")
    sizes = state.get("shards", {})
    if not isinstance(sizes, dict) or not all(
            isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(n, int) and n >= 0 for n in v)
            for v in sizes.values()):
        raise ValueError(f"{path} is not a valid gnnpart checkpoint (`shards` must map each sharded embedding to "
                         "[rows, width])")
    return state
