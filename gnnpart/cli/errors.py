"""How the command line reports a failure: one line, and an exit status.

Bad input (gnnpart's own errors, ``ValueError``, ``OSError``, ``MemoryError``) is the user's to fix: one line
with the argument, the rule and the value, exit status 1. Anything else is a bug of gnnpart's: one line that says
so and how to see the traceback (``GNNPART_DEBUG=1``), exit status 3. Usage errors (an unknown flag, a flag
without its value) are argparse's: its usage line and exit status 2.
"""
from __future__ import annotations

from gnnpart.errors import GnnpartError

USER_ERRORS = (GnnpartError, ValueError, OSError, MemoryError)
EXIT_USER, EXIT_INTERNAL = 1, 3


def error_line(prefix: str, exc: BaseException, with_type: bool = False) -> tuple[str, int]:
    """``(line, exit status)`` for a failure.

    Args:
        prefix (str): e.g. ``"gnnpart train"`` or ``"gnnpart train: rank 2"``.
        exc (BaseException): the failure.
        with_type (bool): name the exception type in a user error too (the ranks do).
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return f"{prefix}: interrupted", 130
    if isinstance(exc, USER_ERRORS):
        return f"{prefix}: error: {type(exc).__name__ + ': ' if with_type else ''}{text}", EXIT_USER
    return (f"{prefix}: internal error: {type(exc).__name__}: {text} (GNNPART_DEBUG=1 shows the traceback; "
            "please report it)", EXIT_INTERNAL)
