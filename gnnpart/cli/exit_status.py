"""How the command line reports a failure: one line, and an exit status.

Bad input (gnnpart's own errors, ``ValueError``, ``OSError``, ``MemoryError``) is the user's to fix: one line
with the argument, the rule and the value, exit status 1. Anything else is a bug of gnnpart's: one line that says
so and how to see the traceback (``GNNPART_DEBUG=1``), exit status 3. Usage errors (an unknown flag, a flag
without its value) are argparse's: its usage line and exit status 2.

The library names its arguments (`` `device` must be one of ...``); a command's message names its flags instead
(``--device must be one of ...``): :func:`in_flag_terms` rewrites every argument the command has a flag for, in
the errors that are about arguments (:func:`names_arguments`).
"""
from __future__ import annotations

import re

from gnnpart.errors import ConfigError, GnnpartError, ResourceError

USER_ERRORS = (GnnpartError, ValueError, OSError, MemoryError)
EXIT_USER, EXIT_INTERNAL = 1, 3
_ARGUMENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


def in_flag_terms(text: str, flags: dict[str, str] | None) -> str:
    """``text`` with each `` `argument` `` that the command has a flag for written as that flag.

    Args:
        text (str): a library message.
        flags (dict[str, str], optional): argument name -> flag (``{"device": "--device"}``).
    """
    if not flags:
        return text
    return _ARGUMENT.sub(lambda m: flags.get(m.group(1), m.group(0)), text)


def names_arguments(exc: BaseException) -> bool:
    """Whether ``exc`` is about the arguments of a call (a bad value passed, an option that cannot be honoured, a
    request that would not fit),
    whose names the command's flags stand for. A dataset's or a file's error (:class:`~gnnpart.errors.DataError`,
    :class:`~gnnpart.errors.PartitionFormatError`, a ``--config`` file's) names keys of that dataset or file,
    which stay as they are."""
    if type(exc).__name__ == "WritersFailed" and exc.__cause__ is not None:
        return names_arguments(exc.__cause__)  # the parallel writers' agreed failure: as its cause is
    return isinstance(exc, (ConfigError, ResourceError)) or type(exc) in (ValueError, TypeError)


def error_line(prefix: str, exc: BaseException, with_type: bool = False, flags: dict[str, str] | None = None
               ) -> tuple[str, int]:
    """``(line, exit status)`` for a failure.

    Args:
        prefix (str): e.g. ``"gnnpart train"`` or ``"gnnpart train: rank 2"``.
        exc (BaseException): the failure.
        with_type (bool): name the exception type in a user error too (the ranks do).
        flags (dict[str, str], optional): the command's flags by argument name (:func:`in_flag_terms`).
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return f"{prefix}: interrupted", 130
    if isinstance(exc, USER_ERRORS):
        if names_arguments(exc):
            text = in_flag_terms(text, flags)
        return f"{prefix}: error: {type(exc).__name__ + ': ' if with_type else ''}{text}", EXIT_USER
    return (f"{prefix}: internal error: {type(exc).__name__}: {text} (GNNPART_DEBUG=1 shows the traceback; "
            "please report it)", EXIT_INTERNAL)
