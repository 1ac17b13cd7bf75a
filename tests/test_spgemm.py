"""Sparse @ sparse (the spgemm family) against scipy: every format pair, value dtype and index dtype, edge cases."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INDEX_DTYPES, RTOL, VALUE_DTYPES, random_coo, sparse_pair, to_host

import mlx_sparse as ms

FORMATS = {"csr": ms.csr_array, "csc": ms.csc_array, "coo": ms.coo_array}


def _pair(m, n, nnz, vt, it, fmt, seed):
    return sparse_pair(m, n, nnz, vt, it, fmt, seed)[:2]


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fa", list(FORMATS))
@pytest.mark.parametrize("fb", list(FORMATS))
def test_spgemm_matches_scipy(device, vt, it, fa, fb):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    for (m, k, n), (za, zb) in [((30, 20, 25), (90, 70)), ((0, 5, 4), (0, 6)), ((6, 0, 3), (0, 0)), ((7, 9, 0), (20, 0)),
                                ((5, 6, 4), (0, 10)), ((120, 80, 90), (900, 600))]:
        A, SA = _pair(m, k, za, vt, it, fa, 1)
        B, SB = _pair(k, n, zb, vt, it, fb, 2)
        C = A @ B
        assert C.shape == (m, n) and C.dtype == A.dtype
        assert C.format == ("csc" if fa == fb == "csc" else "csr")
        assert C.has_canonical_format
        ref = (SA @ SB).toarray()
        got = to_host(C.todense()).astype(np.complex128)
        tol = RTOL[vt] * 10
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * max(1.0, np.abs(ref).max(initial=0)))
        # the structure is the symbolic product's: scipy's, plus entries that cancelled to zero
        pat = lambda S: sp.coo_array((np.ones(S.nnz), (S.row, S.col)), shape=S.shape)  # stored entries, zeros too
        struct = (pat(SA) @ pat(SB)).toarray() > 0
        T = C if C.format == "csr" else C.T  # CSR buffers (of C or C^T)
        ptr, ind = to_host(T.indptr).astype(np.int64), to_host(T.indices).astype(np.int64)
        stored = sp.csr_array((np.ones(ind.size), ind, ptr), shape=T.shape).toarray() > 0
        stored = stored if C.format == "csr" else stored.T
        assert np.array_equal(stored, struct)  # exactly the symbolic structure, each entry once


@pytest.mark.parametrize("vt", ["float32", "complex64", "bfloat16"])
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_spgemm_row_tiers(device, vt, it):
    """Rows of every cost in one product: short rows, rows of a few hundred products and rows of
    thousands (the GPU's warp, block and bitmap tiers), empty rows, a dense row and a wide output;
    values and the exact sorted structure against scipy."""
    mx.set_default_device(device)
    rng = np.random.default_rng(7)
    m, k, n = 400, 300, 5000
    lens = rng.choice([0, 2, 9, 40, 150, 300], size=m, p=[0.1, 0.4, 0.2, 0.15, 0.1, 0.05])
    rows = np.repeat(np.arange(m), lens)
    cols = np.concatenate([rng.choice(k, size=L, replace=False) for L in lens])
    SA = sp.csr_array((rng.standard_normal(rows.size), (rows, cols)), shape=(m, k))
    blens = rng.choice([0, 1, 5, 30, 200], size=k, p=[0.1, 0.3, 0.3, 0.2, 0.1])
    brows = np.repeat(np.arange(k), blens)
    bcols = np.concatenate([rng.choice(n, size=L, replace=False) for L in blens])
    SB = sp.csr_array((rng.standard_normal(brows.size), (brows, bcols)), shape=(k, n))
    dt, idt = VALUE_DTYPES[vt][0], INDEX_DTYPES[it]
    C = ms.csr_array(SA, dtype=dt, index_dtype=idt) @ ms.csr_array(SB, dtype=dt, index_dtype=idt)
    ref = sp.csr_array(SA @ SB)
    ref.sort_indices()
    rowflops = np.bincount(np.repeat(np.arange(m), np.diff(SA.indptr)), weights=np.diff(SB.indptr)[SA.indices], minlength=m)
    assert rowflops.max() > 2048 and ((rowflops > 256) & (rowflops <= 2048)).any() and (rowflops == 0).any()
    assert np.array_equal(to_host(C.indptr), ref.indptr) and np.array_equal(to_host(C.indices), ref.indices)
    tol = RTOL[vt] * 10
    np.testing.assert_allclose(to_host(C.data.astype(mx.complex64 if vt == "complex64" else mx.float32)), ref.data,
                               rtol=tol, atol=tol * np.abs(ref.data).max())


def test_spgemm_explicit_zero_inputs_and_chain():
    A = ms.csr_array((np.array([1.0, 0.0, 2.0], np.float32), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 2))
    B = ms.csr_array(np.array([[1.0, -1.0], [1.0, 1.0]], np.float32))
    C = A @ B  # row 0: [1, -1] + 0 * [1, 1]: the explicit zero of A still reaches both columns
    np.testing.assert_array_equal(to_host(C.todense()), [[1.0, -1.0], [2.0, 2.0]])
    assert C.nnz == 4
    D = A @ B @ A.T  # chains
    np.testing.assert_allclose(to_host(D.todense()), to_host(A.todense()) @ to_host(B.todense()) @ to_host(A.todense()).T)
    E = ms.csr_array((np.array([1.0, -1.0], np.float32), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 2))
    F = ms.csr_array((np.array([1.0, 1.0], np.float32), np.array([0, 0]), np.array([0, 1, 2])), shape=(2, 2))
    G = E @ F  # 1 * 1 + (-1) * 1 = 0: kept as a stored zero (the symbolic structure)
    assert G.nnz == 1 and to_host(G.data).tolist() == [0.0]


def test_spgemm_errors():
    A = ms.csr_array(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="matmul: shape mismatch"):
        A @ ms.csr_array(np.ones((4, 2), np.float32))
    bad = ms.csr_array((np.ones(2, np.float32), np.array([0, 5]), np.array([0, 1, 2, 2])), shape=(3, 3), validate=False)
    with pytest.raises(RuntimeError, match="matmul"):
        mx.eval((bad @ A).data)


@pytest.mark.parametrize("vt", ["float32", "float64", "complex64"])
@pytest.mark.parametrize("fa,fb", [("csr", "csr"), ("coo", "csc"), ("csc", "csc")])
def test_spgemm_gradients_match_dense(device, vt, fa, fb):
    """vjp and jvp of A @ B with respect to both operands' values, against the same computation
    through dense MLX arrays (duplicates and unsorted entries included)."""
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    dt = VALUE_DTYPES[vt][0]
    A, _ = _pair(9, 7, 30, vt, "int32", fa, 3)
    B, _ = _pair(7, 8, 25, vt, "int32", fb, 4)
    W = mx.array(np.random.default_rng(0).standard_normal((9, 8)).astype(np.float32)).astype(dt)

    def rebuild(X, v):
        if X.format == "coo":
            return ms.coo_array((v, (X.row, X.col)), shape=X.shape)
        return type(X)._from_parts(v, X.indices, X.indptr, X.shape, X.has_sorted_indices, X.has_canonical_format)

    def f(a, b):
        return mx.sum(((rebuild(A, a) @ rebuild(B, b)).todense() * W).real)

    def g(a, b):
        return mx.sum(((rebuild(A, a).todense() @ rebuild(B, b).todense()) * W).real)

    ga, gb = mx.grad(f, argnums=(0, 1))(A.data, B.data)
    mx.set_default_device(mx.cpu)  # the dense reference on the CPU (the GPU's float32 matmul may round to TF32)
    ra, rb = mx.grad(g, argnums=(0, 1))(A.data, B.data)
    tol = 1e-10 if vt == "float64" else 1e-4
    np.testing.assert_allclose(to_host(ga), to_host(ra), rtol=tol, atol=tol)
    np.testing.assert_allclose(to_host(gb), to_host(rb), rtol=tol, atol=tol)
    ta, tb = mx.ones_like(A.data), mx.full(B.data.shape, 0.5).astype(dt)
    _, rv = mx.jvp(g, [A.data, B.data], [ta, tb])
    mx.set_default_device(device)
    _, jv = mx.jvp(f, [A.data, B.data], [ta, tb])
    np.testing.assert_allclose(to_host(jv[0]), to_host(rv[0]), rtol=tol * 10, atol=tol * 10)


def test_spgemm_unsorted_b_and_gradient():
    """B with unsorted rows and duplicates, as raw CSR buffers: sorted for the product, gradients
    still reach B's entries in B's own storage order."""
    data, row, col = random_coo(6, 5, 20, "float32", 9)
    order = np.argsort(row, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=6))])
    B = ms.csr_array((data[order], col[order], ptr), shape=(6, 5))
    assert not B.has_sorted_indices
    A, _ = _pair(4, 6, 12, "float32", "int32", "csr", 10)
    W = mx.array(np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32))

    def f(b):
        return mx.sum((A @ ms.csr_array((b, B.indices, B.indptr), shape=B.shape)).todense() * W)

    def g(b):
        return mx.sum((A.todense() @ ms.csr_array((b, B.indices, B.indptr), shape=B.shape).todense()) * W)

    np.testing.assert_allclose(np.array(mx.grad(f)(B.data)), np.array(mx.grad(g)(B.data)), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(to_host((A @ B).todense()), to_host(A.todense()) @ to_host(B.todense()), rtol=2e-5, atol=2e-5)


def test_spgemm_plan_reuses_the_symbolic_product(device):
    mx.set_default_device(device)
    A, SA = _pair(20, 15, 60, "float32", "int32", "csr", 11)
    B, SB = _pair(15, 12, 50, "float32", "int32", "coo", 12)
    plan = ms.spgemm_plan(A, B)
    np.testing.assert_allclose(to_host(plan.result.todense()), (SA @ SB).toarray().real, rtol=1e-5, atol=1e-5)
    A2 = A * 2.0  # same structure, new values
    B2 = ms.coo_array((B.data * -3.0, (B.row, B.col)), shape=B.shape)
    C2 = plan(A2, B2)
    np.testing.assert_allclose(to_host(C2.todense()), -6.0 * (SA @ SB).toarray().real, rtol=1e-5, atol=1e-5)
    assert C2.nnz == plan.result.nnz and C2.has_canonical_format

    def f(a):  # differentiable through the planned numeric pass
        return mx.sum(plan(ms.csr_array((a, A.indices, A.indptr), shape=A.shape), B).todense() ** 2)

    def g(a):
        return mx.sum((ms.csr_array((a, A.indices, A.indptr), shape=A.shape).todense() @ B.todense()) ** 2)

    ga = mx.grad(f)(A.data)
    mx.set_default_device(mx.cpu)
    np.testing.assert_allclose(to_host(ga), to_host(mx.grad(g)(A.data)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="spgemm_plan: planned for"):
        plan(A.T.tocsr(), B)


def test_planned_product_composes_with_compile_grad_and_vmap():
    """The planned numeric pass needs no synchronization, so it runs under mx.compile (and its
    gradient too) and mx.vmap over the values."""
    SA = sp.random_array((20, 15), density=0.3, format="csr", random_state=1, dtype=np.float32)
    SB = sp.random_array((15, 12), density=0.3, format="csr", random_state=2, dtype=np.float32)
    A, B = ms.csr_array(SA), ms.csr_array(SB)
    plan = ms.spgemm_plan(A, B)
    mk = lambda X, v: ms.csr_array((v, X.indices, X.indptr), shape=X.shape, canonical=True)  # noqa: E731
    f = lambda a, b: mx.sum(plan(mk(A, a), mk(B, b)).data ** 2)  # noqa: E731
    ref = float(np.sum((SA @ SB).data.astype(np.float64) ** 2))
    np.testing.assert_allclose(float(mx.compile(f)(A.data, B.data)), ref, rtol=1e-5)
    ga, gb = mx.compile(mx.grad(f, argnums=(0, 1)))(A.data, B.data)
    ra, rb = mx.grad(f, argnums=(0, 1))(A.data, B.data)
    np.testing.assert_allclose(np.array(ga), np.array(ra), rtol=1e-6)
    np.testing.assert_allclose(np.array(gb), np.array(rb), rtol=1e-6)
    v = mx.vmap(lambda a: mx.sum(plan(mk(A, a), B).data))(mx.stack([A.data, 2 * A.data]))
    s = float(np.sum((SA @ SB).data))
    np.testing.assert_allclose(np.array(v), [s, 2 * s], rtol=1e-5)
