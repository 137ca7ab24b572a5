"""A restricted unpickler for the Planetoid files: data, never code.

The Planetoid files are Python 2 pickles of numpy arrays, ``scipy.sparse``
CSR matrices and a ``defaultdict`` of adjacency lists. :func:`load` admits
exactly the globals those need and refuses any other (``os.system``,
``builtins.eval``, ...), so a crafted file cannot run code. Sparse matrices
are rebuilt as :class:`SparseCSR` records (no scipy needed).
"""
from __future__ import annotations

import collections
import pickle

import numpy as np

from gnnpart.errors import DataError
from gnnpart.limits import require_memory


class SparseCSR:
    """The state of a pickled ``scipy.sparse.csr_matrix``: ``data``, ``indices``, ``indptr``, ``shape``."""

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a sparse matrix's state must be a dict")
        self.data = np.asarray(state["data"])
        self.indices = np.asarray(state["indices"], dtype=np.int64)
        self.indptr = np.asarray(state["indptr"], dtype=np.int64)
        self.shape = tuple(int(s) for s in state.get("_shape", state.get("shape")))

    def toarray(self, dtype=np.float32) -> np.ndarray:
        rows, cols = self.shape
        require_memory(rows * cols * np.dtype(dtype).itemsize, f"a dense [{rows}, {cols}] feature matrix")
        if len(self.indptr) != rows + 1 or len(self.indices) != len(self.data) or self.indptr[-1] != len(self.data):
            raise pickle.UnpicklingError("inconsistent sparse matrix arrays")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= cols):
            raise pickle.UnpicklingError("sparse matrix column out of range")
        out = np.zeros(self.shape, dtype=dtype)
        row_ids = np.repeat(np.arange(rows), np.diff(self.indptr))
        out[row_ids, self.indices] = self.data
        return out


def _numpy_core():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_core()._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_core()._reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_core().scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_core().scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("scipy.sparse.csr", "csr_matrix"): SparseCSR,
    ("scipy.sparse._csr", "csr_matrix"): SparseCSR,
    ("scipy.sparse", "csr_matrix"): SparseCSR,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
    ("copy_reg", "_reconstructor"): None,  # resolved below, only for admitted classes
    ("copyreg", "_reconstructor"): None,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
}


def _reconstructor(cls, base, state):
    if cls is not SparseCSR or base is not object:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r} from {base!r}")
    return object.__new__(cls)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        key = (module, name)
        if key not in _ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a data file")
        if name == "_reconstructor":
            return _reconstructor
        return _ALLOWED[key]


def load(path) -> object:
    """Unpickle a Planetoid data file, admitting only data types.

    Raises:
        DataError: if the file is missing, truncated, corrupt, or names a forbidden global.
    """
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"missing data file: {path}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise DataError(f"cannot read data file {path}: {exc or type(exc).__name__}") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        raise DataError(f"cannot read data file {path}: object arrays are not allowed")
    return obj
