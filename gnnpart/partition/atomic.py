"""Writing the partition directory atomically: :mod:`gnnpart.atomic`, whose default kind is the partition
directory (kept here, where partitioning code and older callers import it)."""
from gnnpart.atomic import (  # noqa: F401
    PARTITION, Terminated, _exchange, atomic_directory, check_output_dir, is_replaceable, recover, terminate_on_signals,
)

__all__ = ["PARTITION", "Terminated", "_exchange", "atomic_directory", "check_output_dir", "is_replaceable", "recover",
           "terminate_on_signals"]
