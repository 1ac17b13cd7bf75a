"""Direct solvers (SuiteSparse, or scipy's SuperLU as the fallback) against scipy and dense algebra; their derivatives."""

import warnings

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from conftest import INDEX_DTYPES, has_gpu, to_host

import mlx_sparse as ms

DT = {"float64": (mx.float64, np.float64, 1e-10), "float32": (mx.float32, np.float32, 1e-4),
      "complex64": (mx.complex64, np.complex64, 1e-4)}


def _poisson(n):
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return sp.csr_array(sp.kronsum(t, t))


def _unsym(n, cplx=False, seed=1):
    N = n * n
    M = _poisson(n) + 0.5 * sp.random(N, N, density=0.02, random_state=seed)
    if cplx:
        M = M + 0.3j * sp.random(N, N, density=0.02, random_state=seed + 1)
    return sp.csr_array(M)


@pytest.mark.parametrize("vt", list(DT))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_spsolve_matches_scipy(vt, it, fmt):
    dt, npdt, tol = DT[vt]
    S = _unsym(9, cplx=vt == "complex64")
    A = getattr(ms, f"{fmt}_array")(S, dtype=dt, index_dtype=INDEX_DTYPES[it])
    rng = np.random.default_rng(0)
    for shape in ((S.shape[0],), (S.shape[0], 3)):
        b = rng.standard_normal(shape).astype(npdt)
        x = ms.linalg.spsolve(A, mx.array(b, dtype=dt))
        ref = sla.spsolve(sp.csc_matrix(S.astype(np.complex128)), b.astype(np.complex128))
        assert x.dtype == dt and x.shape == b.shape
        np.testing.assert_allclose(to_host(x), ref.reshape(b.shape), rtol=tol * 10, atol=tol * 10 * np.abs(ref).max())
    Bs = sp.csr_array(sp.random(S.shape[0], 2, density=0.3, random_state=3))  # a sparse right-hand side
    X = ms.linalg.spsolve(A, Bs)
    assert ms.issparse(X)
    np.testing.assert_allclose(to_host(X.todense()), np.linalg.solve(S.toarray(), Bs.toarray()), rtol=tol * 100,
                               atol=tol * 100)


def test_splu_cholesky_factorized():
    S, P = _unsym(8), _poisson(8)
    A, B = ms.csr_array(S, dtype=mx.float64), ms.csr_array(P, dtype=mx.float64)
    b = np.random.default_rng(1).standard_normal(S.shape[0])
    bm = mx.array(b, dtype=mx.float64)
    lu = ms.linalg.splu(A, engine="umfpack")  # UMFPACK keeps the determinant
    ref = sla.splu(S.tocsc())
    for trans in "NTH":
        np.testing.assert_allclose(np.array(lu.solve(bm, trans)), ref.solve(b, trans=trans), rtol=1e-10, atol=1e-12)
    sign, logabs = lu.logdet()
    es, el = np.linalg.slogdet(S.toarray())
    assert sign == es and abs(logabs - el) < 1e-8 * abs(el) and lu.nnz >= S.nnz
    M = S.toarray().copy()
    M[[0, 1]] = M[[1, 0]]  # a negative determinant
    sn, ln = ms.linalg.splu(ms.csr_array(sp.csr_array(M), dtype=mx.float64)).logdet()
    assert sn == -es and abs(ln - el) < 1e-8 * abs(el)
    f = ms.linalg.factorized(A)
    np.testing.assert_allclose(np.array(f(bm)), np.linalg.solve(S.toarray(), b), rtol=1e-10)
    C = ms.linalg.cholesky(B)
    assert ms.linalg.sparse_cholesky is ms.linalg.cholesky and ms.linalg.sparse_lu is ms.linalg.splu
    np.testing.assert_allclose(np.array(C.solve(bm)), np.linalg.solve(P.toarray(), b), rtol=1e-10)
    assert abs(C.logdet() - np.linalg.slogdet(P.toarray())[1]) < 1e-8 and C.slogdet()[0] == 1.0 and C.fill >= P.shape[0]
    C.refactor(ms.csr_array(P * 2.0, dtype=mx.float64))  # same pattern, new values: the analysis is reused
    np.testing.assert_allclose(np.array(C.solve(bm)), np.linalg.solve(2 * P.toarray(), b), rtol=1e-10)
    with pytest.raises(ValueError, match="pattern"):
        C.refactor(ms.csr_array(S, dtype=mx.float64))
    Zc = sp.csr_array(_unsym(5, cplx=True).astype(np.complex64))  # complex LU
    xz = ms.linalg.splu(ms.csr_array(Zc)).solve(mx.array(np.ones(25, np.complex64)), "H")
    np.testing.assert_allclose(to_host(xz), np.linalg.solve(Zc.toarray().conj().T, np.ones(25)), rtol=1e-4, atol=1e-5)


