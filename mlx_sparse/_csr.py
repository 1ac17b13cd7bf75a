"""CSR arrays: construction and validation, canonicalization, todense; products come from _products."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from . import _kernels as K
from ._base import FORMATS, CompressedArray
from ._canonical import sum_duplicates
from ._coerce import (
    dense_2d,
    as_index,
    as_values,
    auto_page,
    check_shape,
    check_validate,
    host,
    index_dtype_for,
    is_scipy_sparse,
    is_sparse,
    scipy_converted,
)
from ._convert import csr_todense
from ._device import StreamLike, resolve_stream
from ._products import csr_matmul, csr_matvec
from ._select import fromdense
from ._spmv import plan_host


class csr_array(CompressedArray):
    """Compressed sparse row array backed by MLX buffers ``data``, ``indices``, ``indptr``.

    ``csr_array((data, indices, indptr), shape=(m, n))``, ``csr_array(scipy_sparse)``, another sparse
    array, or a dense 2-D array (MLX, NumPy, nested lists: its nonzeros, canonical).
    More than 2^31 - 1 stored entries (MLX's limit on a 1-D array) are held in *paged* buffers:
    ``data`` and ``indices`` as 2-D MLX arrays of one shape ``(pages, page_size)`` whose row-major
    order is the CSR order. Host (numpy/scipy) buffers that long are paged automatically (exact
    pages when nnz has a divisor in [2^26, 2^30], else the last row padded with explicit zeros);
    with MLX arrays, pass them paged. Products, ``todense``, ``astype`` and host copies accept
    paged arrays; other operations raise ``ValueError``.
    ``sorted_indices`` / ``canonical`` declare what the caller knows about the structure
    (canonical: sorted, no duplicates). ``validate``: ``"metadata"`` (default; checks sizes and
    dtypes, and a host (NumPy, list, scipy) indptr: starts at 0, does not decrease, ends at nnz, as
    scipy does; never reads indices, never synchronizes: other faults raise at evaluation), ``"full"``
    (evaluates the structure and checks it, including the declared flags) or ``False``.
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
        validate: Any = None,
        _op: str = "csr_array",
    ):
        op = _op  # csc_array builds the CSR array of its transpose through here, under its own name
        axis, minor = (1, "row") if op == "csc_array" else (0, "column")  # the caller's words for indptr's axis
        validate = check_validate(op, validate)
        D = dense_2d(op, arg, dtype)
        if D is not None:  # a dense array: its nonzeros, canonical (staged: one synchronization)
            if shape is not None and check_shape(op, shape) != tuple(D.shape):
                raise ValueError(f"{op}: shape {tuple(shape)} differs from the dense array's {tuple(D.shape)}")
            data, indices, indptr = fromdense(op, D, 0, index_dtype, resolve_stream(None))
            self._init(data, indices, indptr, tuple(D.shape), True, True)
            return
        if is_sparse(arg):
            src = arg.tocsr(canonical=False) if arg.format != "csr" else arg
            arg, shape = (src.data, src.indices, src.indptr), src.shape if shape is None else shape
            sorted_indices = sorted_indices or src.sorted_indices
            canonical = canonical or src.has_canonical_format
        elif is_scipy_sparse(arg):
            s = scipy_converted(op, arg, "csr")
            shape = s.shape if shape is None else shape
            canonical = canonical or bool(s.has_canonical_format)
            sorted_indices = sorted_indices or bool(s.has_sorted_indices)
            arg = (s.data, s.indices, s.indptr)
        if not (isinstance(arg, tuple) and len(arg) == 3):
            raise TypeError(f"{op}: expected (data, indices, indptr) or a sparse array, got {type(arg).__name__}")
        data, indices, indptr = arg
        data, indices, indptr, padded = auto_page(op, data, indices, indptr)
        if padded:
            sorted_indices = canonical = False
        # a host indptr is checked on the host (start, order, end: O(rows), no synchronization, as scipy
        # does at construction); indices are read only by validate="full" (or by the kernels, at evaluation)
        ip_host = None if isinstance(indptr, mx.array) else np.asarray(indptr)  # also plans the GPU SpMV below
        ind_host = None if isinstance(indices, mx.array) else np.asarray(indices)
        data = as_values(op, data, dtype, paged_ok=True)
        nnz = int(data.size)
        if shape is None:  # scipy's rule: rows from indptr, columns from the largest index (synchronizes)
            ip = indptr if ip_host is None else ip_host
            ind = indices if ind_host is None else ind_host
            for what, a in (("indices", ind), ("indptr", ip)):
                if not (mx.issubdtype(a.dtype, mx.integer) if isinstance(a, mx.array) else a.dtype.kind in "iu"
                        or a.size == 0):  # ([] is float64: as_index takes it as an empty index array)
                    raise TypeError(f"{op}: {what} must be an integer array, got {a.dtype}")
            if ip.ndim != 1:
                raise ValueError(f"{op}: indptr must be 1-D, got shape {tuple(ip.shape)}")
            nminor = int(ind.max()) + 1 if ind.size else 0
            if nminor < 0:
                raise ValueError(f"{op}: cannot infer the shape: negative {minor} indices (min {int(ind.min())})")
            shape = (int(ip.size) - 1, nminor)
            if op == "csc_array":
                shape = shape[::-1]  # the caller's (m, n)
        m, n = check_shape(op, shape)
        if op == "csc_array":  # the transpose's shape: indptr over columns
            m, n = n, m
        it = index_dtype_for(op, (indices, indptr), (m, n), nnz, index_dtype)
        indices = as_index(op, "indices", indices, it, paged_ok=data.ndim == 2)
        indptr = as_index(op, "indptr", indptr, it)
        if data.ndim == 2 and indices.shape != data.shape:
            raise ValueError(f"{op}: paged data {tuple(data.shape)} and indices {tuple(indices.shape)} must have one shape")
        if validate:
            if indptr.size != m + 1:
                raise ValueError(f"{op}: indptr has {indptr.size} entries, expected shape[{axis}] + 1 = {m + 1}")
            if indices.size != nnz:
                raise ValueError(f"{op}: indices ({indices.size}) and data ({nnz}) lengths differ")
        self._init(data, indices, indptr, (m, n), sorted_indices or canonical, canonical)
        if validate == "full":
            _validate_full(op, self, minor)
        elif validate == "metadata" and ip_host is not None:
            _check_structure(op, ip_host, None, n, nnz, self._sorted, self._canonical, minor)
        if validate != "full" and ip_host is not None and ip_host.ndim == 1 and ip_host.size == m + 1:
            plan_host(self.indptr, self.indices, ip_host, ind_host, nnz)  # banded: SpMV reads 2-byte offsets

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
        return csr_todense("todense", self.data, self.indices, self.indptr, self.shape, resolve_stream(stream))

    def sum_duplicates(self, stream: StreamLike = None) -> "csr_array":
        """Canonical CSR (sorted, duplicates summed, explicit zeros kept). Synchronizes once on the new nnz."""
        s = resolve_stream(stream)
        if self._canonical:
            return self
        self._flat_only("sum_duplicates")
        if self.nnz == 0:
            return csr_array._from_parts(self.data, self.indices, self.indptr, self.shape, True, True)
        data, indices, indptr = sum_duplicates("sum_duplicates", self.data, self.indices, self.indptr, self.shape, s)
        return csr_array._from_parts(data, indices, indptr, self.shape, True, True)

    canonicalize = sum_duplicates

    # ---- products -------------------------------------------------------------------------
    @property
    def T(self) -> "csc_array":
        """The transpose as a CSC view of the same buffers (nothing is copied or computed)."""
        csc_array = FORMATS["csc"]
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


