"""Eigenvalues and singular values with scipy.sparse.linalg's names: eigsh (thick-restart Lanczos),
lanczos (the reference package's name for it), svds, eigs (Krylov-Schur restarted Arnoldi) and lobpcg.

The Krylov bases are MLX arrays on the solve's device (our products, MLX's block products for the
full reorthogonalization, classical Gram-Schmidt twice); the small projected problems are solved
on the host with NumPy, once per restart (one synchronization per restart).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import mlx.core as mx
import numpy as np

from .._device import StreamLike, resolve_stream
from .._kernels import user_op
from ._interface import _as_mx, _mm, aslinearoperator
from ._krylov import _host, _orth

__all__ = ["eigsh", "lanczos", "svds", "eigs", "lobpcg", "ArpackNoConvergence", "ArpackError"]


class ArpackError(RuntimeError):
    """scipy's name for an eigensolver failure."""


class ArpackNoConvergence(ArpackError):
    """Not every requested eigenpair converged within ``maxiter`` restarts, as scipy raises it:
    ``eigenvalues`` and ``eigenvectors`` hold the converged ones."""

    def __init__(self, msg, eigenvalues, eigenvectors):
        super().__init__(msg)
        self.eigenvalues, self.eigenvectors = eigenvalues, eigenvectors


def _start(op, n, dt, v0, s):
    if v0 is None:
        rng = np.random.default_rng(12345)
        v = rng.uniform(-1, 1, n)
        if dt == mx.complex64:
            v = v + 1j * rng.uniform(-1, 1, n)
        v = mx.array(v, dtype=dt)
    else:
        v = _as_mx(v0).astype(dt).reshape(-1)
        if v.size != n:
            raise ValueError(f"{op}: v0 of size {v.size} does not match the operator of size {n}")
    with mx.stream(s):
        nrm = mx.sqrt(mx.sum(mx.abs(v) ** 2))
    if float(nrm.item()) == 0:
        raise ValueError(f"{op}: v0 is zero")
    return v / nrm