@pytest.fixture(params=["suitesparse", "superlu-fallback"])
def engine_build(request, monkeypatch):
    """Run a test with this build's engines, and again as a build without SuiteSparse would."""
    from mlx_sparse.linalg import _direct

    if request.param == "suitesparse" and not _direct._ext.direct_available():
        pytest.skip("this build has no SuiteSparse")
    if request.param == "superlu-fallback":
        monkeypatch.setattr(_direct._ext, "direct_available", lambda: False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no SuiteSparse")
        yield request.param


def test_direct_errors(engine_build):
    with pytest.raises(np.linalg.LinAlgError, match="spsolve: .*singular"):
        ms.linalg.spsolve(ms.csr_array(np.array([[1.0, 2.0], [2.0, 4.0]]), dtype=mx.float64), np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match="cholesky: .*not positive definite \\(column 1\\)"):
        # column 1 fails in every elimination order
        ms.linalg.cholesky(ms.csr_array(np.array([[4.0, 1.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 3.0]]), dtype=mx.float64))
    A = ms.csr_array(_poisson(4), dtype=mx.float64)
    with pytest.raises(ValueError, match="spsolve"):
        ms.linalg.spsolve(A, np.ones(3))
    with pytest.raises(ValueError, match="splu"):
        ms.linalg.splu(ms.csr_array(np.ones((2, 3), np.float32)))
    with pytest.raises(TypeError, match="spsolve"):
        ms.linalg.spsolve(np.eye(2), np.ones(2))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        Ai = ms.linalg.inv(A)
    assert any("dense" in str(x.message) for x in w)
    np.testing.assert_allclose(to_host(Ai.todense()), np.linalg.inv(_poisson(4).toarray()), rtol=1e-10, atol=1e-12)


def test_spsolve_derivatives():
    """vjp against the analytic adjoint (lambda = A^-T g, dA = -lambda x^T on the pattern), jvp against a
    dense solve, one finite difference."""
    S = _unsym(7)
    A0 = ms.csr_array(S, dtype=mx.float64)
    N = S.shape[0]
    b = mx.array(np.random.default_rng(2).standard_normal(N), dtype=mx.float64)

    def solve(d, bv):
        return ms.linalg.spsolve(ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape), bv)

    def f(d, bv):
        return mx.sum(solve(d, bv) ** 2)

    gd, gb = mx.grad(f, argnums=(0, 1))(A0.data, b)
    D = S.toarray()
    x = np.linalg.solve(D, np.array(b))
    lam = np.linalg.solve(D.T, 2 * x)
    rows, cols = np.repeat(np.arange(N), np.diff(S.indptr)), S.indices
    np.testing.assert_allclose(np.array(gb), lam, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.array(gd), -lam[rows] * x[cols], rtol=1e-10, atol=1e-12)
    td = mx.array(np.random.default_rng(3).standard_normal(S.nnz), dtype=mx.float64)
    tb = mx.array(np.random.default_rng(4).standard_normal(N), dtype=mx.float64)
    _, (jv,) = mx.jvp(solve, [A0.data, b], [td, tb])
    dA = sp.csr_array((np.array(td), S.indices, S.indptr), shape=S.shape).toarray()
    np.testing.assert_allclose(np.array(jv), np.linalg.solve(D, np.array(tb) - dA @ x), rtol=1e-9, atol=1e-11)
    e = np.zeros(S.nnz)
    e[5] = 1e-6
    fp, fm = (float(f(A0.data + s * mx.array(e, dtype=mx.float64), b).item()) for s in (1, -1))
    assert abs((fp - fm) / 2e-6 - float(np.array(gd)[5])) < 1e-5 * max(1.0, abs(float(np.array(gd)[5])))
    # a kept factorization's solves are differentiable in b too
    lu = ms.linalg.factorized(A0)
    g2 = mx.grad(lambda bv: mx.sum(lu(bv) ** 2))(b)
    np.testing.assert_allclose(np.array(g2), lam, rtol=1e-10, atol=1e-12)


def test_spilu_preconditions_gmres():
    S = _unsym(12)
    A = ms.csr_array(S, dtype=mx.float64)
    b = mx.array(np.ones(S.shape[0]), dtype=mx.float64)
    M = ms.linalg.spilu(A, drop_tol=1e-4)
    its = {}
    for key, P in (("none", None), ("spilu", M)):
        calls = []
        x, info = ms.linalg.gmres(A, b, M=P, rtol=1e-10, restart=50, callback=calls.append, check_every=1)
        assert info == 0
        its[key] = len(calls)
    assert np.linalg.norm(np.ones(S.shape[0]) - S @ np.array(x)) < 1e-8 * np.sqrt(S.shape[0])
    assert its["spilu"] <= its["none"]


def test_engine_reported():
    assert ms.linalg.direct_engine() in ("suitesparse", "scipy-superlu")
    assert ms.linalg.direct_engine(mx.cpu) == ms.linalg.direct_engine()


def _need_cudss():
    if not has_gpu():
        pytest.skip("needs MLX's CUDA backend and mlx_sparse's CUDA kernels")
    if ms.linalg.direct_engine(mx.gpu) != "cudss":
        pytest.skip("needs NVIDIA cuDSS (nvidia-cudss-cu13)")


def _gpu_csr(S, dt, it, fmt="csr"):
    return getattr(ms, f"{fmt}_array")(S, dtype=dt, index_dtype=INDEX_DTYPES[it])


