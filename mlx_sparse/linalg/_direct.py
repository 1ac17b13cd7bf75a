"""Direct solvers with scipy.sparse.linalg's names (and the reference package's): spsolve, splu /
sparse_lu, spilu, factorized, cholesky / sparse_cholesky, inv; classes SparseLU, SparseCholesky,
FactorizedSolve.

Engines: SuiteSparse on the CPU (KLU for LU by default, UMFPACK on request, CHOLMOD for Cholesky;
csrc/cpu/direct.c), found at build time. A build without it falls back to scipy's SuperLU and warns once.
On a GPU stream: NVIDIA cuDSS (csrc/cuda/direct.c), loaded at run time from the ``nvidia-cudss-cu13``
wheel (or the file named by ``MLX_SPARSE_CUDSS``); without it GPU direct solves raise ``RuntimeError``
saying what to install.

Execution on the CPU: factorizations and solves are staged operations that evaluate their inputs (one
synchronization each: the matrix values, the right-hand side) and run on the host in double
precision; results come back as MLX arrays of the operands' dtype.

Execution on the GPU: the factorization (cuDSS's analysis and numeric factorization, and ``refactor``)
is staged: it evaluates the matrix and synchronizes once, to read cuDSS's pivot report (a singular or
not positive definite matrix raises there). cuDSS pivots within its supernodes and perturbs pivots it finds
(nearly) zero: where it did, solves use iterative refinement and one test solve for a known solution decides
between keeping the factorization (an indefinite matrix) and ``LinAlgError`` (a singular one). A
``refactor`` on the factored structure's own arrays skips the pattern check. Solves are graph nodes:
``solve``/``spsolve``'s solve joins
the lazy graph on the GPU stream, synchronizes nothing, and composes with ``mx.grad`` (its adjoint is
another node on the same factorization). GPU values are float32 or complex64 (float16/bfloat16 are
factored in float32); cuDSS does not expose its factors, so ``L``, ``U``, ``perm_r``/``perm_c``,
``perm`` and the LU ``logdet`` raise ``RuntimeError`` on the GPU. ``spsolve`` and the solves of
``factorized``, ``splu`` and ``cholesky`` are differentiable in the matrix values and the
right-hand side by implicit differentiation: the vjp is one adjoint solve with the kept
factorization, the value gradient -lambda_i conj(x_j) on A's pattern (complex values in MLX's
convention: a cotangent maps through the adjoint); the jvp one solve.

Factors: ``SparseLU`` gives ``L``, ``U``, ``perm_r``, ``perm_c`` in scipy's SuperLU convention (each
engine's own factors, its scaling and KLU's block triangular form folded in) and ``SparseCholesky``
gives ``L`` and ``perm``; they are extracted on first access (host arrays, not differentiable).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from typing import Any, Optional

import mlx.core as mx
import numpy as np

from .. import _ext
from .._coerce import is_scipy_sparse, is_sparse
from .._device import StreamLike, is_gpu, resolve_stream
from .._kernels import user_op
from ._interface import pattern_product

__all__ = ["spsolve", "splu", "sparse_lu", "spilu", "factorized", "cholesky", "sparse_cholesky", "inv", "SparseLU",
           "SparseCholesky", "FactorizedSolve", "MatrixRankWarning", "direct_engine"]

_LU, _CHOL = 0, 1  # msp_direct kinds: MSP_DIRECT_CHOLESKY = 0, MSP_DIRECT_LU = 1 (see direct.h)
_KIND = {_LU: 1, _CHOL: 0}
_GPU_REFINE_STEPS = 2  # iterative refinement steps of a GPU factorization whose pivots cuDSS perturbed
_GPU_PERTURBED_TOL = 1e-3  # the relative error its test solve must reach (float32 / complex64)
_TRANS = {"N": 0, "T": 1, "H": 2}
_STATUS_SINGULAR, _STATUS_NOMEM = 5, 2
_WARNED = []


class MatrixRankWarning(UserWarning):
    """scipy's warning class for a singular matrix (here an error is raised instead; the class exists
    for ported code that filters it)."""


def direct_engine(device: Any = None) -> str:
    """The direct solvers' engine: on the CPU 'suitesparse' when this build has SuiteSparse, else
    'scipy-superlu' (the fallback); for ``device=mx.gpu`` (or a GPU stream) 'cudss' when NVIDIA cuDSS
    loads, else 'none'."""
    if device is not None and is_gpu(resolve_stream(device)):
        try:
            _cudss("direct_engine")
            return "cudss"
        except RuntimeError:
            return "none"
    return "suitesparse" if _ext.direct_available() else "scipy-superlu"


def _fallback_warning(op: str):
    if not _WARNED:
        _WARNED.append(True)
        warnings.warn(f"{op}: this build of mlx_sparse has no SuiteSparse (CHOLMOD/UMFPACK); using scipy's SuperLU, "
                      "which is slower (install libsuitesparse-dev and reinstall mlx_sparse)", RuntimeWarning,
                      stacklevel=3)


def _cpu_only(op: str, s: mx.Stream, why: str):
    if is_gpu(s):
        raise RuntimeError(f"{op}: not available on the GPU ({why}); run it on the CPU (stream=mx.cpu)")


_CUDSS = []  # [module] once cuDSS is loaded, ["error text"] once it failed


def _cudss_paths() -> list:
    """Where libcudss may be: MLX_SPARSE_CUDSS, the nvidia-cudss-cu13 wheel's directory, then the
    loader's search path (cuDSS 1.0 or later: older releases have another C API)."""
    import os

    env = os.environ.get("MLX_SPARSE_CUDSS")
    if env:
        return [env]
    paths = []
    try:
        import nvidia

        for root in list(nvidia.__path__):
            f = os.path.join(root, "cu13", "lib", "libcudss.so.1")
            if os.path.exists(f):
                paths.append(f)
    except ImportError:
        pass
    return paths + ["libcudss.so.1"]


