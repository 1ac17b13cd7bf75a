"""The ewise family: elementwise binary operations of two canonical CSR matrices of one shape, by a
merge of their rows: the union (A + B, A - B) or the intersection (A * B), staged: a merge count
per row (our kernel), the scan and one synchronization, then the merge fill (our kernel) of indices
and values. The derivative rules ask a third kernel for each entry's sources in A and B (only when
a derivative is taken). Kernels on both devices (a thread per row on the GPU). Functions take and
return MLX buffers.
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._select import _indptr


def merge(op: str, a, b, shape, s: mx.Stream, intersect: bool = False, negate: bool = False, extreme: str = ""):
    """(data, indices, indptr) of A + B (A - B with ``negate``; the elementwise larger or smaller
    with ``extreme`` "max" / "min", a missing entry counting 0, NaN winning), or of A * B elementwise
    (``intersect``), for canonical CSR buffers a, b = (data, indices, indptr) of one value and
    index dtype; canonical; differentiable in both values (cancellations and zero products stay
    stored, so the structure does not depend on the values)."""
    ad, ai, ap = a
    bd, bi, bp = b
    m, n = shape
    it, dt = ai.dtype, ad.dtype
    nnza, nnzb = int(ad.size), int(bd.size)
    if extreme and mx.issubdtype(ad.dtype, mx.complexfloating):
        raise TypeError(f"{op}: complex values have no ordering")
    flags = dict(intersect=intersect, negate=negate)
    fill_flags = dict(flags, maximum=extreme == "max", minimum=extreme == "min")
    (counts,) = K.prepare(op, "ewise_count", dt, it, s, dict(m=m, n=n, nnza=nnza, nnzb=nnzb),
                          flags=dict(intersect=intersect))(aptr=ap, aind=ai, bptr=bp, bind=bi)
    optr, nnz2 = _indptr(counts.astype(mx.int64, stream=s), s, op)
    optr = optr.astype(it, stream=s)
    if nnz2 == 0:
        return mx.zeros((0,), dtype=dt, stream=s), mx.zeros((0,), dtype=it, stream=s), optr
    sizes = dict(m=m, n=n, nnza=nnza, nnzb=nnzb, nnz2=nnz2)

    def run(x, y, **rules):
        return K.prepare(op, "ewise_fill", dt, it, s, sizes, flags=fill_flags, **rules)(
            aptr=ap, aind=ai, adata=x, bptr=bp, bind=bi, bdata=y, optr=optr)

    def sources():
        return K.prepare(op, "ewise_sources", dt, it, s, sizes, flags=flags)(aptr=ap, aind=ai, bptr=bp, bind=bi,
                                                                            optr=optr)

    def back(ct, src, size):  # the cotangent of each output entry to its source (if any)
        with mx.stream(s):
            at = mx.where(src >= 0, src, size).astype(mx.int32 if size < 2**31 - 1 else mx.int64)
            return mx.zeros((size + 1,), dtype=ct.dtype).at[at].add(ct)[:size]

    def vjp(primals, cotangents, outputs):
        ct = cotangents[1]
        sa, sb = sources()
        if intersect:  # d(a b): b da + a db, with MLX's conjugation convention through its ops
            with mx.stream(s):
                xa, yb = mx.take(primals[2], mx.maximum(sa, 0)), mx.take(primals[5], mx.maximum(sb, 0))
                _, (ca, cb) = mx.vjp(lambda u, v: u * v, [xa, yb], [ct])
            return [None, None, back(ca, sa, nnza), None, None, back(cb, sb, nnzb), None]
        if extreme:  # the cotangent goes to the side that was taken (ties and NaN in A: A)
            with mx.stream(s):
                zero = mx.zeros((), dtype=dt)
                u = mx.where(sa >= 0, mx.take(primals[2], mx.maximum(sa, 0)), zero)
                w = mx.where(sb >= 0, mx.take(primals[5], mx.maximum(sb, 0)), zero)
                first = mx.isnan(u) | ((u >= w) if extreme == "max" else (u <= w))
                ca, cb = mx.where(first, ct, zero), mx.where(first, zero, ct)
            return [None, None, back(ca, sa, nnza), None, None, back(cb, sb, nnzb), None]
        cb = back(ct, sb, nnzb)
        return [None, None, back(ct, sa, nnza), None, None, -cb if negate else cb, None]

    def jvp(primals, tangents):
        x = tangents[2] if tangents[2] is not None else mx.zeros_like(primals[2], stream=s)
        y = tangents[5] if tangents[5] is not None else mx.zeros_like(primals[5], stream=s)
        x, y = x.astype(dt, stream=s), y.astype(dt, stream=s)
        if extreme:  # the tangent of the side that was taken
            sa, sb = sources()
            with mx.stream(s):
                zero = mx.zeros((), dtype=dt)
                u = mx.where(sa >= 0, mx.take(primals[2], mx.maximum(sa, 0)), zero)
                w = mx.where(sb >= 0, mx.take(primals[5], mx.maximum(sb, 0)), zero)
                first = mx.isnan(u) | ((u >= w) if extreme == "max" else (u <= w))
                tu = mx.where(sa >= 0, mx.take(x, mx.maximum(sa, 0)), zero)
                tw = mx.where(sb >= 0, mx.take(y, mx.maximum(sb, 0)), zero)
                return [mx.zeros((nnz2,), dtype=it), mx.where(first, tu, tw)]
        if intersect:  # (a + da)(b + db) to first order: da b + a db
            d = mx.add(run(x, primals[5], vjp=vjp, jvp=jvp)[1], run(primals[2], y, vjp=vjp, jvp=jvp)[1], stream=s)
        else:
            d = run(x, y, vjp=vjp, jvp=jvp)[1]
        return [mx.zeros((nnz2,), dtype=it, stream=s), d]

    oind, odata = run(ad, bd, vjp=vjp, jvp=jvp)
    return odata, oind, optr
