"""Sparse +/- sparse (union structure, duplicates summed), +/- dense, scalars; ms.add/subtract/matmul and *_matmat."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INDEX_DTYPES, RTOL, VALUE_DTYPES, sparse_pair, to_host

import mlx_sparse as ms

FORMATS = {"csr": ms.csr_array, "csc": ms.csc_array, "coo": ms.coo_array}


def _pair(m, n, nnz, vt, it, fmt, seed):
    return sparse_pair(m, n, nnz, vt, it, fmt, seed)


def _dense(x):
    return to_host(x.todense(stream=mx.cpu) if hasattr(x, "todense") else x).astype(np.complex128)


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fa", list(FORMATS))
@pytest.mark.parametrize("fb", list(FORMATS))
def test_add_subtract_match_scipy(device, vt, it, fa, fb):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    for (m, n), (za, zb) in [((13, 9), (40, 30)), ((0, 4), (0, 0)), ((5, 0), (0, 0)), ((6, 7), (0, 12)), ((60, 50), (500, 400))]:
        A, SA, (ra, ca) = _pair(m, n, za, vt, it, fa, 1)
        B, SB, (rb, cb) = _pair(m, n, zb, vt, it, fb, 2)
        tol = RTOL[vt] * 10
        for C, ref in ((A + B, SA + SB), (A - B, SA - SB), (ms.add(A, B), SA + SB), (ms.subtract(A, B), SA - SB)):
            assert C.shape == (m, n) and C.dtype == A.dtype and C.has_canonical_format
            assert C.format == ("csc" if fa == fb == "csc" else "csr")
            r = ref.toarray()
            np.testing.assert_allclose(_dense(C), r, rtol=tol, atol=tol * max(1.0, np.abs(r).max(initial=0)))
            # the union of the stored positions, each once (cancellations stay stored)
            union = set(zip(ra.tolist(), ca.tolist())) | set(zip(rb.tolist(), cb.tolist()))
            assert C.nnz == len(union)


def test_add_dense_scalar_and_errors():
    S = sp.random_array((5, 4), density=0.5, format="csr", random_state=3, dtype=np.float32)
    A = ms.csr_array(S)
    X = np.arange(20, dtype=np.float32).reshape(5, 4)
    np.testing.assert_allclose(np.array(A + mx.array(X)), S.toarray() + X)
    np.testing.assert_allclose(np.array(A - X), S.toarray() - X)
    np.testing.assert_allclose(np.array(mx.array(X) - A if False else ms.subtract(X, A)), X - S.toarray())
    np.testing.assert_allclose(_dense(A + 0), S.toarray())
    with pytest.raises(NotImplementedError, match="nonzero scalar"):
        A + 1.0
    with pytest.raises(ValueError, match="add: shape mismatch"):
        A + ms.csr_array(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="subtract: shape mismatch"):
        A - ms.csr_array(np.ones((4, 4), np.float32))
    Z = A - A  # every entry cancels: stored zeros, removed on request
    assert Z.nnz == S.nnz and float(mx.abs(Z.data).max().item()) == 0.0 and Z.eliminate_zeros().nnz == 0


def test_add_is_differentiable_in_both_values():
    SA = sp.random_array((6, 5), density=0.5, format="csr", random_state=4, dtype=np.float32)
    SB = sp.random_array((6, 5), density=0.5, format="csr", random_state=5, dtype=np.float32)
    A, B = ms.csr_array(SA), ms.csr_array(SB)
    W = mx.array(np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32))

    def f(a, b):
        C = ms.csr_array((a, A.indices, A.indptr), shape=A.shape) - ms.csr_array((b, B.indices, B.indptr), shape=B.shape)
        return mx.sum(C.todense() * W)

    ga, gb = mx.grad(f, argnums=(0, 1))(A.data, B.data)
    rows_a = np.repeat(np.arange(6), np.diff(SA.indptr))
    rows_b = np.repeat(np.arange(6), np.diff(SB.indptr))
    np.testing.assert_allclose(np.array(ga), np.array(W)[rows_a, SA.indices], rtol=1e-6)
    np.testing.assert_allclose(np.array(gb), -np.array(W)[rows_b, SB.indices], rtol=1e-6)


def test_reference_names_matmul_matmat():
    S = sp.random_array((7, 6), density=0.4, format="csr", random_state=6, dtype=np.float32)
    T = sp.random_array((6, 5), density=0.4, format="csr", random_state=7, dtype=np.float32)
    A, B = ms.csr_array(S), ms.csr_array(T)
    ref = (S @ T).toarray()
    for C in (ms.matmul(A, B), ms.csr_matmat(A, B), ms.csc_matmat(A.tocsc(), B.tocsc()), ms.coo_matmat(A.tocoo(), B)):
        np.testing.assert_allclose(_dense(C).real, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(ms.matmul(A, mx.ones((6,)))), S @ np.ones(6), rtol=1e-6)
    with pytest.raises(TypeError, match="csr_matmat"):
        ms.csr_matmat(A.tocsc(), B)


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("fa", list(FORMATS))
@pytest.mark.parametrize("fb", list(FORMATS))
def test_multiply_sparse_is_the_intersection(device, vt, fa, fb):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    for (m, n), (za, zb) in [((13, 9), (40, 30)), ((0, 4), (0, 0)), ((6, 7), (0, 12)), ((60, 50), (500, 400))]:
        A, SA, (ra, ca) = _pair(m, n, za, vt, "int32", fa, 3)
        B, SB, (rb, cb) = _pair(m, n, zb, vt, "int64", fb, 4)
        C = A.multiply(B)
        D = A * B  # scipy's sparse arrays: * is elementwise
        assert C.format == ("csc" if fa == fb == "csc" else "csr") and C.has_canonical_format
        r = SA.multiply(SB).toarray()
        tol = RTOL[vt] * 10
        for X in (C, D):
            np.testing.assert_allclose(_dense(X), r, rtol=tol, atol=tol * max(1.0, np.abs(r).max(initial=0)))
        assert C.nnz == len(set(zip(ra.tolist(), ca.tolist())) & set(zip(rb.tolist(), cb.tolist())))


def test_multiply_sparse_gradients():
    SA = sp.random_array((6, 5), density=0.6, format="csr", random_state=8, dtype=np.float32)
    SB = sp.random_array((6, 5), density=0.6, format="csr", random_state=9, dtype=np.float32)
    A, B = ms.csr_array(SA), ms.csr_array(SB)

    def f(a, b):
        return mx.sum(ms.csr_array((a, A.indices, A.indptr), shape=A.shape).multiply(
            ms.csr_array((b, B.indices, B.indptr), shape=B.shape)).todense() ** 2)

    def g(a, b):
        return mx.sum((ms.csr_array((a, A.indices, A.indptr), shape=A.shape).todense()
                       * ms.csr_array((b, B.indices, B.indptr), shape=B.shape).todense()) ** 2)

    for x, y in zip(mx.grad(f, argnums=(0, 1))(A.data, B.data), mx.grad(g, argnums=(0, 1))(A.data, B.data)):
        np.testing.assert_allclose(np.array(x), np.array(y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vt", ["float32", "complex64"])
def test_merge_jvp_matches_dense(vt):
    dt = VALUE_DTYPES[vt][0]
    SA = sp.random_array((7, 6), density=0.5, format="csr", random_state=10, dtype=np.float32)
    SB = sp.random_array((7, 6), density=0.5, format="csr", random_state=11, dtype=np.float32)
    A, B = ms.csr_array(SA, dtype=dt), ms.csr_array(SB, dtype=dt)
    mk = lambda X, v: ms.csr_array((v, X.indices, X.indptr), shape=X.shape, canonical=True)  # noqa: E731
    for name, op, dop in [("add", lambda x, y: x + y, lambda x, y: x + y), ("sub", lambda x, y: x - y, lambda x, y: x - y),
                          ("mul", lambda x, y: x.multiply(y), lambda x, y: x * y)]:
        f = lambda a, b: mx.sum(op(mk(A, a), mk(B, b)).todense())  # noqa: E731
        g = lambda a, b: mx.sum(dop(mk(A, a).todense(), mk(B, b).todense()))  # noqa: E731
        ta, tb = mx.ones_like(A.data), mx.full(B.data.shape, 0.25).astype(dt)
        _, jv = mx.jvp(f, [A.data, B.data], [ta, tb])
        _, rv = mx.jvp(g, [A.data, B.data], [ta, tb])
        np.testing.assert_allclose(to_host(jv[0]), to_host(rv[0]), rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("vt", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("fa,fb", [("csr", "csr"), ("csc", "csc"), ("coo", "csr"), ("csc", "coo")])
def test_maximum_minimum_match_scipy(device, vt, fa, fb):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    for (m, n), (za, zb) in [((13, 9), (40, 30)), ((0, 4), (0, 0)), ((6, 7), (0, 12)), ((60, 50), (500, 400))]:
        A, SA, _ = _pair(m, n, za, vt, "int32", fa, 5)
        B, SB, _ = _pair(m, n, zb, vt, "int32", fb, 6)
        ra, rb = SA.toarray().real, SB.toarray().real
        for got, ref in ((A.maximum(B), np.maximum(ra, rb)), (ms.minimum(A, B), np.minimum(ra, rb))):
            assert got.format == ("csc" if fa == fb == "csc" else "csr") and got.has_canonical_format
            np.testing.assert_allclose(_dense(got).real, ref, rtol=RTOL[vt] * 10, atol=RTOL[vt] * 10)
    S = sp.csr_array(np.array([[1.0, -2.0, 0.0], [0.0, 3.0, -1.0]], np.float32))
    A = ms.csr_array(S)
    np.testing.assert_array_equal(_dense(A.maximum(0)).real, np.maximum(S.toarray(), 0))
    np.testing.assert_array_equal(_dense(A.minimum(0)).real, np.minimum(S.toarray(), 0))
    np.testing.assert_array_equal(np.array(A.maximum(np.ones((2, 3), np.float32))), np.maximum(S.toarray(), 1))
    with pytest.raises(NotImplementedError, match="maximum: a nonzero scalar"):
        A.maximum(1.0)
    with pytest.raises(TypeError, match="minimum: complex"):
        ms.csr_array(S, dtype=mx.complex64).minimum(A)
    N = ms.csr_array(np.array([[np.nan, 1.0]], np.float32))  # NaN wins, as NumPy
    assert np.isnan(np.array(N.maximum(ms.csr_array(np.array([[2.0, 0.0]], np.float32))).todense())[0, 0])


def test_maximum_gradient_goes_to_the_larger():
    SA = sp.csr_array(np.array([[1.0, -2.0, 0.0], [0.0, 3.0, -1.0]], np.float32))
    SB = sp.csr_array(np.array([[0.5, 2.0, 4.0], [0.0, 5.0, 0.0]], np.float32))
    A, B = ms.csr_array(SA), ms.csr_array(SB)
    mk = lambda X, v: ms.csr_array((v, X.indices, X.indptr), shape=X.shape, canonical=True)  # noqa: E731
    f = lambda a, b: mx.sum(mk(A, a).maximum(mk(B, b)).todense() * mx.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))  # noqa: E731
    ga, gb = mx.grad(f, argnums=(0, 1))(A.data, B.data)
    # A's entries: (0,0)=1 > 0.5 wins; (0,1)=-2 < 2 loses; (1,1)=3 < 5 loses; (1,2)=-1 < 0 (implicit) loses
    np.testing.assert_array_equal(np.array(ga), [1.0, 0.0, 0.0, 0.0])
    # B's entries: (0,0) loses, (0,1) wins, (0,2)=4 > 0 wins, (1,1) wins
    np.testing.assert_array_equal(np.array(gb), [0.0, 2.0, 3.0, 5.0])