def _cudss(op: str):
    """The GPU glue module with cuDSS loaded, or RuntimeError saying what is missing."""
    with _LOAD_LOCK:
        if not _CUDSS:
            try:
                from .. import _ext_cuda as ext
            except ImportError:
                _CUDSS.append("this build of mlx_sparse has no CUDA glue (it was built against an MLX without "
                              "CUDA; reinstall it where mlx[cuda13] is installed)")
            else:
                errs = []
                for path in _cudss_paths():
                    st, msg = ext.cudss_load(path)
                    if st == 0:
                        _CUDSS.append(ext)
                        break
                    errs.append(msg)
                else:
                    _CUDSS.append("NVIDIA cuDSS was not found (pip install nvidia-cudss-cu13, or set MLX_SPARSE_CUDSS "
                                  f"to libcudss.so.1); tried: {'; '.join(errs)}")
    if isinstance(_CUDSS[0], str):
        raise RuntimeError(f"{op}: no GPU direct solver: {_CUDSS[0]}; or run it on the CPU (stream=mx.cpu)")
    return _CUDSS[0]


_LOAD_LOCK = threading.Lock()


def _as_sparse(op: str, A: Any):
    from .. import csr_array

    if is_scipy_sparse(A):
        A = csr_array(A, dtype=mx.float64 if A.dtype == np.float64 else None)
    if not is_sparse(A):
        raise TypeError(f"{op}: expected a sparse matrix, got {type(A).__name__}")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"{op}: expected a square matrix, got shape {A.shape}")
    return A


def _factorization(op: str, A, kind: int, s: mx.Stream, engine: Optional[str] = None):
    """The factorization of A for stream s: on the host (SuiteSparse or SuperLU) or the GPU (cuDSS)."""
    return _GpuFactorization(op, A, kind, s, engine) if is_gpu(s) else _Factorization(op, A, kind, s, engine)


