"""ms.linalg Krylov solvers (cg, bicgstab, cgs, gmres, minres), LinearOperator, aslinearoperator, dot/vdot
and the Jacobi preconditioner, against scipy.sparse.linalg (spsolve as the oracle for solutions)."""

import functools

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from conftest import VALUE_DTYPES, rel_err, to_host

import mlx_sparse as ms

SOLVERS = ["cg", "bicgstab", "cgs", "gmres", "minres"]
NONSYM = ["bicgstab", "cgs", "gmres"]
SOLVE_RTOL = {"float32": 1e-4, "float64": 1e-8, "complex64": 1e-4}
CASES = ([(s, "poisson", vt) for s in SOLVERS for vt in ("float32", "float64")]
         + [(s, "nonsym", vt) for s in NONSYM for vt in ("float32", "float64")]
         + [(s, "hermitian", "complex64") for s in ("cg", "minres")]
         + [(s, "complex", "complex64") for s in NONSYM])


@functools.lru_cache(maxsize=None)
def _matrix(kind, vt="float64"):
    """scipy CSR (float64 or complex128) holding the values as rounded to ``vt``, and its 2-norm condition number."""
    N, rng = 256, np.random.default_rng(1)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(16, 16))
    P = sp.csr_array(sp.kronsum(T, T))  # 2-D Poisson, 256 unknowns
    if kind == "poisson":
        S = P
    elif kind == "hermitian":  # Hermitian positive definite: P + 2.1 I + i * (real antisymmetric, norm <= 2)
        K = sp.eye(N, k=1) + sp.eye(N, k=16)
        S = P + 2.1 * sp.eye(N) + 0.5j * (K - K.T)
    else:  # "nonsym" / "complex": random, nonsymmetric, strictly diagonally dominant
        R = sp.random_array((N, N), density=0.03, rng=rng, format="csr")
        R.data = rng.standard_normal(R.nnz) + (1j * rng.standard_normal(R.nnz) if kind == "complex" else 0)
        S = R + sp.diags(abs(R).sum(axis=1) + 1.0)
    S = sp.csr_array(S)
    wide = np.complex128 if np.iscomplexobj(S.data) else np.float64
    S.data = S.data.astype(VALUE_DTYPES[vt][1]).astype(wide)
    W = S.toarray()  # complex: the real embedding has the same singular values (numpy's complex SVD is slow here)
    W = np.block([[W.real, -W.imag], [W.imag, W.real]]) if np.iscomplexobj(W) else W
    return S, np.linalg.cond(W)


def _rhs(n, vt, seed=0, k=None):
    rng = np.random.default_rng(seed)
    shape = (n,) if k is None else (n, k)
    b = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if vt == "complex64" else 0)
    return b.astype(VALUE_DTYPES[vt][1])


def close(got, ref, tol=1e-5):
    assert isinstance(got, mx.array), f"expected an MLX array, got {type(got).__name__}"
    np.testing.assert_allclose(to_host(got), ref, rtol=tol, atol=tol)
    return True


def _mx(a):
    """MLX copy of a host array keeping its dtype (mx.array alone reads float64 as float32)."""
    a = np.asarray(a)
    return mx.array(a, dtype={np.float64: mx.float64, np.complex64: mx.complex64}.get(a.dtype.type, mx.float32))


def _solve(name, A, b, **kw):
    return getattr(ms.linalg, name)(A, b, **kw)


def _skip64(device, vt):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)


def _check(S, b, x, rtol, cond, factor=10.0):
    """True residual within factor * rtol * ||b||, and the forward error vs spsolve within what that implies."""
    xh = to_host(x).astype(np.complex128)
    bh = np.asarray(b, dtype=np.complex128)
    res, bn = np.linalg.norm(bh - S @ xh), np.linalg.norm(bh)
    assert res <= factor * rtol * bn, f"residual {res / bn:.3e} * ||b|| > {factor} * rtol ({rtol})"
    ref = spla.spsolve(S.astype(np.complex128).tocsc(), bh)
    err = rel_err(xh, ref)
    assert err <= factor * rtol * cond + 1e-5, f"relative error vs spsolve {err:.3e} (cond {cond:.1f})"


