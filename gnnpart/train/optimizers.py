"""The Trainer's default optimizer: Adam for the weights every rank shares, and a sparse optimizer for the rows of
sharded embeddings (:mod:`gnnpart.nn.embedding`), stepped together as one (:class:`OptimizerGroup`)."""
from __future__ import annotations

import torch

SPARSE_OPTIMIZERS = {"adam": torch.optim.SparseAdam, "adagrad": torch.optim.Adagrad}
"""The optimizers of embedding rows by name (both update only the rows a step's sparse gradient holds)."""


class OptimizerGroup:
    """Several optimizers stepped as one: ``step``, ``zero_grad``, ``param_groups`` (all of theirs, in order: a
    change of ``lr`` reaches each) and one ``state_dict``.

    Args:
        optimizers (list[torch.optim.Optimizer]): the members.
    """

    def __init__(self, optimizers):
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        states = state.get("optimizers") if isinstance(state, dict) else None
        if not isinstance(states, list) or len(states) != len(self.optimizers):
            raise ValueError(f"the optimizer state holds {len(states) if isinstance(states, list) else 'no'} "
                             f"optimizers, this one {len(self.optimizers)}")
        for opt, sub in zip(self.optimizers, states):
            opt.load_state_dict(sub)


SPARSE_CAPABLE = (torch.optim.SparseAdam, torch.optim.Adagrad, torch.optim.SGD)
"""The optimizers of ``torch.optim`` that step on sparse gradients."""


def check_sparse_holders(optimizer, shards) -> None:
    """Refuse, in one line, an optimizer that does not hold each embedding row parameter of ``shards`` in a
    member that takes sparse gradients (torch's ``Adam`` would fail at the first step, deep inside torch)."""
    members = getattr(optimizer, "optimizers", [optimizer])
    holder = {id(p): opt for opt in members for group in opt.param_groups for p in group["params"]}
    for shard in shards:
        opt = holder.get(id(shard))
        if opt is None:
            raise ValueError("the optimizer does not hold the rows of the model's sharded embeddings, so they would "
                             "never be trained: give them to a sparse optimizer (torch.optim.SparseAdam), e.g. with "
                             "gnnpart.train.optimizers.OptimizerGroup, or leave `optimizer` to the Trainer")
        if not isinstance(opt, SPARSE_CAPABLE):
            raise ValueError(f"{type(opt).__name__} holds the rows of a sharded embedding, whose gradients are "
                             "sparse: give them to torch.optim.SparseAdam, Adagrad or SGD (an OptimizerGroup steps "
                             "it with the Adam of the other weights)")


def default_optimizer(dense, sharded, lr: float, weight_decay: float, sparse: str = "adam"):
    """Adam(``lr``, ``weight_decay``) for ``dense``; with ``sharded`` rows, an :class:`OptimizerGroup` that adds
    ``SPARSE_OPTIMIZERS[sparse]`` (``lr``, no weight decay) for them."""
    adam = torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay)
    if not sharded:
        return adam
    if sparse not in SPARSE_OPTIMIZERS:
        raise ValueError(f"`sparse_optimizer` must be one of {', '.join(SPARSE_OPTIMIZERS)} (got {sparse!r})")
    return OptimizerGroup([adam, SPARSE_OPTIMIZERS[sparse](list(sharded), lr=lr)])
