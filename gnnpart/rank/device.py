"""Where a rank computes and how its GPU tensors travel: a :class:`Placement`, made once where the program starts.

``device`` is ``cpu``, ``cuda`` (the GPU of the rank's node-local rank, ``COMM_TYPE_SHARED``, modulo the GPUs torch
sees, so ``CUDA_VISIBLE_DEVICES`` decides which GPUs a job uses and several ranks may share one), ``cuda:N`` or
``auto`` (CUDA when torch sees a usable GPU). ``transport`` is one of :data:`gnnpart.comm.transport_choice.TRANSPORTS`.
Making a placement checks the names and the rule that ties them (no torch); :meth:`Placement.check_available` asks
torch whether a GPU is there, and :meth:`Placement.resolve` gives this rank's ``torch.device``.
"""
from __future__ import annotations

from dataclasses import dataclass

from gnnpart.comm.transport_choice import check_transport
from gnnpart.errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")


def cuda_unavailable_reason() -> str | None:
    """Why torch cannot use a GPU here, or None when it can."""
    import torch

    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device (check the driver and CUDA_VISIBLE_DEVICES)"
    from gnnpart.capabilities import load_extension

    load_extension()
    if not torch._C._dispatch_has_kernel_for_dispatch_key("gnnpart::spmm_sum", "CUDA"):
        return ("gnnpart._C was built without its CUDA kernels (rebuild with CUDA_HOME set, or FORCE_CUDA=1: "
                "pip install --no-build-isolation -e .)")
    return None


def _device_name(device) -> str:
    name = str(device)
    kind, _, index = name.partition(":")
    if name in DEVICES or (kind in ("cpu", "cuda") and index.isdigit()):
        return name
    raise ConfigError(f"`device` must be one of {', '.join(DEVICES)}, or cuda:N (got {name!r})")


@dataclass(frozen=True)
class Placement:
    """Where a rank computes (``device``) and how GPU tensors travel between ranks (``transport``).

    Args:
        device (str | torch.device): ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``.
        transport (str): ``mpi`` (default), ``mpi-cuda`` or ``nccl`` (:mod:`gnnpart.comm.transport`).

    Raises:
        ConfigError: naming ``device`` or ``transport``, the rule and the value.
    """

    device: str = "cpu"
    transport: str = "mpi"

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", _device_name(self.device))
        check_transport(self.transport, self.device)

    def __str__(self) -> str:
        return f"{self.device}, transport {self.transport}"

    @property
    def wants_cuda(self) -> bool:
        """Whether the device must be a GPU (``cuda`` or ``cuda:N``; ``auto`` may fall back to the CPU)."""
        return self.device.startswith("cuda")

    def check_available(self) -> None:
        """Refuse a GPU device where there is no usable GPU, in one line (imports torch only for a GPU device).

        Raises:
            ConfigError: ``device`` cuda without a usable GPU, saying why.
        """
        if self.wants_cuda:
            reason = cuda_unavailable_reason()
            if reason is not None:
                raise ConfigError(f"`device` {self.device}: {reason}; use `device` cpu (or auto)")

    def resolve(self, comm=None):
        """This rank's ``torch.device`` (and, for a GPU, the current CUDA device set to it).

        Args:
            comm (Communicator, optional): gives the node-local rank that picks the GPU (default: GPU 0).
        """
        import torch

        self.check_available()
        if self.device == "cpu" or (self.device == "auto" and cuda_unavailable_reason() is not None):
            return torch.device("cpu")
        if ":" in self.device:
            device = torch.device(self.device)
        else:
            local = comm.local_rank() if comm is not None else 0
            device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
        return device
