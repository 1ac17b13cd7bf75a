"""Constructors and whole-array functions over the containers: fromdense, tril, triu."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from . import _kernels as K
from . import _select
from ._select import scan0
from ._base import FORMATS
from ._coerce import is_scipy_sparse, is_sparse
from ._convert import expand_rows
from ._device import StreamLike, resolve_stream

_FORMATS = ("csr", "csc", "coo")


def _check_format(op: str, format: Optional[str], default: str) -> str:
    f = default if format is None else format
    if f not in _FORMATS:
        raise ValueError(f"{op}: format must be one of {_FORMATS}, got {format!r}")
    return f


def _as_format(A, f: str, stream):
    return A if A.format == f else getattr(A, "to" + f)(stream=stream)


def fromdense(A: Any, threshold: float = 0, format: str = "csr", index_dtype: Optional[mx.Dtype] = None,
              stream: StreamLike = None):
    """The entries of a dense 2-D array (MLX, NumPy or nested lists) whose magnitude exceeds
    ``threshold`` (default: the nonzeros) as a canonical sparse array of ``format``. Staged on either
    device: a count per row, a prefix sum, one synchronization of the total, a fill. Differentiable
    with respect to the dense array's values at the kept entries."""
    op = "fromdense"
    f = _check_format(op, format, "csr")
    if is_sparse(A) or is_scipy_sparse(A):
        raise TypeError(f"{op}: expected a dense array, got {type(A).__name__}")
    D = A if isinstance(A, mx.array) else mx.array(np.asarray(A))
    if D.dtype in (mx.bool_, mx.int8, mx.int16, mx.int32, mx.int64, mx.uint8, mx.uint16, mx.uint32, mx.uint64):
        D = D.astype(mx.float32)
    if D.ndim != 2:
        raise ValueError(f"{op}: expected a 2-D dense array, got shape {tuple(D.shape)}")
    s = resolve_stream(stream)
    csr = FORMATS["csr"]
    if f == "csc":  # the CSR of the transpose, viewed as CSC
        with mx.stream(s):
            Dt = mx.transpose(D)
        data, indices, indptr = _select.fromdense(op, Dt, threshold, index_dtype, s)
        return FORMATS["csc"]._from_parts(data, indices, indptr, tuple(D.shape), True, True)
    data, indices, indptr = _select.fromdense(op, D, threshold, index_dtype, s)
    out = csr._from_parts(data, indices, indptr, tuple(D.shape), True, True)
    return out.tocoo(stream=s) if f == "coo" else out


from_dense = fromdense


def _tri(op: str, A: Any, k: int, format: Optional[str], lower: bool, stream):
    s = resolve_stream(stream)
    if is_scipy_sparse(A):
        A = FORMATS["csr"](A)
    elif not is_sparse(A):
        A = fromdense(A, stream=s)
    f = _check_format(op, format, A.format)
    return _as_format(A._tri(op, lower, int(k), s), f, s)


def tril(A: Any, k: int = 0, format: Optional[str] = None, stream: StreamLike = None):
    """The entries on or below the k-th diagonal (k > 0 above the main one), as scipy.sparse.tril; the
    result is in ``format`` (default: A's). Staged (one synchronization of the kept count)."""
    return _tri("tril", A, k, format, True, stream)


def triu(A: Any, k: int = 0, format: Optional[str] = None, stream: StreamLike = None):
    """The entries on or above the k-th diagonal, as scipy.sparse.triu; see :func:`tril`."""
    return _tri("triu", A, k, format, False, stream)


# ---- constructors ----------------------------------------------------------------------------------
def _index_dtype(op: str, index_dtype, *sizes: int) -> mx.Dtype:
    big = max([0, *sizes]) > 2**31 - 1
    if index_dtype is None:
        return mx.int64 if big else mx.int32
    dt = {np.int32: mx.int32, np.int64: mx.int64, "int32": mx.int32, "int64": mx.int64}.get(index_dtype, index_dtype)
    if dt not in (mx.int32, mx.int64):
        raise TypeError(f"{op}: index_dtype must be int32 or int64, got {index_dtype!r}")
    if dt == mx.int32 and big:
        raise OverflowError(f"{op}: sizes {sizes} need int64 indices")
    return dt


