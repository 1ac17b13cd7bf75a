"""Sparse x dense products (A x, A X, A^T X, A^H X): semantics, autodiff rules and launch recipes.

The kernels are the spmv family (vectors, _spmv.py) and the spmm family (matrices, _spmm.py); this
module chooses between them, shapes batches into one product, and carries the transform rules.
Operands are any of this package's sparse arrays (through their CSR/CSC buffers).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import mlx.core as mx

from . import _kernels as K
from . import _spmv
from ._coerce import as_dense, is_sparse, promote_operand
from ._convert import expand_rows
from ._device import StreamLike, is_gpu, resolve_stream
from ._spmm import prepare_spmm
from ._spmv import prepare_spmv, spmv_mode


def raw_product(op, data, indices, indptr, shape, x, trans: bool, conj: bool, s: mx.Stream, bm: bool = False) -> mx.array:
    """op(A) @ x for CSR buffers of shape (m, n); x is (rows,) or (rows, k) in A's dtype; lazy.
    op(A) = A, A^T (trans), conj(A) (conj) or A^H (both). ``bm`` (batch-major, CPU only): x is
    (k, rows), k vectors, and the result (k, out_rows), with no transposes. The node carries its
    vjp/jvp/vmap rules with respect to ``data`` and ``x``; the structure is not differentiable."""
    return prepare_product(op, data, indices, indptr, shape, tuple(x.shape), trans, conj, s, bm)(x)


def prepare_product(op, data, indices, indptr, shape, x_shape, trans: bool, conj: bool, s: mx.Stream,
                    bm: bool = False) -> Callable[[mx.array], mx.array]:
    """:func:`raw_product` in two steps: the kernel, launch parameters and rules once, for operands
    of shape ``x_shape``; the returned function adds the product's node(s) for one operand."""
    m, n = shape
    nnz = int(data.size)
    vec = len(x_shape) == 1
    k = 1 if vec else int(x_shape[0 if bm else 1])
    out_rows = n if trans else m
    out_shape = (out_rows,) if vec else (k, out_rows) if bm else (out_rows, k)
    if out_rows == 0 or k == 0 or nnz == 0:
        return lambda x: mx.zeros(out_shape, dtype=data.dtype, stream=s)
    if k == 1 and not vec:  # a single column is a vector product
        one = prepare_product(op, data, indices, indptr, shape, (x_shape[1 if bm else 0],), trans, conj, s)
        return lambda x: one(x.reshape(-1, stream=s)).reshape(out_shape, stream=s)
    rules = _product_rules(op, shape, trans, conj, s, bm)
    if vec and not trans and not conj:
        return prepare_spmv(op, data, indices, indptr, shape, s, rules)
    scatter = prepare_spmm(op, data, indices, indptr, shape, k, out_shape, trans, conj, bm, s, rules)
    if not trans or indptr.ndim != 1 or data.ndim != 1:
        return scatter
    return _transposed_gather(op, data, indices, indptr, shape, x_shape, conj, s, bm, scatter)


def _transposed_gather(op, data, indices, indptr, shape, x_shape, conj, s, bm, scatter):
    """A^T x (A^H x), on either device. A structure's first A^T product scatters (a one-off product builds
    nothing: A^T's CSR costs about 6-30 products' time); from its second on (counted per structure,
    across recipes), products gather on A^T's CSR (``_spmv.transposed_structure``, kept with the
    structure once its buffers are evaluated) with A's values taken into A^T's order once per values
    array (the take carries the derivatives to A's values). The first product and later ones sum in
    different orders, so they may differ in the last bits."""
    m, n = shape
    state = {"gather": None}  # the gathering product once decided, or the scatter for good

    def run(x):
        f = state["gather"]
        if f is None:
            if _spmv.count_transposed(indices) < 2:
                return scatter(x)
            T = _spmv.transposed_structure(indptr, indices, int(data.size), m, n)
            if T is False:  # not evaluated yet: scatter now, ask again next time
                return scatter(x)
            if T is None:
                f = state["gather"] = scatter
            else:
                tptr, tind, perm = T
                tdata = _spmv.transposed_values(data, perm, conj, s)
                f = state["gather"] = prepare_product(op, tdata, tind, tptr, (n, m), x_shape, False, False, s, bm)
        return f(x)

    return run


