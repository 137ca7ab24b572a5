"""Halo exchange policies: the ``--halo SPEC`` grammar, the table of its terms, and :class:`HaloPolicy`.

This docstring is the one description of the grammar (the README points here). The grammar as data and its
parsers are in :mod:`gnnpart.comm.policy.spec` (no torch: a spec is parsed where the program starts), the
objects of each family in the modules named below, built for an exchange by :mod:`gnnpart.comm.policy.families`.

A spec is one layer spec for every layer, or a comma-separated list with one layer spec per layer. A layer
spec is ``exact`` or terms joined by ``+``; a term is ``name[:arg[:arg]]``:

========================  ==============================================================================
``exact``                 every boundary row, float, both ways (the default)
``sample:P``              each epoch a random fraction ``P`` in (0, 1] of the boundary nodes is sent;
                          receivers use ``row / P`` for those and zero for the rest, and so do gradients
                          (BNS-GCN). Sampling is keyed by (seed, epoch, node), the same on every rank.
``delta:T``               a row is sent only when it moved by more than ``T`` (relative L2:
                          ``||new - held|| > T ||held||``) from the copy the receiver holds (Sancus)
``topk:R``                per row, only the largest-magnitude fraction ``R`` in (0, 1] of the channels,
                          sent as (channel, value); gradients return at the same channels
``fp16`` ``bf16``         rows encoded in 16 bits with a per-row scale, forward and backward
``int8``                  rows in 8 bits with a per-row scale and stochastic rounding (AdaQP)
``stale:K``               halo rows (and the gradients sent back) may be up to ``K`` epochs old; the
                          exchange of this epoch overlaps the next epochs' compute (PipeGCN)
``learned:L1[:MIN]``      a learnable gate per channel of the halo rows, trained with an L1 penalty of
                          weight ``L1``; only channels with ``|gate| >= MIN`` (default 0.05) are sent (DISCO)
========================  ==============================================================================

Each term belongs to one family, and a layer spec takes at most one term of each: a row choice (``sample``,
``delta``: :mod:`gnnpart.comm.policy.row_choice`), a value encoding (``fp16``, ``bf16``, ``int8``:
:mod:`gnnpart.comm.policy.value_codec`), a channel choice (``topk``, ``learned``: :mod:`gnnpart.comm.policy.channel_choice`),
and ``stale`` (:mod:`gnnpart.comm.policy.schedule`). ``exact`` composes with nothing, and ``stale`` not with ``delta``
or ``topk`` (their bookkeeping needs the message of the same epoch). Policies act in training; evaluation
exchanges exactly, except that ``learned`` gates are part of the model and apply in evaluation too.

Adding a term means adding its class to its family's module, one entry to
:data:`~gnnpart.comm.policy.spec.TERMS` (plus the :class:`HaloPolicy` field that holds its argument) and its
builder to :data:`~gnnpart.comm.policy.families.BUILDERS`; nothing else branches on which terms a policy has.
"""

from gnnpart.lazy import lazy_exports

_SPEC = "gnnpart.comm.policy.spec"
__getattr__, __dir__ = lazy_exports(__name__, {"HaloPolicy": _SPEC, "parse_halo": _SPEC, "parse_layer": _SPEC,
                                               "TERMS": _SPEC})
__all__ = ["HaloPolicy", "parse_halo", "parse_layer", "TERMS"]
