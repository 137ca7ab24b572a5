"""Which transports exist, and the rule that ties a transport to a device (no torch: checked where the program
starts, before any rank)."""
from __future__ import annotations

from gnnpart.errors import ConfigError

TRANSPORTS = ("mpi", "mpi-cuda", "nccl")
"""``mpi`` (everywhere; GPU tensors staged through pinned host memory), ``mpi-cuda`` (a CUDA-aware MPI) and ``nccl``
(one GPU per rank); see :mod:`gnnpart.comm.transport`."""


def check_transport(name: str, device: str) -> None:
    """Refuse, in one line, a transport that does not exist or that needs a GPU on a CPU run.

    Args:
        name (str): the transport.
        device (str): the device (``cpu``, ``cuda``, ``cuda:N``, ``auto``) or a device type.

    Raises:
        ConfigError: naming ``transport`` (and ``device``), the rule and the value.
    """
    if name not in TRANSPORTS:
        raise ConfigError(f"`transport` must be one of {', '.join(TRANSPORTS)} (got {name!r})")
    if name != "mpi" and str(device) == "cpu":
        raise ConfigError(f"`transport` {name} moves GPU memory: it needs `device` cuda (or auto) (got `device` cpu)")
