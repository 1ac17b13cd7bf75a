"""ms.linalg: sparse linear algebra with scipy.sparse.linalg's names: ``norm``, the operator
interface (``LinearOperator``, ``aslinearoperator``, ``dot``, ``vdot``), the Krylov solvers
(``cg``, ``bicgstab``, ``cgs``, ``gmres``, ``lgmres``, ``minres``, ``tfqmr``, ``qmr``), ``spsolve_triangular`` and preconditioners
(``jacobi``, ``ilu0``, ``ic0``, ``ssor``, ``amg``: smoothed aggregation)."""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from .._coerce import is_sparse
from .._device import StreamLike, resolve_stream

from . import preconditioners
from ._interface import LinearOperator, aslinearoperator, dot, vdot
from ._krylov import CHECK_EVERY, bicgstab, cg, cgs, gmres, lgmres, minres, qmr, tfqmr
from ._amg import AMGPreconditioner, amg
from ._direct import (FactorizedSolve, MatrixRankWarning, SparseCholesky, SparseLU, cholesky, direct_engine, factorized,
                      inv, sparse_cholesky, sparse_lu, spilu, splu, spsolve)
from ._eigen import ArpackError, ArpackNoConvergence, eigs, eigsh, lanczos, lobpcg, svds
from ._triangular import spsolve_triangular
from .preconditioners import block_jacobi, ic0, ilu0, jacobi, ssor

__all__ = ["norm", "LinearOperator", "aslinearoperator", "dot", "vdot", "cg", "bicgstab", "cgs", "gmres", "lgmres", "minres", "tfqmr", "qmr",
           "jacobi", "block_jacobi", "ilu0", "ic0", "ssor", "preconditioners", "spsolve_triangular", "CHECK_EVERY",
           "amg", "AMGPreconditioner", "eigsh", "eigs", "lanczos", "lobpcg", "svds", "ArpackNoConvergence", "ArpackError",
           "spsolve", "splu", "sparse_lu", "spilu", "factorized", "cholesky", "sparse_cholesky", "inv", "SparseLU",
           "SparseCholesky", "FactorizedSolve", "MatrixRankWarning", "direct_engine"]


def norm(A: Any, ord: Any = None, axis: Any = None, stream: StreamLike = None) -> mx.array:
    """Matrix norms of a sparse array, as scipy.sparse.linalg.norm: ``ord`` None/'fro' (Frobenius),
    1 / -1 (largest / smallest column abs sum), inf / -inf (rows); with ``axis`` (0 or 1) the vector
    norms of the columns or rows (ord None/2: Euclidean, 1, inf, -inf). Duplicates are summed first."""
    op = "norm"
    if not is_sparse(A):
        raise TypeError(f"{op}: expected a sparse array, got {type(A).__name__}")
    s = resolve_stream(stream)
    inf = float("inf")
    if axis is None:
        if ord in (None, "fro", "f"):
            B = abs(A) if not A.has_canonical_format else A
            with mx.stream(s):
                return mx.sqrt(mx.sum(mx.abs(B.data) ** 2))
        if ord in (1, -1, inf, -inf):
            sums = abs(A).sum(axis=0 if ord in (1, -1) else 1, stream=s)
            with mx.stream(s):
                return mx.max(sums) if ord in (1, inf) else mx.min(sums)
        raise ValueError(f"{op}: invalid norm order {ord!r} for a matrix (use None, 'fro', 1, -1, inf, -inf)")
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"{op}: axis must be None, 0 or 1, got {axis!r}")
    ax = 0 if axis in (0, -2) else 1
    if ord in (None, 2):
        return A.col_norms(stream=s) if ax == 0 else A.row_norms(stream=s)
    if ord == 1:
        return abs(A).sum(axis=ax, stream=s)
    if ord in (inf, -inf):
        B = abs(A)
        return B.max(axis=ax, stream=s) if ord == inf else B.min(axis=ax, stream=s)
    raise ValueError(f"{op}: invalid norm order {ord!r} for vectors (use None, 2, 1, inf, -inf)")
