"""Training: the :class:`Trainer` (it trains, on a :class:`~gnnpart.rank.Rank`), its :class:`TrainOptions`, the
records it reports, and its callbacks (:mod:`gnnpart.train.callbacks`). Names imported on first use."""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Trainer": "gnnpart.train.trainer",
    "TrainOptions": "gnnpart.train.options",
    "EpochRecord": "gnnpart.train.records",
    "BestRecord": "gnnpart.train.records",
    "FitSummary": "gnnpart.train.records",
})
__all__ = ["Trainer", "TrainOptions", "EpochRecord", "BestRecord", "FitSummary"]
