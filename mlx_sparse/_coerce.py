"""Input coercion shared by the containers and the op families: buffers, dtypes, shapes, validation modes, paging."""

from __future__ import annotations

import operator
import warnings
from typing import Any, Optional, Sequence

import mlx.core as mx
import numpy as np

from ._kernels import INDEX_TYPES, VALUE_TYPES
from .config import default_validate

VALIDATE_MODES = (False, "metadata", "full")
_INT32_MAX = 2**31 - 1


def check_validate(op: str, validate: Any) -> Any:
    if validate is None:  # the package default (ms.set_config(validate=...))
        validate = default_validate()
    if validate is True:
        return "full"
    if validate not in VALIDATE_MODES:
        raise ValueError(f"{op}: validate must be 'metadata', 'full' or False, got {validate!r}")
    return validate


_INT64_MAX = 2**63 - 1


def check_shape(op: str, shape: Any) -> tuple[int, int]:
    """(m, n) as Python ints: a pair of integers (NumPy or 0-d MLX integers too; scipy's rule: no
    floats, strings or other types), each in [0, 2^63 - 1]."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{op}: shape must be a pair of non-negative ints, got {shape!r}") from None
    if len(dims) != 2:
        raise ValueError(f"{op}: shape must be a pair of non-negative ints, got {shape!r}")
    try:
        m, n = (operator.index(s) for s in dims)
    except TypeError:
        raise TypeError(f"{op}: shape entries must be integers, got {shape!r}") from None
    if m < 0 or n < 0:
        raise ValueError(f"{op}: shape must be non-negative, got {shape!r}")
    if max(m, n) > _INT64_MAX:
        raise OverflowError(f"{op}: shape {shape!r} exceeds the int64 index range")
    return m, n


def _complex_warning(op: str, dtype) -> None:
    """NumPy's (and so scipy's) warning when complex values are cast to a real type."""
    warnings.warn(f"{op}: casting complex values to {dtype} discards the imaginary part",
                  getattr(np, "exceptions", np).ComplexWarning, stacklevel=4)


def _host_numeric(op: str, x: Any, ragged: str, what: str) -> np.ndarray:
    """A host operand as a NumPy array: ragged nested lists and non-numeric input raise, naming ``op``."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise ValueError(f"{op}: {ragged} ({e})") from None
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{op}: {what} must be numeric, got {a.dtype}")
    return a


def as_values(op: str, data: Any, dtype: Optional[mx.Dtype], paged_ok: bool = False) -> mx.array:
    """The value buffer as a 1-D MLX array of a supported dtype (or 2-D paged, see csr_array)."""
    if dtype is not None and dtype not in VALUE_TYPES:
        raise TypeError(f"{op}: unsupported value dtype {dtype}; use one of {', '.join(map(str, VALUE_TYPES))}")
    if not isinstance(data, mx.array):
        a = _host_numeric(op, data, "data is not a rectangular numeric array", "data")
        if a.dtype.kind == "c" and dtype is not None and dtype != mx.complex64:
            _complex_warning(op, dtype)
            a = a.real  # at full precision (MLX would go through complex64)
        if dtype is not None and dtype == mx.bfloat16:  # no NumPy bfloat16: through float32 (as MLX converts)
            data = mx.array(a.astype(np.float32)).astype(dtype)
        elif dtype is not None:  # convert once, straight to the requested type (keeps float64 exact)
            if a.dtype.kind in "iub":  # integers and booleans: rounded once, by NumPy, to the requested type
                a = a.astype({mx.float64: np.float64, mx.float16: np.float16, mx.complex64: np.complex64}.get(
                    dtype, np.float32))
            data = mx.array(a, dtype=dtype)
        else:
            if a.dtype == np.complex128:
                a = a.astype(np.complex64)
            if a.dtype.kind in "iub":  # (an empty list is float64: float32 below, as mx.array does)
                a = a.astype(np.float32)
            data = mx.array(a)  # float64 becomes float32, as mx.array does
    elif dtype is not None and data.dtype != dtype:
        if data.dtype == mx.complex64:
            _complex_warning(op, dtype)
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
    if is_sparse(x):
        raise TypeError(f"{op}: expected a dense operand here, got a sparse array (use .todense() for a dense one)")
    if _is_scipy_sparse(x):
        raise TypeError(f"{op}: got a scipy sparse operand; convert it with ms.csr_array(x) (sparse) or x.toarray() (dense)")
    try:
        h = np.asarray(x)
    except Exception:
        h = None
    if h is None or h.dtype.kind not in "biufc":
        raise TypeError(f"{op}: expected a numeric dense operand, got {type(x).__name__}")
    return mx.array(h)


