"""Every conv PyG ships has a row in tests/workers/conv_table.py: exact (2 and 3 ranks equal 1 rank, forward and 5
training steps within 1e-6, in float64, in the form the row names; and 1 rank's forward equals PyG alone on the
whole graph with the same weights) or refused in one line with its own reason. The
README's table of convs is the table's :func:`markdown`, so the two cannot drift."""
from pathlib import Path

import numpy as np
import pytest
import torch_geometric.nn.conv as pyg_conv

from gnnpart.data import Graph
from gnnpart.nn import HaloConv
from gnnpart.nn.conv_forms import REFUSED
from tests.mpi import npz_runs
from tests.workers.conv_table import EDGE_DIM, NUM_EDGE_TYPES, ROWS, TABLE, VARIANTS, markdown, runnable

STEPS = 5
EXACT = sorted(name for name, row in TABLE.items() if row.exact) + list(VARIANTS)
REFUSED_ROWS = sorted(name for name, row in TABLE.items() if not row.exact)
README = Path(__file__).resolve().parents[2] / "README.md"


def table_graph() -> Graph:
    """A directed graph with self loops, a hub, an isolated node and typed edges with features."""
    rng = np.random.default_rng(11)
    n = 90
    pairs = np.unique(np.stack([rng.integers(1, n, 420), rng.integers(1, n, 420)], axis=1), axis=0)
    pairs = np.concatenate([pairs, [[3, 3], [8, 8]], np.stack([np.full(20, 40), np.arange(50, 70)], axis=1)])
    pairs = np.unique(pairs, axis=0)  # node 0 has no edges (not the last id: PyG's own self loops skip that one)
    edge_attr = np.concatenate([rng.integers(0, NUM_EDGE_TYPES, (len(pairs), 1)),
                                rng.random((len(pairs), EDGE_DIM - 1))], axis=1).astype(np.float32)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    train = np.zeros(n, dtype=bool)
    train[::2] = True
    return Graph.from_edges(pairs[:, 0], pairs[:, 1], num_nodes=n, x=x, y=rng.integers(0, 3, n), train_mask=train,
                            val_mask=~train, edge_attr=edge_attr, name="table")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return npz_runs(table_graph(), tmp_path_factory, "conv_table_worker.py", STEPS, sizes=[1, 2, 3])


def test_every_conv_pyg_ships_has_a_row():
    assert set(TABLE) == set(pyg_conv.__all__), (sorted(set(pyg_conv.__all__) - set(TABLE)),
                                                 sorted(set(TABLE) - set(pyg_conv.__all__)))


def test_every_refusal_has_a_row_and_every_refused_row_a_reason():
    assert set(REFUSED) == set(REFUSED_ROWS)


@pytest.mark.parametrize("name", REFUSED_ROWS)
def test_a_refused_conv_says_its_own_reason(name):
    with pytest.raises(ValueError) as caught:
        HaloConv(TABLE[name].make(8))
    message = str(caught.value)
    assert message == f"HaloConv({name}): {name} {REFUSED[name]}" and "\n" not in message
    assert "instead" in message or "use " in message  # an alternative is named
    assert sum(REFUSED[other] == REFUSED[name] for other in REFUSED) <= 3  # a reason of its own kind


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", EXACT)
def test_n_ranks_equal_one(runs, name, n):
    if not runnable(ROWS[name]):
        pytest.skip(f"{name} needs {ROWS[name].needs}, which is not installed")
    one, many = runs(1), runs(n)
    for k, got in ((1, one), (n, many)):
        if f"{name}/error" in got:
            pytest.fail(f"{name} on {k} ranks: {got[f'{name}/error']}")
    assert str(one[f"{name}/form"]) == ROWS[name].how
    np.testing.assert_allclose(one[f"{name}/forward"], one[f"{name}/pyg"], rtol=0, atol=1e-6,
                               err_msg=f"{name} forward, 1 rank against PyG alone on the whole graph")
    np.testing.assert_allclose(many[f"{name}/forward"], one[f"{name}/forward"], rtol=0, atol=1e-6,
                               err_msg=f"{name} forward, {n} ranks against 1")
    np.testing.assert_allclose(many[f"{name}/loss"], one[f"{name}/loss"], rtol=0, atol=1e-6,
                               err_msg=f"{name} losses, {n} ranks against 1")
    assert np.abs(one[f"{name}/forward"]).max() > 1e-3  # the layers pass something on
    assert np.isfinite(one[f"{name}/loss"]).all() and one[f"{name}/loss"][-1] != one[f"{name}/loss"][0]


def test_the_readme_table_of_convs_is_this_table():
    text = README.read_text()
    assert markdown() in text, "README.md's table of convs is not tests/workers/conv_table.py's markdown(): " \
                               "paste `python -c 'from tests.workers.conv_table import markdown; print(markdown())'`"
