"""Every public layer and model of gnnpart.nn has a PyG-style docstring: a ``.. math::`` block and ``Shapes:``
written with I (inner), H (halo) or L (local) rows; layers and models with arguments also have ``Args:``."""
import inspect

import pytest
from torch import nn

import gnnpart.nn as gnn

MODULES = [obj for obj in (getattr(gnn, name) for name in gnn.__all__ if name not in ("HaloLayer", "HaloGates"))
           if inspect.isclass(obj) and issubclass(obj, nn.Module)]


def test_every_public_layer_and_model_is_checked():
    assert {c.__name__ for c in MODULES} >= {"GCN", "GraphSAGE", "GAT", "GIN", "GINE", "DistGCNConv", "HaloConv"}


@pytest.mark.parametrize("cls", MODULES, ids=[c.__name__ for c in MODULES])
def test_pyg_style_docstring(cls):
    doc = inspect.getdoc(cls) or ""
    assert ".. math::" in doc, f"{cls.__name__}: no .. math:: block"
    assert "Shapes:" in doc and "[I," in doc, f"{cls.__name__}: no Shapes: with I/H/L rows"
    assert "Args:" in doc, f"{cls.__name__}: no Args:"


def test_the_contract_is_documented():
    doc = inspect.getmodule(gnn.HaloLayer).__doc__
    for attribute in ("layer_id", "exchange_width", "exchanges_each_epoch", "constant_input", "prepare"):
        assert f"``{attribute}" in doc, attribute
