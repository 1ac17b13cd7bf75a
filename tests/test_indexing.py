"""Indexing (A[key]), resize, sort_indices, argmax/argmin and repr against scipy, on every format, dtype and index type."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INDEX_DTYPES, RTOL, VALUE_DTYPES, random_coo, to_host

import mlx_sparse as ms

FORMATS = {"csr": ms.csr_array, "csc": ms.csc_array, "coo": ms.coo_array}


def _skip(device, vt):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 has no GPU kernels (MLX has no float64 on the GPU)")


def _pair(m, n, nnz, vt, it, fmt, seed=0):
    """Our array (duplicates, unsorted, explicit zeros kept) and scipy's canonical CSR of the same matrix."""
    data, row, col = random_coo(m, n, nnz, vt, seed)
    ours = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    if fmt != "coo":
        ours = ours.tocsr(canonical=False) if fmt == "csr" else ours.tocsc()
    ref = sp.coo_array((data.astype(np.complex128), (row, col)), shape=(m, n)).tocsr()
    ref.sum_duplicates()
    return ours, ref


def _dense(x):
    return to_host(x.todense(stream=mx.cpu) if hasattr(x, "todense") else x).astype(np.complex128)


def _close(got, ref, vt="float32", msg=""):
    """Duplicates are summed in the value type here and in float64 by scipy: equal to rounding."""
    np.testing.assert_allclose(got, ref, rtol=RTOL[vt], atol=RTOL[vt] * 4, err_msg=msg)


def _ref_dense(r):
    return (r.toarray() if hasattr(r, "toarray") else np.asarray(r)).astype(np.complex128)


ROW_KEYS = [
    slice(None), slice(2, 9), slice(None, None, 3), slice(10, 1, -2), slice(4, 4), [3, 1, 1, 0, 12], [-1, -13],
    np.array([], dtype=np.int64), "mask", 5, -2,
]
COL_KEYS = [slice(None), slice(1, 6), slice(None, None, -1), [8, 0, 0, 3], [2, 5, 6], "mask", 4, -1]


