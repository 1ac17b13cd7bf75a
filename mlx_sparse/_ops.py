"""Entry-wise operations on a sparse array's pattern: sampled dense-dense products and dense multiplication."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from ._coerce import as_dense, is_sparse
from ._convert import expand_rows
from ._device import StreamLike, resolve_stream


def _entry_coords(op: str, A, s):
    """(row, col) of every stored entry of A (lazy)."""
    r = expand_rows(op, A.indptr, A.nnz, A.dtype, s)
    return (r, A.indices) if A.format != "csc" else (A.indices, r)


def sddmm(A, X: Any, Y: Any, stream: StreamLike = None):
    """Sampled dense-dense product: ``A ⊙ (X @ Y)`` on A's pattern, X (m, k), Y (k, n); lazy,
    differentiable in A's values, X and Y (MLX gathers and a row-wise dot)."""
    op = "sddmm"
    if not is_sparse(A):
        raise TypeError(f"{op}: A must be a sparse array, got {type(A).__name__}")
    A = A if A.format in ("csr", "csc") else A.tocsr(canonical=False)
    X, Y = as_dense(op, X), as_dense(op, Y)
    m, n = A.shape
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != m or Y.shape[1] != n or X.shape[1] != Y.shape[0]:
        raise ValueError(f"{op}: shapes A {A.shape}, X {tuple(X.shape)}, Y {tuple(Y.shape)} do not chain")
    A._flat_only(op)
    s = resolve_stream(stream)
    r, c = _entry_coords(op, A, s)
    with mx.stream(s):
        vals = A.data * mx.sum(mx.take(X, r, axis=0) * mx.take(mx.transpose(Y), c, axis=0), axis=-1)
    return A._with_data(vals)


def multiply_dense(A, other: Any, stream: StreamLike = None):
    """Elementwise ``A * other`` for a dense ``other`` broadcastable to A's shape: a sparse result
    on A's pattern (values gathered from ``other``); lazy and differentiable."""
    op = "multiply"
    if is_sparse(other):
        raise TypeError(f"{op}: sparse * sparse is not supported yet")
    D = as_dense(op, other)
    m, n = A.shape
    try:  # the result keeps A's pattern: the operand must broadcast *to* A's shape, not widen it
        fits = np.broadcast_shapes(tuple(D.shape), (m, n)) == (m, n)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: operand of shape {tuple(D.shape)} does not broadcast to {A.shape}")
    if D.ndim == 0 or D.size == 1:
        s = resolve_stream(stream)
        with mx.stream(s):
            vals = A.data * D.reshape(())
        return A._with_data(vals)
    A._flat_only(op)
    s = resolve_stream(stream)
    r, c = _entry_coords(op, A, s)
    with mx.stream(s):
        D2 = mx.broadcast_to(D, (m, n))
        vals = A.data * D2[r.astype(mx.int64), c.astype(mx.int64)]
    return A._with_data(vals)
