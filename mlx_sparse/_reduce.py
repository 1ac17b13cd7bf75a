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
        on = (indices.reshape(-1) - rows) == k  # in the index type: |c - r| < 2^31 for int32 indices
        vals = mx.where(on, data.reshape(-1), mx.zeros((), dtype=data.dtype)).reshape(data.shape)
    # the row sums of the entries on the diagonal: our product with a vector of ones (a scatter-add
    # of every entry, the off-diagonal ones adding 0, took 10-20x longer on the CPU)
    from ._products import product

    ones = mx.ones((n,), dtype=data.dtype, stream=s)
    y = product(op, vals, indices, indptr, (m, n), ones, False, s)
    lo = max(0, -k)
    return y[lo:lo + length] if (lo, length) != (0, m) else y


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
            v = v if nnz == m * n else red(v, zero)
            return mx.where(mx.any(mx.isnan(data)), mx.array(float("nan"), dtype=data.dtype), v)  # NaN wins, as NumPy
        if n == 0:
            raise ValueError(f"{op}: zero-size array to reduction operation along an axis of length 0")
        fill = mx.full((m,), float("-inf") if largest else float("inf"), dtype=data.dtype)
        if nnz:
            rows = _scatter_index(expand_rows(op, indptr, nnz, data.dtype, s), s)
            fill = fill.at[rows].maximum(data) if largest else fill.at[rows].minimum(data)
            nan = mx.zeros((m,), dtype=mx.int32).at[rows].add(mx.isnan(data).astype(mx.int32)) > 0
        counts = indptr[1:] - indptr[:-1]
        out = mx.where(counts < n, red(fill, zero), fill)
        return mx.where(nan, mx.array(float("nan"), dtype=data.dtype), out) if nnz else out  # NaN wins, as NumPy


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


def arg_extreme(op: str, data, indices, indptr, shape, axis, largest: bool, s) -> mx.array:
    """argmax (``largest``) / argmin of canonical CSR buffers with scipy's rules: the first position
    (row-major) of the extreme value, implicit zeros included; per row (axis 1: column indices,
    shape (m,)) or over everything (axis None: a flat index, 0-d). NaN counts as the extreme, as in
    NumPy. Lazy."""
    m, n = shape
    if mx.issubdtype(data.dtype, mx.complexfloating):
        raise TypeError(f"{op}: complex values have no ordering")
    if n == 0 or (axis is None and m == 0):
        raise ValueError(f"{op}: attempt to get {op} of an empty sequence (shape {shape})")
    nnz = int(data.size)
    best = extreme(op, data, indptr, shape, 1, largest, s)  # per row, implicit zeros included
    ct = mx.int32 if n <= _INT32_MAX else mx.int64
    with mx.stream(s):
        counts = (indptr[1:] - indptr[:-1]).astype(ct)
        big = mx.array(n, dtype=ct)
        first_gap = mx.where(counts < n, counts, big)  # a full prefix 0..len-1 leaves its gap at len
        stored = mx.full((m,), n, dtype=ct)
        if nnz:
            rows = _scatter_index(expand_rows(op, indptr, nnz, data.dtype, s), s)
            cols = indices.reshape(-1).astype(ct)
            b = mx.take(best, rows)
            hit = (data == b) | (mx.isnan(data) & mx.isnan(b))
            stored = stored.at[rows].minimum(mx.where(hit, cols, big))
            slot = (mx.arange(nnz, dtype=mx.int64) - mx.take(indptr, rows).astype(mx.int64)).astype(ct)
            first_gap = first_gap.at[rows].minimum(mx.where(cols != slot, slot, big))
        col = mx.where(best == 0, mx.minimum(stored, first_gap), stored)  # zero wins at its first place
        if axis is not None:
            return col.astype(mx.int64)
        top = mx.max(best) if largest else mx.min(best)
        nan = mx.isnan(best)
        win = mx.where(mx.any(nan), nan, best == top)
        r = mx.min(mx.where(win, mx.arange(m, dtype=mx.int64), m))
        return r * n + mx.take(col, r).astype(mx.int64)
