"""Building CSR adjacency from edge lists (wraps ``torch.ops.gnnpart.csr_from_coo``)."""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.capabilities import load_extension

load_extension()


@torch.library.register_fake("gnnpart::csr_from_coo")
def _csr_from_coo_fake(row, col, num_rows, num_cols, dedup):
    ctx = torch.library.get_ctx()
    nnz = ctx.new_dynamic_size() if dedup else row.shape[0]
    return row.new_empty(num_rows + 1), col.new_empty(nnz)


def coo_to_csr(row, col, num_rows: int, num_cols: int | None = None, dedup: bool = True):
    """Group ``(row, col)`` pairs by row into CSR form.

    Columns come out sorted within each row; with ``dedup`` repeated pairs are
    merged. Runs in O(E) (radix sort by row) in the compiled extension.

    Args:
        row (array-like of int): row id of each pair.
        col (array-like of int): column id of each pair.
        num_rows (int): number of rows; every ``row`` id must be below it.
        num_cols (int, optional): bound on the column ids (default ``num_rows``).
        dedup (bool): merge repeated pairs (default ``True``).

    Returns:
        (indptr, indices): int64 numpy arrays of lengths ``num_rows + 1`` and the
        number of (distinct) pairs.

    Raises:
        ValueError: if lengths differ or an id is out of range (names the array and the value).
    """
    num_cols = num_rows if num_cols is None else num_cols
    row_t = torch.from_numpy(np.ascontiguousarray(row, dtype=np.int64))
    col_t = torch.from_numpy(np.ascontiguousarray(col, dtype=np.int64))
    try:
        indptr, indices = torch.ops.gnnpart.csr_from_coo(row_t, col_t, int(num_rows), int(num_cols), bool(dedup))
    except RuntimeError as exc:  # TORCH_CHECK failures: keep the first line, which names the argument
        raise ValueError(str(exc).splitlines()[0]) from None
    return indptr.numpy(), indices.numpy()


def coo_to_csr_reference(row, col, num_rows: int, dedup: bool = True):
    """Plain-numpy reference of :func:`coo_to_csr` (a lexicographic sort), for tests."""
    row = np.asarray(row, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    order = np.lexsort((col, row))
    row, col = row[order], col[order]
    if dedup and len(row):
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
        row, col = row[keep], col[keep]
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=num_rows), out=indptr[1:])
    return indptr, col


def csr_rows(indptr: np.ndarray) -> np.ndarray:
    """Row id of every stored entry of a CSR structure (``repeat(arange, degree)``)."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def coo_to_csr_with_rows(row: np.ndarray, col: np.ndarray, rows: np.ndarray, num_rows: int):
    """:func:`coo_to_csr` of ``(row, col)`` that carries one data row per pair along (edge features).

    Repeated pairs are merged and their data rows averaged (in float64). A lexicographic sort: O(E log E).

    Args:
        row, col (np.ndarray): int64 ``[E]`` pairs.
        rows (np.ndarray): ``[E, D]`` data of each pair.
        num_rows (int): number of rows.

    Returns:
        ``(indptr, indices, data)``: as :func:`coo_to_csr`, and float32 ``[E', D]`` data in the order of ``indices``.
    """
    order = np.lexsort((col, row))
    row, col = row[order], col[order]
    data = rows[order].astype(np.float64)
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    starts = np.flatnonzero(first)
    if len(starts) < len(row):
        counts = np.diff(np.append(starts, len(row)))
        data = np.add.reduceat(data, starts, axis=0) / counts[:, None]
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[starts], minlength=num_rows), out=indptr[1:])
    return indptr, col[starts], data.astype(np.float32)


_ROW_CHUNK_EDGES = 1 << 22  # edges sorted at a time in the last pass of csr_from_chunks


def csr_from_chunks(chunks, num_rows: int, dedup: bool = True, symmetric: bool = False,
                    row_chunk_edges: int | None = None, names: tuple[str, str] = ("row", "col")):
    """:func:`coo_to_csr` of pairs read in chunks, in passes over them: count, then fill, then sort each row.

    No ``[E]`` array of pairs is ever held: memory is the CSR itself (``8 * (num_rows + 1 + E)`` bytes), two
    ``[num_rows]`` counters and one chunk. The result equals :func:`coo_to_csr` of all the pairs.

    Args:
        chunks (callable): ``chunks()`` returns a new iterable of ``(row, col)`` int64 array pairs, the same
            each time (it is called twice).
        num_rows (int): number of rows; every id must be below it (checked, naming the value).
        dedup (bool): merge repeated pairs.
        symmetric (bool): also add ``(col, row)`` for every pair (an undirected graph).
        row_chunk_edges (int, optional): edges sorted at a time in the last pass (tests split rows with it).
        names (tuple of str): what the rows and the columns are, for the error message.

    Returns:
        (indptr, indices): int64 numpy arrays.
    """
    def pairs():
        for row, col in chunks():
            row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
            for name, ids in zip(names, (row, col)):
                if len(ids) and (ids.min() < 0 or ids.max() >= num_rows):
                    bad = ids.min() if ids.min() < 0 else ids.max()
                    raise ValueError(f"`{name}` must hold node ids in [0, {num_rows}) (got {bad})")
            yield row, col
            if symmetric:
                yield col, row

    counts = np.zeros(num_rows, dtype=np.int64)
    for row, _ in pairs():
        counts += np.bincount(row, minlength=num_rows)
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    filled = np.zeros(num_rows, dtype=np.int64)  # entries of each row written so far
    for row, col in pairs():
        order = np.argsort(row, kind="stable")
        row_sorted = row[order]
        first = np.flatnonzero(np.diff(row_sorted, prepend=-1))  # where each row's run starts
        run = np.diff(np.append(first, len(row_sorted)))
        rank = np.arange(len(row_sorted), dtype=np.int64) - np.repeat(first, run)
        indices[indptr[row_sorted] + filled[row_sorted] + rank] = col[order]
        filled[row_sorted[first]] += run
    del filled, counts
    return _sort_rows(indptr, indices, dedup, row_chunk_edges or _ROW_CHUNK_EDGES)


def _sort_rows(indptr: np.ndarray, indices: np.ndarray, dedup: bool, chunk: int):
    """Sort every row's columns (and merge repeats), in place, a chunk of whole rows at a time."""
    n = len(indptr) - 1
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    written, r = 0, 0
    while r < n:
        end = int(np.searchsorted(indptr, indptr[r] + chunk, side="right")) - 1
        end = min(max(end, r + 1), n)
        a, b = int(indptr[r]), int(indptr[end])
        rows = np.repeat(np.arange(r, end, dtype=np.int64), np.diff(indptr[r : end + 1]))
        order = np.lexsort((indices[a:b], rows))
        seg, rows = indices[a:b][order], rows[order]
        if dedup and len(seg):
            keep = np.ones(len(seg), dtype=bool)
            keep[1:] = (seg[1:] != seg[:-1]) | (rows[1:] != rows[:-1])
            seg, rows = seg[keep], rows[keep]
        indices[written : written + len(seg)] = seg  # written <= a: never ahead of what is still to be read
        out_ptr[r + 1 : end + 1] = written + np.cumsum(np.bincount(rows - r, minlength=end - r))
        written += len(seg)
        r = end
    if written < len(indices):
        indices.resize(written, refcheck=False)  # in place: no second copy of the CSR
    return out_ptr, indices