FORMATS["csr"] = csr_array


def _validate_full(op: str, A: csr_array, minor: str = "column") -> None:
    """Evaluate the structure and check it (host side): indptr, index bounds, declared flags."""
    ip, ind = np.array(A.indptr), np.array(A.indices)
    _check_structure(op, ip, ind, A.shape[1], A.nnz, A.sorted_indices, A.has_canonical_format, minor)
    plan_host(A.indptr, A.indices, ip, ind, A.nnz)


def _check_structure(op: str, ip, ind, n: int, nnz: int, sorted_indices: bool, canonical: bool,
                     minor: str = "column") -> None:
    """Check CSR structure buffers held on the host (``ip`` / ``ind``: NumPy arrays of the caller's
    values, or None when that buffer is on the device): indptr starts at 0, does not decrease and ends
    at nnz; indices lie in [0, n); the declared flags hold. Raises ValueError naming ``op``. Sizes
    were checked before; ``minor`` names what an index counts (rows of a CSC array)."""
    if ip is not None:
        ip = np.asarray(ip).reshape(-1)
        ip = ip.astype(np.float64) if ip.dtype == np.uint64 and ip.size and ip.max() > 2**63 - 1 else ip.astype(np.int64)
        if ip.size == 0:
            return
        if ip[0] != 0:
            raise ValueError(f"{op}: indptr[0] must be 0, got {ip[0]}")
        if np.any(np.diff(ip) < 0):
            raise ValueError(f"{op}: indptr must be non-decreasing")
        if ip[-1] != nnz:
            raise ValueError(f"{op}: indptr[-1] = {ip[-1]} must equal nnz = {nnz}")
    if ind is None:
        return
    ind = np.asarray(ind).reshape(-1)
    if ind.size and (ind.min() < 0 or ind.max() >= n):
        raise ValueError(f"{op}: {minor} index out of range [0, {n}) (min {ind.min()}, max {ind.max()})")
    if ip is not None and sorted_indices and ind.size > 1:
        d = np.diff(ind.astype(np.int64))
        interior = np.ones(ind.size - 1, dtype=bool)
        starts = ip[1:-1]
        interior[starts[(starts > 0) & (starts < ind.size)] - 1] = False
        if np.any(d[interior] < 0):
            raise ValueError(f"{op}: indices are not sorted within rows but sorted_indices/canonical was declared")
        if canonical and np.any(d[interior] == 0):
            raise ValueError(f"{op}: duplicate entries but canonical=True was declared")