def _resolve(k, size, rng):
    if isinstance(k, str):
        return rng.random(size) < 0.5
    return k


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_submatrix_keys_match_scipy(device, vt, it, fmt):
    _skip(device, vt)
    mx.set_default_device(device)
    A, R = _pair(13, 9, 60, vt, it, fmt, seed=1)
    rng = np.random.default_rng(0)
    for rk in ROW_KEYS:
        for ck in COL_KEYS:
            if isinstance(rk, (list, str, np.ndarray)) and isinstance(ck, (list, str)):
                continue  # two index arrays pair up elementwise (NumPy's rule): test_entries_match_scipy
            if isinstance(rk, int) and isinstance(ck, int):
                continue  # one entry: test_entries_match_scipy
            rkey, ckey = _resolve(rk, 13, rng), _resolve(ck, 9, rng)
            got = A[rkey, ckey]
            assert got.format == fmt and got.dtype == A.dtype and got.index_dtype == A.index_dtype
            # the oracle: scipy's dense matrix indexed per axis (scipy 1.17 itself fails on some
            # mixes, e.g. an index array with a negative-step slice); an integer keeps its axis
            ri, ci = (np.atleast_1d(np.arange(d)[k]) for d, k in ((13, rkey), (9, ckey)))
            r = R.toarray()[np.ix_(ri, ci)]
            assert got.shape == r.shape, (rk, ck)
            _close(_dense(got), r, vt, f"{rk!r}, {ck!r}")
    # A[rows] alone and with an ellipsis
    _close(_dense(A[[2, 0, 2]]), _ref_dense(R[[2, 0, 2]]), vt)
    _close(_dense(A[..., 3:5]), _ref_dense(R[:, 3:5]), vt)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_order_flags_follow_the_selection(device, fmt, it):
    mx.set_default_device(device)
    A, R = _pair(40, 30, 300, "float32", it, fmt, seed=2)
    C = A.tocsr(canonical=True) if fmt == "csr" else (A.tocsc(canonical=True) if fmt == "csc" else A._deduped())
    # the compressed axis may take any order; the other keeps the order when non-decreasing
    rk, ck = ([5, 1, 1, 30], slice(2, 20, 3)) if fmt != "csc" else (slice(2, 20, 3), [5, 1, 1, 29])
    B = C[rk, ck]
    assert fmt == "coo" or B.has_canonical_format
    rk, ck = (slice(None), [8, 2, 2]) if fmt != "csc" else ([8, 2, 2], slice(None))
    D = C[rk, ck]  # decreasing: not sorted any more (scipy's rule too)
    assert fmt == "coo" or not D.has_sorted_indices
    _close(_dense(B), R.toarray()[[5, 1, 1, 30]][:, 2:20:3] if fmt != "csc" else R.toarray()[2:20:3][:, [5, 1, 1, 29]])
    _close(_dense(D), _ref_dense(R[rk, ck]))
    if fmt != "coo":
        S = D.sort_indices()
        assert S.has_sorted_indices
        _close(_dense(S), _ref_dense(R[rk, ck]))


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_entries_match_scipy(device, vt, it, fmt):
    _skip(device, vt)
    mx.set_default_device(device)
    A, R = _pair(11, 7, 40, vt, it, fmt, seed=3)
    Rd = R.toarray()
    for i, j in [(0, 0), (3, 4), (-1, -1), (10, 6), (np.int64(2), np.int32(5))]:
        v = A[i, j]
        assert v.shape == () and v.dtype == A.dtype
        _close(_dense(v), Rd[i, j], vt)
    rows, cols = np.array([0, 3, 3, -1, 10, 4]), np.array([1, 4, 4, 0, -7, 6])
    _close(_dense(A[rows, cols]), Rd[rows, cols], vt)
    _close(_dense(A[mx.array(rows), list(cols)]), Rd[rows, cols], vt)
    r2, c2 = np.array([[1, 2], [3, 4]]), np.array([[0, 0], [6, 5]])  # broadcast pairs keep their shape
    _close(_dense(A[r2, c2]), Rd[r2, c2], vt)
    mask = np.random.default_rng(1).random((11, 7)) < 0.3
    _close(_dense(A[mask]), Rd[mask], vt)
    ix = np.ix_([4, 0, 2], [6, 1])  # an open mesh selects a submatrix
    _close(_dense(A[ix]), Rd[ix], vt)


def test_indexing_edge_shapes_and_errors():
    A = ms.csr_array(sp.random_array((6, 5), density=0.5, format="csr", random_state=4))
    for key in [(6, 0), (0, 5), (-7, 0), ([0, 6],), (slice(None), [5]), (np.array([True] * 4),)]:
        with pytest.raises(IndexError, match=r"csr_array\[\.\.\.\]"):
            A[key]
    for key in [(0, 1, 2), (1.5, 0), (None, 0), (np.zeros((2, 2, 2), dtype=int),)]:
        with pytest.raises(IndexError):
            A[key]
    with pytest.raises(IndexError):
        A[np.array([0, 1]), np.array([0, 1, 2])]  # shapes that do not broadcast
    with pytest.raises(TypeError, match="item assignment"):
        A[0, 0] = 1.0
    for fmt, F in FORMATS.items():
        for m, n in [(0, 0), (0, 4), (4, 0)]:
            E = F(sp.csr_array((m, n)))
            assert E[:, :].shape == (m, n) and E[[], :].shape == (0, n) and E[:, []].shape == (m, 0)
        Z = F(sp.csr_array((5, 4)))  # nnz = 0
        assert Z[1:3].nnz == 0 and Z[[4, 4], [1, 3]].tolist() == [0.0, 0.0] and Z[2, 2].item() == 0.0


