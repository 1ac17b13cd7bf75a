"""The select family: dense -> CSR (fromdense) and CSR subsets (eliminate_zeros, tril, triu).

Each is staged as the execution model asks of dynamic-output operations: a count per row (our
kernel), a prefix sum (``scan0``, on the same device), one synchronization of the total, then a
fill (our kernel) that writes each kept entry's column and source position. fromdense gathers the
values at those positions (``mx.take``); the CSR subsets copy them in the fill, with a gather's
derivative rules (``_kernels.value_gathering``), so gradients flow to the input values. Functions
take and return MLX buffers.
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._device import is_gpu

_INT32_MAX = 2**31 - 1


def scan0(x: mx.array, s: mx.Stream, op: str = "prefix sum") -> mx.array:
    """[0, x0, x0 + x1, ...] (m + 1 entries) of an int32/int64 vector, lazy. On the GPU our two-pass
    tile scan (csrc/cuda/convert.cu; MLX's cumsum there took 2.5 ms for 4M int32 entries on an
    H200, see docs/architecture.md). On the CPU MLX's cumsum."""
    m = int(x.size)
    with mx.stream(s):
        if not is_gpu(s) or m == 0:
            return mx.concatenate([mx.zeros((1,), dtype=x.dtype), mx.cumsum(x)])
    nt = -(-m // _SCAN_TILE)
    sizes = dict(m=m, nt=nt)
    (tiles,) = K.prepare(op, "convert_scan_tiles", mx.float32, x.dtype, s, sizes)(x=x)
    (out,) = K.prepare(op, "convert_scan", mx.float32, x.dtype, s, sizes)(x=x, tiles=tiles)
    return out


_SCAN_TILE = 256 * 16  # csrc/cuda/convert.cu SCAN_TILE


def _indptr(counts: mx.array, s: mx.Stream, op: str) -> tuple[mx.array, int]:
    """Row pointer of per-row counts, and its total (the one synchronization). The total is the entry
    count of the result the caller allocates next: past 2^31 - 1 (an MLX array's limit per dimension,
    and int32's) it raises ``OverflowError`` naming ``op`` before anything that large is allocated."""
    with mx.stream(s):  # structure: no derivative flows to it (counts may come from a node that read values)
        indptr = mx.stop_gradient(scan0(counts, s))
        total = indptr[-1]
    mx.eval(indptr, total)  # one synchronization for both
    total = int(total.item())
    if total > _INT32_MAX:
        raise OverflowError(f"{op}: the result would hold {total} stored entries; an MLX array holds at most "
                            "2^31 - 1 elements per dimension (split the operation, e.g. by row blocks)")
    return indptr, total


def fromdense(op: str, D: mx.array, threshold, index_dtype, s: mx.Stream):
    """CSR buffers (data, indices, indptr) of the entries of a 2-D dense array with |value| > |threshold|
    (threshold 0: the nonzeros), rows in order, columns sorted: canonical."""
    if D.ndim != 2:
        raise ValueError(f"{op}: expected a 2-D dense array, got shape {tuple(D.shape)}")
    if D.dtype not in K.VALUE_TYPES:
        raise TypeError(f"{op}: unsupported value dtype {D.dtype}; use one of {', '.join(map(str, K.VALUE_TYPES))}")
    m, n = (int(d) for d in D.shape)
    it = index_dtype or (mx.int64 if m * n > _INT32_MAX else mx.int32)
    if it == mx.int32 and m * n > _INT32_MAX:
        raise OverflowError(f"{op}: a {m} x {n} array needs int64 indices (positions past 2^31 - 1)")
    if m * n == 0:
        return mx.zeros((0,), dtype=D.dtype), mx.zeros((0,), dtype=it), mx.zeros((m + 1,), dtype=it)
    with mx.stream(s):
        thr = mx.array([threshold]).astype(D.dtype)
    (counts,) = K.prepare(op, "select_dense_count", D.dtype, it, s, dict(m=m, n=n))(dense=D, thr=thr)
    indptr, nnz = _indptr(counts, s, op)
    if nnz == 0:
        return mx.zeros((0,), dtype=D.dtype), mx.zeros((0,), dtype=it), indptr
    indices, pos = K.prepare(op, "select_dense_fill", D.dtype, it, s, dict(m=m, n=n, nnz=nnz))(dense=D, thr=thr,
                                                                                              indptr=indptr)
    with mx.stream(s):  # positions are structure: no derivative reaches them
        data = mx.take(D.reshape(-1), mx.stop_gradient(pos))
    return data, indices, indptr


def select(op: str, data, indices, indptr, shape, s: mx.Stream, nonzero: bool = False, lower: bool = False,
           upper: bool = False, k: int = 0, lo: int = 0, hi=None, sorted_rows: bool = False,
           with_sources: bool = False):
    """CSR buffers of the entries kept by: lo <= column < hi (the output's columns shifted by -lo),
    nonzero (value != 0), lower (column - row <= k), upper (column - row >= k); storage order kept, so
    sorted or canonical input stays so. ``sorted_rows`` (the caller knows each row is sorted) without
    ``nonzero``: each row's kept entries are one run found by binary search, so the cost follows the
    rows and the output, not nnz. ``with_sources``: also each kept entry's position in the input (a
    fourth result; the fast paths that keep every entry return 0..nnz-1)."""
    m, n = shape
    hi = n if hi is None else hi
    nnz = int(data.size)
    it = indices.dtype
    if nnz == 0:
        return (data, indices, indptr, mx.zeros((0,), dtype=it)) if with_sources else (data, indices, indptr)
    shift = min(max(int(k), -m), n) + m  # k clamped to [-m, n] (every column - row lies inside), shifted >= 0
    sizes = dict(m=m, n=n, nnz=nnz, shift=shift, lo=int(lo), hi=int(hi))
    flags = dict(nonzero=nonzero, lower=lower, upper=upper, sorted=bool(sorted_rows))
    (counts,) = K.prepare(op, "select_csr_count", data.dtype, it, s, sizes, flags=flags)(indptr=indptr, indices=indices,
                                                                                        data=data)
    optr, nnz2 = _indptr(counts, s, op)
    if nnz2 == nnz and lo == 0:  # nothing dropped: the same buffers
        return (data, indices, indptr, mx.arange(nnz, dtype=it, stream=s)) if with_sources else (data, indices, indptr)
    if nnz2 == 0:
        out = mx.zeros((0,), dtype=data.dtype), mx.zeros((0,), dtype=it), optr
        return (*out, mx.zeros((0,), dtype=it)) if with_sources else out
    o = K.value_gathering(op, "select_csr_fill", dict(indptr=indptr, indices=indices, data=data, optr=optr),
                          dict(sizes, nnz2=nnz2), s, flags=flags)
    out = o["out_data"], o["out_indices"], optr
    return (*out, o["src"]) if with_sources else out