def _shape2(op: str, m, n=None) -> tuple[int, int]:
    if isinstance(m, (tuple, list)):
        m, n = m
    n = m if n is None else n
    m, n = int(m), int(n)
    if m < 0 or n < 0:
        raise ValueError(f"{op}: shape must be non-negative, got ({m}, {n})")
    return m, n


def _from_canonical_csr(data, indices, indptr, shape, format, stream):
    out = FORMATS["csr"]._from_parts(data, indices, indptr, shape, True, True)
    return _as_format(out, format, stream) if format != "csr" else out


def eye(m, n=None, k: int = 0, dtype: mx.Dtype = mx.float32, format: str = "csr", index_dtype=None,
        stream: StreamLike = None):
    """Ones on the k-th diagonal of an (m, n) array (scipy's ``eye``); canonical, built on the device."""
    op = "eye"
    m, n = _shape2(op, m, n)
    f = _check_format(op, format, "csr")
    k = int(k)
    length = max(0, min(m + min(k, 0), n - max(k, 0)))
    it = _index_dtype(op, index_dtype, m, n, length)
    s = resolve_stream(stream)
    r0 = max(0, -k)
    with mx.stream(s):
        indptr = mx.clip(mx.arange(m + 1, dtype=mx.int64) - r0, 0, length).astype(it)
        indices = (mx.arange(length, dtype=mx.int64) + (r0 + k)).astype(it)
        data = mx.ones((length,), dtype=dtype)
    return _from_canonical_csr(data, indices, indptr, (m, n), f, s)


def identity(n: int, dtype: mx.Dtype = mx.float32, format: str = "csr", stream: StreamLike = None):
    """The n x n identity (scipy's ``identity``)."""
    return eye(n, n, 0, dtype=dtype, format=format, stream=stream)


def identity_like(A, stream: StreamLike = None):
    """The identity of A's shape, dtype, index dtype and format (ones on the main diagonal)."""
    if not is_sparse(A):
        raise TypeError(f"identity_like: expected a sparse array, got {type(A).__name__}")
    return eye(*A.shape, dtype=A.dtype, format=A.format, index_dtype=A.index_dtype, stream=stream)


def _coo_parts(op: str, blocks_rows, shape, dtype, it, s):
    """A COO array of (data, row, col) pieces (MLX arrays), concatenated on ``s``."""
    datas, rows, cols = zip(*blocks_rows) if blocks_rows else ((), (), ())
    with mx.stream(s):
        if not datas:
            data, row, col = mx.zeros((0,), dtype=dtype), mx.zeros((0,), dtype=it), mx.zeros((0,), dtype=it)
        else:
            data = mx.concatenate([d.astype(dtype) for d in datas])
            row = mx.concatenate([r.astype(it) for r in rows])
            col = mx.concatenate([c.astype(it) for c in cols])
    return FORMATS["coo"]._from_parts(data, row, col, shape)