def test_indexing_is_differentiable():
    S = sp.random_array((8, 6), density=0.5, format="csr", random_state=5)
    S.sum_duplicates()
    A = ms.csr_array(S)

    def f(d):
        B = ms.csr_array((d, A.indices, A.indptr), shape=A.shape, canonical=True)
        return mx.sum(B[[1, 5, 5], 1:5].todense() ** 2) + mx.sum(B[np.array([0, 2]), np.array([3, 3])])

    g = np.array(mx.grad(f)(A.data))
    d = S.data
    ref = np.zeros_like(d)
    rows = np.repeat(np.arange(8), np.diff(S.indptr))
    for k in range(S.nnz):
        r, c = rows[k], S.indices[k]
        ref[k] += 2 * d[k] * ((r == 1) + 2 * (r == 5)) * (1 <= c < 5) + ((r, c) in [(0, 3), (2, 3)])
    np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_resize_matches_scipy(device, fmt, it):
    mx.set_default_device(device)
    for shape in [(3, 4), (20, 15), (13, 3), (2, 12), (0, 5), (13, 9)]:
        A, R = _pair(13, 9, 60, "float32", it, fmt, seed=6)
        assert A.resize(shape) is None  # in place, as scipy
        R.resize(shape)
        assert A.shape == shape and A.index_dtype == INDEX_DTYPES[it]
        _close(_dense(A), R.toarray())
        _close(to_host(A @ mx.ones((shape[1],))), R.toarray().real @ np.ones(shape[1]))
    with pytest.raises(ValueError):
        A.resize((-1, 3))


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sort_indices_keeps_entries(device, vt, it, fmt):
    _skip(device, vt)
    data, row, col = random_coo(50, 40, 400, vt, 7)
    if fmt == "csc":
        row, col = col, row
    order = np.argsort(row, kind="stable")  # rows grouped, columns in input order (unsorted), duplicates kept
    ptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=50 if fmt == "csr" else 40))])
    F = FORMATS[fmt]
    shape = (50, 40)
    A = F((data[order], col[order], ptr), shape=shape, dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    R = sp.coo_array((data.astype(np.complex128), (row, col) if fmt == "csr" else (col, row)), shape=shape)
    assert not A.has_sorted_indices
    B = A.sort_indices(stream=device)
    assert B.has_sorted_indices and B.nnz == A.nnz and not A.has_sorted_indices
    S = (B.to_scipy() if fmt == "csr" else B.T.to_scipy())
    for r in range(S.shape[0]):
        seg = S.indices[S.indptr[r]:S.indptr[r + 1]]
        assert np.all(np.diff(seg) >= 0)
    _close(_dense(B), R.toarray(), vt)


@pytest.mark.parametrize("vt", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_argmax_argmin_match_scipy(device, vt, fmt):
    _skip(device, vt)
    rng = np.random.default_rng(8)
    for t in range(40):
        m, n = (int(v) for v in rng.integers(1, 8, 2))
        D = rng.integers(-2, 3, (m, n)).astype(np.float32) * (rng.random((m, n)) < 0.6)
        S = sp.csr_array(D)
        S.data[rng.random(S.nnz) < 0.2] = 0  # explicit zeros
        A = FORMATS[fmt](S, dtype=VALUE_DTYPES[vt][0])
        for axis in (None, 0, 1, -1, -2):
            for name in ("argmax", "argmin"):
                got = getattr(A, name)(axis=axis, stream=device)
                np.testing.assert_array_equal(np.array(got).reshape(-1), np.asarray(getattr(S, name)(axis=axis)).reshape(-1),
                                              err_msg=f"{name} axis={axis}\n{D}")
    with pytest.raises(ValueError):
        ms.csr_array(sp.csr_array((3, 0))).argmax(axis=1)
    with pytest.raises(TypeError):
        ms.csr_array(sp.eye_array(3, dtype=np.complex64)).argmax()


def test_nan_is_the_extreme_as_numpy():
    D = np.array([[0, np.nan, 2], [1, 0, np.nan], [0, 0, 0]], dtype=np.float32)
    A = ms.csr_array(D)
    for axis in (None, 0, 1):
        np.testing.assert_array_equal(np.array(A.argmax(axis=axis)), np.argmax(D, axis=axis))
        np.testing.assert_array_equal(np.array(A.argmin(axis=axis)), np.argmin(D, axis=axis))
        np.testing.assert_array_equal(np.array(A.max(axis=axis)), np.max(D, axis=axis))


def test_repr_reads_metadata_only():
    A = ms.csr_array((mx.array([1.0, 2.0]), mx.array([0, 2]), mx.array([0, 1, 2])), shape=(2, 3))
    text = repr(A)
    for part in ("2x3", "csr_array", "float32", "2 stored", "int32", "device=cpu"):
        assert part in text
    assert "device=cpu" in repr(A.T) and "coo_array" in repr(A.tocoo())
