"""The Apple-only mlx-sparse package's public names, as working equivalents (code ports unchanged)."""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from ._base import FORMATS
from ._coerce import is_scipy_sparse, is_sparse
from ._construct import fromdense
from ._device import StreamLike
from ._kernels import gpu_available
from ._products import product_matrix, product_rows


def issparse(x: Any) -> bool:
    """True for this package's sparse arrays (scipy's ``issparse`` for its own)."""
    return is_sparse(x)


def from_scipy(S, format: str = None, **kwargs):
    """A sparse array of a scipy sparse matrix or array, in its format (or ``format``)."""
    if not is_scipy_sparse(S):
        raise TypeError(f"from_scipy: expected a scipy sparse matrix or array, got {type(S).__name__}")
    f = format or (S.format if S.format in ("csr", "csc", "coo") else "csr")
    return FORMATS[f](S, **kwargs)


def from_numpy(D, format: str = "csr", threshold: float = 0, **kwargs):
    """A sparse array of a dense NumPy (or MLX) array's nonzeros; see :func:`fromdense`."""
    return fromdense(D, threshold=threshold, format=format, **kwargs)


def asarray(x: Any, format: str = None, **kwargs):
    """``x`` as a sparse array: itself (converted to ``format`` if given), a scipy sparse object, or a
    dense array's nonzeros."""
    if is_sparse(x):
        return x if format in (None, x.format) else getattr(x, "to" + format)()
    if is_scipy_sparse(x):
        return from_scipy(x, format, **kwargs)
    return fromdense(x, format=format or "csr", **kwargs)


def todense(A, stream: StreamLike = None) -> mx.array:
    """The dense MLX array of a sparse array (lazy)."""
    if not is_sparse(A):
        raise TypeError(f"todense: expected a sparse array, got {type(A).__name__}")
    return A.todense(stream=stream)


def is_available(device: str = "cpu") -> bool:
    """Whether mlx_sparse's kernels run on ``device``: always on the CPU; on the GPU when this build has
    CUDA kernels and MLX a CUDA backend."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"is_available: device must be 'cpu' or 'gpu', got {device!r}")
    return True if device == "cpu" else gpu_available()


def _named(fmt: str, name: str, fn):
    fn.__name__ = fn.__qualname__ = f"{fmt}_{name}"
    return fn


def _check(op: str, A, fmt: str):
    if not is_sparse(A) or A.format != fmt:
        raise TypeError(f"{op}: A must be a {fmt}_array, got {type(A).__name__}")


def _family(fmt: str) -> dict:
    """The reference's per-format functions for one format."""

    def matvec(A, x, stream: StreamLike = None):
        """y = A x (x: (n,) or (..., n)); lazy, differentiable."""
        _check(f"{fmt}_matvec", A, fmt)
        return product_rows(f"{fmt}_matvec", A, x, stream, trans=A._compressed(stream).format == "csc")

    def matmul(A, X, stream: StreamLike = None):
        """A @ X with matmul semantics; lazy, differentiable."""
        _check(f"{fmt}_matmul", A, fmt)
        C = A._compressed(stream)
        return product_matrix(f"{fmt}_matmul", C, X, stream, trans=C.format == "csc")

    def batched_matvec(A, X, stream: StreamLike = None):
        """A x for a batch of vectors X (..., n) -> (..., m), one product."""
        return matvec(A, X, stream)

    def batched_matmul(A, X, stream: StreamLike = None):
        """A @ X[b] for X (batch, n, k) -> (batch, m, k), one product."""
        return matmul(A, X, stream)

    def reducer(method, *args):
        def fn(A, *a, stream: StreamLike = None, **kw):
            _check(f"{fmt}_{method}", A, fmt)
            return getattr(A, method)(*a, stream=stream, **kw)

        fn.__doc__ = f"``A.{method}(...)`` of a {fmt}_array."
        return fn

    out = {
        "matvec": matvec, "matmul": matmul, "batched_matvec": batched_matvec, "batched_matmul": batched_matmul,
        "row_sums": reducer("row_sums"), "col_sums": reducer("col_sums"), "column_sums": reducer("col_sums"),
        "row_norms": reducer("row_norms"), "col_norms": reducer("col_norms"), "column_norms": reducer("col_norms"),
        "diagonal": reducer("diagonal"), "trace": reducer("trace"),
    }
    return {f"{fmt}_{k}": _named(fmt, k, v) for k, v in out.items()}


def csc_matvec_transpose(A, x, stream: StreamLike = None):
    """y = A^T x for a csc_array A (a CSR product on its buffers); lazy, differentiable."""
    _check("csc_matvec_transpose", A, "csc")
    return product_rows("csc_matvec_transpose", A.T, x, stream, trans=False)


def add(A, B, stream: StreamLike = None):
    """A + B (scipy's operator): sparse + sparse is sparse (union structure), + dense is dense."""
    return A._add(B, 1, "add", stream) if is_sparse(A) else B._add(A, 1, "add", stream)


def subtract(A, B, stream: StreamLike = None):
    """A - B (scipy's operator)."""
    if is_sparse(A):
        return A._add(B, -1, "subtract", stream)
    return (-B)._add(A, 1, "subtract", stream)


def maximum(A, B, stream: StreamLike = None):
    """The elementwise larger of A and B (scipy's ``A.maximum(B)``)."""
    return A.maximum(B, stream=stream)


def minimum(A, B, stream: StreamLike = None):
    """The elementwise smaller of A and B (scipy's ``A.minimum(B)``)."""
    return A.minimum(B, stream=stream)


def matmul(A, B, stream: StreamLike = None):
    """A @ B: sparse @ sparse is sparse (staged), sparse @ dense dense (lazy)."""
    if is_sparse(A) and is_sparse(B):
        return A._matmul_sparse(B, stream)
    if is_sparse(A):
        return A.__matmul__(B) if stream is None else product_matrix("matmul", A._compressed(stream), B, stream,
                                                                     trans=A._compressed(stream).format == "csc")
    raise TypeError(f"matmul: A must be a sparse array, got {type(A).__name__} (for dense @ sparse use rmatmul)")


def _matmat(fmt: str):
    def fn(A, B, stream: StreamLike = None):
        _check(f"{fmt}_matmat", A, fmt)
        if not is_sparse(B):
            raise TypeError(f"{fmt}_matmat: B must be a sparse array, got {type(B).__name__}")
        return A._matmul_sparse(B, stream)

    return _named(fmt, "matmat", fn)


FUNCTIONS = {**_family("csr"), **_family("csc"), **_family("coo"), "csc_matvec_transpose": csc_matvec_transpose,
             "add": add, "subtract": subtract, "matmul": matmul, "maximum": maximum, "minimum": minimum,
             **{f"{f}_matmat": _matmat(f) for f in ("csr", "csc", "coo")}}
