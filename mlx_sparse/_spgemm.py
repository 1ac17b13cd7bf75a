"""The spgemm family: C = A B of two sparse arrays, staged as the execution model asks.

A symbolic pass counts each row's distinct columns (our kernel), ``mx.cumsum`` scans the counts on
the same stream, one synchronization reads the total, and the numeric pass fills the exactly
allocated output (our kernel: Gustavson with a dense accumulator per thread, sorted rows). The
result is canonical CSR; explicit zeros from cancellation stay stored (scipy drops them; the
structure here is the symbolic product's, fixed before the values). Indices are int64 when the
output's nnz or shape needs it, never wrapped. On the GPU the product is expand-sort-compress (a
first, simple path: the products are expanded by our kernel, sorted by MLX and summed by ours). Functions take and return MLX buffers (the containers' ``@`` wraps them).
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._coerce import _result_type
from ._canonical import triplet_plan, triplet_values
from ._convert import transpose_csr
from ._device import is_gpu
from ._select import _indptr

_INT32_MAX = 2**31 - 1


def spgemm(op: str, a, b, s: mx.Stream):
    """(data, indices, indptr) of A B for CSR buffers a = (data, indices, indptr, (m, k)) and b likewise
    with shape (k, n), in a common value dtype; canonical (B's rows sorted)."""
    ad, ai, ap, (m, k) = a
    bd, bi, bp, (_, n) = b
    numeric, indptr = plan(op, ai, ap, bi, bp, (m, k, n), ad.dtype, s)
    data, indices = numeric(ad, bd)
    return data, indices, indptr


def plan(op: str, ai, ap, bi, bp, dims, dt, s: mx.Stream):
    """The symbolic product of the structures (ai, ap) (m x k) and (bi, bp) (k x n), B's rows sorted:
    returns ``numeric(adata, bdata) -> (data, indices)`` (lazy, no synchronization, differentiable)
    and the output's row pointer. The synchronizations happen here: one on the CPU (the nnz), two on
    the GPU (the product count, then the nnz)."""
    m, k, n = dims
    it = mx.int64 if mx.int64 in (ai.dtype, bi.dtype) or max(m, k, n) > _INT32_MAX else mx.int32
    ai, ap, bi, bp = (x.astype(it, stream=s) for x in (ai, ap, bi, bp))
    nnza, nnzb = int(ai.size), int(bi.size)

    def empty(indptr):
        return (lambda x, y: (mx.zeros((0,), dtype=dt, stream=s), mx.zeros((0,), dtype=indptr.dtype, stream=s))), indptr

    if m == 0 or n == 0 or nnza == 0 or nnzb == 0:
        return empty(mx.zeros((m + 1,), dtype=it, stream=s))
    if is_gpu(s):
        return _esc_plan(op, ai, ap, bi, bp, dims, dt, s)
    sizes = dict(m=m, k=k, n=n, nnza=nnza, nnzb=nnzb)
    (counts,) = K.prepare(op, "spgemm_count", dt, it, s, sizes)(aptr=ap, aind=ai, bptr=bp, bind=bi)
    cptr, nnzc = _indptr(counts.astype(mx.int64, stream=s), s)
    if it == mx.int32 and nnzc > _INT32_MAX:  # the output needs int64 positions: redo in int64
        return plan(op, ai.astype(mx.int64, stream=s), ap.astype(mx.int64, stream=s), bi.astype(mx.int64, stream=s),
                    bp.astype(mx.int64, stream=s), dims, dt, s)
    cptr = cptr.astype(it, stream=s)
    if nnzc == 0:
        return empty(cptr)
    return (lambda x, y: fill(op, (x, ai, ap, (m, k)), (y, bi, bp, (k, n)), cptr, nnzc, s)), cptr


def _esc_plan(op: str, ai, ap, bi, bp, dims, dt, s: mx.Stream):
    """The GPU product, expand-sort-compress: each row's products expanded (our kernel, sized by a
    per-row flop count and one synchronization); the numeric pass gathers their values (MLX, so
    derivatives are MLX's) and sums them into the canonical form planned once (MLX's argsort of the
    (row, column) pairs, a second synchronization; our run-sum kernel)."""
    m, k, n = dims
    it = ai.dtype
    nnza, nnzb = int(ai.size), int(bi.size)
    (fl,) = K.prepare(op, "spgemm_rowflops", dt, it, s, dict(m=m, k=k, nnza=nnza))(aptr=ap, aind=ai, bptr=bp)
    fptr, nf = _indptr(fl.astype(mx.int64, stream=s), s)
    if nf > _INT32_MAX:
        raise ValueError(f"{op}: {nf} products exceed the GPU expansion's limit (2^31 - 1); run on the CPU")
    if nf == 0:
        return (lambda x, y: (mx.zeros((0,), dtype=dt, stream=s), mx.zeros((0,), dtype=it, stream=s))), \
            mx.zeros((m + 1,), dtype=it, stream=s)
    rows, cols, sa, sb = K.prepare(op, "spgemm_expand", dt, it, s, dict(m=m, k=k, nnza=nnza, nnzb=nnzb, nf=nf))(
        aptr=ap, aind=ai, bptr=bp, bind=bi, fptr=fptr.astype(it, stream=s))
    with mx.stream(s):
        sa, sb = (mx.stop_gradient(x if x.dtype == mx.int32 else x.astype(mx.int32)) for x in (sa, sb))
    tp = triplet_plan(op, rows, cols, (m, n), s)

    def numeric(x, y):
        with mx.stream(s):
            vals = mx.take(x, sa) * mx.take(y, sb)
        return triplet_values(op, tp, vals, s), tp["indices"]

    return numeric, tp["indptr"]


def fill(op: str, a, b, cptr, nnzc: int, s: mx.Stream):
    """(data, indices) of A B into the row pointer ``cptr`` (the symbolic pass's): the numeric pass,
    no synchronization. B's rows must be sorted (the derivative rules merge them). Differentiable in
    both values: vjp dA = dC B^H and dB = A^H dC, each sampled on its operand's structure (our
    merge kernel; the transposes are our counting-sort transposes), jvp dA B + A dB (the fill on
    the tangents, same structure)."""
    ad, ai, ap, (m, k) = a
    bd, bi, bp, (_, n) = b
    it, dt = ai.dtype, ad.dtype
    cplx = mx.issubdtype(dt, mx.complexfloating)
    sizes = dict(m=m, k=k, n=n, nnza=int(ad.size), nnzb=int(bd.size), nnzc=nnzc)

    def run(x, y, **rules):
        return K.prepare(op, "spgemm_fill", dt, it, s, sizes, **rules)(aptr=ap, aind=ai, adata=x, bptr=bp, bind=bi,
                                                                      bdata=y, cptr=cptr)

    def conj(v):
        return mx.conj(v, stream=s) if cplx else v

    def vjp(primals, cotangents, outputs):
        x, y, cind, g = primals[2], primals[5], outputs[0], cotangents[1].astype(dt, stream=s)
        da = sampled(op, ap, ai, (g, cind, cptr), (conj(y), bi, bp), m, k, n, s)
        atd, ati, atp = transpose_csr(op, conj(x), ai, ap, (m, k), s)
        ctd, cti, ctp = transpose_csr(op, g, cind, cptr, (m, n), s)
        db = sampled(op, bp, bi, (atd, ati, atp), (ctd, cti, ctp), k, n, m, s)
        return [None, None, da, None, None, db, None]

    jvp = K.bilinear_jvp(run, 2, 5, nnzc, it, dt, s, vjp)  # (a + da)(b + db) to first order

    cind, cdata = run(ad, bd, vjp=vjp, jvp=jvp)
    return cdata, cind


def sampled(op: str, sptr, sind, g, h, m: int, k: int, n: int, s: mx.Stream) -> mx.array:
    """For each stored entry (i, j) of the structure (sptr, sind) (m rows): the sum over c of
    G[i, c] H[j, c], with g = (data, indices, indptr) of G (m rows) and h of H (k rows), both with
    sorted rows; one value per entry, lazy."""
    gd, gi, gp = g
    hd, hi, hp = h
    nnzs = int(sind.size)
    if nnzs == 0 or int(gd.size) == 0 or int(hd.size) == 0:
        return mx.zeros((nnzs,), dtype=gd.dtype, stream=s)
    it = sind.dtype
    sizes = dict(m=m, k=k, n=n, nnzs=nnzs, nnzg=int(gd.size), nnzh=int(hd.size))
    (out,) = K.prepare(op, "spgemm_sampled", gd.dtype, it, s, sizes)(
        sptr=sptr, sind=sind, gptr=gp.astype(it, stream=s), gind=gi.astype(it, stream=s), gdata=gd,
        hptr=hp.astype(it, stream=s), hind=hi.astype(it, stream=s), hdata=hd.astype(gd.dtype, stream=s))
    return out


def result_dtype(op: str, a, b):
    dt = _result_type(a, b)
    if dt not in K.VALUE_TYPES:
        raise TypeError(f"{op}: no supported value dtype for {a} and {b} (got {dt})")
    return dt
