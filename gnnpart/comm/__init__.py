"""Communication between ranks: the communicator, exchange plans, halo exchanges and gradient all-reduce.

Data flows in one direction through this package: a :class:`Communicator` and an :class:`ExchangePlan` (built
from arrays) make a :class:`HaloExchange`; its exchanges, exact or under a :class:`HaloPolicy`, all go through
one pipeline (:mod:`gnnpart.comm.exchange_pipeline`) and return one :class:`Handle` type. Nothing here knows about
models, layers or the partition format: callers pass arrays, policies, epochs and keys.

The names below are imported on first use (:mod:`gnnpart.lazy`): importing :mod:`gnnpart.comm.policy.spec` or
:mod:`gnnpart.comm.transport_choice` to check a spec costs no torch.
"""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Communicator": "gnnpart.comm.communicator",
    "ExchangePlan": "gnnpart.comm.plan",
    "HaloExchange": "gnnpart.comm.halo",
    "PolicyExchange": "gnnpart.comm.exchange_pipeline",
    "Handle": "gnnpart.comm.handle",
    "HaloPolicy": "gnnpart.comm.policy.spec",
    "parse_halo": "gnnpart.comm.policy.spec",
    "ExchangeStats": "gnnpart.comm.byte_counts",
    "GradientAllreduce": "gnnpart.comm.allreduce",
    "broadcast_parameters": "gnnpart.comm.allreduce",
    "TRANSPORTS": "gnnpart.comm.transport_choice",
})
__all__ = ["Communicator", "ExchangePlan", "HaloExchange", "PolicyExchange", "Handle", "HaloPolicy", "parse_halo",
           "ExchangeStats", "GradientAllreduce", "broadcast_parameters", "TRANSPORTS"]
