"""The objects a :class:`~gnnpart.comm.policy.spec.HaloPolicy` is made of, built for one exchange.

Each term of :data:`~gnnpart.comm.policy.spec.TERMS` has one builder here (``policy -> object of its family``), and
each family a default, used where a policy has no term of it (the exact exchange).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from gnnpart.comm.policy.channel_choice import AllChannels, Learned, TopK
from gnnpart.comm.policy.row_choice import AllRows, Delta, Sample
from gnnpart.comm.policy.schedule import Fresh, Stale
from gnnpart.comm.policy.value_codec import Float, Half, Int8

BUILDERS: dict[str, Callable] = {
    "sample": lambda p: Sample(p.sample),
    "delta": lambda p: Delta(p.delta),
    "topk": lambda p: TopK(p.topk),
    "fp16": lambda p: Half(torch.float16),
    "bf16": lambda p: Half(torch.bfloat16),
    "int8": lambda p: Int8(),
    "stale": lambda p: Stale(p.stale),
    "learned": lambda p: Learned(),
}
"""Term name -> ``build(policy)``, a new object of the term's family for one exchange."""

DEFAULTS: dict[str, Callable] = {"rows": AllRows, "encoding": Float, "channels": AllChannels, "stale": Fresh}
"""The member of each family that a policy without a term of that family uses (exact)."""


@dataclass(frozen=True)
class Components:
    """The objects of one exchange's pipeline, new for each exchange (row choices keep state)."""

    rows: object
    channels: object
    values: object
    schedule: object


def build_components(policy) -> Components:
    """New objects of each family for one exchange under ``policy`` (a :class:`HaloPolicy`).

    Args:
        policy (HaloPolicy): the layer's policy.
    """
    chosen = {family: make() for family, make in DEFAULTS.items()}
    for term in policy.terms:
        chosen[term.family] = BUILDERS[term.name](policy)
    return Components(rows=chosen["rows"], channels=chosen["channels"], values=chosen["encoding"],
                      schedule=chosen["stale"])
