"""Sparse x dense products (A x, A X, A^T X, A^H X) as lazy nodes with autodiff rules."""

from __future__ import annotations

import os

import mlx.core as mx

from . import _kernels as K
from ._device import is_gpu


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


def expand_rows(op: str, indptr: mx.array, nnz: int, dtype: mx.Dtype, s: mx.Stream) -> mx.array:
    """Row id of every stored entry (CSR -> COO rows); lazy."""
    m = indptr.size - 1
    if nnz == 0:
        return mx.zeros((0,), dtype=indptr.dtype, stream=s)
    gpu = K.Gpu(threads=K.grid_threads(m * 32), scalars=K.split64(m) + K.split64(nnz))
    (rows,) = K.launch(op, "convert", "expand_rows", dtype, indptr.dtype, s, [indptr], [(nnz,)], [indptr.dtype], [m], gpu)
    return rows


def raw_product(op, data, indices, indptr, shape, x, trans: bool, conj: bool, s: mx.Stream) -> mx.array:
    """op(A) @ x for CSR buffers of shape (m, n); x is (rows,) or (rows, k) in A's dtype; lazy.
    op(A) = A, A^T (trans), conj(A) (conj) or A^H (both)."""
    m, n = shape
    nnz = int(data.size)
    vec = x.ndim == 1
    k = 1 if vec else int(x.shape[1])
    out_rows = n if trans else m
    out_shape = (out_rows,) if vec else (out_rows, k)
    if out_rows == 0 or k == 0 or nnz == 0:
        return mx.zeros(out_shape, dtype=data.dtype, stream=s)
    vt, it = data.dtype, indices.dtype
    if k == 1 and not vec:  # a single column is a vector product
        y = raw_product(op, data, indices, indptr, shape, x.reshape(-1, stream=s), trans, conj, s)
        return y.reshape(out_rows, 1, stream=s)
    if vec and not trans and not conj:
        g = _spmv_lanes(nnz / max(m, 1))
        gpu = K.Gpu(
            threads=K.grid_threads(-(-m // (K.GPU_BLOCK // g)) * K.GPU_BLOCK),
            scalars=K.split64(m) + K.split64(n) + K.split64(nnz),
            suffix=f"_g{g}",
        )
        (y,) = K.launch(op, "spmv", "csr", vt, it, s, [indptr, indices, data, x], [(m,)], [vt], [m, n], gpu)
        return y
    scalars = K.split64(m) + K.split64(n) + K.split64(k) + K.split64(nnz) + [bool(conj)]
    if not trans:
        v = 4 if k >= 128 else 2 if k >= 64 else 1
        gpu = K.Gpu(threads=K.grid_threads(m * 32), scalars=scalars, suffix=f"_v{v}")
        (y,) = K.launch(op, "spmm", "csr", vt, it, s, [indptr, indices, data, x], [out_shape], [vt], [m, n, k, int(conj)], gpu)
        return y
    # transpose: the GPU scatters with atomics into a zero-filled accumulator (float32 for 16-bit types)
    acc_t = mx.float32 if vt in (mx.float16, mx.bfloat16) else vt
    out_t = acc_t if is_gpu(s) else vt
    gpu = K.Gpu(threads=K.grid_threads(m * 32 if k >= 8 else m), scalars=scalars, init_value=0.0, module="_v1")
    (y,) = K.launch(op, "spmm", "csr_t", vt, it, s, [indptr, indices, data, x], [out_shape], [out_t], [m, n, k, int(conj)], gpu)
    return y.astype(vt, stream=s) if out_t != vt else y


def product(op, data, indices, indptr, shape, x, trans: bool, s: mx.Stream) -> mx.array:
    """op(A) @ x (op = A or A^T) with vjp/jvp rules for both ``data`` and ``x``; lazy.
    The structure (indices, indptr) is fixed: gradients flow to values and the dense operand only."""
    nnz = int(data.size)
    if is_gpu(s) and data.dtype not in K.GPU_DTYPES:
        raise RuntimeError(
            f"{op}: dtype {data.dtype} is not supported on the GPU (device {s.device}); "
            "use float32, float16, bfloat16 or complex64, or run on the CPU"
        )

    @mx.custom_function
    def f(d, xx):
        # the kernel node sees detached inputs, so MLX's jvp tape holds only this function's rule
        d, xx = mx.stop_gradient(d, stream=s), mx.stop_gradient(xx, stream=s)
        return raw_product(op, d, indices, indptr, shape, xx, trans, False, s)

    @f.vjp
    def f_vjp(primals, cotangent, output):
        d, xx = primals
        g = cotangent.astype(d.dtype, stream=s) if cotangent.dtype != d.dtype else cotangent
        # d/dx: op(A)^H g;  d/d data_j: g[out_j] * conj(x[in_j]) summed over columns
        dx = raw_product(op, d, indices, indptr, shape, g, not trans, True, s)
        rows = expand_rows(op, indptr, nnz, d.dtype, s)
        out_idx, in_idx = (indices, rows) if trans else (rows, indices)
        with mx.stream(s):
            gx = mx.take(g, out_idx, axis=0) * mx.conj(mx.take(xx, in_idx, axis=0))
            dd = gx if gx.ndim == 1 else mx.sum(gx, axis=1)
        # (MLX's complex convention: the cotangent times the conjugate derivative, as above)
        return dd.astype(d.dtype, stream=s), dx.astype(xx.dtype, stream=s)

    @f.jvp
    def f_jvp(primals, tangents):
        d, xx = primals
        td, tx = tangents
        a = raw_product(op, td.astype(d.dtype, stream=s), indices, indptr, shape, xx, trans, False, s)
        b = raw_product(op, d, indices, indptr, shape, tx.astype(d.dtype, stream=s), trans, False, s)
        return mx.add(a, b, stream=s)

    return f(data, x)
