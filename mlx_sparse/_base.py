"""The sparse base classes: behaviour shared by every format, over the op families.

Formats register their class in ``FORMATS`` (so conversions between formats need no import cycle);
the families (``_products``, ``_convert``, ...) work on buffers and import no container.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from . import _canonical, _convert, _ewise, _index, _ops, _products, _reduce, _select, _spgemm, _spmv
from ._coerce import as_dense, as_dense_broadcast, check_shape
from ._device import is_gpu, resolve_stream
from ._kernels import VALUE_TYPES, user_op

FORMATS: dict = {}  # "csr" / "csc" / "coo" -> class, filled by each format's module


class SparseArray:
    """Behaviour shared by every format; subclasses hold immutable MLX buffers."""

    __mlx_sparse__ = True  # how the families recognise a sparse operand (they import no container)
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
        """Format, shape, dtype, stored entries, index dtype and the device its operations run on by
        default (MLX buffers are not tied to a device); reads only metadata, evaluates nothing."""
        dev = "gpu" if mx.default_device().type == mx.DeviceType.gpu else "cpu"
        return (
            f"<{self.shape[0]}x{self.shape[1]} {self.format}_array of {self.dtype} with {self.nnz} stored "
            f"elements, {self.index_dtype} indices, device={dev}>"
        )

    # ---- indexing (scipy's semantics; see _index) ------------------------------------------
    def __getitem__(self, key):
        """``A[i, j]`` (a 0-d MLX array), ``A[rows, cols]`` with two index arrays (their values,
        elementwise, as a dense MLX array; ``np.ix_``-shaped arrays select a submatrix), a 2-D boolean
        mask (the masked values), and any mix of integers, slices, index arrays and boolean masks per
        axis (a sparse array of this format). An integer on one axis keeps it as length 1: ``A[i]``
        is a 1 x n sparse array (scipy's matrices do this; its 1-D sparse arrays are not provided).
        Out-of-range indices raise ``IndexError``. Lazy except where the output size needs the
        structure (one synchronization)."""
        op = f"{self.format}_array[...]"
        s = resolve_stream(None)
        spec = _index.parse_key(op, key, self.shape)
        if spec[0] == "mask":
            return self._lookup(op, spec[1], spec[2], s)
        ra, ca = spec
        if ra.kind == "int" and ca.kind == "int":
            return self._lookup(op, np.array(ra.value), np.array(ca.value), s)
        if ra.kind == "array" and ca.kind == "array":
            R, C = ra.idx, ca.idx
            if R.ndim == 2 and R.shape[1] == 1 and (C.ndim == 1 or C.shape[0] == 1):  # np.ix_: a submatrix
                ra = _index.Axis("array", idx=R.reshape(-1), length=R.size)
                ca = _index.Axis("array", idx=C.reshape(-1), length=C.size)
            else:
                try:
                    R, C = np.broadcast_arrays(R, C)
                except ValueError:
                    raise IndexError(f"{op}: index arrays of shapes {R.shape} and {C.shape} do not broadcast") from None
                return self._lookup(op, R, C, s)
        elif (ra.kind == "array" and ra.idx.ndim != 1) or (ca.kind == "array" and ca.idx.ndim != 1):
            raise IndexError(f"{op}: a 2-D index array needs a 2-D index array on the other axis")
        return self._submatrix(op, ra, ca, s)

    def __setitem__(self, key, value):
        raise TypeError(f"{self.format}_array does not support item assignment: its buffers are immutable; "
                        "build a new array (setdiag, or from modified data/indices)")

    def _lookup(self, op: str, r: np.ndarray, c: np.ndarray, s) -> mx.array:
        if self.format == "csc":
            f, r, c = self._deduped(s).T, c, r
        else:
            f = self.tocsr(canonical=True, stream=s)
        f._flat_only(op)
        return _index.lookup(op, f.data, f.indices, f.indptr, f.shape, r, c, s)

    def _submatrix(self, op: str, ra, ca, s) -> "SparseArray":
        form = self._compressed(s)
        form._flat_only(op)
        csc = form.format == "csc"
        if csc:  # index the CSR view of the transpose with the axes swapped
            form, ra, ca = form.T, ca, ra
        m, n = form.shape
        d, i, p = _index.rows(op, form.data, form.indices, form.indptr, (m, n), ra, s)
        d, i, p, ordered = _index.cols(op, d, i, p, (ra.count, n), ca, s, sorted_rows=form._sorted)
        out = FORMATS["csr"]._from_parts(d, i, p, (ra.count, ca.count), form._sorted and ordered,
                                         form._canonical and ordered)
        if csc:
            out = out.T
        return out.tocoo(stream=s) if self.format == "coo" else out

    def _compressed(self, stream=None, op=None) -> "CompressedArray":
        """CSR/CSC buffers for products: the array itself, or (COO) its CSR form, converted once per
        stream and kept (the buffers are immutable); ``op``: the user's operation, which errors of
        the conversion name."""
        if isinstance(self, CompressedArray):
            return self
        s = resolve_stream(stream)
        parent = self.__dict__.get("_transpose_of")
        if parent is not None and all(a is b for a, b in zip(self._buffers(), (parent.data, parent.col, parent.row))):
            return parent._compressed(s, op).T  # the original's CSR form as a CSC view: nothing sorted
        cache = self.__dict__.setdefault("_csr_cache", {})
        bufs = self._buffers()
        key = (str(s), *map(id, bufs))
        entry = cache.get(key)  # one lookup: another thread may change the cache meanwhile
        if entry is None:
            with user_op(op or "tocsr"):
                entry = (self.tocsr(canonical=False, stream=s), bufs)  # the buffers held: their ids stay unique
            if len(cache) >= 4 or any(k[1:] != key[1:] for k in list(cache)):
                cache.clear()  # buffers replaced: drop the stale forms (and keep a few streams' only)
            cache[key] = entry
        return entry[0]

    def analyze(self, stream=None) -> "SparseArray":
        """Evaluate the structure once and choose the GPU SpMV schedule from its row lengths: lanes
        per row, or the merge path (equal shares of rows + nonzeros per block) when rows are uneven.
        The choice is kept with the structure (arrays sharing it use it). CSR/CSC arrays built from
        host buffers (numpy, scipy) or with ``validate="full"`` are analyzed already; call this for
        ones built on the device (``coo.tocsr()``) and for COO arrays (it plans the CSR form their
        products use). It also keeps 16-bit column offsets (column - row) when every entry lies
        within 32767 of the diagonal (banded matrices, PDE stencils): SpMV then reads 2 bytes per
        entry in place of 4 or 8, at 2 bytes per entry of memory (arrays built from host buffers
        keep them at construction too). Synchronizes; returns self."""
        form = self._compressed(resolve_stream(stream))
        _spmv.analyze(form.indptr, form.indices, form.nnz, form._csr_shape[0])
        return self

    def __matmul__(self, other):
        if getattr(other, "__mlx_sparse__", False):  # sparse @ sparse: the staged product
            return self._matmul_sparse(other)
        return _products.csr_matmul(self._compressed(op="matmul"), other)

    # ---- sparse +/- sparse (scipy's operators; union structure, duplicates summed) --------------
    def _add(self, other, sign: int, op: str, stream=None):
        """A + sign * other. Sparse other: canonical sparse of the union structure, entries that
        cancel stay stored (``eliminate_zeros()`` removes them; scipy drops exact zeros here), CSC
        when both are CSC, else CSR; one synchronization (the union's nnz); differentiable in both
        values. Dense other: a dense result. A scalar: only 0 (scipy's rule)."""
        s = resolve_stream(stream)
        if getattr(other, "__mlx_sparse__", False):
            return self._merged(other, op, s, negate=sign < 0)  # a merge of the canonical rows (our kernels)
        if isinstance(other, (int, float, complex, np.number)) or (isinstance(other, (mx.array, np.ndarray))
                                                                   and other.ndim == 0):
            if complex(np.asarray(other)) != 0:
                raise NotImplementedError(f"{op}: adding a nonzero scalar to a sparse array is not supported")
            return self.copy()
        X = as_dense_broadcast(op, other, self.shape)
        with mx.stream(s):
            D = self.todense(stream=s)
            return D + X if sign > 0 else D - X

    def _extreme_with(self, other, which: str, stream=None):
        """scipy's ``maximum`` / ``minimum`` with another sparse array (the union structure, a missing
        entry counting 0; our merge kernels on either device), a dense
        array (a dense result) or 0 (the positive / negative part)."""
        op = "maximum" if which == "max" else "minimum"
        s = resolve_stream(stream)
        if getattr(other, "__mlx_sparse__", False):
            return self._merged(other, op, s, extreme=which)
        if mx.issubdtype(self.dtype, mx.complexfloating):
            raise TypeError(f"{op}: complex values have no ordering")
        if np.ndim(other) == 0:
            c = self._scalar(op, other)
            if complex(np.asarray(c)) != 0:
                raise NotImplementedError(f"{op}: a nonzero scalar would fill the array; use A.todense()")
            return self._map(op, lambda d: mx.maximum(d, 0) if which == "max" else mx.minimum(d, 0), s)
        X = as_dense_broadcast(op, other, self.shape)
        with mx.stream(s):
            D = self.todense(stream=s)
            return mx.maximum(D, X) if which == "max" else mx.minimum(D, X)

    @user_op("maximum")
    def maximum(self, other, stream=None):
        """The elementwise larger of this array and ``other`` (scipy's ``maximum``)."""
        return self._extreme_with(other, "max", stream)

    @user_op("minimum")
    def minimum(self, other, stream=None):
        """The elementwise smaller of this array and ``other`` (scipy's ``minimum``)."""
        return self._extreme_with(other, "min", stream)

    @user_op("add")  # errors of the steps (sum_duplicates of an operand) name the user's operation
    def __add__(self, other):
        return self._add(other, 1, "add")

    @user_op("add")
    def __radd__(self, other):
        return self._add(other, 1, "add")

    @user_op("subtract")
    def __sub__(self, other):
        return self._add(other, -1, "subtract")

    @user_op("subtract")
    def __rsub__(self, other):  # other - A
        return (-self)._add(other, 1, "subtract")

    @user_op("matmul")
    def _matmul_sparse(self, B, stream=None) -> "SparseArray":
        """``A @ B`` of two sparse arrays of any formats: canonical CSR (CSC when both are CSC: the
        product of their transposes' CSR buffers). One synchronization on the CPU (the output's
        nnz), two on the GPU."""
        return SpGEMMPlan(self, B, stream, keep=False).result

    def __rmatmul__(self, other):
        return _products.rmatmul(other, self._compressed(op="rmatmul"))

    @property
    def H(self) -> "SparseArray":
        """The conjugate transpose (values conjugated lazily for complex dtypes)."""
        t = self.T
        return t.conj() if mx.issubdtype(self.dtype, mx.complexfloating) else t

    @user_op("todense")
    def todense(self, stream=None) -> mx.array:
        return self._compressed(stream).todense(stream=stream)

    # ---- value-wise operations (same pattern; lazy and differentiable in the values) ----------
    def _with_data(self, data: mx.array) -> "SparseArray":
        """The same structure (and format) with new values."""
        raise NotImplementedError

    def _map(self, op: str, fn, stream=None) -> "SparseArray":
        with mx.stream(resolve_stream(stream)):
            data = fn(self.data)
        if data.dtype not in VALUE_TYPES:
            raise TypeError(f"{op}: result dtype {data.dtype} is not a supported value type")
        return self._with_data(data)

    def _scalar(self, op: str, c: Any) -> mx.array:
        if self.dtype == mx.float64 and not isinstance(c, mx.array) and np.ndim(c) == 0 \
                and np.asarray(c).dtype.kind in "biuf":  # mx.array(1.3) alone would round it to float32
            return mx.array(np.asarray(c, dtype=np.float64), dtype=mx.float64)
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

    @user_op("multiply")
    def multiply(self, other, stream=None):
        """Elementwise product with a scalar, a dense array broadcastable to the shape, or another
        sparse array (the intersection of the two structures; canonical CSR, CSC when both are CSC;
        products that are zero stay stored, so the structure does not depend on the values and the
        result is differentiable in both; scipy drops them)."""
        if isinstance(other, SparseArray):
            return self._multiply_sparse(other, stream)
        if np.ndim(other) == 0:
            c = self._scalar("multiply", other)
            return self._map("multiply", lambda d: d * c, stream)
        return _ops.multiply_dense(self._compressed(stream), other, stream=stream)

    def _pair_operands(self, other, op: str):
        """Two sparse arrays of one shape as the CSR operands of an elementwise operation (the CSR
        buffers of the transposes when both are CSC), their common value dtype, and the function
        that wraps the result's canonical CSR buffers in the right format."""
        if self.shape != other.shape:
            raise ValueError(f"{op}: shape mismatch, {self.shape} and {other.shape}")
        dt = _spgemm.result_dtype(op, self.dtype, other.dtype)
        both_csc = self.format == "csc" and other.format == "csc"
        a, b = (self.T, other.T) if both_csc else (self, other)

        def wrap(d, i, p):
            out = FORMATS["csr"]._from_parts(d, i, p, a.shape, True, True)
            return out.T if both_csc else out

        return a, b, dt, wrap

    def _merged(self, other, op: str, s, **kind) -> "SparseArray":
        """The ewise family's merge (union or intersection) of the canonical forms of two arrays."""
        a, b, dt, wrap = self._pair_operands(other, op)
        a, b = a.tocsr(canonical=True, stream=s), b.tocsr(canonical=True, stream=s)
        a._flat_only(op), b._flat_only(op)
        it = mx.int64 if mx.int64 in (a.index_dtype, b.index_dtype) else mx.int32
        bufs = [(x.data.astype(dt, stream=s), x.indices.astype(it, stream=s), x.indptr.astype(it, stream=s))
                for x in (a, b)]
        return wrap(*_ewise.merge(op, *bufs, a.shape, s, **kind))

    def _multiply_sparse(self, other, stream=None) -> "SparseArray":
        op = "multiply"
        s = resolve_stream(stream)
        return self._merged(other, op, s, intersect=True)  # a merge of the canonical rows (our kernels)

    def conj(self, stream=None) -> "SparseArray":
        """Complex conjugate of the values (a no-op node for real types)."""
        return self._map("conj", mx.conj, stream)

    conjugate = conj

    def _deduped(self, stream=None) -> "SparseArray":
        """The same array, same format, with duplicates summed (synchronizes once unless canonical)."""
        raise NotImplementedError

    @user_op("power")
    def power(self, p, stream=None) -> "SparseArray":
        """Elementwise power (scipy's ``power``): duplicates are summed first, the pattern is kept."""
        if not isinstance(p, mx.array) and np.ndim(p) == 0 and p == 0:
            raise ValueError("power: a zero power would make every entry 1 (dense); use todense() ** 0")
        c = self._scalar("power", p)
        real = not mx.issubdtype(self.dtype, mx.complexfloating)
        return self._deduped(stream)._map("power", lambda d: mx.power(d, c.astype(d.dtype) if real else c), stream)

    @user_op("abs")
    def __abs__(self):
        """Elementwise absolute value; duplicates are summed first (|a + b|, as scipy)."""
        return self._deduped()._map("abs", mx.abs)

    def __pow__(self, p):
        return self.power(p)

    @user_op("sum")
    def sum(self, axis=None, stream=None) -> mx.array:
        """Sum of all entries (``axis=None``: a scalar), of each column (``axis=0``: shape (n,)) or of
        each row (``axis=1``: shape (m,)); duplicates count, as in scipy. Lazy and differentiable."""
        s = resolve_stream(stream)
        m, n = self.shape
        if axis is None:
            return mx.sum(self.data, stream=s)
        if axis not in (0, 1, -1, -2):
            raise ValueError(f"sum: axis must be None, 0 or 1, got {axis!r}")
        if axis in (1, -1):
            return self.__matmul__(mx.ones((n,), dtype=self.dtype, stream=s)) if n else mx.zeros((m,), self.dtype, stream=s)
        return self.T.__matmul__(mx.ones((m,), dtype=self.dtype, stream=s)) if m else mx.zeros((n,), self.dtype, stream=s)

    @user_op("mean")
    def mean(self, axis=None, stream=None) -> mx.array:
        """Mean over all m*n entries (zeros included) or along an axis, as scipy."""
        m, n = self.shape
        count = m * n if axis is None else (m if axis in (0, -2) else n)
        total = self.sum(axis=axis, stream=stream)
        return total / count if count else total * float("nan")

    # ---- scipy's small container methods (new arrays: containers are immutable) ---------------
    def copy(self) -> "SparseArray":
        """A new array over the same (immutable) buffers."""
        return self._with_data(self.data)

    @property
    def real(self) -> "SparseArray":
        """The real parts, same pattern (lazy)."""
        return self._map("real", mx.real)

    @property
    def imag(self) -> "SparseArray":
        """The imaginary parts, same pattern (zeros for real types; lazy)."""
        return self._map("imag", mx.imag)

    def prune(self) -> "SparseArray":
        """scipy's ``prune`` drops storage past nnz; these buffers hold exactly nnz entries: self."""
        return self

    def setdiag(self, values, k: int = 0, stream=None) -> "SparseArray":
        """A new array with the k-th diagonal set to ``values`` (a scalar or one value per diagonal
        entry; stored explicitly, zeros too, as scipy), other entries kept (duplicates summed), in this
        format. Staged (one synchronization per selection and one for the canonical nnz)."""
        op = "setdiag"
        s = resolve_stream(stream)
        m, n = self.shape
        k = int(k)
        length = max(0, min(m + min(k, 0), n - max(k, 0)))
        c = self.tocsr(canonical=True, stream=s)
        c._flat_only(op)
        with mx.stream(s):
            v = values if isinstance(values, mx.array) else mx.array(np.asarray(values))
            v = mx.broadcast_to(v, (length,)) if v.ndim == 0 else v[:length]
        if v.size != length:
            raise ValueError(f"{op}: {v.size} values for a diagonal of {length} entries")
        parts = []
        for keep in (dict(lower=True, k=k - 1), dict(upper=True, k=k + 1)):  # everything off the diagonal
            d, ind, ptr = _select.select(op, c.data, c.indices, c.indptr, (m, n), s, **keep)
            parts.append((d, _convert.expand_rows(op, ptr, int(d.size), d.dtype, s), ind))
        it = c.index_dtype
        with mx.stream(s):
            r0 = mx.arange(length, dtype=mx.int64) + max(0, -k)
            parts.append((v.astype(c.dtype), r0, r0 + k))
            data = mx.concatenate([p[0] for p in parts])
            row = mx.concatenate([p[1].astype(it) for p in parts])
            col = mx.concatenate([p[2].astype(it) for p in parts])
        d, ind, ptr = _canonical.coo_to_canonical(op, row, col, data, (m, n), s)
        out = FORMATS["csr"]._from_parts(d, ind, ptr, (m, n), True, True)
        return out if self.format == "csr" else getattr(out, "to" + self.format)(stream=s)

    def reshape(self, shape, order: str = "C", stream=None) -> "SparseArray":
        """The same entries in a new shape of equal size (row-major order, or column-major with
        ``order="F"``, as scipy), duplicates summed, in this format."""
        op = "reshape"
        s = resolve_stream(stream)
        m, n = self.shape
        try:
            m2, n2 = (int(x) for x in shape)
        except Exception:
            raise ValueError(f"{op}: shape must be a pair of ints, got {shape!r}") from None
        if m2 < 0 or n2 < 0 or m2 * n2 != m * n:
            raise ValueError(f"{op}: cannot reshape {self.shape} into {(m2, n2)}")
        if order not in ("C", "F"):
            raise ValueError(f"{op}: order must be 'C' or 'F', got {order!r}")
        if (m2, n2) == (m, n):
            return self
        c = self.tocoo(stream=s)
        it = mx.int64 if max(m2, n2, c.nnz) > 2**31 - 1 else c.index_dtype
        with mx.stream(s):
            r, q = c.row.astype(mx.int64), c.col.astype(mx.int64)
            if order == "C":
                lin = r * n + q
                row, col = lin // max(n2, 1), lin % max(n2, 1)
            else:
                lin = q * m + r
                row, col = lin % max(m2, 1), lin // max(m2, 1)
        d, ind, ptr = _canonical.coo_to_canonical(op, row.astype(it, stream=s), col.astype(it, stream=s), c.data,
                                                  (m2, n2), s)
        out = FORMATS["csr"]._from_parts(d, ind, ptr, (m2, n2), True, True)
        return out if self.format == "csr" else getattr(out, "to" + self.format)(stream=s)

    def resize(self, *shape, stream=None) -> None:
        """Change the shape in place, as scipy: entries outside the new shape are dropped, new rows and
        columns are empty. The one method that changes the array (its buffers are replaced, never
        written); returns None. Synchronizes once when rows or columns are cut."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        m2, n2 = check_shape("resize", tuple(shape))
        s = resolve_stream(stream)
        if self.format == "coo":  # through its CSR form (entries grouped by row)
            c = self.tocsr(canonical=False, stream=s)
            c.resize((m2, n2), stream=s)
            o = c.tocoo(stream=s)
            self.data, self.row, self.col, self._shape, self._canonical = o.data, o.row, o.col, o.shape, o._canonical
            self._drop_views()
            return None
        self._flat_only("resize")
        csc = self.format == "csc"
        form = self.T if csc else self
        (m, n), (mm, nn) = form.shape, ((n2, m2) if csc else (m2, n2))
        d, i, p = _index.rows("resize", form.data, form.indices, form.indptr, (m, n),
                              _index.Axis("slice", start=0, stop=min(m, mm), step=1, length=min(m, mm)), s)
        d, i, p, _ = _index.cols("resize", d, i, p, (min(m, mm), n),
                                 _index.Axis("slice", start=0, stop=min(n, nn), step=1, length=min(n, nn)), s,
                                 sorted_rows=form._sorted)
        if mm > m:
            with mx.stream(s):
                p = mx.concatenate([p, mx.broadcast_to(p[-1:], (mm - m,))])
        out = FORMATS["csr"]._from_parts(d, i, p, (mm, nn), form._sorted, form._canonical)
        out = out.T if csc else out
        self.data, self.indices, self.indptr, self._shape = out.data, out.indices, out.indptr, out.shape
        self._sorted, self._canonical = out._sorted, out._canonical
        self._drop_views()
        return None

    def _drop_views(self) -> None:
        for k in ("_t", "_csr_cache", "_transpose_of"):  # views and forms of the old shape
            self.__dict__.pop(k, None)

    # ---- entry selection (staged: count, prefix, one sync of the total, fill) ------------------
    def eliminate_zeros(self, stream=None) -> "SparseArray":
        """The same array without its explicitly stored zeros (a new array: containers are immutable;
        scipy changes the array in place). Duplicates are not summed first (as in scipy)."""
        return self._selected("eliminate_zeros", stream, nonzero=True)

    def _tri(self, op: str, lower: bool, k: int, stream=None) -> "SparseArray":
        """Entries on or below (lower) / above (upper) the k-th diagonal, in this array's format."""
        if self.format == "csc":  # CSC buffers are the CSR buffers of A^T: tril_k(A) = triu_-k(A^T)^T
            return self._selected(op, stream, lower=not lower, upper=lower, k=-int(k))
        return self._selected(op, stream, lower=lower, upper=not lower, k=int(k))

    def _selected(self, op: str, stream, **keep) -> "SparseArray":
        s = resolve_stream(stream)
        if self.format == "coo":
            c = self.tocsr(canonical=False, stream=s)._selected(op, s, **keep)
            return c.tocoo(stream=s)
        self._flat_only(op)
        data, indices, indptr = _select.select(op, self.data, self.indices, self.indptr, self._csr_shape, s,
                                               sorted_rows=self._sorted, **keep)
        if data is self.data:
            return self
        return type(self)._from_parts(data, indices, indptr, self.shape, self._sorted, self._canonical)

    # ---- reductions (dense MLX results; lazy unless duplicates must be summed first) --------------
    def diagonal(self, k: int = 0, stream=None) -> mx.array:
        """The k-th diagonal as a dense vector (duplicates summed), as scipy's ``diagonal``; lazy."""
        s = resolve_stream(stream)
        form = self._compressed(s)
        form._flat_only("diagonal")
        kk = -int(k) if form.format == "csc" else int(k)  # CSC buffers are the CSR of the transpose
        return _reduce.diagonal("diagonal", form.data, form.indices, form.indptr, form._csr_shape, kk, s)

    def trace(self, k: int = 0, stream=None) -> mx.array:
        """Sum of the k-th diagonal; lazy."""
        s = resolve_stream(stream)
        return mx.sum(self.diagonal(k, stream=s), stream=s)

    def _rows_canonical(self, op: str, axis, s):
        """Canonical CSR buffers whose rows run along the reduced axis' complement: A's (axis None or
        1), or A^T's (axis 0), with that matrix's shape."""
        if axis not in (None, 0, 1, -1, -2):
            raise ValueError(f"{op}: axis must be None, 0 or 1, got {axis!r}")
        form = self.tocsc(canonical=True, stream=s) if axis in (0, -2) else self.tocsr(canonical=True, stream=s)
        form._flat_only(op)
        return form.data, form.indices, form.indptr, form._csr_shape

    def _extreme(self, op: str, axis, largest: bool, stream):
        s = resolve_stream(stream)
        with user_op(op):  # errors of the canonicalization name the user's operation
            data, _, indptr, shape = self._rows_canonical(op, axis, s)
            return _reduce.extreme(op, data, indptr, shape, None if axis is None else 1, largest, s)

    def max(self, axis=None, stream=None) -> mx.array:
        """Largest entry, implicit zeros included (scipy's ``max``): a scalar (axis None) or one per
        column (axis 0) / row (axis 1), as dense MLX arrays. Duplicates are summed first."""
        return self._extreme("max", axis, True, stream)

    def min(self, axis=None, stream=None) -> mx.array:
        """Smallest entry, implicit zeros included; see :meth:`max`."""
        return self._extreme("min", axis, False, stream)

    def _arg_extreme(self, op: str, axis, largest: bool, stream):
        s = resolve_stream(stream)
        with user_op(op):
            data, indices, indptr, shape = self._rows_canonical(op, axis, s)
            return _reduce.arg_extreme(op, data, indices, indptr, shape, None if axis is None else 1, largest, s)

    def argmax(self, axis=None, stream=None) -> mx.array:
        """Position of the first largest entry, implicit zeros included (scipy's ``argmax``): a flat
        row-major index (axis None, 0-d) or one per column (axis 0: row indices) / row (axis 1:
        column indices), int64 MLX arrays; lazy. Duplicates are summed first."""
        return self._arg_extreme("argmax", axis, True, stream)

    def argmin(self, axis=None, stream=None) -> mx.array:
        """Position of the first smallest entry, implicit zeros included; see :meth:`argmax`."""
        return self._arg_extreme("argmin", axis, False, stream)

    def row_sums(self, stream=None) -> mx.array:
        """Sum of each row (shape (m,)); lazy."""
        return self.sum(axis=1, stream=stream)

    def col_sums(self, stream=None) -> mx.array:
        """Sum of each column (shape (n,)); lazy."""
        return self.sum(axis=0, stream=stream)

    column_sums = col_sums

    def _norms(self, op: str, axis: int, stream) -> mx.array:
        s = resolve_stream(stream)
        data, _, indptr, shape = self._rows_canonical(op, axis, s)
        return mx.sqrt(_reduce.row_sq_norms(op, data, indptr, shape, s), stream=s)

    def row_norms(self, stream=None) -> mx.array:
        """Euclidean norm of each row (shape (m,)); duplicates summed first."""
        return self._norms("row_norms", 1, stream)

    def col_norms(self, stream=None) -> mx.array:
        """Euclidean norm of each column (shape (n,)); duplicates summed first."""
        return self._norms("col_norms", 0, stream)

    column_norms = col_norms

    def count_nonzero(self, stream=None) -> int:
        """Number of nonzero entries after summing duplicates (scipy's ``count_nonzero``); evaluates."""
        s = resolve_stream(stream)
        data = self.tocsr(canonical=True, stream=s).data
        return int(mx.sum(data != 0, stream=s).item())

    def toarray(self, stream=None) -> mx.array:
        """Alias of :meth:`todense` (an MLX array, lazy)."""
        return self.todense(stream=stream)

    def to_scipy(self):
        return self.tocsr(canonical=False).to_scipy()

    @user_op("tocsc")
    def tocsc(self, canonical: bool = False, stream=None):
        """CSC form: the CSR form of the transpose, viewed as CSC (a sort; ``canonical`` as for
        ``tocsr``)."""
        if self.format == "csc":
            return self._deduped(stream) if canonical else self
        if self.format == "csr" and not self.paged:  # one counting-sort transpose (sorted output)
            s = resolve_stream(stream)
            src = self._deduped(s) if canonical else self
            d, i, p = _convert.transpose_csr("tocsc", src.data, src.indices, src.indptr, src.shape, s)
            return FORMATS["csc"]._from_parts(d, i, p, self.shape, True, src._canonical)
        # a canonical source regroups into canonical CSC by the lazy (stable) conversion: no sync
        known = self.has_canonical_format
        t = self.T if self.format == "coo" else self.tocoo(stream).T
        out = t.tocsr(canonical=canonical and not known, stream=stream)
        if known and not out.has_canonical_format:
            out = type(out)._from_parts(out.data, out.indices, out.indptr, out.shape, True, True)
        return out.T


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
        self._flat_only("tocoo")
        major = _convert.expand_rows("tocoo", self.indptr, self.nnz, self.dtype, resolve_stream(stream))
        row, col = (major, self.indices) if self.format == "csr" else (self.indices, major)
        return FORMATS["coo"]._from_parts(self.data, row, col, self.shape, self.format == "csr" and self._canonical)

    def _with_data(self, data: mx.array):
        return type(self)._from_parts(data, self.indices, self.indptr, self.shape, self._sorted, self._canonical)

    def sort_indices(self, stream=None):
        """The same entries with each row's (CSC: column's) indices sorted, duplicates kept (a new array:
        containers are immutable; scipy sorts in place). Lazy; differentiable in the values."""
        if self._sorted:
            return self
        self._flat_only("sort_indices")
        s = resolve_stream(stream)
        m, n = self._csr_shape
        data, indices = _canonical.sort_indices("sort_indices", self.data, self.indices, self.indptr, (m, n), s)
        return type(self)._from_parts(data, indices, self.indptr, self.shape, True, self._canonical)

    @property
    def has_sorted_indices(self) -> bool:
        """Whether each row's (CSC: column's) indices are known to be sorted (scipy's name)."""
        return self._sorted

    def _deduped(self, stream=None):
        if self._canonical:
            return self
        if self.format == "csr":
            return self.sum_duplicates(stream=stream)
        return self.T.sum_duplicates(stream=stream).T



class SpGEMMPlan:
    """``ms.spgemm_plan(A, B)``: the symbolic product of A and B, kept. ``plan(A2, B2)`` for arrays
    with the same formats and structures as A and B (new values: a Galerkin triple product in
    multigrid, a graph layer with learned edge weights) runs only the numeric pass: lazy, no
    synchronization, differentiable in both values. ``plan.result`` is A @ B. The structures are
    not compared (that would synchronize): only formats, shapes and nnz are checked."""

    def __init__(self, A, B, stream=None, op: str = "matmul", keep: bool = True):
        if not (getattr(A, "__mlx_sparse__", False) and getattr(B, "__mlx_sparse__", False)):
            raise TypeError(f"{op}: expected two sparse arrays, got {type(A).__name__} and {type(B).__name__}")
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"{op}: shape mismatch, A is {A.shape} and B is {B.shape}")
        self.op, self.s = op, resolve_stream(stream)
        self.key = (A.format, A.shape, A.nnz, B.format, B.shape, B.nnz)
        self.dtype = _spgemm.result_dtype(op, A.dtype, B.dtype)
        self.both_csc = A.format == "csc" and B.format == "csc"
        with user_op(op):  # errors of the operands' conversions name the user's operation
            x, y = self._operands(A, B)
            m, k, n = x.shape[0], x.shape[1], y.shape[1]
            self.shape = (m, n)
            self.numeric, self.indptr = _spgemm.plan(op, x.indices, x.indptr, y.indices, y.indptr, (m, k, n),
                                                     self.dtype, self.s, keep=keep)
            self.result = self._wrap(*self.numeric(x.data.astype(self.dtype, stream=self.s),
                                                   y.data.astype(self.dtype, stream=self.s)))

    def _operands(self, A, B):
        """The CSR buffers the product runs on (their structure depends only on A's and B's)."""
        s = self.s
        if self.both_csc:  # C^T = B^T A^T
            x, y = B.T, A.T
        else:  # duplicates need no summing first: the product accumulates them
            x = A if A.format == "csr" else A.tocsr(canonical=False, stream=s)
            y = B if B.format == "csr" else B.tocsr(canonical=False, stream=s)
        x._flat_only(self.op), y._flat_only(self.op)
        if not y.has_sorted_indices:  # the product merges B's rows (a lazy, differentiable sort)
            y = y.sort_indices(stream=s)
        return x, y

    def _wrap(self, data, indices):
        out = FORMATS["csr"]._from_parts(data, indices, self.indptr, self.shape, True, True)
        return out.T if self.both_csc else out

    def __call__(self, A, B):
        key = (A.format, A.shape, A.nnz, B.format, B.shape, B.nnz)
        if key != self.key:
            raise ValueError(f"spgemm_plan: planned for {self.key[:3]} @ {self.key[3:]}, got {key[:3]} @ {key[3:]}")
        with user_op(self.op):
            x, y = self._operands(A, B)
            return self._wrap(*self.numeric(x.data.astype(self.dtype, stream=self.s),
                                            y.data.astype(self.dtype, stream=self.s)))


def spgemm_plan(A, B, stream=None) -> SpGEMMPlan:
    """The symbolic product of A and B, for repeated products with new values on the same structures
    (see :class:`SpGEMMPlan`). Synchronizes once (twice on the GPU); each use then does not."""
    return SpGEMMPlan(A, B, stream, op="spgemm_plan")
