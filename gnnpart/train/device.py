"""Which device a rank trains on: ``cpu``, ``cuda`` or ``auto`` (CUDA when torch sees a GPU).

A rank on CUDA takes the GPU of its node-local rank (``COMM_TYPE_SHARED``) modulo the GPUs torch sees, so
``CUDA_VISIBLE_DEVICES`` decides which GPUs a job uses, and several ranks may share one GPU.
"""
from __future__ import annotations

import torch

from gnnpart.errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")


def cuda_unavailable_reason() -> str | None:
    """Why torch cannot use a GPU here, or None when it can."""
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


def check_device(spec) -> None:
    """Refuse ``--device cuda`` where there is no usable GPU, in one line, before any rank starts.

    Args:
        spec (str | torch.device): ``cpu``, ``cuda``, ``auto``, or a device such as ``cuda:1``.
    """
    name = str(spec)
    if name not in DEVICES and not name.startswith(("cuda:", "cpu")):
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)} (got {name!r})")
    if name.startswith("cuda"):
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise ConfigError(f"--device {name}: {reason}; use --device cpu (or auto)")


def resolve_device(spec, comm=None) -> torch.device:
    """The device this rank trains on.

    Args:
        spec (str | torch.device | None): ``cpu`` (also None), ``cuda``, ``auto``, or an explicit device.
        comm (Communicator, optional): gives the node-local rank that picks the GPU (default: GPU 0 for rank 0).
    """
    if spec is None:
        return torch.device("cpu")
    if isinstance(spec, torch.device) and spec.index is not None:
        check_device(spec)
        if spec.type == "cuda":
            torch.cuda.set_device(spec)
        return spec
    name = str(spec)
    check_device(name)
    if name == "cpu" or (name == "auto" and cuda_unavailable_reason() is not None):
        return torch.device("cpu")
    if name.startswith("cuda:"):
        device = torch.device(name)
        torch.cuda.set_device(device)
        return device
    local = comm.local_rank() if comm is not None else 0
    device = torch.device("cuda", local % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device