def diags(diagonals, offsets=0, shape=None, format: str = "csr", dtype=None, stream: StreamLike = None):
    """A sparse array from diagonals (scipy's ``diags``): ``diagonals`` a sequence of 1-D arrays
    (MLX arrays stay in the graph: the result is differentiable in them) or scalars (broadcast along
    their diagonal), ``offsets`` one per diagonal (distinct). Canonical, without synchronizing."""
    op = "diags"
    f = _check_format(op, format, "csr")
    one = np.ndim(offsets) == 0
    if one:
        offsets, diagonals = [offsets], [diagonals]
    offsets = [int(o) for o in np.asarray(offsets).reshape(-1)]
    if len(offsets) != len(diagonals):
        raise ValueError(f"{op}: {len(diagonals)} diagonals but {len(offsets)} offsets")
    if len(set(offsets)) != len(offsets):
        raise ValueError(f"{op}: repeated offsets {offsets}")
    if shape is None:
        lens = [np.size(d) if np.ndim(d) else 1 for d in diagonals]
        m = lens[0] + abs(offsets[0])
        shape = (m, m)
    m, n = _shape2(op, *shape) if isinstance(shape, (tuple, list)) else _shape2(op, shape)
    vals = []
    for i, (d, k) in enumerate(zip(diagonals, offsets)):
        length = max(0, min(m + min(k, 0), n - max(k, 0)))
        v = d if isinstance(d, mx.array) else mx.array(np.asarray(d))
        if v.ndim == 0:
            v = mx.broadcast_to(v, (length,))
        elif v.ndim != 1 or v.size < length:
            raise ValueError(f"{op}: diagonal {i} (offset {k}) has {v.size} values; {length} needed for shape {(m, n)}")
        vals.append(v[:length])
    dt = dtype or (mx.float32 if not vals else _common_dtype([v.dtype for v in vals]))
    if dt not in K.VALUE_TYPES:  # integer or bool diagonals: float32, as the containers do
        dt = mx.float32
    it = _index_dtype(op, None, m, n, sum(v.size for v in vals))
    # structure on the host (sizes only), values gathered into CSR order on the device: no sync
    rows, cols, src, base = [], [], [], 0
    for v, k in zip(vals, offsets):
        length = v.size
        r = np.arange(length, dtype=np.int64) + max(0, -k)
        rows.append(r)
        cols.append(r + k)
        src.append(np.arange(length, dtype=np.int64) + base)
        base += length
    row, col, srcs = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (rows, cols, src))
    order = np.lexsort((col, row))
    s = resolve_stream(stream)
    with mx.stream(s):
        flat = mx.concatenate([v.astype(dt) for v in vals]) if vals else mx.zeros((0,), dtype=dt)
        data = mx.take(flat, mx.array(srcs[order].astype(np.int32 if base < 2**31 else np.int64)))
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(indptr, row + 1, 1)
    np.cumsum(indptr, out=indptr)
    np_it = np.int32 if it == mx.int32 else np.int64
    return _from_canonical_csr(data, mx.array(col[order].astype(np_it)), mx.array(indptr.astype(np_it)), (m, n), f, s)


def _common_dtype(dts):
    out = dts[0]
    for d in dts[1:]:
        out = (mx.zeros((), dtype=out, stream=mx.cpu) + mx.zeros((), dtype=d, stream=mx.cpu)).dtype
    return out


def spdiags(data, diags_, m=None, n=None, format: str = "csr", stream: StreamLike = None):
    """scipy's ``spdiags``: row i of ``data`` on diagonal ``diags_[i]``, entry j at column j."""
    op = "spdiags"
    if isinstance(m, (tuple, list)):
        m, n = m
    m, n = _shape2(op, m, n)
    D = np.atleast_2d(np.asarray(data))
    offs = [int(o) for o in np.atleast_1d(np.asarray(diags_))]
    if D.shape[0] != len(offs):
        raise ValueError(f"{op}: {D.shape[0]} rows of data for {len(offs)} diagonals")
    vals = []
    for row, k in zip(D, offs):
        j0, j1 = max(0, k), min(n, m + k, D.shape[1])
        vals.append(row[j0:j1] if j1 > j0 else row[:0])
    return diags(vals, offs, shape=(m, n), format=format, dtype=None, stream=stream)


def _coo_of(op: str, A, s):
    if is_scipy_sparse(A):
        return FORMATS["coo"](A)
    if is_sparse(A):
        return A.tocoo(stream=s)
    return fromdense(A, stream=s).tocoo(stream=s)


def _canonical_csr_of(op: str, A, s):
    """Canonical CSR of a sparse array, scipy matrix or dense array (synchronizes only to sum duplicates)."""
    if is_scipy_sparse(A):
        A = FORMATS["csr"](A)
    elif not is_sparse(A):
        A = fromdense(A, stream=s)
    return A.tocsr(canonical=True, stream=s)


