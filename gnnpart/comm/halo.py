"""Halo exchange of one rank: fill halo rows from their owners; send their gradients back in backward.

``HaloExchange(comm, plan).exchange(h_inner)`` takes this rank's ``[I, F]`` rows and returns the ``[L, F]`` local
rows (inner, then halo) with the halo filled. It is an autograd operation: the gradient of each halo row goes
back to its owner and is added into the owner's gradient row. ``exchange_async(h_inner).wait()`` gives the same
rows without autograd. Both are exact. A cheaper exchange under a policy (one per layer, with the state it
keeps) comes from :meth:`HaloExchange.policy_exchange`; every exchange goes through one pipeline
(:mod:`gnnpart.comm.exchange_pipeline`) and one :class:`~gnnpart.comm.handle.Handle` type.
"""
from __future__ import annotations

import torch

from gnnpart.comm.communicator import Communicator
from gnnpart.comm.handle import BufferPool, Handle
from gnnpart.comm.exchange_pipeline import Link, PolicyExchange
from gnnpart.comm.plan import ExchangePlan
from gnnpart.comm.policy.spec import HaloPolicy
from gnnpart.comm.byte_counts import ExchangeStats
from gnnpart.comm.sum_plan import SumPlan


class HaloExchange:
    """The halo exchanges of one rank: exact ones, and one :class:`PolicyExchange` per layer under a policy.

    Args:
        comm (Communicator): the job's communicator.
        plan (ExchangePlan): this rank's send and receive lists.
        global_ids (torch.Tensor, optional): int64 ``[L]``, the global id of each local row (``sample`` needs it).

    Attributes:
        stats (ExchangeStats): bytes and seconds of every exchange made through this object.
    """

    def __init__(self, comm: Communicator, plan: ExchangePlan, global_ids: torch.Tensor | None = None):
        if global_ids is not None and global_ids.shape != (plan.num_local,):
            raise ValueError(f"`global_ids` must have one id per local row ({plan.num_local}) "
                             f"(got shape {tuple(global_ids.shape)})")
        self.comm = comm
        self.plan = plan
        self.global_ids = global_ids
        self.stats = ExchangeStats()
        host, _ = comm.hosts()  # collective: every rank makes its exchange at once
        if len(set(host.tolist())) > 1:
            self.stats.internode = host != host[comm.rank]
        self.pool = BufferPool()
        self._made: list[PolicyExchange] = []
        self._exact = self.policy_exchange()

    def policy_exchange(self, policy: HaloPolicy | None = None, key: int | None = None, seed: int = 0,
                        sums: SumPlan | None = None) -> PolicyExchange:
        """A new exchange under ``policy``, with its own state (delta's copies, stale's queue).

        Args:
            policy (HaloPolicy, optional): default exact.
            key (int, optional): a label for its byte counts (``stats.detail[key]``); a layer uses its index.
            seed (int): keys its sampling and rounding draws.
            sums (SumPlan, optional): exchange rows and partial sums along this pre-aggregation plan (its rows are
                ``[R + M, F]``: the ``R`` rows this rank sends as rows, ``sums.kept``, then its ``M`` partial sums;
                :mod:`gnnpart.comm.sum_plan`) instead of
                today's plan; ``bytes_exact`` still counts today's exact exchange.
        """
        if sums is not None:
            base = self.plan
            link = Link(self.comm, sums.plan, None, None, int(seed), key, self.stats, sums.sums_sent,
                        sums.sums_received, (base.send_index.shape[0], base.recv_index.shape[0]))
            made = PolicyExchange(link, policy, self.pool)
            self._made.append(made)
            return made
        ids = self.global_ids
        link = Link(self.comm, self.plan, None if ids is None else ids[self.plan.send_index],
                    None if ids is None else ids[self.plan.recv_index], int(seed), key, self.stats)
        made = PolicyExchange(link, policy, self.pool)
        self._made.append(made)
        return made

    def exchange(self, h_inner: torch.Tensor) -> torch.Tensor:
        """Blocking, differentiable, exact: ``[I, F]`` inner rows -> ``[L, F]`` local rows with the halo filled.

        Args:
            h_inner (torch.Tensor): this rank's rows, one per inner node.

        Shapes:
            ``[I, F]`` -> ``[L, F]``.
        """
        return self._exact.exchange(h_inner)

    def exchange_async(self, h_inner: torch.Tensor) -> Handle:
        """Start an exact exchange now (not differentiable); ``handle.wait()`` returns the ``[L, F]`` rows.

        Args:
            h_inner (torch.Tensor): this rank's rows, one per inner node; keep them unchanged until ``wait()``.

        Shapes:
            ``[I, F]`` -> ``[L, F]``.
        """
        return self._exact.exchange_async(h_inner)

    def drain(self) -> None:
        """Complete the messages that ``stale`` exchanges still have in flight."""
        for made in self._made:
            made.drain()

    def forget_policies(self) -> None:
        """Drain, then drop every policy exchange made so far and its state (a new model's exchanges start
        afresh); the exact exchange stays."""
        self.drain()
        self._made = [self._exact]
