"""Preconditioners for the Krylov solvers (``M=``), as LinearOperators approximating A^-1: ``jacobi``
(both devices), ``ilu0``, ``ic0`` and ``ssor`` (their factorizations and triangular solves are CPU
kernels today: on the GPU they raise ``RuntimeError``) and ``amg`` (smoothed aggregation: set up on the
CPU, cycles on either device; see ``_amg``). Block Jacobi is still to come."""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from .. import _factor
from .._coerce import is_sparse
from .._device import StreamLike, resolve_stream
from ._amg import amg  # noqa: F401 (re-exported)
from ._interface import LinearOperator
from ._triangular import _csr, raise_singular

__all__ = ["jacobi", "ilu0", "ic0", "ssor", "amg"]


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


class _Triangular(LinearOperator):
    """x -> the solves of a chain of triangular factors: [(data, indices, indptr, lower, unit), ...]
    applied in order, with an optional diagonal scaling between them (ssor)."""

    def __init__(self, n, dtype, steps, s, scale=None, between=None):
        self.shape, self.dtype, self.steps, self.s, self.scale, self.between = (n, n), dtype, steps, s, scale, between

    def _matvec(self, x):
        y = x.astype(self.dtype, stream=self.s)
        for i, (d, ind, ptr, lower, unit) in enumerate(self.steps):
            y = _factor.trisolve("preconditioner", d, ind, ptr, y, lower, unit, self.s)
            if i == 0 and self.between is not None:
                with mx.stream(self.s):
                    y = self.between * y if y.ndim == 1 else self.between[:, None] * y
        if self.scale is not None:
            with mx.stream(self.s):
                y = y * self.scale
        return y

    _matmat = _matvec


def _canonical(op: str, A, s):
    C = _csr(op, A, s).tocsr(canonical=True, stream=s)
    C._flat_only(op)
    return C


def ilu0(A: Any, stream: StreamLike = None) -> LinearOperator:
    """ILU(0): M = L U with L, U the incomplete factors of A on A's own pattern (duplicates summed);
    ``M @ r`` solves with L (unit diagonal) then U. Factorizes now (one evaluation): a zero pivot
    raises ``numpy.linalg.LinAlgError``. CPU kernels (``RuntimeError`` on the GPU)."""
    op = "ilu0"
    s = resolve_stream(stream)
    C = _canonical(op, A, s)
    lu = _factor.ilu0(op, C.data, C.indices, C.indptr, s)
    raise_singular(op, lu)
    n = C.shape[0]
    return _Triangular(n, C.dtype, [(lu, C.indices, C.indptr, True, True), (lu, C.indices, C.indptr, False, False)], s)


def ic0(A: Any, stream: StreamLike = None) -> LinearOperator:
    """IC(0): M = L L^H with L the incomplete Cholesky factor of the Hermitian positive definite A on
    the pattern of its lower triangle (the upper triangle is not read). Factorizes now: a pivot
    <= 0 raises ``numpy.linalg.LinAlgError``. CPU kernels (``RuntimeError`` on the GPU)."""
    op = "ic0"
    s = resolve_stream(stream)
    from .._construct import tril

    Lp = _canonical(op, tril(A, format="csr", stream=s), s)
    lv = _factor.ic0(op, Lp.data, Lp.indices, Lp.indptr, s)
    raise_singular(op, lv)
    from .._convert import transpose_csr

    n = Lp.shape[0]
    with mx.stream(s):
        conj = mx.conj(lv) if mx.issubdtype(lv.dtype, mx.complexfloating) else lv
    td, ti, tp = transpose_csr(op, conj, Lp.indices, Lp.indptr, (n, n), s)  # L^H as CSR (upper)
    return _Triangular(n, Lp.dtype, [(lv, Lp.indices, Lp.indptr, True, False), (td, ti, tp, False, False)], s)


def ssor(A: Any, omega: float = 1.0, stream: StreamLike = None) -> LinearOperator:
    """Symmetric SOR: M = omega / (2 - omega) (D/omega + L) D^-1 (omega) (D/omega + U), applied as two
    triangular solves with the diagonal D/omega (0 < omega < 2; omega = 1: symmetric Gauss-Seidel).
    ValueError for a zero diagonal entry. CPU kernels (``RuntimeError`` on the GPU)."""
    op = "ssor"
    if not 0 < omega < 2:
        raise ValueError(f"{op}: omega must be in (0, 2), got {omega}")
    s = resolve_stream(stream)
    C = _canonical(op, A, s)
    n = C.shape[0]
    with mx.stream(s):
        d = C.diagonal(stream=s)
        if bool(mx.any(d == 0).item()):
            raise ValueError(f"{op}: the matrix has a zero on its diagonal")
    from .._construct import diags

    B = C + diags(d * (1.0 / omega - 1.0), 0, shape=(n, n), format="csr", stream=s)  # the diagonal becomes D/omega
    B = B.tocsr(canonical=True, stream=s)
    with mx.stream(s):
        between = d * (1.0 / omega)
    return _Triangular(n, B.dtype, [(B.data, B.indices, B.indptr, True, False), (B.data, B.indices, B.indptr, False, False)],
                       s, scale=(2.0 - omega) / omega, between=between)
