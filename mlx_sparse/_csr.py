"""CSR arrays: construction and validation, canonicalization, todense and sparse-times-vector."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from . import _kernels as K
from ._base import (
    CompressedArray,
    SparseArray,
    as_dense,
    as_index,
    as_values,
    check_shape,
    check_validate,
    host,
    index_dtype_for,
    promote_operand,
)
from ._device import StreamLike, is_gpu, resolve_stream
from ._products import cached_product, expand_rows, plan_spmv, product


class csr_array(CompressedArray):
    """Compressed sparse row array backed by MLX buffers ``data``, ``indices``, ``indptr``.

    ``csr_array((data, indices, indptr), shape=(m, n))`` or ``csr_array(scipy_sparse)``.
    More than 2^31 - 1 stored entries (MLX's limit on a 1-D array) are held in *paged* buffers:
    ``data`` and ``indices`` as 2-D MLX arrays of one shape ``(pages, page_size)`` whose row-major
    order is the CSR order. Host (numpy/scipy) buffers that long are paged automatically (exact
    pages when nnz has a divisor in [2^26, 2^30], else the last row padded with explicit zeros);
    with MLX arrays, pass them paged. Products, ``todense``, ``astype`` and host copies accept
    paged arrays; other operations raise ``ValueError``.
    ``sorted_indices`` / ``canonical`` declare what the caller knows about the structure
    (canonical: sorted, no duplicates). ``validate``: ``"metadata"`` (default; checks sizes and
    dtypes, never synchronizes), ``"full"`` (evaluates the structure and checks it, including the
    declared flags) or ``False``.
    """

    format = "csr"

    def __init__(
        self,
        arg: Any,
        shape: Optional[tuple[int, int]] = None,
        *,
        dtype: Optional[mx.Dtype] = None,
        index_dtype: Optional[mx.Dtype] = None,
        sorted_indices: bool = False,
        canonical: bool = False,
        validate: Any = "metadata",
    ):
        op = "csr_array"
        validate = check_validate(op, validate)
        if isinstance(arg, SparseArray):
            src = arg.tocsr(canonical=False) if arg.format != "csr" else arg
            arg, shape = (src.data, src.indices, src.indptr), src.shape if shape is None else shape
            sorted_indices = sorted_indices or src.sorted_indices
            canonical = canonical or src.has_canonical_format
        elif _is_scipy_sparse(arg):
            s = arg.tocsr()
            shape = s.shape if shape is None else shape
            canonical = canonical or bool(s.has_canonical_format)
            sorted_indices = sorted_indices or bool(s.has_sorted_indices)
            arg = (s.data, s.indices, s.indptr)
        if not (isinstance(arg, tuple) and len(arg) == 3):
            raise TypeError(f"{op}: expected (data, indices, indptr) or a sparse array, got {type(arg).__name__}")
        data, indices, indptr = arg
        data, indices, indptr, padded = _auto_page(op, data, indices, indptr)
        if padded:
            sorted_indices = canonical = False
        ip_host = None if isinstance(indptr, mx.array) else np.asarray(indptr)  # plans the GPU SpMV below
        data = as_values(op, data, dtype, paged_ok=True)
        nnz = int(data.size)
        if shape is None:
            ip = indptr if isinstance(indptr, mx.array) else np.asarray(indptr)
            ind = np.asarray(indices) if not isinstance(indices, mx.array) else indices
            ncols = int(ind.max()) + 1 if ind.size else 0  # infers n: synchronizes
            shape = (int(ip.size) - 1, ncols)
        m, n = check_shape(op, shape)
        it = index_dtype_for(op, (indices, indptr), (m, n), nnz, index_dtype)
        indices = as_index(op, "indices", indices, it, paged_ok=data.ndim == 2)
        indptr = as_index(op, "indptr", indptr, it)
        if data.ndim == 2 and indices.shape != data.shape:
            raise ValueError(f"{op}: paged data {tuple(data.shape)} and indices {tuple(indices.shape)} must have one shape")
        if validate:
            if indptr.size != m + 1:
                raise ValueError(f"{op}: indptr has {indptr.size} entries, expected shape[0] + 1 = {m + 1}")
            if indices.size != nnz:
                raise ValueError(f"{op}: indices ({indices.size}) and data ({nnz}) lengths differ")
        self._init(data, indices, indptr, (m, n), sorted_indices or canonical, canonical)
        if validate == "full":
            _validate_full(op, self)
        elif ip_host is not None and ip_host.ndim == 1 and ip_host.size == m + 1:
            plan_spmv(self.indptr, ip_host.astype(np.int64, copy=False), nnz)

    def _init(self, data, indices, indptr, shape, sorted_indices, canonical):
        self.data, self.indices, self.indptr = data, indices, indptr
        self._shape = shape
        self._sorted = bool(sorted_indices)
        self._canonical = bool(canonical)
        return self

    @classmethod
    def _from_parts(cls, data, indices, indptr, shape, sorted_indices=False, canonical=False):
        return cls.__new__(cls)._init(data, indices, indptr, tuple(shape), sorted_indices or canonical, canonical)

    # ---- properties -------------------------------------------------------------------
    @property
    def _csr_shape(self) -> tuple[int, int]:
        """Shape of the CSR matrix the buffers describe (the array itself for CSR)."""
        return self._shape

    # ---- conversions --------------------------------------------------------------------
    def tocsr(self, canonical: bool = False, stream: StreamLike = None) -> "csr_array":
        return self.sum_duplicates(stream=stream) if canonical and not self._canonical else self

    def astype(self, dtype: mx.Dtype, stream: StreamLike = None) -> "csr_array":
        if dtype not in K.VALUE_TYPES:
            raise TypeError(f"astype: unsupported value dtype {dtype}")
        s = resolve_stream(stream)
        return csr_array._from_parts(
            self.data.astype(dtype, stream=s), self.indices, self.indptr, self.shape, self._sorted, self._canonical
        )

    def to_numpy(self):
        """Host copies ``(data, indices, indptr)`` (evaluates)."""
        return host(self.data), host(self.indices), host(self.indptr)

    def to_scipy(self):
        """A ``scipy.sparse.csr_array`` holding host copies (evaluates)."""
        import scipy.sparse as sp

        d, i, p = self.to_numpy()
        out = sp.csr_array((d, i, p), shape=self.shape)
        out.has_sorted_indices = self._sorted
        return out

    def todense(self, stream: StreamLike = None) -> mx.array:
        """Dense ``(m, n)`` MLX array (duplicates summed); lazy, differentiable in the values."""
        s = resolve_stream(stream)
        m, n = self.shape
        if m * n == 0 or self.nnz == 0:
            return mx.zeros((m, n), dtype=self.dtype, stream=s)
        nnz = self.nnz

        def raw(d, indices, indptr, **rules):
            gpu = K.Gpu(threads=K.grid_threads(m * 32), scalars=K.split64(m) + K.split64(n) + K.split64(nnz), init_value=0.0)
            (out,) = K.launch("todense", "convert", "csr_todense", d.dtype, indices.dtype, s,
                              [indptr, indices, d], [(m * n,)], [d.dtype], [m, n], gpu, **rules)
            return out.reshape(m, n, stream=s)

        def vjp(primals, cotangents, outputs):  # d data_j = G[row_j, col_j]
            indptr, indices, d = primals
            rows = expand_rows("todense", indptr, nnz, d.dtype, s)
            with mx.stream(s):
                flat = rows.astype(mx.int64) * n + indices.reshape(-1).astype(mx.int64)
                return [None, None, mx.take(cotangents[0], flat)]

        def jvp(primals, tangents):
            t = tangents[2].astype(primals[2].dtype, stream=s)
            return [raw(t, primals[1], primals[0], vjp=vjp, jvp=jvp).reshape(-1, stream=s)]

        return raw(self.data, self.indices, self.indptr, vjp=vjp, jvp=jvp)

    def sum_duplicates(self, stream: StreamLike = None) -> "csr_array":
        """Canonical CSR (sorted, duplicates summed, explicit zeros kept). Synchronizes once on the new nnz."""
        s = resolve_stream(stream)
        if self._canonical:
            return self
        self._flat_only("sum_duplicates")
        m, n = self.shape
        if self.nnz == 0:
            return csr_array._from_parts(self.data, self.indices, self.indptr, self.shape, True, True)
        if is_gpu(s):
            rows = expand_rows("sum_duplicates", self.indptr, self.nnz, self.dtype, s)
            return canonical_from_triplets("sum_duplicates", rows, self.indices, self.data, self.shape, s)
        ind, val, uptr = value_permuting(
            "sum_duplicates", "canonical", "csr_sort", [self.indptr, self.indices, self.data], 2, 1,
            [(self.nnz,), (self.nnz,), (m + 1,)], [self.index_dtype, None, self.index_dtype], [m, n], s,
        )
        return _sumdup_cpu("sum_duplicates", self.indptr, ind, val, uptr, self.shape, s)

    canonicalize = sum_duplicates

    # ---- products -------------------------------------------------------------------------
    @property
    def T(self) -> "csc_array":
        """The transpose as a CSC view of the same buffers (nothing is copied or computed)."""
        from ._csc import csc_array

        t = self.__dict__.get("_t")  # kept, so products through A.T reuse their recipes
        if t is None or t.data is not self.data or t.indices is not self.indices or t.indptr is not self.indptr:
            t = self._t = csc_array._from_parts(self.data, self.indices, self.indptr, (self.shape[1], self.shape[0]),
                                                self._sorted, self._canonical)
        return t

    def transpose(self) -> "csc_array":
        return self.T

    def matvec(self, x, stream: StreamLike = None) -> mx.array:
        return csr_matvec(self, x, stream=stream)

    def dot(self, other, stream: StreamLike = None) -> mx.array:
        return csr_matmul(self, other, stream=stream)



def product_rows(op: str, A, x, stream, trans: bool) -> mx.array:
    """op(A) applied to the last axis of x: x (..., rows_in) -> (..., rows_out); lazy, differentiable.
    ``A`` is any sparse array whose buffers are CSR of shape ``A._csr_shape``."""
    if not isinstance(A, SparseArray):
        raise TypeError(f"{op}: A must be a sparse array, got {type(A).__name__}")
    A = A._compressed(stream)
    s = resolve_stream(stream)
    y = cached_product(op, A, x, s, trans, "rows")
    if y is not None:
        return y
    rt, x = promote_operand(op, A.dtype, x)
    m, n = A._csr_shape
    rows_in, rows_out = (m, n) if trans else (n, m)
    if x.ndim == 0 or x.shape[-1] != rows_in:
        raise ValueError(f"{op}: shape mismatch, A is {A.shape} and x is {tuple(x.shape)} (last axis must be {rows_in})")
    data = A.data if A.dtype == rt else A.data.astype(rt, stream=s)
    x = x if x.dtype == rt else x.astype(rt, stream=s)
    if x.ndim == 1:
        return product(op, data, A.indices, A.indptr, (m, n), x, trans, s)
    batch = x.shape[:-1]
    if not is_gpu(s):  # the CPU kernels take the vectors as rows: no transposes
        y = product(op, data, A.indices, A.indptr, (m, n), x.reshape(-1, rows_in, stream=s), trans, s, bm=True)
        return y.reshape(*batch, rows_out, stream=s)
    with mx.stream(s):
        xt = mx.transpose(x.reshape(-1, rows_in))  # (rows_in, B): batch as columns
    y = product(op, data, A.indices, A.indptr, (m, n), xt, trans, s)
    with mx.stream(s):
        return mx.transpose(y).reshape(*batch, rows_out)


def product_matrix(op: str, A, X, stream, trans: bool) -> mx.array:
    """op(A) @ X with matmul semantics: X (rows_in,) or (..., rows_in, k); lazy, differentiable."""
    if not isinstance(A, SparseArray):
        raise TypeError(f"{op}: A must be a sparse array, got {type(A).__name__}")
    A = A._compressed(stream)
    s = resolve_stream(stream)
    Y = cached_product(op, A, X, s, trans, "matrix")
    if Y is not None:
        return Y
    if isinstance(X, mx.array) and X.ndim <= 1:  # a vector: promoted once, by product_rows
        return product_rows(op, A, X, stream, trans)
    rt, X = promote_operand(op, A.dtype, X)
    if X.ndim <= 1:
        return product_rows(op, A, X, stream, trans)
    m, n = A._csr_shape
    rows_in, rows_out = (m, n) if trans else (n, m)
    if X.shape[-2] != rows_in:
        raise ValueError(f"{op}: shape mismatch, A is {A.shape} and X is {tuple(X.shape)} (expected (..., {rows_in}, k))")
    data = A.data if A.dtype == rt else A.data.astype(rt, stream=s)
    X = X if X.dtype == rt else X.astype(rt, stream=s)
    if X.ndim == 2:
        return product(op, data, A.indices, A.indptr, (m, n), X, trans, s)
    batch, k = X.shape[:-2], X.shape[-1]
    with mx.stream(s):  # (..., rows_in, k) -> (rows_in, B * k): batches side by side as columns
        X2 = mx.transpose(X.reshape(-1, rows_in, k), (1, 0, 2)).reshape(rows_in, -1)
    Y2 = product(op, data, A.indices, A.indptr, (m, n), X2, trans, s)
    with mx.stream(s):
        return mx.transpose(Y2.reshape(rows_out, -1, k), (1, 0, 2)).reshape(*batch, rows_out, k)


def _entry_coords(op: str, A, s):
    """(row, col) of every stored entry of A (lazy)."""
    m, n = A._csr_shape
    r = expand_rows(op, A.indptr, A.nnz, A.dtype, s)
    return (r, A.indices) if A.format != "csc" else (A.indices, r)


def sddmm(A, X: Any, Y: Any, stream: StreamLike = None):
    """Sampled dense-dense product: ``A ⊙ (X @ Y)`` on A's pattern, X (m, k), Y (k, n); lazy,
    differentiable in A's values, X and Y (MLX gathers and a row-wise dot)."""
    op = "sddmm"
    if not isinstance(A, SparseArray):
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
    return type(A)._from_parts(vals, A.indices, A.indptr, A.shape, A.sorted_indices, A.has_canonical_format)


def multiply_dense(A, other: Any, stream: StreamLike = None):
    """Elementwise ``A * other`` for a dense ``other`` broadcastable to A's shape: a sparse result
    on A's pattern (values gathered from ``other``); lazy and differentiable."""
    op = "multiply"
    if isinstance(other, SparseArray):
        raise TypeError(f"{op}: sparse * sparse is not supported yet")
    D = as_dense(op, other)
    m, n = A.shape
    try:
        np.broadcast_shapes(tuple(D.shape), (m, n))
    except ValueError:
        raise ValueError(f"{op}: operand of shape {tuple(D.shape)} does not broadcast to {A.shape}") from None
    if D.ndim == 0 or D.size == 1:
        s = resolve_stream(stream)
        with mx.stream(s):
            vals = A.data * D.reshape(())
        return type(A)._from_parts(vals, A.indices, A.indptr, A.shape, A.sorted_indices, A.has_canonical_format)
    A._flat_only(op)
    s = resolve_stream(stream)
    r, c = _entry_coords(op, A, s)
    with mx.stream(s):
        D2 = mx.broadcast_to(D, (m, n))
        vals = A.data * D2[r.astype(mx.int64), c.astype(mx.int64)]
    return type(A)._from_parts(vals, A.indices, A.indptr, A.shape, A.sorted_indices, A.has_canonical_format)


def csr_matvec(A, x: Any, stream: StreamLike = None) -> mx.array:
    """``y = A x`` over the last axis of ``x``: ``x`` (..., n) -> (..., m); lazy, differentiable."""
    if not isinstance(A, csr_array):
        raise TypeError(f"csr_matvec: A must be a csr_array, got {type(A).__name__}")
    return product_rows("csr_matvec", A, x, stream, trans=False)


def csr_matmul(A, X: Any, stream: StreamLike = None) -> mx.array:
    """``A @ X`` with matmul semantics (X: (n,), (n, k) or (..., n, k)); lazy, differentiable."""
    return product_matrix("matmul", A, X, stream, trans=A.format == "csc")


def rmatmul(X: Any, A, stream: StreamLike = None) -> mx.array:
    """``X @ A`` (dense @ sparse): (..., m) or (..., p, m) @ A (m, n), computed as (A^T X^T)^T
    without forming A^T. (``mx.array.__matmul__`` does not defer to other types, so with an MLX
    array on the left call this function, or write ``(A.T @ X.T).T``.)"""
    X = as_dense("rmatmul", X)
    trans = A.format != "csc"
    if X.ndim <= 1:
        return product_rows("rmatmul", A, X, stream, trans)
    s = resolve_stream(stream)
    with mx.stream(s):
        Xt = mx.swapaxes(X, -1, -2)
    Y = product_matrix("rmatmul", A, Xt, stream, trans)
    with mx.stream(s):
        return mx.swapaxes(Y, -1, -2)


# ---- structural helpers shared with COO -----------------------------------------------------

_PAGE_LIMIT = 2**31 - 1  # MLX's largest 1-D array


def _largest_divisor(v: int, lo: int, hi: int) -> int:
    """The largest divisor of v in [lo, hi], or 0 (trial division up to sqrt(v))."""
    best, d = 0, 1
    while d * d <= v:
        if v % d == 0:
            for q in (d, v // d):
                if lo <= q <= hi and q > best:
                    best = q
        d += 1
    return best


def _auto_page(op, data, indices, indptr):
    """Host (numpy) value and index buffers longer than a 1-D MLX array can hold become paged 2-D
    buffers: pages of a size that divides nnz when one in [2^26, 2^30] does (no copy), otherwise
    2^30 with the last row padded by explicit zeros at column 0. Returns (data, indices, indptr,
    padded). MLX arrays pass through unchanged (page them yourself: see the class docstring)."""
    if isinstance(data, mx.array) or isinstance(indices, mx.array):
        return data, indices, indptr, False
    d, ind = np.asarray(data), np.asarray(indices)
    nnz = int(d.size)
    if nnz <= _PAGE_LIMIT or d.ndim != 1:
        return data, indices, indptr, False
    if ind.shape != d.shape:
        raise ValueError(f"{op}: indices ({ind.size}) and data ({nnz}) lengths differ")
    page_max = min(1 << 30, _PAGE_LIMIT)
    page = _largest_divisor(nnz, page_max >> 4, page_max)
    if page:
        return d.reshape(-1, page), ind.reshape(-1, page), indptr, False
    page = page_max
    pad = -nnz % page
    ip = np.array(indptr, dtype=np.int64, copy=True)
    if ip.size == 0 or ip[-1] != nnz:
        raise ValueError(f"{op}: indptr[-1] must equal nnz = {nnz}")
    ip[-1] += pad  # the last row gets `pad` explicit zeros
    d = np.concatenate([d, np.zeros(pad, dtype=d.dtype)]).reshape(-1, page)
    ind = np.concatenate([ind, np.zeros(pad, dtype=ind.dtype)]).reshape(-1, page)
    return d, ind, ip, True


def _is_scipy_sparse(a) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(a)


def value_permuting(op, family, kernel, inputs, vi, vo, shapes, out_dtypes, iargs, s):
    """Launch a CPU node whose value output ``vo`` is a permutation of its value input ``vi`` (a
    sort), with derivative rules: the permutation is read off the same node run on 0..nnz-1 as
    float64 (exact), so the vjp is a scatter and the jvp the node itself on the tangent."""
    index_t = inputs[0].dtype

    def run(xs, **rules):
        dts = [xs[vi].dtype if i == vo else t for i, t in enumerate(out_dtypes)]
        return K.launch(op, family, kernel, xs[vi].dtype, index_t, s, xs, shapes, dts, iargs, **rules)

    def vjp(primals, cotangents, outputs):
        xs, nnz = list(primals), int(primals[vi].size)
        xs[vi] = mx.arange(nnz, dtype=mx.float64, stream=s)
        perm = run(xs)[vo].astype(mx.int64, stream=s)
        ct = cotangents[vo]
        with mx.stream(s):
            g = mx.zeros((nnz,), dtype=ct.dtype).at[perm].add(ct)
        return [g if i == vi else None for i in range(len(primals))]

    def jvp(primals, tangents):
        xs = list(primals)
        xs[vi] = tangents[vi].astype(primals[vi].dtype, stream=s)
        return [o if i == vo else mx.zeros_like(o, stream=s) for i, o in enumerate(run(xs, vjp=vjp, jvp=jvp))]

    return run(list(inputs), vjp=vjp, jvp=jvp)


def _run_ids(op, indptr, ind, nnz, vt, s) -> mx.array:
    """For row-sorted entries with sorted columns: the index of each entry's run of equal (row, col)."""
    rows = expand_rows(op, indptr, nnz, vt, s)
    with mx.stream(s):
        new = mx.logical_or(rows[1:] != rows[:-1], ind[1:] != ind[:-1])
        return mx.cumsum(mx.concatenate([mx.zeros((1,), dtype=mx.int64), new.astype(mx.int64)]))


def _sumdup_cpu(op, indptr, ind, val, uptr, shape, s) -> csr_array:
    m, n = shape
    mx.eval(uptr)  # the one synchronization: the canonical nnz
    nnz2 = int(uptr[m].item())
    it, vt = ind.dtype, val.dtype

    def run(v, **rules):
        return K.launch(
            op, "canonical", "csr_sumdup", v.dtype, it, s, [indptr, ind, v, uptr], [(nnz2,), (nnz2,)], [it, v.dtype], [m, n], **rules
        )

    def vjp(primals, cotangents, outputs):  # each entry receives its run's cotangent
        return [None, None, mx.take(cotangents[1], _run_ids(op, primals[0], primals[1], int(primals[2].size), vt, s), stream=s), None]

    def jvp(primals, tangents):
        oind, oval = run(tangents[2].astype(vt, stream=s), vjp=vjp, jvp=jvp)
        return [mx.zeros_like(oind, stream=s), oval]

    oind, oval = run(val, vjp=vjp, jvp=jvp)
    return csr_array._from_parts(oval, oind, uptr, shape, True, True)


def canonical_from_triplets(op, rows, cols, data, shape, s) -> csr_array:
    """GPU canonicalization of (row, col, value) triplets: sort by (row, col) with MLX's argsort,
    mark run starts, scan them, synchronize once on the new nnz (and the bounds check), then sum
    each run in order and build the row pointer with our kernels."""
    m, n = shape
    it, vt = rows.dtype, data.dtype
    k = int(data.size)
    with mx.stream(s):
        r64, c64 = rows.astype(mx.int64), cols.astype(mx.int64)
        perm = mx.argsort(r64 * max(n, 1) + c64)
        rs, cs, ds = mx.take(rows, perm), mx.take(cols, perm), mx.take(data, perm)
        new = mx.logical_or(rs[1:] != rs[:-1], cs[1:] != cs[:-1])
        flags = mx.concatenate([mx.ones((1,), dtype=it), new.astype(it)])
        pos = mx.cumsum(flags) - 1
        bad = mx.any((r64 < 0) | (r64 >= m) | (c64 < 0) | (c64 >= n))
        nnz2_a = pos[-1] + 1
    mx.eval(nnz2_a, bad)  # the one synchronization
    if bad.item():
        raise ValueError(f"{op}: row or column index out of range for shape {shape}")
    nnz2 = int(nnz2_a.item())
    gpu = K.Gpu(threads=K.grid_threads(k), scalars=K.split64(k) + K.split64(nnz2))

    def run(v, **rules):
        return K.launch(op, "canonical", "sumdup_sorted", vt, it, s, [rs, cs, v, pos],
                        [(nnz2,), (nnz2,), (nnz2,)], [it, vt, it], gpu=gpu, **rules)

    def vjp(primals, cotangents, outputs):  # each entry receives its run's cotangent
        return [None, None, mx.take(cotangents[1], primals[3], stream=s), None]

    def jvp(primals, tangents):
        o = run(tangents[2].astype(vt, stream=s), vjp=vjp, jvp=jvp)
        return [mx.zeros_like(o[0], stream=s), o[1], mx.zeros_like(o[2], stream=s)]

    oind, oval, orow = run(ds, vjp=vjp, jvp=jvp)
    indptr = indptr_from_sorted_rows(op, orow, m, vt, s)
    return csr_array._from_parts(oval, oind, indptr, shape, True, True)


def indptr_from_sorted_rows(op, rows, m, vt, s) -> mx.array:
    """GPU: CSR row pointer of row-sorted entries; lazy."""
    k = int(rows.size)
    gpu = K.Gpu(threads=K.grid_threads(k + 1), scalars=K.split64(m) + K.split64(k))
    (indptr,) = K.launch(op, "convert", "indptr_from_rows", vt, rows.dtype, s, [rows], [(m + 1,)], [rows.dtype], gpu=gpu)
    return indptr


def _validate_full(op: str, A: csr_array) -> None:
    """Evaluate the structure and check it (host side): indptr, index bounds, declared flags."""
    m, n = A.shape
    ip, ind = np.array(A.indptr).astype(np.int64), np.array(A.indices).astype(np.int64).reshape(-1)
    if ip[0] != 0:
        raise ValueError(f"{op}: indptr[0] must be 0, got {ip[0]}")
    if ip[-1] != A.nnz:
        raise ValueError(f"{op}: indptr[-1] = {ip[-1]} must equal nnz = {A.nnz}")
    if np.any(np.diff(ip) < 0):
        raise ValueError(f"{op}: indptr must be non-decreasing")
    if ind.size and (ind.min() < 0 or ind.max() >= n):
        raise ValueError(f"{op}: column index out of range [0, {n}) (min {ind.min()}, max {ind.max()})")
    if A.sorted_indices and ind.size > 1:
        d = np.diff(ind)
        interior = np.ones(ind.size - 1, dtype=bool)
        starts = ip[1:-1]
        interior[starts[(starts > 0) & (starts < ind.size)] - 1] = False
        if np.any(d[interior] < 0):
            raise ValueError(f"{op}: indices are not sorted within rows but sorted_indices/canonical was declared")
        if A.has_canonical_format and np.any(d[interior] == 0):
            raise ValueError(f"{op}: duplicate entries but canonical=True was declared")
    plan_spmv(A.indptr, ip, A.nnz)
