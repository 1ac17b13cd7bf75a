"""fromdense, eliminate_zeros, tril and triu (the select family) against scipy, on every format, dtype and index type."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INDEX_DTYPES, RTOL, SHAPES, VALUE_DTYPES, random_coo, to_host

import mlx_sparse as ms


def _skip(device, vt):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 has no GPU kernels (MLX has no float64 on the GPU)")


def _dense(m, n, vt, seed):
    data, row, col = random_coo(m, n, max(m * n // 3, 1) if m and n else 0, vt, seed)
    ref = sp.coo_array((data.astype(np.complex128), (row, col)), shape=(m, n)).toarray()
    return ref if VALUE_DTYPES[vt][1] == np.complex64 else ref.real


def _host_csr(A):
    """scipy CSR of our array's stored entries (duplicates and explicit zeros as stored)."""
    S = A.tocsr(canonical=False).to_scipy() if A.format != "csr" else A.to_scipy()
    return sp.csr_array((S.data.astype(np.complex128), S.indices, S.indptr), shape=S.shape)


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0), (1, 1), (7, 9), (130, 70)])
def test_fromdense_matches_scipy(device, vt, it, fmt, shape):
    _skip(device, vt)
    m, n = shape
    D = _dense(m, n, vt, 3)
    Dm = mx.array(D.astype(VALUE_DTYPES[vt][1]) if vt != "bfloat16" else D.astype(np.float32)).astype(VALUE_DTYPES[vt][0])
    A = ms.fromdense(Dm, format=fmt, index_dtype=INDEX_DTYPES[it], stream=device)
    ref = sp.csr_array(to_host(Dm).astype(np.complex128))
    assert A.format == fmt and A.shape == shape and A.dtype == Dm.dtype and A.index_dtype == INDEX_DTYPES[it]
    assert A.nnz == ref.nnz
    np.testing.assert_array_equal(to_host(A.todense(stream=mx.cpu)).astype(np.complex128), ref.toarray())
    if fmt != "coo":
        assert A.has_canonical_format
        S = A.to_scipy()
        assert S.has_sorted_indices or S.nnz == 0
        np.testing.assert_array_equal(np.diff(S.indptr), np.diff(ref.indptr if fmt == "csr" else ref.tocsc().indptr))


@pytest.mark.parametrize("vt", ["float32", "complex64", "float16"])
def test_fromdense_threshold_and_aliases(device, vt):
    _skip(device, vt)
    D = np.array([[0.0, 0.5, -2.0], [3.0, 0.0, -0.25], [0.0, 0.0, 0.0]])
    Dm = mx.array(D).astype(VALUE_DTYPES[vt][0])
    A = ms.from_dense(Dm, threshold=0.5, stream=device)
    np.testing.assert_array_equal(to_host(A.todense(stream=mx.cpu)).real, np.where(np.abs(D) > 0.5, D, 0))
    assert A.nnz == 2
    B = ms.csr_array(D)  # dense arguments of the containers: their nonzeros
    assert B.nnz == 4 and B.has_canonical_format
    assert ms.csc_array(D).nnz == 4 and ms.coo_array(D.tolist()).nnz == 4
    np.testing.assert_array_equal(to_host(ms.csc_array(D).todense()), D.astype(np.float32))


def test_fromdense_is_differentiable_and_checks_input():
    D = mx.array(np.array([[1.0, 0.0], [2.0, -3.0]], dtype=np.float32))
    w = mx.array(np.array([5.0, 7.0, 11.0], dtype=np.float32))
    g = mx.grad(lambda d: mx.sum(ms.fromdense(d).data * w))(D)
    np.testing.assert_array_equal(np.array(g), [[5.0, 0.0], [7.0, 11.0]])
    with pytest.raises(ValueError, match="fromdense: expected a 2-D"):
        ms.fromdense(mx.ones((2, 2, 2)))
    with pytest.raises(TypeError, match="fromdense: expected a dense array"):
        ms.fromdense(ms.csr_array(np.eye(2)))
    with pytest.raises(ValueError, match="fromdense: format must be"):
        ms.fromdense(np.eye(2), format="bsr")


def _sparse_err(A, ref):
    """Relative difference of our array and a scipy one, duplicates summed on both sides."""
    d = (_host_csr(A) - ref.astype(np.complex128)).tocsr()
    return np.linalg.norm(d.data) / max(np.linalg.norm(ref.data), 1e-30) if d.nnz else 0.0


