"""Memory-mapped arrays: keeping a pass over one from leaving it resident."""
from __future__ import annotations

import mmap

import numpy as np


def drop_pages(array) -> None:
    """Release the pages of a memory-mapped array that this process has touched (they stay in the page cache);
    a no-op for an array in memory, and for a copy-on-write map (``mmap_mode="c"``), whose pages may hold writes
    that releasing them would lose. Called after a pass over a mapped array so that it does not stay resident."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        if isinstance(base, np.memmap):
            if base.mode == "c":
                return
            base = getattr(base, "_mmap", None)
        else:
            base = getattr(base, "base", None)
    if isinstance(base, mmap.mmap) and hasattr(base, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            base.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass
