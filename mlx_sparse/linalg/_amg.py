"""Smoothed-aggregation algebraic multigrid: the hierarchy is set up on the CPU (our aggregation kernel,
our sparse products), the V-cycle runs with our products on the device of the solve.

Setup per level: the strength graph (|a_ij| >= theta sqrt(|a_ii a_jj|)), standard aggregation (the
``amg_aggregate`` kernel), the tentative prolongator T (the constant on each aggregate, normalized),
the smoothed prolongator P = (I - 4/3 / rho(D^-1 A) D^-1 A) T and the Galerkin product
A_c = P^T A P (sparse @ sparse, twice). The coarsest level (``max_coarse`` unknowns or fewer) is
solved by a dense inverse. The V-cycle smooths with weighted Jacobi (weight 4/3 / rho(D^-1 A),
``presmooth`` / ``postsmooth`` sweeps), so it is symmetric and serves as a CG preconditioner.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import numpy as np

from .. import _kernels as K
from .._coerce import is_scipy_sparse, is_sparse
from .._device import StreamLike, resolve_stream
from .._kernels import user_op
from ._krylov import _host
from ._interface import LinearOperator, _mm

__all__ = ["amg", "AMGPreconditioner"]


def _host_csr(A):
    """(indptr, indices, data) of A's canonical CSR as NumPy arrays."""
    C = A.tocsr(canonical=True, stream=mx.cpu)
    mx.eval(C.data, C.indices, C.indptr)
    return _host(C.indptr).astype(np.int64), _host(C.indices).astype(np.int64), _host(C.data)


def _spectral_radius(op, n: int, dt, s, iters: int = 15) -> float:
    """rho of the operator by power iteration (an estimate from below, padded by 5% as is usual)."""
    x = mx.array(np.random.default_rng(0).uniform(0.5, 1.5, n).astype(np.float32)).astype(dt)
    lam = 1.0
    for _ in range(iters):
        with mx.stream(s):
            y = op(x)
            nrm = mx.sqrt(mx.sum(mx.abs(y) ** 2))
            lam = float(nrm.item())
            if lam == 0 or not np.isfinite(lam):
                return 1.0
            x = y / nrm
    return 1.05 * lam


class AMGPreconditioner(LinearOperator):
    """The V-cycle of a smoothed-aggregation hierarchy as a LinearOperator (``M @ r`` approximates
    A^-1 r). ``levels``: the operators from fine to coarse; ``operator_complexity``: the total nnz of
    the operators over A's; ``stream``: where the cycles run (set at construction)."""

    def __init__(self, levels, coarse_inv, dtype, s, presmooth: int, postsmooth: int):
        n = levels[0]["A"].shape[0] if levels else int(coarse_inv.shape[0])
        self.shape, self.dtype, self.s = (n, n), dtype, s
        self.levels, self.coarse_inv = levels, coarse_inv
        self.presmooth, self.postsmooth = presmooth, postsmooth
        nnz = [lv["A"].nnz for lv in levels] + [int(coarse_inv.shape[0]) ** 2]
        self.operator_complexity = sum(nnz) / max(nnz[0], 1)
        self.sizes = [lv["A"].shape[0] for lv in levels] + [int(coarse_inv.shape[0])]

    def _cycle(self, i: int, b):
        if i == len(self.levels):
            return _mm(self.coarse_inv, b, self.s)
        lv = self.levels[i]
        A, P, dinv = lv["A"], lv["P"], lv["wdinv"]
        wd = dinv if b.ndim == 1 else dinv[:, None]
        x = wd * b  # the first sweep from zero
        for _ in range(self.presmooth - 1):
            x = x + wd * (b - A @ x)
        ec = self._cycle(i + 1, P.T @ (b - A @ x))
        x = x + P @ ec
        for _ in range(self.postsmooth):
            x = x + wd * (b - A @ x)
        return x

    def _matvec(self, b):
        with mx.stream(self.s):
            return self._cycle(0, b.astype(self.dtype))

    _matmat = _matvec

    def _rmatvec(self, b):  # the cycle is its own adjoint when the sweeps before and after match
        if self.presmooth != self.postsmooth:
            raise NotImplementedError("amg: the adjoint cycle needs presmooth == postsmooth")
        return self._matvec(b)

    _rmatmat = _rmatvec


