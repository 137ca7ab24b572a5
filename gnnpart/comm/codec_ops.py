"""Codec ops of ``gnnpart._C`` (``csrc/comm/codec.cpp``): what the cheaper halo policies send, with references.

* :func:`quantize_rows` / :func:`dequantize_rows_`: gather + per-row quantise to float16, bfloat16 or int8
  (scale = the row's largest magnitude; int8 with stochastic rounding), and decode + scatter (or scatter-add).
* :func:`topk_rows`, :func:`gather_channels`, :func:`scatter_channels_`: per-row top-k by magnitude, sent as
  (channel, value) pairs, and the gather/scatter of values at given channels.
* :func:`delta_select_`: the rows that changed by more than a relative threshold since the copy a receiver holds.

Every op takes an optional row ``index`` (None: rows ``0..n-1``) so that the gather or scatter is fused with the
encode or decode. Each has a plain-PyTorch reference below (``*_reference``) that the tests compare against.

Error bounds of one decoded element (``s`` = the row's largest magnitude): float16 ``s * 2**-11``,
bfloat16 ``s * 2**-9``, int8 ``s / 127`` (stochastic; unbiased) or ``s / 254`` (nearest).
"""
from __future__ import annotations

import math

import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart

PAYLOAD_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


# ---------------------------------------------------------------------------------------------- fakes
@torch.library.register_fake("gnnpart::quantize_rows")
def _quantize_fake(src, index, dtype, stochastic, seed):
    n = src.shape[0] if index is None else index.shape[0]
    return src.new_empty(n, src.shape[1], dtype=dtype), src.new_empty(n, dtype=torch.float32)


@torch.library.register_fake("gnnpart::dequantize_rows_")
def _dequantize_fake(out, index, payload, scales, factor, accumulate):
    return None


@torch.library.register_fake("gnnpart::topk_rows")
def _topk_fake(src, index, k):
    n = src.shape[0] if index is None else index.shape[0]
    return src.new_empty(n, k), src.new_empty(n, k, dtype=torch.int32)


@torch.library.register_fake("gnnpart::gather_channels")
def _gather_channels_fake(src, index, channels):
    return src.new_empty(channels.shape)


@torch.library.register_fake("gnnpart::scatter_channels_")
def _scatter_channels_fake(out, index, values, channels, factor, accumulate):
    return None


@torch.library.register_fake("gnnpart::delta_select_")
def _delta_select_fake(held, src, index, threshold):
    count = torch.library.get_ctx().new_dynamic_size()
    return index.new_empty(count)


