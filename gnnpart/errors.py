"""Exception types raised by gnnpart for bad input.

Every error raised for user input names the argument (or file), the rule it
broke and the value it had. The CLI turns these into one-line messages.
"""


class GnnpartError(Exception):
    """Base class of gnnpart's own errors."""


class DataError(GnnpartError, ValueError):
    """A dataset, a graph field or a data file is invalid."""


class PartitionFormatError(GnnpartError, ValueError):
    """A partition directory is missing, incomplete, corrupted or of another version."""


class PartitionerError(GnnpartError, RuntimeError):
    """A partitioner (METIS, KaMinPar) is missing or reported an error."""


class MetisError(PartitionerError):
    """The METIS library is missing or reported an error."""


class ResourceError(GnnpartError, ValueError):
    """A request needs more memory (or another resource) than the machine has; refused before allocating."""


class ConfigError(GnnpartError, ValueError):
    """An option cannot be honoured here (no GPU for ``--device cuda``, an MPI that is not CUDA-aware, ...)."""
