"""The --halo grammar: what parses, what each spec means, and what is refused (with the reason)."""
import pytest
import torch

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
    assert HaloPolicy().is_exact and not HaloPolicy(stale=1).is_exact


def test_evaluation_keeps_only_the_model_terms():
    assert HaloPolicy(sample=0.5, encoding="int8", stale=2).for_evaluation() == HaloPolicy()
    assert HaloPolicy(sample=0.5, learned=0.1, learned_min=0.2).for_evaluation() == HaloPolicy(learned=0.1, learned_min=0.2)


def test_without_removes_one_term():
    policy = HaloPolicy(sample=0.5, encoding="int8", learned=0.1, learned_min=0.2)
    assert policy.without("learned") == HaloPolicy(sample=0.5, encoding="int8")
    assert policy.without("int8") == HaloPolicy(sample=0.5, learned=0.1, learned_min=0.2)
    assert policy.without("fp16") is policy and policy.without("delta") is policy
    with pytest.raises(ValueError, match=r"`name` must be a halo policy term .* \(got 'zip'\)"):
        policy.without("zip")


def test_build_makes_one_member_of_each_family():
    from gnnpart.comm.policy.channel_choice import AllChannels, Learned, TopK
    from gnnpart.comm.policy.row_choice import AllRows, Delta, Sample
    from gnnpart.comm.policy.schedule import Fresh, Stale
    from gnnpart.comm.policy.value_codec import Float, Half, Int8

    exact = HaloPolicy().build()
    assert (type(exact.rows), type(exact.channels), type(exact.values), type(exact.schedule)) == (AllRows, AllChannels, Float, Fresh)
    built = parse_layer("sample:0.25+topk:0.5+bf16").build()
    assert isinstance(built.rows, Sample) and built.rows.fraction == 0.25
    assert isinstance(built.channels, TopK) and built.channels.fraction == 0.5
    assert isinstance(built.values, Half) and built.values.dtype == torch.bfloat16
    built = parse_layer("delta:0.1+int8").build()
    assert isinstance(built.rows, Delta) and isinstance(built.values, Int8)
    built = parse_layer("stale:3+learned:0.1").build()
    assert isinstance(built.schedule, Stale) and built.schedule.epochs == 3 and isinstance(built.channels, Learned)
    assert parse_layer("delta:0").build().rows is not parse_layer("delta:0").build().rows  # state is per exchange


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sample": 5}, r"HaloPolicy: `sample` must be a fraction in \(0, 1\] \(got 5\)"),
        ({"sample": "0.5"}, r"`sample` must be a fraction in \(0, 1\] \(got '0.5'\)"),
        ({"topk": 0}, r"`topk` must be a fraction"),
        ({"delta": -0.1}, r"`delta` must be a threshold >= 0 \(got -0.1\)"),
        ({"stale": 1.5}, r"`stale` must be a whole number of epochs >= 1 \(got 1.5\)"),
        ({"stale": True}, r"`stale` must be a whole number"),
        ({"encoding": "int4"}, r"`encoding` must be one of fp16, bf16, int8 \(got 'int4'\)"),
        ({"learned": 0.1, "learned_min": 1.0}, r"`learned_min` must be a gate threshold in \(0, 1\)"),
        ({"learned_min": 0.2}, r"`learned_min` applies only with `learned`"),
        ({"sample": 0.5, "delta": 0.1}, r"`sample:0.5` and `delta:0.1` both choose the rows"),
        ({"topk": 0.5, "learned": 0.1}, r"both choose the channels"),
        ({"delta": 0.1, "stale": 1}, r"`stale` does not compose with `delta:0.1`"),
    ],
)
def test_constructor_checks_every_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HaloPolicy(**kwargs)


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
