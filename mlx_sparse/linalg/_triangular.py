"""spsolve_triangular, as scipy.sparse.linalg's: forward or back substitution on a sparse triangle."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from .. import _factor
from .._coerce import is_scipy_sparse, is_sparse
from .._device import StreamLike, resolve_stream
from .._kernels import user_op


def _csr(op: str, A: Any, s: mx.Stream):
    if is_scipy_sparse(A):
        from .. import csr_array

        A = csr_array(A)
    if not is_sparse(A):
        raise TypeError(f"{op}: expected a sparse matrix, got {type(A).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{op}: expected a square matrix, got shape {A.shape}")
    C = A.tocsr(canonical=False, stream=s)
    C._flat_only(op)
    return C


def raise_singular(op: str, arrays) -> None:
    """Evaluate ``arrays`` now (a staged setup) and turn a singular kernel status into numpy's
    ``LinAlgError``, as scipy raises it."""
    try:
        mx.eval(arrays)
    except RuntimeError as e:
        if "singular" in str(e):
            raise np.linalg.LinAlgError(f"{op}: {e}") from None
        raise


@user_op("spsolve_triangular")
def spsolve_triangular(A: Any, b: Any, lower: bool = True, overwrite_A: bool = False, overwrite_b: bool = False,
                       unit_diagonal: bool = False, stream: StreamLike = None) -> mx.array:
    """x with T x = b, T the lower (``lower``) or upper triangle of the square sparse A with its
    diagonal (entries of the other triangle are ignored; ``unit_diagonal``: the diagonal is taken as
    1); b a vector (n,) or a block (n, k), dense or sparse. Synchronizes once to check the diagonal
    (a zero raises ``numpy.linalg.LinAlgError``, as scipy); the solve itself is lazy. On the GPU a
    synchronization-free kernel: a warp per row, rows taken in dependency order, no analysis pass.
    ``overwrite_A``/``overwrite_b`` are accepted for scipy's signature (MLX arrays are immutable)."""
    op = "spsolve_triangular"
    s = resolve_stream(stream)
    C = _csr(op, A, s)
    n = C.shape[0]
    if is_sparse(b) or is_scipy_sparse(b):
        b = (b if is_sparse(b) else _csr(op, b, s)).todense(stream=s)
    from .._coerce import _result_type

    if isinstance(b, mx.array):  # MLX promotion
        bb = b
        dt = _result_type(C.dtype, bb.dtype if mx.issubdtype(bb.dtype, mx.inexact) else C.dtype)
    else:  # host data takes the matrix's dtype (complex if b is), converted on the host
        bh = np.asarray(b)
        dt = mx.complex64 if np.iscomplexobj(bh) and not mx.issubdtype(C.dtype, mx.complexfloating) else C.dtype
        bb = mx.array(bh, dtype=dt)
    if bb.ndim not in (1, 2) or bb.shape[0] != n:
        raise ValueError(f"{op}: right-hand side of shape {tuple(bb.shape)} does not match the matrix's shape {C.shape}")
    with mx.stream(s):
        data, bb = C.data.astype(dt), bb.astype(dt)
    if not unit_diagonal and n > 0:
        d = C.diagonal(stream=s)
        with mx.stream(s):
            zero = mx.any(d == 0)
        if bool(zero.item()):
            raise np.linalg.LinAlgError(f"{op}: A is singular: zero entry on diagonal.")
    if n == 0:
        return mx.zeros(bb.shape, dtype=dt, stream=s)
    return _factor.trisolve(op, data, C.indices, C.indptr, bb, lower, unit_diagonal, s)
