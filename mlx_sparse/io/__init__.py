"""ms.io: Matrix Market files and scipy's ``.npz`` sparse files.

Matrix Market goes through ``scipy.io.mmread``/``mmwrite``, whose engine is fast_matrix_market (C++,
multithreaded; no Python loop per entry): coordinate and array files, real/complex/integer/pattern,
general/symmetric/skew-symmetric/hermitian, ``.gz``/``.bz2``. ``save_npz``/``load_npz`` read and write
the files of ``scipy.sparse.save_npz``/``load_npz`` with NumPy alone.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from .._base import FORMATS
from .._coerce import host, is_sparse

__all__ = ["mmread", "mmwrite", "save_npz", "load_npz"]


def _container(fmt: str, arrays: dict, shape, dtype):
    if fmt in ("csr", "csc"):
        return FORMATS[fmt]((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape, dtype=dtype)
    if fmt == "coo":
        return FORMATS["coo"]((arrays["data"], (arrays["row"], arrays["col"])), shape=shape, dtype=dtype)
    raise ValueError(f"load_npz: format {fmt!r} is not supported (csr, csc and coo are)")




def mmread(source: Any, format: str = "coo", dtype=None):
    """A Matrix Market file (path or file object) as a sparse array in ``format`` (coordinate files),
    or an MLX array (array files); float64 values become float32 unless ``dtype=mx.float64``, as
    everywhere in mlx_sparse. Requires scipy."""
    import scipy.io
    import scipy.sparse as sp

    M = scipy.io.mmread(source)
    if not sp.issparse(M):
        return mx.array(np.asarray(M))
    A = FORMATS["coo"](M, dtype=dtype)
    return A if format == "coo" else getattr(A, "to" + format)()


def mmwrite(target: Any, A, comment: str = "", field: str = None, precision: int = None, symmetry: str = None):
    """Write a sparse array (coordinate format) or a dense MLX/NumPy array (array format). Requires scipy."""
    import scipy.io

    M = A.to_scipy() if is_sparse(A) else np.asarray(A)
    scipy.io.mmwrite(target, M, comment=comment, field=field, precision=precision, symmetry=symmetry)


def save_npz(file: Any, A, compressed: bool = True) -> None:
    """Write a sparse array as ``scipy.sparse.save_npz`` does (scipy can load it, and this reads scipy's)."""
    if not is_sparse(A):
        raise TypeError(f"save_npz: expected a sparse array, got {type(A).__name__}")
    arrays = {"format": A.format.encode("ascii"), "shape": np.array(A.shape), "data": host(A.data)}  # bfloat16 is written as float32
    if A.format == "coo":
        arrays["row"], arrays["col"] = host(A.row), host(A.col)
    else:
        arrays["indices"], arrays["indptr"] = host(A.indices), host(A.indptr)
    (np.savez_compressed if compressed else np.savez)(file, **arrays)


def load_npz(file: Any, dtype=None):
    """Read a file of ``save_npz`` or ``scipy.sparse.save_npz`` (csr, csc, coo); ``dtype`` as for the
    constructors (float64 values become float32 unless ``dtype=mx.float64``)."""
    with np.load(file, allow_pickle=False) as f:
        fmt = f["format"].item()
        fmt = fmt.decode("ascii") if isinstance(fmt, bytes) else str(fmt)
        arrays = {k: f[k] for k in f.files}
    return _container(fmt, arrays, tuple(int(s) for s in arrays["shape"]), dtype)
