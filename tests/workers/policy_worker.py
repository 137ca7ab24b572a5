"""MPI worker: the halo policies, checked at the exchange and in training.

Usage: mpiexec -n N python -m mpi4py tests/workers/policy_worker.py exchange PART_DIR
       mpiexec -n N python -m mpi4py tests/workers/policy_worker.py train PART_DIR OUT.json EPOCHS SPEC [SPEC ...]

``exchange`` moves rows that are a function of the global node id (so any rank count sees the same values)
under each policy and runs named checks against the exact exchange (see ``CHECKS``): equality (sample:1,
topk:1.0, delta:0), the error bound of each encoding, the adjoint identity of the linear policies (sum over ranks
of <out, g> equals the sum of <h, grad h>), staleness, learned channels, and the bytes counted per kind. Rank 0
prints one JSON line per check (tests/workers/checks.py).
``train`` trains a GCN with each spec and writes per-spec losses, accuracy and byte ratios (rank 0).
"""
import json
import sys

import numpy as np
import torch

from gnnpart import load_partition, read_meta
from gnnpart.comm import Communicator, HaloExchange, HaloPolicy
from gnnpart.comm.policy import parse_layer
from gnnpart.nn import build_model
from gnnpart.rank import Rank
from gnnpart.train import Trainer, TrainOptions
from gnnpart.rank.assemble import exchange_plan
from tests.workers.checks import Checks

WIDTH = 24
BOUNDS = {"fp16": 2.0**-11, "bf16": 2.0**-9, "int8": 1.0 / 127}
EXACT_EQUIVALENTS = ("sample:1", "topk:1.0", "delta:0")
LINEAR = ("sample:0.5", "topk:0.25", "sample:0.3+topk:0.5")


def rows_of(ids, salt, dtype=torch.float64):
    """Deterministic [len(ids), WIDTH] rows of global ids, with a range of magnitudes across rows."""
    c = torch.arange(1, WIDTH + 1, dtype=dtype)
    scale = 10.0 ** ((ids % 7).to(dtype) - 3.0)
    return torch.sin(ids.to(dtype).unsqueeze(1) * 0.37 * c + salt) * scale.unsqueeze(1)


class Setup:
    """What every check uses: this rank's plan, ids, rows, gradients and the exact reference."""

    def __init__(self, part_dir, comm=None):
        self.comm = comm or Communicator()
        part = load_partition(part_dir, self.comm.rank)
        self.num_inner = part.num_inner
        self.plan = exchange_plan(part, self.comm.size)
        self.ids = torch.from_numpy(np.ascontiguousarray(part.global_ids)).long()
        self.inner, self.halo_ids = self.ids[: part.num_inner], self.ids[part.num_inner:]
        self.h = rows_of(self.inner, 0.0)
        self.grad_local = rows_of(self.ids, 1.0 + self.comm.rank)  # differs per receiving rank
        self.ref_out, self.ref_grad, self.ref_ex = self.run("exact")

    def run(self, policy, epoch=0, h=None, bind=None):
        """One differentiable exchange of ``h`` under ``policy`` (a spec or a HaloPolicy) and its backward."""
        ex = HaloExchange(self.comm, self.plan, self.ids)
        px = ex.policy_exchange(parse_layer(policy) if isinstance(policy, str) else policy, key=0, seed=11)
        if bind is not None:
            px.channels.bind(bind)
        leaf = (self.h if h is None else h).clone().requires_grad_(True)
        out = px.exchange(leaf, epoch)
        out.backward(self.grad_local)
        return out.detach(), leaf.grad, ex

    def global_sum(self, value):
        return self.comm.sum_scalars([float(value)])[0]


def exact_rows(expect, s):
    expect(torch.equal(s.ref_out[: s.num_inner], s.h), "the inner rows changed")
    expect(torch.equal(s.ref_out[s.num_inner:], rows_of(s.halo_ids, 0.0)), "halo rows are not their owners' rows")
    expect(s.ref_ex.stats.bytes == s.ref_ex.stats.bytes_exact,
           f"bytes {s.ref_ex.stats.bytes} differ from the exact count {s.ref_ex.stats.bytes_exact}")
    sent, received = s.plan.send_index.shape[0], s.plan.recv_index.shape[0]
    detail = s.ref_ex.stats.detail.get(0)
    if sent or received:
        expect(detail == {"forward": {"payload": sent * WIDTH * 8, "indices": 0, "scales": 0, "partial_sums": 0},
                          "backward": {"payload": received * WIDTH * 8, "indices": 0, "scales": 0, "partial_sums": 0}},
               f"exact bytes per kind {detail}")