class _Factorization:
    """The host factorization of a square sparse matrix: its CSC pattern (canonical), the engine's
    handle (or scipy's SuperLU object) and the values it was factored with."""

    work_stream = mx.cpu  # where the derivative's pattern products run

    def __init__(self, op: str, A, kind: int, s: mx.Stream, engine: Optional[str] = None):
        if engine not in (None, "umfpack", "klu", "superlu") or (engine in ("klu", "umfpack") and kind == _CHOL):
            raise ValueError(f"{op}: engine must be 'klu' (the default LU), 'umfpack' or 'superlu', got {engine!r}")
        if engine is None and kind == _LU:
            engine = "klu"  # measured faster than UMFPACK on every matrix of bench/direct.py (bench/NOTES.md)
        self.engine = engine
        self.op, self.kind, self.s = op, kind, s
        self.lock = threading.Lock()  # the engines' handles keep workspace: one call at a time
        A = _as_sparse(op, A)
        self.shape, self.dtype = A.shape, A.dtype
        self.cplx = mx.issubdtype(A.dtype, mx.complexfloating)
        # the CSC of A: the CSR buffers of A^T, canonical (differentiable in A's values)
        T = A.T.tocsr(canonical=True, stream=mx.cpu)
        self.data_mx = T.data  # the values factored, differentiable in A's values
        mx.eval(T.data, T.indices, T.indptr)
        self.colptr = np.ascontiguousarray(np.array(T.indptr), dtype=np.int64)
        self.rowind = np.ascontiguousarray(np.array(T.indices), dtype=np.int64)
        self.handle, self.superlu, self._factors = 0, None, None
        n = self.shape[0]
        if n == 0:  # nothing to factor (the engines refuse an empty matrix)
            self.values = np.zeros(0)
            return
        if _ext.direct_available() and engine != "superlu":
            code = 2 if engine == "klu" else _KIND[kind]  # MSP_DIRECT_KLU, else UMFPACK (LU) or CHOLMOD
            st, h, msg = _ext.direct_analyze(code, int(self.cplx), n, self.colptr.ctypes.data,
                                             self.rowind.ctypes.data)
            self._raise(st, msg)
            self.handle = h
        elif engine != "superlu":
            _fallback_warning(op)
        self.factor(T.data)

    def _raise(self, st: int, msg: str):
        if st == 0:
            return
        if st == _STATUS_SINGULAR:
            raise np.linalg.LinAlgError(f"{self.op}: {msg}")
        if st == _STATUS_NOMEM:
            raise MemoryError(f"{self.op}: {msg or 'out of memory'}")
        raise ValueError(f"{self.op}: {msg or 'the engine failed (status %d)' % st}")

    def factor(self, data: mx.array):
        """(Re)factor with new values in the CSC pattern's order (an MLX array, evaluated here)."""
        self._factors = None  # the factors of the previous values
        if self.shape[0] == 0:
            return
        vals = np.array(data.astype(mx.complex64 if self.cplx else mx.float64, stream=mx.cpu))
        self.values = np.ascontiguousarray(vals, dtype=np.complex128 if self.cplx else np.float64)
        if self.handle:
            with self.lock:
                st, msg = _ext.direct_factor(self.handle, self.values.ctypes.data)
            self._raise(st, msg)
        else:
            import scipy.sparse as sp
            import scipy.sparse.linalg as sla

            M = sp.csc_matrix((self.values, self.rowind, self.colptr), shape=self.shape)
            if self.kind == _CHOL:  # as CHOLMOD: only the upper triangle counts, the rest is its mirror
                U = sp.triu(M, format="csc")
                M = sp.csc_matrix(U + sp.triu(U, 1).conj().T)
            # Cholesky: symmetric mode without row pivoting, so U's diagonal holds the LDL^H pivots
            opts = dict(permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True)) \
                if self.kind == _CHOL else {}
            try:
                self.superlu = sla.splu(M, **opts)
            except RuntimeError as e:  # SuperLU: "Factor is exactly singular"
                raise np.linalg.LinAlgError(f"{self.op}: {e}") from None
            d = self.superlu.U.diagonal()
            if self.kind == _CHOL:
                bad = np.flatnonzero((d.real <= 0) | (np.abs(d.imag) > 1e-12 * np.abs(d)) | ~np.isfinite(d))
                if bad.size:  # the first failing pivot, named by the user's column (as the CHOLMOD path)
                    col = int(np.flatnonzero(self.superlu.perm_c == bad[0])[0])
                    raise np.linalg.LinAlgError(f"{self.op}: the matrix is not positive definite (column {col})")
            elif np.any(d == 0) or not np.all(np.isfinite(d)):  # some SuperLU builds return a zero pivot silently
                raise np.linalg.LinAlgError(f"{self.op}: the matrix is singular (a zero pivot)")

    def __del__(self):
        if getattr(self, "handle", 0):
            _ext.direct_free(self.handle)
            self.handle = 0

    def solve_host(self, b: np.ndarray, trans: str) -> np.ndarray:
        """op(A)^-1 b for a host array b of shape (n,) or (n, k), in double precision."""
        n = self.shape[0]
        if n == 0:
            return np.zeros(b.shape, dtype=np.complex128 if (self.cplx or np.iscomplexobj(b)) else np.float64)
        B = b.reshape(n, -1)
        k = B.shape[1]
        wdt = np.complex128 if (self.cplx or np.iscomplexobj(B)) else np.float64
        if self.handle:
            if wdt == np.complex128 and not self.cplx:  # a real factor, complex b: two real solves
                return self.solve_host(B.real.copy(), trans) + 1j * self.solve_host(B.imag.copy(), trans)
            Bf = np.asfortranarray(B.astype(wdt))
            X = np.empty_like(Bf, order="F")
            with self.lock:
                st, msg = _ext.direct_solve(self.handle, _TRANS[trans], k, Bf.ctypes.data, X.ctypes.data)
            self._raise(st, msg)
        else:
            X = self.superlu.solve(np.asarray(B, dtype=wdt), trans=trans)
        if not np.all(np.isfinite(X)):
            raise np.linalg.LinAlgError(f"{self.op}: the matrix is numerically singular (the solution is not finite)")
        return X.reshape(b.shape)

    @property
    def fill(self) -> int:
        if self.shape[0] == 0:
            return 0
        if self.handle:
            with self.lock:
                return int(_ext.direct_fill(self.handle))
        return int(self.superlu.L.nnz + self.superlu.U.nnz - self.shape[0])

    def factors_host(self) -> dict:
        """The factors in scipy's SuperLU convention, on the host in double precision (kept until the
        next factorization). LU: L, U as CSC triplets (data, indices, indptr) with Pr A Pc = L U,
        Pr[perm_r[i], i] = 1, Pc[i, perm_c[i]] = 1, L unit lower triangular; Cholesky: L and perm with
        A[perm][:, perm] = L L^H. Rows sorted in each column, int64 indices."""
        with self.lock:
            if self._factors is None:
                self._factors = self._compute_factors()
            return self._factors

    def _compute_factors(self) -> dict:
        n = self.shape[0]
        vdt = np.complex128 if self.cplx else np.float64
        lu = self.kind == _LU
        if n == 0:
            empty = (np.zeros(0, vdt), np.zeros(0, np.int64), np.zeros(1, np.int64))
            p0 = np.zeros(0, np.int64)
            return dict(L=empty, U=empty, perm_r=p0, perm_c=p0) if lu else dict(L=empty, perm=p0)
        if self.handle:
            st, lnz, unz, msg = _ext.direct_factors(self.handle)
            self._raise(st, msg)
            w = 2 if self.cplx else 1
            Lp, Li, Lx = np.empty(n + 1, np.int64), np.empty(lnz, np.int64), np.empty(lnz * w, np.float64)
            Up, Ui, Ux = np.empty(n + 1, np.int64), np.empty(unz, np.int64), np.empty(unz * w, np.float64)
            pr, pc = np.empty(n, np.int64), np.empty(n, np.int64)
            bufs = (Lp, Li, Lx, Up, Ui, Ux, pr, pc) if lu else (Lp, Li, Lx, None, None, None, pr, None)
            self._raise(_ext.direct_factors_copy(self.handle, *(0 if b is None else b.ctypes.data for b in bufs)), "")
            if not lu:
                return dict(L=(Lx.view(vdt), Li, Lp), perm=pr)
            return dict(L=(Lx.view(vdt), Li, Lp), U=(Ux.view(vdt), Ui, Up), perm_r=pr, perm_c=pc)

        def triplet(M):
            M = M.tocsc()
            M.sort_indices()
            return (np.asarray(M.data, vdt), M.indices.astype(np.int64), M.indptr.astype(np.int64))

        f = self.superlu  # scipy's SuperLU object: the convention is its own
        if lu:
            return dict(L=triplet(f.L), U=triplet(f.U), perm_r=f.perm_r.astype(np.int64),
                        perm_c=f.perm_c.astype(np.int64))
        # Cholesky through SuperLU's symmetric mode (diagonal pivots: perm_r == perm_c): A(p, p) = L0 U with
        # U = D L0^H, so L = L0 D^(1/2)
        if not np.array_equal(f.perm_r, f.perm_c):
            raise np.linalg.LinAlgError(f"{self.op}: SuperLU pivoted off the diagonal; no Cholesky factor to extract")
        import scipy.sparse as sp

        d = np.sqrt(f.U.diagonal().real)
        return dict(L=triplet(f.L @ sp.diags(d)), perm=np.argsort(f.perm_c).astype(np.int64))

    def logdet(self):
        """(sign or phase, log |det A|)."""
        if self.shape[0] == 0:
            return (1.0, 0.0)
        if self.handle:
            with self.lock:
                st, la, sr, si = _ext.direct_logdet(self.handle)
            self._raise(st, "")
            return (complex(sr, si) if self.cplx else sr), la
        d = self.superlu.U.diagonal()
        perm_sign = _perm_sign(self.superlu.perm_r) * _perm_sign(self.superlu.perm_c)
        la = float(np.sum(np.log(np.abs(d))))
        ph = np.prod(d / np.abs(d)) * perm_sign
        return (complex(ph) if self.cplx else float(np.real(ph))), la

    def _solve_mx(self, bv: mx.array, trans: str, out_dt) -> mx.array:
        """op(A)^-1 bv through the host engine (evaluates bv)."""
        cplx_b = mx.issubdtype(bv.dtype, mx.complexfloating)
        bh = np.array(bv.astype(mx.complex64 if cplx_b else mx.float64, stream=mx.cpu))
        return mx.array(self.solve_host(bh, trans), dtype=out_dt)

    def _pattern(self):
        """(rows, columns) of the factored values, as MLX arrays (structure only)."""
        if getattr(self, "_rc", None) is None:
            n = self.shape[0]
            cols = np.repeat(np.arange(n), np.diff(self.colptr))
            self._rc = (mx.array(self.rowind), mx.array(cols))
        return self._rc

    def refactor(self, A2: Any):
        A2 = _as_sparse(self.op, A2)
        if A2.shape != self.shape:
            raise ValueError(f"{self.op}: refactor with shape {A2.shape}, the factorization is {self.shape}")
        T = A2.T.tocsr(canonical=True, stream=mx.cpu)
        mx.eval(T.data, T.indices, T.indptr)
        if not (np.array_equal(np.array(T.indptr), self.colptr) and np.array_equal(np.array(T.indices), self.rowind)):
            raise ValueError(f"{self.op}: refactor needs a matrix with the factorized matrix's pattern")
        self.factor(T.data)
        self.data_mx = T.data  # derivatives now reach the new matrix's values

    # ---- the differentiable solve -------------------------------------------------------------
    def solve(self, b: Any, trans: str = "N", data: Optional[mx.array] = None) -> mx.array:
        """op(A)^-1 b as an MLX array (b: a vector or an (n, k) block, MLX or NumPy, or sparse);
        differentiable in ``data`` (the CSC values this was factored with, when given) and in b."""
        if trans not in _TRANS:
            raise ValueError(f"{self.op}: trans must be 'N', 'T' or 'H', got {trans!r}")
        n = self.shape[0]
        if is_sparse(b) or is_scipy_sparse(b):
            b = _as_dense_rhs(self.op, b)
        bm = b if isinstance(b, mx.array) else mx.array(np.asarray(b),
                                                          dtype=mx.float64 if np.asarray(b).dtype == np.float64 else None)
        if bm.ndim not in (1, 2) or bm.shape[0] != n:
            raise ValueError(f"{self.op}: right-hand side of shape {tuple(bm.shape)} does not match the matrix's shape "
                             f"{self.shape}")
        from .._coerce import _result_type

        out_dt = _result_type(self.dtype, bm.dtype if mx.issubdtype(bm.dtype, mx.inexact) else self.dtype)
        if data is None:
            return self._solve_mx(bm, trans, out_dt)
        key = (trans, out_dt)
        fns = self.__dict__.setdefault("_solve_fns", {})
        if key not in fns:  # the differentiable solve, built once per (trans, dtype)
            fns[key] = self._solve_fn(trans, out_dt)
        return fns[key](data, bm)

    def _solve_fn(self, trans: str, out_dt):
        """x = op(A)^-1 b as an mx.custom_function of (values, b) with its vjp and jvp (kept by the
        factorization: it refers back to it weakly)."""
        fac = weakref.proxy(self)
        ws = self.work_stream

        def host_solve(bv, tr):
            return fac._solve_mx(bv, tr, out_dt)

        cplx = mx.issubdtype(out_dt, mx.complexfloating)

        def cj(v):
            return mx.conj(v) if cplx else v

        pattern = self._pattern

        @mx.custom_function
        def f(d, bb):
            return host_solve(bb, trans)

        # Complex values follow MLX's convention (a cotangent maps through the adjoint: for a real loss
        # L, the gradient of z is dL/dRe z + i dL/dIm z). x = op(A)^-1 b: the adjoint solve gives
        # lambda = op(A)^-H g = the gradient of b, and entry (r, c) of A gets -lambda_r conj(x_c) (op N),
        # -lambda_c conj(x_r) (T) or -conj(lambda_c) x_r (H).
        @f.vjp
        def f_vjp(primals, cotangent, output):
            d, bb = primals
            g = cotangent[0] if isinstance(cotangent, (list, tuple)) else cotangent
            x = output[0] if isinstance(output, (list, tuple)) else output
            with mx.stream(ws):
                g = g.astype(out_dt)
            if fac.kind == _CHOL:  # Hermitian: A^-H = A^-1
                lam = cj(host_solve(cj(g), "N")) if trans == "T" else host_solve(g, "N")
            elif trans == "N":
                lam = host_solve(g, "H" if cplx else "T")
            elif trans == "T":
                lam = cj(host_solve(cj(g), "N"))
            else:
                lam = host_solve(g, "N")
            r, c = pattern()  # value p sits at (row r[p], column c[p]) of A

            def grad_at(ri, ci):  # the gradient of entry (ri, ci) of a general A
                if trans == "N":
                    v = mx.take(lam, ri, axis=0) * cj(mx.take(x, ci, axis=0))
                elif trans == "T":
                    v = mx.take(lam, ci, axis=0) * cj(mx.take(x, ri, axis=0))
                else:
                    v = cj(mx.take(lam, ci, axis=0)) * mx.take(x, ri, axis=0)
                return -(v if v.ndim == 1 else mx.sum(v, axis=1))

            with mx.stream(ws):
                if fac.kind == _CHOL:  # only the upper triangle is read: an entry above the diagonal is
                    one = grad_at(r, c) + cj(grad_at(c, r))  # also its conjugate below it
                    gd = mx.where(r < c, one, mx.where(r == c, grad_at(r, c), mx.zeros_like(one)))
                else:
                    gd = grad_at(r, c)
                if not mx.issubdtype(d.dtype, mx.complexfloating):
                    gd = mx.real(gd) if cplx else gd
                if not mx.issubdtype(bb.dtype, mx.complexfloating):
                    lam = mx.real(lam) if cplx else lam
            return gd.astype(d.dtype), lam.astype(bb.dtype)

        @f.jvp
        def f_jvp(primals, tangents):
            d, bb = primals
            td, tb = tangents
            x = f(d, bb)
            r, c = pattern()
            with mx.stream(ws):  # op(dA) x on the pattern
                tdv = td.astype(out_dt)

                def spread(dest, src, w):
                    return pattern_product(dest, src, w, x.astype(out_dt))

                if fac.kind == _CHOL:  # the Hermitian matrix the upper triangle stands for (op T: its conjugate)
                    up = mx.where(r <= c, tdv, mx.zeros_like(tdv))
                    strict = mx.where(r < c, tdv, mx.zeros_like(tdv))
                    if trans == "T":
                        dAx = spread(r, c, cj(up)) + spread(c, r, strict)
                    else:
                        dAx = spread(r, c, up) + spread(c, r, cj(strict))
                elif trans == "N":
                    dAx = spread(r, c, tdv)
                else:
                    dAx = spread(c, r, tdv if trans == "T" else cj(tdv))
                rhs = (tb.astype(out_dt) if tb is not None else mx.zeros(bb.shape, dtype=out_dt)) - dAx
            return (host_solve(rhs, trans),)

        return f


