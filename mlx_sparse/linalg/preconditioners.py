"""Preconditioners for the Krylov solvers (``M=``), as LinearOperators approximating A^-1. Today:
``jacobi``. (ILU(0), IC(0), SSOR, block Jacobi and AMG are still to come.)"""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from .._coerce import is_sparse
from .._device import StreamLike, resolve_stream
from ._interface import LinearOperator

__all__ = ["jacobi"]


class _Diagonal(LinearOperator):
    def __init__(self, inv: mx.array):
        n = int(inv.size)
        self.inv, self.shape, self.dtype = inv, (n, n), inv.dtype

    def _matvec(self, x):
        return self.inv * x if x.ndim == 1 else self.inv[:, None] * x

    _matmat = _matvec

    def _rmatvec(self, x):
        c = mx.conj(self.inv) if mx.issubdtype(self.inv.dtype, mx.complexfloating) else self.inv
        return c * x if x.ndim == 1 else c[:, None] * x

    _rmatmat = _rmatvec


def jacobi(A: Any, stream: StreamLike = None) -> LinearOperator:
    """The Jacobi preconditioner diag(A)^-1 of a square sparse array or dense matrix (duplicates
    summed). ValueError for a zero on the diagonal (the preconditioner would not exist)."""
    op = "jacobi"
    s = resolve_stream(stream)
    if not is_sparse(A) and not isinstance(A, mx.array):
        from .. import csr_array

        A = csr_array(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{op}: expected a square matrix, got shape {tuple(A.shape)}")
    with mx.stream(s):
        d = A.diagonal(stream=s) if is_sparse(A) else mx.diagonal(A)
        if bool(mx.any(d == 0).item()):
            raise ValueError(f"{op}: the matrix has a zero on its diagonal")
        return _Diagonal(1 / d)
