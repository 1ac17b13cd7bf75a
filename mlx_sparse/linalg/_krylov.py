"""Krylov solvers with scipy.sparse.linalg's names, arguments and results: cg, bicgstab, cgs, gmres, lgmres, minres,
tfqmr, qmr.

Each returns ``(x, info)``: info 0 when the residual reached ``max(rtol * ||b||, atol)``, > 0 (the
iterations run) when ``maxiter`` ran out first, < 0 on a breakdown or a NaN/Inf residual (-10: the
recurrence's denominator vanished, as scipy's bicgstab/cgs report it; -11: the second one; -1: a
NaN or Inf residual or an indefinite preconditioner). They run on the device of the default (or
``stream=``) stream, on our products.

Execution: the iterations are lazy MLX graphs; a solver synchronizes only every ``check_every``
iterations (one ``mx.eval`` of the residual norms of those iterations and their iterates), finds
the first iteration that converged and returns its iterate, so the iteration count is the one a
check after every iteration would give. ``callback(xk)`` runs for each iteration at these checks.
GMRES's Hessenberg least-squares problem is solved on the host at each check (its Givens rotations
give the residual of every inner iteration after the fact).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Callable, Optional

import mlx.core as mx
import numpy as np

from .._device import StreamLike, resolve_stream
from .._kernels import user_op
from ._interface import LinearOperator, aslinearoperator, pattern_product

__all__ = ["cg", "bicgstab", "cgs", "gmres", "lgmres", "minres", "tfqmr", "qmr", "CHECK_EVERY"]

CHECK_EVERY = 10  # iterations per synchronization (measured: bench/NOTES.md, "Krylov solvers")


class _Identity(LinearOperator):
    def __init__(self, n, dtype):
        self.shape, self.dtype = (n, n), dtype

    def _matvec(self, x):
        return x

    _matmat = _rmatvec = _rmatmat = _matvec


def _host_to(a: np.ndarray, dt: mx.Dtype) -> mx.array:
    """A host array as an MLX array of dtype dt (``mx.array`` alone reads float64 as float32)."""
    return mx.array(np.asarray(a), dtype=dt)


def _system(op: str, A, b, x0, M, stream, block: bool = False):
    """The operator, preconditioner, right-hand side, start and working dtype of a solve; ValueError
    for a non-square operator or a mismatched b / x0."""
    A = aslinearoperator(A)
    m, n = A.shape
    if m != n:
        raise ValueError(f"{op}: expected a square operator, got shape {A.shape}")
    s = resolve_stream(stream)
    adt = getattr(A, "dtype", None)
    adt = adt if isinstance(adt, mx.Dtype) and mx.issubdtype(adt, mx.inexact) else None
    if isinstance(b, mx.array):  # MLX promotion with the operator's dtype
        dt = b.dtype if mx.issubdtype(b.dtype, mx.inexact) else mx.float32
        if adt is not None:
            dt = mx.add(mx.zeros((), dtype=adt, stream=mx.cpu), mx.zeros((), dtype=dt, stream=mx.cpu), stream=mx.cpu).dtype
    else:  # NumPy / lists take the operator's dtype (complex if b is), as MLX treats host scalars
        bh = np.asarray(b)
        cplx = np.iscomplexobj(bh)
        if adt is not None:
            dt = mx.complex64 if cplx and not mx.issubdtype(adt, mx.complexfloating) else adt
        else:  # host float64 becomes float32, as mx.array reads it (pass an MLX float64 array for float64)
            dt = mx.complex64 if cplx else mx.float32
        b = _host_to(bh, dt)
    if b.ndim == 2 and b.shape[1] == 1 and not block:
        b = b.reshape(-1)
    if b.ndim not in ((1, 2) if block else (1,)) or b.shape[0] != n:
        raise ValueError(f"{op}: right-hand side of shape {tuple(b.shape)} does not match the operator's shape {A.shape}"
                         + ("" if block else " (a vector of length n)"))
    with mx.stream(s):
        b = b.astype(dt)
        if x0 is None:
            x = mx.zeros(b.shape, dtype=dt)
        else:
            x0 = x0 if isinstance(x0, mx.array) else _host_to(np.asarray(x0), dt)
            if x0.size != b.size:
                raise ValueError(f"{op}: x0 of shape {tuple(x0.shape)} does not match b of shape {tuple(b.shape)}")
            x = x0.astype(dt).reshape(b.shape)
    M = _Identity(n, dt) if M is None else aslinearoperator(M)
    if M.shape != (n, n):
        raise ValueError(f"{op}: preconditioner of shape {M.shape} does not match the operator's shape {A.shape}")
    return A, M, b, x, dt, s


def _host(a: mx.array) -> np.ndarray:
    """A device result on the host, evaluated first: a kernel's error raises here (``np.array`` alone
    would swallow it and read the failed node's NaN-filled output)."""
    if isinstance(a, mx.array):
        mx.eval(a)
    return np.array(a)


def _dot(u, v):
    """Column-wise <u, v> (conjugating u): a 0-d array for vectors, (k,) for blocks."""
    p = (mx.conj(u) * v) if mx.issubdtype(u.dtype, mx.complexfloating) else u * v
    return mx.sum(p, axis=0)


def _norm(u):
    return mx.sqrt(mx.sum(mx.abs(u) ** 2, axis=0)) if mx.issubdtype(u.dtype, mx.complexfloating) else \
        mx.sqrt(mx.sum(u * u, axis=0))


def _tol(op: str, bnorm, rtol: float, atol: float):
    if rtol < 0 or atol < 0:
        raise ValueError(f"{op}: rtol and atol must be non-negative, got {rtol} and {atol}")
    return np.maximum(float(atol), float(rtol) * bnorm)


def _safe_div(a, b):
    """a / b, 0 where b == 0 (a converged column of a block keeps still instead of turning NaN)."""
    return mx.where(b == 0, mx.zeros_like(a), a / mx.where(b == 0, mx.ones_like(b), b))