class _GpuFactorization(_Factorization):
    """The cuDSS factorization of a square sparse matrix on the GPU: A's canonical CSR (kept on the
    device, cuDSS points into it) and the glue's factor object, whose solves are graph nodes."""

    def __init__(self, op: str, A, kind: int, s: mx.Stream, engine: Optional[str] = None):
        if engine not in (None, "cudss"):
            raise ValueError(f"{op}: on the GPU the engine is 'cudss' (NVIDIA cuDSS), got {engine!r}")
        self.engine = "cudss"
        self.op, self.kind, self.s = op, kind, s
        self.work_stream = s
        A = _as_sparse(op, A)
        self.shape, self.dtype = A.shape, A.dtype
        self.cplx = mx.issubdtype(A.dtype, mx.complexfloating)
        if A.dtype == mx.float64:
            raise TypeError(f"{op}: float64 is not supported on the GPU (MLX's GPU has no float64); use float32 "
                            "or run on the CPU")
        self.ext = _cudss(op)
        C = A.tocsr(canonical=True, stream=s)
        self.data_mx = C.data  # the values factored, differentiable in A's values
        self.indptr, self.indices = C.indptr, C.indices
        self.gf, self.gf_t, self._rc, self._C = None, None, None, C
        self.lock = threading.Lock()
        self.factor(C.data)

    def _analyze(self, indptr, indices, data):
        vals = mx.contiguous(data.astype(mx.complex64 if self.cplx else mx.float32, stream=self.s), stream=self.s)
        mx.eval(indptr, indices, vals)
        if vals.size == 0:
            raise np.linalg.LinAlgError(f"{self.op}: the matrix is singular (it has no stored entries)")
        st, gf, info, msg = self.ext.analyze(_KIND[self.kind], self.shape[0], indptr, indices, vals, self.s)
        self._raise(st, msg)
        self._check_pivots(gf, indptr, indices, vals)
        return gf, vals

    def _check_pivots(self, gf, indptr, indices, vals):
        """cuDSS pivots within its supernodes and perturbs a pivot it finds (nearly) zero, then carries on:
        a singular matrix gets a finite wrong answer, but so does a regular indefinite one (a shifted
        operator in shift-invert) whose pivots need exchanges across supernodes. Where pivots were
        perturbed, later solves run with iterative refinement, and one solve for a known random solution
        decides: the factorization is kept when its relative error is below _GPU_PERTURBED_TOL, else the
        matrix is singular or nearly so (LinAlgError)."""
        k = int(gf.npivots())
        if k == 0:
            return
        st, msg = gf.set_refinement(_GPU_REFINE_STEPS)
        self._raise(st, msg)
        from .._csr import csr_array

        rng = np.random.default_rng(0)
        xt = rng.standard_normal(self.shape[0]) + (1j * rng.standard_normal(self.shape[0]) if self.cplx else 0)
        M = csr_array((vals, indices, indptr), shape=self.shape, canonical=True)
        with mx.stream(self.s):
            xm = mx.array(xt.astype(np.complex64 if self.cplx else np.float32))
            x = gf.solve(M @ xm, self.op)
            err = float(mx.sqrt(mx.sum(mx.abs(x - xm) ** 2) / mx.sum(mx.abs(xm) ** 2)).item())
        if not err <= _GPU_PERTURBED_TOL:
            raise np.linalg.LinAlgError(f"{self.op}: the matrix is singular or nearly so (cuDSS perturbed {k} pivot"
                                        f"{'s' if k > 1 else ''}, and a test solve was off by {err:.1e}); factor "
                                        "on the CPU (stream=mx.cpu) for a fully pivoting engine")

    def factor(self, data: mx.array):
        """(Re)factor with new values in the CSR pattern's order; the transposed factorization (for
        trans='T'/'H' solves, made on first use) is dropped."""
        if self.shape[0] == 0:
            return
        with self.lock:
            self.gf_t = None
            if self.gf is None:
                self.gf, _ = self._analyze(self.indptr, self.indices, data)
            else:
                vals = mx.contiguous(data.astype(mx.complex64 if self.cplx else mx.float32, stream=self.s),
                                     stream=self.s)
                mx.eval(vals)
                st, info, msg = self.gf.factor(vals)  # in place: solves built before it refuse to run
                try:
                    self._raise(st, msg)
                    self._check_pivots(self.gf, self.indptr, self.indices, vals)
                except Exception:
                    self.gf = None  # no usable factorization until a refactor succeeds (a new analysis)
                    raise

    def _transposed(self):
        """The factorization of A^T (cuDSS's transposed solve mode is refused as unsupported)."""
        with self.lock:
            if self.gf_t is None:
                T = self._C.T.tocsr(canonical=True, stream=self.s)
                self.gf_t, _ = self._analyze(T.indptr, T.indices, T.data)
            return self.gf_t

    def _solve_mx(self, bv: mx.array, trans: str, out_dt) -> mx.array:
        """op(A)^-1 bv as a graph node on the GPU stream (bv: (n,) or (n, k))."""
        n = self.shape[0]
        s = self.s
        if n == 0:
            return mx.zeros(bv.shape, dtype=out_dt, stream=s)
        cplx_b = mx.issubdtype(bv.dtype, mx.complexfloating)
        if cplx_b and not self.cplx:  # a real factor, complex b: two real solves
            re = self._solve_mx(mx.real(bv, stream=s), trans, mx.float32)
            im = self._solve_mx(mx.imag(bv, stream=s), trans, mx.float32)
            return (re + 1j * im).astype(out_dt, stream=s)
        if self.gf is None:
            raise np.linalg.LinAlgError(f"{self.op}: the last refactor failed; refactor with a solvable matrix first")
        wdt = mx.complex64 if self.cplx else mx.float32
        b = bv.astype(wdt, stream=s)
        # A^-1 b (N; Cholesky H), A^-T b (T) and A^-H b = conj(A^-T conj(b)) (H); Cholesky T = conj(A^-1 conj(b))
        conj = self.cplx and ((trans == "H" and self.kind != _CHOL) or (trans == "T" and self.kind == _CHOL))
        gf = self._transposed() if (trans != "N" and self.kind != _CHOL) else self.gf
        if conj:
            b = mx.conj(b, stream=s)
        bt = b if b.ndim == 1 else mx.transpose(b, stream=s)  # each right-hand side a contiguous row
        xt = gf.solve(bt, self.op)
        x = xt if xt.ndim == 1 else mx.transpose(xt, stream=s)
        if conj:
            x = mx.conj(x, stream=s)
        return x.astype(out_dt, stream=s)

    def _pattern(self):
        if self._rc is None:  # the row and column of each CSR value (structure only, on the device)
            from .._csr import csr_array

            C = csr_array((mx.zeros(self.indices.shape, dtype=mx.float32), self.indices, self.indptr),
                          shape=self.shape, canonical=True)
            coo = C.tocoo(stream=self.s)
            self._rc = (coo.row, coo.col)
        return self._rc

    def refactor(self, A2: Any):
        A2 = _as_sparse(self.op, A2)
        if A2.shape != self.shape:
            raise ValueError(f"{self.op}: refactor with shape {A2.shape}, the factorization is {self.shape}")
        C = A2.tocsr(canonical=True, stream=self.s)
        # the factored structure's own arrays (new values on it: A.with_data, A * 2) need no comparison; other
        # arrays are compared on the device with one synchronization
        same = C.indptr is self.indptr and C.indices is self.indices
        if not same and C.indices.shape == self.indices.shape:
            eq = mx.logical_and(mx.array_equal(C.indptr, self.indptr, stream=self.s),
                                mx.array_equal(C.indices, self.indices, stream=self.s), stream=self.s)
            same = bool(eq)
        if not same:
            raise ValueError(f"{self.op}: refactor needs a matrix with the factorized matrix's pattern")
        self.factor(C.data)
        with self.lock:
            self.data_mx, self._C = C.data, C

    @property
    def fill(self) -> int:
        if self.gf is None:
            return 0
        return int(self.gf.fill())

    def factors_host(self) -> dict:
        raise RuntimeError(f"{self.op}: cuDSS does not expose its factors (L, U, permutations); factor on the CPU "
                           "(stream=mx.cpu) to read them")

    def logdet(self):
        if self.shape[0] == 0:
            return (1.0, 0.0)
        if self.kind != _CHOL:
            raise RuntimeError(f"{self.op}: the LU logdet is not available on the GPU (cuDSS exposes no pivot "
                               "sequence for its sign); factor on the CPU (stream=mx.cpu)")
        with self.lock:
            d = self.gf.diag(mx.complex64 if self.cplx else mx.float32)
        dh = np.abs(np.array(d)).astype(np.float64)
        return (1.0 if not self.cplx else 1 + 0j), float(_CUDSS_DIAG_LOGDET_SCALE * np.sum(np.log(dh)))


