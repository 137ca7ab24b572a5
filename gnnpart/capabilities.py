"""Capability probes: what this installation can do.

All ``try: import`` checks for optional pieces live here, so the rest of the
package asks one place (extension built? CUDA? MPI? METIS?).
"""
from __future__ import annotations

import ctypes.util
import functools
import importlib.util
import os

BUILD_HINT = (
    "build it from the source tree with `pip install torch==2.13.0` (or another torch) "
    "followed by `pip install --no-build-isolation -e .`"
)


def load_extension():
    """Import the compiled extension ``gnnpart._C`` (registers ``torch.ops.gnnpart``).

    Raises:
        ImportError: if the extension was not built, with instructions to build it.
    """
    import torch  # noqa: F401  (the extension links against libtorch, load it first)

    try:
        from gnnpart import _C
    except ImportError as exc:
        raise ImportError(f"gnnpart's compiled extension gnnpart._C could not be imported ({exc}); {BUILD_HINT}") from exc
    return _C


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()


def mpi_available() -> bool:
    """Whether mpi4py can be imported (it needs an MPI library)."""
    return importlib.util.find_spec("mpi4py") is not None


def kaminpar_available() -> bool:
    """Whether KaMinPar's Python binding (``kaminpar`` on PyPI) can be imported."""
    return importlib.util.find_spec("kaminpar") is not None


@functools.lru_cache(maxsize=None)
def metis_library_path() -> str | None:
    """Path or soname of the METIS 5 shared library, or ``None`` if there is none.

    ``GNNPART_METIS_LIB`` overrides the search (a path to ``libmetis.so``).
    """
    override = os.environ.get("GNNPART_METIS_LIB")
    if override:
        return override
    return ctypes.util.find_library("metis")
