"""Preconditioners for the Krylov solvers (``M=``), as LinearOperators approximating A^-1: ``jacobi``
(both devices), ``ilu0``, ``ic0`` and ``ssor`` (factorizations and triangular solves on both devices;
the GPU's are synchronization-free kernels) and ``amg`` (smoothed aggregation: set up on the
CPU, cycles on either device; see ``_amg``) and ``block_jacobi`` (host-inverted diagonal blocks, applied
on either device)."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from .. import _factor
from .._coerce import is_sparse
from .._device import StreamLike, resolve_stream
from ._amg import amg  # noqa: F401 (re-exported)
from ._interface import LinearOperator, _mm
from .._kernels import user_op
from ._triangular import _csr, raise_singular

__all__ = ["jacobi", "block_jacobi", "ilu0", "ic0", "ssor", "amg"]


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


@user_op("jacobi")
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


@user_op("ilu0")
def ilu0(A: Any, stream: StreamLike = None) -> LinearOperator:
    """ILU(0): M = L U with L, U the incomplete factors of A on A's own pattern (duplicates summed);
    ``M @ r`` solves with L (unit diagonal) then U. Factorizes now (one evaluation): a zero pivot
    raises ``numpy.linalg.LinAlgError``."""
    op = "ilu0"
    s = resolve_stream(stream)
    C = _canonical(op, A, s)
    lu, state = _factor.ilu0(op, C.data, C.indices, C.indptr, s)
    raise_singular(op, lu)
    _factor.check_state(op, state)
    n = C.shape[0]
    return _Triangular(n, C.dtype, [(lu, C.indices, C.indptr, True, True), (lu, C.indices, C.indptr, False, False)], s)


@user_op("ic0")
def ic0(A: Any, stream: StreamLike = None) -> LinearOperator:
    """IC(0): M = L L^H with L the incomplete Cholesky factor of the Hermitian positive definite A on
    the pattern of its lower triangle (the upper triangle is not read). Factorizes now: a pivot
    <= 0 raises ``numpy.linalg.LinAlgError``."""
    op = "ic0"
    s = resolve_stream(stream)
    from .._construct import tril

    Lp = _canonical(op, tril(A, format="csr", stream=s), s)
    lv, state = _factor.ic0(op, Lp.data, Lp.indices, Lp.indptr, s)
    raise_singular(op, lv)
    _factor.check_state(op, state)
    from .._convert import transpose_csr

    n = Lp.shape[0]
    with mx.stream(s):
        conj = mx.conj(lv) if mx.issubdtype(lv.dtype, mx.complexfloating) else lv
    td, ti, tp = transpose_csr(op, conj, Lp.indices, Lp.indptr, (n, n), s)  # L^H as CSR (upper)
    return _Triangular(n, Lp.dtype, [(lv, Lp.indices, Lp.indptr, True, False), (td, ti, tp, False, False)], s)


@user_op("ssor")
def ssor(A: Any, omega: float = 1.0, stream: StreamLike = None) -> LinearOperator:
    """Symmetric SOR: M = omega / (2 - omega) (D/omega + L) D^-1 (omega) (D/omega + U), applied as two
    triangular solves with the diagonal D/omega (0 < omega < 2; omega = 1: symmetric Gauss-Seidel).
    ValueError for a zero diagonal entry."""
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


class _BlockDiagonal(LinearOperator):
    def __init__(self, inv: mx.array, n: int, s):
        self.inv, self.shape, self.dtype, self.s = inv, (n, n), inv.dtype, s
        self.nb, self.bs = int(inv.shape[0]), int(inv.shape[1])

    def _apply(self, x, inv):
        n, pad = self.shape[0], self.nb * self.bs - self.shape[0]
        with mx.stream(self.s):
            X = x if x.ndim == 2 else x[:, None]
            k = X.shape[1]
            if pad:
                X = mx.concatenate([X, mx.zeros((pad, k), dtype=X.dtype)], axis=0)
            Y = _mm(inv, X.astype(inv.dtype).reshape(self.nb, self.bs, k), self.s).reshape(self.nb * self.bs, k)[:n]
            return Y if x.ndim == 2 else Y[:, 0]

    def _matvec(self, x):
        return self._apply(x, self.inv)

    _matmat = _matvec

    def _rmatvec(self, x):
        invH = mx.conj(mx.swapaxes(self.inv, 1, 2)) if mx.issubdtype(self.dtype, mx.complexfloating) else \
            mx.swapaxes(self.inv, 1, 2)
        return self._apply(x, invH)

    _rmatmat = _rmatvec


@user_op("block_jacobi")
def block_jacobi(A: Any, block_size: int = 8, stream: StreamLike = None) -> LinearOperator:
    """Block Jacobi: the inverses of A's diagonal blocks of ``block_size`` consecutive rows (the last
    one shorter), inverted on the host once, applied as one batched dense product on the device of
    ``stream``. ``numpy.linalg.LinAlgError`` for a singular block."""
    op = "block_jacobi"
    if block_size < 1:
        raise ValueError(f"{op}: block_size must be >= 1, got {block_size}")
    s = resolve_stream(stream)
    C = _canonical(op, A, s)
    n = C.shape[0]
    bs = int(min(block_size, max(n, 1)))
    nb = -(-n // bs) if n else 0
    mx.eval(C.data, C.indices, C.indptr)
    cplx = mx.issubdtype(C.dtype, mx.complexfloating)
    ip, ind = np.array(C.indptr).astype(np.int64), np.array(C.indices).astype(np.int64)
    val = np.array(C.data.astype(mx.complex64 if cplx else mx.float64, stream=mx.cpu))
    rows = np.repeat(np.arange(n), np.diff(ip))
    same = rows // bs == ind // bs
    blocks = np.zeros((nb, bs, bs), dtype=np.complex128 if cplx else np.float64)
    blocks[rows[same] // bs, rows[same] % bs, ind[same] % bs] = val[same]
    for r in range(n, nb * bs):  # the padding of the last block: identity
        blocks[r // bs, r % bs, r % bs] = 1.0
    try:
        inv = np.linalg.inv(blocks)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(f"{op}: a diagonal block is singular") from None
    return _BlockDiagonal(mx.array(inv, dtype=C.dtype), n, s)