_CUDSS_DIAG_LOGDET_SCALE = 2.0  # cuDSS's diagonal of a Cholesky factorization is L's: log det A = 2 sum log L_ii


def _perm_sign(p: np.ndarray) -> float:
    p = np.asarray(p).copy()
    sign, seen = 1.0, np.zeros(p.size, dtype=bool)
    for i in range(p.size):
        if not seen[i]:
            j, length = i, 0
            while not seen[j]:
                seen[j], j, length = True, p[j], length + 1
            if length % 2 == 0:
                sign = -sign
    return sign


def _as_dense_rhs(op: str, b):
    from .. import csr_array

    B = csr_array(b) if is_scipy_sparse(b) else b
    return B.todense(stream=mx.cpu)


def _sparse_factor(trip, n: int, cplx: bool):
    """A host CSC triplet (rows sorted, no duplicates) as this package's csc_array (float64, or complex64:
    MLX has no complex128)."""
    from .. import csc_array

    data, indices, indptr = trip
    return csc_array((data, indices, indptr), shape=(n, n), dtype=mx.complex64 if cplx else mx.float64,
                     canonical=True)


def _perm(p: np.ndarray) -> mx.array:
    return mx.array(p.astype(np.int32 if p.size < 2**31 else np.int64))


class SparseLU:
    """The LU factorization of a square sparse matrix (KLU or UMFPACK; scipy's ``SuperLU`` object's role):
    ``solve(b, trans='N'|'T'|'H')``, ``shape``, ``nnz`` (the fill: nnz of L and U), ``refactor(A2)``
    for a matrix of the same pattern (the symbolic analysis is kept), ``logdet()`` -> (sign, log|det|).

    The factors, as scipy's ``SuperLU``: ``L``, ``U`` (csc_array, float64 or complex64, computed on
    first access and kept until ``refactor``), ``perm_r``, ``perm_c`` (int32 MLX arrays) with
    ``Pr @ A @ Pc == L @ U`` for ``Pr = csc_array((ones, (perm_r, arange(n))))`` and
    ``Pc = csc_array((ones, (arange(n), perm_c)))``, L unit lower and U upper triangular. They are the
    engine's own: UMFPACK's and KLU's row scaling D (A(P, Q) = D L0 U0) is folded in as
    L = D L0 D^-1, U = D U0; KLU's off-diagonal blocks F of its block triangular form
    (A(P, Q) = D (L0 U0 + F)) join U as L^-1 D F (a sparse triangular solve with L's diagonal
    blocks, computed once at extraction; U may then hold more entries than ``nnz`` counts). SuperLU
    (``engine='superlu'`` or the fallback): scipy's factors. The factors are not differentiable."""

    def __init__(self, A: Any, stream: StreamLike = None, op: str = "splu", engine: Optional[str] = None):
        s = resolve_stream(stream)
        self._f = _factorization(op, A, _LU, s, engine)
        self.shape, self.dtype = self._f.shape, self._f.dtype

    def solve(self, b: Any, trans: str = "N") -> mx.array:
        return self._f.solve(b, trans, data=self._f.data_mx)

    @property
    def nnz(self) -> int:
        return self._f.fill

    def refactor(self, A2: Any) -> "SparseLU":
        self._f.refactor(A2)
        return self

    def logdet(self):
        return self._f.logdet()

    @property
    def L(self):
        """The unit lower triangular factor (csc_array): Pr A Pc = L U."""
        return _sparse_factor(self._f.factors_host()["L"], self.shape[0], self._f.cplx)

    @property
    def U(self):
        """The upper triangular factor (csc_array): Pr A Pc = L U."""
        return _sparse_factor(self._f.factors_host()["U"], self.shape[0], self._f.cplx)

    @property
    def perm_r(self) -> mx.array:
        """The row permutation as scipy's: Pr = csc_array((ones, (perm_r, arange(n))))."""
        return _perm(self._f.factors_host()["perm_r"])

    @property
    def perm_c(self) -> mx.array:
        """The column permutation as scipy's: Pc = csc_array((ones, (arange(n), perm_c)))."""
        return _perm(self._f.factors_host()["perm_c"])

    def __repr__(self):
        return f"<SparseLU of a {self.shape[0]}x{self.shape[1]} matrix, {direct_engine(self._f.s)}, fill {self.nnz}>"