def equals_exact(expect, s, spec):
    out, grad, _ = s.run(spec)
    expect(torch.equal(out, s.ref_out), "values differ from exact")
    expect(torch.equal(grad, s.ref_grad), "gradients differ from exact")


def delta_sends_moved_rows(expect, s):
    ex = HaloExchange(s.comm, s.plan, s.ids)
    px = ex.policy_exchange(parse_layer("delta:0"), key=0, seed=11)
    px.exchange(s.h, 0)
    h2 = s.h.clone()
    moved = s.inner % 5 == 0
    h2[moved] *= 2.0
    ex.stats.reset()
    out2 = px.exchange(h2, 1)
    want = rows_of(s.halo_ids, 0.0) * torch.where(s.halo_ids % 5 == 0, 2.0, 1.0).unsqueeze(1)
    expect(torch.equal(out2[s.num_inner:], want), "the receiver's cache does not hold the new values")
    rows_moved = int(moved[s.plan.send_index].sum())
    payload = ex.stats.detail.get(0, {}).get("forward", {}).get("payload", 0)
    expect(payload == rows_moved * WIDTH * 8, f"payload {payload} B is not the {rows_moved} moved rows")


def encoding_bound(expect, s, spec):
    bound = BOUNDS[spec]
    out, grad, ex = s.run(spec)
    halo_ref = s.ref_out[s.num_inner:]
    peak = halo_ref.abs().amax(dim=1, keepdim=True)
    expect(bool(torch.all((out[s.num_inner:] - halo_ref).abs() <= peak * bound * 1.0001)),
           f"a halo row is off by more than {bound:g} of its peak")
    sent, received = s.plan.send_index.shape[0], s.plan.recv_index.shape[0]
    detail = ex.stats.detail.get(0)
    per_value = 1 if spec == "int8" else 2
    if sent:
        expect(detail["forward"] == {"payload": sent * WIDTH * per_value, "indices": 0, "scales": sent * 4,
                                     "partial_sums": 0},
               f"forward bytes {detail['forward']}")
    if received:
        expect(detail["backward"] == {"payload": received * WIDTH * per_value, "indices": 0, "scales": received * 4,
                                      "partial_sums": 0},
               f"backward bytes {detail['backward']}")
    # each owner adds at most (sum over receivers of each gradient row's peak) * bound of error
    err = float((grad - s.ref_grad).abs().max()) if grad.numel() else 0.0
    expect(err <= float(s.grad_local.abs().max()) * bound * max(1, s.comm.size) * 1.0001, f"gradient error {err}")


def adjoint(expect, s, spec):
    out, grad, ex = s.run(spec, epoch=3)
    lhs = s.global_sum((out * s.grad_local).sum())
    rhs = s.global_sum((s.h * grad).sum())
    expect(abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)), f"backward is not the adjoint ({lhs} vs {rhs})")
    halo, exact_halo = out[s.num_inner:], s.ref_out[s.num_inner:]
    sent_rows = s.plan.send_index.shape[0]
    if spec == "sample:0.5":
        sent = (halo != 0).any(dim=1)
        expect(torch.equal(halo[sent], exact_halo[sent] * 2.0), "a sent row is not row / P")
        total = s.global_sum(len(sent))
        frac = s.global_sum(sent.sum()) / max(1.0, total)
        expect(0.4 < frac < 0.6 or total < 50, f"sent {frac:.2f} of the halo rows")
        payload = ex.stats.detail.get(0, {}).get("forward", {}).get("payload", 0)
        expect(payload % (WIDTH * 8) == 0, "payload is not whole rows")
    if spec == "topk:0.25":
        k = 6
        expect(bool(((halo != 0).sum(dim=1) <= k).all()), "more than k channels in a row")
        top = exact_halo.abs().topk(k, dim=1).values[:, -1:]
        expect(bool(((halo == 0) | (halo.abs() >= top)).all()), "a kept channel is not among the largest")
        if sent_rows:
            det = ex.stats.detail[0]["forward"]
            expect(det == {"payload": sent_rows * k * 8, "indices": sent_rows * k, "scales": 0, "partial_sums": 0},
                   f"bytes {det}")


