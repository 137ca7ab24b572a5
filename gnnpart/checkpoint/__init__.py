"""Checkpoints: written atomically by rank 0 and read back without pickles (:mod:`.checkpoint_file`), and the
checks that a checkpoint fits what it is loaded into (:mod:`.compatibility`). Names imported on first use."""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "CHECKPOINT_FILE": "gnnpart.checkpoint.checkpoint_file",
    "save_checkpoint": "gnnpart.checkpoint.checkpoint_file",
    "load_checkpoint": "gnnpart.checkpoint.checkpoint_file",
    "check_resume": "gnnpart.checkpoint.compatibility",
    "check_inference": "gnnpart.checkpoint.compatibility",
})
__all__ = ["CHECKPOINT_FILE", "save_checkpoint", "load_checkpoint", "check_resume", "check_inference"]
