"""What labels can ask for: the task names, the splits, and which task a label array implies (numpy only)."""
from __future__ import annotations

import numpy as np

TASKS = ("multiclass", "multilabel", "regression")
"""Class ids ``[N]`` (``-1`` = unlabelled); 0/1 targets ``[N, T]`` (``NaN`` = unlabelled entry); any float targets."""

SPLITS = ("train", "val", "test")
"""The node splits, each a boolean mask."""


def labels_task(y: np.ndarray) -> str:
    """The task labels imply: ``multiclass`` (1-D class ids), ``multilabel`` (2-D, every known entry 0 or 1) or
    ``regression`` (2-D, any other values)."""
    if y.ndim == 1:
        return "multiclass"
    known = y[~np.isnan(y)]
    return "multilabel" if np.all((known == 0) | (known == 1)) else "regression"
