"""The factor family: triangular solves, ILU(0) and IC(0) on CSR buffers. CPU kernels run row by row;
the GPU kernels are synchronization-free (a warp per row, rows taken in dependency order, each waiting
for the rows it reads: csrc/cuda/factor.cu), so they need no analysis pass. Functions take and return
MLX buffers; the factorizations also return the GPU's per-row state (None on the CPU), which
:func:`check_state` turns into the CPU kernels' errors."""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K
from ._device import is_gpu

GPU_WARPS = 1 << 14  # warps launched at most (each takes rows until none is left)


def _warps(n: int) -> dict:
    return dict(w=max(1, min(int(n), GPU_WARPS)))


def check_state(op: str, state) -> None:
    """Raise for a GPU factorization's row states (evaluates them: the setup's synchronization):
    ``LinAlgError`` for a zero pivot, ``RuntimeError`` for a malformed structure (as the CPU kernels'
    status raises at evaluation)."""
    if state is None or state.size <= 1:
        return
    worst = int(mx.max(state[:-1]).item())
    if worst == 3:
        raise RuntimeError(f"{op}: malformed structure (an index out of range, or rows not sorted and unique)")
    if worst == 2:
        import numpy as np

        raise np.linalg.LinAlgError(f"{op}: singular (a zero or missing pivot, or a pivot <= 0)")


def trisolve(op: str, data, indices, indptr, b: mx.array, lower: bool, unit: bool, s: mx.Stream) -> mx.array:
    """x = T^-1 b for the lower or upper triangle T (with the diagonal, or a unit one) of the n x n CSR
    buffers; b of shape (n,) or (n, k); lazy. A zero diagonal fails at evaluation (singular)."""
    n = int(indptr.size) - 1
    k = 1 if b.ndim == 1 else int(b.shape[1])
    if is_gpu(s):
        x, _ = K.prepare(op, "factor_trisolve_sf", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size), k=k),
                         flags=dict(lower=lower, unit=unit), launch=_warps(n))(indptr=indptr, indices=indices, data=data,
                                                                               b=b.reshape(-1))
        return x.reshape(b.shape)
    (x,) = K.prepare(op, "factor_trisolve", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size), k=k),
                     flags=dict(lower=lower, unit=unit))(indptr=indptr, indices=indices, data=data,
                                                         b=b.reshape(-1))
    return x.reshape(b.shape)


def ilu0(op: str, data, indices, indptr, s: mx.Stream):
    """The ILU(0) factors of canonical CSR buffers on their pattern (L strictly below the diagonal,
    unit diagonal implied; U from the diagonal on), and the GPU's row states; lazy."""
    n = int(indptr.size) - 1
    if is_gpu(s):
        return K.prepare(op, "factor_ilu0_sf", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size)),
                         launch=_warps(n))(indptr=indptr, indices=indices, data=data)
    (lu,) = K.prepare(op, "factor_ilu0", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size)))(
        indptr=indptr, indices=indices, data=data)
    return lu, None


def ic0(op: str, data, indices, indptr, s: mx.Stream):
    """The IC(0) factor L (A ~ L L^H) on the pattern of canonical CSR buffers of A's lower triangle, and
    the GPU's row states; lazy."""
    n = int(indptr.size) - 1
    if is_gpu(s):
        return K.prepare(op, "factor_ic0_sf", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size)),
                         launch=_warps(n))(indptr=indptr, indices=indices, data=data)
    (lv,) = K.prepare(op, "factor_ic0", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size)))(
        indptr=indptr, indices=indices, data=data)
    return lv, None