class _Driver:
    """The lazy iteration loop: ``run(step, state, x)`` calls ``step(state) -> (state, candidates)``,
    each candidate an (x, rnorm, flag) of one (half-)iteration (flag 0, or a negative breakdown
    code), and synchronizes every ``check_every`` iterations. Returns the first candidate whose
    residual norm reached the tolerance (every column of a block), or the last finite iterate with
    the breakdown code (-1 for a NaN or Inf residual), or the last iterate and ``maxiter``."""

    def __init__(self, op, tol, maxiter, check_every, callback, s):
        self.op, self.tol, self.maxiter, self.s = op, tol, int(maxiter), s
        self.every = CHECK_EVERY if check_every is None else int(check_every)
        if self.every < 1:
            raise ValueError(f"{op}: check_every must be >= 1, got {check_every}")
        self.callback = callback

    def run(self, step, state, x, active=None, rnorm=None):
        """``active`` ((k,) bool) and ``rnorm`` ((k,)): a block's columns still solving and their
        residual norms. A column stops at its own tolerance: from then on every state entry of its
        (arrays whose last axis is the block's) and its candidates stand still, and its breakdown
        codes are ignored (its recurrences may break down once its residual is zero)."""
        it, last = 0, x
        block = active is not None
        if block:
            tol_a = mx.array(self.tol, dtype=rnorm.dtype)
            kcols = int(active.shape[0])
        while it < self.maxiter:
            k = min(self.every, self.maxiter - it)
            cands = []
            with mx.stream(self.s):
                for _ in range(k):
                    new, cs = step(state)
                    if block:
                        state = _freeze(new, state, active, kcols)
                        frozen = []
                        for cx, rn, fl in cs:
                            cx, rn = mx.where(active, cx, x), mx.where(active, rn, rnorm)
                            fl = mx.where(active, fl, 0).astype(mx.int32)
                            active = active & (rn > tol_a)
                            x, rnorm = cx, rn
                            frozen.append((cx, rn, fl))
                        cs = frozen
                    else:
                        state = new
                    cands.append(cs)
                flat = [c for cs in cands for c in cs]
                rn_a, fl_a = mx.stack([c[1] for c in flat]), mx.stack([c[2] for c in flat])
                mx.eval(state, [c[0] for c in flat], rn_a, fl_a)  # the one synchronization
            rn, fl = _host(rn_a), _host(fl_a)
            pos = 0
            for cs in cands:
                for c in cs:
                    if np.any(fl[pos] != 0):
                        return last, int(np.ravel(fl[pos])[np.flatnonzero(fl[pos])[0]])
                    if not np.all(np.isfinite(rn[pos])):
                        return last, -1
                    if np.all(rn[pos] <= self.tol):
                        if self.callback is not None:
                            self.callback(c[0])
                        return c[0], 0
                    last = c[0]
                    pos += 1
                it += 1
                if self.callback is not None:
                    self.callback(last)
        return last, self.maxiter


def _freeze(new, old, active, k: int):
    """A block's step state with its finished columns (``active`` false) kept at ``old``: every array
    whose last axis has the block's k columns (vectors (n, k), per-column scalars (k,)); others as new."""
    if isinstance(new, dict):
        return {key: _freeze(v, old[key], active, k) for key, v in new.items()}
    if isinstance(new, (tuple, list)):
        return type(new)(_freeze(v, o, active, k) for v, o in zip(new, old))
    if isinstance(new, mx.array) and new.ndim >= 1 and new.shape[-1] == k and isinstance(old, mx.array):
        return mx.where(active, new, old)
    return new


def _ok() -> mx.array:
    return mx.zeros((), dtype=mx.int32)


def cg(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: Optional[int] = None,
       M: Any = None, callback: Optional[Callable] = None, check_every: Optional[int] = None,
       stream: StreamLike = None, fused: Optional[bool] = None):
    """Conjugate gradients for Hermitian positive definite A, as ``scipy.sparse.linalg.cg``; b may
    be a block (n, k) whose columns are solved together (one product with the block per
    iteration; each column stops at its own convergence).

    A sparse A with one right-hand side and no preconditioner runs the fused iteration (``fused``
    None or True; False: the composed one): two kernels per iteration, the product with the two dot
    products it needs (Chronopoulos-Gear CG, one reduction phase), then every vector update, instead
    of about ten MLX operations (see bench/NOTES.md, "Krylov solvers")."""
    op = "cg"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    if fused is not False and b.ndim == 1 and isinstance(M, _Identity) and _fusable(A, dt, s):
        return _cg_fused(op, A.A, b, x, x0 is not None, dt, s, rtol, atol, maxiter, callback, check_every)
    with mx.stream(s):
        r = b - A.matvec(x) if x0 is not None else b
        bn, rn = _host(_norm(b)), _host(_norm(r))
    tol = _tol(op, bn, rtol, atol)
    if np.all(bn == 0):
        return mx.zeros_like(b, stream=s), 0
    if np.all(rn <= tol):
        return x, 0
    maxiter = 10 * b.shape[0] if maxiter is None else maxiter
    with mx.stream(s):
        z = M.matvec(r)
        rz = _dot(r, z)
        active = mx.array(rn > tol) if b.ndim == 2 else mx.array(True)

    plain = isinstance(M, _Identity)
    tol_a = mx.array(tol, dtype=mx.float32 if dt in (mx.float32, mx.complex64) else mx.float64)

    def step(st):
        x, r, p, rz, active = st
        q = A.matvec(p)
        pq = _dot(p, q)
        if b.ndim == 1:  # one system: no masks (the driver stops at convergence)
            alpha = rz / pq
        else:  # a block: converged columns stand still
            alpha = mx.where(active, _safe_div(rz, pq), mx.zeros_like(rz))
        x = x + alpha * p
        r = r - alpha * q
        z = r if plain else M.matvec(r)
        rz_new = _dot(r, z)
        p = z + (rz_new / rz if b.ndim == 1 else _safe_div(rz_new, rz)) * p
        rnorm = mx.sqrt(mx.abs(rz_new)) if plain else _norm(r)  # <r, r> is rz when M = I
        if b.ndim == 2:
            active = active & (rnorm > tol_a)
        return (x, r, p, rz_new, active), [(x, rnorm, _ok())]

    return _Driver(op, tol, maxiter, check_every, callback, s).run(step, (x, r, z, rz, active), x)


def _fusable(A, dt, s) -> bool:
    from .._coerce import is_sparse
    from .._device import is_gpu
    from ._interface import MatrixLinearOperator

    ok = (mx.float32, mx.complex64) if is_gpu(s) else (mx.float32, mx.float64, mx.complex64)
    return isinstance(A, MatrixLinearOperator) and is_sparse(A.A) and A.A.dtype == dt and dt in ok and \
        len(A.A.shape) == 2


