"""Mini-batch sampling across ranks, the same on any partition: an epoch's global batches (:mod:`.batches`), each
rank's blocks of its seeds (:class:`NeighborSampler`), its input nodes' features (:class:`FeatureFetcher`), and
the blocks as a model sees them (:class:`Blocks`). The Trainer runs them (:mod:`gnnpart.train.minibatch`)."""
from gnnpart.sample.batches import EpochBatches, epoch_batches
from gnnpart.sample.block import Block, Blocks
from gnnpart.sample.fetch import FeatureFetcher
from gnnpart.sample.sampler import NeighborSampler

__all__ = ["Block", "Blocks", "EpochBatches", "FeatureFetcher", "NeighborSampler", "epoch_batches"]
