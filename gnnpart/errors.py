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


class AgreedFailure(GnnpartError):
    """A failure that every rank of a job raises alike, after the ranks agreed on it (each said whether its step
    failed): rank 0 reports it once, and every rank ends with exit status 1 through ``MPI_Finalize``, not
    ``MPI_Abort`` (which under MPICH leaves a segment in ``/dev/shm``)."""


class SameOnEveryRank(AgreedFailure):
    """Every rank's step failed with the same error (a check that only a rank can make, made alike by all of
    them): reported once, as that error (:attr:`error`), in the words one process would use."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error