@pytest.mark.parametrize("solver,kind,vt", CASES)
def test_solver_matches_spsolve(device, solver, kind, vt):
    """Converges (info 0), true residual below rtol, solution close to spsolve's; callback sees iterates."""
    _skip64(device, vt)
    S, cond = _matrix(kind, vt)
    dt = VALUE_DTYPES[vt][0]
    b = _rhs(S.shape[0], vt)
    calls = []
    x, info = _solve(solver, ms.csr_array(S, dtype=dt), _mx(b), rtol=SOLVE_RTOL[vt], callback=calls.append)
    assert info == 0, f"{solver} on {kind}/{vt}: info {info}"
    assert isinstance(x, mx.array) and x.dtype == dt and x.shape == b.shape
    assert calls, "callback never called"
    assert tuple(calls[-1].shape) == b.shape
    _check(S, b, x, SOLVE_RTOL[vt], cond)


@pytest.mark.parametrize("solver", SOLVERS)
def test_maxiter_one_does_not_converge(device, solver):
    mx.set_default_device(device)
    S, _ = _matrix("poisson", "float32")
    x, info = _solve(solver, ms.csr_array(S, dtype=mx.float32), mx.array(_rhs(256, "float32")), maxiter=1)
    assert info > 0, f"{solver}: maxiter=1 on the Poisson problem gave info {info}"
    assert x.shape == (256,)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("vt", ["float32", "float64"])
