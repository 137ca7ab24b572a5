"""Pre-aggregation (aggregate_at, gnnpart/comm/sum_plan.py and gnnpart/nn/pre_aggregate.py): N ranks with partial
sums equal one rank for GCN, GraphSAGE and GIN (10 steps, dropout, float64), forward and backward; ``receiver`` is
today's exchange bit for bit; the plan sends, per pair of ranks, as many rows as a minimum vertex cover (checked
against every subset on small graphs); the codecs, ``delta`` and ``stale`` compose; bytes are counted apart."""
import json
import re

import numpy as np
import pytest
import torch

from gnnpart import load, partition_graph
from gnnpart.comm import Communicator
from gnnpart.nn import GAT, build_model
from gnnpart.partition.cover import cover_report
from gnnpart.partition.store import load_partition, read_meta
from gnnpart.rank import Rank
from gnnpart.train import Trainer
from tests.mpi import gnnpart_cli, gnnpart_in_process, run_by_size
from tests.workers.sums_worker import SPECS

STEPS = 10
RANKS = [1, 2, 3, 4]
TOLERANCE = 1e-9
"""Relative, in float64: the partial sums add the same terms in another order (measured differences ~1e-13)."""
SMALL = "synthetic:nodes=70,degree=3,classes=3,features=5,seed=4"