def _select(vals: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the k wanted values, in the order of preference."""
    if which == "LM":
        return np.argsort(-np.abs(vals), kind="stable")[:k]
    if which == "SM":
        return np.argsort(np.abs(vals), kind="stable")[:k]
    if which == "LA" or which == "LR":
        return np.argsort(-vals.real, kind="stable")[:k]
    if which == "SA" or which == "SR":
        return np.argsort(vals.real, kind="stable")[:k]
    if which == "LI":
        return np.argsort(-vals.imag, kind="stable")[:k]
    if which == "SI":
        return np.argsort(vals.imag, kind="stable")[:k]
    if which == "BE":  # half from each end, the extra one from the high end
        order = np.argsort(vals.real, kind="stable")
        lo, hi = k // 2, k - k // 2
        return np.concatenate([order[len(order) - hi:], order[:lo]])
    raise ValueError(f"which must be one of LM, SM, LA, SA, BE (LR, SR, LI, SI for eigs), got {which!r}")


def _check(op, A, k, which, allowed):
    A = aslinearoperator(A)
    n = A.shape[0]
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{op}: expected a square operator, got shape {A.shape}")
    if which not in allowed:
        raise ValueError(f"{op}: which must be one of {', '.join(allowed)}, got {which!r}")
    if not 0 < k < n:
        raise ValueError(f"{op}: k must satisfy 0 < k < n = {n}, got {k}")
    return A, n


def _krylov_setup(op, n, k, extra, ncv, maxiter, tol, v0, dt, cplx, s):
    """The basis size (k + extra < ncv <= n), restart limit, precision, tolerance, host dtype and first
    basis vector of eigsh / eigs."""
    ncv = min(n, max(2 * k + 1, 20) if ncv is None else int(ncv))
    if not k + extra < ncv <= n:
        raise ValueError(f"{op}: ncv must satisfy {'k + 1' if extra else 'k'} < ncv <= n, got {ncv}")
    maxiter = n * 10 if maxiter is None else int(maxiter)
    eps = float(np.finfo(np.float64 if dt == mx.float64 else np.float32).eps)
    with mx.stream(s):
        V = [_start(op, n, dt, v0, s)]
    return ncv, maxiter, eps, eps if tol <= 0 else float(tol), np.complex128 if cplx else np.float64, V


@user_op("eigsh")
def eigsh(A: Any, k: int = 6, M: Any = None, sigma: Optional[float] = None, which: str = "LM", v0: Any = None,
          ncv: Optional[int] = None, maxiter: Optional[int] = None, tol: float = 0, return_eigenvectors: bool = True,
          Minv: Any = None, OPinv: Any = None, mode: str = "normal", stream: StreamLike = None):
    """k eigenvalues (and eigenvectors) of the Hermitian A, as ``scipy.sparse.linalg.eigsh``: which =
    'LM' / 'SM' (largest / smallest magnitude), 'LA' / 'SA' (largest / smallest algebraic), 'BE'
    (both ends). Thick-restart Lanczos with full reorthogonalization; ``ncv`` basis vectors
    (default max(2k + 1, 20)); ``maxiter`` restarts; ``tol`` relative accuracy of the Ritz values
    (0: machine precision; a residual at 10 eps ||A|| counts as converged whatever the value).
    ``sigma``: shift-invert mode, as scipy's: Lanczos on (A - sigma I)^-1, factored once by the
    direct LU on the stream's device (KLU on the CPU, cuDSS on the GPU); ``which`` then refers to
    1 / (lambda - sigma) ('LM': the eigenvalues nearest sigma). Returns the eigenvalues in
    ascending order (and the eigenvectors as the columns of an MLX array; the values an MLX array
    too). 'SM' runs Lanczos on A^2 (its lowest end)
    and a Rayleigh-Ritz step with A: the smallest magnitudes of an indefinite A are interior, where
    Lanczos on A itself may settle on the wrong ones. Raises ``ArpackNoConvergence`` as scipy.

    ``M`` (sparse, Hermitian positive definite; only its upper triangle is read): the generalized
    problem A x = lambda M x, reduced to a standard one through the Cholesky factorization
    M[p][:, p] = L L^H (CHOLMOD, or SuperLU's fallback): Lanczos on C = L^-1 A[p][:, p] L^-H (two
    sparse triangular solves and a product with A per step; ``which`` as above), x = P^T L^-H y. With
    ``sigma``: the eigenvalues of A x = lambda M x nearest sigma in scipy's sense (``which`` refers to
    1 / (lambda - sigma)), Lanczos on (C - sigma I)^-1 = L^H P (A - sigma M)^-1 P^T L (a kept LU of
    the sparse A - sigma M; A must be sparse). The eigenvectors are M-orthonormal (X^H M X = I), as
    scipy's; ``v0`` is taken in x's space. Runs on the CPU: a GPU stream raises ``RuntimeError``
    (the sparse Cholesky factorization has no GPU engine yet). ``Minv``, ``OPinv`` and the
    buckling / cayley modes raise ``NotImplementedError``."""
    op = "eigsh"
    if Minv is not None or OPinv is not None:
        raise NotImplementedError(f"{op}: Minv and OPinv (user-supplied inverses) are not available yet; give M as a "
                                  "sparse matrix (it is factored here: Cholesky, and an LU of A - sigma M with sigma)")
    if mode != "normal":
        raise NotImplementedError(f"{op}: the buckling and cayley modes are not available yet (mode='normal' only)")
    if M is not None:
        return _generalized(op, A, k, M, sigma, which, v0, ncv, maxiter, tol, return_eigenvectors, stream)
    if sigma is not None:
        return _shift_invert(op, A, k, float(sigma), which, v0, ncv, maxiter, tol, return_eigenvectors, stream)
    A, n = _check(op, A, k, which, ("LM", "SM", "LA", "SA", "BE"))
    s = resolve_stream(stream)
    dt = A.dtype if isinstance(A.dtype, mx.Dtype) and mx.issubdtype(A.dtype, mx.inexact) else mx.float32
    cplx = mx.issubdtype(dt, mx.complexfloating)
    if which == "SM":
        return _smallest_magnitude(A, n, k, v0, ncv, maxiter, tol, return_eigenvectors, dt, cplx, s)
    ncv, maxiter, eps, tol, npc, V = _krylov_setup(op, n, k, 0, ncv, maxiter, tol, v0, dt, cplx, s)
    H = np.zeros((ncv, ncv), dtype=npc)
    j0 = 0  # columns of H already known (the kept Ritz block after a restart)
    rng = np.random.default_rng(7)
    vals = vecs = None
    for _restart in range(max(maxiter, 1)):
        coeffs = []
        with mx.stream(s):
            for j in range(j0, ncv):
                w = A.matvec(V[j])
                w, h = _orth(V, w)
                nrm = mx.sqrt(mx.sum(mx.abs(w) ** 2))
                coeffs.append((h, nrm))
                V.append(w / mx.where(nrm == 0, mx.ones_like(nrm), nrm))  # V[ncv]: the residual direction
            mx.eval([c for hc in coeffs for c in hc], V[-1])
        beta = 0.0
        for i, (h, nrm) in enumerate(coeffs):
            j = j0 + i
            col = _host(h).astype(npc)
            H[: j + 1, j] = col[: j + 1]
            H[j, : j + 1] = np.conj(col[: j + 1])
            beta = float(_host(nrm))
            if j + 1 < ncv:
                H[j + 1, j] = H[j, j + 1] = beta
            if beta < eps * max(1.0, np.abs(H[: j + 1, : j + 1]).max()) and j + 1 < ncv:
                # an invariant subspace: continue from a fresh random direction (no coupling)
                with mx.stream(s):
                    r = mx.array(rng.uniform(-1, 1, n), dtype=dt)
                    r, _ = _orth(V[: j + 1], r)
                    V[j + 1] = r / mx.sqrt(mx.sum(mx.abs(r) ** 2))
                H[j + 1, j] = H[j, j + 1] = 0.0
                # the remaining columns must be recomputed from the new vector
                j0 = j + 1
                V = V[: j + 2]
                break
        else:
            Hs = (H + H.conj().T) / 2
            theta, S = np.linalg.eigh(Hs)
            sel = _select(theta, k, which)
            res = np.abs(beta * S[-1, sel])
            # relative to the Ritz value, with a floor at roundoff's reach (10 eps ||A||, ||A|| ~ max |theta|)
            conv = res <= np.maximum(tol * np.abs(theta[sel]), 10 * eps * np.abs(theta).max())
            if np.all(conv) or _restart == maxiter - 1:
                order = sel[np.argsort(theta[sel])]
                vals = mx.array(theta[order], dtype=mx.float64 if dt == mx.float64 else mx.float32)
                if return_eigenvectors or not np.all(conv):
                    with mx.stream(s):
                        Y = _mm(mx.stack(V[:ncv], axis=1), mx.array(S[:, order], dtype=dt), s)
                    vecs = Y
                if not np.all(conv):
                    good = order[np.isin(order, sel[conv])]
                    gv = theta[good]
                    gvec = _mm(mx.stack(V[:ncv], axis=1), mx.array(S[:, good], dtype=dt), s) if good.size else None
                    raise ArpackNoConvergence(f"{op}: {int(conv.sum())} of {k} eigenvalues converged in {maxiter} restarts",
                                              gv, gvec)
                return (vals, vecs) if return_eigenvectors else vals
            # thick restart: keep the wanted Ritz vectors plus some more, the residual vector next
            keep = min(ncv - 1, max(k + (ncv - k) // 2, k + 1))
            ks = _select(theta, keep, which)
            Sk = S[:, ks]
            with mx.stream(s):
                Vk = _mm(mx.stack(V[:ncv], axis=1), mx.array(Sk, dtype=dt), s)
                newV = [Vk[:, i] for i in range(keep)] + [V[ncv]]
            V = newV
            H = np.zeros((ncv, ncv), dtype=npc)
            H[:keep, :keep] = np.diag(theta[ks])
            H[keep, :keep] = beta * Sk[-1, :]
            H[:keep, keep] = np.conj(H[keep, :keep])
            j0 = keep
            continue
    raise ArpackNoConvergence(f"{op}: no convergence in {maxiter} restarts", np.zeros(0), None)


def _scalar_as(c, dtype) -> mx.array:
    """The shift as a scalar of the matrix's precision (a Python float would become float32 in a sparse
    scalar product, shifting float64 matrices by a rounded sigma)."""
    if isinstance(dtype, mx.Dtype) and dtype == mx.float64 and not np.iscomplexobj(c):
        return mx.array(float(c), dtype=mx.float64)
    return mx.array(c)


def _shift_invert(op, A, k, sigma, which, v0, ncv, maxiter, tol, return_eigenvectors, stream, gen=None):
    """eigsh with sigma: Lanczos on (A - sigma I)^-1 applied by a kept sparse LU; lambda = sigma + 1/nu. With
    ``gen`` (a _CholeskyReduction of M): Lanczos on L^H P (A - sigma M)^-1 P^T L, whose eigenvectors y give
    x = P^T L^-H y."""
    from .. import eye
    from ._direct import SparseLU, splu
    from ._interface import LinearOperator, MatrixLinearOperator

    Aop = aslinearoperator(A)
    if not isinstance(Aop, MatrixLinearOperator) or not hasattr(Aop.A, "tocsr"):
        raise TypeError(f"{op}: sigma (shift-invert) needs a sparse matrix, got {type(A).__name__}")
    S = Aop.A
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"{op}: expected a square matrix, got shape {S.shape}")
    n = S.shape[0]
    # the factorization and Lanczos on the caller's device: the GPU factors with cuDSS (float32 / complex64)
    fs = resolve_stream(stream) if gen is None else mx.cpu
    if gen is None:
        lu = splu(S - eye(n, dtype=S.dtype, stream=fs) * _scalar_as(sigma, S.dtype), stream=fs)
        OP = LinearOperator((n, n), matvec=lu.solve, dtype=S.dtype)
        out_dt = S.dtype
    else:
        if S.shape != gen.shape:
            raise ValueError(f"{op}: M of shape {gen.shape} does not match A's {S.shape}")
        lu = SparseLU(S - gen.M * _scalar_as(sigma, gen.dt), stream=mx.cpu, op=op)
        OP = LinearOperator((n, n), matvec=lambda v: gen.to_y(lu.solve(gen.adjoint_to_y(v))), dtype=gen.dt)
        v0 = gen.start(v0)
        out_dt = gen.dt

    def convert(nu, Y):
        lam = sigma + 1.0 / np.asarray(nu).astype(np.float64)
        order = np.argsort(lam)
        vals = mx.array(lam[order], dtype=mx.float64 if out_dt == mx.float64 else mx.float32)
        if Y is None:
            return vals, None
        Y = mx.take(Y, mx.array(order.astype(np.int32)), axis=1)
        return vals, (Y if gen is None else gen.to_x(Y))

    try:
        out = eigsh(OP, k=k, which=which, v0=v0, ncv=ncv, maxiter=maxiter, tol=tol,
                    return_eigenvectors=return_eigenvectors, stream=fs)
    except ArpackNoConvergence as e:  # the converged pairs, as the problem's
        vals, vecs = convert(e.eigenvalues, e.eigenvectors)
        raise ArpackNoConvergence(str(e), vals, vecs) from None
    vals, vecs = convert(_host(out[0] if return_eigenvectors else out), out[1] if return_eigenvectors else None)
    return (vals, vecs) if return_eigenvectors else vals


class _CholeskyReduction:
    """The reduction of A x = lambda M x (M Hermitian positive definite) to a standard Hermitian problem
    through M[p][:, p] = L L^H: y = L^H x[p], C = L^-1 A[p][:, p] L^-H. On the CPU (the triangular solves
    are CPU kernels)."""

    def __init__(self, op: str, M: Any, n: int, A_dtype):
        from .. import csr_array
        from .._coerce import is_scipy_sparse, is_sparse
        from ._direct import SparseCholesky

        if is_scipy_sparse(M):
            M = csr_array(M, dtype=mx.float64 if M.dtype == np.float64 else None)
        if not is_sparse(M):
            raise TypeError(f"{op}: M must be a sparse matrix (Hermitian positive definite), got {type(M).__name__}")
        if tuple(M.shape) != (n, n):
            raise ValueError(f"{op}: M of shape {tuple(M.shape)} does not match A's {(n, n)}")
        dts = [d for d in (A_dtype, M.dtype) if isinstance(d, mx.Dtype) and mx.issubdtype(d, mx.inexact)]
        if any(mx.issubdtype(d, mx.complexfloating) for d in dts):
            self.dt = mx.complex64
        elif dts and all(d == mx.float64 for d in dts):
            self.dt = mx.float64
        else:
            self.dt = mx.float32
        self.M, self.shape, self.s = M, (n, n), resolve_stream(mx.cpu)
        try:
            chol = SparseCholesky(M, stream=mx.cpu, op=op)
        except np.linalg.LinAlgError as e:
            raise np.linalg.LinAlgError(str(e).replace(f"{op}: the matrix is", f"{op}: M is")) from None
        L = chol.L.astype(self.dt, stream=mx.cpu)
        p = _host(chol.perm).astype(np.int64)
        self.p = mx.array(p.astype(np.int32))
        self.pinv = mx.array(np.argsort(p).astype(np.int32))
        self.Lr = L.tocsr(stream=mx.cpu)  # lower triangular, CSR (the substitution kernel's layout)
        self.LHr = L.conj(stream=mx.cpu).T if mx.issubdtype(self.dt, mx.complexfloating) else L.T  # L^H: upper, CSR
        mx.eval(self.Lr.data, self.Lr.indices, self.Lr.indptr, self.LHr.data, self.LHr.indices, self.LHr.indptr)

    def _solve(self, T, b, lower):
        from .. import _factor

        return _factor.trisolve("eigsh", T.data, T.indices, T.indptr, b.astype(self.dt), lower, False, self.s)

    def to_x(self, Y):
        """x = P^T L^-H y: the rows of L^-H Y put back in A's order."""
        with mx.stream(mx.cpu):
            return mx.take(self._solve(self.LHr, Y, lower=False), self.pinv, axis=0)

    def to_y(self, x):
        """y = L^H x[p] (the inverse of to_x)."""
        with mx.stream(mx.cpu):
            return self.LHr @ mx.take(x.astype(self.dt), self.p, axis=0)

    def adjoint_to_y(self, y):
        """P^T L y (to_y's adjoint: (C - sigma I)^-1 = to_y (A - sigma M)^-1 adjoint_to_y)."""
        with mx.stream(mx.cpu):
            return mx.take(self.Lr @ y, self.pinv, axis=0)

    def start(self, v0):
        if v0 is None:
            return None
        x0 = _as_mx(v0).astype(self.dt).reshape(-1)
        if x0.size != self.shape[0]:
            raise ValueError(f"eigsh: v0 of size {x0.size} does not match the operator of size {self.shape[0]}")
        return self.to_y(x0)


