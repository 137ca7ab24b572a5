"""Training: the Trainer, checkpoints and the MPI launcher."""
from gnnpart.train.trainer import EpochRecord, Trainer

__all__ = ["Trainer", "EpochRecord"]