def _cg_fused(op, A, b, x, has_x0, dt, s, rtol, atol, maxiter, callback, check_every):
    """CG by the fused kernels (spmv_cg_matvec, spmv_cg_update). Step j takes (x_j, r_j, p, s) and
    reports x_j with |r_j| (from the step's gamma = <r_j, r_j>); the driver returns the first x_j
    whose residual reached the tolerance, so iterations and callbacks count as in the textbook CG."""
    from .. import _kernels as K
    from .._device import is_gpu
    from .._spmv import lanes_per_row

    C = A.tocsr(stream=s)
    C._flat_only(op)
    n, nnz = C.shape[0], int(C.data.size)
    with mx.stream(s):
        r = b - C @ x if has_x0 else b
        bn, rn = float(_host(_norm(b))), float(_host(_norm(r)))
    tol = float(_tol(op, bn, rtol, atol))
    if bn == 0:
        return mx.zeros_like(b, stream=s), 0
    if rn <= tol:
        return x, 0
    maxiter = 10 * n if maxiter is None else int(maxiter)
    every = CHECK_EVERY if check_every is None else int(check_every)
    if every < 1:
        raise ValueError(f"{op}: check_every must be >= 1, got {check_every}")
    gpu = is_gpu(s)
    if gpu:
        lanes = lanes_per_row(nnz / max(n, 1))
        nb = max(1, min(-(-n // (256 // lanes)), 2048))
        mv = K.prepare(op, "spmv_cg_matvec", dt, C.indices.dtype, s, dict(n=n, nnz=nnz, nb=nb), variant=f"g{lanes}")
        up_launch = dict(w=max(1, min(-(-n // 256), 1024)))
    else:
        nb = max(1, min(64, n // 4096))
        mv = K.prepare(op, "spmv_cg_matvec", dt, C.indices.dtype, s, dict(n=n, nnz=nnz, nb=nb))
        up_launch = {}
    ups = {f: K.prepare(op, "spmv_cg_update", dt, C.indices.dtype, s, dict(n=n, nb=nb), flags=dict(first=f),
                        launch=up_launch) for f in (True, False)}
    ptr, ind, data = C.indptr, C.indices, C.data
    with mx.stream(s):
        p = mx.zeros_like(b)
        sv = mx.zeros_like(b)
        scal = mx.zeros((2,), dtype=K.accumulator(dt, gpu))
    # the operands are checked against the table once; the steps then add the bare nodes
    mv.check([ptr, ind, data, r])
    ups[True].check([mx.zeros((2 * nb,), dtype=scal.dtype), scal, r, r, x, p, sv])
    mv_raw, up_raw = mv.raw, {f: u.raw for f, u in ups.items()}

    def block(state, it, k):  # k steps from iteration it, lazily, and their residual norms
        x, r, p, sv, scal = state
        xs, scals = [], []
        with mx.stream(s):
            for j in range(k):
                w, part = mv_raw([ptr, ind, data, r])
                xs.append(x)
                x, r, p, sv, scal = up_raw[it + j == 0]([part, scal, r, w, x, p, sv])
                scals.append(scal)
            rn_a = mx.sqrt(mx.abs(mx.stack(scals)[:, 0]))  # a few nodes per check, none per step
        return (x, r, p, sv, scal), xs, rn_a

    # GPU: the next block is built and queued while the GPU runs the last one (at most one block of
    # steps past convergence is computed and dropped); CPU: each block is evaluated, then checked
    state, it, last, queued = (x, r, p, sv, scal), 0, x, None
    while True:
        ready = None
        if it <= maxiter:
            k = min(every, maxiter + 1 - it)
            state, xs, rn_a = block(state, it, k)
            _queue(gpu, *state, *xs, rn_a)
            ready, it = (it, k, xs, rn_a), it + k
        if gpu:
            ready, queued = queued, ready
        if ready is None:
            if queued is None:
                return last, maxiter
            continue
        it0, k, xs, rn_a = ready
        rns = _host(rn_a)  # the one synchronization per block
        for j in range(k):  # candidate it0 + j: x after that many iterations
            if not np.isfinite(rns[j]):
                return last, -1
            if it0 + j > 0 and callback is not None:
                callback(xs[j])
            if rns[j] <= tol:
                return xs[j], 0
            last = xs[j]


def _queue(pipelined: bool, *arrays) -> None:
    """Evaluate ``arrays``: queued without waiting when ``pipelined`` (MLX refuses that inside a
    transformation such as mx.grad of a solve; they are then evaluated in place)."""
    if pipelined:
        try:
            mx.async_eval(*arrays)
            return
        except ValueError:
            pass
    mx.eval(*arrays)


def _eps(dt) -> float:
    return float(np.finfo(np.float32 if dt in (mx.float32, mx.complex64) else np.float64).eps)


def _begin_block(op: str, A, b, x, x0, s, rtol: float, atol: float, maxiter: Optional[int]):
    """_begin for a block b (n, k): per-column tolerances (an array), the first residual, and the
    columns still to solve (a (k,) mask, None for a vector b)."""
    if b.ndim == 1:
        r, tol, maxiter, done = _begin(op, A, b, x, x0, s, rtol, atol, maxiter)
        return r, tol, maxiter, done, None
    with mx.stream(s):
        r = b - A.matvec(x) if x0 is not None else b
        bn, rn = _host(_norm(b)), _host(_norm(r))
    tol = _tol(op, bn, rtol, atol)
    if np.all(bn == 0):
        return r, tol, 0, (mx.zeros_like(b, stream=s), 0), None
    if np.all(rn <= tol):
        return r, tol, 0, (x, 0), None
    return r, tol, 10 * b.shape[0] if maxiter is None else maxiter, None, mx.array(rn > tol)


def _active_flag(active, code):
    """A breakdown code (0, or negative) of a block's step, from the columns still solving only."""
    if active is None:
        return code
    return mx.min(mx.where(active, code, 0)).astype(mx.int32)


def _begin(op: str, A, b, x, x0, s, rtol: float, atol: float, maxiter: Optional[int]):
    """The first residual, the tolerance and the iteration limit of a solve (one synchronization),
    and its answer when no iteration is needed: (r, tol, maxiter, done), done = (x, 0) or None."""
    with mx.stream(s):
        r = b - A.matvec(x) if x0 is not None else b
        bn, rn = float(_host(_norm(b))), float(_host(_norm(r)))
    tol = float(_tol(op, bn, rtol, atol))
    if bn == 0:
        return r, tol, 0, (mx.zeros_like(b, stream=s), 0)
    if rn <= tol:
        return r, tol, 0, (x, 0)
    return r, tol, 10 * b.shape[0] if maxiter is None else maxiter, None


def bicgstab(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: Optional[int] = None,
             M: Any = None, callback: Optional[Callable] = None, check_every: Optional[int] = None,
             stream: StreamLike = None):
    """BiConjugate Gradient Stabilized, as ``scipy.sparse.linalg.bicgstab`` (info -10: rho broke
    down, -11: omega or <rtilde, v> vanished). b may be a block (n, k): its columns are solved
    together (each product a product with the block; a converged column stands still)."""
    op = "bicgstab"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    r, tol, maxiter, done, active = _begin_block(op, A, b, x, x0, s, rtol, atol, maxiter)
    if done is not None:
        return done
    eps = _eps(dt)
    rhotol, omegatol = eps ** 2, eps ** 2
    blk = active is not None
    with mx.stream(s):
        rt = r
        one = mx.ones((b.shape[1],) if blk else (), dtype=dt)
        state = (x, r, mx.zeros_like(r), mx.zeros_like(r), one, one, one, mx.array(True), active)
        tol_a = mx.array(tol, dtype=mx.float32 if dt in (mx.float32, mx.complex64) else mx.float64)

    def keep(v, act):  # a block's converged columns stand still
        return v if act is None else mx.where(act, v, mx.zeros_like(v))

    def step(st):
        x, r, p, v, rho_prev, alpha, omega, first, act = st
        rho = _dot(rt, r)
        beta = keep(_safe_div(rho, rho_prev) * _safe_div(alpha, omega), act)
        p = mx.where(first, r, r + beta * (p - omega * v))
        ph = M.matvec(p)
        v = A.matvec(ph)
        rv = _dot(rt, v)
        alpha = keep(_safe_div(rho, rv), act)
        sv = r - alpha * v
        xh = x + alpha * ph
        sn = _norm(sv)
        f1 = _active_flag(act, mx.where(mx.abs(rho) < rhotol, -10, mx.where(rv == 0, -11, 0)).astype(mx.int32))
        if act is not None:
            act = act & (sn > tol_a)
        sh = M.matvec(sv)
        t = A.matvec(sh)
        omega = keep(_safe_div(_dot(t, sv), _dot(t, t)), act)
        x = xh + omega * sh
        r = sv - omega * t
        rn = _norm(r)
        f2 = _active_flag(act, mx.where(mx.abs(omega) < omegatol, -11, 0).astype(mx.int32))
        if act is not None:
            act = act & (rn > tol_a)
            omega = mx.where(omega == 0, mx.ones_like(omega), omega)  # a frozen column's next beta is 0 anyway
        return (x, r, p, v, rho, alpha, omega, mx.array(False), act), [(xh, sn, f1), (x, rn, f2)]

    return _Driver(op, tol, maxiter, check_every, callback, s).run(step, state, x)


def cgs(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: Optional[int] = None,
        M: Any = None, callback: Optional[Callable] = None, check_every: Optional[int] = None,
        stream: StreamLike = None):
    """Conjugate Gradient Squared, as ``scipy.sparse.linalg.cgs`` (info -10: rho broke down, -11:
    <rtilde, A p> vanished). b may be a block (n, k), solved together as in :func:`bicgstab`."""
    op = "cgs"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    r, tol, maxiter, done, active = _begin_block(op, A, b, x, x0, s, rtol, atol, maxiter)
    if done is not None:
        return done
    eps = _eps(dt)
    blk = active is not None
    with mx.stream(s):
        rt = r
        state = (x, r, r, r, r, mx.ones((b.shape[1],) if blk else (), dtype=dt), mx.array(True), active)
        tol_a = mx.array(tol, dtype=mx.float32 if dt in (mx.float32, mx.complex64) else mx.float64)

    def step(st):
        x, r, p, u, q, rho_prev, first, act = st
        rho = _dot(rt, r)
        beta = _safe_div(rho, rho_prev)
        if act is not None:  # a converged column's directions restart from r (they would grow unbounded)
            beta = mx.where(act, beta, mx.zeros_like(beta))
        u = mx.where(first, r, r + beta * q)
        p = mx.where(first, r, u + beta * (q + beta * p))
        ph = M.matvec(p)
        vh = A.matvec(ph)
        rv = _dot(rt, vh)
        alpha = _safe_div(rho, rv)
        if act is not None:  # a block's converged columns stand still
            alpha = mx.where(act, alpha, mx.zeros_like(alpha))
        q = u - alpha * vh
        uh = M.matvec(u + q)
        x = x + alpha * uh
        r = r - alpha * A.matvec(uh)
        rn = _norm(r)
        f = _active_flag(act, mx.where(mx.abs(rho) < eps ** 2, -10, mx.where(rv == 0, -11, 0)).astype(mx.int32))
        if act is not None:
            act = act & (rn > tol_a)
        return (x, r, p, u, q, rho, mx.array(False), act), [(x, rn, f)]

    return _Driver(op, tol, maxiter, check_every, callback, s).run(step, state, x)


def minres(A: Any, b: Any, x0: Any = None, *, shift: float = 0.0, rtol: float = 1e-5, atol: float = 0.0,
           maxiter: Optional[int] = None, M: Any = None, callback: Optional[Callable] = None,
           check_every: Optional[int] = None, stream: StreamLike = None):
    """MINRES for Hermitian (possibly indefinite) A - shift * I, as ``scipy.sparse.linalg.minres``
    (Paige and Saunders' recurrences; the stopping test is on the recurrence's residual norm, the
    M^-1-norm when M is given; M must be Hermitian positive definite: info -1 otherwise). b may be a
    block (n, k): its columns are solved together (one product with the block per step; each column
    stops at its own tolerance)."""
    op = "minres"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    rdt = mx.float32 if dt in (mx.float32, mx.complex64) else mx.float64
    with mx.stream(s):
        r1 = b - A.matvec(x) if x0 is not None else b
        y = M.matvec(r1)
        bn, b1 = _host(_norm(b)).astype(np.float64), _host(mx.real(_dot(r1, y))).astype(np.float64)
    tol = _tol(op, bn, rtol, atol)
    if np.all(bn == 0):
        return mx.zeros_like(b, stream=s), 0
    if np.any(b1 < 0) or not np.all(np.isfinite(b1)):
        return x, -1
    todo = (np.sqrt(b1) > tol) & (b1 != 0)
    if not np.any(todo):
        return x, 0
    maxiter = 5 * b.shape[0] if maxiter is None else maxiter
    eps = float(np.finfo(np.float32 if rdt == mx.float32 else np.float64).eps)
    with mx.stream(s):
        zero_r = mx.zeros((), dtype=rdt)
        beta = mx.array(np.where(todo, np.sqrt(b1), 1.0), dtype=rdt)  # a finished column: any finite beta
        w = mx.zeros_like(b)
        state = (x, r1, r1, y, w, w, zero_r, beta, zero_r, zero_r, beta, -mx.ones((), dtype=rdt), zero_r,
                 mx.array(True))

    def step(st):
        x, r1, r2, y, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, first = st
        v = y * (1.0 / beta).astype(dt)
        y = A.matvec(v)
        if shift:
            y = y - shift * v
        y = mx.where(first, y, y - (beta / oldb).astype(dt) * r1)
        alfa = mx.real(_dot(v, y))
        y = y - (alfa / beta).astype(dt) * r2
        r1, r2 = r2, y
        y = M.matvec(r2)
        oldb = beta
        beta2 = mx.real(_dot(r2, y))
        bad = (beta2 < 0).astype(mx.int32) * -1
        beta = mx.sqrt(mx.maximum(beta2, 0))
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        gamma = mx.maximum(mx.sqrt(gbar * gbar + beta * beta), eps)
        cs, sn = gbar / gamma, beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        w = (v - oldeps.astype(dt) * w1 - delta.astype(dt) * w2) * (1.0 / gamma).astype(dt)
        x = x + phi.astype(dt) * w
        beta = mx.where(beta == 0, mx.ones_like(beta), beta)  # an exact solution: later steps stay finite
        return (x, r1, r2, y, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, mx.array(False)), \
            [(x, mx.abs(phibar), bad)]

    drv = _Driver(op, tol, maxiter, check_every, callback, s)
    if b.ndim == 1:
        return drv.run(step, state, x)
    return drv.run(step, state, x, active=mx.array(todo), rnorm=mx.array(np.sqrt(b1), dtype=rdt))


def _givens(a: complex, b: complex):
    """(c, s, r) with c real: [c, s; -conj(s), c] [a; b] = [r; 0]."""
    t = math.hypot(abs(a), abs(b))
    if t == 0:
        return 1.0, 0.0, 0.0
    if a == 0:
        return 0.0, np.conj(b) / abs(b), abs(b)
    c = abs(a) / t
    sgn = a / abs(a)
    return c, sgn * np.conj(b) / t, sgn * t


class _Hessenberg:
    """The host side of one GMRES cycle for one right-hand side: the Hessenberg columns reduced by
    Givens rotations as they come, the residual estimate |g[j + 1]| and the small triangular solve."""

    def __init__(self, restart: int, beta: float, npdt):
        self.R = np.zeros((restart + 1, restart), dtype=npdt)
        self.g = np.zeros(restart + 1, dtype=npdt)
        self.g[0] = beta
        self.rots = []

    def add(self, h: np.ndarray, hn: float):
        """Column j of the Hessenberg matrix (h: its j + 1 projections, hn: the new vector's norm);
        returns (the residual estimate, whether the Krylov space became invariant)."""
        jj = len(self.rots)
        col = np.zeros(self.R.shape[0], dtype=self.R.dtype)
        col[: jj + 1] = h
        col[jj + 1] = hn
        for q, (c, sn) in enumerate(self.rots):  # the previous rotations
            a0, a1 = col[q], col[q + 1]
            col[q], col[q + 1] = c * a0 + sn * a1, -np.conj(sn) * a0 + c * a1
        c, sn, rr = _givens(col[jj], col[jj + 1])
        self.rots.append((c, sn))
        col[jj], col[jj + 1] = rr, 0
        self.R[:, jj] = col
        self.g[jj], self.g[jj + 1] = c * self.g[jj], -np.conj(sn) * self.g[jj]
        return abs(self.g[jj + 1]), hn == 0

    def solve(self, jn: int) -> np.ndarray:
        return np.linalg.solve(np.triu(self.R[:jn, :jn]), self.g[:jn]) if jn else np.zeros(0, dtype=self.g.dtype)


def gmres(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, restart: Optional[int] = None,
          maxiter: Optional[int] = None, M: Any = None, callback: Optional[Callable] = None,
          callback_type: Optional[str] = None, check_every: Optional[int] = None, stream: StreamLike = None):
    """Restarted GMRES, as ``scipy.sparse.linalg.gmres`` (``restart`` inner iterations per cycle,
    default 20; ``maxiter`` cycles). Right-preconditioned (A M y = b, x = M y), so the residual
    tested is the true one; classical Gram-Schmidt with one reorthogonalization (two block
    products per iteration on the device); the rotations and the small least-squares solve on the
    host at each check. ``callback(xk)`` gets the iterate at each check. b may be a block (n, k): each
    column runs its own Arnoldi process, all sharing one product with the block per step, and stops
    at its own tolerance (a cycle ends when every column has converged or ``restart`` steps ran)."""
    op = "gmres"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    n = b.shape[0]
    blk = b.ndim == 2
    kc = b.shape[1] if blk else 1
    restart = min(20 if restart is None else int(restart), max(n, 1))
    if restart < 1:
        raise ValueError(f"{op}: restart must be >= 1, got {restart}")
    maxiter = max(n, 1) * 10 if maxiter is None else int(maxiter)
    with mx.stream(s):
        bn = np.atleast_1d(_host(_norm(b)).astype(np.float64))
    tol = np.atleast_1d(_tol(op, bn, rtol, atol))
    if np.all(bn == 0):
        return mx.zeros_like(b, stream=s), 0
    every = CHECK_EVERY if check_every is None else int(check_every)
    if every < 1:
        raise ValueError(f"{op}: check_every must be >= 1, got {check_every}")
    cplx = mx.issubdtype(dt, mx.complexfloating)
    npdt = np.complex128 if cplx else np.float64
    total = 0
    for cycle in range(maxiter):
        with mx.stream(s):
            r = b - A.matvec(x)
            beta = np.atleast_1d(_host(_norm(r)).astype(np.float64))
        if not np.all(np.isfinite(beta)):
            return x, -1
        todo = beta > tol  # the columns this cycle works on
        if not np.any(todo):
            return x, 0
        with mx.stream(s):
            V = [r * mx.array(1.0 / np.where(beta == 0, 1.0, beta) if blk else 1.0 / beta[0], dtype=dt)]
        hess = [_Hessenberg(restart, beta[c], npdt) for c in range(kc)]
        hcols = []
        used = np.zeros(kc, dtype=int)  # Arnoldi vectors each column uses
        stop = np.zeros(kc, dtype=int)  # 0: running, 1: converged, -1: non-finite
        stop[~todo] = 1
        j = 0
        while j < restart and np.any(stop == 0):
            k = min(every, restart - j)
            with mx.stream(s):
                for _ in range(k):
                    w, h = _orth(V, A.matvec(M.matvec(V[-1])))
                    hn = _norm(w)
                    V.append(w / mx.where(hn == 0, mx.ones_like(hn), hn))
                    hcols.append((h, hn))
                mx.eval([c for hc in hcols[-k:] for c in hc])
            for i in range(k):
                hh = _host(hcols[j + i][0]).astype(npdt).reshape(j + i + 1, kc)
                nn = np.atleast_1d(_host(hcols[j + i][1]).astype(np.float64))
                for c in np.flatnonzero(stop == 0):
                    res, lucky = hess[c].add(hh[:, c], nn[c])
                    used[c] = j + i + 1
                    if not math.isfinite(res):
                        stop[c] = -1
                    elif res <= tol[c] or lucky:
                        stop[c] = 1
                total += 1
                if not np.any(stop == 0):
                    break
            j += k
        Y = np.zeros((max(used.max(), 1), kc), dtype=npdt)
        for c in range(kc):
            Y[: used[c], c] = hess[c].solve(used[c])
        jn = int(used.max())
        with mx.stream(s):
            if jn:
                Vm = mx.stack(V[:jn], axis=1)  # (n, jn) or (n, jn, k)
                dx = Vm @ mx.array(Y[:jn, 0], dtype=dt) if not blk else mx.sum(Vm * mx.array(Y[:jn], dtype=dt), axis=1)
                x = x + M.matvec(dx)
        if callback is not None:
            callback(x)
        if np.any(stop < 0):
            return x, -1
        if np.all(stop == 1):
            with mx.stream(s):  # the estimates are exact in exact arithmetic; confirm with the true residual
                true = np.atleast_1d(_host(_norm(b - A.matvec(x))).astype(np.float64))
            if not np.all(np.isfinite(true)):
                return x, -1
            if np.all(true <= tol * 1.0001):
                return x, 0
    return x, total


def _scalar_flag(cond, code: int) -> mx.array:
    return mx.where(cond, code, 0).astype(mx.int32)


def tfqmr(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: Optional[int] = None,
          M: Any = None, callback: Optional[Callable] = None, check_every: Optional[int] = None,
          stream: StreamLike = None):
    """Transpose-Free QMR, as ``scipy.sparse.linalg.tfqmr`` (Freund's recurrences; the stopping test
    is scipy's bound tau sqrt(k + 1) on the residual norm; info -1: <r*, v> vanished). b may be a
    block (n, k), solved together (each column stops at its own tolerance)."""
    op = "tfqmr"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    r, tol, maxiter, done, active = _begin_block(op, A, b, x, x0, s, rtol, atol, maxiter)
    if done is not None:
        return done
    rdt = mx.float64 if dt == mx.float64 else mx.float32
    with mx.stream(s):
        rho = _dot(r, r)
        tau = mx.sqrt(mx.abs(rho)).astype(rdt)
        rstar = r
        v = M.matvec(A.matvec(r))
        zr = mx.zeros((), dtype=rdt)
        state = dict(x=x, u=r, u_next=r, w=r, v=v, uhat=v, d=mx.zeros_like(r), theta=zr, tau=tau,
                     eta=mx.zeros((), dtype=dt), rho=rho, rho_last=rho, alpha=mx.zeros((), dtype=dt))
    it = [0]

    def step(st):
        k = it[0]
        it[0] += 1
        st = dict(st)
        flag = _ok()
        if k % 2 == 0:
            vr = _dot(rstar, st["v"])
            flag = _scalar_flag(vr == 0, -1)
            st["alpha"] = _safe_div(st["rho"], vr)
            st["u_next"] = st["u"] - st["alpha"] * st["v"]
        alpha = st["alpha"]
        st["w"] = st["w"] - alpha * st["uhat"]
        st["d"] = st["u"] + (_safe_div(st["theta"] ** 2, alpha) * st["eta"]) * st["d"]
        st["theta"] = _norm(st["w"]) / st["tau"]
        c = mx.sqrt(1.0 / (1.0 + st["theta"] ** 2))
        st["tau"] = st["tau"] * st["theta"] * c
        st["eta"] = (c ** 2).astype(dt) * alpha
        st["x"] = st["x"] + st["eta"] * M.matvec(st["d"])
        bound = st["tau"] * math.sqrt(k + 1)
        if k % 2 == 1:
            rho = _dot(rstar, st["w"])
            beta = _safe_div(rho, st["rho_last"])
            st["u"] = st["w"] + beta * st["u"]
            st["v"] = beta * st["uhat"] + beta ** 2 * st["v"]
            st["uhat"] = M.matvec(A.matvec(st["u"]))
            st["v"] = st["v"] + st["uhat"]
            st["rho"] = rho
        else:
            st["uhat"] = M.matvec(A.matvec(st["u_next"]))
            st["u"] = st["u_next"]
            st["rho_last"] = st["rho"]
        return st, [(st["x"], bound, flag)]

    return _Driver(op, tol, maxiter, check_every, callback, s).run(step, state, x, active, _norm(r) if active is not None
                                                                   else None)


def qmr(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: Optional[int] = None,
        M1: Any = None, M2: Any = None, callback: Optional[Callable] = None, check_every: Optional[int] = None,
        stream: StreamLike = None):
    """Quasi-Minimal Residual, as ``scipy.sparse.linalg.qmr`` (left and right preconditioners M1,
    M2; needs the operator's adjoint product; scipy's breakdown codes -10 rho, -11 beta, -12 gamma,
    -13 delta, -14 epsilon, -15 xi). b may be a block (n, k), solved together (each column stops at its
    own tolerance)."""
    op = "qmr"
    A, M1, b, x, dt, s = _system(op, A, b, x0, M1, stream, block=True)
    M2 = _Identity(b.shape[0], dt) if M2 is None else aslinearoperator(M2)
    if M2.shape != A.shape:
        raise ValueError(f"{op}: preconditioner M2 of shape {M2.shape} does not match the operator's shape {A.shape}")
    eps = _eps(dt)
    r, tol, maxiter, done, active = _begin_block(op, A, b, x, x0, s, rtol, atol, maxiter)
    if done is not None:
        return done
    rdt = mx.float64 if dt == mx.float64 else mx.float32
    with mx.stream(s):
        y = M1.matvec(r)
        z = M2.rmatvec(r)
        one = mx.ones((), dtype=rdt)
        state = dict(x=x, r=r, vt=r, wt=r, y=y, z=z, rho=_norm(y), xi=_norm(z), gamma=one, eta=-mx.ones((), dtype=dt),
                     theta=mx.zeros((), dtype=rdt), eps_=mx.ones((), dtype=dt), p=mx.zeros_like(r), q=mx.zeros_like(r),
                     d=mx.zeros_like(r), s=mx.zeros_like(r))
    it = [0]

    def step(st):
        first = it[0] == 0
        it[0] += 1
        st = dict(st)
        rho, xi = st["rho"], st["xi"]
        flag = _scalar_flag(mx.abs(rho) < eps, -10) + _scalar_flag((mx.abs(rho) >= eps) & (mx.abs(xi) < eps), -15)
        v = st["vt"] * (1.0 / rho).astype(dt)
        y = st["y"] * (1.0 / rho).astype(dt)
        w = st["wt"] * (1.0 / xi).astype(dt)
        z = st["z"] * (1.0 / xi).astype(dt)
        delta = _dot(z, y)
        flag = mx.where(flag != 0, flag, _scalar_flag(mx.abs(delta) < eps, -13))
        yt = M2.matvec(y)
        zt = M1.rmatvec(z)
        if first:
            p, q = yt, zt
        else:
            p = yt - (xi.astype(dt) * _safe_div(delta, st["eps_"])) * st["p"]
            q = zt - (rho.astype(dt) * mx.conj(_safe_div(delta, st["eps_"]))) * st["q"]
        pt = A.matvec(p)
        epsilon = _dot(q, pt)
        flag = mx.where(flag != 0, flag, _scalar_flag(mx.abs(epsilon) < eps, -14))
        beta = _safe_div(epsilon, delta)
        flag = mx.where(flag != 0, flag, _scalar_flag(mx.abs(beta) < eps, -11))
        vt = pt - beta * v
        y = M1.matvec(vt)
        rho_prev, rho = rho, _norm(y)
        wt = A.rmatvec(q) - mx.conj(beta) * w
        z = M2.rmatvec(wt)
        xi = _norm(z)
        gamma_prev, theta_prev = st["gamma"], st["theta"]
        theta = rho / (gamma_prev * mx.abs(beta))
        gamma = 1.0 / mx.sqrt(1.0 + theta ** 2)
        flag = mx.where(flag != 0, flag, _scalar_flag(mx.abs(gamma) < eps, -12))
        eta = st["eta"] * (-(rho_prev.astype(dt) / beta) * ((gamma / gamma_prev) ** 2).astype(dt))
        if first:
            d, sv = eta * p, eta * pt
        else:
            f = ((theta_prev * gamma) ** 2).astype(dt)
            d = f * st["d"] + eta * p
            sv = f * st["s"] + eta * pt
        x = st["x"] + d
        r = st["r"] - sv
        st.update(x=x, r=r, vt=vt, wt=wt, y=y, z=z, rho=rho, xi=xi, gamma=gamma, eta=eta, theta=theta, eps_=epsilon, p=p,
                  q=q, d=d, s=sv)
        return st, [(x, _norm(r), flag)]

    return _Driver(op, tol, maxiter, check_every, callback, s).run(step, state, x, active, _norm(r) if active is not None
                                                                   else None)


def lgmres(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0, maxiter: int = 1000,
           M: Any = None, callback: Optional[Callable] = None, inner_m: int = 30, outer_k: int = 3,
           outer_v: Optional[list] = None, store_outer_Av: bool = True, prepend_outer_v: bool = False,
           stream: StreamLike = None):
    """LGMRES (Baker, Jessup and Manteuffel), as ``scipy.sparse.linalg.lgmres``: restarted flexible
    GMRES whose space each cycle is augmented with the last ``outer_k`` error approximations, which
    damps the restarts' stalling. ``maxiter`` cycles of ``inner_m`` inner steps; the small
    least-squares problem on the host once per cycle (one synchronization per cycle). ``outer_v``, if
    given, is a list that keeps the augmentation vectors across calls, as scipy's; info > 0: the
    cycles run. b may be a block (n, k): the columns share each cycle's products with the block (an
    Arnoldi process and a least-squares problem per column; the augmentation vectors are blocks)."""
    op = "lgmres"
    A, M, b, x, dt, s = _system(op, A, b, x0, M, stream, block=True)
    cplx = mx.issubdtype(dt, mx.complexfloating)
    npc = np.complex128 if cplx else np.float64
    blk = b.ndim == 2
    kc = b.shape[1] if blk else 1
    with mx.stream(s):
        bn = np.atleast_1d(_host(_norm(b)).astype(np.float64))
    tol = np.atleast_1d(_tol(op, bn, rtol, atol))
    if np.all(bn == 0):
        return mx.zeros_like(b, stream=s), 0
    if inner_m < 1 or outer_k < 0:
        raise ValueError(f"{op}: inner_m must be >= 1 and outer_k >= 0")
    outer = outer_v if outer_v is not None else []
    for cycle in range(int(maxiter)):
        with mx.stream(s):
            r = b - A.matvec(x)
            beta = np.atleast_1d(_host(_norm(r)).astype(np.float64))
        if not np.all(np.isfinite(beta)):
            return x, -1
        if np.all(beta <= tol):
            return x, 0
        with mx.stream(s):
            V = [r * mx.array(1.0 / np.where(beta == 0, 1.0, beta) if blk else 1.0 / beta[0], dtype=dt)]
            Z, cols = [], []
            aug = [z for z, _ in outer[-outer_k:]] if outer_k else []
            steps = ([("aug", z) for z in aug] if prepend_outer_v else []) + [("krylov", None)] * inner_m + \
                ([("aug", z) for z in aug] if not prepend_outer_v else [])
            for kind, zv in steps:
                z = M.matvec(V[-1]) if kind == "krylov" else zv
                w, h = _orth(V, A.matvec(z))
                hn = _norm(w)
                V.append(w / mx.where(hn == 0, mx.ones_like(hn), hn))
                Z.append(z)
                cols.append((h, hn))
            mx.eval([c for hc in cols for c in hc])
        m = len(cols)
        H = np.zeros((kc, m + 1, m), dtype=npc)
        for j, (h, hn) in enumerate(cols):
            H[:, : j + 1, j] = _host(h).astype(npc).reshape(j + 1, kc).T
            H[:, j + 1, j] = np.atleast_1d(_host(hn).astype(np.float64))
        Y = np.zeros((m, kc), dtype=npc)
        for c in range(kc):  # each column's least-squares problem (a finished column's step is zero)
            if beta[c] > tol[c]:
                g = np.zeros(m + 1, dtype=npc)
                g[0] = beta[c]
                Y[:, c] = np.linalg.lstsq(H[c], g, rcond=None)[0]
        with mx.stream(s):
            Zm = mx.stack(Z, axis=1)
            dx = Zm @ mx.array(Y[:, 0], dtype=dt) if not blk else mx.sum(Zm * mx.array(Y, dtype=dt), axis=1)
            x = x + dx
            nd = _norm(dx)
            outer.append((dx / mx.where(nd == 0, mx.ones_like(nd), nd), None))
            del outer[:-max(outer_k, 1)]
        if callback is not None:
            callback(x)
    with mx.stream(s):
        final = np.atleast_1d(_host(_norm(b - A.matvec(x))).astype(np.float64))
    return x, (0 if np.all(final <= tol) else int(maxiter))


def _orth(V: list, w):
    """w orthogonalized against the columns of V (classical Gram-Schmidt twice): (w, coefficients).
    For a block w (n, k) and V a list of (n, k) blocks, column c against column c of each: the
    coefficients are (len(V), k)."""
    cplx = mx.issubdtype(w.dtype, mx.complexfloating)
    if w.ndim == 2:  # batched over the block's columns: Vb (k, n, j)
        Vb = mx.transpose(mx.stack(V, axis=2), (1, 0, 2))
        VbH = mx.swapaxes(mx.conj(Vb) if cplx else Vb, 1, 2)
        h = VbH @ mx.transpose(w)[:, :, None]
        w = w - mx.transpose((Vb @ h)[:, :, 0])
        h2 = VbH @ mx.transpose(w)[:, :, None]
        return w - mx.transpose((Vb @ h2)[:, :, 0]), mx.transpose((h + h2)[:, :, 0])
    Vm = mx.stack(V, axis=1)
    VH = mx.conj(Vm).T if cplx else Vm.T
    h = VH @ w
    w = w - Vm @ h
    h2 = VH @ w
    return w - Vm @ h2, h + h2


# ---- implicit differentiation -----------------------------------------------------------------------
def _implicit(solver, hermitian: bool, block: bool = False):
    """``solver`` made differentiable (mx.grad, mx.vjp, mx.jvp) in b (an MLX array) and in A's values
    when A is one of this package's sparse arrays or a dense MLX matrix, by implicit differentiation
    of A x = b: the vjp solves the adjoint system A^H lambda = g with the same solver (the same A for
    the Hermitian solvers cg and minres, with their preconditioner; A^H as an operator for the
    others, with the preconditioner's adjoint when it has one), then b gets lambda and each stored
    entry (r, c) of A gets -lambda_r conj(x_c) (MLX's convention for complex values); the jvp solves
    A dx = db - dA x. The derivative is that of the exact solution at the iterate returned, so it is
    as accurate as the solve (rtol); a solve that did not converge still differentiates its last
    iterate, and an adjoint solve that does not converge warns. A ``LinearOperator`` A is not
    differentiated (MLX sees no array of it): only b is. ``block``: the solver takes (n, k) b."""
    @user_op(solver.__name__)  # errors at evaluation name the solver
    @functools.wraps(solver)
    def wrapped(A, b, x0=None, **kw):
        from .._coerce import is_sparse

        sparse = is_sparse(A) and len(A.shape) == 2
        dense = isinstance(A, mx.array) and A.ndim == 2
        if not isinstance(b, mx.array) and not (sparse or dense):
            return solver(A, b, x0, **kw)
        op = solver.__name__
        s = resolve_stream(kw.get("stream"))
        if not isinstance(b, mx.array):  # host data: the dtype rules of the solve, then an MLX array
            b = _system(op, A, b, None, None, kw.get("stream"), block=True)[2]
        if not block and b.ndim == 2 and b.shape[1] == 1:  # the vector solvers read (n, 1) as (n,)
            b = b.reshape(-1)
        box = {}

        def with_values(d):
            return A._with_data(d) if sparse else d if dense else A

        def adjoint_solve(Ause, g):
            akw = {k: v for k, v in kw.items() if k in ("rtol", "atol", "maxiter", "stream", "check_every", "restart")}
            if hermitian:
                if "M" in kw:
                    akw["M"] = kw["M"]
                if "shift" in kw:
                    akw["shift"] = np.conj(kw["shift"])
                lam, info = solver(Ause, g, **akw)
            else:
                if kw.get("M") is not None:
                    try:
                        akw["M"] = aslinearoperator(kw["M"]).H
                    except Exception:  # no adjoint product: the adjoint solve goes unpreconditioned
                        pass
                lam, info = solver(aslinearoperator(Ause).H, g, **akw)
            if info != 0:
                warnings.warn(f"{op}: the adjoint solve of the derivative stopped with info {info}; the gradient "
                              "is as inaccurate as that solve", RuntimeWarning, stacklevel=4)
            return lam

        d0 = A.data if sparse else A if dense else mx.zeros((1,), dtype=b.dtype)

        def pattern():
            P = A.tocoo(stream=s)
            return P.row, P.col

        @mx.custom_function
        def f(d, bb):  # the solve's own graph is not differentiated (forward mode would walk into it)
            x, info = solver(with_values(mx.stop_gradient(d)), mx.stop_gradient(bb), x0, **kw)
            box["info"] = info
            return x

        @f.vjp
        def f_vjp(primals, cotangent, output):
            d, bb = primals
            g = cotangent[0] if isinstance(cotangent, (list, tuple)) else cotangent
            x = output[0] if isinstance(output, (list, tuple)) else output
            lam = adjoint_solve(with_values(d), g.astype(x.dtype))
            cplx = mx.issubdtype(x.dtype, mx.complexfloating)
            with mx.stream(s):
                gb = lam if mx.issubdtype(bb.dtype, mx.complexfloating) or not cplx else mx.real(lam)
                xc_all = mx.conj(x) if cplx else x
                if sparse:
                    r, c = pattern()
                    v = mx.take(lam, r, axis=0) * mx.take(xc_all, c, axis=0)
                    gd = -(v if v.ndim == 1 else mx.sum(v, axis=1))
                elif dense:  # -lambda x^H
                    gd = -(mx.outer(lam, xc_all) if lam.ndim == 1 else lam @ xc_all.T)
                else:
                    gd = mx.zeros_like(d)
                if cplx and not mx.issubdtype(d.dtype, mx.complexfloating):
                    gd = mx.real(gd)
            return gd.astype(d.dtype), gb.astype(bb.dtype)

        @f.jvp
        def f_jvp(primals, tangents):
            d, bb = primals
            td, tb = tangents
            x = f(d, bb)
            with mx.stream(s):
                rhs = tb.astype(x.dtype).reshape(x.shape) if tb is not None else mx.zeros_like(x)
                if td is not None and (sparse or dense):
                    w = td.astype(x.dtype)
                    if sparse:
                        dAx = pattern_product(*pattern(), w, x)
                    else:
                        dAx = w @ x
                    rhs = rhs - dAx
            dx, _ = solver(with_values(d), rhs, **{k: v for k, v in kw.items() if k != "callback"})
            return (dx,)

        x = f(d0, b)
        return x, box.get("info", 0)

    return wrapped


cg = _implicit(cg, hermitian=True, block=True)
minres = _implicit(minres, hermitian=True, block=True)
bicgstab = _implicit(bicgstab, hermitian=False, block=True)
cgs = _implicit(cgs, hermitian=False, block=True)
gmres = _implicit(gmres, hermitian=False, block=True)
lgmres = _implicit(lgmres, hermitian=False, block=True)
tfqmr = _implicit(tfqmr, hermitian=False, block=True)
qmr = _implicit(qmr, hermitian=False, block=True)