def _generalized(op, A, k, M, sigma, which, v0, ncv, maxiter, tol, return_eigenvectors, stream):
    """eigsh with M: the Cholesky reduction (see eigsh), on the CPU."""
    from .._device import is_gpu
    from ._interface import LinearOperator

    if is_gpu(resolve_stream(stream)):
        raise RuntimeError(f"{op}: generalized problems (M) run on the CPU only (the sparse Cholesky factorization "
                           "has no GPU engine yet); pass stream=mx.cpu")
    Aop = aslinearoperator(A)
    if Aop.shape[0] != Aop.shape[1]:
        raise ValueError(f"{op}: expected a square operator, got shape {Aop.shape}")
    n = Aop.shape[0]
    gen = _CholeskyReduction(op, M, n, Aop.dtype)
    if sigma is not None:
        return _shift_invert(op, A, k, float(sigma), which, v0, ncv, maxiter, tol, return_eigenvectors, stream, gen)

    def matvec(v):  # C v = L^-1 (A (L^-H v)[pinv])[p]
        with mx.stream(mx.cpu):
            z = mx.take(gen._solve(gen.LHr, v, lower=False), gen.pinv, axis=0)
            u = mx.take(Aop.matvec(z).astype(gen.dt), gen.p, axis=0)
            return gen._solve(gen.Lr, u, lower=True)

    C = LinearOperator((n, n), matvec=matvec, dtype=gen.dt)
    try:
        out = eigsh(C, k=k, which=which, v0=gen.start(v0), ncv=ncv, maxiter=maxiter, tol=tol,
                    return_eigenvectors=return_eigenvectors, stream=mx.cpu)
    except ArpackNoConvergence as e:  # the converged pairs, as the problem's
        vecs = None if e.eigenvectors is None else gen.to_x(e.eigenvectors)
        raise ArpackNoConvergence(str(e), e.eigenvalues, vecs) from None
    if not return_eigenvectors:
        return out
    return out[0], gen.to_x(out[1])