def kron(A, B, format: str = "csr", stream: StreamLike = None):
    """Kronecker product (scipy's ``kron``): canonical in ``format``; duplicates of the inputs are
    summed first (explicit zeros kept, as scipy). Our kernel writes each output row from one row of
    A and one of B, so the output is canonical by construction: lazy when the inputs are canonical
    (nnz = nnz(A) nnz(B)), and differentiable in both inputs' values."""
    op = "kron"
    f = _check_format(op, format, "csr")
    s = resolve_stream(stream)
    a, b = _canonical_csr_of(op, A, s), _canonical_csr_of(op, B, s)
    (m1, n1), (m2, n2) = a.shape, b.shape
    shape = (m1 * m2, n1 * n2)
    nnz2 = a.nnz * b.nnz
    it = _index_dtype(op, None, *shape, nnz2)
    dt = _common_dtype([a.dtype, b.dtype])
    csr = FORMATS["csr"]
    if nnz2 == 0:
        out = csr._from_parts(mx.zeros((0,), dtype=dt, stream=s), mx.zeros((0,), dtype=it, stream=s),
                              mx.zeros((shape[0] + 1,), dtype=it, stream=s), shape, True, True)
        return _as_format(out, f, s)
    a._flat_only(op), b._flat_only(op)
    with mx.stream(s):
        ap, ai, bp, bi = (mx.stop_gradient(x.astype(it)) for x in (a.indptr, a.indices, b.indptr, b.indices))
        lb = bp[1:] - bp[:-1]
        optr = scan0(((ap[1:] - ap[:-1])[:, None] * lb[None, :]).reshape(-1), s, op)
        ad, bd = a.data.astype(dt), b.data.astype(dt)
    sizes = dict(ma=m1, nb=n2, nnza=a.nnz, mb=m2, nnzb=b.nnz, nnz2=nnz2)

    def run(x, y, **rules):
        return K.prepare(op, "construct_kron", dt, it, s, sizes, **rules)(aptr=ap, aind=ai, adata=x, bptr=bp, bind=bi,
                                                                          bdata=y, optr=optr)

    def vjp(primals, cotangents, outputs):  # each entry is a_i * b_j: gathers of both, by MLX's rules
        rows = expand_rows(op, optr, nnz2, dt, s).astype(mx.int64, stream=s)
        with mx.stream(s):
            i, k = rows // m2, rows % m2
            off = mx.arange(nnz2, dtype=mx.int64) - mx.take(optr, rows).astype(mx.int64)
            lbk = mx.take(lb, k).astype(mx.int64)
            srca = mx.take(ap, i).astype(mx.int64) + off // lbk
            srcb = mx.take(bp, k).astype(mx.int64) + off % lbk
            _, (ga, gb) = mx.vjp(lambda x, y: mx.take(x, srca) * mx.take(y, srcb), [primals[2], primals[5]],
                                 [cotangents[1]])
        out = [None] * len(primals)
        out[2], out[5] = ga, gb
        return out

    jvp = K.bilinear_jvp(run, 2, 5, nnz2, it, dt, s, vjp)  # (a + da)(b + db) to first order

    indices, data = run(ad, bd, vjp=vjp, jvp=jvp)
    return _as_format(csr._from_parts(data, indices, optr, shape, True, True), f, s)


def kronsum(A, B, format: str = "csr", stream: StreamLike = None):
    """Kronecker sum kron(I_n, A) + kron(B, I_m) of square A (m x m) and B (n x n), as scipy."""
    op = "kronsum"
    s = resolve_stream(stream)
    a, b = _coo_of(op, A, s), _coo_of(op, B, s)
    if a.shape[0] != a.shape[1] or b.shape[0] != b.shape[1]:
        raise ValueError(f"{op}: A {a.shape} and B {b.shape} must be square")
    m, n = a.shape[0], b.shape[0]
    dt = _common_dtype([a.dtype, b.dtype])
    left = kron(eye(n, dtype=dt, stream=s), a, format="coo", stream=s)
    right = kron(b, eye(m, dtype=dt, stream=s), format="coo", stream=s)
    return _stack_coo(op, [[left], [right]], format, s, add=True)


