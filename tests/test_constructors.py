"""eye, identity, diags, spdiags, kron, kronsum, bmat/block_array, hstack, vstack, block_diag, random against scipy."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import VALUE_DTYPES, random_coo, rel_err, to_host

import mlx_sparse as ms

FORMATS = ["csr", "csc", "coo"]


def _check(A, ref, fmt, canonical=True, tol=1e-6):
    ref = sp.csr_array(ref)
    assert A.format == fmt and A.shape == ref.shape
    if canonical and fmt != "coo":
        assert A.has_canonical_format
    got = to_host(A.todense(stream=mx.cpu)).astype(np.complex128)
    assert rel_err(got, ref.toarray()) <= tol


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape,k", [((4, 4), 0), ((3, 5), 1), ((5, 3), -2), ((4, 4), 7), ((0, 3), 0), ((2, 2), -5)])
def test_eye_identity(device, fmt, shape, k):
    A = ms.eye(*shape, k=k, format=fmt, stream=device)
    _check(A, np.eye(*shape, k=k), fmt)  # numpy's eye: scipy's raises for k past the corner
    assert A.nnz == int(np.eye(*shape, k=k).sum())
    I = ms.identity(3, dtype=mx.float16, format=fmt, stream=device)
    assert I.dtype == mx.float16
    _check(I, sp.identity(3), fmt)
    L = ms.identity_like(ms.csr_array(np.ones((2, 5), np.float32)).astype(mx.complex64))
    assert L.dtype == mx.complex64 and L.format == "csr" and L.shape == (2, 5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_diags_and_spdiags(device, fmt):
    rng = np.random.default_rng(0)
    d0, d1, dm = rng.standard_normal(5), rng.standard_normal(4), rng.standard_normal(3)
    _check(ms.diags([d0, d1, dm], [0, 1, -2], format=fmt, stream=device), sp.diags([d0, d1, dm], [0, 1, -2]), fmt)
    _check(ms.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(6, 6), format=fmt), sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(6, 6)), fmt)
    _check(ms.diags(d1, 1, format=fmt), sp.diags(d1, 1), fmt)
    _check(ms.diags([d0[:4]], [2], shape=(4, 7), format=fmt), sp.diags([d0[:4]], [2], shape=(4, 7)), fmt)
    data = rng.standard_normal((3, 6))
    _check(ms.spdiags(data, [0, -1, 2], 5, 6, format=fmt), sp.spdiags(data, [0, -1, 2], 5, 6), fmt)
    with pytest.raises(ValueError, match="diags: repeated offsets"):
        ms.diags([d0, d0], [0, 0])
    with pytest.raises(ValueError, match="diags: diagonal 0"):
        ms.diags([d1], [0], shape=(5, 5))


def test_diags_is_differentiable_in_its_diagonals():
    d = mx.array(np.array([1.0, 2.0, 3.0], np.float32))
    x = mx.array(np.array([1.0, 10.0, 100.0], np.float32))
    g = mx.grad(lambda v: mx.sum(ms.diags([v, mx.ones(2)], [0, 1]) @ x))(d)
    np.testing.assert_allclose(np.array(g), [1.0, 10.0, 100.0])


def _sp(m, n, nnz, vt, seed, fmt):
    data, row, col = random_coo(m, n, nnz, vt, seed)
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0])
    A = A if fmt == "coo" else getattr(A, "to" + fmt)()
    return A, sp.coo_array((data.astype(np.complex128), (row, col)), shape=(m, n))


@pytest.mark.parametrize("vt", ["float32", "complex64", "float16"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_kron_kronsum(device, vt, fmt):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    A, SA = _sp(4, 3, 7, vt, 1, fmt)
    B, SB = _sp(3, 5, 6, vt, 2, "csr")
    tol = 3e-2 if vt == "float16" else 1e-5
    _check(ms.kron(A, B, format=fmt, stream=device), sp.kron(SA, SB), fmt, tol=tol)
    _check(ms.kron(SA.tocsr(), np.eye(2), format=fmt, stream=device), sp.kron(SA, np.eye(2)), fmt, tol=tol)
    C, SC = _sp(3, 3, 5, vt, 3, fmt)
    D, SD = _sp(4, 4, 6, vt, 4, "coo")
    _check(ms.kronsum(C, D, format=fmt, stream=device), sp.kronsum(SC, SD), fmt, tol=tol)
    with pytest.raises(ValueError, match="kronsum: A .* must be square"):
        ms.kronsum(A, D)


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", ["int32", "int64"])
def test_kron_kernel_every_dtype_and_edge(device, vt, it):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    idt = mx.int32 if it == "int32" else mx.int64
    for (m1, n1, z1), (m2, n2, z2) in [((13, 9, 40), (5, 7, 12)), ((0, 3, 0), (2, 2, 3)), ((4, 4, 0), (3, 3, 5)),
                                       ((1, 1, 1), (60, 70, 300))]:
        A, SA = _sp(m1, n1, z1, vt, 6, "csr")
        B, SB = _sp(m2, n2, z2, vt, 7, "coo")
        A = ms.csr_array(A, index_dtype=idt)
        K = ms.kron(A, B, stream=device)
        ref = sp.kron(SA, SB).tocsr()
        ref.sum_duplicates()
        assert K.has_canonical_format and K.shape == ref.shape and K.nnz == A.tocsr(canonical=True).nnz * B.tocsr().nnz
        tol = {"float16": 3e-2, "bfloat16": 6e-2}.get(vt, 1e-5)
        np.testing.assert_allclose(to_host(K.todense(stream=mx.cpu)).astype(np.complex128), ref.toarray(), rtol=tol,
                                   atol=tol)


def test_kron_is_differentiable_in_both_values():
    SA = sp.random_array((4, 3), density=0.6, format="csr", random_state=1, dtype=np.float32)
    SB = sp.random_array((3, 5), density=0.5, format="csr", random_state=2, dtype=np.float32)
    A, B = ms.csr_array(SA), ms.csr_array(SB)
    W = mx.array(np.random.default_rng(3).standard_normal((12, 15)).astype(np.float32))

    def f(a, b):
        K = ms.kron(ms.csr_array((a, A.indices, A.indptr), shape=A.shape, canonical=True),
                    ms.csr_array((b, B.indices, B.indptr), shape=B.shape, canonical=True))
        return mx.sum(K.todense() * W)

    def dense_f(a, b):  # the same through dense arrays
        Da = ms.csr_array((a, A.indices, A.indptr), shape=A.shape).todense()
        Db = ms.csr_array((b, B.indices, B.indptr), shape=B.shape).todense()
        return mx.sum((Da[:, None, :, None] * Db[None, :, None, :]).reshape(12, 15) * W)

    ga, gb = mx.grad(f, argnums=(0, 1))(A.data, B.data)
    ra, rb = mx.grad(dense_f, argnums=(0, 1))(A.data, B.data)
    np.testing.assert_allclose(np.array(ga), np.array(ra), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(gb), np.array(rb), rtol=1e-5, atol=1e-5)
    ta, tb = mx.ones_like(A.data), mx.full(B.data.shape, 2.0)
    _, jv = mx.jvp(f, [A.data, B.data], [ta, tb])
    _, rv = mx.jvp(dense_f, [A.data, B.data], [ta, tb])
    np.testing.assert_allclose(np.array(jv[0]), np.array(rv[0]), rtol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bmat_stacks_block_diag(device, fmt):
    A, SA = _sp(3, 4, 6, "float32", 5, "csr")
    B, SB = _sp(3, 2, 3, "float32", 6, "csc")
    C, SC = _sp(2, 4, 5, "float32", 7, "coo")
    _check(ms.bmat([[A, B], [C, None]], format=fmt, stream=device), sp.block_array([[SA, SB], [SC, None]]), fmt)
    _check(ms.block_array([[None, B], [C, None]], format=fmt), sp.block_array([[None, SB], [SC, None]]), fmt)
    _check(ms.hstack([A, B], format=fmt), sp.hstack([SA, SB]), fmt)
    _check(ms.vstack([A, C], format=fmt), sp.vstack([SA, SC]), fmt)
    _check(ms.block_diag([A, B, C], format=fmt), sp.block_diag([SA, SB, SC]), fmt)
    with pytest.raises(ValueError, match="bmat: blocks\\[0, 1\\] has 2 rows"):
        ms.bmat([[A, C]])
    with pytest.raises(ValueError, match="only None"):
        ms.bmat([[A, None], [None, None]])


@pytest.mark.parametrize("fmt", FORMATS)
def test_random_density_seed_and_key(fmt):
    A = ms.random.random(40, 30, density=0.1, format=fmt, random_state=3)
    assert A.format == fmt and A.nnz == 120 and A.shape == (40, 30)
    S = A.tocsr(canonical=False).to_scipy()
    S.sum_duplicates()
    assert S.nnz == 120 and np.all((S.data >= 0) & (S.data < 1))
    B = ms.random.random(40, 30, density=0.1, format=fmt, random_state=3)
    np.testing.assert_array_equal(np.array(A.todense()), np.array(B.todense()))
    k = mx.random.key(7)
    K1 = ms.random.random_array((20, 20), density=0.2, random_state=k)
    K2 = ms.random.rand(20, 20, density=0.2, random_state=k)
    np.testing.assert_array_equal(np.array(K1.todense()), np.array(K2.todense()))
    assert ms.random.random(5, 5, density=0.5, dtype=mx.complex64).dtype == mx.complex64
    with pytest.raises(ValueError, match="random: density"):
        ms.random.random(3, 3, density=2)