def _shift_invert_general(op, A, k, sigma, which, v0, ncv, maxiter, tol, return_eigenvectors, stream):
    """eigs with sigma: Arnoldi on (A - sigma I)^-1 applied by a kept sparse LU; lambda = sigma + 1/nu."""
    from .. import eye
    from ._direct import splu
    from ._interface import LinearOperator, MatrixLinearOperator

    Aop = aslinearoperator(A)
    if not isinstance(Aop, MatrixLinearOperator) or not hasattr(Aop.A, "tocsr"):
        raise TypeError(f"{op}: sigma (shift-invert) needs a sparse matrix, got {type(A).__name__}")
    S = Aop.A
    n = S.shape[0]
    fs = resolve_stream(stream)  # the factorization and Arnoldi on the caller's device (the GPU: cuDSS)
    lu = splu(S - eye(n, dtype=S.dtype, stream=fs) * _scalar_as(sigma, S.dtype), stream=fs)
    OP = LinearOperator((n, n), matvec=lu.solve, dtype=S.dtype)
    out = eigs(OP, k=k, which=which, v0=v0, ncv=ncv, maxiter=maxiter, tol=tol,
               return_eigenvectors=return_eigenvectors, stream=fs)
    nu = _host(out[0] if return_eigenvectors else out).astype(np.complex128)
    vals = mx.array((sigma + 1.0 / nu).astype(np.complex64))
    return (vals, out[1]) if return_eigenvectors else vals