def _arrays(fmt, vt, it, m, n, nnz, seed):
    data, row, col = random_coo(m, n, nnz, vt, seed)
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    if fmt == "csr":
        A = A.tocsr(canonical=False)
    elif fmt == "csc":
        A = A.tocsc()
    return A


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("shape", SHAPES)
def test_tril_triu_eliminate_zeros_match_scipy(device, vt, it, fmt, shape):
    _skip(device, vt)
    m, n, nnz = shape
    A = _arrays(fmt, vt, it, m, n, nnz, 5)
    S = _host_csr(A)
    for k in (0, 1, -2, 5, -m - 3, n + 3):
        for name in ("tril", "triu"):
            got = getattr(ms, name)(A, k=k, stream=device)
            ref = getattr(sp, name)(S, k=k)
            assert got.format == fmt and got.shape == A.shape
            assert got.nnz == ref.nnz, (name, k)  # explicit zeros and duplicates kept, as scipy
            assert _sparse_err(got, ref) <= 4 * RTOL[vt]
    E = A.eliminate_zeros(stream=device)
    ref = S.copy()
    ref.eliminate_zeros()
    assert E.format == fmt and E.nnz == ref.nnz
    assert _sparse_err(E, ref) <= 4 * RTOL[vt]
    if fmt != "coo" and A.has_canonical_format:
        assert E.has_canonical_format


def test_tril_of_dense_and_scipy_inputs_and_formats():
    D = np.arange(1.0, 17.0).reshape(4, 4)
    np.testing.assert_array_equal(np.array(ms.tril(D).todense()), np.tril(D).astype(np.float32))
    T = ms.triu(sp.csr_array(D), k=1, format="csc")
    assert T.format == "csc"
    np.testing.assert_array_equal(np.array(T.todense()), np.triu(D, 1).astype(np.float32))


def test_selection_keeps_value_gradients():
    S = sp.random(30, 20, density=0.3, format="csr", random_state=2, dtype=np.float32)
    A = ms.csr_array(S)

    def f(v):
        B = ms.csr_array((v, A.indices, A.indptr), shape=A.shape, validate=False)
        return mx.sum(ms.tril(B, k=-1).data ** 2)

    g = np.array(mx.grad(f)(A.data))
    rows = np.repeat(np.arange(30), np.diff(S.indptr))
    expect = np.where(S.indices - rows <= -1, 2 * S.data, 0)
    np.testing.assert_allclose(g, expect, rtol=1e-6)


def test_selection_of_a_malformed_structure_raises():
    bad = ms.csr_array((np.ones(2, np.float32), np.array([0, 1]), np.array([0, 2, 1])), shape=(2, 2), validate=False)
    with pytest.raises(RuntimeError, match=r"^tril: index out of range"):
        ms.tril(bad)


@pytest.mark.parametrize("it", [np.int32, np.int64])
def test_row_pointer_scan_matches_numpy(device, it):
    """The prefix sum behind every staged operation's row pointer (our tile scan on the GPU): sizes
    around the tile (4096 entries), empty input, and int64 totals past 2^31."""
    from mlx_sparse._select import _indptr, scan0

    s = mx.default_stream(device)
    rng = np.random.default_rng(3)
    for m in (0, 1, 255, 4095, 4096, 4097, 3 * 4096 + 17, 300_001):
        x = rng.integers(0, 50, size=m).astype(it)
        if it == np.int64 and m > 1:
            x[m // 2] = 3 * 2**31  # the running total leaves int32
        ref = np.concatenate([[0], np.cumsum(x, dtype=np.int64)])
        got = np.array(scan0(mx.array(x), s))
        assert got.dtype == it and got.shape == (m + 1,) and np.array_equal(got.astype(np.int64), ref)
        if ref[-1] > 2**31 - 1:  # a result that long cannot be allocated: refused by name
            with pytest.raises(OverflowError, match="scan test: the result would hold"):
                _indptr(mx.array(x), s, "scan test")
            continue
        ptr, total = _indptr(mx.array(x), s, "scan test")
        assert total == int(ref[-1]) and np.array_equal(np.array(ptr).astype(np.int64), ref)