def _product_rules(op, shape, trans: bool, conj: bool, s: mx.Stream, bm: bool = False) -> dict:
    """vjp/jvp/vmap of the node y = op(A) x (inputs indptr, indices, data, x; ``bm``: x is (k, rows))."""
    nnz_of = lambda d: int(d.size)  # noqa: E731
    ax = 1 if bm else 0  # the axis of x and y that runs over rows

    def vjp(primals, cotangents, outputs):
        ptr, ind, d, xx = primals
        g = cotangents[0].astype(d.dtype, stream=s)
        # d/dx: op(A)^H g.  d/d data_j (MLX's convention, cotangent times conjugate derivative):
        # g[out_j] conj(x[in_j]), or conj(g[out_j]) x[in_j] when op conjugates A; summed over columns
        dx = raw_product(op, d, ind, ptr, shape, g, not trans, not conj, s, bm)
        rows = expand_rows(op, ptr, nnz_of(d), d.dtype, s)
        ind = ind.reshape(-1, stream=s)  # paged buffers: entry order is row-major
        out_idx, in_idx = (ind, rows) if trans else (rows, ind)
        with mx.stream(s):
            go, xi = mx.take(g, out_idx, axis=ax if g.ndim > 1 else 0), mx.take(xx, in_idx, axis=ax if xx.ndim > 1 else 0)
            gx = mx.conj(go) * xi if conj else go * mx.conj(xi)
            dd = gx if gx.ndim == 1 else mx.sum(gx, axis=1 - ax)
        return [None, None, dd, dx]

    def jvp(primals, tangents):
        ptr, ind, d, xx = primals
        td, tx = tangents[2], tangents[3]
        parts = []
        if td is not None:
            parts.append(raw_product(op, td.astype(d.dtype, stream=s), ind, ptr, shape, xx, trans, conj, s, bm))
        if tx is not None:
            parts.append(raw_product(op, d, ind, ptr, shape, tx.astype(d.dtype, stream=s), trans, conj, s, bm))
        out = parts[0] if len(parts) == 1 else mx.add(parts[0], parts[1], stream=s)
        return [out]

    def vmap(inputs, axes):
        ptr, ind, d, xx = inputs
        if axes[3] is None or any(a is not None for a in axes[:3]):
            return None  # batched values or structure: one product per batch entry
        with mx.stream(s):
            if bm or (xx.ndim == 2 and not is_gpu(s)):
                # CPU: the batch joins (or becomes) the vectors of one batch-major product
                xb = mx.moveaxis(xx, axes[3], 0)  # (B, rows_in) or (B, k, rows_in)
                b = xb.shape[0]
                nv = math.prod(xb.shape[:-1])  # (an explicit count: -1 cannot be inferred for an empty batch)
                y = raw_product(op, d, ind, ptr, shape, xb.reshape(nv, xb.shape[-1]), trans, conj, s, True)
                return [y.reshape(b, *xb.shape[1:-1], y.shape[-1])], [0]
            # a batched dense operand becomes extra columns of one product
            xb = mx.moveaxis(xx, axes[3], 1)  # (rows_in, B) or (rows_in, B, k)
            if xb.ndim == 2:
                return [raw_product(op, d, ind, ptr, shape, xb, trans, conj, s)], [1]
            b, k = xb.shape[1], xb.shape[2]
            y = raw_product(op, d, ind, ptr, shape, xb.reshape(xb.shape[0], b * k), trans, conj, s)
            return [y.reshape(y.shape[0], b, k)], [1]

    return {"vjp": vjp, "jvp": jvp, "vmap": vmap}


def product(op, data, indices, indptr, shape, x, trans: bool, s: mx.Stream, bm: bool = False) -> mx.array:
    """op(A) @ x (op = A or A^T; ``bm``: x holds vectors as rows, CPU); lazy, differentiable."""
    _check_gpu_dtype(op, data.dtype, s)
    return raw_product(op, data, indices, indptr, shape, x, trans, False, s, bm)


def _check_gpu_dtype(op, dtype, s) -> None:
    if is_gpu(s) and dtype not in K.GPU_DTYPES:
        raise RuntimeError(
            f"{op}: dtype {dtype} is not supported on the GPU (device {s.device}); "
            "use float32, float16, bfloat16 or complex64, or run on the CPU"
        )


