"""COO arrays: construction from (data, (row, col)), conversion to CSR (optionally canonical)."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from ._base import FORMATS, SparseArray
from ._canonical import coo_to_canonical
from ._coerce import (dense_2d, as_index, as_values, check_shape, check_validate, host, index_dtype_for,
                      is_scipy_sparse, is_sparse, scipy_converted)
from ._convert import coo_to_csr, expand_rows
from ._csr import csr_array
from ._device import StreamLike, resolve_stream
from ._kernels import user_op


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
        canonical: bool = False,
        validate: Any = None,
    ):
        op = "coo_array"
        validate = check_validate(op, validate)
        D = dense_2d(op, arg, dtype)
        if D is not None:  # a dense array: its nonzeros, in row-major order
            arg = csr_array(D, shape=shape, index_dtype=index_dtype, _op=op)
        if is_scipy_sparse(arg):
            c = scipy_converted(op, arg, "coo")
            arg, shape = (c.data, (c.row, c.col)), c.shape if shape is None else shape
        elif is_sparse(arg):
            c = arg.tocoo() if arg.format != "coo" else arg
            arg, shape = (c.data, (c.row, c.col)), c.shape if shape is None else shape
        if not (isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[1], (tuple, list)) and len(arg[1]) == 2):
            raise TypeError(f"{op}: expected (data, (row, col)), got {type(arg).__name__}")
        data, (row, col) = arg
        if isinstance(data, np.ndarray) and data.size > 2**31 - 1:
            raise ValueError(
                f"{op}: {np.size(data)} entries exceed MLX's largest 1-D array (2^31 - 1); "
                "build a csr_array, which holds them in paged buffers"
            )
        data = as_values(op, data, dtype)
        nnz = int(data.size)
        hosts = [None if isinstance(a, mx.array) else np.asarray(a) for a in (row, col)]
        if shape is None:  # infer from the largest indices: synchronizes, as scipy would read them
            dims = []
            for what, a, h in (("row", row, hosts[0]), ("col", col, hosts[1])):
                a = a if h is None else h
                if not (mx.issubdtype(a.dtype, mx.integer) if isinstance(a, mx.array) else a.dtype.kind in "iu"
                        or a.size == 0):  # ([] is float64: as_index takes it as an empty index array)
                    raise TypeError(f"{op}: {what} must be an integer array, got {a.dtype}")
                dims.append(int(a.max()) + 1 if a.size else 0)
                if dims[-1] < 0:
                    raise ValueError(f"{op}: cannot infer the shape: negative {what} indices (min {int(a.min())})")
            shape = tuple(dims)
        m, n = check_shape(op, shape)
        it = index_dtype_for(op, (row, col), (m, n), nnz, index_dtype)
        row, col = as_index(op, "row", row, it), as_index(op, "col", col, it)
        if validate and not (row.size == col.size == nnz):
            raise ValueError(f"{op}: row ({row.size}), col ({col.size}) and data ({nnz}) lengths differ")
        self.data, self.row, self.col, self._shape = data, row, col, (m, n)
        self._canonical = bool(canonical)  # declared: sorted by (row, col), no duplicates
        if validate == "full" and nnz:
            with mx.stream(mx.default_stream(mx.default_device())):
                lo = mx.minimum(mx.min(row), mx.min(col))
                rmax, cmax = mx.max(row), mx.max(col)
            mx.eval(lo, rmax, cmax)
            if lo.item() < 0 or rmax.item() >= m or cmax.item() >= n:
                raise ValueError(f"{op}: row or column index out of range for shape {(m, n)}")
            if canonical:
                key = host(row).astype(np.int64) * max(n, 1) + host(col).astype(np.int64)
                if key.size > 1 and not np.all(np.diff(key) > 0):
                    raise ValueError(f"{op}: entries are not sorted by (row, col) without duplicates but canonical=True")

    @classmethod
    def _from_parts(cls, data, row, col, shape, canonical: bool = False):
        out = cls.__new__(cls)
        out.data, out.row, out.col, out._shape, out._canonical = data, row, col, tuple(shape), canonical
        return out

    @property
    def has_canonical_format(self) -> bool:
        return self.__dict__.get("_canonical", False)

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
        return coo_array._from_parts(data, self.row, self.col, self.shape, self.has_canonical_format)

    def tocoo(self, stream: StreamLike = None) -> "coo_array":
        return self

    def _deduped(self, stream: StreamLike = None) -> "coo_array":
        s = resolve_stream(stream)
        c = self.tocsr(canonical=True, stream=s)
        return coo_array._from_parts(c.data, expand_rows("sum_duplicates", c.indptr, c.nnz, c.dtype, s), c.indices,
                                     self.shape, True)

    @property
    def T(self) -> "coo_array":
        """The transpose (rows and columns swapped; nothing is copied)."""
        out = coo_array._from_parts(self.data, self.col, self.row, (self.shape[1], self.shape[0]))
        out._transpose_of = self  # products use the original's CSR form, transposed (a free view)
        return out

    def astype(self, dtype: mx.Dtype, stream: StreamLike = None) -> "coo_array":
        out = self._with_data(self.data.astype(dtype, stream=resolve_stream(stream)))
        as_values("astype", out.data, None)
        return out

    def tocsr(self, canonical: bool = True, stream: StreamLike = None) -> csr_array:
        """CSR form. ``canonical=True`` (scipy's behaviour) sorts and sums duplicates and
        synchronizes once on the resulting nnz; ``canonical=False`` keeps every entry and is lazy."""
        s = resolve_stream(stream)
        if canonical and self.has_canonical_format:  # sorted, no duplicates: the lazy path is canonical
            d, ind, ptr, _ = coo_to_csr("tocsr", self.row, self.col, self.data, self.shape, s)
            return csr_array._from_parts(d, ind, ptr, self.shape, True, True)
        if canonical:
            d, ind, ptr = coo_to_canonical("tocsr", self.row, self.col, self.data, self.shape, s)
            return csr_array._from_parts(d, ind, ptr, self.shape, True, True)
        d, ind, ptr, srt = coo_to_csr("tocsr", self.row, self.col, self.data, self.shape, s)
        return csr_array._from_parts(d, ind, ptr, self.shape, srt, self.nnz == 0)

    @user_op("sum_duplicates")
    def sum_duplicates(self, stream: StreamLike = None) -> csr_array:
        return self.tocsr(canonical=True, stream=stream)


FORMATS["coo"] = coo_array
