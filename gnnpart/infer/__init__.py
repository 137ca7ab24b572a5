"""Inference apart from training: a model back from its checkpoint on any partition of its graph
(:class:`TrainedModel`), and its outputs or embeddings for every node (:func:`predict`), written into one ``.npy``
in global node order (:mod:`gnnpart.infer.row_file`). Names imported on first use (:mod:`gnnpart.lazy`)."""
from gnnpart.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "TrainedModel": "gnnpart.infer.restore",
    "predict": "gnnpart.infer.outputs",
    "model_rows": "gnnpart.infer.outputs",
    "write_rows": "gnnpart.infer.row_file",
    "check_output": "gnnpart.infer.row_file",
})
__all__ = ["TrainedModel", "predict", "model_rows", "write_rows", "check_output"]
