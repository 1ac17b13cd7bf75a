"""COO arrays: construction from (data, (row, col)), conversion to CSR (optionally canonical)."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from ._base import SparseArray, host, as_index, as_values, check_shape, check_validate, index_dtype_for
from ._csr import _is_scipy_sparse, _sumdup_cpu, value_permuting, canonical_from_triplets, csr_array, indptr_from_sorted_rows
from ._device import StreamLike, is_gpu, resolve_stream


class coo_array(SparseArray):
    """Coordinate-format sparse array: ``coo_array((data, (row, col)), shape=(m, n))``.

    Duplicates and explicit zeros are kept until :meth:`tocsr` with ``canonical=True`` or
    :meth:`sum_duplicates`. ``validate`` as for :class:`csr_array` (``"full"`` checks index bounds).
    """

    format = "coo"

    def __init__(
        self,
        arg: Any,
        shape: Optional[tuple[int, int]] = None,
        *,
        dtype: Optional[mx.Dtype] = None,
        index_dtype: Optional[mx.Dtype] = None,
        validate: Any = "metadata",
    ):
        op = "coo_array"
        validate = check_validate(op, validate)
        if _is_scipy_sparse(arg):
            c = arg.tocoo()
            arg, shape = (c.data, (c.row, c.col)), c.shape if shape is None else shape
        elif isinstance(arg, SparseArray):
            c = arg.tocoo() if arg.format != "coo" else arg
            arg, shape = (c.data, (c.row, c.col)), c.shape if shape is None else shape
        if not (isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[1], (tuple, list)) and len(arg[1]) == 2):
            raise TypeError(f"{op}: expected (data, (row, col)), got {type(arg).__name__}")
        data, (row, col) = arg
        if not isinstance(data, mx.array) and np.size(data) > 2**31 - 1:
            raise ValueError(
                f"{op}: {np.size(data)} entries exceed MLX's largest 1-D array (2^31 - 1); "
                "build a csr_array, which holds them in paged buffers"
            )
        data = as_values(op, data, dtype)
        nnz = int(data.size)
        if shape is None:  # infer from the largest indices: synchronizes, as scipy would read them
            r = np.asarray(row) if not isinstance(row, mx.array) else row
            c = np.asarray(col) if not isinstance(col, mx.array) else col
            shape = (int(r.max()) + 1 if r.size else 0, int(c.max()) + 1 if c.size else 0)
        m, n = check_shape(op, shape)
        it = index_dtype_for(op, (row, col), (m, n), nnz, index_dtype)
        row, col = as_index(op, "row", row, it), as_index(op, "col", col, it)
        if validate and not (row.size == col.size == nnz):
            raise ValueError(f"{op}: row ({row.size}), col ({col.size}) and data ({nnz}) lengths differ")
        self.data, self.row, self.col, self._shape = data, row, col, (m, n)
        if validate == "full" and nnz:
            with mx.stream(mx.default_stream(mx.default_device())):
                lo = mx.minimum(mx.min(row), mx.min(col))
                rmax, cmax = mx.max(row), mx.max(col)
            mx.eval(lo, rmax, cmax)
            if lo.item() < 0 or rmax.item() >= m or cmax.item() >= n:
                raise ValueError(f"{op}: row or column index out of range for shape {(m, n)}")

    @property
    def index_dtype(self) -> mx.Dtype:
        return self.row.dtype

    @property
    def coords(self) -> tuple[mx.array, mx.array]:
        return self.row, self.col

    def _buffers(self):
        return [self.data, self.row, self.col]

    def to_numpy(self):
        """Host copies ``(data, (row, col))`` (evaluates)."""
        return host(self.data), (host(self.row), host(self.col))

    def to_scipy(self):
        import scipy.sparse as sp

        d, (r, c) = self.to_numpy()
        return sp.coo_array((d, (r, c)), shape=self.shape)

    def _with_data(self, data: mx.array) -> "coo_array":
        out = coo_array.__new__(coo_array)
        out.data, out.row, out.col, out._shape = data, self.row, self.col, self.shape
        return out

    def tocoo(self, stream: StreamLike = None) -> "coo_array":
        return self

    def _deduped(self, stream: StreamLike = None) -> "coo_array":
        from ._products import expand_rows

        s = resolve_stream(stream)
        c = self.tocsr(canonical=True, stream=s)
        out = coo_array.__new__(coo_array)
        out.data, out.col, out._shape = c.data, c.indices, self.shape
        out.row = expand_rows("sum_duplicates", c.indptr, c.nnz, c.dtype, s)
        return out

    @property
    def T(self) -> "coo_array":
        """The transpose (rows and columns swapped; nothing is copied)."""
        out = coo_array.__new__(coo_array)
        out.data, out.row, out.col, out._shape = self.data, self.col, self.row, (self.shape[1], self.shape[0])
        out._transpose_of = self  # products use the original's CSR form, transposed (a free view)
        return out

    def astype(self, dtype: mx.Dtype, stream: StreamLike = None) -> "coo_array":
        out = coo_array.__new__(coo_array)
        out.data = self.data.astype(dtype, stream=resolve_stream(stream))
        out.row, out.col, out._shape = self.row, self.col, self.shape
        as_values("astype", out.data, None)
        return out

    def tocsr(self, canonical: bool = True, stream: StreamLike = None) -> csr_array:
        """CSR form. ``canonical=True`` (scipy's behaviour) sorts and sums duplicates and
        synchronizes once on the resulting nnz; ``canonical=False`` keeps every entry and is lazy."""
        op = "tocsr"
        s = resolve_stream(stream)
        m, n = self.shape
        it, vt, nnz = self.index_dtype, self.dtype, self.nnz
        if nnz == 0:
            with mx.stream(s):
                indptr = mx.zeros((m + 1,), dtype=it)
            return csr_array._from_parts(self.data, self.col, indptr, self.shape, True, True)
        if is_gpu(s):
            if canonical:
                return canonical_from_triplets(op, self.row, self.col, self.data, self.shape, s)
            with mx.stream(s):
                perm = mx.argsort(self.row.astype(mx.int64) * max(n, 1) + self.col.astype(mx.int64))
                rs, cs, ds = mx.take(self.row, perm), mx.take(self.col, perm), mx.take(self.data, perm)
            indptr = indptr_from_sorted_rows(op, rs, m, vt, s)
            return csr_array._from_parts(ds, cs, indptr, self.shape, True, False)
        indptr, ind, val = value_permuting(
            op, "convert", "coo_tocsr", [self.row, self.col, self.data], 2, 2, [(m + 1,), (nnz,), (nnz,)], [it, it, None], [m, n], s
        )
        if not canonical:
            return csr_array._from_parts(val, ind, indptr, self.shape, False, False)
        sind, sval, uptr = value_permuting(
            op, "canonical", "csr_sort", [indptr, ind, val], 2, 1, [(nnz,), (nnz,), (m + 1,)], [it, None, it], [m, n], s
        )
        return _sumdup_cpu(op, indptr, sind, sval, uptr, self.shape, s)

    def sum_duplicates(self, stream: StreamLike = None) -> csr_array:
        return self.tocsr(canonical=True, stream=stream)
