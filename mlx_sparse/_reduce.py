"""Reductions over a sparse array's entries: diagonal, max/min with scipy's implicit zeros, norms.

Compositions of MLX ops (gathers, scatters, reductions) over CSR buffers and our expand_rows kernel:
lazy, on either device, differentiable where MLX's ops are. Functions take and return MLX buffers.
"""

from __future__ import annotations

import mlx.core as mx

from ._convert import expand_rows

_INT32_MAX = 2**31 - 1


def _scatter_index(a: mx.array, s) -> mx.array:
    """Scatter indices MLX accepts on every device (its GPU scatter rejects int64)."""
    return a.astype(mx.int32, stream=s) if a.dtype == mx.int64 else a


def diagonal(op: str, data, indices, indptr, shape, k: int, s) -> mx.array:
    """The k-th diagonal of CSR buffers of shape (m, n) as a dense vector (duplicates summed); lazy."""
    m, n = shape
    length = max(0, min(m + min(k, 0), n - max(k, 0)))
    if length == 0 or int(data.size) == 0:
        return mx.zeros((length,), dtype=data.dtype, stream=s)
    if length > _INT32_MAX:
        raise ValueError(f"{op}: a diagonal of {length} entries is too long for MLX's scatter")
    rows = expand_rows(op, indptr, int(data.size), data.dtype, s)
    with mx.stream(s):
        r64, c64 = rows.astype(mx.int64), indices.reshape(-1).astype(mx.int64)
        on = (c64 - r64) == k
        pos = mx.where(on, r64 - max(0, -k), 0).astype(mx.int32)  # off-diagonal entries add 0 at 0
        vals = mx.where(on, data.reshape(-1), mx.zeros((), dtype=data.dtype))
        return mx.zeros((length,), dtype=data.dtype).at[pos].add(vals)


def extreme(op: str, data, indptr, shape, axis, largest: bool, s) -> mx.array:
    """max (``largest``) or min of canonical CSR buffers, counting the implicit zeros as scipy does:
    over everything (axis None: a scalar) or per row (axis 1: shape (m,)). Lazy."""
    m, n = shape
    if mx.issubdtype(data.dtype, mx.complexfloating):
        raise TypeError(f"{op}: complex values have no ordering")
    nnz = int(data.size)
    red = mx.maximum if largest else mx.minimum
    with mx.stream(s):
        zero = mx.zeros((), dtype=data.dtype)
        if axis is None:
            if m * n == 0:
                raise ValueError(f"{op}: zero-size array to reduction operation (shape {shape})")
            if nnz == 0:
                return zero
            v = mx.max(data) if largest else mx.min(data)
            return v if nnz == m * n else red(v, zero)
        if n == 0:
            raise ValueError(f"{op}: zero-size array to reduction operation along an axis of length 0")
        fill = mx.full((m,), float("-inf") if largest else float("inf"), dtype=data.dtype)
        if nnz:
            rows = _scatter_index(expand_rows(op, indptr, nnz, data.dtype, s), s)
            fill = fill.at[rows].maximum(data) if largest else fill.at[rows].minimum(data)
        counts = indptr[1:] - indptr[:-1]
        return mx.where(counts < n, red(fill, zero), fill)


def row_sq_norms(op: str, data, indptr, shape, s) -> mx.array:
    """Sum of |value|^2 per row of canonical CSR buffers (shape (m,)); lazy."""
    m, _ = shape
    nnz = int(data.size)
    real = data.dtype if not mx.issubdtype(data.dtype, mx.complexfloating) else mx.float32
    with mx.stream(s):
        if nnz == 0:
            return mx.zeros((m,), dtype=real)
        rows = _scatter_index(expand_rows(op, indptr, nnz, data.dtype, s), s)
        sq = mx.abs(data.reshape(-1)) ** 2
        return mx.zeros((m,), dtype=sq.dtype).at[rows].add(sq)
