"""Halo row ops of ``gnnpart._C`` (``csrc/comm/``): pack, unpack, scatter-add, and their plain-PyTorch references.

``pack_rows`` gathers the rows a peer needs into a contiguous send buffer, ``unpack_rows_`` writes received rows
into halo slots, and ``scatter_add_rows_`` adds gradients returned by peers into their owners' rows. Indices are
checked against the row count (an error names the op and the bad index).
"""
from __future__ import annotations

import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart


@torch.library.register_fake("gnnpart::pack_rows")
def _pack_rows_fake(src, index):
    return src.new_empty(index.shape[0], src.shape[1])


@torch.library.register_fake("gnnpart::pack_rows_into_")
def _pack_rows_into_fake(src, index, out):
    return None


@torch.library.register_fake("gnnpart::unpack_rows_")
def _unpack_rows_fake(out, index, rows):
    return None


@torch.library.register_fake("gnnpart::scatter_add_rows_")
def _scatter_add_rows_fake(out, index, rows):
    return None


def pack_rows(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``src[index]``: gather rows into a new contiguous send buffer.

    Args:
        src (torch.Tensor): ``[N, F]`` rows.
        index (torch.Tensor): int64 ``[n]`` rows of ``src``, each in ``[0, N)``.

    Shapes:
        ``[N, F]``, ``[n]`` -> ``[n, F]``.
    """
    return _ops.pack_rows(src, index)


def pack_rows_into_(src: torch.Tensor, index: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out[:] = src[index]`` into a buffer the caller keeps (no allocation, no fresh pages); returns ``out``.

    Args:
        src (torch.Tensor): ``[N, F]`` rows.
        index (torch.Tensor): int64 ``[n]`` rows of ``src``.
        out (torch.Tensor): contiguous ``[n, F]`` of ``src``'s dtype.

    Shapes:
        ``[N, F]``, ``[n]``, ``[n, F]`` -> ``[n, F]`` (``out``).
    """
    _ops.pack_rows_into_(src, index, out)
    return out


def unpack_rows_(out: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``out[index] = rows`` in place (``index`` must not repeat); returns ``out``.

    Args:
        out (torch.Tensor): ``[N, F]``, written at rows ``index``.
        index (torch.Tensor): int64 ``[n]`` distinct rows of ``out``.
        rows (torch.Tensor): ``[n, F]`` received rows.

    Shapes:
        ``[N, F]``, ``[n]``, ``[n, F]`` -> ``[N, F]`` (``out``).
    """
    _ops.unpack_rows_(out, index, rows)
    return out


def scatter_add_rows_(out: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``out[index] += rows`` in place, repeated indices accumulating in order; returns ``out``.

    Args:
        out (torch.Tensor): ``[N, F]``, added into at rows ``index``.
        index (torch.Tensor): int64 ``[n]`` rows of ``out`` (may repeat).
        rows (torch.Tensor): ``[n, F]`` rows to add.

    Shapes:
        ``[N, F]``, ``[n]``, ``[n, F]`` -> ``[N, F]`` (``out``).
    """
    _ops.scatter_add_rows_(out, index, rows)
    return out


# plain-PyTorch references (tests compare the ops with them)
def pack_rows_reference(src, index):
    """:func:`pack_rows` in plain PyTorch (same arguments and result)."""
    return src[index]


def unpack_rows_reference(out, index, rows):
    """:func:`unpack_rows_` in plain PyTorch (same arguments; returns a new tensor)."""
    out = out.clone()
    out[index] = rows
    return out


def scatter_add_rows_reference(out, index, rows):
    """:func:`scatter_add_rows_` in plain PyTorch (same arguments; returns a new tensor)."""
    return out.index_add(0, index, rows)