# ---------------------------------------------------------------------------------------------- the ops
def quantize_rows(src: torch.Tensor, index: torch.Tensor | None, dtype: torch.dtype, stochastic: bool = False,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``src[index]`` as a ``[n, F]`` payload of ``dtype`` and ``[n]`` float32 scales (decode: payload * scale).

    Args:
        src (torch.Tensor): float32/float64 ``[N, F]``.
        index (torch.Tensor, optional): int64 ``[n]`` rows of ``src`` (None: all rows).
        dtype (torch.dtype): ``torch.float16``, ``torch.bfloat16`` or ``torch.int8``.
        stochastic (bool): int8 only: round up with probability equal to the fraction (unbiased).
        seed (int): keys the rounding draws (with the source row and channel).
    """
    return _ops.quantize_rows(src, index, dtype, bool(stochastic), int(seed))


def dequantize_rows_(out: torch.Tensor, index: torch.Tensor | None, payload: torch.Tensor, scales: torch.Tensor,
                     factor: float = 1.0, accumulate: bool = False) -> torch.Tensor:
    """``out[index] = payload * scales * factor`` (``+=`` with ``accumulate``, repeats allowed); returns ``out``.

    Args:
        out (torch.Tensor): float ``[N, F]``.
        index (torch.Tensor, optional): int64 ``[n]`` rows of ``out`` (None: rows ``0..n-1``).
        payload (torch.Tensor): ``[n, F]`` of float16, bfloat16 or int8.
        scales (torch.Tensor): float32 ``[n]``.
        factor (float): multiplies every decoded value.
        accumulate (bool): add instead of writing (``index`` may then repeat).

    Shapes:
        ``[N, F]``, ``[n]``, ``[n, F]``, ``[n]`` -> ``[N, F]`` (``out``).
    """
    _ops.dequantize_rows_(out, index, payload, scales, float(factor), bool(accumulate))
    return out


def dequantize_rows(payload: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The decoded rows of a payload.

    Args:
        payload (torch.Tensor): ``[n, F]`` of float16, bfloat16 or int8.
        scales (torch.Tensor): float32 ``[n]``.
        dtype (torch.dtype): of the result (default float32).

    Shapes:
        ``[n, F]``, ``[n]`` -> ``[n, F]``.
    """
    out = torch.empty(payload.shape, dtype=dtype, device=payload.device)
    return dequantize_rows_(out, None, payload, scales)


def topk_rows(src: torch.Tensor, index: torch.Tensor | None, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``src[index]``, the ``k`` largest-magnitude values and their int32 channels (ascending).

    Args:
        src (torch.Tensor): float ``[N, F]``.
        index (torch.Tensor, optional): int64 ``[n]`` rows of ``src`` (None: all rows).
        k (int): channels per row, in ``[1, F]`` (ties: the lower channel first).

    Shapes:
        ``[N, F]``, ``[n]`` -> values ``[n, k]``, channels int32 ``[n, k]``.
    """
    return _ops.topk_rows(src, index, int(k))


def gather_channels(src: torch.Tensor, index: torch.Tensor | None, channels: torch.Tensor) -> torch.Tensor:
    """``values[i, j] = src[index[i], channels[i, j]]``.

    Args:
        src (torch.Tensor): float ``[N, F]``.
        index (torch.Tensor, optional): int64 ``[n]`` rows of ``src`` (None: rows ``0..n-1``).
        channels (torch.Tensor): int32 ``[n, k]`` channels in ``[0, F)``.

    Shapes:
        ``[N, F]``, ``[n]``, ``[n, k]`` -> ``[n, k]``.
    """
    return _ops.gather_channels(src, index, channels)


def scatter_channels_(out: torch.Tensor, index: torch.Tensor | None, values: torch.Tensor, channels: torch.Tensor,
                      factor: float = 1.0, accumulate: bool = False) -> torch.Tensor:
    """``out[index[i], channels[i, j]] = values[i, j] * factor`` (``+=`` with ``accumulate``); returns ``out``.

    Entries of ``out`` at other channels are left as they are.

    Args:
        out (torch.Tensor): float ``[N, F]``.
        index (torch.Tensor, optional): int64 ``[n]`` rows of ``out`` (None: rows ``0..n-1``).
        values (torch.Tensor): ``[n, k]``.
        channels (torch.Tensor): int32 ``[n, k]`` channels in ``[0, F)``.
        factor (float): multiplies every value.
        accumulate (bool): add instead of writing.

    Shapes:
        ``[N, F]``, ``[n]``, ``[n, k]``, ``[n, k]`` -> ``[N, F]`` (``out``).
    """
    _ops.scatter_channels_(out, index, values, channels, float(factor), bool(accumulate))
    return out


def delta_select_(held: torch.Tensor, src: torch.Tensor, index: torch.Tensor, threshold: float) -> torch.Tensor:
    """Positions ``i`` with ``||src[index[i]] - held[i]|| > threshold * ||held[i]||`` (or ``held[i]`` not finite).

    Those rows of ``held`` are overwritten with the new values (the sender's copy of what the receiver holds).

    Args:
        held (torch.Tensor): ``[n, F]``, what the receivers hold of each sent row (NaN: nothing yet).
        src (torch.Tensor): ``[N, F]`` the current rows.
        index (torch.Tensor): int64 ``[n]`` rows of ``src``.
        threshold (float): ``T >= 0``.

    Shapes:
        ``[n, F]``, ``[N, F]``, ``[n]`` -> int64 ``[m]`` (ascending positions in ``[0, n)``).
    """
    return _ops.delta_select_(held, src, index, float(threshold))


def topk_count(width: int, fraction: float) -> int:
    """Channels kept per row by ``topk:fraction`` on rows ``width`` wide: ``ceil(fraction * width)``, at least one.

    Args:
        width (int): the row width ``F``.
        fraction (float): ``R`` in ``(0, 1]``.
    """
    return min(width, max(1, math.ceil(fraction * width - 1e-9)))


def channel_dtype(width: int) -> torch.dtype:
    """The narrowest integer type that holds a channel number of rows ``width`` wide (what is sent).

    Args:
        width (int): the row width ``F``.
    """
    return torch.uint8 if width <= 256 else (torch.int16 if width <= 32768 else torch.int32)


# ---------------------------------------------------------------------------------------------- references
def quantize_rows_reference(src, index, dtype, stochastic=False, seed=0):
    """:func:`quantize_rows` in plain PyTorch (same arguments), with deterministic rounding only (stochastic
    draws are the kernel's hash; tests check their bounds instead)."""
    rows = src if index is None else src[index]
    peak = rows.abs().amax(dim=1).float() if rows.shape[1] else rows.new_zeros(rows.shape[0], dtype=torch.float32)
    scale = peak / 127.0 if dtype == torch.int8 else peak
    inv = torch.where(scale > 0, 1.0 / scale, torch.zeros_like(scale))
    v = rows.float() * inv.unsqueeze(1)
    payload = (v + 0.5).floor().clamp(-127, 127).to(torch.int8) if dtype == torch.int8 else v.to(dtype)
    return payload, scale


def dequantize_rows_reference(out, index, payload, scales, factor=1.0, accumulate=False):
    """:func:`dequantize_rows_` in plain PyTorch (same arguments; returns new tensors)."""
    rows = (payload.float() * (scales * factor).unsqueeze(1)).to(out.dtype)
    index = torch.arange(payload.shape[0], device=payload.device) if index is None else index
    return out.index_add(0, index, rows) if accumulate else out.index_copy(0, index, rows)


def topk_rows_reference(src, index, k):
    """:func:`topk_rows` in plain PyTorch (same arguments; returns new tensors)."""
    rows = src if index is None else src[index]
    channels = rows.abs().topk(k, dim=1).indices.sort(dim=1).values
    return rows.gather(1, channels), channels.int()


def gather_channels_reference(src, index, channels):
    """:func:`gather_channels` in plain PyTorch (same arguments; returns new tensors)."""
    rows = src if index is None else src[index]
    return rows.gather(1, channels.long())


def scatter_channels_reference(out, index, values, channels, factor=1.0, accumulate=False):
    """:func:`scatter_channels_` in plain PyTorch (same arguments; returns new tensors)."""
    out = out.clone()
    index = torch.arange(values.shape[0], device=values.device) if index is None else index
    rows = index.unsqueeze(1).expand_as(channels)
    out.index_put_((rows, channels.long()), values * factor, accumulate=accumulate)
    return out


def delta_select_reference(held, src, index, threshold):
    """:func:`delta_select_` in plain PyTorch (same arguments; returns the positions and the new ``held``)."""
    rows = src[index]
    diff = (rows.double() - held.double()).norm(dim=1)
    norm = held.double().norm(dim=1)
    send = ~(diff <= threshold * norm)
    positions = send.nonzero().view(-1)
    held = held.clone()
    held[positions] = rows[positions]
    return positions, held
