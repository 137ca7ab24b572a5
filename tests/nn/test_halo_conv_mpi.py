"""Any PyG conv through HaloConv, on 1 to 4 ranks, equals the same conv on the whole graph with PyG alone:
the forward pass within 1e-5, and 10 training steps' losses (Adam, dropout keyed by node id) within 1e-6 relative,
in float64."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.mpi import npz_runs
from tests.workers.pyg_convs import CONVS, WholeGraph, whole_graph_state

STEPS = 10
RANKS = [1, 2, 3, 4]


@pytest.fixture(scope="module")
def cora_tensors(cora):
    src, dst = cora.edges()
    x = torch.from_numpy(cora.x).double()
    x = x / x.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return {"x": x, "edge_index": torch.from_numpy(np.stack([src, dst])).long(), "y": torch.from_numpy(cora.y).long(),
            "train": torch.from_numpy(cora.train_mask), "classes": int(cora.y.max()) + 1}


@pytest.fixture(scope="module")
def runs(cora, tmp_path_factory):
    return npz_runs(cora, tmp_path_factory, "pyg_conv_worker.py", STEPS, sizes=RANKS)


_REFERENCES: dict = {}


def reference(name, init, t):
    """Forward output and per-step losses of the same weights on the whole graph, PyG alone (computed once per
    conv and initial weights: every rank count starts from the same seed)."""
    key = (name, tuple((k, v.tobytes()) for k, v in sorted(init.items())))
    if key not in _REFERENCES:
        _REFERENCES[key] = _reference(name, init, t)
    return _REFERENCES[key]


def _reference(name, init, t):
    model = WholeGraph(name, t["x"].shape[1], t["classes"]).double()
    missing, unexpected = model.load_state_dict(whole_graph_state({k: torch.from_numpy(v) for k, v in init.items()}),
                                                strict=False)
    # a SyncBatchNorm keeps no batch counter (it is used only with momentum=None, which it does not take)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    model.eval()
    with torch.no_grad():
        forward = model(t["x"], t["edge_index"])
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    num_train = int(t["train"].sum())
    losses = []
    for epoch in range(STEPS):
        optimizer.zero_grad()
        out = model(t["x"], t["edge_index"], seed=3, epoch=epoch)
        loss = F.cross_entropy(out[t["train"]], t["y"][t["train"]], reduction="sum") / num_train
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return forward.numpy(), np.array(losses)


@pytest.mark.parametrize("name", list(CONVS))
@pytest.mark.parametrize("n", RANKS)
def test_distributed_equals_whole_graph(runs, cora_tensors, n, name):
    got = runs(n)
    init = {k.split("/init/")[1]: v for k, v in got.items() if k.startswith(f"{name}/init/")}
    assert init, f"{name}: the worker saved no weights"
    forward, losses = reference(name, init, cora_tensors)
    np.testing.assert_allclose(got[f"{name}/forward"], forward, rtol=0, atol=1e-5, err_msg=f"{name} forward on {n} ranks")
    np.testing.assert_allclose(got[f"{name}/loss"], losses, rtol=1e-6, atol=0, err_msg=f"{name} losses on {n} ranks")
    assert losses[-1] < losses[0]  # it trains