@pytest.mark.gpu
@pytest.mark.parametrize("vt", ["float32", "complex64", "float16"])
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_gpu_spsolve_splu_match_scipy(vt, it, fmt):
    """cuDSS on the GPU: spsolve and splu's solves (N, T, H; a vector and a block) against scipy, then
    refactor with new values on the same pattern."""
    _need_cudss()
    dt = {"float32": mx.float32, "complex64": mx.complex64, "float16": mx.float16}[vt]
    tol = 2e-2 if vt == "float16" else 2e-4
    S = _unsym(9, cplx=vt == "complex64")
    if vt == "float16":  # values a float16 holds exactly
        S = S.copy()
        S.data = S.data.astype(np.float16).astype(np.float64)
    A = _gpu_csr(S, dt, it, fmt)
    ref = sla.splu(sp.csc_matrix(S.astype(np.complex128)))
    rng = np.random.default_rng(0)
    for shape in ((S.shape[0],), (S.shape[0], 3)):
        b = rng.standard_normal(shape).astype(np.float32)
        x = ms.linalg.spsolve(A, mx.array(b).astype(dt), stream=mx.gpu)
        assert x.dtype == dt and x.shape == b.shape
        want = ref.solve(b.astype(np.float16).astype(np.complex128) if vt == "float16" else b.astype(np.complex128))
        np.testing.assert_allclose(to_host(x.astype(mx.complex64)), want, rtol=tol, atol=tol * np.abs(want).max())
    lu = ms.linalg.splu(A, stream=mx.gpu)
    assert lu.nnz >= S.nnz and "cudss" in repr(lu)
    b = rng.standard_normal((S.shape[0], 2)).astype(np.float32)
    for trans in "NTH":
        x = lu.solve(mx.array(b).astype(dt), trans)
        want = ref.solve(b.astype(np.float16).astype(np.complex128) if vt == "float16" else b.astype(np.complex128),
                         trans=trans)
        np.testing.assert_allclose(to_host(x.astype(mx.complex64)), want, rtol=tol, atol=tol * np.abs(want).max())
    S2 = sp.csr_array(S * 2.0 + sp.diags(np.full(S.shape[0], 0.5)))  # the same pattern (S has its diagonal)
    lu.refactor(_gpu_csr(S2, dt, it, fmt))
    x = lu.solve(mx.array(b[:, 0]).astype(dt))
    want = sla.spsolve(sp.csc_matrix(S2.astype(np.complex128)), b[:, 0].astype(np.complex128))
    np.testing.assert_allclose(to_host(x.astype(mx.complex64)), want, rtol=tol * 5, atol=tol * 5 * np.abs(want).max())
    with pytest.raises(ValueError, match="pattern"):
        lu.refactor(_gpu_csr(sp.csr_array(S + sp.random(*S.shape, density=0.05, random_state=9)), dt, it, fmt))
    with pytest.raises(RuntimeError, match="cuDSS does not expose"):
        lu.L


@pytest.mark.gpu
@pytest.mark.parametrize("vt", ["float32", "complex64"])
def test_gpu_cholesky_matches_cpu(vt):
    _need_cudss()
    dt = mx.float32 if vt == "float32" else mx.complex64
    P = _poisson(10) if vt == "float32" else sp.csr_array(_hpd(60, 4))
    A = ms.csr_array(P, dtype=dt)
    ch = ms.linalg.cholesky(A, stream=mx.gpu)
    b = np.random.default_rng(2).standard_normal((P.shape[0], 2)).astype(np.float32)
    x = ch.solve(mx.array(b).astype(dt))
    want = np.linalg.solve(P.toarray(), b)
    np.testing.assert_allclose(to_host(x), want, rtol=2e-4, atol=2e-4 * np.abs(want).max())
    sign, ld = np.linalg.slogdet(P.toarray())
    assert abs(ch.logdet() - ld) <= 1e-4 * abs(ld) + 1e-3
    assert ch.fill >= (sp.triu(P).nnz if vt == "float32" else 1)


@pytest.mark.gpu
def test_gpu_direct_errors_and_engine():
    _need_cudss()
    S = _poisson(4).tolil()
    S[3, :] = 0  # an empty row: singular
    with pytest.raises(np.linalg.LinAlgError, match="spsolve"):
        ms.linalg.spsolve(ms.csr_array(sp.csr_array(S), dtype=mx.float32), mx.ones((16,)), stream=mx.gpu)
    N = sp.csr_array(_poisson(4) - 3.0 * sp.eye(16))  # symmetric, not positive definite
    with pytest.raises(np.linalg.LinAlgError, match="cholesky: the matrix is not positive definite"):
        ms.linalg.cholesky(ms.csr_array(N, dtype=mx.float32), stream=mx.gpu)
    with pytest.raises(TypeError, match="float64"):
        ms.linalg.splu(ms.csr_array(_poisson(3), dtype=mx.float64), stream=mx.gpu)
    with pytest.raises(ValueError, match="engine"):
        ms.linalg.splu(ms.csr_array(_poisson(3), dtype=mx.float32), stream=mx.gpu, engine="klu")
    with pytest.raises(RuntimeError, match="spilu: not available on the GPU"):
        ms.linalg.spilu(ms.csr_array(_poisson(3), dtype=mx.float32), stream=mx.gpu)
    with pytest.raises(ValueError, match="square"):
        ms.linalg.spsolve(ms.csr_array(sp.random(4, 5, density=0.5), dtype=mx.float32), mx.ones((4,)), stream=mx.gpu)
    lu = ms.linalg.splu(ms.csr_array(_poisson(3), dtype=mx.float32), stream=mx.gpu)
    with pytest.raises(ValueError, match="does not match"):
        lu.solve(mx.ones((5,)))
    with pytest.raises(RuntimeError, match="logdet"):
        lu.logdet()
    E = ms.linalg.spsolve(ms.csr_array(sp.csr_array((0, 0)), dtype=mx.float32), mx.zeros((0,)), stream=mx.gpu)
    assert E.shape == (0,)


