"""The convert family: COO -> CSR, CSR -> dense, CSR rows <-> row pointer; each choosing its device path here.

Functions take and return MLX buffers (the containers wrap them), so this module imports no container.
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._device import is_gpu


def expand_rows(op: str, indptr: mx.array, nnz: int, dtype: mx.Dtype, s: mx.Stream) -> mx.array:
    """Row id of every stored entry (CSR -> COO rows); lazy. (MLX's GPU scatter rejects int64, so
    this is our kernel on both devices.)"""
    m = indptr.size - 1
    if nnz > 2**31 - 1:
        raise ValueError(f"{op}: more than 2^31 - 1 entries need the row of each entry as a paged buffer; "
                         "gradients and entry-wise operations are not available at this size")
    if nnz == 0:
        return mx.zeros((0,), dtype=indptr.dtype, stream=s)
    (rows,) = K.prepare(op, "convert_expand_rows", dtype, indptr.dtype, s, dict(m=m, nnz=nnz))(indptr=indptr)
    return rows


def indptr_from_sorted_rows(op: str, rows: mx.array, m: int, dtype: mx.Dtype, s: mx.Stream) -> mx.array:
    """CSR row pointer of row-sorted entries; lazy."""
    (indptr,) = K.prepare(op, "convert_indptr_from_rows", dtype, rows.dtype, s, dict(m=m, nnz=int(rows.size)))(rows=rows)
    return indptr


def csr_todense(op: str, data, indices, indptr, shape, s: mx.Stream) -> mx.array:
    """Dense (m, n) MLX array of CSR buffers (duplicates summed); lazy, differentiable in the values."""
    m, n = shape
    nnz = int(data.size)
    if m * n == 0 or nnz == 0:
        return mx.zeros((m, n), dtype=data.dtype, stream=s)
    sizes = dict(m=m, n=n, nnz=nnz)

    def raw(d, ind, ptr, **rules):  # made (m, n) by the node: a flat m * n may pass MLX's 2^31 - 1 axis limit
        (out,) = K.prepare(op, "convert_csr_todense", d.dtype, ind.dtype, s, sizes, shapes=dict(dense=(m, n)),
                           **rules)(indptr=ptr, indices=ind, data=d)
        return out

    def vjp(primals, cotangents, outputs):  # d data_j = G[row_j, col_j]
        ptr, ind, d = primals
        rows = expand_rows(op, ptr, nnz, d.dtype, s)
        with mx.stream(s):
            flat = rows.astype(mx.int64) * n + ind.reshape(-1).astype(mx.int64)
            return [None, None, mx.take(cotangents[0], flat)]

    def jvp(primals, tangents):
        t = tangents[2].astype(primals[2].dtype, stream=s)
        return [raw(t, primals[1], primals[0], vjp=vjp, jvp=jvp)]

    return raw(data, indices, indptr, vjp=vjp, jvp=jvp)


def coo_to_csr(op: str, row, col, data, shape, s: mx.Stream):
    """CSR buffers (data, indices, indptr) of COO triplets, every entry kept, sorted by (row, col)
    (equal pairs in input order); lazy, differentiable in the values. CPU: our two-level counting
    sort; GPU: MLX's argsort by (row, col) and our row-pointer kernel. Returns (data, indices, indptr,
    sorted_indices)."""
    m, n = shape
    it, vt, nnz = row.dtype, data.dtype, int(data.size)
    if nnz == 0:
        return data, col, mx.zeros((m + 1,), dtype=it, stream=s), True
    if is_gpu(s):
        with mx.stream(s):
            perm = mx.argsort(row.astype(mx.int64) * max(n, 1) + col.astype(mx.int64))
            rs, cs, ds = mx.take(row, perm), mx.take(col, perm), mx.take(data, perm)
        return ds, cs, indptr_from_sorted_rows(op, rs, m, vt, s), True
    d, ind, ptr, _ = coo_sorted_cpu(op, row, col, data, shape, s)
    return d, ind, ptr, True


def coo_sorted_cpu(op: str, row, col, data, shape, s: mx.Stream):
    """CPU: (values, indices, indptr, uptr) of COO triplets sorted by (row, col), with uptr the row
    pointer of distinct columns (what summing the duplicates needs); lazy."""
    m, n = shape
    out = K.value_permuting(op, "convert_coo_tocsr", dict(row=row, col=col, data=data), "data", "values",
                            dict(m=m, n=n, nnz=int(data.size)), s)
    return out["values"], out["indices"], out["indptr"], out["uptr"]


def transpose_csr(op: str, data, indices, indptr, shape, s: mx.Stream):
    """(data, indices, indptr) of the CSR of A^T (A's CSC) from A's CSR buffers: entries regrouped by
    column, rows in order within each (sorted; canonical from canonical); lazy, differentiable in the
    values. CPU: our counting-sort transpose; GPU: MLX's argsort by (column, row)."""
    m, n = shape
    nnz = int(data.size)
    if nnz == 0:
        return data, indices, mx.zeros((n + 1,), dtype=indices.dtype, stream=s)
    if is_gpu(s):
        rows = expand_rows(op, indptr, nnz, data.dtype, s)
        d, ind, ptr, _ = coo_to_csr(op, indices, rows, data, (n, m), s)
        return d, ind, ptr
    out = K.value_permuting(op, "convert_csr_tocsc", dict(indptr=indptr, indices=indices, data=data), "data", "tval",
                            dict(m=m, n=n, nnz=nnz), s)
    return out["tval"], out["tind"], out["tptr"]
