"""eigsh / lanczos, eigs and svds against scipy.sparse.linalg (values to tolerance, vectors by their residuals)."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from conftest import to_host

import mlx_sparse as ms

TOL = {mx.float64: 1e-9, mx.float32: 2e-4, mx.complex64: 2e-4}


def _poisson(n):
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return sp.csr_array(sp.kronsum(t, t))


def _hermitian(n, seed):
    H = sp.random(n, n, density=0.05, random_state=seed) + 1j * sp.random(n, n, density=0.05, random_state=seed + 1)
    return sp.csr_array(H + H.conj().T + sp.diags(np.linspace(0, 1, n)))


@pytest.mark.parametrize("dt", [mx.float64, mx.float32, mx.complex64])
@pytest.mark.parametrize("which", ["LM", "SM", "LA", "SA", "BE"])
def test_eigsh_matches_scipy(device, dt, which):
    if device == mx.gpu and dt == mx.float64:
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    S = _poisson(12) if dt != mx.complex64 else _hermitian(120, 3)
    if dt != mx.float64 and which in ("SM",) and dt == mx.float32:
        S = S + sp.diags(np.full(S.shape[0], 0.5))  # keep the smallest magnitudes apart in float32
    A = ms.csr_array(S, dtype=dt)
    k = 4
    w, V = ms.linalg.eigsh(A, k=k, which=which, tol=0 if dt == mx.float64 else 1e-6)
    # the reference: the dense spectrum, selected by which (scipy's ARPACK starts from a random vector and
    # was seen to return a wrong 'SM' set on the indefinite complex matrix)
    ev = np.linalg.eigvalsh(S.toarray())
    pick = {"LM": np.argsort(-np.abs(ev))[:k], "SM": np.argsort(np.abs(ev))[:k], "LA": np.argsort(-ev)[:k],
            "SA": np.argsort(ev)[:k], "BE": np.concatenate([np.argsort(ev)[: k // 2], np.argsort(-ev)[: k - k // 2]])}
    ref = np.sort(ev[pick[which]])
    assert isinstance(w, mx.array) and w.shape == (k,) and V.shape == (S.shape[0], k)
    wv = to_host(w).astype(np.float64)
    assert np.all(np.diff(wv) >= 0)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(wv, ref, atol=TOL[dt] * scale * 10)
    X = to_host(V).astype(np.complex128)
    assert np.linalg.norm(S @ X - X * wv) <= 50 * TOL[dt] * scale * np.sqrt(k)
    np.testing.assert_allclose(X.conj().T @ X, np.eye(k), atol=50 * TOL[dt])


def test_eigsh_options_and_errors():
    S = _poisson(10)
    A = ms.csr_array(S, dtype=mx.float64)
    w = ms.linalg.eigsh(A, k=3, which="LA", return_eigenvectors=False, v0=np.random.default_rng(0).random(100), ncv=12)
    np.testing.assert_allclose(np.array(w), np.sort(sla.eigsh(S, k=3, which="LA", return_eigenvectors=False)),
                               rtol=1e-10)
    wl, _ = ms.linalg.lanczos(A, k=2)  # the reference package's name: largest algebraic by default
    np.testing.assert_allclose(np.array(wl), np.sort(np.linalg.eigvalsh(S.toarray()))[-2:], rtol=1e-10)
    op = ms.linalg.LinearOperator(S.shape, matvec=lambda x: A @ x, dtype=mx.float64)
    np.testing.assert_allclose(np.array(ms.linalg.eigsh(op, k=2, return_eigenvectors=False)),
                               np.sort(np.linalg.eigvalsh(S.toarray()))[-2:], rtol=1e-10)
    with pytest.raises(ms.linalg.ArpackNoConvergence) as e:
        ms.linalg.eigsh(A, k=4, which="SM", maxiter=1, ncv=9, tol=1e-14)
    assert isinstance(e.value, RuntimeError) and len(e.value.eigenvalues) < 4
    with pytest.raises(ValueError, match="eigsh: k"):
        ms.linalg.eigsh(A, k=100)
    with pytest.raises(ValueError, match="eigsh: which"):
        ms.linalg.eigsh(A, k=2, which="XX")
    with pytest.raises(NotImplementedError, match="eigsh: Minv and OPinv"):
        ms.linalg.eigsh(A, k=2, M=A, Minv=A)
    # shift-invert (a sparse LU of A - sigma I): the eigenvalues nearest sigma, degenerate pairs included
    for sigma in (0.0, 3.0):
        w, V = ms.linalg.eigsh(A, k=4, sigma=sigma)
        np.testing.assert_allclose(np.array(w), np.sort(sla.eigsh(S, k=4, sigma=sigma, return_eigenvectors=False)),
                                   rtol=1e-10)
        X = np.array(V)
        assert np.linalg.norm(S @ X - X * np.array(w)) < 1e-8
    with pytest.raises(ValueError, match="eigsh"):
        ms.linalg.eigsh(ms.csr_array(np.ones((3, 4), np.float32)), k=1)


@pytest.mark.parametrize("dt", [mx.float64, mx.float32, mx.complex64])
@pytest.mark.parametrize("which", ["LM", "SM", "LR", "SR", "LI"])
def test_eigs_matches_scipy(device, dt, which):
    if device == mx.gpu and dt == mx.float64:
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    S = sp.csr_array(sp.random(150, 150, density=0.04, random_state=4) + sp.diags(np.linspace(1, 3, 150)))
    if dt == mx.complex64:
        S = sp.csr_array(S + 1j * sp.random(150, 150, density=0.03, random_state=5))
    A = ms.csr_array(S, dtype=dt)
    # interior ends ('SM' without shift-invert) need a wide basis to be found reliably
    ncv = 60 if which == "SM" else None
    w, X = ms.linalg.eigs(A, k=4, which=which, ncv=ncv, tol=0 if dt == mx.float64 else 1e-6)
    ev = np.linalg.eigvals(S.toarray())  # the dense spectrum (ARPACK's random start makes scipy a shaky oracle)
    key = {"LM": -np.abs(ev), "SM": np.abs(ev), "LR": -ev.real, "SR": ev.real,
           "LI": -(np.abs(ev.imag) if dt != mx.complex64 else ev.imag)}[which]
    ref = ev[np.argsort(key, kind="stable")[:4]]
    wv, Xv = to_host(w).astype(np.complex128), to_host(X).astype(np.complex128)
    # a conjugate pair split by k may come out as either member: compare real parts and |imaginary parts|
    fold = lambda z: np.sort_complex(np.array([complex(v.real, abs(v.imag)) for v in z]))  # noqa: E731
    tol = 1e-8 if dt == mx.float64 else 1e-3  # float64 results are complex64 (MLX has no complex128)
    np.testing.assert_allclose(fold(wv), fold(ref), atol=max(tol, 1e-5) * np.abs(ref).max())
    assert np.linalg.norm(S @ Xv - Xv * wv) <= max(tol, 1e-6) * np.abs(ref).max() * 10


@pytest.mark.parametrize("shape", [(120, 40), (40, 120)])
def test_svds_matches_scipy(device, shape):
    mx.set_default_device(device)
    S = sp.csr_array(sp.random(*shape, density=0.1, random_state=6))
    dt = mx.float32 if device == mx.gpu else mx.float64
    A = ms.csr_array(S, dtype=dt)
    u, s, vh = ms.linalg.svds(A, k=3)
    ref = np.sort(sla.svds(S, k=3, return_singular_vectors=False))
    tol = 1e-8 if dt == mx.float64 else 1e-4
    np.testing.assert_allclose(to_host(s), ref, rtol=tol)
    U, V = to_host(u).astype(np.float64), to_host(vh).astype(np.float64)
    np.testing.assert_allclose(S @ V.T, U * to_host(s), atol=tol * 10 * ref.max())
    np.testing.assert_allclose(to_host(ms.linalg.svds(A, k=3, return_singular_vectors=False)), ref, rtol=tol)
    uu, ss, none = ms.linalg.svds(A, k=2, return_singular_vectors="u")
    assert none is None and uu.shape == (shape[0], 2)
    with pytest.raises(ValueError, match="svds"):
        ms.linalg.svds(A, k=min(shape))


@pytest.mark.parametrize("largest", [True, False])
def test_lobpcg_matches_dense(device, largest):
    mx.set_default_device(device)
    dt = mx.float32 if device == mx.gpu else mx.float64
    S = _poisson(14)
    A = ms.csr_array(S, dtype=dt)
    X = np.random.default_rng(0).standard_normal((S.shape[0], 3))
    ev = np.linalg.eigvalsh(S.toarray())
    ref = ev[::-1][:3] if largest else ev[:3]
    tol = 1e-6 if dt == mx.float64 else 1e-3
    w, V = ms.linalg.lobpcg(A, mx.array(X, dtype=dt), largest=largest, maxiter=300, tol=tol)
    np.testing.assert_allclose(np.sort(to_host(w)), np.sort(ref), rtol=tol * 10, atol=tol * 10)
    Vh = to_host(V).astype(np.float64)
    assert np.linalg.norm(S @ Vh - Vh * to_host(w)) < 50 * tol * np.abs(ref).max()
    if not largest:  # a preconditioner (our AMG) and the histories
        w2, _, lh, rh = ms.linalg.lobpcg(A, mx.array(X, dtype=dt), M=ms.linalg.amg(A, max_coarse=20), largest=False,
                                         maxiter=100, tol=tol, retLambdaHistory=True, retResidualNormsHistory=True)
        np.testing.assert_allclose(np.sort(to_host(w2)), np.sort(ref), rtol=tol * 10, atol=tol * 10)
        assert len(lh) >= 2 and len(rh) >= 1
    wd, _ = ms.linalg.lobpcg(A, mx.array(X, dtype=dt), largest=largest, maxiter=300)  # the default tol
    np.testing.assert_allclose(np.sort(to_host(wd)), np.sort(ref), rtol=1e-2, atol=1e-2)
    with pytest.raises(ValueError, match="lobpcg: the columns of X"):
        ms.linalg.lobpcg(A, mx.array(np.repeat(X[:, :1], 2, axis=1), dtype=dt))
    with pytest.raises(NotImplementedError, match="lobpcg"):
        ms.linalg.lobpcg(A, mx.array(X, dtype=dt), Y=mx.array(X[:, :1], dtype=dt))


def test_eigs_shift_invert():
    """eigs(sigma=): the eigenvalues nearest sigma (a conjugate pair included) through our LU."""
    S = sp.csr_array(sp.random(150, 150, density=0.04, random_state=4) + sp.diags(np.linspace(1, 3, 150)))
    w, X = ms.linalg.eigs(ms.csr_array(S, dtype=mx.float64), k=4, sigma=2.0)
    ev = np.linalg.eigvals(S.toarray())
    ref = ev[np.argsort(np.abs(ev - 2.0))[:4]]
    np.testing.assert_allclose(np.sort_complex(np.array(w)), np.sort_complex(ref), atol=1e-5)
    Xn = np.array(X).astype(np.complex128)
    assert np.linalg.norm(S @ Xn - Xn * np.array(w)) < 1e-4
    with pytest.raises(NotImplementedError, match="eigs: generalized"):
        ms.linalg.eigs(ms.csr_array(S, dtype=mx.float64), k=2, M=ms.csr_array(S, dtype=mx.float64))


@pytest.mark.parametrize("dt", [mx.float32, mx.complex64])
def test_shift_invert_on_the_device(device, dt):
    """eigsh / eigs with sigma factor A - sigma I on the stream's device (cuDSS on the GPU, KLU on the CPU)
    and iterate there: the eigenvalues nearest sigma against the dense spectrum, the vectors by residual."""
    if device == mx.gpu:
        from test_direct import _need_cudss

        _need_cudss()
    mx.set_default_device(device)
    S = _poisson(12) if dt == mx.float32 else _hermitian(120, 3)
    ev = np.linalg.eigvalsh(S.toarray())
    A = ms.csr_array(S, dtype=dt)
    for sigma in (0.0, 3.1):  # definite, then indefinite A - sigma I
        w, V = ms.linalg.eigsh(A, k=4, sigma=sigma, tol=1e-6, stream=device)
        ref = np.sort(ev[np.argsort(np.abs(ev - sigma))[:4]])
        np.testing.assert_allclose(to_host(w).astype(np.float64), ref, atol=1e-4 * np.abs(ev).max())
        X = to_host(V).astype(np.complex128)
        assert np.linalg.norm(S @ X - X * to_host(w).astype(np.float64)) < 1e-3 * np.abs(ev).max()
    G = sp.csr_array(sp.random(150, 150, density=0.04, random_state=4) + sp.diags(np.linspace(1, 3, 150)))
    w, X = ms.linalg.eigs(ms.csr_array(G, dtype=dt), k=4, sigma=2.0, tol=1e-6, stream=device)
    evg = np.linalg.eigvals(G.toarray())
    ref = evg[np.argsort(np.abs(evg - 2.0))[:4]]
    got = to_host(w).astype(np.complex128)
    dist = np.abs(got[:, None] - ref[None, :])  # each value near its own reference value (a conjugate pair's
    assert dist.min(axis=1).max() < 1e-3 and dist.min(axis=0).max() < 1e-3  # order is not fixed)
    Xn = to_host(X).astype(np.complex128)
    assert np.linalg.norm(G @ Xn - Xn * to_host(w)) < 1e-2


@pytest.mark.parametrize("dt", [mx.float32, mx.complex64])
def test_full_precision_dense_products(device, dt):
    """The solvers' dense products keep float32's precision on the GPU (MLX runs them in TF32 otherwise);
    on the CPU the split path is forced, so its arithmetic is checked there too."""
    from mlx_sparse.linalg._interface import _mm

    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((96, 64)), rng.standard_normal((64, 40))
    if dt == mx.complex64:
        A, B = A + 1j * rng.standard_normal(A.shape), B + 1j * rng.standard_normal(B.shape)
    npd = np.complex64 if dt == mx.complex64 else np.float32
    A, B = A.astype(npd), B.astype(npd)
    ref = A.astype(np.complex128) @ B.astype(np.complex128)
    for force in (False, True):
        got = np.array(_mm(mx.array(A), mx.array(B), device, force=force))
        assert got.dtype == npd
        assert np.abs(got - ref).max() <= 4e-6 * np.abs(ref).max()
    # a real factor times a complex one
    got = np.array(_mm(mx.array(A.real.copy()), mx.array(B), device, force=True))
    assert np.abs(got - A.real.astype(np.float64) @ B).max() <= 4e-6 * np.abs(ref).max()


def _mass(n, seed=2):
    """A symmetric positive definite 'mass' matrix with an uneven diagonal (so M-orthonormality differs from
    orthonormality)."""
    B = sp.random(n, n, density=0.03, random_state=seed)
    return sp.csr_array(sp.diags(np.random.default_rng(seed).uniform(1, 3, n)) + 0.1 * (B + B.T))


def _check_generalized(S, Mm, w, V, ref, tol):
    wv, X = np.array(w).astype(np.float64), np.array(V).astype(np.complex128)
    k = ref.size
    assert wv.shape == (k,) and X.shape == (S.shape[0], k) and np.all(np.diff(wv) >= 0)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(wv, ref, atol=tol * scale)
    np.testing.assert_allclose(X.conj().T @ (Mm @ X), np.eye(k), atol=tol * 10)  # M-orthonormal, as scipy's
    assert np.linalg.norm(S @ X - (Mm @ X) * wv) <= tol * 10 * scale * np.sqrt(k)


@pytest.mark.parametrize("which", ["LM", "SM", "LA", "SA", "BE"])
def test_eigsh_generalized_matches_scipy(which):
    """eigsh(A, M=M): A x = lambda M x through the Cholesky reduction, against scipy.linalg.eigh."""
    import scipy.linalg as sl

    S, Mm = _poisson(10), _mass(100)
    S = sp.csr_array(S - 1.5 * sp.eye(100))  # indefinite: 'SM' and 'LM' differ from 'SA' and 'LA'
    ev = sl.eigh(S.toarray(), Mm.toarray(), eigvals_only=True)
    k = 4
    pick = {"LM": np.argsort(-np.abs(ev))[:k], "SM": np.argsort(np.abs(ev))[:k], "LA": np.argsort(-ev)[:k],
            "SA": np.argsort(ev)[:k], "BE": np.concatenate([np.argsort(ev)[: k // 2], np.argsort(-ev)[: k - k // 2]])}
    ref = np.sort(ev[pick[which]])
    A, M = ms.csr_array(S, dtype=mx.float64), ms.csr_array(Mm, dtype=mx.float64)
    w, V = ms.linalg.eigsh(A, k=k, M=M, which=which)
    assert w.dtype == mx.float64 and V.dtype == mx.float64
    _check_generalized(S, Mm, w, V, ref, 1e-9)
    np.testing.assert_allclose(np.array(ms.linalg.eigsh(A, k=k, M=M, which=which, return_eigenvectors=False)), ref,
                               atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("sigma,which", [(0.0, "LM"), (1.3, "LM"), (5.0, "LM"), (1.3, "LA"), (1.3, "SA")])
def test_eigsh_generalized_shift_invert(sigma, which):
    """eigsh(A, M=M, sigma=): scipy's shift-invert mode for A x = lambda M x (which on 1 / (lambda - sigma):
    'LM' nearest sigma, 'LA' just above it, 'SA' just below it)."""
    import scipy.linalg as sl

    S, Mm = _poisson(10), _mass(100)
    ev = np.sort(sl.eigh(S.toarray(), Mm.toarray(), eigvals_only=True))
    k = 4
    ref = {"LM": np.sort(ev[np.argsort(np.abs(ev - sigma))[:k]]), "LA": ev[ev > sigma][:k],
           "SA": ev[ev < sigma][-k:]}[which]
    w, V = ms.linalg.eigsh(ms.csr_array(S, dtype=mx.float64), k=k, M=ms.csr_array(Mm, dtype=mx.float64), sigma=sigma,
                           which=which)
    _check_generalized(S, Mm, w, V, ref, 1e-9)
    if which == "LM":  # scipy's ARPACK agrees
        ref_arpack = sla.eigsh(S, k=k, M=Mm, sigma=sigma, return_eigenvectors=False)
        np.testing.assert_allclose(np.array(w), np.sort(ref_arpack), rtol=1e-9)


def test_eigsh_generalized_complex_operator_and_options(monkeypatch):
    import scipy.linalg as sl

    # complex Hermitian A and M (complex64)
    n = 120
    S = _hermitian(n, 3)
    B = sp.random(n, n, density=0.03, random_state=2)
    Mm = sp.csr_array(sp.diags(np.linspace(1, 3, n)) + 0.1 * (B + B.T) + 0.05j * (B - B.T))
    S, Mm = (sp.csr_array(X.astype(np.complex64).astype(np.complex128)) for X in (S, Mm))
    ev = np.sort(sl.eigh(S.toarray(), Mm.toarray(), eigvals_only=True))
    w, V = ms.linalg.eigsh(ms.csr_array(S), k=3, M=ms.csr_array(Mm), which="LA", tol=1e-6)
    assert V.dtype == mx.complex64
    _check_generalized(S, Mm, w, V, ev[-3:], 2e-5)
    w, V = ms.linalg.eigsh(ms.csr_array(S), k=3, M=ms.csr_array(Mm), sigma=0.5, tol=1e-6)
    _check_generalized(S, Mm, w, V, np.sort(ev[np.argsort(np.abs(ev - 0.5))[:3]]), 2e-5)
    # A as a LinearOperator, M as a scipy matrix, a start vector, the standard shift by an inexact sigma
    P, Mr = _poisson(10), _mass(100, seed=4)
    A = ms.csr_array(P, dtype=mx.float64)
    ref = np.sort(sl.eigh(P.toarray(), Mr.toarray(), eigvals_only=True))
    op = ms.linalg.LinearOperator(P.shape, matvec=lambda x: A @ x, dtype=mx.float64)
    w, V = ms.linalg.eigsh(op, k=3, M=Mr, which="SA", v0=np.ones(100), ncv=20)
    _check_generalized(P, Mr, w, V, ref[:3], 1e-9)
    w = ms.linalg.eigsh(A, k=3, sigma=1.3, return_eigenvectors=False)  # sigma kept in float64 (not rounded)
    evs = np.linalg.eigvalsh(P.toarray())
    np.testing.assert_allclose(np.array(w), np.sort(evs[np.argsort(np.abs(evs - 1.3))[:3]]), rtol=1e-12)
    # errors
    Mm_ms = ms.csr_array(Mr, dtype=mx.float64)
    with pytest.raises(np.linalg.LinAlgError, match="eigsh: M is not positive definite"):
        ms.linalg.eigsh(A, k=2, M=ms.csr_array(sp.csr_array(-sp.eye(100)), dtype=mx.float64))
    with pytest.raises(TypeError, match="eigsh: M must be a sparse matrix"):
        ms.linalg.eigsh(A, k=2, M=np.eye(100))
    with pytest.raises(ValueError, match="eigsh: M of shape"):
        ms.linalg.eigsh(A, k=2, M=ms.csr_array(_mass(50), dtype=mx.float64))
    with pytest.raises(NotImplementedError, match="eigsh: Minv and OPinv"):
        ms.linalg.eigsh(A, k=2, M=Mm_ms, sigma=1.0, OPinv=A)
    with pytest.raises(NotImplementedError, match="eigsh: the buckling and cayley modes"):
        ms.linalg.eigsh(A, k=2, M=Mm_ms, sigma=1.0, mode="buckling")
    with pytest.raises(NotImplementedError, match="eigs: generalized"):  # eigs keeps M unimplemented
        ms.linalg.eigs(A, k=2, M=Mm_ms)
    import mlx_sparse._device as dev

    monkeypatch.setattr(dev, "is_gpu", lambda s: True)  # as on a GPU stream
    with pytest.raises(RuntimeError, match="eigsh: generalized problems \\(M\\) run on the CPU only"):
        ms.linalg.eigsh(A, k=2, M=Mm_ms)
