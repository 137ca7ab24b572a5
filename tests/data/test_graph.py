import numpy as np
import pytest

from gnnpart.data import Graph
from gnnpart.errors import DataError


def small(**over):
    fields = dict(
        indptr=np.array([0, 1, 3, 3]), indices=np.array([1, 0, 2]),
        x=np.zeros((3, 2), np.float32), y=np.array([0, 1, -1]),
    )
    fields.update(over)
    return Graph(**fields)


def test_valid_graph_properties():
    g = small(train_mask=np.array([True, True, False]))
    assert (g.num_nodes, g.num_edges, g.num_features, g.num_classes) == (3, 3, 2, 2)
    np.testing.assert_array_equal(g.in_degree(), [1, 2, 0])
    np.testing.assert_array_equal(g.out_degree(), [1, 1, 1])
    assert g.val_mask.dtype == bool and not g.val_mask.any()


@pytest.mark.parametrize(
    "over,match",
    [
        (dict(indptr=np.array([1, 1, 3, 3])), r"`indptr` must start at 0 \(got 1\)"),
        (dict(indptr=np.array([0, 2, 1, 3])), r"`indptr` must be non-decreasing"),
        (dict(indptr=np.array([0, 1, 3, 4])), r"`indptr\[-1\]` must equal len\(indices\) = 3 \(got 4\)"),
        (dict(indices=np.array([1, 0, 3])), r"`indices` .* in \[0, 3\) \(got 3\)"),
        (dict(indices=np.array([1, -2, 2])), r"`indices` .* \(got -2\)"),
        (dict(indices=np.array([1, 2, 2])), r"sorted and distinct"),
        (dict(x=np.zeros((2, 2), np.float32)), r"`x` must have one row per node \(3\) \(got 2 rows\)"),
        (dict(x=np.array([[0, 0], [np.nan, 0], [0, 0]], np.float32)), r"`x` must be finite \(got nan at node 1, feature 0\)"),
        (dict(x=np.array([[0, 0], [0, 0], [0, np.inf]])), r"`x` must be finite \(got inf at node 2, feature 1\)"),
        (dict(x=np.zeros(3)), r"`x` must be 2-D"),
        (dict(y=np.array([0, 1])), r"`y` must have one label per node \(3\) \(got 2 labels\)"),
        (dict(y=np.array([0, -5, 1])), r"`y` must be a class id >= 0, or -1 .* \(got -5\)"),
        (dict(y=np.array([0.5, 1, 1])), r"`y` of shape \[N\] must hold class ids \(got the non-integer 0.5\)"),
        (dict(y=np.array(["a", "b", "c"])), r"`y` must hold integers \(got dtype <U1\)"),
        (dict(train_mask=np.array([True, False])), r"`train_mask` must have shape \(3,\)"),
        (dict(val_mask=np.array([0, 1, 0])), r"`val_mask` must be a boolean array"),
        (dict(test_mask=np.array([False, False, True])), r"`test_mask` must select labelled nodes only \(got unlabelled node 2\)"),
    ],
)
def test_validation_names_field_and_value(over, match):
    with pytest.raises(DataError, match=match):
        small(**over)
    with pytest.raises(ValueError):  # DataError is a ValueError
        small(**over)


def test_from_edges_merges_duplicates_keeps_self_loops_and_isolated():
    g = Graph.from_edges([0, 0, 1, 2, 2], [1, 1, 1, 0, 0], num_nodes=4)
    src, dst = g.edges()
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 1), (1, 1), (2, 0)]
    assert g.in_degree()[3] == 0 and g.out_degree()[3] == 0  # isolated node kept
    assert g.x.shape == (4, 1) and (g.y == -1).all()


def test_from_edges_undirected_adds_reverse_edges():
    g = Graph.from_edges([0, 1], [1, 2], undirected=True)
    assert g.undirected and g.is_symmetric() and g.num_edges == 4
    assert not Graph.from_edges([0, 1], [1, 2]).is_symmetric()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(src=[0, 1], dst=[1]), r"`src` and `dst` must have the same length \(got 2 and 1\)"),
        (dict(src=[0, -1], dst=[1, 1]), r"`src` must hold node ids in \[0, 3\) \(got -1\)"),
        (dict(src=[0, 1], dst=[1, 3]), r"`dst` must hold node ids in \[0, 3\) \(got 3\)"),
    ],
)
def test_from_edges_errors(kwargs, match):
    with pytest.raises(DataError, match=match):
        Graph.from_edges(num_nodes=3, **kwargs)
