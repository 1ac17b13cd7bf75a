"""Constructors and whole-array functions over the containers: fromdense, tril, triu."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from . import _select
from ._base import FORMATS
from ._coerce import is_scipy_sparse, is_sparse
from ._device import StreamLike, resolve_stream

_FORMATS = ("csr", "csc", "coo")


def _check_format(op: str, format: Optional[str], default: str) -> str:
    f = default if format is None else format
    if f not in _FORMATS:
        raise ValueError(f"{op}: format must be one of {_FORMATS}, got {format!r}")
    return f


def _as_format(A, f: str, stream):
    return A if A.format == f else getattr(A, "to" + f)(stream=stream)


def fromdense(A: Any, threshold: float = 0, format: str = "csr", index_dtype: Optional[mx.Dtype] = None,
              stream: StreamLike = None):
    """The entries of a dense 2-D array (MLX, NumPy or nested lists) whose magnitude exceeds
    ``threshold`` (default: the nonzeros) as a canonical sparse array of ``format``. Staged on either
    device: a count per row, a prefix sum, one synchronization of the total, a fill. Differentiable
    with respect to the dense array's values at the kept entries."""
    op = "fromdense"
    f = _check_format(op, format, "csr")
    if is_sparse(A) or is_scipy_sparse(A):
        raise TypeError(f"{op}: expected a dense array, got {type(A).__name__}")
    D = A if isinstance(A, mx.array) else mx.array(np.asarray(A))
    if D.dtype in (mx.bool_, mx.int8, mx.int16, mx.int32, mx.int64, mx.uint8, mx.uint16, mx.uint32, mx.uint64):
        D = D.astype(mx.float32)
    if D.ndim != 2:
        raise ValueError(f"{op}: expected a 2-D dense array, got shape {tuple(D.shape)}")
    s = resolve_stream(stream)
    csr = FORMATS["csr"]
    if f == "csc":  # the CSR of the transpose, viewed as CSC
        with mx.stream(s):
            Dt = mx.transpose(D)
        data, indices, indptr = _select.fromdense(op, Dt, threshold, index_dtype, s)
        return FORMATS["csc"]._from_parts(data, indices, indptr, tuple(D.shape), True, True)
    data, indices, indptr = _select.fromdense(op, D, threshold, index_dtype, s)
    out = csr._from_parts(data, indices, indptr, tuple(D.shape), True, True)
    return out.tocoo(stream=s) if f == "coo" else out


from_dense = fromdense


def _tri(op: str, A: Any, k: int, format: Optional[str], lower: bool, stream):
    s = resolve_stream(stream)
    if is_scipy_sparse(A):
        A = FORMATS["csr"](A)
    elif not is_sparse(A):
        A = fromdense(A, stream=s)
    f = _check_format(op, format, A.format)
    return _as_format(A._tri(op, lower, int(k), s), f, s)


def tril(A: Any, k: int = 0, format: Optional[str] = None, stream: StreamLike = None):
    """The entries on or below the k-th diagonal (k > 0 above the main one), as scipy.sparse.tril; the
    result is in ``format`` (default: A's). Staged (one synchronization of the kept count)."""
    return _tri("tril", A, k, format, True, stream)


def triu(A: Any, k: int = 0, format: Optional[str] = None, stream: StreamLike = None):
    """The entries on or above the k-th diagonal, as scipy.sparse.triu; see :func:`tril`."""
    return _tri("triu", A, k, format, False, stream)
