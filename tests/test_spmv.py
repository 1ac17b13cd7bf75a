"""CSR SpMV against scipy: dtypes, index types, edge shapes, promotion, laziness, streams, errors."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import GPU_VALUE_DTYPES, INDEX_DTYPES, RTOL, SHAPES, VALUE_DTYPES, rel_err, random_coo, scipy_coo, to_host


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("canonical", [True, False])
def test_spmv_matches_scipy(device, vt, it, shape, canonical):
    if device == mx.gpu and vt not in GPU_VALUE_DTYPES:
        pytest.skip("float64 is CPU-only")
    m, n, nnz = shape
    data, row, col = random_coo(m, n, nnz, vt, seed=m * 7 + n)
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    C = A.tocsr(canonical=canonical, stream=device)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(VALUE_DTYPES[vt][1])
    if vt == "complex64":
        x = (x + 1j * rng.standard_normal(n)).astype(np.complex64)
    xm = mx.array(x).astype(VALUE_DTYPES[vt][0])
    y = ms.csr_matvec(C, xm, stream=device)
    assert y.shape == (m,) and y.dtype == VALUE_DTYPES[vt][0]
    ref = scipy_coo(data, row, col, (m, n)).tocsr() @ to_host(xm).astype(np.complex128 if vt == "complex64" else np.float64)
    assert rel_err(to_host(y), ref) <= 4 * RTOL[vt]
    assert rel_err(to_host(C @ xm), ref) <= 4 * RTOL[vt]


def test_power_law_rows(device):
    # a few very long rows among many short ones (the GPU kernel defers long rows to a whole block)
    rng = np.random.default_rng(5)
    m, n = 5000, 4000
    lens = np.minimum((rng.pareto(1.2, m) * 4).astype(int) + 1, n)
    lens[[3, 100, 4000]] = [n, 3000, 2500]
    rows = np.repeat(np.arange(m), lens)
    cols = np.concatenate([rng.choice(n, k, replace=False) for k in lens])
    data = rng.standard_normal(rows.size).astype(np.float32)
    A = ms.coo_array((data, (rows, cols)), shape=(m, n)).tocsr(stream=device)
    x = rng.standard_normal(n).astype(np.float32)
    ref = sp.csr_array((data.astype(np.float64), (rows, cols)), shape=(m, n)) @ x
    assert rel_err(np.array(A.matvec(mx.array(x), stream=device)), ref) <= 1e-5


def test_promotion_follows_mlx():
    s = sp.random(20, 10, density=0.3, format="csr", random_state=0, dtype=np.float32)
    A = ms.csr_array(s)
    assert (A @ mx.arange(10)).dtype == mx.float32  # int operand promotes to the sparse dtype
    assert (A @ mx.ones(10, dtype=mx.float16)).dtype == mx.float32
    assert (A.astype(mx.float16) @ mx.ones(10, dtype=mx.float32)).dtype == mx.float32
    y = A @ mx.ones(10, dtype=mx.complex64)
    assert y.dtype == mx.complex64
    np.testing.assert_allclose(np.array(y).real, s @ np.ones(10), rtol=1e-5)
    assert (A.astype(mx.float16) @ mx.ones(10, dtype=mx.int64)).dtype == mx.float16
    y64 = A.astype(mx.float16) @ mx.ones(10, dtype=mx.float64)
    assert y64.dtype == mx.float64


def test_spmv_errors():
    A = ms.csr_array(sp.random(4, 3, density=0.5, format="csr", random_state=0, dtype=np.float32))
    with pytest.raises(ValueError, match="matmul.*shape"):
        A @ mx.ones(4)
    with pytest.raises(ValueError, match="matmul.*shape"):
        A @ mx.ones((4, 2))
    with pytest.raises(ValueError, match="rmatmul.*shape"):
        ms.rmatmul(mx.ones(3), A)
    with pytest.raises(ValueError, match="rmatmul.*shape"):
        np.ones(3, np.float32) @ A
    with pytest.raises(ValueError, match="csr_matvec.*shape"):
        ms.csr_matvec(A, mx.ones((3, 1, 1)))
    with pytest.raises(TypeError, match="csr_matvec"):
        ms.csr_matvec(np.eye(3), mx.ones(3))


def test_lazy_single_graph():
    """Nothing runs before mx.eval: a malformed matrix (validate=False) only fails at evaluation,
    and the error surfaces through the downstream graph `sin(A @ x) + 2`."""
    bad = ms.csr_array(
        (np.ones(3, np.float32), np.array([0, 7, 1]), np.array([0, 1, 2, 3])), shape=(3, 3), validate=False
    )
    y = bad @ mx.ones(3)  # builds a node, computes nothing
    z = mx.sin(y) + 2.0
    with pytest.raises(RuntimeError, match=r"^matmul: index out of range.*kernel spmv_csr"):  # names the op
        mx.eval(z)
    good = ms.csr_array((np.ones(3, np.float32), np.array([0, 2, 1]), np.array([0, 1, 2, 3])), shape=(3, 3))
    z = mx.sin(good @ mx.arange(3.0)) + 2.0
    mx.eval(z)
    np.testing.assert_allclose(np.array(z), np.sin([0.0, 2.0, 1.0]) + 2.0, rtol=1e-6)


def test_lazy_tocsr_and_todense():
    a = ms.coo_array((np.ones(2, np.float32), (np.array([0, 5]), np.array([0, 0]))), shape=(2, 2), validate=False)
    c = a.tocsr(canonical=False)  # lazy: the bad row is only seen at evaluation
    with pytest.raises(RuntimeError, match=r"^tocsr: index out of range.*kernel convert_coo_tocsr"):
        mx.eval(c.indptr)


def test_stream_argument():
    A = ms.csr_array(sp.random(30, 30, density=0.2, format="csr", random_state=0, dtype=np.float32))
    s = mx.new_stream(mx.cpu)
    y = A.matvec(mx.ones(30), stream=s)
    y2 = ms.csr_matvec(A, mx.ones(30), stream=mx.cpu)
    np.testing.assert_allclose(np.array(y), np.array(y2), rtol=1e-6)


def test_thread_count_does_not_change_results():
    data, row, col = random_coo(3000, 2000, 60000, "float32", seed=9)
    A = ms.coo_array((data, (row, col)), shape=(3000, 2000)).tocsr()
    x = mx.array(np.random.default_rng(0).standard_normal(2000).astype(np.float32))
    ys = []
    for t in (1, 2, 3):
        ms.set_num_threads(t)
        ys.append(np.array(A @ x))
        c = ms.coo_array((data, (row, col)), shape=(3000, 2000)).tocsr()
        ys.append(np.array(c.indices))
    ms.set_num_threads(0)
    assert np.array_equal(ys[0], ys[2]) and np.array_equal(ys[0], ys[4])  # rows are summed in one order
    assert np.array_equal(ys[1], ys[3]) and np.array_equal(ys[1], ys[5])  # structure bit-identical


def test_strided_operands():
    """Views (column slices, transposes, broadcasts) are copied to row-major order for the kernels."""
    s = sp.random(30, 20, density=0.3, format="csr", random_state=0, dtype=np.float32)
    A = ms.csr_array(s)
    Xn = np.random.default_rng(1).standard_normal((20, 6)).astype(np.float32)
    X = mx.array(Xn)
    np.testing.assert_allclose(np.array(A @ X[:, 1]), s @ Xn[:, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(A @ X.T[2]), s @ Xn[:, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(A @ X[:, 1:5]), s @ Xn[:, 1:5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(A @ X[:, ::2]), s @ Xn[:, ::2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(A @ mx.broadcast_to(mx.array(2.0), (20,))), s @ np.full(20, 2.0), rtol=1e-5)
