"""Package exports imported on first use (PEP 562), so that importing a package costs nothing until a name is used.

``gnnpart --help`` and the launcher of ``gnnpart train -n N`` import only what they need: importing
``gnnpart.comm`` must not import torch because one of its names does. A package lists its public names and the
modules that define them::

    __getattr__, __dir__ = lazy_exports(__name__, {"Communicator": "gnnpart.comm.communicator", ...})

``from gnnpart.comm import Communicator`` then imports ``gnnpart.comm.communicator`` at that moment, and the name
is kept in the package afterwards. The import-cycle test reads these tables as imports.
"""
from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package``, whose public names live in the modules ``exports`` names.

    Args:
        package (str): the package's ``__name__``.
        exports (dict[str, str]): public name -> the module that defines it.
    """

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later look-ups find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