def cached_product(op: str, A, x, s: mx.Stream, trans: bool, kind: str):
    """op(A) @ x through a recipe kept on the compressed array ``A``, or None when x does not qualify
    (not an MLX array of A's dtype, or a shape the caller must check and reshape: the caller then takes
    its general path, which raises the errors). ``kind``: "rows" (x 1-D) or "matrix" (x 1-D or 2-D).
    Repeated products with the same operand shape (solver and training loops) skip the checks and the
    launch setup: a recipe depends only on A's buffers, x's shape and dtype, the stream and the SpMV
    schedule, all in its key."""
    if type(x) is not mx.array or x.dtype != A.data.dtype or not 1 <= x.ndim <= (1 if kind == "rows" else 2):
        return None
    key = (K.op_name(op), trans, x.shape, _spmv._plan_generation, spmv_mode())  # errors name the user's op
    held = A.__dict__.get("_recipes")
    if held is None or held[0] is not A.data or held[1] is not A.indices or held[2] is not A.indptr:
        held = (A.data, A.indices, A.indptr, {})  # buffers replaced (or first use): start over
        A._recipes = held
    entry = held[3].get(key)  # (stream, recipe): one stream per key (streams compare by value only)
    recipe = entry[1] if entry is not None and entry[0] == s else None
    if recipe is None:
        m, n = A._csr_shape
        if _spmv.auto_plan(A.indptr, A.indices, int(A.data.size), m):  # first product of an unplanned structure
            key = (K.op_name(op), trans, x.shape, _spmv._plan_generation, spmv_mode())
        if x.shape[0] != (m if trans else n):
            return None
        _check_gpu_dtype(op, A.data.dtype, s)
        if len(held[3]) >= 16:
            held[3].clear()
        recipe = prepare_product(op, A.data, A.indices, A.indptr, (m, n), x.shape, trans, False, s)
        held[3][key] = (s, recipe)
    return recipe(x)


def _recipe_or_none(op: str, A, x, stream, trans: bool, kind: str):
    """(A's compressed form, the stream, op(A) @ x by a kept recipe or None)."""
    if not is_sparse(A):
        raise TypeError(f"{op}: A must be a sparse array, got {type(A).__name__}")
    A = A._compressed(stream, op=op)
    s = resolve_stream(stream)
    return A, s, cached_product(op, A, x, s, trans, kind)


def product_rows(op: str, A, x, stream, trans: bool) -> mx.array:
    """op(A) applied to the last axis of x: x (..., rows_in) -> (..., rows_out); lazy, differentiable.
    ``A`` is any sparse array whose buffers are CSR of shape ``A._csr_shape``."""
    A, s, y = _recipe_or_none(op, A, x, stream, trans, "rows")
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
    nb = math.prod(batch)  # (explicit sizes: MLX cannot infer a -1 axis of an empty array)
    if not is_gpu(s):  # the CPU kernels take the vectors as rows: no transposes
        y = product(op, data, A.indices, A.indptr, (m, n), x.reshape(nb, rows_in, stream=s), trans, s, bm=True)
        return y.reshape(*batch, rows_out, stream=s)
    with mx.stream(s):
        xt = mx.transpose(x.reshape(nb, rows_in))  # (rows_in, B): batch as columns
    y = product(op, data, A.indices, A.indptr, (m, n), xt, trans, s)
    with mx.stream(s):
        return mx.transpose(y).reshape(*batch, rows_out)


def product_matrix(op: str, A, X, stream, trans: bool) -> mx.array:
    """op(A) @ X with matmul semantics: X (rows_in,) or (..., rows_in, k); lazy, differentiable."""
    A, s, Y = _recipe_or_none(op, A, X, stream, trans, "matrix")
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
    nb = math.prod(batch)  # (explicit sizes: MLX cannot infer a -1 axis of an empty array)
    with mx.stream(s):  # (..., rows_in, k) -> (rows_in, B * k): batches side by side as columns
        X2 = mx.transpose(X.reshape(nb, rows_in, k), (1, 0, 2)).reshape(rows_in, nb * k)
    Y2 = product(op, data, A.indices, A.indptr, (m, n), X2, trans, s)
    with mx.stream(s):
        return mx.transpose(Y2.reshape(rows_out, nb, k), (1, 0, 2)).reshape(*batch, rows_out, k)


def csr_matvec(A, x: Any, stream: StreamLike = None) -> mx.array:
    """``y = A x`` over the last axis of ``x``: ``x`` (..., n) -> (..., m); lazy, differentiable."""
    if not is_sparse(A) or A.format != "csr":
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