def _smallest_magnitude(A, n, k, v0, ncv, maxiter, tol, return_eigenvectors, dt, cplx, s):
    """'SM' of a Hermitian A: the smallest magnitudes are interior when A is indefinite, where Lanczos
    may settle on the wrong ones; they are the lowest end of A^2, where it does not. Lanczos on A^2
    ('SA', a few extra pairs), then Rayleigh-Ritz with A on the span found (which separates +l and
    -l, equal in A^2)."""
    from ._interface import LinearOperator

    kk = min(n - 1, k + 2)
    G = LinearOperator((n, n), matvec=lambda x: A.matvec(A.matvec(x)), dtype=dt)
    # A^2 squeezes the wanted end together (relative gaps shrink): a wider default basis keeps Lanczos
    # from settling before every wanted pair has appeared
    ncv2 = min(n, max(4 * kk + 1, 40)) if ncv is None else max(int(ncv), kk + 1)
    _, Y = eigsh(G, k=kk, which="SA", v0=v0, ncv=ncv2, maxiter=maxiter, tol=tol, stream=s)
    with mx.stream(s):
        AY = A.matmat(Y)
        YH = mx.conj(Y).T if cplx else Y.T
        Hs = _mm(YH, AY, s)
        Gs = _mm(YH, Y, s)
    Hn = _host(Hs).astype(np.complex128 if cplx else np.float64)
    Gn = _host(Gs).astype(np.complex128 if cplx else np.float64)
    L = np.linalg.cholesky((Gn + Gn.conj().T) / 2)  # the span's Gram matrix (Y is orthonormal up to roundoff)
    Li = np.linalg.inv(L)
    theta, Z = np.linalg.eigh(Li @ ((Hn + Hn.conj().T) / 2) @ Li.conj().T)
    sel = np.argsort(np.abs(theta), kind="stable")[:k]
    order = sel[np.argsort(theta[sel])]
    vals = mx.array(theta[order], dtype=mx.float64 if dt == mx.float64 else mx.float32)
    if not return_eigenvectors:
        return vals
    with mx.stream(s):
        vecs = _mm(Y, mx.array(Li.conj().T @ Z[:, order], dtype=dt), s)
    return vals, vecs


@user_op("lanczos")
def lanczos(A: Any, k: int = 6, which: str = "LA", v0: Any = None, ncv: Optional[int] = None,
            maxiter: Optional[int] = None, tol: float = 0, return_eigenvectors: bool = True, stream: StreamLike = None):
    """The reference package's name for :func:`eigsh` (Lanczos): k eigenpairs of the Hermitian A,
    the largest algebraic ones by default."""
    return eigsh(A, k=k, which=which, v0=v0, ncv=ncv, maxiter=maxiter, tol=tol,
                 return_eigenvectors=return_eigenvectors, stream=stream)


