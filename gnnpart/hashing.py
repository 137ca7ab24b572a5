"""Counter-based hashing: random draws that depend only on (seed, epoch, stream, global node id, channel).

One hash (SplitMix64's finaliser, ``csrc/hashing/hash.h``) serves two users, which import this module:

* dropout masks (:func:`hash_dropout`; gnnpart.nn), one stream per layer (``stream >= 0``);
* the boundary sampling of the halo exchange (:func:`keep_rows`; gnnpart.comm), stream :data:`SAMPLE_STREAM`.

A draw depends on the node's global id, never on where the node lives, so every rank that holds a node draws
the same value for it, and N ranks draw what one process draws. Different streams give independent draws.
"""
from __future__ import annotations

import numpy as np
import torch

from gnnpart.capabilities import load_extension

load_extension()
_ops = torch.ops.gnnpart

SAMPLE_STREAM = -0x53414D50
"""The stream of the halo exchange's boundary sampling: negative, so apart from every layer's dropout stream."""


@torch.library.register_fake("gnnpart::hash_dropout")
def _hash_dropout_fake(x, ids, seed, epoch, layer, p):
    return torch.empty_like(x)


def _hash_dropout_setup(ctx, inputs, output):
    _, ids, seed, epoch, layer, p = inputs
    ctx.save_for_backward(ids)
    ctx.args = (seed, epoch, layer, p)


def _hash_dropout_backward(ctx, grad):
    (ids,) = ctx.saved_tensors
    return _ops.hash_dropout(grad.contiguous(), ids, *ctx.args), None, None, None, None, None


torch.library.register_autograd("gnnpart::hash_dropout", _hash_dropout_backward, setup_context=_hash_dropout_setup)


@torch.library.register_fake("gnnpart::hash_dropout_relu")
def _hash_dropout_relu_fake(x, ids, seed, epoch, layer, p):
    return torch.empty_like(x)


def _hash_dropout_relu_setup(ctx, inputs, output):
    ctx.save_for_backward(output)
    ctx.scale = float(np.float32(1.0) / np.float32(1.0 - inputs[5]))  # the kernels' float scale


def _hash_dropout_relu_backward(ctx, grad):
    # an output > 0 is an element both kept and positive: the gradient passes there, scaled, and nowhere else
    (out,) = ctx.saved_tensors
    if grad.device.type == "cpu":  # one pass (csrc/hashing/cpu/dropout_kernel.cpp)
        return _ops.relu_dropout_grad(grad, out, ctx.scale), None, None, None, None, None
    return torch.ops.aten.threshold_backward(grad, out, 0).mul_(ctx.scale), None, None, None, None, None


@torch.library.register_fake("gnnpart::relu_dropout_grad")
def _relu_dropout_grad_fake(grad, out, scale):
    return torch.empty_like(grad)


torch.library.register_autograd("gnnpart::hash_dropout_relu", _hash_dropout_relu_backward,
                                setup_context=_hash_dropout_relu_setup)


def hash_dropout_relu(x: torch.Tensor, ids: torch.Tensor, seed: int, epoch: int, stream: int, p: float) -> torch.Tensor:
    """``hash_dropout(relu(x), ...)`` in one pass, differentiable in ``x``.

    Forward reads ``x`` once and writes the output once; backward needs only the output (an element passes the
    gradient exactly where the output is positive), so neither ``relu(x)`` nor the mask is kept.

    Args:
        x (torch.Tensor): float ``[N, F]``.
        ids (torch.Tensor): int64 ``[N]``, the global id of each row.
        seed (int), epoch (int), stream (int): key the draw, as :func:`hash_dropout`.
        p (float): drop probability in ``[0, 1)``.

    Shapes:
        ``[N, F]`` -> ``[N, F]``.
    """
    if p == 0.0:
        return torch.relu(x)
    return _ops.hash_dropout_relu(x, ids, int(seed), int(epoch), int(stream), float(p))


def hash_dropout(x: torch.Tensor, ids: torch.Tensor, seed: int, epoch: int, stream: int, p: float) -> torch.Tensor:
    """Dropout whose mask is hashed from (seed, epoch, stream, ``ids[row]``, channel); differentiable in ``x``.

    Kept elements are scaled by ``1 / (1 - p)``; the backward pass recomputes the mask instead of storing it.

    Args:
        x (torch.Tensor): float ``[N, F]``.
        ids (torch.Tensor): int64 ``[N]``, the global id of each row.
        seed (int), epoch (int), stream (int): key the draw (a layer uses its index as the stream).
        p (float): drop probability in ``[0, 1)``, rounded to a multiple of ``2**-16``.

    Shapes:
        ``[N, F]`` -> ``[N, F]``.
    """
    if p == 0.0:
        return x
    return _ops.hash_dropout(x, ids, int(seed), int(epoch), int(stream), float(p))


def keep_rows(ids: torch.Tensor, seed: int, epoch: int, stream: int, keep: float) -> torch.Tensor:
    """Whether each node is kept in this draw, with probability ``keep`` (rounded to a multiple of ``2**-16``).

    It is the first channel of :func:`hash_dropout`'s mask on a column of ones, so a rank that owns a node and a
    rank that holds it as a halo row agree on it without sending anything.

    Args:
        ids (torch.Tensor): int64 ``[N]`` global node ids.
        seed (int), epoch (int), stream (int): key the draw.
        keep (float): probability in ``(0, 1]`` (1: every node).

    Shapes:
        ``[N]`` -> bool ``[N]``.
    """
    if keep >= 1.0:
        return torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
    ones = torch.ones(ids.shape[0], 1, device=ids.device)
    return _ops.hash_dropout(ones, ids, int(seed), int(epoch), int(stream), 1.0 - float(keep))[:, 0] != 0


def hash_dropout_reference(x, ids, seed, epoch, stream, p):
    """:func:`hash_dropout` in Python integers (slow; for tests)."""
    mask64 = (1 << 64) - 1

    def mix(z):
        z = (z + 0x9E3779B97F4A7C15) & mask64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask64
        return z ^ (z >> 31)

    key_stream = mix(mix(mix(seed & mask64) ^ (epoch & mask64)) ^ (stream & mask64))
    threshold = int(p * 65536.0 + 0.5)
    keep = torch.zeros(x.shape, dtype=torch.bool)
    for r, gid in enumerate(ids.tolist()):
        key = mix(key_stream ^ (gid & mask64))
        for c in range(x.shape[1]):
            bits = mix((key + (c // 4) * 0xD1B54A32D192ED03) & mask64)
            keep[r, c] = ((bits >> (16 * (c % 4))) & 0xFFFF) >= threshold
    return torch.where(keep, x / (1 - p), torch.zeros_like(x))
