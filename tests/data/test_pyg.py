import numpy as np
import torch
from torch_geometric.data import Data

from gnnpart.data import from_pyg, load


def test_from_pyg_data():
    data = Data(
        x=torch.randn(4, 3), y=torch.tensor([0, 1, 2, 1]),
        edge_index=torch.tensor([[0, 1, 1, 2, 2], [1, 0, 2, 1, 1]]),
        train_mask=torch.tensor([True, False, True, False]),
    )
    data.num_nodes = 4
    g = from_pyg(data)
    assert g.num_nodes == 4 and g.num_edges == 4 and g.undirected
    np.testing.assert_array_equal(g.x, data.x.numpy())
    np.testing.assert_array_equal(g.train_mask, data.train_mask.numpy())
    src, dst = g.edges()
    assert set(zip(src.tolist(), dst.tolist())) == {(0, 1), (1, 0), (1, 2), (2, 1)}
    assert load(data).num_edges == 4
