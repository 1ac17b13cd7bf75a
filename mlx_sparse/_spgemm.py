"""The spgemm family: C = A B of two sparse arrays, staged as the execution model asks.

A symbolic pass counts each row's distinct columns (our kernel), a prefix sum scans the counts on
the same stream, one synchronization reads the total, and the numeric pass fills the exactly
allocated output (our kernel: Gustavson with a dense accumulator per thread, sorted rows). The
result is canonical CSR; explicit zeros from cancellation stay stored (scipy drops them; the
structure here is the symbolic product's, fixed before the values). Indices are int64 when the
shape needs it, never wrapped; a result of more than 2^31 - 1 entries (beyond an MLX array's
length and int32) raises ``OverflowError`` after the count, before its allocation. On the GPU rows
are binned by their product count into hash (8 lanes, a warp or a block) and bitmap tiers; one
kernel writes the sorted columns and their values, and a kept plan's numeric pass accumulates at
those positions (csrc/cuda/spgemm.cu). Functions take and return MLX buffers (the containers' ``@``
wraps them).
"""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._coerce import _result_type
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


def plan(op: str, ai, ap, bi, bp, dims, dt, s: mx.Stream, keep: bool = False):
    """The symbolic product of the structures (ai, ap) (m x k) and (bi, bp) (k x n), B's rows sorted:
    returns ``numeric(adata, bdata) -> (data, indices)`` (lazy, no synchronization, differentiable)
    and the output's row pointer. The synchronizations happen here: one on the CPU (the nnz), two on
    the GPU (the tier sizes, then the nnz). With ``keep`` (a plan meant for reuse), the first numeric
    call also evaluates the columns and keeps them: later calls only refill the values
    (``spgemm_refill`` on the CPU, ``spgemm_numeric`` on the GPU). Without it every call is a lazy
    fill of columns and values (a one-shot product stays lazy)."""
    m, k, n = dims
    it = mx.int64 if mx.int64 in (ai.dtype, bi.dtype) or max(m, k, n) > _INT32_MAX else mx.int32
    ai, ap, bi, bp = (x.astype(it, stream=s) for x in (ai, ap, bi, bp))
    nnza, nnzb = int(ai.size), int(bi.size)

    def empty(indptr):
        return (lambda x, y: (mx.zeros((0,), dtype=dt, stream=s), mx.zeros((0,), dtype=indptr.dtype, stream=s))), indptr

    if m == 0 or n == 0 or nnza == 0 or nnzb == 0:
        return empty(mx.zeros((m + 1,), dtype=it, stream=s))
    gpu = None
    if is_gpu(s):
        cptr, gpu = _gpu_plan(op, ai, ap, bi, bp, dims, dt, s)
        nnzc = gpu["nnzc"]
    else:
        sizes = dict(m=m, k=k, n=n, nnza=nnza, nnzb=nnzb)
        (counts,) = K.prepare(op, "spgemm_count", dt, it, s, sizes)(aptr=ap, aind=ai, bptr=bp, bind=bi)
        cptr, nnzc = _indptr(counts.astype(mx.int64, stream=s), s, op)
        cptr = cptr.astype(it, stream=s)
    if nnzc == 0:
        return empty(cptr)
    if not keep:
        return (lambda x, y: fill(op, (x, ai, ap, (m, k)), (y, bi, bp, (k, n)), cptr, nnzc, s, gpu=gpu)), cptr
    kept = {}

    def numeric(x, y):  # the first call's fill writes the columns; later calls refill them (no sort)
        if "cind" not in kept:  # (the plan's own first call, outside any transform: SpGEMMPlan)
            data, cind = fill(op, (x, ai, ap, (m, k)), (y, bi, bp, (k, n)), cptr, nnzc, s, gpu=gpu)
            mx.eval(cind)  # kept evaluated, so compiled numeric passes capture it as a constant
            kept["cind"] = cind
            return data, cind
        return fill(op, (x, ai, ap, (m, k)), (y, bi, bp, (k, n)), cptr, nnzc, s, kept["cind"], gpu)

    return numeric, cptr


