"""Value codecs: how a block of rows travels, and how it is decoded into (or added to) the receiver's rows.

Every codec has one interface (:class:`ValueCodec`): :meth:`~ValueCodec.encode` gathers rows ``src[index]`` and
encodes them into parts (``(kind, tensor)`` with one row per message row); :meth:`~ValueCodec.decode_` decodes
received parts and writes or adds them at rows ``index`` of ``out``, times a factor; :meth:`~ValueCodec.decode`
returns the decoded rows. Gather and scatter are fused with encode and decode in the kernels of
:mod:`gnnpart.comm.codec_ops` and :mod:`gnnpart.comm.row_ops`.

* :class:`Float`: the rows as they are (exact).
* :class:`Half`: float16 or bfloat16, divided by the row's largest magnitude, plus that scale (float32).
* :class:`Int8`: 8 bits per value with the row's scale and unbiased stochastic rounding (AdaQP).

Error bound of a decoded element, as a fraction of its row's largest magnitude: float16 ``2**-11``, bfloat16
``2**-9``, int8 ``1/127``.
"""
from __future__ import annotations

from typing import Callable

import torch

from gnnpart.comm.codec_ops import dequantize_rows, dequantize_rows_, quantize_rows
from gnnpart.comm.row_ops import pack_rows, pack_rows_into_, scatter_add_rows_, unpack_rows_

Alloc = Callable[[tuple, torch.dtype], torch.Tensor]
"""``alloc(shape, dtype)``: an uninitialised tensor from a buffer the exchange keeps (see BufferPool)."""


class ValueCodec:
    """The interface of a value codec."""

    def encode(self, src: torch.Tensor, index: torch.Tensor | None, seed: int, alloc: Alloc | None = None) -> list:
        """Parts that carry rows ``src[index]`` (``index`` None: every row of ``src``).

        Args:
            src (torch.Tensor): float ``[N, F]``.
            index (torch.Tensor, optional): int64 ``[n]`` rows of ``src``.
            seed (int): keys random rounding, where the codec has it.
            alloc (callable, optional): where to write the parts, when the codec can write into given memory.

        Returns:
            list of ``(kind, tensor)``, each tensor with ``n`` rows.
        """
        raise NotImplementedError

    def decode_(self, out: torch.Tensor, index: torch.Tensor, parts: list, factor: float, accumulate: bool) -> None:
        """``out[index] = decoded * factor`` (``+=`` with ``accumulate``, where ``index`` may repeat).

        Args:
            out (torch.Tensor): the rows written or added into.
            index (torch.Tensor): int64 rows of ``out``.
            parts (list[torch.Tensor]): the received parts.
            factor (float): multiplies every decoded value.
            accumulate (bool): add instead of writing.

        Shapes:
            ``out`` ``[N, F]``, ``index`` int64 ``[n]``, ``parts`` as :meth:`encode` made them for ``n`` rows.
        """
        raise NotImplementedError

    def decode(self, parts: list, dtype: torch.dtype) -> torch.Tensor:
        """The decoded rows, in ``dtype``.

        Args:
            parts (list[torch.Tensor]): the received parts, ``n`` rows each.
            dtype (torch.dtype): of the result.

        Shapes:
            parts of ``n`` rows -> ``[n, F]``.
        """
        raise NotImplementedError


class Float(ValueCodec):
    """Rows as they are, in their own dtype."""

    def encode(self, src, index, seed, alloc=None):
        if index is None:
            return [("payload", src)]
        if alloc is None:
            return [("payload", pack_rows(src, index))]
        return [("payload", pack_rows_into_(src, index, alloc((index.shape[0], src.shape[1]), src.dtype)))]

    def decode_(self, out, index, parts, factor, accumulate):
        rows = parts[0].to(out.dtype)
        if factor != 1.0:
            rows.mul_(factor)  # a receive buffer of this message (or a converted copy): ours to change
        (scatter_add_rows_ if accumulate else unpack_rows_)(out, index, rows)

    def decode(self, parts, dtype):
        return parts[0].to(dtype)


class _Quantized(ValueCodec):
    """A payload of ``dtype`` with one float32 scale per row (decode: ``payload * scale``)."""

    def __init__(self, dtype: torch.dtype, stochastic: bool):
        self.dtype, self.stochastic = dtype, stochastic

    def encode(self, src, index, seed, alloc=None):
        payload, scales = quantize_rows(src, index, self.dtype, stochastic=self.stochastic, seed=seed)
        return [("payload", payload), ("scales", scales)]

    def decode_(self, out, index, parts, factor, accumulate):
        payload, scales = parts
        dequantize_rows_(out, index, payload, scales, factor, accumulate)

    def decode(self, parts, dtype):
        payload, scales = parts
        return dequantize_rows(payload, scales, dtype)


class Half(_Quantized):
    """16-bit values (``torch.float16`` or ``torch.bfloat16``) divided by the row's largest magnitude.

    Args:
        dtype (torch.dtype): ``torch.float16`` or ``torch.bfloat16``.
    """

    def __init__(self, dtype: torch.dtype):
        if dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f"`dtype` of Half must be torch.float16 or torch.bfloat16 (got {dtype})")
        super().__init__(dtype, stochastic=False)


class Int8(_Quantized):
    """8-bit values, ``x * 127 / max|x|`` per row, rounded up with probability equal to the fraction (unbiased)."""

    def __init__(self):
        super().__init__(torch.int8, stochastic=True)
