"""Indexing: scipy's ``A[key]`` semantics over CSR buffers (CSC and COO reach it through their CSR views).

A key is parsed into one spec per axis: an integer, a slice or an index array (booleans become
their positions, negative indices wrap, anything outside raises ``IndexError``). Index arrays are
read on the host (an MLX index array is evaluated), as their values decide the output's size.

- Rows: a contiguous slice cuts the buffers at two row pointers (one synchronization); any other
  row set is gathered by our ``select_rows`` kernel, so the cost follows the output, not the matrix.
- Columns: ``select_cols_count`` / ``select_cols_fill`` over the (row-selected) entries, with the
  requested columns grouped per input column (repeats and any order allowed).
- Entries (``A[i, j]``, ``A[rows, cols]``): a binary search per query in the canonical form
  (``select_lookup``); lazy, the output size is the query count.

The fills copy the values too and write each entry's source position, which the derivative rules
use (a gather's: the vjp scatters back), so gradients flow to the input values. Functions take and return MLX buffers.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Optional

import mlx.core as mx
import numpy as np

from . import _kernels as K
from ._device import is_gpu
from . import _select
from ._select import _indptr, scan0

_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Axis:
    """One axis of a parsed key: ``kind`` 'int' (value), 'slice' (start, stop, step, length) or
    'array' (``idx``: a non-negative int64 numpy array, 1-D or 2-D)."""

    kind: str
    value: int = 0
    start: int = 0
    stop: int = 0
    step: int = 1
    length: int = 0
    idx: Optional[np.ndarray] = None

    def positions(self) -> np.ndarray:
        if self.kind == "int":
            return np.array([self.value], dtype=np.int64)
        if self.kind == "slice":
            return np.arange(self.start, self.stop, self.step, dtype=np.int64)[: self.length]
        return self.idx.reshape(-1)

    @property
    def count(self) -> int:
        return 1 if self.kind == "int" else self.length if self.kind == "slice" else int(self.idx.size)

    def is_full(self, dim: int) -> bool:
        return self.kind == "slice" and self.step == 1 and self.start == 0 and self.length == dim


def _is_int(k: Any) -> bool:
    if isinstance(k, (bool, np.bool_)):
        return False
    if isinstance(k, (int, np.integer)):
        return True
    if isinstance(k, (np.ndarray, mx.array)) and k.ndim == 0:
        return np.asarray(k).dtype.kind in "iu"
    return False


def _axis(op: str, k: Any, dim: int, which: str) -> Axis:
    if _is_int(k):
        i = int(np.asarray(k).item()) if isinstance(k, (np.ndarray, mx.array)) else operator.index(k)
        if not -dim <= i < dim:
            raise IndexError(f"{op}: {which} index {i} is out of range for size {dim}")
        return Axis("int", value=i + dim if i < 0 else i)
    if isinstance(k, slice):
        try:
            start, stop, step = k.indices(dim)
        except (ValueError, TypeError) as e:  # a zero step; bounds that are not integers
            raise type(e)(f"{op}: {which} slice {k!r}: {e}") from None
        return Axis("slice", start=start, stop=stop, step=step, length=len(range(start, stop, step)))
    if k is None:
        raise IndexError(f"{op}: new axes (None) are not supported: sparse arrays are 2-D")
    if getattr(k, "__mlx_sparse__", False) or hasattr(k, "tocsr"):
        raise IndexError(f"{op}: sparse index arrays are not supported; pass a dense boolean mask or index array")
    a = np.asarray(k)
    if a.dtype == bool:
        if a.ndim != 1:
            raise IndexError(f"{op}: a {a.ndim}-D boolean mask cannot index one axis")
        if a.size != dim:
            raise IndexError(f"{op}: boolean {which} mask of length {a.size} does not match size {dim}")
        return Axis("array", idx=np.flatnonzero(a).astype(np.int64), length=int(a.sum()))
    if a.size == 0 and a.dtype.kind == "f":  # [] parses as float64
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise IndexError(f"{op}: {which} indices must be integers, slices or boolean masks, got dtype {a.dtype}")
    if a.ndim > 2:
        raise IndexError(f"{op}: index arrays of more than 2 dimensions are not supported")
    a = a.astype(np.int64, copy=False)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if a.size and (lo < -dim or hi >= dim):
        raise IndexError(f"{op}: {which} index {lo if lo < -dim else hi} is out of range for size {dim}")
    return Axis("array", idx=np.where(a < 0, a + dim, a) if lo < 0 else a, length=int(a.size))


def parse_key(op: str, key: Any, shape: tuple[int, int]):
    """(row Axis, column Axis), or ('mask', rows, cols) for a 2-D boolean mask (its True positions)."""
    m, n = shape
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        if any(k is Ellipsis for k in key[i + 1:]):
            raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
        key = key[:i] + (slice(None),) * max(0, 2 - (len(key) - 1)) + key[i + 1:]
    if len(key) == 1:
        a = key[0]
        if not (_is_int(a) or isinstance(a, slice) or a is None):
            arr = np.asarray(a) if not getattr(a, "__mlx_sparse__", False) else None
            if arr is not None and arr.dtype == bool and arr.ndim == 2:
                if arr.shape != (m, n):
                    raise IndexError(f"{op}: boolean mask of shape {arr.shape} does not match the array's {shape}")
                r, c = np.nonzero(arr)
                return "mask", r.astype(np.int64), c.astype(np.int64)
        key = (a, slice(None))
    if len(key) != 2:
        raise IndexError(f"{op}: too many indices for a 2-D sparse array ({len(key)} given)")
    return _axis(op, key[0], m, "row"), _axis(op, key[1], n, "column")


# ---- kernels over CSR buffers ---------------------------------------------------------------------------
def _check_fits(op: str, it: mx.Dtype, *sizes: int) -> None:
    if it == mx.int32 and max(sizes) > _INT32_MAX:
        raise OverflowError(f"{op}: the result needs int64 indices ({max(sizes)} > 2^31 - 1); convert with "
                            "index_dtype=mx.int64 first")


def rows(op: str, data, indices, indptr, shape, ax: Axis, s: mx.Stream):
    """CSR buffers of the selected rows (storage order kept, so sorted/canonical input stays so)."""
    m, n = shape
    it = indices.dtype
    if ax.is_full(m):
        return data, indices, indptr
    if ax.kind == "slice" and ax.step == 1:  # a contiguous block: cut at two row pointers
        with mx.stream(s):
            ends = mx.stack([indptr[ax.start], indptr[ax.start + ax.length]])
        mx.eval(ends)
        a, b = (int(v) for v in ends.tolist())
        with mx.stream(s):
            return data[a:b], indices[a:b], indptr[ax.start: ax.start + ax.length + 1] - indptr[ax.start]
    r = ax.positions()
    nr = int(r.size)
    if nr == 0 or int(data.size) == 0:
        return data[:0], indices[:0], mx.zeros((nr + 1,), dtype=it, stream=s)
    with mx.stream(s):
        sel = mx.array(r.astype(np.int32 if it == mx.int32 else np.int64))
    (counts,) = K.prepare(op, "select_rows_count", data.dtype, it, s, dict(m=m, r=nr))(indptr=indptr, rows=sel)
    optr, nnz2 = _indptr(counts.astype(mx.int64, stream=s), s, op)
    _check_fits(op, it, nnz2)
    optr = optr.astype(it, stream=s)
    if nnz2 == 0:
        return data[:0], indices[:0], optr
    o = K.value_gathering(op, "select_rows", dict(indptr=indptr, indices=indices, data=data, rows=sel, optr=optr),
                          dict(m=m, nnz=int(data.size), r=nr, nnz2=nnz2), s)
    return o["out_data"], o["out_indices"], optr


def cols(op: str, data, indices, indptr, shape, ax: Axis, s: mx.Stream, sorted_rows: bool = False):
    """CSR buffers of the selected columns (output column t is input column positions()[t]); also
    whether the order within rows is kept (the selection is non-decreasing). A contiguous range runs
    the subset kernels (``sorted_rows``: by binary search); other selections the column gather."""
    m, n = shape
    it = indices.dtype
    if ax.is_full(n):
        return data, indices, indptr, True
    if ax.kind == "slice" and ax.step == 1:  # a column range: the subset kernels (binary search in sorted rows)
        if ax.length == 0:
            return data[:0], indices[:0], mx.zeros((m + 1,), dtype=it, stream=s), True
        d, i, p = _select.select(op, data, indices, indptr, shape, s, lo=ax.start, hi=ax.start + ax.length,
                                 sorted_rows=sorted_rows)
        return d, i, p, True
    c = ax.positions()
    q = int(c.size)
    _check_fits(op, it, q)
    ordered = bool(q < 2 or np.all(np.diff(c) >= 0))
    if q == 0 or int(data.size) == 0:
        return data[:0], indices[:0], mx.zeros((m + 1,), dtype=it, stream=s), True
    npi = np.int32 if it == mx.int32 else np.int64
    if is_gpu(s):  # the per-column lists on the device: only the q picks cross over
        with mx.stream(s):
            ca = mx.array(c.astype(np.int32 if n < 2**31 - 1 else np.int64))
            cnt = mx.zeros((n + 1,), dtype=mx.int32).at[ca + 1].add(mx.ones((q,), dtype=mx.int32))  # int32 scatter
            cptr_a = scan0(cnt[1:].astype(it), s, op)
            corder_a = mx.arange(q, dtype=it) if ordered else mx.argsort(ca).astype(it)
    else:
        cptr = np.zeros(n + 1, dtype=npi)
        np.cumsum(np.bincount(c, minlength=n), out=cptr[1:])
        corder = np.arange(q, dtype=npi) if ordered else np.argsort(c, kind="stable").astype(npi)
        with mx.stream(s):
            cptr_a, corder_a = mx.array(cptr), mx.array(corder)
    nnz = int(data.size)
    (counts,) = K.prepare(op, "select_cols_count", data.dtype, it, s, dict(m=m, n=n, nnz=nnz))(
        indptr=indptr, indices=indices, cptr=cptr_a)
    optr, nnz2 = _indptr(counts.astype(mx.int64, stream=s), s, op)
    _check_fits(op, it, nnz2)
    optr = optr.astype(it, stream=s)
    if nnz2 == 0:
        return data[:0], indices[:0], optr, True
    o = K.value_gathering(op, "select_cols_fill",
                          dict(indptr=indptr, indices=indices, data=data, cptr=cptr_a, corder=corder_a, optr=optr),
                          dict(m=m, n=n, nnz=nnz, q=q, nnz2=nnz2), s)
    return o["out_data"], o["out_indices"], optr, ordered


def lookup(op: str, data, indices, indptr, shape, r: np.ndarray, c: np.ndarray, s: mx.Stream) -> mx.array:
    """Values at (r[i], c[i]) of canonical CSR buffers (0 where nothing is stored), shaped as r; lazy."""
    m, n = shape
    it = indices.dtype
    q = int(r.size)
    if q == 0 or int(data.size) == 0:
        return mx.zeros(r.shape, dtype=data.dtype, stream=s)
    npi = np.int32 if it == mx.int32 else np.int64
    with mx.stream(s):
        ra, ca = mx.array(r.reshape(-1).astype(npi)), mx.array(c.reshape(-1).astype(npi))
    (pos,) = K.prepare(op, "select_lookup", data.dtype, it, s, dict(m=m, n=n, nnz=int(data.size), q=q))(
        indptr=indptr, indices=indices, rows=ra, cols=ca)
    with mx.stream(s):
        pos = mx.stop_gradient(pos)
        vals = mx.take(data, mx.maximum(pos, 0))
        return mx.where(pos >= 0, vals, mx.zeros((), dtype=data.dtype)).reshape(r.shape)


def lookup_positions(op: str, indices, indptr, shape, rows: mx.array, cols: mx.array, s: mx.Stream) -> mx.array:
    """Positions of the (rows[i], cols[i]) pairs (device arrays of the index dtype) in canonical CSR
    buffers, -1 where not stored; lazy."""
    m, n = shape
    q = int(rows.size)
    if q == 0 or int(indices.size) == 0:
        return mx.full((q,), -1, dtype=indices.dtype, stream=s)
    (pos,) = K.prepare(op, "select_lookup", mx.float32, indices.dtype, s, dict(m=m, n=n, nnz=int(indices.size), q=q))(
        indptr=indptr, indices=indices, rows=rows, cols=cols)
    return mx.stop_gradient(pos)