@user_op("svds")
def svds(A: Any, k: int = 6, ncv: Optional[int] = None, tol: float = 0, which: str = "LM", v0: Any = None,
         maxiter: Optional[int] = None, return_singular_vectors: Any = True, solver: str = "arpack",
         random_state: Any = None, options: Any = None, stream: StreamLike = None):
    """k singular values (and vectors) of A, as ``scipy.sparse.linalg.svds``: the eigenpairs of
    A^H A (or A A^H, the smaller) by :func:`eigsh`, which = 'LM' (largest) or 'SM' (smallest; their
    accuracy is that of the squared problem). Returns (u, s, vh) with s ascending, or s alone
    (``return_singular_vectors=False``); 'u' / 'vh' return only that side (the other None)."""
    op = "svds"
    Aop = aslinearoperator(A)
    m, n = Aop.shape
    if which not in ("LM", "SM"):
        raise ValueError(f"{op}: which must be 'LM' or 'SM', got {which!r}")
    if not 0 < k < min(m, n):
        raise ValueError(f"{op}: k must satisfy 0 < k < min(m, n) = {min(m, n)}, got {k}")
    s = resolve_stream(stream)
    tall = m >= n
    from ._interface import LinearOperator

    if tall:  # A^H A, n x n
        G = LinearOperator((n, n), matvec=lambda x: Aop.rmatvec(Aop.matvec(x)), dtype=Aop.dtype)
    else:  # A A^H, m x m
        G = LinearOperator((m, m), matvec=lambda x: Aop.matvec(Aop.rmatvec(x)), dtype=Aop.dtype)
    want = return_singular_vectors
    vals, vecs = eigsh(G, k=k, which="LA" if which == "LM" else "SA", ncv=ncv, tol=tol, maxiter=maxiter, v0=v0,
                       return_eigenvectors=True, stream=s)
    sv = np.sqrt(np.maximum(_host(vals), 0))
    if want is False:
        return mx.array(sv, dtype=vals.dtype)
    with mx.stream(s):
        inv = mx.array(np.where(sv > 0, 1.0 / np.where(sv > 0, sv, 1.0), 0.0), dtype=vecs.dtype)
        if tall:
            v = vecs
            u = Aop.matmat(v) * inv[None, :]
        else:
            u = vecs
            v = Aop.rmatmat(u) * inv[None, :]
        vh = mx.conj(v).T if mx.issubdtype(v.dtype, mx.complexfloating) else v.T
    svm = mx.array(sv, dtype=vals.dtype)
    if want == "u":
        return u, svm, None
    if want == "vh":
        return None, svm, vh
    return u, svm, vh


