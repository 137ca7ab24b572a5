"""MPI worker: the halo policies, checked at the exchange and in training.

Usage: mpiexec -n N python -m mpi4py tests/workers/policy_worker.py exchange PART_DIR
       mpiexec -n N python -m mpi4py tests/workers/policy_worker.py train PART_DIR OUT.json EPOCHS SPEC [SPEC ...]

``exchange`` moves rows that are a function of the global node id (so any rank count sees the same values)
under each policy and checks, against the exact exchange: equality (sample:1, topk:1.0, delta:0), the error
bound of each encoding, the adjoint identity of the linear policies (sum over ranks of <out, g> equals the sum
of <h, grad h>), and the bytes counted per kind. Any failure raises, which aborts the job with the message.
``train`` trains a GCN with each spec and writes per-spec losses, accuracy and byte ratios (rank 0).
"""
import json
import sys

import numpy as np
import torch

from gnnpart import load_partition, read_meta
from gnnpart.comm import Communicator, ExchangePlan, HaloExchange
from gnnpart.comm.policy import parse_halo
from gnnpart.nn import build_model
from gnnpart.train import Trainer

WIDTH = 24


def rows_of(ids, salt, dtype=torch.float64):
    """Deterministic [len(ids), WIDTH] rows of global ids, with a range of magnitudes across rows."""
    c = torch.arange(1, WIDTH + 1, dtype=dtype)
    scale = 10.0 ** ((ids % 7).to(dtype) - 3.0)
    return torch.sin(ids.to(dtype).unsqueeze(1) * 0.37 * c + salt) * scale.unsqueeze(1)


def global_sum(comm, value):
    return comm.sum_scalars([float(value)])[0]