@user_op("amg")
def amg(A: Any, theta: float = 0.0, max_levels: int = 10, max_coarse: int = 500, presmooth: int = 1,
        postsmooth: int = 1, stream: StreamLike = None) -> AMGPreconditioner:
    """A smoothed-aggregation AMG preconditioner for a symmetric positive definite A (as pyamg's
    ``smoothed_aggregation_solver(A).aspreconditioner()``, with weighted Jacobi smoothing): set up
    now on the CPU, cycles on the device of ``stream``. ``theta``: the strength threshold (0: every
    off-diagonal entry is strong). The cycle is symmetric, as CG needs, when ``presmooth ==
    postsmooth`` (the default)."""
    op = "amg"
    if is_scipy_sparse(A):
        from .. import csr_array

        A = csr_array(A)
    if not is_sparse(A):
        raise TypeError(f"{op}: expected a sparse matrix, got {type(A).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{op}: expected a square matrix, got shape {A.shape}")
    if presmooth < 1 or postsmooth < 0 or max_levels < 1 or max_coarse < 1:
        raise ValueError(f"{op}: presmooth >= 1, postsmooth >= 0, max_levels >= 1, max_coarse >= 1 are required")
    s = resolve_stream(stream)
    cpu = mx.default_stream(mx.cpu)
    from .. import csr_array

    dt = A.dtype
    Ah = A.tocsr(canonical=True, stream=cpu)
    levels = []
    while len(levels) < max_levels - 1 and Ah.shape[0] > max_coarse:
        n = Ah.shape[0]
        ip, ind, val = _host_csr(Ah)
        rows = np.repeat(np.arange(n), np.diff(ip))
        d = np.zeros(n, dtype=val.dtype)
        np.add.at(d, rows[rows == ind], val[rows == ind])
        if np.any(d == 0):
            raise ValueError(f"{op}: the matrix has a zero on its diagonal")
        off = (rows != ind) & (val != 0)
        strong = off & (np.abs(val) >= theta * np.sqrt(np.abs(d[rows] * d[ind])))
        sp_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows[strong], minlength=n))])
        sp_ind = ind[strong]
        it = mx.int64 if max(n, sp_ind.size) > 2**31 - 1 else mx.int32
        npi = np.int64 if it == mx.int64 else np.int32
        agg, count = K.prepare(op, "amg_aggregate", mx.float32, it, cpu, dict(n=n, nnz=int(sp_ind.size)))(
            indptr=mx.array(sp_ptr.astype(npi)), indices=mx.array(sp_ind.astype(npi)))
        agg, nc = _host(agg).astype(np.int64), int(_host(count)[0])
        if nc == 0 or nc >= n:
            break
        member = agg >= 0
        sizes = np.bincount(agg[member], minlength=nc)
        tval = np.where(member, 1.0 / np.sqrt(np.maximum(sizes[np.maximum(agg, 0)], 1)), 0.0)
        T = csr_array((mx.array(tval[member], dtype=dt), mx.array(agg[member].astype(npi)),
                       mx.array(np.concatenate([[0], np.cumsum(member)]).astype(npi))), shape=(n, nc))
        dinv = mx.array(1.0 / d, dtype=dt)
        rows_a = mx.array(rows.astype(npi))
        DA = csr_array((mx.array(val, dtype=dt) * mx.take(dinv, rows_a), Ah.indices, Ah.indptr), shape=(n, n))
        rho = _spectral_radius(lambda x: DA @ x, n, dt, cpu)
        w = 4.0 / 3.0 / rho
        P = (T - (DA @ T) * w).tocsr(canonical=True, stream=cpu)
        Ac = (P.T @ (Ah @ P)).tocsr(canonical=True, stream=cpu)
        Ac.eval()
        P.eval()
        with mx.stream(cpu):
            wdinv = dinv * w
        mx.eval(wdinv)
        levels.append(dict(A=Ah, P=P, wdinv=wdinv))
        Ah = Ac
    D = Ah.todense(stream=cpu)
    inv = np.linalg.pinv(_host(D.astype(mx.complex64 if mx.issubdtype(dt, mx.complexfloating) else mx.float64, stream=cpu)))
    coarse_inv = mx.array(inv, dtype=dt)
    return AMGPreconditioner(levels, coarse_inv, dt, s, presmooth, postsmooth)