def _gpu_plan(op: str, ai, ap, bi, bp, dims, dt, s: mx.Stream):
    """The GPU product's symbolic passes (csrc/cuda/spgemm.cu): one kernel counts every row's
    products and the distinct columns of the rows of at most 64 (the S tier, 8 lanes per row), and
    the sizes of the other tiers (a warp or a block with a shared hash table; a block with a column
    bitmap); one synchronization reads those sizes. When there are such rows, they are listed tier by
    tier and counted. The row pointer follows (a second synchronization reads the nnz). Returns it and
    the launch plan of ``fill``'s kernels."""
    m, k, n = dims
    it = ai.dtype
    nnza, nnzb = int(ai.size), int(bi.size)
    if m > _INT32_MAX:
        raise ValueError(f"{op}: {m} rows exceed the GPU product's limit (2^31 - 1); run on the CPU")
    sizes = dict(m=m, k=k, n=n, nnza=nnza, nnzb=nnzb)
    counts, fl, tiers = K.prepare(op, "spgemm_rowcount", dt, it, s, sizes)(aptr=ap, aind=ai, bptr=bp, bind=bi)
    nw, nb, ng = (int(v) for v in tiers.tolist())
    ns = m - nw - nb - ng
    isz = 8 if it == mx.int64 else 4
    nwords = -(-n // (8 * isz)) if ng else 0
    # the G tier's bitmaps (n bits per block): at most 512 blocks and 1 GiB of scratch
    gb = min(ng, 512, max(1, (1 << 30) // max(nwords * isz, 1))) if ng else 0
    plan = dict(nw=nw, nb=nb, ng=ng, sb=min(-(-ns // 32), 1 << 16), wb=min(-(-nw // 8), 1 << 16),
                bb=min(nb, 1 << 15), gb=gb, nwords=nwords)
    rows = fl  # (read by no block when every row is S)
    if nw + nb + ng:
        rows, _ = K.prepare(op, "spgemm_place", dt, it, s, dict(m=m, nw=nw, nb=nb))(flops=fl)
        rest, _ = K.prepare(op, "spgemm_hcount", dt, it, s, {**sizes, **plan, "sb": 0})(
            aptr=ap, aind=ai, bptr=bp, bind=bi, flops=fl, rows=rows)
        counts = mx.add(counts, rest, stream=s)  # (disjoint rows)
    cptr, nnzc = _indptr(counts.astype(mx.int64, stream=s), s, op)
    cptr = cptr.astype(it, stream=s)
    return cptr, dict(plan, nnzc=nnzc, flops=mx.stop_gradient(fl, stream=s), rows=mx.stop_gradient(rows, stream=s))


def fill(op: str, a, b, cptr, nnzc: int, s: mx.Stream, cind=None, gpu=None):
    """(data, indices) of A B into the row pointer ``cptr`` (the symbolic pass's): the numeric pass,
    no synchronization. One kernel writes indices and values, or, given the columns ``cind`` of a
    kept plan, only the values (``spgemm_refill``, ``spgemm_numeric``); on the GPU ``gpu`` is the
    launch plan of ``_gpu_plan``.
    B's rows must be sorted (the derivative rules merge them). Differentiable in both values: vjp
    dA = dC B^H and dB = A^H dC, each sampled on its operand's structure (our sampled kernel; the
    transposes are ours), jvp dA B + A dB (the numeric pass on the tangents, same structure)."""
    ad, ai, ap, (m, k) = a
    bd, bi, bp, (_, n) = b
    it, dt = ai.dtype, ad.dtype
    cplx = mx.issubdtype(dt, mx.complexfloating)
    sizes = dict(m=m, k=k, n=n, nnza=int(ad.size), nnzb=int(bd.size), nnzc=nnzc)
    # the GPU kernels' variant: "s" when every row is S (the other tiers' code left out: fewer registers)
    variant = "s" if gpu is not None and gpu["nw"] + gpu["nb"] + gpu["ng"] == 0 else "all"

    if gpu is None and cind is None:
        def run(x, y, **rules):
            return K.prepare(op, "spgemm_fill", dt, it, s, sizes, **rules)(aptr=ap, aind=ai, adata=x, bptr=bp,
                                                                          bind=bi, bdata=y, cptr=cptr)
    elif gpu is None:  # a kept plan on the CPU: the columns are known
        def run(x, y, **rules):
            return K.prepare(op, "spgemm_refill", dt, it, s, sizes, **rules)(aptr=ap, aind=ai, adata=x, bptr=bp,
                                                                            bind=bi, bdata=y, cptr=cptr, cind=cind)
    elif cind is None:
        gsizes = {key: gpu[key] for key in ("nw", "nb", "ng", "sb", "wb", "bb", "gb", "nwords")}

        def run(x, y, **rules):  # (its first output, the bitmap scratch, is dropped)
            return K.prepare(op, "spgemm_hfill", dt, it, s, dict(sizes, **gsizes), variant=variant, **rules)(
                aptr=ap, aind=ai, adata=x, bptr=bp, bind=bi, bdata=y, flops=gpu["flops"], rows=gpu["rows"],
                cptr=cptr)[1:]
    else:  # a kept plan on the GPU
        gsizes = {key: gpu[key] for key in ("nw", "nb", "ng", "sb", "wb", "bb", "gb")}

        def run(x, y, **rules):
            return K.prepare(op, "spgemm_numeric", dt, it, s, dict(sizes, **gsizes), variant=variant, **rules)(
                aptr=ap, aind=ai, adata=x, bptr=bp, bind=bi, bdata=y, cptr=cptr, cind=cind, flops=gpu["flops"],
                rows=gpu["rows"])

    def conj(v):
        return mx.conj(v, stream=s) if cplx else v

    def vjp(primals, cotangents, outputs):
        x, y, g = primals[2], primals[5], cotangents[-1].astype(dt, stream=s)
        ci = cind if cind is not None else outputs[-2]
        da = sampled(op, ap, ai, (g, ci, cptr), (conj(y), bi, bp), m, k, n, s)
        atd, ati, atp = transpose_csr(op, conj(x), ai, ap, (m, k), s)
        ctd, cti, ctp = transpose_csr(op, g, ci, cptr, (m, n), s)
        db = sampled(op, bp, bi, (atd, ati, atp), (ctd, cti, ctp), k, n, m, s)
        return [None, None, da, None, None, db] + [None] * (len(primals) - 6)

    # (a + da)(b + db) to first order
    scratch = gpu["gb"] * gpu["nwords"] + 1 if gpu is not None and cind is None else 0  # hfill's bitmaps
    jvp = K.bilinear_jvp(run, 2, 5, nnzc if cind is None else None, it, dt, s, vjp, scratch)
    if cind is None:
        cind, cdata = run(ad, bd, vjp=vjp, jvp=jvp)
    else:
        (cdata,) = run(ad, bd, vjp=vjp, jvp=jvp)
    return (cdata if cdata.dtype == dt else cdata.astype(dt, stream=s)), cind


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