class SparseCholesky:
    """The Cholesky factorization A = L L^H of a Hermitian positive definite sparse matrix (CHOLMOD;
    only A's upper triangle is read): ``solve(b)``, ``logdet()`` (log det A, real), ``slogdet()``
    -> (sign, logdet), ``fill`` (nnz of L), ``refactor(A2)`` for the same pattern. A matrix that is
    not positive definite raises ``numpy.linalg.LinAlgError`` naming the failing column.

    The factor: ``L`` (csc_array, lower triangular, float64 or complex64) and the fill-reducing
    permutation ``perm`` (int32 MLX array; scikit-sparse's ``P()`` too) with
    ``A[perm][:, perm] == L @ L.conj().T``. CHOLMOD's: a simplicial LL^H copy of the kept factor
    (which is left as it is), made on first access and kept until ``refactor``; SuperLU's fallback:
    its symmetric-mode factors, L0 diag(U)^(1/2)."""

    def __init__(self, A: Any, stream: StreamLike = None, op: str = "cholesky"):
        s = resolve_stream(stream)
        self._f = _factorization(op, A, _CHOL, s)
        self.shape, self.dtype = self._f.shape, self._f.dtype

    def solve(self, b: Any) -> mx.array:
        return self._f.solve(b, "N", data=self._f.data_mx)

    __call__ = solve

    def logdet(self) -> float:
        return float(self._f.logdet()[1])

    def slogdet(self):
        sg, la = self._f.logdet()
        return (1.0 if la > -np.inf else 0.0), la

    @property
    def fill(self) -> int:
        return self._f.fill

    @property
    def L(self):
        """The lower triangular factor (csc_array): A[perm][:, perm] = L L^H."""
        return _sparse_factor(self._f.factors_host()["L"], self.shape[0], self._f.cplx)

    @property
    def perm(self) -> mx.array:
        """The fill-reducing permutation: A[perm][:, perm] = L L^H."""
        return _perm(self._f.factors_host()["perm"])

    def P(self) -> mx.array:
        """scikit-sparse's name for :attr:`perm`."""
        return self.perm

    def refactor(self, A2: Any) -> "SparseCholesky":
        self._f.refactor(A2)
        return self

    def __repr__(self):
        return f"<SparseCholesky of a {self.shape[0]}x{self.shape[1]} matrix, {direct_engine(self._f.s)}, fill {self.fill}>"