def test_x0_exact_returns_it(device, solver, vt):
    """Starting from the exact solution: info 0 and x equals x0."""
    _skip64(device, vt)
    S, _ = _matrix("poisson", vt)
    b = _rhs(256, vt)
    x0 = spla.spsolve(S.tocsc(), b.astype(np.float64)).astype(VALUE_DTYPES[vt][1])
    dt = VALUE_DTYPES[vt][0]
    rtol = 1e-3 if vt == "float32" else 1e-8
    x, info = _solve(solver, ms.csr_array(S, dtype=dt), _mx(b), x0=_mx(x0), rtol=rtol)
    assert info == 0, f"{solver}: info {info} from the exact x0"
    assert rel_err(to_host(x), x0) <= (1e-5 if vt == "float32" else 1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_atol_large_converges_immediately(device, solver):
    mx.set_default_device(device)
    S, _ = _matrix("poisson", "float32")
    b = _rhs(256, "float32")
    x, info = _solve(solver, ms.csr_array(S, dtype=mx.float32), _mx(b), rtol=0.0,
                     atol=1e3 * float(np.linalg.norm(b)))
    assert info == 0
    assert x.shape == (256,) and np.all(to_host(x) == 0), "initial guess (zero) should be returned as is"


@pytest.mark.parametrize("solver,kind", [("cg", "poisson"), ("gmres", "nonsym")])
@pytest.mark.parametrize("mkind", ["jacobi", "sparse", "dense"])
def test_preconditioner_on_badly_scaled(solver, kind, mkind):
    """M = jacobi(A) (or diag(A)^-1 as a sparse / dense matrix) on D A D, D = diag(logspace(0, 3))."""
    S0, _ = _matrix(kind)
    D = sp.diags(np.logspace(0, 3, 256))
    S = sp.csr_array(D @ S0 @ D)
    A = ms.csr_array(S, dtype=mx.float64)
    dinv = 1.0 / S.diagonal()
    M = {"jacobi": lambda: ms.linalg.jacobi(A), "sparse": lambda: ms.csr_array(sp.diags(dinv).tocsr(), dtype=mx.float64),
         "dense": lambda: _mx(np.diag(dinv))}[mkind]()
    b = _rhs(256, "float64")
    x, info = _solve(solver, A, _mx(b), rtol=1e-8, M=M, maxiter=2000 if solver == "cg" else 100)
    assert info == 0, f"{solver} with M={mkind}: info {info}"
    res = np.linalg.norm(b - S @ to_host(x)) / np.linalg.norm(b)
    assert res <= 1e-7, f"residual {res:.3e}"


def test_jacobi_operator(device):
    mx.set_default_device(device)
    S, _ = _matrix("nonsym", "float32")
    A = ms.csr_array(S, dtype=mx.float32)
    J = ms.linalg.jacobi(A)
    assert ms.linalg.jacobi is ms.linalg.preconditioners.jacobi
    assert isinstance(J, ms.linalg.LinearOperator) and J.shape == (256, 256)
    v = _rhs(256, "float32")
    np.testing.assert_allclose(to_host(J @ mx.array(v)), v / S.diagonal(), rtol=1e-6)
    np.testing.assert_allclose(to_host(J.matvec(mx.array(v))), v / S.diagonal(), rtol=1e-6)


class _PoissonOp(ms.linalg.LinearOperator):
    def __init__(self, A):
        super().__init__(shape=A.shape, dtype=A.dtype)
        self.A = A

    def _matvec(self, v):
        return self.A @ v


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("akind", ["linop", "subclass", "dense", "numpy_b"])
def test_solver_operator_and_dense_inputs(device, solver, akind):
    """A as a LinearOperator (callable or subclass) or a dense MLX array, b as NumPy: same solution."""
    mx.set_default_device(device)
    S, cond = _matrix("poisson", "float32")
    A = ms.csr_array(S, dtype=mx.float32)
    b = _rhs(256, "float32", seed=3)
    Aop = {"linop": lambda: ms.linalg.LinearOperator(A.shape, matvec=lambda v: A @ v, dtype=mx.float32),
           "subclass": lambda: _PoissonOp(A), "dense": lambda: mx.array(S.toarray().astype(np.float32)),
           "numpy_b": lambda: A}[akind]()
    x, info = _solve(solver, Aop, b if akind in ("dense", "numpy_b") else _mx(b), rtol=1e-4)
    assert info == 0, f"{solver} on {akind}: info {info}"
    assert isinstance(x, mx.array) and x.dtype == mx.float32 and x.shape == (256,)
    _check(S, b, x, 1e-4, cond)


@pytest.mark.parametrize("vt", ["float32", "float64"])
def test_cg_block_rhs(device, vt):
    _skip64(device, vt)
    S, cond = _matrix("poisson", vt)
    dt = VALUE_DTYPES[vt][0]
    B = _rhs(256, vt, k=3)
    B[:, 2] *= 1e-3  # columns of different scale converge independently
    X, info = ms.linalg.cg(ms.csr_array(S, dtype=dt), _mx(B), rtol=SOLVE_RTOL[vt])
    assert info == 0
    assert X.shape == (256, 3) and X.dtype == dt
    for j in range(3):
        _check(S, B[:, j], X[:, j], SOLVE_RTOL[vt], cond)


@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_errors_and_zero_rhs(solver):
    word = rf"\b{solver}\b"
    with pytest.raises(ValueError, match=word):
        _solve(solver, ms.csr_array(sp.random_array((5, 4), density=0.5, rng=0), dtype=mx.float32), mx.ones(5))
    S, _ = _matrix("poisson", "float32")
    A = ms.csr_array(S, dtype=mx.float32)
    with pytest.raises(ValueError, match=word):
        _solve(solver, A, mx.ones(255))
    x, info = _solve(solver, A, mx.zeros(256))
    assert info == 0 and x.shape == (256,) and x.dtype == mx.float32 and np.all(to_host(x) == 0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_nan_rhs_reports_breakdown(device, solver):
    mx.set_default_device(device)
    S, _ = _matrix("poisson", "float32")
    b = _rhs(256, "float32")
    b[7] = np.nan
    x, info = _solve(solver, ms.csr_array(S, dtype=mx.float32), _mx(b), maxiter=50)
    assert info < 0, f"{solver}: NaN in b gave info {info}"
    assert isinstance(x, mx.array) and x.shape == (256,)


@pytest.mark.parametrize("vt", ["float32", "complex64"])
def test_linear_operator(device, vt):
    """matvec / rmatvec / matmat, @ with 1-D and 2-D operands, .H (adjoint) and .T, user matmat and subclasses."""
    if device == mx.gpu and vt == "complex64":
        pytest.skip("dense complex matmul on the GPU is MLX's business")
    mx.set_default_device(device)
    tol = 3e-3 if device == mx.gpu else 1e-5  # the operators here are dense MLX matmuls: TF32 on the GPU

    def close(got, ref):
        return globals()["close"](got, ref, tol)

    dt = VALUE_DTYPES[vt][0]
    rng = np.random.default_rng(5)
    Ad = (rng.standard_normal((5, 4)) + (1j * rng.standard_normal((5, 4)) if vt == "complex64" else 0)).astype(
        VALUE_DTYPES[vt][1])
    Am, AmH = mx.array(Ad), mx.array(Ad.conj().T)
    x, y = _rhs(4, vt, 1), _rhs(5, vt, 2)
    X, Y = _rhs(4, vt, 3, k=3), _rhs(5, vt, 4, k=2)
    op = ms.linalg.LinearOperator((5, 4), matvec=lambda v: Am @ v, rmatvec=lambda v: AmH @ v, dtype=dt)
    assert op.shape == (5, 4) and op.dtype == dt
    assert close(op.matvec(mx.array(x)), Ad @ x)
    assert close(op @ mx.array(x), Ad @ x)
    assert close(op.rmatvec(mx.array(y)), Ad.conj().T @ y)
    assert close(op.matmat(mx.array(X)), Ad @ X)
    assert close(op @ mx.array(X), Ad @ X)
    assert op.H.shape == (4, 5) and op.T.shape == (4, 5)
    assert close(op.H @ mx.array(y), Ad.conj().T @ y)
    assert close(op.H @ mx.array(Y), Ad.conj().T @ Y)
    assert close(op.T @ mx.array(y), Ad.T @ y)
    assert close(op.H.H @ mx.array(x), Ad @ x)
    count = []
    op2 = ms.linalg.LinearOperator((5, 4), matvec=lambda v: Am @ v, dtype=dt,
                                   matmat=lambda V: count.append(1) or Am @ V, rmatmat=lambda V: AmH @ V)
    assert close(op2 @ mx.array(X), Ad @ X) and count, "user matmat not used for op @ X"
    assert close(op2.H @ mx.array(Y), Ad.conj().T @ Y)
    sub = _PoissonOp(mx.array(Ad[:4]))
    assert sub.shape == (4, 4) and close(sub @ mx.array(x), Ad[:4] @ x) and close(sub.matmat(mx.array(X)), Ad[:4] @ X)


@pytest.mark.parametrize("kind", ["csr", "csc", "coo", "mx", "numpy", "scipy", "linop"])
def test_aslinearoperator(device, kind):
    mx.set_default_device(device)
    rng = np.random.default_rng(6)
    Ad = rng.standard_normal((6, 5)).astype(np.float32)
    Ad[rng.random((6, 5)) < 0.5] = 0
    base = ms.linalg.LinearOperator((6, 5), matvec=lambda v: mx.array(Ad) @ v,
                                    rmatvec=lambda v: mx.array(Ad.T) @ v, dtype=mx.float32)
    src = {"csr": lambda: ms.csr_array(Ad), "csc": lambda: ms.csc_array(Ad), "coo": lambda: ms.coo_array(Ad),
           "mx": lambda: mx.array(Ad), "numpy": lambda: Ad, "scipy": lambda: sp.csr_array(Ad),
           "linop": lambda: base}[kind]()
    op = ms.linalg.aslinearoperator(src)
    if kind == "linop":
        assert op is base
    assert isinstance(op, ms.linalg.LinearOperator) and op.shape == (6, 5)
    x, y, X = _rhs(5, "float32", 1), _rhs(6, "float32", 2), _rhs(5, "float32", 3, k=2)
    tol = 3e-3 if device == mx.gpu and kind in ("mx", "numpy") else 1e-5  # MLX's GPU float32 matmul may use TF32
    np.testing.assert_allclose(to_host(op @ mx.array(x)), Ad @ x, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_host(op.matmat(mx.array(X))), Ad @ X, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_host(op.H @ mx.array(y)), Ad.T @ y, rtol=tol, atol=tol)
    if kind not in ("numpy", "scipy"):
        assert close(ms.linalg.dot(src, mx.array(x)), Ad @ x)


@pytest.mark.parametrize("bad", [mx.ones(3), np.ones((2, 2, 2), np.float32)])
def test_aslinearoperator_rejects_non_2d(bad):
    with pytest.raises((ValueError, TypeError)):
        ms.linalg.aslinearoperator(bad)


def test_vdot_conjugates_first():
    x, y = _rhs(7, "complex64", 1), _rhs(7, "complex64", 2)
    v = ms.linalg.vdot(mx.array(x), mx.array(y))
    assert isinstance(v, mx.array) and v.ndim == 0
    np.testing.assert_allclose(complex(v.item()), np.vdot(x, y), rtol=1e-5)
    assert not np.isclose(np.vdot(x, y), np.dot(x, y))  # the check above can tell the two apart
    xr, yr = _rhs(7, "float32", 3), _rhs(7, "float32", 4)
    np.testing.assert_allclose(ms.linalg.vdot(mx.array(xr), mx.array(yr)).item(), xr @ yr, rtol=1e-5)


@pytest.mark.parametrize("solver", ["tfqmr", "qmr"])
def test_tfqmr_qmr_match_scipy_iterations(device, solver):
    """Same recurrences as scipy's: the same iteration counts in float64 (CPU), converged residuals in
    float32 on either device, maxiter and NaN handling."""
    n = 16
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    P = sp.csr_array(sp.kronsum(t, t))
    U = sp.csr_array(P + 0.5 * sp.random(n * n, n * n, density=0.02, random_state=1))
    b = np.random.default_rng(0).standard_normal(n * n)
    mx.set_default_device(device)
    for S in (P, U):
        if device == mx.cpu:
            ours, ref = [], []
            x, info = getattr(ms.linalg, solver)(ms.csr_array(S, dtype=mx.float64), mx.array(b, dtype=mx.float64),
                                                 rtol=1e-8, callback=ours.append)
            _, rinfo = getattr(spla, solver)(S, b, rtol=1e-8, callback=ref.append)
            assert info == rinfo == 0 and len(ours) == len(ref)
            assert np.linalg.norm(b - S @ np.array(x)) <= 1e-7 * np.linalg.norm(b)
        x, info = getattr(ms.linalg, solver)(ms.csr_array(S, dtype=mx.float32), mx.array(b.astype(np.float32)), rtol=1e-4)
        assert info == 0 and np.linalg.norm(b - S @ to_host(x).astype(np.float64)) <= 1e-3 * np.linalg.norm(b)
    A = ms.csr_array(P, dtype=mx.float32)
    assert getattr(ms.linalg, solver)(A, mx.array(b.astype(np.float32)), maxiter=1)[1] > 0
    bn = b.astype(np.float32)
    bn[3] = np.nan
    assert getattr(ms.linalg, solver)(A, mx.array(bn), maxiter=20)[1] < 0


def test_lgmres_converges_and_keeps_outer_vectors(device):
    mx.set_default_device(device)
    dt = mx.float32 if device == mx.gpu else mx.float64
    n = 16
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    U = sp.csr_array(sp.kronsum(t, t) + 0.5 * sp.random(n * n, n * n, density=0.02, random_state=1))
    b = np.random.default_rng(0).standard_normal(n * n)
    A = ms.csr_array(U, dtype=dt)
    rtol = 1e-8 if dt == mx.float64 else 1e-4
    calls = []
    x, info = ms.linalg.lgmres(A, mx.array(b, dtype=dt), rtol=rtol, callback=calls.append)
    _, ref_info = spla.lgmres(U, b, rtol=1e-8)
    assert info == 0 == ref_info and 1 <= len(calls) <= 20
    assert np.linalg.norm(b - U @ to_host(x).astype(np.float64)) <= 10 * rtol * np.linalg.norm(b)
    outer = []  # kept across calls, as scipy's outer_v
    ms.linalg.lgmres(A, mx.array(b, dtype=dt), rtol=rtol, outer_v=outer, outer_k=2)
    assert 1 <= len(outer) <= 2
    x2, info2 = ms.linalg.lgmres(A, mx.array(2 * b, dtype=dt), rtol=rtol, outer_v=outer, outer_k=2, maxiter=1, inner_m=5)
    assert info2 in (0, 1)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("it", [mx.int32, mx.int64])
@pytest.mark.parametrize("vt", ["float32", "float64", "complex64"])
def test_cg_fused_iteration_matches_the_composed_one(device, fmt, it, vt):
    """The fused CG kernels (a sparse A, one right-hand side, no preconditioner) against the composed
    iteration: in float64 the same iteration count and iterates; in single precision both reach
    the tolerance with solutions close to spsolve's. Uneven rows (a dense row and column), a start
    vector, every format and index type; the callback sees each iteration once."""
    _skip64(device, vt)
    dt = VALUE_DTYPES[vt][0]
    rng = np.random.default_rng(4)
    n = 300
    R = sp.random_array((n, n), density=0.02, rng=rng, format="csr")
    if vt == "complex64":
        R = R + 1j * sp.random_array((n, n), density=0.02, rng=rng, format="csr")
    R = sp.lil_array(R)
    R[7, :] = 0.05  # a dense row (and, by symmetry, a dense column)
    S = sp.csr_array(R + R.conj().T)
    S = sp.csr_array(S + sp.diags(np.abs(S).sum(axis=1) + 1.0))
    S.data = S.data.astype(VALUE_DTYPES[vt][1]).astype(np.complex128 if vt == "complex64" else np.float64)
    b, x0 = _rhs(n, vt, 1), _rhs(n, vt, 2)
    A = getattr(ms, f"{fmt}_array")(S, dtype=dt, index_dtype=it)
    rtol = SOLVE_RTOL[vt]
    out = {}
    for fused in (True, False):
        calls = []
        x, info = ms.linalg.cg(A, _mx(b), x0=_mx(x0), rtol=rtol, fused=fused, callback=calls.append)
        assert info == 0
        out[fused] = (to_host(x), len(calls))
        _check(S, b, x, rtol, np.linalg.cond(S.toarray()))
    if vt == "float64":
        assert out[True][1] == out[False][1]
        np.testing.assert_allclose(out[True][0], out[False][0], rtol=1e-9, atol=1e-9)
    else:
        assert abs(out[True][1] - out[False][1]) <= 3, (out[True][1], out[False][1])
    x, info = ms.linalg.cg(A, _mx(b), rtol=1e-30, maxiter=7, fused=True)  # stops at maxiter
    assert info == 7
    x7, _ = ms.linalg.cg(A, _mx(b), rtol=1e-30, maxiter=7, fused=False)
    np.testing.assert_allclose(to_host(x), to_host(x7), rtol=1e-3 if vt != "float64" else 1e-10, atol=1e-4)


def test_cg_fused_edge_cases(device):
    mx.set_default_device(device)
    A1 = ms.csr_array(np.array([[4.0]], np.float32))
    x, info = ms.linalg.cg(A1, mx.array([2.0]))  # n = 1: one iteration
    assert info == 0 and np.allclose(to_host(x), [0.5])
    x, info = ms.linalg.cg(A1, mx.array([np.nan]))
    assert info == -1
    with pytest.raises(ValueError, match="check_every"):
        ms.linalg.cg(ms.csr_array(np.eye(3, dtype=np.float32) * 2), mx.ones((3,)), check_every=0)


@pytest.mark.parametrize("solver", ["cg", "minres", "bicgstab", "cgs", "gmres", "lgmres", "tfqmr", "qmr"])
def test_solver_gradients_by_implicit_differentiation(device, solver):
    """mx.grad through a Krylov solve in the matrix values and b (lambda = A^-H g, -lambda_r x_c on the
    pattern) against the dense adjoint, and the jvp against a dense solve; float64 on the CPU,
    float32 on the GPU (to the solve's tolerance)."""
    mx.set_default_device(device)
    vt = "float32" if device == mx.gpu else "float64"
    dt, npdt = VALUE_DTYPES[vt][0], VALUE_DTYPES[vt][1]
    S, _ = _matrix("poisson" if solver in ("cg", "minres") else "nonsym", vt)
    A0 = ms.csr_array(S, dtype=dt, index_dtype=mx.int64 if solver in ("cg", "gmres") else mx.int32)
    b = _mx(_rhs(S.shape[0], vt, 3))
    rtol = 1e-6 if vt == "float32" else 1e-12
    kw = dict(rtol=rtol, maxiter=5000)

    def solve(d, bv):
        x, info = _solve(solver, ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape), bv, **kw)
        return x

    gd, gb = mx.grad(lambda d, bv: mx.sum(solve(d, bv) ** 2), argnums=(0, 1))(A0.data, b)
    D = S.toarray()
    x = np.linalg.solve(D, to_host(b).astype(np.float64))
    lam = np.linalg.solve(D.T, 2 * x)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    tol = 1e-3 if vt == "float32" else 1e-8
    np.testing.assert_allclose(to_host(gb), lam, rtol=tol, atol=tol * np.abs(lam).max())
    want = -lam[rows] * x[S.indices]
    np.testing.assert_allclose(to_host(gd), want, rtol=tol, atol=tol * np.abs(want).max())
    rng = np.random.default_rng(7)
    td, tb = _mx(rng.standard_normal(S.nnz).astype(npdt)), _mx(rng.standard_normal(S.shape[0]).astype(npdt))
    _, (jv,) = mx.jvp(solve, [A0.data, b], [td, tb])
    dA = sp.csr_array((to_host(td).astype(np.float64), S.indices, S.indptr), shape=S.shape).toarray()
    ref = np.linalg.solve(D, to_host(tb) - dA @ x)
    np.testing.assert_allclose(to_host(jv), ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_solver_gradients_complex_and_host_rhs():
    """Complex systems in MLX's adjoint convention (cg on a Hermitian matrix, gmres on a general one),
    and the value gradient with a NumPy right-hand side (only A differentiated)."""
    for solver, kind in (("cg", "hermitian"), ("gmres", "complex")):
        S, _ = _matrix(kind, "complex64")
        A0 = ms.csr_array(S, dtype=mx.complex64)
        bh = _rhs(S.shape[0], "complex64", 4)

        def f(d, bv):
            x, _ = _solve(solver, ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape), bv, rtol=1e-6, maxiter=5000)
            return mx.sum(mx.abs(x) ** 2)

        gd, gb = mx.grad(f, argnums=(0, 1))(A0.data, _mx(bh))
        D = S.toarray()
        x = np.linalg.solve(D, bh.astype(np.complex128))
        lam = np.linalg.solve(D.conj().T, 2 * x)
        rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        want = -lam[rows] * np.conj(x[S.indices])
        np.testing.assert_allclose(np.array(gb), lam, rtol=1e-3, atol=1e-3 * np.abs(lam).max())
        np.testing.assert_allclose(np.array(gd), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    S, _ = _matrix("poisson", "float64")
    A0 = ms.csr_array(S, dtype=mx.float64)
    bh = _rhs(S.shape[0], "float64", 5)
    gd = mx.grad(lambda d: mx.sum(ms.linalg.cg(ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape), bh,
                                               rtol=1e-12)[0] ** 2))(A0.data)
    x = np.linalg.solve(S.toarray(), bh)
    lam = np.linalg.solve(S.toarray().T, 2 * x)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    np.testing.assert_allclose(np.array(gd), -lam[rows] * x[S.indices], rtol=1e-8, atol=1e-10)


def test_solver_gradients_dense_matrix_and_column_rhs():
    """A dense MLX matrix is differentiated too (-lambda x^T), and b of shape (n, 1) keeps its shape in
    the gradient with the vector solvers (and a jvp in A's values works)."""
    S, _ = _matrix("nonsym", "float64")
    D = S.toarray()
    Ad = mx.array(D, dtype=mx.float64)
    b = _mx(_rhs(S.shape[0], "float64", 8))
    gA, gb = mx.grad(lambda A, bv: mx.sum(ms.linalg.gmres(A, bv, rtol=1e-12)[0] ** 2), argnums=(0, 1))(Ad, b)
    x = np.linalg.solve(D, np.array(b))
    lam = np.linalg.solve(D.T, 2 * x)
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.array(gA), -np.outer(lam, x), rtol=1e-7, atol=1e-9)
    A0 = ms.csr_array(S, dtype=mx.float64)
    bc = b.reshape(-1, 1)

    def solve(d, bv):
        return ms.linalg.bicgstab(ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape), bv, rtol=1e-12)[0]

    gb2 = mx.grad(lambda bv: mx.sum(solve(A0.data, bv) ** 2))(bc)
    assert gb2.shape == (S.shape[0], 1)
    np.testing.assert_allclose(np.array(gb2)[:, 0], lam, rtol=1e-7, atol=1e-9)
    td = mx.array(np.random.default_rng(9).standard_normal(S.nnz), dtype=mx.float64)
    _, (jv,) = mx.jvp(solve, [A0.data, bc], [td, mx.zeros_like(bc)])
    dA = sp.csr_array((np.array(td), S.indices, S.indptr), shape=S.shape).toarray()
    np.testing.assert_allclose(np.array(jv).reshape(-1), np.linalg.solve(D, -dA @ x), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("solver", ["cg", "bicgstab", "cgs", "minres", "tfqmr", "qmr", "gmres", "lgmres"])
@pytest.mark.parametrize("vt", ["float32", "float64"])
def test_block_rhs_matches_column_solves(device, solver, vt):
    """A block b (n, 3), columns of very different scale and one already solved by x0, solved
    together: every column reaches its tolerance and agrees with its own vector solve."""
    _skip64(device, vt)
    S, cond = _matrix("poisson" if solver in ("cg", "minres") else "nonsym", vt)
    dt = VALUE_DTYPES[vt][0]
    A = ms.csr_array(S, dtype=dt)
    B = _rhs(256, vt, 6, k=3)
    B[:, 2] *= 1e-3
    rtol = SOLVE_RTOL[vt]
    X, info = _solve(solver, A, _mx(B), rtol=rtol)
    assert info == 0 and X.shape == (256, 3) and X.dtype == dt
    for j in range(3):
        _check(S, B[:, j], X[:, j], rtol, cond)
        xj, infoj = _solve(solver, A, _mx(np.ascontiguousarray(B[:, j])), rtol=rtol)
        if solver == "qmr" and vt == "float32" and -15 <= infoj <= -10:
            continue  # scipy's QMR breakdown codes: the float32 vector run (on the H200, one column) met one
            # the block run, summing in another order, did not; its column was checked by residual above
        assert infoj == 0
        np.testing.assert_allclose(to_host(X)[:, j], to_host(xj), rtol=50 * rtol * cond, atol=50 * rtol * cond *
                                   np.abs(to_host(xj)).max())
    x0 = np.zeros_like(B)
    x0[:, 1] = spla.spsolve(S.tocsc(), B[:, 1].astype(np.float64)).astype(B.dtype)  # column 1 starts solved
    X, info = _solve(solver, A, _mx(B), x0=_mx(x0), rtol=rtol)
    if solver == "qmr" and vt == "float32" and -15 <= info <= -10:
        return  # a breakdown reported (scipy's codes), not a wrong answer: met on the H200 in float32
    assert info == 0
    for j in range(3):
        _check(S, B[:, j], X[:, j], rtol, cond)


@pytest.mark.parametrize("solver", SOLVERS + ["lgmres", "tfqmr", "qmr"])
def test_corrupt_matrix_raises_naming_the_solver(solver):
    """A structure validate=False let through (a column out of range): the solver raises at its first
    evaluation, naming itself, instead of reading the failed product's NaN output as a breakdown."""
    bad = ms.csr_array((mx.array([2.0, 1.0, 3.0]), mx.array([0, 5, 1]), mx.array([0, 1, 3])), shape=(2, 2),
                       validate=False)
    with pytest.raises(RuntimeError, match=f"^{solver}"):
        _solve(solver, bad, mx.ones((2,)))
    with pytest.raises(RuntimeError, match="^spsolve_triangular"):
        ms.linalg.spsolve_triangular(bad, mx.ones((2,)))


@pytest.mark.parametrize("name", ["eigsh", "eigs", "svds", "lanczos", "lobpcg", "amg", "spsolve", "splu", "cholesky",
                                  "ilu0"])  # (ic0 reads only the lower triangle: the bad column is not read)
def test_corrupt_matrix_raises_naming_the_linalg_call(name):
    bad = ms.csr_array((mx.array(np.ones(12, np.float32)), mx.array([0, 9, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5]),
                        mx.array([0, 1, 3, 5, 8, 10, 12])), shape=(6, 6), validate=False)  # column 9 of 6
    call = {"eigsh": lambda: ms.linalg.eigsh(bad, k=1), "eigs": lambda: ms.linalg.eigs(bad, k=1),
            "svds": lambda: ms.linalg.svds(bad, k=1), "lanczos": lambda: ms.linalg.lanczos(bad, k=1),
            "lobpcg": lambda: ms.linalg.lobpcg(bad, mx.ones((6, 1))), "amg": lambda: ms.linalg.amg(bad),
            "spsolve": lambda: ms.linalg.spsolve(bad, mx.ones((6,))), "splu": lambda: ms.linalg.splu(bad),
            "cholesky": lambda: ms.linalg.cholesky(bad), "ilu0": lambda: ms.linalg.ilu0(bad)}[name]
    with pytest.raises(RuntimeError, match=f"^{name}"):
        call()