def run_policy(comm, part, plan, ids, spec, h, grad_local, epoch=0):
    ex = HaloExchange(comm, plan, ids)
    ex.set_policies(parse_halo(spec, 1), seed=11)
    leaf = h.clone().requires_grad_(True)
    out = ex.exchange(leaf, 0, training=True, epoch=epoch)
    out.backward(grad_local)
    return out.detach(), leaf.grad, ex


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def exchange_checks(part_dir):
    comm = Communicator()
    torch.set_num_threads(1)
    part = load_partition(part_dir, comm.rank)
    plan = ExchangePlan.from_partition(part, comm.size)
    ids = torch.from_numpy(np.ascontiguousarray(part.global_ids)).long()
    inner, halo_ids = ids[: part.num_inner], ids[part.num_inner:]
    h = rows_of(inner, 0.0)
    # gradients differ per receiving rank, so that owners add different contributions
    grad_local = rows_of(ids, 1.0 + comm.rank)
    ref_out, ref_grad, ref_ex = run_policy(comm, part, plan, ids, "exact", h, grad_local)
    check(torch.equal(ref_out[part.num_inner:], rows_of(halo_ids, 0.0)), "exact: halo rows are not their owners' rows")
    sent_rows = plan.send_index.shape[0]

    # equal to exact, bit for bit
    for spec in ("sample:1", "topk:1.0", "delta:0"):
        out, grad, _ = run_policy(comm, part, plan, ids, spec, h, grad_local)
        check(torch.equal(out, ref_out) and torch.equal(grad, ref_grad), f"{spec}: differs from exact")

    # delta: a second call sends only the rows that changed, and the receiver still holds exact values
    ex = HaloExchange(comm, plan, ids)
    ex.set_policies(parse_halo("delta:0", 1), seed=11)
    ex.exchange(h, 0, training=True)
    h2 = h.clone()
    moved = inner % 5 == 0
    h2[moved] *= 2.0
    ex.stats.reset()
    out2 = ex.exchange(h2, 0, training=True)
    want = rows_of(halo_ids, 0.0) * torch.where(halo_ids % 5 == 0, 2.0, 1.0).unsqueeze(1)
    check(torch.equal(out2[part.num_inner:], want), "delta:0: the receiver's cache does not hold the new values")
    rows_moved = int(moved[plan.send_index].sum())
    check(ex.stats.detail.get(0, {}).get("forward", {}).get("payload", 0) == rows_moved * WIDTH * 8,
          "delta:0: the payload is not the moved rows")

    # encodings: within the bound of their bit width (of each row's largest magnitude), both ways
    bounds = {"fp16": 2.0**-11, "bf16": 2.0**-9, "int8": 1.0 / 127}
    for spec, bound in bounds.items():
        out, grad, ex = run_policy(comm, part, plan, ids, spec, h, grad_local)
        halo_ref = ref_out[part.num_inner:]
        peak = halo_ref.abs().amax(dim=1, keepdim=True)
        check(torch.all((out[part.num_inner:] - halo_ref).abs() <= peak * bound * 1.0001),
              f"{spec}: a halo row is off by more than {bound:g} of its peak")
        recv_rows = plan.recv_index.shape[0]
        det = ex.stats.detail.get(0)
        if sent_rows:
            per_value = 1 if spec == "int8" else 2
            check(det["forward"] == {"payload": sent_rows * WIDTH * per_value, "indices": 0, "scales": sent_rows * 4},
                  f"{spec}: forward bytes {det['forward']}")
        if recv_rows:
            check(det["backward"]["scales"] == recv_rows * 4, f"{spec}: backward scales")
        # each owner adds at most (sum over receivers of each gradient row's peak) * bound of error
        err = (grad - ref_grad).abs()
        check(float(err.max()) <= float(grad_local.abs().max()) * bound * max(1, comm.size) * 1.0001,
              f"{spec}: gradient error {float(err.max())}")

    # linear policies: backward is the adjoint of forward (over all ranks); and their structure
    for spec in ("sample:0.5", "topk:0.25", "sample:0.3+topk:0.5"):
        out, grad, ex = run_policy(comm, part, plan, ids, spec, h, grad_local, epoch=3)
        lhs = global_sum(comm, (out * grad_local).sum())
        rhs = global_sum(comm, (h * grad).sum())
        check(abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)), f"{spec}: backward is not the adjoint ({lhs} vs {rhs})")
        halo = out[part.num_inner:]
        exact_halo = ref_out[part.num_inner:]
        if spec == "sample:0.5":
            sent = (halo != 0).any(dim=1)
            check(torch.allclose(halo[sent], exact_halo[sent] * 2.0, rtol=0, atol=0), "sample: a sent row is not row / P")
            frac = global_sum(comm, sent.sum()) / max(1.0, global_sum(comm, len(sent)))
            check(0.4 < frac < 0.6 or global_sum(comm, len(sent)) < 50, f"sample:0.5 sent {frac:.2f} of the halo rows")
            kept_payload = ex.stats.detail.get(0, {}).get("forward", {}).get("payload", 0)
            check(kept_payload % (WIDTH * 8) == 0, "sample: payload is not whole rows")
        if spec == "topk:0.25":
            k = 6
            nz = (halo != 0).sum(dim=1)
            check(bool((nz <= k).all()), "topk: more than k channels in a row")
            top = exact_halo.abs().topk(k, dim=1).values[:, -1:]
            check(bool(((halo == 0) | (halo.abs() >= top)).all()), "topk: a kept channel is not among the largest")
            if sent_rows:
                det = ex.stats.detail[0]["forward"]
                check(det == {"payload": sent_rows * k * 8, "indices": sent_rows * k, "scales": 0}, f"topk bytes {det}")

    # exact: the bytes are the exact bound, and every call counts what exact would send
    check(ref_ex.stats.bytes == 0 or ref_ex.stats.bytes == ref_ex.stats.bytes_exact,
          "exact: bytes differ from the exact count")
    if comm.rank == 0:
        print(json.dumps({"ok": True, "ranks": comm.size}))


def train_runs(part_dir, out, epochs, *specs):
    comm = Communicator()
    torch.set_num_threads(1)
    meta = read_meta(part_dir)
    part = load_partition(part_dir, comm.rank)
    results = {}
    for spec in specs:
        torch.manual_seed(1234)
        model = build_model("gcn", meta["num_features"], 16, meta["num_classes"], 2, 0.5, 0.0)
        trainer = Trainer(model, part, comm, lr=0.01, weight_decay=5e-4, seed=7, eval_every=10,
                          normalize_features=True, halo=spec)
        history = trainer.fit(int(epochs))
        results[spec] = {
            "loss": [r.loss for r in history], "test_acc": trainer.best["test_acc"],
            "halo_bytes": sum(r.halo_bytes for r in history), "halo_bytes_exact": sum(r.halo_bytes_exact for r in history),
            "detail": history[-1].halo_bytes_detail, "kept": history[-1].halo_channels_kept,
        }
    if comm.rank == 0:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(results, fh)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"exchange": exchange_checks, "train": train_runs}[mode](*args)