@user_op("eigs")
def eigs(A: Any, k: int = 6, M: Any = None, sigma: Any = None, which: str = "LM", v0: Any = None,
         ncv: Optional[int] = None, maxiter: Optional[int] = None, tol: float = 0, return_eigenvectors: bool = True,
         Minv: Any = None, OPinv: Any = None, OPpart: Any = None, stream: StreamLike = None):
    """k eigenvalues (and eigenvectors) of a general square A, as ``scipy.sparse.linalg.eigs``:
    which = 'LM', 'SM', 'LR', 'SR', 'LI', 'SI'. Krylov-Schur restarted Arnoldi: the basis stays real
    for real A (a complex pair's real and imaginary parts span its invariant subspace), the small
    Hessenberg problems are solved on the host. Returns complex64 MLX arrays (MLX has no
    complex128: float64 input gives complex64 results, accurate to float64 before the cast). Raises
    ``ArpackNoConvergence`` as scipy. ``sigma``: shift-invert through our sparse LU (``which`` then
    refers to 1 / (lambda - sigma)); ``M`` raises ``NotImplementedError``."""
    op = "eigs"
    if M is not None or Minv is not None or OPinv is not None or OPpart is not None:
        raise NotImplementedError(f"{op}: generalized problems (M), Minv, OPinv and OPpart are not available yet")
    if sigma is not None:
        if np.iscomplexobj(sigma) and not mx.issubdtype(aslinearoperator(A).dtype, mx.complexfloating):
            raise NotImplementedError(f"{op}: a complex sigma for a real matrix is not available yet")
        return _shift_invert_general(op, A, k, sigma, which, v0, ncv, maxiter, tol, return_eigenvectors, stream)
    A, n = _check(op, A, k, which, ("LM", "SM", "LR", "SR", "LI", "SI"))
    if k >= n - 1:
        raise ValueError(f"{op}: k must satisfy 0 < k < n - 1 = {n - 1}, got {k}")
    s = resolve_stream(stream)
    dt = A.dtype if isinstance(A.dtype, mx.Dtype) and mx.issubdtype(A.dtype, mx.inexact) else mx.float32
    cplx = mx.issubdtype(dt, mx.complexfloating)
    ncv, maxiter, eps, tol, npc, V = _krylov_setup(op, n, k, 1, ncv, maxiter, tol, v0, dt, cplx, s)
    H = np.zeros((ncv + 1, ncv), dtype=npc)  # A V[:, :m] = V[:, :m+1] H (Krylov-Schur after restarts)
    j0 = 0
    for _restart in range(max(maxiter, 1)):
        coeffs = []
        with mx.stream(s):
            for j in range(j0, ncv):
                w, h = _orth(V, A.matvec(V[j]))
                nrm = mx.sqrt(mx.sum(mx.abs(w) ** 2))
                coeffs.append((h, nrm))
                V.append(w / mx.where(nrm == 0, mx.ones_like(nrm), nrm))
            mx.eval([c for hc in coeffs for c in hc], V[-1])
        for i, (h, nrm) in enumerate(coeffs):
            j = j0 + i
            H[: j + 1, j] = _host(h).astype(npc)
            H[j + 1, j] = float(_host(nrm))
        theta, Y = np.linalg.eig(H[:ncv, :ncv])
        # real A: 'LI' / 'SI' rank by |imaginary part|, as ARPACK (a conjugate pair ranks together)
        rank_by = theta if cplx else theta.real + 1j * np.abs(theta.imag)
        sel = _select(rank_by, k, which)
        # residual of the Ritz pair (theta_i, V y_i): |h_{m+1} . y_i|, h_{m+1} the coupling row
        res = np.abs(H[ncv, :ncv] @ Y[:, sel]) / np.maximum(np.linalg.norm(Y[:, sel], axis=0), 1e-300)
        conv = res <= np.maximum(tol * np.abs(theta[sel]), 10 * eps * max(np.abs(theta).max(), 1e-300))
        if np.all(conv) or _restart == maxiter - 1:
            with mx.stream(s):
                Vm = mx.stack(V[:ncv], axis=1)
                Ys = Y[:, sel]
                if cplx:
                    X = _mm(Vm, mx.array(Ys.astype(np.complex64)), s)
                else:
                    X = _mm(Vm, mx.array(Ys.real, dtype=dt), s).astype(mx.complex64) + \
                        1j * _mm(Vm, mx.array(Ys.imag, dtype=dt), s).astype(mx.complex64)
                nrm = mx.sqrt(mx.sum(mx.abs(X) ** 2, axis=0))
                X = X / nrm[None, :]
            vals = mx.array(theta[sel].astype(np.complex64))
            if not np.all(conv):
                raise ArpackNoConvergence(f"{op}: {int(conv.sum())} of {k} eigenvalues converged in {maxiter} restarts",
                                          vals, X)
            return (vals, X) if return_eigenvectors else vals
        # Krylov-Schur restart: an orthonormal basis Q of the wanted Ritz vectors' span (with extra
        # ones; real for real A: a complex pair contributes its real and imaginary parts)
        keep = min(ncv - 2, max(k + (ncv - k) // 2, k + 1))
        order = list(_select(rank_by, len(theta), which))
        if cplx:
            B = Y[:, order[:keep]]
        else:  # a real basis: a real Ritz vector, or a complex pair's real and imaginary parts
            cols, used = [], set()
            scale = max(np.abs(theta).max(), 1e-300)
            for i in order:
                if len(cols) >= keep:
                    break
                if i in used:
                    continue
                used.add(i)
                if abs(theta[i].imag) <= 1e3 * eps * scale:
                    cols.append(Y[:, i].real / max(np.linalg.norm(Y[:, i].real), 1e-300))
                elif len(cols) + 2 <= ncv - 1:
                    used.add(int(np.argmin(np.abs(theta - np.conj(theta[i])) + (np.arange(len(theta)) == i) * 1e300)))
                    cols += [Y[:, i].real, Y[:, i].imag]
            B = np.stack(cols, axis=1)
        Q, _ = np.linalg.qr(B)
        p = Q.shape[1]
        Hn = np.zeros_like(H)
        Hn[:p, :p] = Q.conj().T @ H[:ncv, :ncv] @ Q
        Hn[p, :p] = H[ncv, :ncv] @ Q
        with mx.stream(s):
            Vq = _mm(mx.stack(V[:ncv], axis=1), mx.array(Q, dtype=dt), s)
            V = [Vq[:, i] for i in range(p)] + [V[ncv]]
        H = Hn
        j0 = p
    raise ArpackNoConvergence(f"{op}: no convergence in {maxiter} restarts", np.zeros(0), None)


@user_op("lobpcg")
def lobpcg(A: Any, X: Any, B: Any = None, M: Any = None, Y: Any = None, tol: Optional[float] = None,
           maxiter: Optional[int] = None, largest: bool = True, verbosityLevel: int = 0, retLambdaHistory: bool = False,
           retResidualNormsHistory: bool = False, restartControl: int = 20, stream: StreamLike = None):
    """LOBPCG for the k = X.shape[1] largest (or smallest) eigenpairs of the Hermitian A (generalized:
    A x = lambda B x with B Hermitian positive definite), as ``scipy.sparse.linalg.lobpcg``: ``M`` a
    preconditioner, ``tol`` on the residual norms (default sqrt(eps) n), ``maxiter`` (default 20).
    The block products run on the device (our products); the Rayleigh-Ritz problems of size 3k on
    the host. Constraints ``Y`` raise ``NotImplementedError``. Returns (values, vectors) with the
    values in the order scipy gives (descending for ``largest``), plus the histories when asked."""
    op = "lobpcg"
    if Y is not None:
        raise NotImplementedError(f"{op}: constraints (Y) are not available yet")
    Aop = aslinearoperator(A)
    n = Aop.shape[0]
    if Aop.shape[0] != Aop.shape[1]:
        raise ValueError(f"{op}: expected a square operator, got shape {Aop.shape}")
    Bop = None if B is None else aslinearoperator(B)
    Mop = None if M is None else aslinearoperator(M)
    s = resolve_stream(stream)
    dt = Aop.dtype if isinstance(Aop.dtype, mx.Dtype) and mx.issubdtype(Aop.dtype, mx.inexact) else mx.float32
    X0 = X if isinstance(X, mx.array) else mx.array(np.asarray(X), dtype=dt)
    if X0.ndim != 2 or X0.shape[0] != n:
        raise ValueError(f"{op}: X must be an (n, k) block with n = {n}, got shape {tuple(X0.shape)}")
    k = X0.shape[1]
    if not 0 < k or 3 * k > n:
        raise ValueError(f"{op}: the block size k = {k} must satisfy 0 < 3k <= n = {n}")
    cplx = mx.issubdtype(dt, mx.complexfloating)
    npc = np.complex128 if cplx else np.float64
    eps = float(np.finfo(np.float64 if dt == mx.float64 else np.float32).eps)
    tol = math.sqrt(eps) * n if tol is None else float(tol)
    maxiter = 20 if maxiter is None else int(maxiter)

    def H(Z):
        return mx.conj(Z).T if cplx else Z.T

    def host(Z):
        return _host(Z).astype(npc)

    def rayleigh_ritz(S, AS, BS):
        """Ritz pairs of (S^H A S, S^H B S), the Gram matrix made definite by dropping weak directions."""
        GA, GB = host(_mm(H(S), AS, s)), host(_mm(H(S), BS, s))
        GA, GB = (GA + GA.conj().T) / 2, (GB + GB.conj().T) / 2
        w, U = np.linalg.eigh(GB)
        keep = w > eps * 100 * max(w.max(), 1e-300)
        T = U[:, keep] / np.sqrt(w[keep])
        theta, Z = np.linalg.eigh(T.conj().T @ GA @ T)
        return theta, T @ Z

    with mx.stream(s):
        Xb = X0.astype(dt)
        AX = Aop.matmat(Xb)
        BX = Xb if Bop is None else Bop.matmat(Xb)
        theta, C = rayleigh_ritz(Xb, AX, BX)
        if theta.size < k:
            raise ValueError(f"{op}: the columns of X are linearly dependent")
        order = np.argsort(-theta if largest else theta)[:k]
        Cm = mx.array(C[:, order], dtype=dt)
        Xb, AX, BX = _mm(Xb, Cm, s), _mm(AX, Cm, s), _mm(BX, Cm, s)
        lam = theta[order]
        P = AP = BP = None
        lam_hist, res_hist = [lam.copy()], []
        for _ in range(maxiter):
            R = AX - BX * mx.array(lam, dtype=dt)[None, :]
            rn = np.sqrt(_host(mx.sum(mx.abs(R) ** 2, axis=0)).astype(np.float64))
            res_hist.append(rn)
            if np.all(rn <= tol):
                break
            W = R if Mop is None else Mop.matmat(R)
            AW = Aop.matmat(W)
            BW = W if Bop is None else Bop.matmat(W)
            blocks = [(Xb, AX, BX), (W, AW, BW)] + ([(P, AP, BP)] if P is not None else [])
            S = mx.concatenate([b_[0] for b_ in blocks], axis=1)
            AS = mx.concatenate([b_[1] for b_ in blocks], axis=1)
            BS = mx.concatenate([b_[2] for b_ in blocks], axis=1)
            theta, C = rayleigh_ritz(S, AS, BS)
            if theta.size < k:
                raise ValueError(f"{op}: the search space lost rank (fewer than k = {k} independent directions)")
            order = np.argsort(-theta if largest else theta)[:k]
            Cx = C[:, order]
            Cp = Cx.copy()
            Cp[:k, :] = 0  # the new search directions: the W and P parts of the update
            Cxm, Cpm = mx.array(Cx, dtype=dt), mx.array(Cp, dtype=dt)
            Xb, AX, BX = _mm(S, Cxm, s), _mm(AS, Cxm, s), _mm(BS, Cxm, s)
            P, AP, BP = _mm(S, Cpm, s), _mm(AS, Cpm, s), _mm(BS, Cpm, s)
            lam = theta[order]
            lam_hist.append(lam.copy())
            mx.eval(Xb, AX, BX, P, AP, BP)
    vals = mx.array(lam, dtype=mx.float64 if dt == mx.float64 else mx.float32)
    out = [vals, Xb]
    if retLambdaHistory:
        out.append([mx.array(v) for v in lam_hist])
    if retResidualNormsHistory:
        out.append([mx.array(v) for v in res_hist])
    return tuple(out)