class FactorizedSolve:
    """``factorized(A)``: a callable solving A x = b with a kept LU factorization."""

    def __init__(self, A: Any, stream: StreamLike = None):
        self.lu = SparseLU(A, stream, op="factorized")
        self.shape = self.lu.shape

    def __call__(self, b: Any) -> mx.array:
        return self.lu.solve(b)

    solve = __call__


@user_op("splu")
def splu(A: Any, permc_spec: Any = None, diag_pivot_thresh: Any = None, relax: Any = None, panel_size: Any = None,
         options: Any = None, stream: StreamLike = None, engine: Optional[str] = None) -> SparseLU:
    """The LU factorization of A (scipy's ``splu``; its tuning arguments are accepted and ignored:
    the engine orders and pivots itself). ``engine``: 'klu' (SuiteSparse's KLU, the default where
    built: it beat UMFPACK on every matrix measured), 'umfpack' (SuiteSparse's UMFPACK) or 'superlu'
    (scipy's, on the host)."""
    return SparseLU(A, stream, op="splu", engine=engine)


sparse_lu = splu


@user_op("cholesky")
def cholesky(A: Any, stream: StreamLike = None) -> SparseCholesky:
    """The sparse Cholesky factorization of a Hermitian positive definite A (the reference package's
    ``sparse_cholesky`` / scikit-sparse's ``cholesky``)."""
    return SparseCholesky(A, stream, op="cholesky")


