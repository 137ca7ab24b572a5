"""Communication between ranks: the communicator, exchange plans, halo exchanges and gradient all-reduce.

Data flows in one direction through this package: a :class:`Communicator` and an :class:`ExchangePlan` (built
from arrays) make a :class:`HaloExchange`; its exchanges, exact or under a :class:`HaloPolicy`, all go through
one pipeline (:mod:`gnnpart.comm.pipeline`) and return one :class:`Handle` type. Nothing here knows about models,
layers or the partition format: callers pass policies, epochs and keys.
"""
from gnnpart.comm.allreduce import GradientAllreduce, broadcast_parameters
from gnnpart.comm.communicator import Communicator
from gnnpart.comm.halo import HaloExchange
from gnnpart.comm.handle import Handle
from gnnpart.comm.pipeline import PolicyExchange
from gnnpart.comm.plan import ExchangePlan
from gnnpart.comm.policy import HaloPolicy, parse_halo
from gnnpart.comm.stats import ExchangeStats

__all__ = ["Communicator", "ExchangePlan", "HaloExchange", "PolicyExchange", "Handle", "HaloPolicy", "parse_halo",
           "ExchangeStats", "GradientAllreduce", "broadcast_parameters"]
