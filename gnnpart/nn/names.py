"""The names of the built-in models and of their options (no torch: the command line offers them as choices)."""

MODELS = ("gcn", "sage", "gat", "gin", "gine", "rgcn")
"""The models :func:`gnnpart.nn.build_model` builds: GCN, GraphSAGE, GAT, GIN, GIN with edge features, and R-GCN
(typed graphs)."""

JK_MODES = ("last", "cat", "max")
"""Jumping knowledge over the layers' outputs (PyG's ``JumpingKnowledge``)."""

NORMS = ("batch", "layer")
"""Normalisation after each hidden layer: synchronised batch norm, or per-row layer norm."""
