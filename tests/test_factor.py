"""spsolve_triangular and the factorization preconditioners (ILU(0), IC(0), SSOR) against scipy and dense algebra."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from conftest import INDEX_DTYPES, has_gpu, to_host

import mlx_sparse as ms

DT = {"float32": (mx.float32, np.float32, 1e-4), "float64": (mx.float64, np.float64, 1e-10),
      "complex64": (mx.complex64, np.complex64, 1e-4)}


def _triangular(n, lower, npdt, seed, density=0.2):
    rng = np.random.default_rng(seed)
    M = sp.random(n, n, density=density, random_state=rng, format="csr")
    if np.issubdtype(npdt, np.complexfloating):
        M = M + 1j * sp.random(n, n, density=density, random_state=rng, format="csr")
    T = sp.tril(M, -1) if lower else sp.triu(M, 1)
    return sp.csr_array(T + sp.diags(rng.uniform(1, 2, n) * (1 + n * density))).astype(npdt)


def _mx(a, dt):
    return mx.array(np.asarray(a), dtype=dt)  # mx.array alone reads float64 as float32


def _skip_f64_on_gpu(vt, device):
    if vt == "float64" and device == mx.gpu:
        pytest.skip("float64 has no GPU kernels")


@pytest.mark.parametrize("vt", list(DT))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_spsolve_triangular_matches_scipy(vt, it, fmt, device):
    _skip_f64_on_gpu(vt, device)
    dt, npdt, tol = DT[vt]
    # k = 20: the GPU kernel's lanes take columns of x instead of a row's entries
    for n, k in ((1, None), (37, None), (60, 3), (45, 20), (400, None)):
        for lower in (True, False):
            for unit in (False, True):
                T = _triangular(n, lower, npdt, n + 7 * lower, density=min(0.2, 8 / n))
                A = getattr(ms, f"{fmt}_array")(T, dtype=dt, index_dtype=INDEX_DTYPES[it])
                rng = np.random.default_rng(1)
                b = rng.standard_normal(n if k is None else (n, k)).astype(npdt)
                x = ms.linalg.spsolve_triangular(A, _mx(b, dt), lower=lower, unit_diagonal=unit, stream=device)
                ref = sla.spsolve_triangular(sp.csr_array(T.astype(np.complex128)), b.astype(np.complex128), lower=lower,
                                             unit_diagonal=unit)
                assert x.shape == b.shape and x.dtype == dt
                np.testing.assert_allclose(to_host(x), ref, rtol=tol * 10, atol=tol * 10 * np.abs(ref).max())


def test_spsolve_triangular_other_triangle_ignored_and_errors():
    P = sp.csr_array(np.array([[4.0, 1.0, 0.0], [2.0, 5.0, 1.0], [0.0, 3.0, 6.0]]))
    A = ms.csr_array(P, dtype=mx.float64)
    b = np.array([1.0, 2.0, 3.0])
    for lower, T in ((True, np.tril(P.toarray())), (False, np.triu(P.toarray()))):
        x = ms.linalg.spsolve_triangular(A, _mx(b, mx.float64), lower=lower)
        np.testing.assert_allclose(np.array(x), np.linalg.solve(T, b), rtol=1e-12)
    sb = ms.linalg.spsolve_triangular(A, ms.csr_array(np.eye(3)), lower=True)  # a sparse right-hand side
    np.testing.assert_allclose(to_host(sb), np.linalg.inv(np.tril(P.toarray())), rtol=1e-6, atol=1e-7)
    Z = ms.csr_array(np.array([[0.0, 0.0], [1.0, 1.0]], np.float32))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        ms.linalg.spsolve_triangular(Z, np.ones(2, np.float32))
    np.testing.assert_allclose(np.array(ms.linalg.spsolve_triangular(Z, np.ones(2, np.float32), unit_diagonal=True)),
                               [1.0, 0.0])
    with pytest.raises(ValueError, match="spsolve_triangular"):
        ms.linalg.spsolve_triangular(A, np.ones(4))
    with pytest.raises(ValueError, match="spsolve_triangular"):
        ms.linalg.spsolve_triangular(ms.csr_array(np.ones((2, 3), np.float32)), np.ones(2))
    with pytest.raises(TypeError, match="spsolve_triangular"):
        ms.linalg.spsolve_triangular(np.eye(2), np.ones(2))


def _poisson(n):
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return sp.csr_array(sp.kronsum(t, t))


def test_spsolve_triangular_long_chains_match_the_cpu(device):
    """A 2-D Poisson triangle (rows wait on rows 1 and 64 back: 127 dependency levels over 4,096 rows,
    many rows in flight at once on the GPU) and a bidiagonal one (a single chain): the CPU kernel's
    answer in float64."""
    dt = mx.float32
    rng = np.random.default_rng(5)
    for P in (_poisson(64), sp.csr_array(sp.diags([np.full(2999, -0.5), np.full(3000, 1.0)], [-1, 0]))):
        n = P.shape[0]
        b = rng.standard_normal((n, 2))
        for lower in (True, False):
            ref = sla.spsolve_triangular(sp.csr_array(sp.tril(P) if lower else sp.triu(P)), b, lower=lower)
            x = ms.linalg.spsolve_triangular(ms.csr_array(P, dtype=dt), _mx(b, dt), lower=lower, stream=device)
            np.testing.assert_allclose(to_host(x), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.gpu
@pytest.mark.parametrize("vt", ["float32", "complex64"])
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_ilu0_ic0_factors_match_the_cpu_kernels(vt, it):
    """The GPU's synchronization-free factorizations give the CPU kernels' factors (same operations,
    another order of the sums) on random diagonally dominant matrices with uneven rows."""
    if not has_gpu():
        pytest.skip("needs MLX's CUDA backend and mlx_sparse's CUDA kernels")
    from mlx_sparse import _factor

    dt, npdt, _ = DT[vt]
    rng = np.random.default_rng(11)
    n = 700
    R = sp.random(n, n, density=6 / n, random_state=rng, format="csr")
    R = R + sp.random(n, 1, density=0.3, random_state=rng) @ sp.csr_array(np.ones((1, n))) * 0.01  # dense columns
    if vt == "complex64":
        R = R + 1j * sp.random(n, n, density=6 / n, random_state=rng, format="csr")
    H = sp.csr_array(R + R.conj().T + sp.diags(np.full(n, 40.0))).astype(npdt)
    H.sort_indices()
    L = sp.csr_array(sp.tril(H))
    L.sort_indices()
    for fn, M in ((_factor.ilu0, H), (_factor.ic0, L)):
        out = {}
        for dev in (mx.cpu, mx.gpu):
            ptr, ind = mx.array(M.indptr, dtype=INDEX_DTYPES[it]), mx.array(M.indices, dtype=INDEX_DTYPES[it])
            v, state = fn("factor", mx.array(M.data, dtype=dt), ind, ptr, mx.default_stream(dev))
            _factor.check_state("factor", state)
            out[dev] = np.array(v.astype(mx.complex64) if vt == "complex64" else v)
        np.testing.assert_allclose(out[mx.gpu], out[mx.cpu], rtol=2e-4, atol=2e-5 * np.abs(out[mx.cpu]).max())


@pytest.mark.parametrize("vt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["ilu0", "ic0", "ssor", "jacobi"])
def test_preconditioners_cut_cg_iterations(vt, name, device):
    _skip_f64_on_gpu(vt, device)
    mx.set_default_device(device)
    dt, npdt, _ = DT[vt]
    P = _poisson(24)
    A = ms.csr_array(P, dtype=dt)
    b = _mx(np.random.default_rng(2).standard_normal(P.shape[0]), dt)
    rtol = 1e-5 if vt == "float32" else 1e-10
    counts = {}
    for key, M in (("none", None), (name, getattr(ms.linalg, name)(A))):
        calls = []
        x, info = ms.linalg.cg(A, b, M=M, rtol=rtol, callback=calls.append)
        assert info == 0
        r = to_host(b).astype(np.float64) - P @ to_host(x).astype(np.float64)
        assert np.linalg.norm(r) <= 10 * rtol * np.linalg.norm(np.array(b))
        counts[key] = len(calls)
    if name == "jacobi":  # the Poisson diagonal is constant: Jacobi changes nothing but the scale
        assert counts[name] <= counts["none"] + 2
    else:
        assert counts[name] < 0.6 * counts["none"], counts


def test_ilu0_and_ic0_are_exact_on_tridiagonal_and_match_their_definition():
    n = 30
    T = sp.csr_array(sp.diags([-1.0, 3.0, -1.5], [-1, 0, 1], shape=(n, n)))
    A = ms.csr_array(T, dtype=mx.float64)
    b = np.random.default_rng(3).standard_normal(n)
    ref = np.linalg.solve(T.toarray(), b)
    np.testing.assert_allclose(np.array(ms.linalg.ilu0(A) @ _mx(b, mx.float64)), ref, rtol=1e-10)
    S = sp.csr_array(sp.diags([-1.0, 3.0, -1.0], [-1, 0, 1], shape=(n, n)))
    refs = np.linalg.solve(S.toarray(), b)
    np.testing.assert_allclose(np.array(ms.linalg.ic0(ms.csr_array(S, dtype=mx.float64)) @ _mx(b, mx.float64)), refs,
                               rtol=1e-10)
    np.testing.assert_allclose(np.array(ms.linalg.ssor(ms.csr_array(S, dtype=mx.float64), omega=1.2) @
                                        _mx(np.zeros(n), mx.float64)), np.zeros(n))
    # ILU(0) on a 2-D Poisson matrix: M = L U agrees with A on A's pattern (the defining property)
    P = _poisson(6)
    M = ms.linalg.ilu0(ms.csr_array(P, dtype=mx.float64))
    Minv = np.linalg.inv(np.stack([np.array(M @ _mx(e, mx.float64)) for e in np.eye(P.shape[0])], axis=1))
    mask = P.toarray() != 0
    np.testing.assert_allclose(Minv[mask], P.toarray()[mask], rtol=1e-10, atol=1e-10)


def test_factorization_errors(device):
    mx.set_default_device(device)
    with pytest.raises(np.linalg.LinAlgError, match="ic0"):
        ms.linalg.ic0(ms.csr_array(np.array([[1.0, 2.0], [2.0, 1.0]], np.float32)))  # indefinite
    with pytest.raises(np.linalg.LinAlgError, match="ic0"):  # the second pivot's row has no diagonal
        ms.linalg.ic0(ms.csr_array(np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 2.0]], np.float32)))
    with pytest.raises(np.linalg.LinAlgError, match="ilu0"):
        ms.linalg.ilu0(ms.csr_array(np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)))  # zero pivot
    with pytest.raises(ValueError, match="ssor"):
        ms.linalg.ssor(ms.csr_array(np.eye(2, dtype=np.float32)), omega=2.0)
    with pytest.raises(ValueError, match="ssor"):
        ms.linalg.ssor(ms.csr_array(np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)))
    # a structure validate=False let through (a column out of range): an error naming the operation
    bad = ms.csr_array((mx.array([2.0, 1.0, 3.0]), mx.array([0, 5, 1]), mx.array([0, 1, 3])), shape=(2, 2),
                       validate=False, canonical=True)
    for fn in (ms.linalg.ilu0, ms.linalg.ic0):
        with pytest.raises(RuntimeError, match=fn.__name__):
            fn(bad)


def test_block_jacobi(device):
    mx.set_default_device(device)
    dt = mx.float32 if device == mx.gpu else mx.float64
    P = _poisson(10)
    A = ms.csr_array(P, dtype=dt)
    r = np.random.default_rng(0).standard_normal(P.shape[0])
    D = P.toarray()
    for bs in (1, 7, 10, 100, 1000):
        M = ms.linalg.block_jacobi(A, bs)
        ref = np.zeros_like(r)
        for i in range(0, P.shape[0], bs):
            ref[i:i + bs] = np.linalg.solve(D[i:i + bs, i:i + bs], r[i:i + bs])
        tol = 1e-10 if dt == mx.float64 else 2e-3
        np.testing.assert_allclose(to_host(M @ mx.array(r, dtype=dt)), ref, rtol=tol, atol=tol)
        R2 = np.stack([r, 2 * r], axis=1)
        np.testing.assert_allclose(to_host(M @ mx.array(R2, dtype=dt))[:, 1], 2 * ref, rtol=tol, atol=tol)
    x, info = ms.linalg.cg(A, mx.array(r, dtype=dt), M=ms.linalg.block_jacobi(A, 10), rtol=1e-5)
    assert info == 0
    with pytest.raises(np.linalg.LinAlgError, match="block_jacobi"):
        ms.linalg.block_jacobi(ms.csr_array(np.array([[1.0, 1.0], [1.0, 1.0]], np.float32)), 2)