def stale_rows(expect, s):
    """stale:1: epoch 0 uses its own rows; epoch e > 0 the rows sent in epoch e - 1. Gradients sent in epoch 0
    are added at once, those of epoch e > 0 one epoch later."""
    ex = HaloExchange(s.comm, s.plan, s.ids)
    px = ex.policy_exchange(parse_layer("stale:1"), key=0, seed=11)
    grads = []
    for epoch in range(4):
        leaf = (s.h * (epoch + 1)).requires_grad_(True)
        out = px.exchange(leaf, epoch)
        want = rows_of(s.halo_ids, 0.0) * max(1, epoch)
        expect(torch.equal(out[s.num_inner:].detach(), want), f"epoch {epoch}: the halo is not epoch {max(0, epoch - 1)}'s")
        out.backward(s.grad_local * (epoch + 1))
        grads.append(leaf.grad)
    px.drain()
    # what owners add: the gradient rows of halo copies, scaled by the epoch they were sent in
    direct = s.grad_local[: s.num_inner]
    back = s.ref_grad - direct  # one epoch's returned rows at scale 1
    for epoch, grad in enumerate(grads):
        scale = {0: 1.0, 1: 0.0}.get(epoch, float(epoch))  # epoch 1 receives nothing; epoch e gets epoch e-1's
        want = direct * (epoch + 1) + back * scale
        expect(torch.allclose(grad, want, rtol=1e-10, atol=1e-9), f"epoch {epoch}: owners added the wrong gradients")


def learned_channels(expect, s):
    kept = torch.tensor([1, 5, 7, 20])
    out, grad, ex = s.run(HaloPolicy(learned=0.1), bind=lambda: kept)
    halo, exact_halo = out[s.num_inner:], s.ref_out[s.num_inner:]
    expect(torch.equal(halo[:, kept], exact_halo[:, kept]), "a kept channel differs from exact")
    others = torch.ones(WIDTH, dtype=torch.bool)
    others[kept] = False
    expect(bool((halo[:, others] == 0).all()), "a channel that is not kept arrived")
    expect(torch.equal(grad[:, kept], s.ref_grad[:, kept]), "gradients at kept channels differ from exact")
    expect(torch.equal(grad[:, others], s.grad_local[: s.num_inner][:, others]),
           "gradients came back at channels that were not sent")
    sent, received = s.plan.send_index.shape[0], s.plan.recv_index.shape[0]
    if sent or received:
        det = ex.stats.detail[0]
        zero = {"indices": 0, "scales": 0, "partial_sums": 0}
        expect(det["forward"] == {"payload": sent * 4 * 8, **zero}, f"forward bytes {det['forward']}")
        expect(det["backward"] == {"payload": received * 4 * 8, **zero}, f"backward bytes {det['backward']}")


def async_matches(expect, s):
    ex = HaloExchange(s.comm, s.plan, s.ids)
    handles = [ex.exchange_async(s.h * k) for k in (1.0, 3.0)]  # two in flight at once
    second, first = handles[1].wait(), handles[0].wait()
    expect(torch.equal(first, s.ref_out), "the first of two messages in flight differs from exact")
    expect(torch.equal(second[s.num_inner:], s.ref_out[s.num_inner:] * 3.0), "the second message differs")
    expect(handles[0].wait() is first, "a second wait() did not return the same rows")


CHECKS = {
    "exact rows and bytes": (exact_rows,),
    **{f"{spec} equals exact": (equals_exact, spec) for spec in EXACT_EQUIVALENTS},
    "delta sends the moved rows": (delta_sends_moved_rows,),
    **{f"{spec} within its bound": (encoding_bound, spec) for spec in BOUNDS},
    **{f"{spec} backward is the adjoint": (adjoint, spec) for spec in LINEAR},
    "stale:1 uses last epoch's rows": (stale_rows,),
    "learned sends the kept channels": (learned_channels,),
    "async messages in flight": (async_matches,),
}


def exchange_checks(part_dir, comm=None):
    torch.set_num_threads(1)
    s = Setup(part_dir, comm)
    checks = Checks(s.comm)
    for name, (check, *args) in CHECKS.items():
        checks.run(name, check, s, *args)


def train_runs(part_dir, out, epochs, *specs, comm=None):
    comm = comm or Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    rank = Rank.open(part_dir, comm, normalize_features=True)
    results = {}
    for spec in specs:
        torch.manual_seed(1234)
        model = build_model("gcn", meta["num_features"], 16, meta["num_classes"], 2, 0.5, 0.0)
        trainer = Trainer(model, rank, options=TrainOptions(lr=0.01, weight_decay=5e-4, seed=7, eval_every=10),
                          halo=spec)
        history = trainer.fit(int(epochs))
        results[spec] = {
            "loss": [r.loss for r in history], "test_acc": trainer.best.test_acc,
            "halo_bytes": sum(r.halo_bytes for r in history), "halo_bytes_exact": sum(r.halo_bytes_exact for r in history),
            "detail": history[-1].halo_bytes_detail, "kept": history[-1].halo_channels_kept,
        }
    if comm.rank == 0:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(results, fh)


def main(mode, *args, comm=None):
    {"exchange": exchange_checks, "train": train_runs}[mode](*args, comm=comm)


if __name__ == "__main__":
    main(*sys.argv[1:])
