"""Halo exchange policies: the ``--halo SPEC`` grammar, parsed and checked before any rank starts.

A spec is one layer spec for every layer, or a comma-separated list with one layer spec per layer. A layer
spec is ``exact`` or terms joined by ``+``; a term is ``name[:arg[:arg]]``:

========================  ==============================================================================
``exact``                 every boundary row, float, both ways (the default)
``sample:P``              each epoch a random fraction ``P`` in (0, 1] of the boundary nodes is sent;
                          receivers use ``row / P`` for those and zero for the rest, and so do gradients
                          (BNS-GCN). Sampling is keyed by (seed, epoch, node), the same on every rank.
``fp16`` ``bf16``         rows encoded in 16 bits with a per-row scale, forward and backward
``int8``                  rows in 8 bits with a per-row scale and stochastic rounding (AdaQP)
``topk:R``                per row, only the largest-magnitude fraction ``R`` in (0, 1] of the channels,
                          sent as (channel, value); gradients return at the same channels
``delta:T``               a row is sent only when it moved by more than ``T`` (relative L2:
                          ``||new - held|| > T ||held||``) from the copy the receiver holds (Sancus)
``stale:K``               halo rows (and the gradients sent back) may be up to ``K`` epochs old; the
                          exchange of this epoch overlaps the next epochs' compute (PipeGCN)
``learned:L1[:MIN]``      a learnable gate per channel of the halo rows, trained with an L1 penalty of
                          weight ``L1``; only channels with ``|gate| >= MIN`` (default 0.05) are sent (DISCO)
========================  ==============================================================================

Terms compose when they act on different things: a row choice (``sample`` or ``delta``), a value encoding
(``fp16``/``bf16``/``int8``), a channel choice (``topk`` or ``learned``), and ``stale``. These do not compose:
two terms of one kind, ``exact`` with anything, ``stale`` with ``delta`` or ``topk`` (their bookkeeping needs
the message of the same epoch). Policies act in training; evaluation exchanges exactly (``learned`` gates are
part of the model, so they apply in evaluation too).
"""
from __future__ import annotations

from dataclasses import dataclass

NAMES = ("exact", "sample", "fp16", "bf16", "int8", "topk", "delta", "stale", "learned")
ENCODINGS = ("fp16", "bf16", "int8")


@dataclass(frozen=True)
class HaloPolicy:
    """One layer's exchange policy (see the module docstring for the meaning of each field)."""

    sample: float | None = None
    delta: float | None = None
    encoding: str | None = None
    topk: float | None = None
    stale: int = 0
    learned: float | None = None
    learned_min: float = 0.05

    @property
    def is_exact(self) -> bool:
        return self == HaloPolicy()

    @property
    def needs_message(self) -> bool:
        """Whether the exchange itself (not only the model) differs from exact."""
        return any(v is not None for v in (self.sample, self.delta, self.encoding, self.topk)) or self.stale > 0

    def __str__(self) -> str:
        terms = []
        if self.sample is not None:
            terms.append(f"sample:{self.sample:g}")
        if self.delta is not None:
            terms.append(f"delta:{self.delta:g}")
        if self.topk is not None:
            terms.append(f"topk:{self.topk:g}")
        if self.encoding is not None:
            terms.append(self.encoding)
        if self.stale:
            terms.append(f"stale:{self.stale}")
        if self.learned is not None:
            terms.append(f"learned:{self.learned:g}:{self.learned_min:g}")
        return "+".join(terms) or "exact"


def _number(term: str, arg: str, kind, rule: str, ok) -> float:
    try:
        value = kind(arg)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise ValueError(f"halo spec `{term}`: the argument must be {rule} (got '{arg}')")
    return value


def parse_layer(spec: str) -> HaloPolicy:
    """One layer spec (``exact``, or terms joined by ``+``) -> :class:`HaloPolicy`."""
    text = spec.strip()
    if not text:
        raise ValueError("halo spec: a layer spec is empty (expected e.g. `exact`, `int8` or `sample:0.5+int8`)")
    fields: dict = {}
    kinds: dict = {}
    terms = [t.strip() for t in text.split("+")]
    for term in terms:
        name, *args = term.split(":")
        if name not in NAMES:
            raise ValueError(f"halo spec `{term}`: unknown policy '{name}' (expected one of {', '.join(NAMES)})")
        wanted = {"exact": (0, 0), "fp16": (0, 0), "bf16": (0, 0), "int8": (0, 0), "learned": (1, 2)}.get(name, (1, 1))
        if not wanted[0] <= len(args) <= wanted[1]:
            form = {"learned": "learned:L1[:MIN]", "sample": "sample:P", "topk": "topk:R", "delta": "delta:T",
                    "stale": "stale:K"}.get(name, name)
            raise ValueError(f"halo spec `{term}`: expected the form `{form}`")
        kind = {"sample": "rows", "delta": "rows", "fp16": "encoding", "bf16": "encoding", "int8": "encoding",
                "topk": "channels", "learned": "channels"}.get(name, name)
        if kind in kinds:
            raise ValueError(f"halo spec `{text}`: `{kinds[kind]}` and `{term}` both choose the {kind}; use one of them")
        kinds[kind] = term
        if name == "sample":
            fields["sample"] = _number(term, args[0], float, "a fraction in (0, 1]", lambda v: 0.0 < v <= 1.0)
        elif name == "topk":
            fields["topk"] = _number(term, args[0], float, "a fraction in (0, 1]", lambda v: 0.0 < v <= 1.0)
        elif name == "delta":
            fields["delta"] = _number(term, args[0], float, "a threshold >= 0", lambda v: v >= 0.0)
        elif name == "stale":
            fields["stale"] = _number(term, args[0], int, "a whole number of epochs >= 1", lambda v: v >= 1)
        elif name == "learned":
            fields["learned"] = _number(term, args[0], float, "an L1 weight > 0", lambda v: v > 0.0)
            if len(args) == 2:
                fields["learned_min"] = _number(term, args[1], float, "a gate threshold in (0, 1)", lambda v: 0.0 < v < 1.0)
        elif name in ENCODINGS:
            fields["encoding"] = name
    if "exact" in kinds and len(terms) > 1:
        raise ValueError(f"halo spec `{text}`: `exact` does not compose with other policies")
    if "stale" in kinds:
        for other in (kinds.get("rows"), kinds.get("channels")):
            if other and other.split(":")[0] in ("delta", "topk"):
                raise ValueError(f"halo spec `{text}`: `stale` does not compose with `{other}` (its bookkeeping needs "
                                 "the message of the same epoch)")
    return HaloPolicy(**fields)


def parse_halo(spec, num_layers: int) -> list[HaloPolicy]:
    """``--halo SPEC`` -> one :class:`HaloPolicy` per layer.

    Args:
        spec (str | HaloPolicy | list): a spec string (one for all layers, or comma-separated, one per layer),
            a policy, or a list with one str/policy per layer. None means exact.
        num_layers (int): the model's number of layers.
    """
    if spec is None:
        return [HaloPolicy()] * num_layers
    if isinstance(spec, HaloPolicy):
        return [spec] * num_layers
    if isinstance(spec, str):
        parts = spec.split(",")
    else:
        parts = list(spec)
    policies = [p if isinstance(p, HaloPolicy) else parse_layer(str(p)) for p in parts]
    if len(policies) == 1:
        return policies * num_layers
    if len(policies) != num_layers:
        raise ValueError(f"halo spec '{spec}' has {len(policies)} layer specs; it needs one for all layers or one "
                         f"per layer ({num_layers})")
    return policies