@pytest.fixture(scope="module")
def dirs(cora, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sums")
    small = load(SMALL)
    for n in RANKS:
        partition_graph(cora, n, tmp / f"cora-{n}")
        partition_graph(small, n, tmp / f"small-{n}")
    return tmp


@pytest.fixture(scope="module")
def runs(dirs):
    """``{n: arrays}`` of the worker's runs on Cora at every rank count, and ``{n: pairs}`` on the small graph, in
    one launch."""
    groups = {n: [dirs / f"cora-{n}", dirs / f"cora-{n}.npz", STEPS, "::", dirs / f"small-{n}",
                  dirs / f"small-{n}.npz", STEPS] for n in RANKS}
    run_by_size("sums_worker.py", groups, timeout=900)
    return ({n: dict(np.load(dirs / f"cora-{n}.npz")) for n in RANKS},
            {n: dict(np.load(dirs / f"small-{n}.npz")) for n in RANKS})


def assert_agree(got, want, what):
    for key, value in want.items():
        if key.endswith("/loss"):
            np.testing.assert_allclose(got[key], value, rtol=TOLERANCE, atol=0, err_msg=f"{what}: {key}")
        elif "/weight/" in key:
            err = np.abs(got[key] - value).max() / max(np.abs(value).max(), 1e-12)
            assert err <= TOLERANCE, f"{what}: {key} differs by {err:.2e} of its largest entry"


def run_of(arrays, mode, halo, spec):
    prefix = f"{mode}/{halo}/{spec}/"
    return {k[len(prefix) - 1:]: v for k, v in arrays.items() if k.startswith(prefix)}


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("mode", ["sender", "auto"])
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("graph", ["cora", "small"])
def test_partial_sums_on_n_ranks_equal_one_rank(runs, graph, n, mode, spec):
    arrays = runs[0] if graph == "cora" else runs[1]
    got, want = run_of(arrays[n], mode, "exact", spec), run_of(arrays[1], "receiver", "exact", spec)
    assert got and set(got) == set(want)
    assert_agree(got, want, f"{graph} {spec} {mode} on {n} ranks")
    assert want["/loss"][-1] < want["/loss"][0]  # it trains: the comparison covers the backward pass
    today = run_of(arrays[n], "receiver", "exact", spec)
    assert np.array_equal(got["/exact"], today["/bytes"])  # bytes_exact is today's exact exchange
    if graph == "cora":
        assert (got["/sums"] > 0).all()  # partial sums did travel
        if mode == "auto":
            assert (got["/bytes"] < today["/bytes"]).all()
    elif spec == "gcn:0":  # 5 features <= 16: the first layer's aggregation is cached, its exchange made at setup
        assert 0 < got["/setup"] <= today["/setup"]


@pytest.mark.parametrize("n", RANKS)
@pytest.mark.parametrize("spec", SPECS)
def test_receiver_is_todays_exchange_bit_for_bit(runs, n, spec):
    arrays = runs[0][n]
    explicit, default = run_of(arrays, "receiver", "exact", spec), run_of(arrays, "default", "exact", spec)
    assert explicit and set(explicit) == set(default)
    for key, value in default.items():
        assert np.array_equal(explicit[key], value), key
    assert (explicit["/sums"] == 0).all()


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("halo", ["stale:2", "delta:0"])
def test_stale_and_delta_compose_exactly(runs, n, halo):
    """A stale partial sum is the partial sum of the stale rows, and delta:0 sends every row that changed: both give
    what the same policy gives with rows."""
    arrays = runs[0][n]
    for spec in SPECS:
        got, want = run_of(arrays, "auto", halo, spec), run_of(arrays, "receiver", halo, spec)
        assert_agree(got, want, f"{spec} auto+{halo} on {n} ranks")
        assert (got["/sums"] > 0).any() and got["/bytes"].sum() < want["/bytes"].sum()


@pytest.mark.parametrize("halo", ["fp16", "int8"])
def test_codecs_compose(runs, halo):
    arrays = runs[0][3]
    for spec in SPECS:
        got, exact = run_of(arrays, "auto", halo, spec), run_of(arrays, "auto", "exact", spec)
        assert (got["/sums"] > 0).all() and (got["/bytes"] < exact["/bytes"]).all()
        np.testing.assert_allclose(got["/loss"], exact["/loss"], rtol=2e-2)  # lossy, but close


def cut_edges(part_dir):
    """``{(p, q): (src, dst)}`` global ids of the cut edges from part p into part q, read from the parts."""
    out = {}
    for q in range(read_meta(part_dir)["num_parts"]):
        part = load_partition(part_dir, q)
        targets = np.repeat(np.arange(part.num_inner), np.diff(part.indptr))
        cut = part.indices >= part.num_inner
        owner = part.halo_owner[part.indices[cut] - part.num_inner]
        src, dst = part.global_ids[part.indices[cut]], part.global_ids[targets[cut]]
        for p in np.unique(owner):
            out[(int(p), q)] = (src[owner == p], dst[owner == p])
    return out


def least_cover(src, dst) -> int:
    """The smallest cover, by trying every set of sources as rows (the targets of the rest must then be sums)."""
    sources = np.unique(src)
    assert len(sources) <= 16, "too large to try every subset"
    best = len(np.unique(dst))
    for bits in range(1, 1 << len(sources)):
        rows = sources[[(bits >> i) & 1 == 1 for i in range(len(sources))]]
        best = min(best, len(rows) + len(np.unique(dst[~np.isin(src, rows)])))
    return best


@pytest.mark.parametrize("n", [2, 3, 4])
def test_the_plan_sends_a_minimum_cover_of_every_pair(runs, dirs, n):
    pairs = runs[1][n]["auto/pairs"]
    edges = cut_edges(dirs / f"small-{n}")
    assert edges and {(int(p), int(q)) for p, q, _, _ in pairs} == set(edges)
    for p, q, rows, sums in pairs.tolist():
        src, dst = edges[(p, q)]
        assert rows + sums == least_cover(src, dst), (p, q)
    senders = {(int(p), int(q)): (r, s) for p, q, r, s in runs[1][n]["sender/pairs"].tolist()}
    assert all(senders[pq] == (0, len(np.unique(dst))) for pq, (_, dst) in edges.items())


@pytest.mark.parametrize("n", [3, 4])
def test_the_plan_matches_inspect_on_cora(runs, dirs, n):
    """What the ranks send per pair is what `gnnpart inspect --pairs` reports (computed apart, from the files)."""
    report = cover_report(dirs / f"cora-{n}")
    plan = {(int(p), int(q)): (r, s) for p, q, r, s in runs[0][n]["auto/pairs"].tolist()}
    assert plan == {(d["from"], d["to"]): (d["cover_rows"], d["cover_sums"]) for d in report}
    sender = {(int(p), int(q)): (r, s) for p, q, r, s in runs[0][n]["sender/pairs"].tolist()}
    assert sender == {(d["from"], d["to"]): (0, d["targets"]) for d in report}


@pytest.fixture(scope="module")
def one_rank(dirs):
    return Rank.open(dirs / "cora-1", Communicator(), aggregate_at="auto")


@pytest.mark.parametrize("halo, term", [("sample:0.5", "sample"), ("topk:0.5", "topk"), ("int8,sample:0.3", "sample")])
def test_policies_of_single_rows_are_refused(one_rank, halo, term):
    torch.manual_seed(0)
    model = build_model("gcn", one_rank.x.shape[1], 16, 7, 2, 0.5, 0.5)
    with pytest.raises(ValueError, match=rf"aggregate_at='auto' does not compose with `{term}` \(the halo policy "
                                         rf"`[^`]+` of layer \d\): .+; use aggregate_at='receiver'"):
        Trainer(model, one_rank, halo=halo)


def test_learned_gates_are_refused(one_rank):
    torch.manual_seed(0)
    model = build_model("gcn", one_rank.x.shape[1], 16, 7, 2, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"aggregate_at='auto' does not compose with `learned`"):
        Trainer(model, one_rank, halo="learned:0.01")


def test_layers_that_are_not_sums_send_rows(one_rank):
    """GAT takes rows whatever aggregate_at says, so a policy of single rows is fine on it."""
    torch.manual_seed(0)
    trainer = Trainer(GAT(one_rank.x.shape[1], 8, 2, 7, heads=2), one_rank, halo="sample:0.5")
    assert np.isfinite(trainer.fit(2)[-1].loss)


def test_a_bad_mode_is_refused(dirs):
    with pytest.raises(ValueError, match=r"`aggregate_at` must be one of receiver, sender, auto \(got 'both'\)"):
        Rank.open(dirs / "cora-1", Communicator(), aggregate_at="both")


def test_train_command_reports_the_plan_and_the_bytes(dirs, tmp_path):
    metrics = tmp_path / "m.jsonl"
    proc = gnnpart_cli("train", dirs / "cora-2", "-n", "2", "--epochs", "3", "--threads", "1", "--aggregate-at",
                       "auto", "--metrics", metrics)
    assert proc.returncode == 0, proc.stderr
    plan = re.search(r"aggregate at auto: an exchange of GCN, GraphSAGE or GIN sends ([\d,]+) rows and ([\d,]+) "
                     r"partial sums instead of ([\d,]+) rows \((0\.\d+)x\)", proc.stdout)
    assert plan, proc.stdout
    rows, sums, today = (int(plan.group(i).replace(",", "")) for i in (1, 2, 3))
    report = cover_report(dirs / "cora-2")
    assert (rows, sums, today) == (sum(d["cover_rows"] for d in report), sum(d["cover_sums"] for d in report),
                                   sum(d["rows"] for d in report))
    assert "halo traffic (exact, aggregated at auto)" in proc.stdout
    epochs = [json.loads(line) for line in metrics.read_text().splitlines() if '"final"' not in line]
    detail = epochs[-1]["halo_bytes_detail"]
    assert all(detail[layer][way]["partial_sums"] > 0 for layer in detail for way in ("forward", "backward"))
    assert epochs[-1]["halo_bytes"] < epochs[-1]["halo_bytes_exact"]


def test_train_command_refuses_sampling_with_partial_sums(dirs, capsys):
    proc = gnnpart_in_process(capsys, "train", dirs / "cora-1", "--epochs", "1", "--aggregate-at", "sender",
                              "--halo", "sample:0.5")
    assert proc.returncode != 0
    assert "aggregate_at='sender' does not compose with `sample`" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_train_command_says_when_no_layer_uses_the_plan(dirs, capsys):
    proc = gnnpart_in_process(capsys, "train", dirs / "cora-1", "--epochs", "1", "--model", "gat", "--hidden", "8",
                              "--heads", "2", "--aggregate-at", "auto")
    assert proc.returncode == 0, proc.stderr
    assert "note: --aggregate-at auto changes nothing here: no layer of this model adds its cut as a sum" in proc.stdout