sparse_cholesky = cholesky


@user_op("factorized")
def factorized(A: Any, stream: StreamLike = None) -> FactorizedSolve:
    """A function solving A x = b with A factorized once (scipy's ``factorized``)."""
    return FactorizedSolve(A, stream)


@user_op("spsolve")
def spsolve(A: Any, b: Any, permc_spec: Any = None, use_umfpack: bool = True, stream: StreamLike = None,
            engine: Optional[str] = None):
    """x with A x = b (scipy's ``spsolve``): b a vector or an (n, k) block, dense (an MLX array back)
    or sparse (a CSR array back). Differentiable in A's values and in b (real or complex): the gradient
    reaches the values of A as given (duplicates summed through our canonicalization's rules). A
    singular matrix raises ``numpy.linalg.LinAlgError``. ``engine`` as for :func:`splu`
    (``use_umfpack=False`` also picks SuperLU, as in scipy)."""
    op = "spsolve"
    s = resolve_stream(stream)
    A = _as_sparse(op, A)
    sparse_b = is_sparse(b) or is_scipy_sparse(b)
    if is_gpu(s):
        f = _factorization(op, A, _LU, s, engine)  # cuDSS: use_umfpack does not apply
    else:
        f = _factorization(op, A, _LU, s, engine if engine is not None else (None if use_umfpack else "superlu"))
    x = f.solve(_as_dense_rhs(op, b) if sparse_b else b, "N", data=f.data_mx)
    if sparse_b:
        from .._construct import fromdense

        X = x if x.ndim == 2 else x[:, None]
        return fromdense(X, format="csr", stream=mx.cpu)
    return x


@user_op("spilu")
def spilu(A: Any, drop_tol: Optional[float] = None, fill_factor: Optional[float] = None, drop_rule: Any = None,
          permc_spec: Any = None, diag_pivot_thresh: Any = None, relax: Any = None, panel_size: Any = None,
          options: Any = None, stream: StreamLike = None):
    """An incomplete LU as a preconditioner (scipy's ``spilu``: SuperLU's threshold ILU on the host,
    as SuiteSparse has none), returned as a LinearOperator whose product applies (LU)^-1. For ILU(0)
    on our own kernels see ``ilu0``."""
    op = "spilu"
    s = resolve_stream(stream)
    _cpu_only(op, s, "cuDSS has no threshold ILU; ms.linalg.ilu0 runs on the GPU")
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    from ._interface import LinearOperator

    A = _as_sparse(op, A)
    T = A.T.tocsr(canonical=True, stream=mx.cpu)
    mx.eval(T.data, T.indices, T.indptr)
    cplx = mx.issubdtype(A.dtype, mx.complexfloating)
    vals = np.array(T.data.astype(mx.complex64 if cplx else mx.float64, stream=mx.cpu))
    M = sp.csc_matrix((vals, np.array(T.indices), np.array(T.indptr)), shape=A.shape)
    try:
        ilu = sla.spilu(M, drop_tol=drop_tol, fill_factor=fill_factor, drop_rule=drop_rule)
    except RuntimeError as e:
        raise np.linalg.LinAlgError(f"{op}: {e}") from None
    dt = A.dtype

    def mv(x):
        xh = np.array(x.astype(mx.complex64 if cplx else mx.float64, stream=mx.cpu))
        return mx.array(ilu.solve(xh), dtype=dt)

    op_ = LinearOperator(A.shape, matvec=mv, dtype=dt)
    op_.nnz = int(ilu.nnz)
    return op_


@user_op("inv")
def inv(A: Any, stream: StreamLike = None):
    """A^-1 as a sparse array (scipy's ``inv``: meant for small matrices, and it warns, as scipy does,
    that the inverse of a sparse matrix is usually dense)."""
    A = _as_sparse("inv", A)
    warnings.warn("inv: the inverse of a sparse matrix is usually dense; solve with spsolve or factorized instead",
                  RuntimeWarning, stacklevel=2)
    n = A.shape[0]
    X = spsolve(A, mx.eye(n, dtype=A.dtype, stream=mx.cpu), stream=stream)
    from .._construct import fromdense

    return fromdense(X, format="csr", stream=mx.cpu)
