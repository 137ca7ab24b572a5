"""Arrays too large to hold: passes over memory-mapped ones that do not leave them resident, and ``.npy`` files
written from row blocks (numpy only)."""
from __future__ import annotations

import mmap
from typing import Iterable

import numpy as np

BLOCK_BYTES = 64 << 20
"""Bytes of one row block written or copied at a time."""


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


def block_rows(row_bytes: int) -> int:
    """Rows of ``row_bytes`` each in one block of :data:`BLOCK_BYTES` (at least 1)."""
    return max(1, BLOCK_BYTES // max(1, row_bytes))


def mapped_blocks(array: np.ndarray):
    """Consecutive row blocks of ``array`` (copies), releasing a mapped array's pages after each."""
    step = block_rows(array[:1].nbytes)
    for i in range(0, len(array), step):
        block = np.array(array[i : i + step])
        drop_pages(array)
        yield block


def write_npy_blocks(fh, shape, dtype, blocks: Iterable[np.ndarray], name: str) -> None:
    """Write a ``.npy`` of ``shape`` and ``dtype`` to the open file ``fh`` from consecutive row blocks (the header
    first, for the full shape), checking that the blocks fill it exactly (``name`` is for the message)."""
    shape, dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    np.lib.format.write_array_header_1_0(
        fh, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    rows = 0
    for block in blocks:
        block = np.ascontiguousarray(block, dtype=dtype)
        if block.shape[1:] != shape[1:] or rows + len(block) > shape[0]:
            raise ValueError(f"{name}: a block of shape {block.shape} does not fit {shape} after {rows} rows")
        fh.write(memoryview(block).cast("B"))
        rows += len(block)
    if rows != shape[0]:
        raise ValueError(f"{name}: {rows} rows were written of {shape[0]}")
