"""LinearOperator, aslinearoperator, dot and vdot: scipy.sparse.linalg's abstract operator, on MLX arrays.

An operator is anything with a shape and a matrix-vector product; the solvers take sparse arrays,
dense MLX or NumPy matrices and operators alike through :func:`aslinearoperator`. Products are
lazy MLX arrays on the stream the operands' operations run on.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import mlx.core as mx
import numpy as np

from .._coerce import is_scipy_sparse, is_sparse

__all__ = ["LinearOperator", "aslinearoperator", "dot", "vdot"]

_TF32_MASK = 0xFFFFE000  # a float32's sign, exponent and top 10 mantissa bits: exact in TF32


def _split_tf32(x: mx.array):
    hi = mx.view(mx.bitwise_and(mx.view(x, mx.uint32), mx.array(_TF32_MASK, dtype=mx.uint32)), mx.float32)
    return hi, x - hi


def _mm(a: mx.array, b: mx.array, s: Any = None, force: bool = False) -> mx.array:
    """``a @ b`` at float32's precision on the GPU too. MLX's CUDA backend runs float32 and complex64
    matrix-matrix products in TF32 (about 3 digits, unless ``MLX_ENABLE_TF32=0`` was set before the
    first product); the eigensolvers' bases, Rayleigh-Ritz projections and the AMG coarse solve need
    float32's 7. Each real factor splits into a TF32-exact high part and a remainder, and three products
    recover the result to about 2^-21 relative. Matrix-vector shapes, other dtypes and the CPU take
    the plain product (already exact to the dtype)."""
    if isinstance(s, mx.DeviceType):
        s = mx.Device(s)
    dev = s.device if isinstance(s, mx.Stream) else (s if isinstance(s, mx.Device) else mx.default_device())
    on_gpu = force or dev.type == mx.DeviceType.gpu
    if (not on_gpu or a.ndim < 2 or b.ndim < 2 or a.shape[-2] == 1 or b.shape[-1] == 1
            or a.dtype not in (mx.float32, mx.complex64) or b.dtype not in (mx.float32, mx.complex64)):
        return a @ b

    def real_mm(x, y):
        with mx.stream(dev):
            xh, xl = _split_tf32(x)
            yh, yl = _split_tf32(y)
            return xh @ yh + (xh @ yl + xl @ yh)

    if a.dtype == mx.float32 and b.dtype == mx.float32:
        return real_mm(a, b)
    if not force and dev.type != mx.DeviceType.gpu:
        return a @ b
    ar, ai = mx.real(a), (mx.imag(a) if a.dtype == mx.complex64 else None)
    br, bi = mx.real(b), (mx.imag(b) if b.dtype == mx.complex64 else None)
    re = real_mm(ar, br)
    im = None
    if ai is not None and bi is not None:
        re = re - real_mm(ai, bi)
    if bi is not None:
        im = real_mm(ar, bi)
    if ai is not None:
        t = real_mm(ai, br)
        im = t if im is None else im + t
    return re.astype(mx.complex64) + 1j * im.astype(mx.complex64)


def _as_mx(x: Any) -> mx.array:
    """An MLX array of x; host float64 stays float64 (``mx.array`` alone reads it as float32)."""
    if isinstance(x, mx.array):
        return x
    a = np.asarray(x)
    return mx.array(a, dtype=mx.float64) if a.dtype == np.float64 else mx.array(a)


class LinearOperator:
    """A linear map of shape (m, n) given by its products, as scipy's ``LinearOperator``:
    ``LinearOperator(shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None)``, or a
    subclass defining ``_matvec`` (and ``_rmatvec``, ``_matmat``, ``_rmatmat`` where it can do
    better than column by column). ``op @ x`` takes a vector (n,) or a block (n, k); ``op.H`` is the
    adjoint (needs ``rmatvec``), ``op.T`` the transpose."""

    def __init__(self, shape=None, matvec: Optional[Callable] = None, rmatvec: Optional[Callable] = None,
                 matmat: Optional[Callable] = None, dtype=None, rmatmat: Optional[Callable] = None):
        if shape is None or len(tuple(shape)) != 2 or any(int(d) < 0 for d in shape):
            raise ValueError(f"LinearOperator: shape must be a pair of non-negative ints, got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = dtype if dtype is not None else mx.float32
        if matvec is not None:
            self._matvec = matvec
        if rmatvec is not None:
            self._rmatvec = rmatvec
        if matmat is not None:
            self._matmat = matmat
        if rmatmat is not None:
            self._rmatmat = rmatmat
        if type(self)._matvec is LinearOperator._matvec and matvec is None and matmat is None:
            raise TypeError("LinearOperator: give matvec or matmat (or define _matvec in a subclass)")

    # the products: subclasses override the underscored ones
    def _matvec(self, x):
        return self._matmat(x[:, None])[:, 0]

    def _matmat(self, X):
        if type(self)._matvec is LinearOperator._matvec and "_matvec" not in self.__dict__:
            raise TypeError("LinearOperator: no matvec")
        return mx.stack([_as_mx(self._matvec(X[:, j])).reshape(-1) for j in range(X.shape[1])], axis=1)

    def _rmatvec(self, x):
        raise NotImplementedError("LinearOperator: this operator has no rmatvec (adjoint product)")

    def _rmatmat(self, X):
        return mx.stack([_as_mx(self._rmatvec(X[:, j])).reshape(-1) for j in range(X.shape[1])], axis=1)

    def _check(self, op: str, x, n: int, ndim=(1, 2)) -> mx.array:
        x = _as_mx(x)
        if x.ndim not in ndim or x.shape[0] != n:
            raise ValueError(f"{op}: operand of shape {tuple(x.shape)} does not match the operator's shape {self.shape}")
        return x

    def matvec(self, x) -> mx.array:
        x = self._check("matvec", x, self.shape[1])
        if x.ndim == 2:
            return self.matmat(x)
        return _as_mx(self._matvec(x)).reshape(-1)

    def rmatvec(self, x) -> mx.array:
        x = self._check("rmatvec", x, self.shape[0])
        if x.ndim == 2:
            return self.rmatmat(x)
        return _as_mx(self._rmatvec(x)).reshape(-1)

    def matmat(self, X) -> mx.array:
        X = self._check("matmat", X, self.shape[1], (2,))
        return _as_mx(self._matmat(X))

    def rmatmat(self, X) -> mx.array:
        X = self._check("rmatmat", X, self.shape[0], (2,))
        return _as_mx(self._rmatmat(X))

    def dot(self, x):
        if isinstance(x, LinearOperator):
            return _Product(self, x)
        return self.matvec(x)

    def __matmul__(self, x):
        return self.dot(x)

    def __call__(self, x):
        return self.dot(x)

    def adjoint(self) -> "LinearOperator":
        return _Adjoint(self)

    @property
    def H(self) -> "LinearOperator":
        return self.adjoint()

    def transpose(self) -> "LinearOperator":
        return _Transpose(self)

    @property
    def T(self) -> "LinearOperator":
        return self.transpose()

    def __repr__(self):
        return f"<{self.shape[0]}x{self.shape[1]} {type(self).__name__} with dtype={self.dtype}>"


class _Adjoint(LinearOperator):
    def __init__(self, A: LinearOperator):
        self.A, self.shape, self.dtype = A, (A.shape[1], A.shape[0]), A.dtype

    def _matvec(self, x):
        return self.A.rmatvec(x)

    def _rmatvec(self, x):
        return self.A.matvec(x)

    def _matmat(self, X):
        return self.A.rmatmat(X)

    def _rmatmat(self, X):
        return self.A.matmat(X)


class _Transpose(LinearOperator):
    """A^T x = conj(A^H conj(x))."""

    def __init__(self, A: LinearOperator):
        self.A, self.shape, self.dtype = A, (A.shape[1], A.shape[0]), A.dtype

    def _matvec(self, x):
        return mx.conj(self.A.rmatvec(mx.conj(x)))

    def _rmatvec(self, x):
        return mx.conj(self.A.matvec(mx.conj(x)))


class _Product(LinearOperator):
    def __init__(self, A: LinearOperator, B: LinearOperator):
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"LinearOperator: cannot compose shapes {A.shape} and {B.shape}")
        self.A, self.B, self.shape, self.dtype = A, B, (A.shape[0], B.shape[1]), A.dtype

    def _matvec(self, x):
        return self.A.matvec(self.B.matvec(x))

    def _rmatvec(self, x):
        return self.B.rmatvec(self.A.rmatvec(x))


def pattern_product(rows: mx.array, cols: mx.array, w: mx.array, x: mx.array) -> mx.array:
    """M x for the sparse M holding w[p] at (rows[p], cols[p]) (repeats summed) and a dense x of
    shape (n,) or (n, k) with as many rows as M: the tangent products op(dA) x of the solves'
    derivatives. Lazy, on the default stream."""
    xs = mx.take(x, cols, axis=0)
    if rows.dtype == mx.int64:  # MLX's GPU scatter takes int32 indices (rows < 2^31 here)
        rows = rows.astype(mx.int32)
    return mx.zeros_like(x).at[rows].add(w * xs if xs.ndim == 1 else w[:, None] * xs)


class MatrixLinearOperator(LinearOperator):
    """The operator of a sparse array or a dense MLX matrix: products are ``A @ x`` (our SpMV and
    SpMM kernels for sparse arrays), adjoint products ``A^H @ x`` (our transposed products)."""

    def __init__(self, A):
        self.A, self.shape, self.dtype = A, tuple(A.shape), A.dtype
        self._AH = None

    def _matvec(self, x):
        return self.A @ x

    _matmat = _matvec

    def _rmatvec(self, x):
        if is_sparse(self.A):
            if mx.issubdtype(self.A.dtype, mx.complexfloating):
                return mx.conj(self.A.T @ mx.conj(x))
            return self.A.T @ x
        return mx.conj(self.A).T @ x

    _rmatmat = _rmatvec


def aslinearoperator(A: Any) -> LinearOperator:
    """A as a LinearOperator: operators as they are; sparse arrays (ours or scipy's, converted once)
    and dense 2-D matrices (MLX or NumPy) as their products; anything with ``shape`` and ``matvec``
    (scipy's operators) wrapped."""
    if isinstance(A, LinearOperator):
        return A
    if is_sparse(A):
        return MatrixLinearOperator(A)
    if is_scipy_sparse(A):
        from .. import csr_array

        return MatrixLinearOperator(csr_array(A))
    if isinstance(A, (mx.array, np.ndarray)):
        M = _as_mx(A)
        if M.ndim != 2:
            raise ValueError(f"aslinearoperator: expected a 2-D matrix, got shape {tuple(M.shape)}")
        return MatrixLinearOperator(M)
    if hasattr(A, "shape") and hasattr(A, "matvec"):
        rm = getattr(A, "rmatvec", None)
        dt = getattr(A, "dtype", None)
        return LinearOperator(A.shape, matvec=lambda x: _as_mx(A.matvec(np.asarray(x))),
                              rmatvec=(lambda x: _as_mx(rm(np.asarray(x)))) if rm is not None else None,
                              dtype=dt if isinstance(dt, mx.Dtype) else None)
    raise TypeError(f"aslinearoperator: cannot make an operator of {type(A).__name__}")


def dot(A: Any, x: Any) -> mx.array:
    """A @ x for a sparse array, a dense matrix or an operator (the reference package's ``dot``);
    two vectors give their (unconjugated) dot product."""
    if isinstance(A, (mx.array, np.ndarray)) and np.ndim(A) == 1:
        a, b = _as_mx(A), _as_mx(x)
        if b.ndim != 1 or a.size != b.size:
            raise ValueError(f"dot: vectors of shapes {tuple(a.shape)} and {tuple(b.shape)}")
        return mx.sum(a * b)
    return aslinearoperator(A).dot(x)


def vdot(x: Any, y: Any) -> mx.array:
    """The conjugated dot product sum(conj(x) * y) of two vectors, as ``numpy.vdot`` (a 0-d array)."""
    a, b = _as_mx(x).reshape(-1), _as_mx(y).reshape(-1)
    if a.size != b.size:
        raise ValueError(f"vdot: vectors of sizes {a.size} and {b.size}")
    return mx.sum(mx.conj(a) * b) if mx.issubdtype(a.dtype, mx.complexfloating) else mx.sum(a * b)
