"""The spgemm family: C = A B of two sparse arrays, staged as the execution model asks.

A symbolic pass counts each row's distinct columns (our kernel), ``mx.cumsum`` scans the counts on
the same stream, one synchronization reads the total, and the numeric pass fills the exactly
allocated output (our kernel: Gustavson with a dense accumulator per thread, sorted rows). The
result is canonical CSR; explicit zeros from cancellation stay stored (scipy drops them; the
structure here is the symbolic product's, fixed before the values). Indices are int64 when the
output's nnz or shape needs it, never wrapped. CPU kernels only so far: on the GPU the dispatcher
raises ``RuntimeError``. Functions take and return MLX buffers (the containers' ``@`` wraps them).
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._coerce import _result_type
from ._select import _indptr

_INT32_MAX = 2**31 - 1


def spgemm(op: str, a, b, s: mx.Stream):
    """(data, indices, indptr) of A B for CSR buffers a = (data, indices, indptr, (m, k)) and b likewise
    with shape (k, n), in a common value dtype; canonical."""
    ad, ai, ap, (m, k) = a
    bd, bi, bp, (k2, n) = b
    if k != k2:
        raise ValueError(f"{op}: shape mismatch, A is {(m, k)} and B is {(k2, n)}")
    it = mx.int64 if mx.int64 in (ai.dtype, bi.dtype) or max(m, k, n) > _INT32_MAX else mx.int32
    ai, ap, bi, bp = (x.astype(it, stream=s) for x in (ai, ap, bi, bp))
    nnza, nnzb = int(ad.size), int(bd.size)
    if m == 0 or n == 0 or nnza == 0 or nnzb == 0:
        return mx.zeros((0,), dtype=ad.dtype, stream=s), mx.zeros((0,), dtype=it, stream=s), \
            mx.zeros((m + 1,), dtype=it, stream=s)
    sizes = dict(m=m, k=k, n=n, nnza=nnza, nnzb=nnzb)
    (counts,) = K.prepare(op, "spgemm_count", ad.dtype, it, s, sizes)(aptr=ap, aind=ai, bptr=bp, bind=bi)
    cptr, nnzc = _indptr(counts.astype(mx.int64, stream=s), s)
    if it == mx.int32 and nnzc > _INT32_MAX:  # the output needs int64 positions: redo in int64
        return spgemm(op, (ad, ai.astype(mx.int64, stream=s), ap.astype(mx.int64, stream=s), (m, k)),
                      (bd, bi.astype(mx.int64, stream=s), bp.astype(mx.int64, stream=s), (k, n)), s)
    cptr = cptr.astype(it, stream=s)
    if nnzc == 0:
        return mx.zeros((0,), dtype=ad.dtype, stream=s), mx.zeros((0,), dtype=it, stream=s), cptr
    cind, cdata = K.prepare(op, "spgemm_fill", ad.dtype, it, s, dict(sizes, nnzc=nnzc))(
        aptr=ap, aind=ai, adata=ad, bptr=bp, bind=bi, bdata=bd, cptr=cptr)
    return cdata, cind, cptr


def result_dtype(op: str, a, b):
    dt = _result_type(a, b)
    if dt not in K.VALUE_TYPES:
        raise TypeError(f"{op}: no supported value dtype for {a} and {b} (got {dt})")
    return dt
