"""Shared container plumbing: input coercion, dtype rules, validation modes, the sparse base class."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import mlx.core as mx
import numpy as np

from ._kernels import INDEX_TYPES, VALUE_TYPES

VALIDATE_MODES = (False, "metadata", "full")
_INT32_MAX = 2**31 - 1


def check_validate(op: str, validate: Any) -> Any:
    if validate is True:
        return "full"
    if validate not in VALIDATE_MODES:
        raise ValueError(f"{op}: validate must be 'metadata', 'full' or False, got {validate!r}")
    return validate


def check_shape(op: str, shape: Any) -> tuple[int, int]:
    try:
        m, n = (int(s) for s in shape)
    except Exception:
        raise ValueError(f"{op}: shape must be a pair of non-negative ints, got {shape!r}") from None
    if m < 0 or n < 0:
        raise ValueError(f"{op}: shape must be non-negative, got {shape!r}")
    return m, n


def as_values(op: str, data: Any, dtype: Optional[mx.Dtype], paged_ok: bool = False) -> mx.array:
    """The value buffer as a 1-D MLX array of a supported dtype (or 2-D paged, see csr_array)."""
    if dtype is not None and dtype not in VALUE_TYPES:
        raise TypeError(f"{op}: unsupported value dtype {dtype}; use one of {', '.join(map(str, VALUE_TYPES))}")
    if not isinstance(data, mx.array):
        a = np.asarray(data)
        if dtype is not None:  # convert once, straight to the requested type (keeps float64 exact)
            data = mx.array(a.astype(np.float32) if a.dtype.kind in "iub" else a, dtype=dtype)
        else:
            if a.dtype == np.complex128:
                a = a.astype(np.complex64)
            if a.dtype.kind in "iub" or a.size == 0 and a.dtype.kind != "c":
                a = a.astype(np.float32)
            data = mx.array(a)  # float64 becomes float32, as mx.array does
    elif dtype is not None and data.dtype != dtype:
        data = data.astype(dtype)
    if data.dtype not in VALUE_TYPES:
        raise TypeError(
            f"{op}: unsupported value dtype {data.dtype}; use one of {', '.join(map(str, VALUE_TYPES))} (or pass dtype=)"
        )
    if data.ndim != 1 and not (paged_ok and data.ndim == 2):
        raise ValueError(f"{op}: data must be 1-D{' (or 2-D paged)' if paged_ok else ''}, got shape {tuple(data.shape)}")
    return data


def index_dtype_for(op: str, arrays: Sequence[Any], shape: tuple[int, int], nnz: int, index_dtype) -> mx.Dtype:
    """int32 unless requested otherwise, or an input is an int64 MLX array, or sizes need int64."""
    if index_dtype is not None:
        dt = {np.int32: mx.int32, np.int64: mx.int64, "int32": mx.int32, "int64": mx.int64}.get(index_dtype, index_dtype)
        if dt not in INDEX_TYPES:
            raise TypeError(f"{op}: index_dtype must be int32 or int64, got {index_dtype!r}")
        if dt == mx.int32 and max(shape[0], shape[1], nnz) > _INT32_MAX:
            raise ValueError(f"{op}: shape {shape} / nnz {nnz} need int64 indices")
        return dt
    if max(shape[0], shape[1], nnz) > _INT32_MAX:
        return mx.int64
    for a in arrays:
        if isinstance(a, mx.array) and a.dtype == mx.int64:
            return mx.int64
    return mx.int32


def as_index(op: str, what: str, a: Any, dt: mx.Dtype, paged_ok: bool = False) -> mx.array:
    """A 1-D index buffer of dtype ``dt``. Host inputs are range-checked before narrowing."""
    if isinstance(a, mx.array):
        if a.dtype not in (mx.int32, mx.int64, mx.int16, mx.int8, mx.uint8, mx.uint16, mx.uint32, mx.uint64):
            raise TypeError(f"{op}: {what} must be an integer array, got {a.dtype}")
        if a.dtype == mx.int64 and dt == mx.int32:
            raise TypeError(f"{op}: {what} is int64 but index_dtype is int32; cast it explicitly")
        out = a.astype(dt) if a.dtype != dt else a
    else:
        h = np.asarray(a)
        if h.size == 0:
            h = h.astype(np.int64)
        if h.dtype.kind not in "iu":
            raise TypeError(f"{op}: {what} must be an integer array, got {h.dtype}")
        if dt == mx.int32 and h.size and (h.max() > _INT32_MAX or h.min() < -_INT32_MAX - 1):
            raise ValueError(f"{op}: {what} has values outside int32; pass index_dtype=mx.int64")
        out = mx.array(h.astype(np.int32 if dt == mx.int32 else np.int64))
    if out.ndim != 1 and not (paged_ok and out.ndim == 2):
        raise ValueError(f"{op}: {what} must be 1-D{' (or 2-D paged)' if paged_ok else ''}, got shape {tuple(out.shape)}")
    return out


_PROMOTED: dict = {}


def _result_type(a: mx.Dtype, b: mx.Dtype) -> mx.Dtype:
    """MLX's promotion rule, read once per pair off a never-evaluated CPU node (float64 can't be a GPU node)."""
    key = (a, b)
    if key not in _PROMOTED:
        _PROMOTED[key] = mx.add(mx.zeros((), dtype=a, stream=mx.cpu), mx.zeros((), dtype=b, stream=mx.cpu), stream=mx.cpu).dtype
    return _PROMOTED[key]


def as_dense(op: str, x: Any) -> mx.array:
    """A dense operand as an MLX array; TypeError for sparse or non-numeric input."""
    if isinstance(x, mx.array):
        return x
    if isinstance(x, SparseArray) or _is_scipy_sparse(x):
        raise TypeError(f"{op}: sparse-sparse products and elementwise operations are not supported yet; "
                        "pass a dense operand (or call .todense() on one side)")
    try:
        h = np.asarray(x)
    except Exception:
        h = None
    if h is None or h.dtype.kind not in "biufc":
        raise TypeError(f"{op}: expected a numeric dense operand, got {type(x).__name__}")
    return mx.array(h)


def _is_scipy_sparse(x: Any) -> bool:
    mod = type(x).__module__ or ""
    return mod.startswith("scipy.sparse")


def promote_operand(op: str, a_dtype: mx.Dtype, x: Any) -> tuple[mx.Dtype, mx.array]:
    """The result dtype of (sparse of a_dtype) times x, as MLX promotes; TypeError when unsupported."""
    x = as_dense(op, x)
    rt = _result_type(a_dtype, x.dtype)
    if rt not in VALUE_TYPES:
        raise TypeError(f"{op}: no kernel for {a_dtype} with operand {x.dtype} (promotes to {rt})")
    return rt, x


def host(a: mx.array) -> np.ndarray:
    """Host copy of a buffer as 1-D (evaluates; paged buffers are flattened on the host);
    bfloat16, which numpy lacks, comes back as float32."""
    return np.array(a.astype(mx.float32) if a.dtype == mx.bfloat16 else a).reshape(-1)


class SparseArray:
    """Behaviour shared by every format; subclasses hold immutable MLX buffers."""

    format = "?"
    ndim = 2
    __array_ufunc__ = None  # numpy defers `ndarray @ sparse` to __rmatmul__
    _shape: tuple[int, int]
    data: mx.array

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def dtype(self) -> mx.Dtype:
        return self.data.dtype

    @property
    def nnz(self) -> int:
        """Stored entries, duplicates and explicit zeros included (metadata only)."""
        return int(self.data.size)

    def _buffers(self) -> list[mx.array]:
        raise NotImplementedError

    def eval(self):
        """Evaluate every buffer in one ``mx.eval``; returns self."""
        mx.eval(*self._buffers())
        return self

    def __repr__(self) -> str:
        return (
            f"<{self.shape[0]}x{self.shape[1]} {self.format}_array of {self.dtype} with {self.nnz} stored "
            f"elements, {self.index_dtype} indices>"
        )

    def _compressed(self, stream=None) -> "CompressedArray":
        """CSR/CSC buffers for products: the array itself, or (COO) its CSR form, converted once per
        stream and kept (the buffers are immutable)."""
        if isinstance(self, CompressedArray):
            return self
        from ._device import resolve_stream

        s = resolve_stream(stream)
        parent = self.__dict__.get("_transpose_of")
        if parent is not None and all(a is b for a, b in zip(self._buffers(), (parent.data, parent.col, parent.row))):
            return parent._compressed(s).T  # the original's CSR form as a CSC view: nothing sorted
        cache = self.__dict__.setdefault("_csr_cache", {})
        key = (str(s), *map(id, self._buffers()))
        if key not in cache:
            cache.clear()  # buffers replaced: drop the stale form
            cache[key] = (self.tocsr(canonical=False, stream=s), self._buffers())  # held: ids stay unique
        return cache[key][0]

    def analyze(self, stream=None) -> "SparseArray":
        """Evaluate the structure once and choose the GPU SpMV schedule from its row lengths: lanes
        per row, or the merge path (equal shares of rows + nonzeros per block) when rows are uneven.
        The choice is kept with the structure (arrays sharing it use it). CSR/CSC arrays built from
        host buffers (numpy, scipy) or with ``validate="full"`` are analyzed already; call this for
        ones built on the device (``coo.tocsr()``) and for COO arrays (it plans the CSR form their
        products use). It also keeps 16-bit column offsets (column - row) when every entry lies
        within 32767 of the diagonal (banded matrices, PDE stencils): SpMV then reads 2 bytes per
        entry in place of 4 or 8, at 2 bytes per entry of memory. Synchronizes; returns self."""
        from ._device import resolve_stream
        from ._products import plan_d16, plan_spmv

        s = resolve_stream(stream)
        form = self._compressed(s)
        if form.indptr.ndim == 1 and form.indptr.size == form._csr_shape[0] + 1:
            ip = host(form.indptr).astype(np.int64)
            plan_spmv(form.indptr, ip, form.nnz)
            if form.indices.ndim == 1 and form.indices.size == form.nnz:
                plan_d16(form.indices, form.indptr, host(form.indices), ip)
        return self

    def __matmul__(self, other):
        return _csr.csr_matmul(self._compressed(), other)

    def __rmatmul__(self, other):
        return _csr.rmatmul(other, self._compressed())

    @property
    def H(self) -> "SparseArray":
        """The conjugate transpose (values conjugated lazily for complex dtypes)."""
        t = self.T
        return t.conj() if mx.issubdtype(self.dtype, mx.complexfloating) else t

    def todense(self, stream=None) -> mx.array:
        return self._compressed(stream).todense(stream=stream)

    # ---- value-wise operations (same pattern; lazy and differentiable in the values) ----------
    def _with_data(self, data: mx.array) -> "SparseArray":
        """The same structure (and format) with new values."""
        raise NotImplementedError

    def _map(self, op: str, fn, stream=None) -> "SparseArray":
        from ._device import resolve_stream

        with mx.stream(resolve_stream(stream)):
            data = fn(self.data)
        if data.dtype not in VALUE_TYPES:
            raise TypeError(f"{op}: result dtype {data.dtype} is not a supported value type")
        return self._with_data(data)

    def _scalar(self, op: str, c: Any) -> mx.array:
        c = as_dense(op, c)  # TypeError for sparse or non-numeric operands
        if c.ndim != 0:
            raise TypeError(f"{op}: expected a scalar, got shape {tuple(c.shape)}")
        return c

    def __mul__(self, other):
        """``A * c`` (scalar: same pattern) or ``A * dense`` (broadcasting; see :meth:`multiply`)."""
        return self.multiply(other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        c = self._scalar("divide", other)
        return self._map("divide", lambda d: d / c)

    def __neg__(self):
        return self._map("negative", lambda d: -d)

    def multiply(self, other, stream=None):
        """Elementwise product with a scalar or a dense array broadcastable to the shape."""
        if not isinstance(other, SparseArray) and np.ndim(other) == 0:
            c = self._scalar("multiply", other)
            return self._map("multiply", lambda d: d * c, stream)
        from ._csr import multiply_dense

        return multiply_dense(self._compressed(stream), other, stream=stream)

    def conj(self, stream=None) -> "SparseArray":
        """Complex conjugate of the values (a no-op node for real types)."""
        return self._map("conj", mx.conj, stream)

    conjugate = conj

    def _deduped(self, stream=None) -> "SparseArray":
        """The same array, same format, with duplicates summed (synchronizes once unless canonical)."""
        raise NotImplementedError

    def power(self, p, stream=None) -> "SparseArray":
        """Elementwise power (scipy's ``power``): duplicates are summed first, the pattern is kept."""
        if not isinstance(p, mx.array) and np.ndim(p) == 0 and p == 0:
            raise ValueError("power: a zero power would make every entry 1 (dense); use todense() ** 0")
        c = self._scalar("power", p)
        real = not mx.issubdtype(self.dtype, mx.complexfloating)
        return self._deduped(stream)._map("power", lambda d: mx.power(d, c.astype(d.dtype) if real else c), stream)

    def __abs__(self):
        """Elementwise absolute value; duplicates are summed first (|a + b|, as scipy)."""
        return self._deduped()._map("abs", mx.abs)

    def __pow__(self, p):
        return self.power(p)

    def sum(self, axis=None, stream=None) -> mx.array:
        """Sum of all entries (``axis=None``: a scalar), of each column (``axis=0``: shape (n,)) or of
        each row (``axis=1``: shape (m,)); duplicates count, as in scipy. Lazy and differentiable."""
        from ._device import resolve_stream

        s = resolve_stream(stream)
        m, n = self.shape
        if axis is None:
            return mx.sum(self.data, stream=s)
        if axis not in (0, 1, -1, -2):
            raise ValueError(f"sum: axis must be None, 0 or 1, got {axis!r}")
        if axis in (1, -1):
            return self.__matmul__(mx.ones((n,), dtype=self.dtype, stream=s)) if n else mx.zeros((m,), self.dtype, stream=s)
        return self.T.__matmul__(mx.ones((m,), dtype=self.dtype, stream=s)) if m else mx.zeros((n,), self.dtype, stream=s)

    def mean(self, axis=None, stream=None) -> mx.array:
        """Mean over all m*n entries (zeros included) or along an axis, as scipy."""
        m, n = self.shape
        count = m * n if axis is None else (m if axis in (0, -2) else n)
        total = self.sum(axis=axis, stream=stream)
        return total / count if count else total * float("nan")

    def toarray(self, stream=None) -> mx.array:
        """Alias of :meth:`todense` (an MLX array, lazy)."""
        return self.todense(stream=stream)

    def to_scipy(self):
        return self.tocsr(canonical=False).to_scipy()

    def tocsc(self, canonical: bool = False, stream=None):
        """CSC form: the CSR form of the transpose, viewed as CSC (a sort; ``canonical`` as for
        ``tocsr``)."""
        if self.format == "csc":
            return self._deduped(stream) if canonical else self
        t = self.T if self.format == "coo" else self.tocoo(stream).T
        return t.tocsr(canonical=canonical, stream=stream).T


class CompressedArray(SparseArray):
    """CSR and CSC: buffers (data, indices, indptr) plus what is known about their order."""

    @property
    def paged(self) -> bool:
        """True when ``data``/``indices`` are 2-D paged buffers (how more than 2^31 - 1 entries are held)."""
        return self.data.ndim == 2

    def _flat_only(self, op: str) -> None:
        if self.paged:
            raise ValueError(
                f"{op}: not available for paged buffers (2-D data/indices, used for nnz >= 2^31); "
                "paged arrays support products (@, .T @, .H @), todense, astype, to_numpy/to_scipy and eval"
            )

    indices: mx.array
    indptr: mx.array
    _sorted: bool
    _canonical: bool

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

    def tocoo(self, stream=None):
        """COO form with the same entries in storage order (lazy; the values are shared, so it is
        differentiable in them)."""
        from ._coo import coo_array
        from ._device import resolve_stream
        from ._products import expand_rows

        self._flat_only("tocoo")
        s = resolve_stream(stream)
        major = expand_rows("tocoo", self.indptr, self.nnz, self.dtype, s)
        out = coo_array.__new__(coo_array)
        out.data, out._shape = self.data, self.shape
        out.row, out.col = (major, self.indices) if self.format == "csr" else (self.indices, major)
        return out

    def _with_data(self, data: mx.array):
        return type(self)._from_parts(data, self.indices, self.indptr, self.shape, self._sorted, self._canonical)

    def _deduped(self, stream=None):
        if self._canonical:
            return self
        if self.format == "csr":
            return self.sum_duplicates(stream=stream)
        return self.T.sum_duplicates(stream=stream).T


from . import _csr  # noqa: E402  (at the end: _csr builds on the classes above)
