"""The factor family: triangular solves, ILU(0) and IC(0) on CSR buffers (CPU kernels, sequential
row by row; the GPU's level-scheduled kernels are still to come, so on the GPU these raise
``RuntimeError`` through the dispatcher). Functions take and return MLX buffers."""

from __future__ import annotations

import mlx.core as mx

from . import _kernels as K


def trisolve(op: str, data, indices, indptr, b: mx.array, lower: bool, unit: bool, s: mx.Stream) -> mx.array:
    """x = T^-1 b for the lower or upper triangle T (with the diagonal, or a unit one) of the n x n CSR
    buffers; b of shape (n,) or (n, k); lazy. A zero diagonal fails at evaluation (singular)."""
    n = int(indptr.size) - 1
    k = 1 if b.ndim == 1 else int(b.shape[1])
    (x,) = K.prepare(op, "factor_trisolve", data.dtype, indices.dtype, s, dict(n=n, nnz=int(data.size), k=k),
                     flags=dict(lower=lower, unit=unit))(indptr=indptr, indices=indices, data=data,
                                                         b=b.reshape(-1))
    return x.reshape(b.shape)


def ilu0(op: str, data, indices, indptr, s: mx.Stream) -> mx.array:
    """The ILU(0) factors of canonical CSR buffers on their pattern (L strictly below the diagonal,
    unit diagonal implied; U from the diagonal on); lazy."""
    (lu,) = K.prepare(op, "factor_ilu0", data.dtype, indices.dtype, s, dict(n=int(indptr.size) - 1, nnz=int(data.size)))(
        indptr=indptr, indices=indices, data=data)
    return lu


def ic0(op: str, data, indices, indptr, s: mx.Stream) -> mx.array:
    """The IC(0) factor L (A ~ L L^H) on the pattern of canonical CSR buffers of A's lower triangle; lazy."""
    (lv,) = K.prepare(op, "factor_ic0", data.dtype, indices.dtype, s, dict(n=int(indptr.size) - 1, nnz=int(data.size)))(
        indptr=indptr, indices=indices, data=data)
    return lv
