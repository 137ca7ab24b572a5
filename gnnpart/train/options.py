"""The options of a training run that are neither the model, nor the rank, nor the callbacks: :class:`TrainOptions`."""
from __future__ import annotations

import math
from dataclasses import dataclass

from gnnpart.block_cache import HEADROOM, check_headroom


def _number(name: str, value, low: float, low_ok: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value < low if low_ok else value <= low):
        rule = f"a finite number {'>=' if low_ok else '>'} {low:g}"
        raise ValueError(f"`{name}` must be {rule} (got {value!r})")


@dataclass(frozen=True)
class TrainOptions:
    """How the Trainer trains; every field is checked when the options are made.

    Args:
        lr (float): learning rate of the default optimizer, Adam (default 0.01; >= 0).
        weight_decay (float): its weight decay (default 5e-4; >= 0).
        seed (int): keys the dropout masks and the exchanges' draws (default 0; in [0, 2**63)).
        eval_every (int): evaluate every k epochs, and at the last (default 1).
        watchdog (float, optional): end the job when no epoch completes in this many seconds, naming the stuck
            ranks (default 600; None: no watchdog). See :mod:`gnnpart.train.watchdog`.
        block_cache (float, optional): keep freed large CPU blocks for the next tensor of the same size, holding at
            most ``1 + block_cache`` times the most the live ones needed (default 0.1; None: off). It stays on for
            the process once a Trainer turned it on. See :mod:`gnnpart.block_cache`.
        sparse_optimizer (str): the default optimizer of sharded embedding rows (:mod:`gnnpart.nn.embedding`):
            ``adam`` (``torch.optim.SparseAdam``, default) or ``adagrad``; at ``lr``, without weight decay.
        batch_size (int, optional): train mini-batch, on global batches of this many training nodes
            (:mod:`gnnpart.train.minibatch`); None (default): full-graph. Give ``fanouts`` with it.
        fanouts (tuple[int], optional): in-edges sampled per target at each hop, one per layer, from the seeds
            outwards (PyG's ``num_neighbors`` order; DGL lists them the other way round).

    Raises:
        ValueError: naming the field, the rule and the value.
    """

    lr: float = 0.01
    weight_decay: float = 5e-4
    seed: int = 0
    eval_every: int = 1
    watchdog: float | None = 600.0
    block_cache: float | None = HEADROOM
    sparse_optimizer: str = "adam"
    batch_size: int | None = None
    fanouts: tuple | None = None

    def __post_init__(self) -> None:
        _number("lr", self.lr, 0.0, True)
        _number("weight_decay", self.weight_decay, 0.0, True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"`seed` must be an integer in [0, 2**63) (got {self.seed!r})")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) or self.eval_every < 1:
            raise ValueError(f"`eval_every` must be an integer >= 1 (got {self.eval_every!r})")
        check_headroom("block_cache", self.block_cache)
        if self.sparse_optimizer not in ("adam", "adagrad"):
            raise ValueError(f"`sparse_optimizer` must be adam or adagrad (got {self.sparse_optimizer!r})")
        if self.watchdog is not None:
            _number("watchdog", self.watchdog, 0.0, False)
        if (self.batch_size is None) != (self.fanouts is None):
            given, missing = ("batch_size", "fanouts") if self.fanouts is None else ("fanouts", "batch_size")
            raise ValueError(f"`{given}` needs `{missing}`: mini-batch training takes both (got {given}="
                             f"{getattr(self, given)!r} without {missing})")
        if self.batch_size is not None:
            if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
                raise ValueError(f"`batch_size` must be an integer >= 1 (got {self.batch_size!r})")
            fanouts = tuple(self.fanouts) if isinstance(self.fanouts, (tuple, list)) else None
            if not fanouts or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in fanouts):
                raise ValueError(f"`fanouts` must be integers >= 1, one per layer (got {self.fanouts!r})")
            object.__setattr__(self, "fanouts", fanouts)