@pytest.mark.gpu
def test_gpu_lu_of_indefinite_matrices():
    """Regular indefinite matrices whose LU needs pivots across cuDSS's supernodes (a shifted Laplacian, a
    saddle-point matrix with a zero block on its diagonal): where cuDSS perturbs pivots, the factorization
    passes its test solve (with iterative refinement) and is kept; solves, transposed solves and a refactor
    match scipy. (A singular matrix still raises: test_gpu_direct_errors_and_engine.)"""
    _need_cudss()
    rng = np.random.default_rng(2)
    P = sp.csr_array(sp.kronsum(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(12, 12)),
                                sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(12, 12))))
    Z = sp.csr_array(sp.bmat([[sp.eye(30) * 2.0, sp.random(30, 30, density=0.2, random_state=1) + 2 * sp.eye(30)],
                              [sp.random(30, 30, density=0.2, random_state=2) + 2 * sp.eye(30), None]]))
    for S in (sp.csr_array(P - 3.1 * sp.eye(144)), Z):  # Z: a zero block on the diagonal (saddle point)
        S = S.astype(np.float32)
        n = S.shape[0]
        b = rng.standard_normal(n).astype(np.float32)
        lu = ms.linalg.splu(ms.csr_array(S), stream=mx.gpu)
        ref = sla.spsolve(sp.csc_array(S.astype(np.float64)), b.astype(np.float64))
        scale = np.linalg.norm(ref)
        for trans, M in (("N", S), ("T", S.T)):
            x = np.array(lu.solve(mx.array(b), trans=trans)).astype(np.float64)
            r = sla.spsolve(sp.csc_array(M.astype(np.float64)), b.astype(np.float64))
            assert np.linalg.norm(x - r) <= 1e-3 * np.linalg.norm(r)
        A2 = ms.csr_array(S) * 2.0  # new values on the same structure
        lu.refactor(A2)
        x2 = np.array(lu.solve(mx.array(b))).astype(np.float64)
        assert np.linalg.norm(x2 - ref / 2) <= 1e-3 * scale


@pytest.mark.gpu
def test_gpu_spsolve_derivatives_match_cpu():
    """mx.grad through the cuDSS solve (the adjoint is a second solve node) against the CPU's float64 gradient."""
    _need_cudss()
    S = _unsym(6)
    b = np.random.default_rng(5).standard_normal(S.shape[0])
    T = sp.csr_array(S)
    T.sort_indices()
    grads = {}
    for dev, dt in ((mx.cpu, mx.float64), (mx.gpu, mx.float32)):
        def loss(d, bv, dev=dev, dt=dt):
            A = ms.csr_array((d, mx.array(T.indices), mx.array(T.indptr)), shape=T.shape)
            x = ms.linalg.spsolve(A, bv, stream=dev)
            return mx.sum(x * x, stream=dev)

        with mx.stream(dev):
            g = mx.grad(loss, argnums=(0, 1))(mx.array(T.data, dtype=dt), mx.array(b, dtype=dt))
        grads[str(dev)] = [np.array(v.astype(mx.float32)) for v in g]
    (gd_c, gb_c), (gd_g, gb_g) = grads.values()
    np.testing.assert_allclose(gd_g, gd_c, rtol=1e-3, atol=1e-3 * np.abs(gd_c).max())
    np.testing.assert_allclose(gb_g, gb_c, rtol=1e-3, atol=1e-3 * np.abs(gb_c).max())


