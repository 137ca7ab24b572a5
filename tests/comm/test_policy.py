"""The --halo grammar: what parses, what each spec means, and what is refused (with the reason)."""
import pytest

from gnnpart.comm.policy import HaloPolicy, parse_halo, parse_layer


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("exact", HaloPolicy()),
        ("sample:0.1", HaloPolicy(sample=0.1)),
        ("int8", HaloPolicy(encoding="int8")),
        ("topk:0.25", HaloPolicy(topk=0.25)),
        ("delta:0", HaloPolicy(delta=0.0)),
        ("stale:2", HaloPolicy(stale=2)),
        ("learned:1e-3", HaloPolicy(learned=1e-3)),
        ("learned:0.01:0.1", HaloPolicy(learned=0.01, learned_min=0.1)),
        ("sample:0.5+int8", HaloPolicy(sample=0.5, encoding="int8")),
        (" stale:1 + sample:0.5 + bf16 ", HaloPolicy(sample=0.5, encoding="bf16", stale=1)),
        ("delta:0.1+topk:0.5+fp16", HaloPolicy(delta=0.1, topk=0.5, encoding="fp16")),
    ],
)
def test_parses(spec, expected):
    policy = parse_layer(spec)
    assert policy == expected
    assert parse_layer(str(policy)) == policy  # the canonical form parses back


def test_one_for_all_or_one_per_layer():
    assert parse_halo("int8", 3) == [HaloPolicy(encoding="int8")] * 3
    assert parse_halo("int8,exact", 2) == [HaloPolicy(encoding="int8"), HaloPolicy()]
    assert parse_halo(None, 2) == [HaloPolicy()] * 2
    assert parse_halo(["sample:0.5", HaloPolicy(topk=0.5)], 2)[1].topk == 0.5
    assert HaloPolicy().is_exact and not HaloPolicy().needs_message
    assert not HaloPolicy(learned=0.1).needs_message and HaloPolicy(stale=1).needs_message


@pytest.mark.parametrize(
    "spec,match",
    [
        ("zip", r"unknown policy 'zip' \(expected one of exact, sample"),
        ("sample:0", r"`sample:0`: the argument must be a fraction in \(0, 1\] \(got '0'\)"),
        ("sample:x", r"a fraction in \(0, 1\] \(got 'x'\)"),
        ("topk:1.5", r"`topk:1.5`: the argument must be a fraction"),
        ("delta:-1", r"a threshold >= 0 \(got '-1'\)"),
        ("stale:0", r"a whole number of epochs >= 1 \(got '0'\)"),
        ("stale:1.5", r"a whole number of epochs >= 1 \(got '1.5'\)"),
        ("learned:0", r"an L1 weight > 0"),
        ("learned:1e-3:2", r"a gate threshold in \(0, 1\)"),
        ("sample", r"expected the form `sample:P`"),
        ("int8:3", r"expected the form `int8`"),
        ("int8+fp16", r"`int8` and `fp16` both choose the encoding"),
        ("sample:0.5+delta:0.1", r"both choose the rows"),
        ("topk:0.5+learned:0.1", r"both choose the channels"),
        ("exact+int8", r"`exact` does not compose"),
        ("stale:1+delta:0.1", r"`stale` does not compose with `delta:0.1`"),
        ("stale:1+topk:0.5", r"`stale` does not compose with `topk:0.5`"),
        ("int8+", r"a layer spec is empty|unknown policy ''"),
    ],
)
def test_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_halo(spec, 2)


def test_layer_count_must_match():
    with pytest.raises(ValueError, match=r"has 3 layer specs; it needs one for all layers or one per layer \(2\)"):
        parse_halo("int8,exact,fp16", 2)
