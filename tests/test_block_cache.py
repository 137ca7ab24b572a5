"""The block cache (gnnpart.block_cache, csrc/memory/block_cache.cpp): reuse by exact size, the headroom bound, blocks
below the minimum left alone, off means off, and training with it gives the bits of training without it."""
from __future__ import annotations

import random

import pytest
import torch

from gnnpart import block_cache as memory
from gnnpart.block_cache import block_cache_stats, cache_blocks, empty_block_cache, stop_caching_blocks

MIB = 1 << 20


@pytest.fixture
def cache():
    """The cache on with a 1 MiB minimum and no headroom limit to speak of; afterwards as it was."""
    before = block_cache_stats()
    cache_blocks(headroom=100.0, min_bytes=MIB)
    empty_block_cache()
    yield
    empty_block_cache()
    if before.enabled:
        cache_blocks()
    else:
        stop_caching_blocks()


def floats(mib: float) -> int:
    return int(mib * MIB) // 4


def test_a_freed_block_serves_the_next_request_of_its_size(cache):
    a = torch.empty(floats(4))
    address = a.data_ptr()
    a.fill_(3.0)
    del a
    s = block_cache_stats()
    assert s.cached_bytes == 4 * MIB
    b = torch.empty(floats(4))
    t = block_cache_stats()
    assert b.data_ptr() == address and t.hits == s.hits + 1 and t.cached_bytes == 0
    assert t.live_bytes == s.live_bytes + 4 * MIB
    b.copy_(torch.arange(b.numel(), dtype=torch.float32))  # the block is the new tensor's own
    assert float(b[-1]) == b.numel() - 1
    u = block_cache_stats()
    c = torch.empty(floats(5))  # no block of this size: a miss
    assert block_cache_stats().misses == u.misses + 1
    del b, c


def test_blocks_below_the_minimum_are_not_served(cache):
    s = block_cache_stats()
    small = torch.empty(floats(0.5))
    t = block_cache_stats()
    assert (t.live_bytes, t.hits, t.misses) == (s.live_bytes, s.hits, s.misses)
    del small
    assert block_cache_stats().cached_bytes == 0


def test_what_it_holds_stays_within_the_headroom():
    before = block_cache_stats()
    rng = random.Random(0)
    try:
        for headroom in (0.0, 0.1, 0.5):
            stop_caching_blocks()
            cache_blocks(headroom=headroom, min_bytes=MIB)
            base = block_cache_stats()
            held, worst = [], 0.0
            for _ in range(300):  # random sizes in and out, as the shapes of a few models would come and go
                if held and rng.random() < 0.45:
                    held.pop(rng.randrange(len(held)))
                else:
                    held.append(torch.empty(floats(rng.choice((1, 2, 3, 8)))))
                s = block_cache_stats()
                peak = s.peak_live_bytes - base.live_bytes
                worst = max(worst, (s.live_bytes - base.live_bytes + s.cached_bytes) / max(peak, 1))
            assert worst <= 1.0 + headroom + 1e-9, (headroom, worst)
            del held
            if headroom == 0.5:
                assert block_cache_stats().hits > base.hits  # and it did reuse blocks
    finally:
        stop_caching_blocks()
        if before.enabled:
            cache_blocks()


def test_off_frees_the_cache_and_serves_nothing(cache):
    kept = torch.empty(floats(2))  # alive across the switch: freed later through the cache's deleter
    torch.empty(floats(3))
    assert block_cache_stats().cached_bytes == 3 * MIB
    stop_caching_blocks()
    s = block_cache_stats()
    assert not s.enabled and s.cached_bytes == 0
    x = torch.empty(floats(3))
    assert block_cache_stats().misses == s.misses and block_cache_stats().hits == s.hits
    kept.fill_(1.0)
    del kept, x
    assert block_cache_stats().cached_bytes == 0


@pytest.mark.parametrize("call, message", [
    (lambda: cache_blocks(headroom=-0.5), r"`headroom` must be a finite number >= 0, or None .*\(got -0.5\)"),
    (lambda: cache_blocks(headroom=float("inf")), r"`headroom` must be a finite number >= 0.*\(got inf\)"),
    (lambda: cache_blocks(min_bytes=0), r"`min_bytes` must be an integer >= 1 \(got 0\)"),
    (lambda: memory.check_headroom("block_cache", True), r"`block_cache` must be .*\(got True\)"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_train_options_check_the_field():
    from gnnpart.train import TrainOptions

    with pytest.raises(ValueError, match=r"`block_cache` must be a finite number >= 0, or None .*\(got -1\)"):
        TrainOptions(block_cache=-1)
    assert TrainOptions().block_cache == memory.HEADROOM and TrainOptions(block_cache=None).block_cache is None


def test_training_with_the_cache_gives_the_bits_of_training_without(tmp_path):
    """The same 3 epochs with the cache off and on, one process: every loss and weight bit-identical, and the
    cache served the second run's large tensors."""
    import gnnpart
    from gnnpart.comm import Communicator
    from gnnpart.nn import build_model
    from gnnpart.rank import Rank
    from gnnpart.train import Trainer, TrainOptions

    part = str(tmp_path / "parts")
    gnnpart.partition_graph(gnnpart.load("synthetic:nodes=6000,degree=8,classes=4,features=64,seed=1"), 1, part)
    before = block_cache_stats()
    runs = []
    try:
        for headroom in (None, 0.1):
            stop_caching_blocks()
            rank = Rank.open(part, Communicator())
            torch.manual_seed(0)
            model = build_model("sage", 64, 128, 4, 2, dropout=0.5)
            trainer = Trainer(model, rank, options=TrainOptions(eval_every=100, watchdog=None, block_cache=headroom))
            start = block_cache_stats()
            losses = [trainer.train_step() for _ in range(3) if not setattr(trainer, "epoch", trainer.epoch + 1)]
            end = block_cache_stats()
            runs.append((losses, [p.detach().clone() for p in model.parameters()], start, end))
    finally:
        stop_caching_blocks()
        if before.enabled:
            cache_blocks()
    (loss_off, w_off, s0, e0), (loss_on, w_on, s1, e1) = runs
    assert loss_off == loss_on
    assert all(torch.equal(a, b) for a, b in zip(w_off, w_on))
    assert not s0.enabled and e0.hits == s0.hits and e0.misses == s0.misses
    assert s1.enabled and e1.hits - s1.hits >= 3  # [6000, 128] float32 is 3 MiB: each epoch reused such blocks
