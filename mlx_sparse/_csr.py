"""CSR arrays: construction and validation, canonicalization, todense and sparse-times-vector."""

from __future__ import annotations

import os
from typing import Any, Optional

import mlx.core as mx
import numpy as np

from . import _kernels as K
from ._base import (
    SparseArray,
    as_index,
    as_values,
    check_shape,
    check_validate,
    host,
    index_dtype_for,
    promote_operand,
)
from ._device import StreamLike, is_gpu, resolve_stream


class csr_array(SparseArray):
    """Compressed sparse row array backed by MLX buffers ``data``, ``indices``, ``indptr``.

    ``csr_array((data, indices, indptr), shape=(m, n))`` or ``csr_array(scipy_sparse)``.
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
        data = as_values(op, data, dtype)
        nnz = int(data.size)
        if shape is None:
            ip = indptr if isinstance(indptr, mx.array) else np.asarray(indptr)
            ind = np.asarray(indices) if not isinstance(indices, mx.array) else indices
            ncols = int(ind.max()) + 1 if ind.size else 0  # infers n: synchronizes
            shape = (int(ip.size) - 1, ncols)
        m, n = check_shape(op, shape)
        it = index_dtype_for(op, (indices, indptr), (m, n), nnz, index_dtype)
        indices = as_index(op, "indices", indices, it)
        indptr = as_index(op, "indptr", indptr, it)
        if validate:
            if indptr.size != m + 1:
                raise ValueError(f"{op}: indptr has {indptr.size} entries, expected shape[0] + 1 = {m + 1}")
            if indices.size != nnz:
                raise ValueError(f"{op}: indices ({indices.size}) and data ({nnz}) lengths differ")
        self._init(data, indices, indptr, (m, n), sorted_indices or canonical, canonical)
        if validate == "full":
            _validate_full(op, self)

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
    def index_dtype(self) -> mx.Dtype:
        return self.indices.dtype

    @property
    def sorted_indices(self) -> bool:
        return self._sorted

    @property
    def has_canonical_format(self) -> bool:
        return self._canonical

    def _buffers(self):
        return [self.data, self.indices, self.indptr]

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
        """Dense ``(m, n)`` MLX array (duplicates summed); lazy."""
        s = resolve_stream(stream)
        m, n = self.shape
        if m * n == 0 or self.nnz == 0:
            return mx.zeros((m, n), dtype=self.dtype, stream=s)
        gpu = K.Gpu(
            threads=K.grid_threads(m * 32),
            scalars=K.split64(m) + K.split64(n) + K.split64(self.nnz),
            init_value=0.0,
        )
        (d,) = K.launch(
            "todense", "convert", "csr_todense", self.dtype, self.index_dtype, s,
            [self.indptr, self.indices, self.data], [(m * n,)], [self.dtype], [m, n], gpu,
        )
        return d.reshape(m, n, stream=s)

    def sum_duplicates(self, stream: StreamLike = None) -> "csr_array":
        """Canonical CSR (sorted, duplicates summed, explicit zeros kept). Synchronizes once on the new nnz."""
        s = resolve_stream(stream)
        if self._canonical:
            return self
        m, n = self.shape
        if self.nnz == 0:
            return csr_array._from_parts(self.data, self.indices, self.indptr, self.shape, True, True)
        if is_gpu(s):
            rows = _expand_rows("sum_duplicates", self, s)
            return canonical_from_triplets("sum_duplicates", rows, self.indices, self.data, self.shape, s)
        ind, val, uptr = K.launch(
            "sum_duplicates", "canonical", "csr_sort", self.dtype, self.index_dtype, s,
            [self.indptr, self.indices, self.data], [(self.nnz,), (self.nnz,), (m + 1,)],
            [self.index_dtype, self.dtype, self.index_dtype], [m, n],
        )
        return _sumdup_cpu("sum_duplicates", self.indptr, ind, val, uptr, self.shape, s)

    canonicalize = sum_duplicates

    # ---- products -------------------------------------------------------------------------
    def __matmul__(self, other):
        x = other if isinstance(other, mx.array) else mx.array(np.asarray(other))
        if x.ndim == 1:
            return csr_matvec(self, x)
        raise NotImplementedError(
            f"csr @ operand of shape {tuple(x.shape)}: only vectors (1-D) are supported by this version"
        )

    def matvec(self, x, stream: StreamLike = None) -> mx.array:
        return csr_matvec(self, x, stream=stream)


def csr_matvec(A: csr_array, x: Any, stream: StreamLike = None) -> mx.array:
    """``y = A @ x`` for CSR ``A`` (m, n) and a dense vector ``x`` (n,); lazy."""
    op = "csr_matvec"
    if not isinstance(A, csr_array):
        raise TypeError(f"{op}: A must be a csr_array, got {type(A).__name__}")
    rt, x = promote_operand(op, A.dtype, x)
    m, n = A.shape
    if x.ndim != 1 or x.shape[0] != n:
        raise ValueError(f"{op}: shape mismatch, A is {A.shape} and x is {tuple(x.shape)} (expected ({n},))")
    s = resolve_stream(stream)
    data = A.data if A.dtype == rt else A.data.astype(rt, stream=s)
    x = x if x.dtype == rt else x.astype(rt, stream=s)
    if m == 0 or A.nnz == 0:
        return mx.zeros((m,), dtype=rt, stream=s)
    g = _spmv_lanes(A.nnz / max(m, 1))
    gpu = K.Gpu(
        threads=K.grid_threads(-(-m // (K.GPU_BLOCK // g)) * K.GPU_BLOCK),
        scalars=K.split64(m) + K.split64(n) + K.split64(A.nnz),
        suffix=f"_g{g}",
    )
    (y,) = K.launch(op, "spmv", "csr", rt, A.index_dtype, s, [A.indptr, A.indices, data, x], [(m,)], [rt], [m, n], gpu)
    return y


def _spmv_lanes(avg_row: float) -> int:
    """Lanes per row of the GPU SpMV kernel, from the mean row length (H100 measurements: one lane
    per row is fastest up to ~8 nonzeros per row, four lanes around 16). MLX_SPARSE_SPMV=g<N> forces N."""
    forced = os.environ.get("MLX_SPARSE_SPMV", "")
    if forced[:1] == "g" and forced[1:] in ("1", "2", "4", "8", "16", "32"):
        return int(forced[1:])
    for g, limit in ((1, 8), (4, 24), (8, 64), (16, 128)):
        if avg_row <= limit:
            return g
    return 32


# ---- structural helpers shared with COO -----------------------------------------------------


def _is_scipy_sparse(a) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(a)


def _expand_rows(op: str, A: "csr_array", s: mx.Stream) -> mx.array:
    """GPU: the row id of every stored entry (CSR -> COO rows); lazy."""
    m = A.shape[0]
    gpu = K.Gpu(threads=K.grid_threads(m * 32), scalars=K.split64(m) + K.split64(A.nnz))
    (rows,) = K.launch(op, "convert", "expand_rows", A.dtype, A.index_dtype, s, [A.indptr], [(A.nnz,)], [A.index_dtype], gpu=gpu)
    return rows


def _sumdup_cpu(op, indptr, ind, val, uptr, shape, s) -> csr_array:
    m, n = shape
    mx.eval(uptr)  # the one synchronization: the canonical nnz
    nnz2 = int(uptr[m].item())
    it, vt = ind.dtype, val.dtype
    oind, oval = K.launch(
        op, "canonical", "csr_sumdup", vt, it, s, [indptr, ind, val, uptr], [(nnz2,), (nnz2,)], [it, vt], [m, n]
    )
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
    oind, oval, orow = K.launch(
        op, "canonical", "sumdup_sorted", vt, it, s, [rs, cs, ds, pos], [(nnz2,), (nnz2,), (nnz2,)], [it, vt, it], gpu=gpu
    )
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
    ip, ind = np.array(A.indptr).astype(np.int64), np.array(A.indices).astype(np.int64)
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