def _stack_coo(op, blocks, format, s, add=False):
    """bmat of COO blocks (None allowed); ``add``: the blocks overlap at (0, 0) and are summed."""
    f = _check_format(op, format, "csr")
    nb_r = len(blocks)
    nb_c = max((len(r) for r in blocks), default=0)
    if nb_r == 0 or nb_c == 0 or any(len(r) != nb_c for r in blocks):
        raise ValueError(f"{op}: blocks must be a non-empty 2-D grid of equal-length rows")
    heights, widths = [None] * nb_r, [None] * nb_c
    for i, r in enumerate(blocks):
        for j, blk in enumerate(r):
            if blk is None:
                continue
            h, w = blk.shape
            if heights[i] not in (None, h) and not add:
                raise ValueError(f"{op}: blocks[{i}, {j}] has {h} rows; block row {i} has {heights[i]}")
            if widths[j] not in (None, w) and not add:
                raise ValueError(f"{op}: blocks[{i}, {j}] has {w} columns; block column {j} has {widths[j]}")
            heights[i], widths[j] = h, w
    if add:
        shape = blocks[0][0].shape
        roff, coff = [0] * nb_r, [0] * nb_c
    else:
        if None in heights or None in widths:
            raise ValueError(f"{op}: a block row or column holds only None: its size is unknown")
        roff, coff = np.concatenate([[0], np.cumsum(heights)]).tolist(), np.concatenate([[0], np.cumsum(widths)]).tolist()
        shape = (int(roff[-1]), int(coff[-1]))
    parts, dts, nnz = [], [], 0
    with mx.stream(s):
        for i, r in enumerate(blocks):
            for j, blk in enumerate(r):
                if blk is None or blk.nnz == 0:
                    if blk is not None:
                        dts.append(blk.dtype)
                    continue
                dts.append(blk.dtype)
                nnz += blk.nnz
                parts.append((blk.data, blk.row.astype(mx.int64) + int(roff[i]), blk.col.astype(mx.int64) + int(coff[j])))
    dt = _common_dtype(dts) if dts else mx.float32
    it = _index_dtype(op, None, *shape, nnz)
    out = _coo_parts(op, parts, shape, dt, it, s)
    return _as_format(out.tocsr(canonical=True, stream=s), f, s)


def bmat(blocks, format: str = "csr", dtype=None, stream: StreamLike = None):
    """A sparse array from a 2-D grid of sparse (or dense) blocks, ``None`` for zero blocks (scipy's
    ``bmat``/``block_array``); canonical in ``format`` (one synchronization)."""
    op = "bmat"
    s = resolve_stream(stream)
    grid = [[None if b is None else _coo_of(op, b, s) for b in row] for row in blocks]
    out = _stack_coo(op, grid, format, s)
    return out.astype(dtype, stream=s) if dtype is not None and dtype != out.dtype else out


block_array = bmat


def hstack(blocks, format: str = "csr", dtype=None, stream: StreamLike = None):
    """Blocks side by side (scipy's ``hstack``)."""
    return bmat([list(blocks)], format=format, dtype=dtype, stream=stream)


def vstack(blocks, format: str = "csr", dtype=None, stream: StreamLike = None):
    """Blocks stacked vertically (scipy's ``vstack``)."""
    return bmat([[b] for b in blocks], format=format, dtype=dtype, stream=stream)


def block_diag(mats, format: str = "csr", dtype=None, stream: StreamLike = None):
    """Blocks on the diagonal (scipy's ``block_diag``)."""
    mats = list(mats)
    s = resolve_stream(stream)
    coos = [_coo_of("block_diag", m, s) for m in mats]
    grid = [[coos[i] if i == j else None for j in range(len(mats))] for i in range(len(mats))]
    out = _stack_coo("block_diag", grid, format, s)
    return out.astype(dtype, stream=s) if dtype is not None and dtype != out.dtype else out
