"""Communication between ranks: communicator, exchange plans, halo exchange, gradient all-reduce."""
from gnnpart.comm.allreduce import GradientAllreduce, broadcast_parameters
from gnnpart.comm.communicator import Communicator
from gnnpart.comm.halo import ExchangeStats, HaloExchange, HaloHandle
from gnnpart.comm.plan import ExchangePlan

__all__ = ["Communicator", "ExchangePlan", "HaloExchange", "HaloHandle", "ExchangeStats", "GradientAllreduce", "broadcast_parameters"]