def as_dense_broadcast(op: str, x: Any, shape: tuple) -> mx.array:
    """A dense operand of an elementwise operation with a sparse array of ``shape``: as ``as_dense``,
    and ValueError naming ``op`` when it does not broadcast with the shape (the result's shape is
    their broadcast, as NumPy's)."""
    X = as_dense(op, x)
    try:
        np.broadcast_shapes(tuple(shape), tuple(X.shape))
    except ValueError:
        raise ValueError(f"{op}: operand of shape {tuple(X.shape)} does not broadcast with {tuple(shape)}") from None
    return X


def _is_scipy_sparse(x: Any) -> bool:
    mod = type(x).__module__ or ""
    return mod.startswith("scipy.sparse")


def is_scipy_sparse(x: Any) -> bool:
    return _is_scipy_sparse(x) and hasattr(x, "tocsr")


def scipy_converted(op: str, x: Any, fmt: str) -> Any:
    """A scipy sparse array or matrix in scipy format ``fmt`` ("csr", "csc" or "coo"). Integer and
    boolean values become float64 first, so that a conversion sums duplicates as numbers, as scipy's
    own products do (its int8 sums wrap, its bool sums saturate; our value types are floating anyway).
    A compressed source that scipy must convert is checked first (scipy's ``check_format``): its
    conversions read the indices unchecked, and a corrupt structure crashes the process."""
    cast = x.dtype.kind in "iub"
    if (cast or x.format != fmt) and x.format in ("csr", "csc", "bsr"):
        try:
            x.check_format(full_check=True)
        except ValueError as e:
            raise ValueError(f"{op}: invalid scipy {x.format} structure: {e}") from None
    elif (cast or x.format != fmt) and x.format == "coo" and x.nnz:
        for axis, idx in enumerate((x.row, x.col)):
            if idx.min() < 0 or idx.max() >= x.shape[axis]:
                raise ValueError(f"{op}: invalid scipy coo structure: axis {axis} index out of range "
                                 f"[0, {x.shape[axis]}) (min {idx.min()}, max {idx.max()})")
    if cast:
        x = x.astype(np.float64)
    return x.asformat(fmt)


def dense_2d(op: str, x: Any, dtype: Optional[mx.Dtype] = None) -> Optional[mx.array]:
    """A 2-D dense operand (MLX or NumPy array, nested lists) as an MLX array of a value type, or None
    when ``x`` is not one (a tuple of buffers, a sparse array)."""
    if isinstance(x, mx.array):
        D = x
    elif isinstance(x, np.ndarray) or (isinstance(x, list) and x and isinstance(x[0], (list, tuple, np.ndarray))):
        h = _host_numeric(op, x, "a dense argument must be a rectangular 2-D array", "a dense argument")
        if h.ndim != 2:
            raise ValueError(f"{op}: a dense argument must be 2-D, got shape {tuple(h.shape)}")
        # host values convert as value buffers do: once, to the requested type (float64 stays exact)
        return as_values(op, h.reshape(-1), dtype).reshape(h.shape)
    else:
        return None
    if D.ndim != 2:
        raise ValueError(f"{op}: a dense argument must be 2-D, got shape {tuple(D.shape)}")
    if dtype is not None:
        if dtype not in VALUE_TYPES:
            raise TypeError(f"{op}: unsupported value dtype {dtype}; use one of {', '.join(map(str, VALUE_TYPES))}")
        if D.dtype == mx.complex64 and dtype != mx.complex64:
            _complex_warning(op, dtype)
        D = D.astype(dtype)
    elif D.dtype not in VALUE_TYPES:
        D = D.astype(mx.float32)
    return D


def is_sparse(x: Any) -> bool:
    """True for this package's sparse arrays (their classes set ``__mlx_sparse__``)."""
    return getattr(type(x), "__mlx_sparse__", False)


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


# ---- paged buffers (more than 2^31 - 1 stored entries) ------------------------------------------

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


def auto_page(op, data, indices, indptr):
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
