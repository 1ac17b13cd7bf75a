"""CSC arrays: the transpose layout of CSR. Products use the CSR kernels with the roles swapped."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx

from ._base import FORMATS, CompressedArray
from ._coerce import check_shape, check_validate, dense_2d, host, is_scipy_sparse, is_sparse, scipy_converted
from ._convert import expand_rows, transpose_csr
from ._canonical import coo_to_canonical
from ._csr import csr_array
from ._device import StreamLike, resolve_stream
from ._products import csr_matmul


class csc_array(CompressedArray):
    """Compressed sparse column array: ``csc_array((data, indices, indptr), shape=(m, n))`` with
    ``indptr`` over columns (n + 1) and ``indices`` the row of each entry; or from scipy.
    Its buffers are exactly those of the CSR array of its transpose, so ``.T`` is free."""

    format = "csc"

    def __init__(self, arg: Any, shape: Optional[tuple[int, int]] = None, **kwargs):
        op = "csc_array"
        kwargs.pop("_op", None)
        check_validate(op, kwargs.get("validate"))
        D = dense_2d(op, arg, kwargs.get("dtype"))
        if D is not None:  # a dense array: the CSR of its transpose, viewed as CSC
            if shape is not None and check_shape(op, shape) != tuple(D.shape):
                raise ValueError(f"{op}: shape {tuple(shape)} differs from the dense array's {tuple(D.shape)}")
            self._init_from(csr_array(mx.transpose(D), index_dtype=kwargs.get("index_dtype"), _op=op))
            return
        if is_sparse(arg) or is_scipy_sparse(arg):  # its CSC buffers (this package's or scipy's)
            c = arg.tocsc() if is_sparse(arg) else scipy_converted(op, arg, "csc")
            shape = c.shape if shape is None else shape
            kwargs["canonical"] = bool(kwargs.get("canonical", False) or c.has_canonical_format)
            kwargs["sorted_indices"] = bool(kwargs.get("sorted_indices", False) or c.has_sorted_indices)
            arg = (c.data, c.indices, c.indptr)
        # the CSR array of the transpose, built under this name (shape None: inferred as scipy does)
        self._init_from(csr_array(arg, shape=shape, _op=op, **kwargs))

    def _init_from(self, t: csr_array):
        self.data, self.indices, self.indptr = t.data, t.indices, t.indptr
        self._shape = (t.shape[1], t.shape[0])
        self._sorted, self._canonical = t.sorted_indices, t.has_canonical_format
        return self

    @classmethod
    def _from_parts(cls, data, indices, indptr, shape, sorted_indices=False, canonical=False):
        t = csr_array._from_parts(data, indices, indptr, (shape[1], shape[0]), sorted_indices, canonical)
        return cls.__new__(cls)._init_from(t)

    @property
    def _csr_shape(self) -> tuple[int, int]:
        return (self._shape[1], self._shape[0])

    @property
    def T(self) -> csr_array:
        """The transpose: a CSR view of the same buffers."""
        t = self.__dict__.get("_t")  # kept, so products through A.T reuse their recipes
        if t is None or t.data is not self.data or t.indices is not self.indices or t.indptr is not self.indptr:
            t = self._t = csr_array._from_parts(self.data, self.indices, self.indptr, self._csr_shape, self._sorted,
                                                self._canonical)
        return t

    def transpose(self) -> csr_array:
        return self.T

    def astype(self, dtype: mx.Dtype, stream: StreamLike = None) -> "csc_array":
        return self.T.astype(dtype, stream=stream).T

    def todense(self, stream: StreamLike = None) -> mx.array:
        s = resolve_stream(stream)
        return mx.transpose(self.T.todense(stream=s), stream=s)

    def tocsr(self, canonical: bool = False, stream: StreamLike = None) -> csr_array:
        """CSR form (a structural transpose: entries regrouped by row)."""
        s = resolve_stream(stream)
        self._flat_only("tocsr")
        if canonical and not self._canonical:  # duplicates to sum: sort the triplets and add
            cols = expand_rows("tocsr", self.indptr, self.nnz, self.dtype, s)
            d, ind, ptr = coo_to_canonical("tocsr", self.indices, cols, self.data, self.shape, s)
            return csr_array._from_parts(d, ind, ptr, self.shape, True, True)
        d, ind, ptr = transpose_csr("tocsr", self.data, self.indices, self.indptr, self._csr_shape, s)
        return csr_array._from_parts(d, ind, ptr, self.shape, True, self._canonical)

    def sum_duplicates(self, stream: StreamLike = None) -> "csc_array":
        """Canonical CSC (sorted, duplicates summed, explicit zeros kept), as scipy. Synchronizes once."""
        return self._deduped(stream)

    canonicalize = sum_duplicates

    def to_numpy(self):
        return host(self.data), host(self.indices), host(self.indptr)

    def to_scipy(self):
        import scipy.sparse as sp

        d, i, p = self.to_numpy()
        return sp.csc_array((d, i, p), shape=self.shape)

    def matvec(self, x, stream: StreamLike = None) -> mx.array:
        return csr_matmul(self, x, stream=stream)


FORMATS["csc"] = csc_array