@pytest.mark.gpu
def test_gpu_solves_stay_lazy_and_missing_engine_message(monkeypatch):
    """Solves are graph nodes (many build up before one eval); without cuDSS the error says what to install."""
    _need_cudss()
    from mlx_sparse.linalg import _direct

    A = ms.csr_array(_poisson(12), dtype=mx.float32)
    lu = ms.linalg.splu(A, stream=mx.gpu)
    x = mx.ones((144,))
    for _ in range(5):  # x <- A^-1 x, five nodes, evaluated once
        x = lu.solve(x)
    want = np.ones(144)
    for _ in range(5):
        want = sla.spsolve(sp.csc_matrix(_poisson(12)), want)
    np.testing.assert_allclose(np.array(x), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    # cuDSS refactors in place: a solve built before a refactor refuses to run rather than use the new matrix
    pending = lu.solve(mx.ones((144,)))
    lu.refactor(ms.csr_array(sp.csr_array(_poisson(12) * 2.0), dtype=mx.float32))
    with pytest.raises(RuntimeError, match="refactored after this solve was built"):
        mx.eval(pending)
    np.testing.assert_allclose(np.array(lu.solve(mx.ones((144,)))),
                               sla.spsolve(sp.csc_matrix(_poisson(12) * 2.0), np.ones(144)), rtol=1e-3, atol=1e-4)
    monkeypatch.setattr(_direct, "_CUDSS", ["NVIDIA cuDSS was not found (pip install nvidia-cudss-cu13)"])
    with pytest.raises(RuntimeError, match="spsolve: no GPU direct solver: NVIDIA cuDSS was not found"):
        ms.linalg.spsolve(A, mx.ones((144,)), stream=mx.gpu)
    assert ms.linalg.direct_engine(mx.gpu) == "none"


def test_resistor_fit_example_runs():
    """examples/resistor_fit.py: gradient descent through spsolve recovers the conductances."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, os.path.join(here, "..", "examples", "resistor_fit.py"), "--k", "4",
                        "--steps", "1500"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "largest relative conductance error" in r.stdout


def test_superlu_engine_option_agrees():
    S = _unsym(6)
    A = ms.csr_array(S, dtype=mx.float64)
    b = mx.array(np.arange(36, dtype=np.float64), dtype=mx.float64)
    x1 = ms.linalg.spsolve(A, b)
    x2 = ms.linalg.spsolve(A, b, engine="superlu")
    x3 = ms.linalg.splu(A, engine="superlu").solve(b, "T")
    x4 = ms.linalg.splu(A, engine="umfpack").solve(b, "T")
    np.testing.assert_allclose(np.array(x1), np.array(x2), rtol=1e-10)
    np.testing.assert_allclose(np.array(x4), np.array(x3), rtol=1e-10)
    es, el = np.linalg.slogdet(S.toarray())
    for eng in (None, "umfpack", "superlu"):  # KLU (the default) computes it from its factors and permutations
        sg, la = ms.linalg.splu(A, engine=eng).logdet()
        assert sg == es and abs(la - el) < 1e-9 * abs(el), eng
    Zc = sp.csr_array(_unsym(5, cplx=True).astype(np.complex128))
    sz, lz = ms.linalg.splu(ms.csr_array(Zc, dtype=mx.complex64)).logdet()
    dz = np.linalg.det(Zc.toarray())
    assert abs(lz - np.log(abs(dz))) < 1e-4 * abs(np.log(abs(dz))) + 1e-4 and abs(sz - dz / abs(dz)) < 1e-4
    np.testing.assert_allclose(np.array(x3), np.linalg.solve(S.toarray().T, np.array(b)), rtol=1e-10)
    with pytest.raises(ValueError, match="engine"):
        ms.linalg.splu(A, engine="magma")


def test_review_fixes_refactor_gradient_cholesky_gradient_empty_and_threads():
    """Derivatives follow a refactored matrix; Cholesky derivatives treat the upper triangle as the
    matrix (an entry above the diagonal stands for two); an empty system; concurrent solves."""
    P = _poisson(5)
    N = P.shape[0]
    A0 = ms.csr_array(P, dtype=mx.float64)
    b = mx.array(np.random.default_rng(5).standard_normal(N), dtype=mx.float64)
    lu = ms.linalg.splu(A0)
    lu.refactor(ms.csr_array(P * 3.0, dtype=mx.float64))
    x = np.linalg.solve(3 * P.toarray(), np.array(b))
    np.testing.assert_allclose(np.array(lu.solve(b)), x, rtol=1e-10)
    # Cholesky of the upper triangle only, differentiated in its values, against the dense symmetric solve
    U = sp.csr_array(sp.triu(P))

    def f(d):
        C = ms.linalg.cholesky(ms.csr_array((d, ms.csr_array(U).indices, ms.csr_array(U).indptr), shape=U.shape))
        return mx.sum(C.solve(b) ** 2)

    Ud = ms.csr_array(U, dtype=mx.float64)
    g = np.array(mx.grad(f)(Ud.data))
    xs = np.linalg.solve(P.toarray(), np.array(b))
    lam = np.linalg.solve(P.toarray(), 2 * xs)
    rows, cols = np.repeat(np.arange(N), np.diff(U.indptr)), U.indices
    ref = np.where(rows == cols, -lam[rows] * xs[cols], -(lam[rows] * xs[cols] + lam[cols] * xs[rows]))
    np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-12)
    e = np.zeros(U.nnz)
    k = int(np.nonzero(rows < cols)[0][0])
    e[k] = 1e-6
    fd = (float(f(Ud.data + mx.array(e, dtype=mx.float64)).item()) - float(f(Ud.data - mx.array(e, dtype=mx.float64)).item())) / 2e-6
    assert abs(fd - g[k]) < 1e-5 * max(1.0, abs(g[k]))
    # an empty system
    E = ms.csr_array(sp.csr_array((0, 0)), dtype=mx.float64)
    assert ms.linalg.spsolve(E, mx.zeros((0,), dtype=mx.float64)).shape == (0,)
    # concurrent solves with one factorization give the serial answers
    import threading

    B = [mx.array(np.random.default_rng(i).standard_normal(N), dtype=mx.float64) for i in range(8)]
    ref_x = [np.linalg.solve(3 * P.toarray(), np.array(v)) for v in B]
    out = [None] * 8

    def work(i):
        out[i] = np.array(lu.solve(B[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for o, r in zip(out, ref_x):
        np.testing.assert_allclose(o, r, rtol=1e-10)


def _reducible(n=60, seed=3, triangular=False):
    """A matrix with a nontrivial block triangular form (KLU's off-diagonal blocks F), rows and columns
    shuffled: an upper triangle with small diagonal blocks coupled below it (none: every block a singleton)."""
    rng = np.random.default_rng(seed)
    D = np.triu(sp.random(n, n, density=0.08, random_state=seed).toarray(), 1) * 3 + np.diag(rng.uniform(1, 2, n))
    if not triangular:
        for k in range(0, n - 4, 7):
            D[k + 1:k + 4, k:k + 3] += rng.standard_normal((3, 3))
    return sp.csr_array(D[rng.permutation(n)][:, rng.permutation(n)])


_FACTOR_MATRICES = {"unsym": lambda: _unsym(8), "poisson": lambda: _poisson(7), "complex": lambda: _unsym(6, cplx=True),
                    "reducible": _reducible, "triangular": lambda: _reducible(40, 5, triangular=True),
                    "random": lambda: sp.csr_array(sp.random(80, 80, density=0.05, random_state=9) + 0.1 * sp.eye(80))}


def _perm_matrices(pr, pc):
    n = len(pr)
    return (sp.csc_array((np.ones(n), (pr, np.arange(n))), shape=(n, n)),
            sp.csc_array((np.ones(n), (np.arange(n), pc)), shape=(n, n)))


@pytest.mark.parametrize("engine", ["umfpack", "klu", "superlu"])
@pytest.mark.parametrize("mat", list(_FACTOR_MATRICES))
def test_lu_factors(engine, mat):
    """L, U, perm_r, perm_c with scipy's SuperLU meaning: Pr A Pc = L U, L unit lower, U upper, for each
    engine (UMFPACK's and KLU's row scaling and KLU's off-diagonal blocks folded in)."""
    if engine != "superlu" and not ms.linalg.direct_engine() == "suitesparse":
        pytest.skip("this build has no SuiteSparse")
    S = _FACTOR_MATRICES[mat]()
    cplx = np.iscomplexobj(S.data)
    if cplx:  # the matrix MLX holds (complex64), in double precision
        S = sp.csr_array(S.astype(np.complex64).astype(np.complex128))
    n = S.shape[0]
    lu = ms.linalg.splu(ms.csr_array(S, dtype=mx.complex64 if cplx else mx.float64), engine=engine)
    L, U, pr, pc = lu.L, lu.U, lu.perm_r, lu.perm_c
    assert isinstance(L, ms.csc_array) and isinstance(U, ms.csc_array) and L.shape == U.shape == (n, n)
    assert L.dtype == U.dtype == (mx.complex64 if cplx else mx.float64)
    assert isinstance(pr, mx.array) and sorted(np.array(pr).tolist()) == list(range(n))
    assert sorted(np.array(pc).tolist()) == list(range(n))
    Ls, Us = L.to_scipy(), U.to_scipy()
    assert sp.triu(Ls, 1).nnz == 0 and np.all(Ls.diagonal() == 1) and sp.tril(Us, -1).nnz == 0
    Pr, Pc = _perm_matrices(np.array(pr), np.array(pc))
    scale = abs(S).max()
    err = abs(Pr @ S @ Pc - Ls.astype(np.complex128) @ Us.astype(np.complex128)).max()
    assert err <= (1e-5 if cplx else 1e-10) * scale, err  # complex64 factors: MLX has no complex128
    # the double precision factors behind them (complex128 for complex matrices)
    f = lu._f.factors_host()
    Lh, Uh = (sp.csc_array(f[k], shape=(n, n)) for k in ("L", "U"))
    assert abs(Pr @ S @ Pc - Lh @ Uh).max() <= 1e-10 * scale
    # against scipy's SuperLU: the same solution and determinant from the factors; SuperLU's own factors exactly
    ref = sla.splu(sp.csc_matrix(S))
    b = np.random.default_rng(0).standard_normal(n)
    x = Pc @ sla.spsolve_triangular(Uh.tocsr(), sla.spsolve_triangular(Lh.tocsr(), Pr @ b, lower=True,
                                                                       unit_diagonal=True), lower=False)
    np.testing.assert_allclose(x, ref.solve(b.astype(S.dtype)), rtol=1e-9, atol=1e-12 * np.abs(x).max())
    from mlx_sparse.linalg._direct import _perm_sign

    det = np.prod(Uh.diagonal()) * _perm_sign(np.array(pr)) * _perm_sign(np.array(pc))
    det_ref = np.prod(ref.U.diagonal()) * _perm_sign(ref.perm_r) * _perm_sign(ref.perm_c)
    assert abs(det - det_ref) <= 1e-9 * abs(det_ref)
    if engine == "superlu":
        np.testing.assert_array_equal(np.array(pr), ref.perm_r)
        np.testing.assert_array_equal(np.array(pc), ref.perm_c)
        assert abs(Lh - ref.L).max() == 0 and abs(Uh - ref.U).max() == 0
    if engine == "klu" and mat == "triangular":  # every block of the BTF a singleton: L = I, U holds everything
        assert Ls.nnz == n and Us.nnz == S.nnz


def test_lu_factors_refactor_empty_and_fallback(engine_build):
    S = _unsym(6)
    A = ms.csr_array(S, dtype=mx.float64)
    for engine in ((None, "umfpack") if engine_build == "suitesparse" else (None,)):
        lu = ms.linalg.splu(A, engine=engine)
        U1 = lu.U.to_scipy()
        lu.refactor(ms.csr_array(S * 3.0, dtype=mx.float64))  # the factors follow the new values
        Pr, Pc = _perm_matrices(np.array(lu.perm_r), np.array(lu.perm_c))
        assert abs(Pr @ (3 * S) @ Pc - lu.L.to_scipy() @ lu.U.to_scipy()).max() <= 1e-10 * 3 * abs(S).max()
        assert abs(lu.U.to_scipy()).max() > 2 * abs(U1).max()
        b = mx.array(np.ones(S.shape[0]), dtype=mx.float64)  # solves after extraction use the kept factorization
        np.testing.assert_allclose(np.array(lu.solve(b)), np.linalg.solve(3 * S.toarray(), np.ones(S.shape[0])),
                                   rtol=1e-10)
        E = ms.linalg.splu(ms.csr_array(sp.csr_array((0, 0)), dtype=mx.float64), engine=engine)
        assert E.L.shape == E.U.shape == (0, 0) and E.L.nnz == E.U.nnz == 0
        assert E.perm_r.shape == E.perm_c.shape == (0,)
    C = ms.linalg.cholesky(ms.csr_array(sp.csr_array((0, 0)), dtype=mx.float64))
    assert C.L.shape == (0, 0) and C.perm.shape == (0,) and C.P().shape == (0,)


def _hpd(n, seed):
    """A complex Hermitian positive definite sparse matrix."""
    B = sp.random(n, n, density=0.03, random_state=seed)
    return sp.csr_array(4 * sp.eye(n) + B @ B.T + 0.3j * (B - B.T))


@pytest.mark.parametrize("mat", ["poisson", "poisson3d", "complex"])
def test_cholesky_factor(engine_build, mat):
    """L and perm with A[perm][:, perm] = L L^H (CHOLMOD's factor as a simplicial LL^H copy, supernodal
    factors included; SuperLU's symmetric mode in the fallback); the kept factor still solves."""
    if mat == "poisson3d":
        t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(12, 12))
        S = sp.csr_array(sp.kronsum(sp.kronsum(t, t), t))  # 1728 unknowns: CHOLMOD goes supernodal
    else:
        S = _poisson(12) if mat == "poisson" else _hpd(144, 1)
    cplx = mat == "complex"
    if cplx:
        S = sp.csr_array(S.astype(np.complex64).astype(np.complex128))
    n = S.shape[0]
    C = ms.linalg.cholesky(ms.csr_array(S, dtype=mx.complex64 if cplx else mx.float64))
    L, p = C.L, np.array(C.perm)
    assert isinstance(L, ms.csc_array) and L.dtype == (mx.complex64 if cplx else mx.float64)
    assert sorted(p.tolist()) == list(range(n)) and np.array_equal(np.array(C.P()), p)
    Ls = L.to_scipy()
    assert sp.triu(Ls, 1).nnz == 0 and np.all(Ls.diagonal().real > 0) and np.all(Ls.diagonal().imag == 0)
    scale = abs(S).max()
    assert abs(S[p][:, p] - Ls.astype(np.complex128) @ Ls.conj().T.astype(np.complex128)).max() <= \
        (1e-5 if cplx else 1e-10) * scale
    Lh = sp.csc_array(C._f.factors_host()["L"], shape=(n, n))  # double precision
    assert abs(S[p][:, p] - Lh @ Lh.conj().T).max() <= 1e-10 * scale
    assert abs(2 * np.sum(np.log(Lh.diagonal().real)) - C.logdet()) <= 1e-9 * abs(C.logdet())
    b = np.random.default_rng(0).standard_normal(n)
    x = np.array(C.solve(mx.array(b, dtype=mx.float64 if not cplx else mx.complex64))).astype(S.dtype)
    assert np.linalg.norm(S @ x - b) <= (1e-4 if cplx else 1e-10) * np.linalg.norm(b)


def _c64(a):
    return mx.array(np.asarray(a).astype(np.complex64))


def _fd(f, d, k, h):
    """MLX's gradient convention for complex inputs: dL/dRe + i dL/dIm, by central differences."""
    e = np.zeros(d.size, np.complex64)
    out = []
    for step in (h, 1j * h):
        e[k] = step
        fp, fm = (float(f(d + s * _c64(e)).item()) for s in (1, -1))
        out.append((fp - fm) / (2 * h))
    return out[0] + 1j * out[1]


@pytest.mark.parametrize("trans", ["N", "T", "H"])
def test_complex_solve_derivatives(trans):
    """Complex systems: vjp in MLX's convention (lambda = op(A)^-H g for b, -lambda_r conj(x_c) and its
    transposed forms on A's pattern), checked against the analytic adjoint in double precision and
    against central differences in the real and imaginary directions; jvp against a dense solve."""
    S = _unsym(3, cplx=True)
    S.data = S.data.astype(np.complex64).astype(np.complex128)
    A0 = ms.csr_array(S, dtype=mx.complex64)
    N = S.shape[0]
    rng = np.random.default_rng(5)
    bh = (rng.standard_normal(N) + 1j * rng.standard_normal(N)).astype(np.complex64)
    b = _c64(bh)

    def solve(d, bv):
        A = ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape)
        return ms.linalg.spsolve(A, bv) if trans == "N" else ms.linalg.splu(A).solve(bv, trans=trans)

    def f(d, bv):
        return mx.sum(mx.abs(solve(d, bv)) ** 2)

    gd, gb = mx.grad(f, argnums=(0, 1))(A0.data, b)
    D = S.toarray()
    op = {"N": D, "T": D.T, "H": D.conj().T}[trans]
    x = np.linalg.solve(op, bh.astype(np.complex128))
    lam = np.linalg.solve(op.conj().T, 2 * x)
    rows, cols = np.repeat(np.arange(N), np.diff(S.indptr)), S.indices
    want = {"N": -lam[rows] * np.conj(x[cols]), "T": -lam[cols] * np.conj(x[rows]),
            "H": -np.conj(lam[cols]) * x[rows]}[trans]
    np.testing.assert_allclose(np.array(gb), lam, rtol=2e-4, atol=2e-5 * np.abs(lam).max())
    np.testing.assert_allclose(np.array(gd), want, rtol=2e-4, atol=2e-5 * np.abs(want).max())
    for k in (0, 5):
        fd = _fd(lambda d: f(d, b), A0.data, k, 1e-2)
        assert abs(fd - complex(np.array(gd)[k])) <= 2e-3 * max(1.0, abs(fd)), (k, fd, np.array(gd)[k])
    fdb = _fd(lambda bv: f(A0.data, bv), b, 3, 1e-2)
    assert abs(fdb - complex(np.array(gb)[3])) <= 2e-3 * max(1.0, abs(fdb))
    td = _c64(rng.standard_normal(S.nnz) + 1j * rng.standard_normal(S.nnz))
    tb = _c64(rng.standard_normal(N) + 1j * rng.standard_normal(N))
    _, (jv,) = mx.jvp(solve, [A0.data, b], [td, tb])
    dA = sp.csr_array((np.array(td).astype(np.complex128), S.indices, S.indptr), shape=S.shape).toarray()
    dop = {"N": dA, "T": dA.T, "H": dA.conj().T}[trans]
    ref = np.linalg.solve(op, np.array(tb) - dop @ x)
    np.testing.assert_allclose(np.array(jv), ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())


def test_complex_cholesky_derivatives():
    """A Hermitian positive definite complex system through cholesky: the gradient of an entry above
    the diagonal carries its conjugate below it; entries below the diagonal are not read (gradient 0)."""
    n = 16
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(4, 4))
    K = sp.eye(n, k=1) + sp.eye(n, k=4)
    S = sp.csr_array(sp.kronsum(T, T) + 2.1 * sp.eye(n) + 0.5j * (K - K.T))
    S.data = S.data.astype(np.complex64).astype(np.complex128)
    A0 = ms.csr_array(S, dtype=mx.complex64)
    rng = np.random.default_rng(6)
    b = _c64(rng.standard_normal(n) + 1j * rng.standard_normal(n))

    def f(d, bv):
        return mx.sum(mx.abs(ms.linalg.cholesky(ms.csr_array((d, A0.indices, A0.indptr), shape=A0.shape)).solve(bv)) ** 2)

    gd, gb = mx.grad(f, argnums=(0, 1))(A0.data, b)
    D = S.toarray()
    x = np.linalg.solve(D, np.array(b).astype(np.complex128))
    lam = np.linalg.solve(D, 2 * x)
    np.testing.assert_allclose(np.array(gb), lam, rtol=2e-4, atol=2e-5 * np.abs(lam).max())
    rows, cols = np.repeat(np.arange(n), np.diff(S.indptr)), S.indices
    want = np.where(rows < cols, -(lam[rows] * np.conj(x[cols]) + np.conj(lam[cols]) * x[rows]),
                    np.where(rows == cols, -lam[rows] * np.conj(x[rows]), 0))
    np.testing.assert_allclose(np.array(gd), want, rtol=2e-4, atol=2e-5 * np.abs(want).max())
    upper = int(np.flatnonzero(rows < cols)[0])
    fd = _fd(lambda d: f(d, b), A0.data, upper, 1e-2)
    assert abs(fd - complex(np.array(gd)[upper])) <= 2e-3 * max(1.0, abs(fd))
