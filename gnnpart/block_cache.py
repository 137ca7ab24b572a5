"""The block cache: freed large CPU blocks kept for the next tensor of the same size (``csrc/memory/``).

A full-graph epoch allocates the same few ``[nodes, hidden]`` tensors every step (layer outputs, dropout, the
gradients flowing back). glibc hands out each block above 32 MiB with a fresh ``mmap`` and unmaps it when the
tensor dies, so every epoch faults all of their pages in again and the kernel zeroes them: on the 1M-node graph
of width 256 this was half of a GraphSAGE epoch on 2 cores (``benchmarks/RESULTS.md``). The cache sits in front of
PyTorch's CPU allocator, as PyTorch's caching allocator does on a GPU: a freed block of at least ``min_bytes`` waits
for the next request of its size class (the size rounded up to one of 16 steps an octave, at most 1/16 more, so
that a mini-batch's tensors, whose sizes vary a little from step to step, reuse each other's blocks: measured,
``relu_dropout_grad`` of a batch 2.5x faster), and smaller requests go to the allocator it replaced. What it holds (live
and cached blocks) stays within ``1 + headroom`` times the most its live blocks ever needed; a request that finds
no block of its size first frees cached blocks of other sizes as far as that bound asks.

The :class:`~gnnpart.train.Trainer` turns it on (``TrainOptions(block_cache=...)``, ``gnnpart train
--block-cache``); it then stays on for the process. Values are unchanged by it: a reused block is written by its
new tensor's op before it is read, as a fresh one is (``torch.empty`` never promised zeroes).
"""
from __future__ import annotations

from dataclasses import dataclass

MIN_BYTES = 1 << 20
"""Blocks smaller than this (1 MiB) go to the allocator the cache replaced (glibc keeps those in its heap)."""

HEADROOM = 0.1
"""Default headroom: the cache holds at most 1.1 x the most its live blocks ever needed."""


@dataclass(frozen=True)
class BlockCacheStats:
    """What the block cache holds and has done since the process started.

    Attributes:
        enabled (bool): whether it serves requests now.
        min_bytes (int): the smallest block it serves.
        cached_bytes (int): freed blocks waiting for reuse.
        live_bytes (int): blocks it handed out that are still in use.
        peak_live_bytes (int): the most live bytes at any time.
        hits (int), misses (int): requests served from the cache, and requests that allocated.
        evicted (int): cached blocks freed to keep within the headroom.
    """

    enabled: bool
    min_bytes: int
    cached_bytes: int
    live_bytes: int
    peak_live_bytes: int
    hits: int
    misses: int
    evicted: int


def _ops():
    import torch

    from gnnpart.capabilities import load_extension

    load_extension()
    return torch.ops.gnnpart


def check_headroom(name: str, value) -> float | None:
    """``value`` when it is None (off) or a finite number >= 0, else a ValueError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < float("inf"):
        raise ValueError(f"`{name}` must be a finite number >= 0, or None to leave the block cache off (got {value!r})")
    return float(value)


def cache_blocks(headroom: float = HEADROOM, min_bytes: int = MIN_BYTES) -> BlockCacheStats:
    """Turn the block cache on for this process (again: set its bounds); returns its stats.

    Args:
        headroom (float): the cache holds at most ``1 + headroom`` times the most its live blocks ever needed
            (0: never more than without it; default 0.1).
        min_bytes (int): the smallest block it serves (default 1 MiB).

    Raises:
        ValueError: naming the argument, the rule and the value.
    """
    check_headroom("headroom", headroom)
    if isinstance(min_bytes, bool) or not isinstance(min_bytes, int) or min_bytes < 1:
        raise ValueError(f"`min_bytes` must be an integer >= 1 (got {min_bytes!r})")
    _ops().block_cache_enable(min_bytes, float(headroom))
    return block_cache_stats()


def stop_caching_blocks() -> None:
    """Turn the block cache off and free what it caches (blocks still in use are freed when their tensors die)."""
    _ops().block_cache_disable()


def empty_block_cache() -> None:
    """Free every cached block (the cache stays on)."""
    _ops().block_cache_empty()


def block_cache_stats() -> BlockCacheStats:
    """The block cache's :class:`BlockCacheStats`."""
    enabled, min_bytes, cached, live, peak, hits, misses, evicted = _ops().block_cache_stats()
    return BlockCacheStats(bool(enabled), min_bytes, cached, live, peak, hits, misses, evicted)
