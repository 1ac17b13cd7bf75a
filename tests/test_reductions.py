"""diagonal, trace, max, min, row/column sums and norms, count_nonzero and ms.linalg.norm against scipy."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from conftest import INDEX_DTYPES, VALUE_DTYPES, random_coo, rel_err, to_host

import mlx_sparse as ms

SHAPES = [(1, 1, 1), (5, 8, 0), (13, 9, 40), (64, 200, 900), (9, 13, 117)]


def _arrays(fmt, vt, it, m, n, nnz, seed):
    data, row, col = random_coo(m, n, nnz, vt, seed)
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    A = A if fmt == "coo" else getattr(A, "to" + fmt)(canonical=False) if fmt == "csr" else A.tocsc()
    stored = data.astype(np.complex128)  # exactly representable in the value type (random_coo)
    return A, sp.coo_array((stored, (row, col)), shape=(m, n)).tocsr()


TOL = {"float32": 2e-5, "float64": 1e-12, "float16": 3e-2, "bfloat16": 6e-2, "complex64": 2e-5}


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("shape", SHAPES)
def test_diagonal_trace_sums_norms(device, vt, it, fmt, shape):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    A, S = _arrays(fmt, vt, it, *shape, seed=4)
    tol = TOL[vt]
    for k in (0, 1, -3, 100):
        assert rel_err(to_host(A.diagonal(k, stream=device)), S.diagonal(k)) <= tol
        assert rel_err(to_host(A.trace(k, stream=device)), S.trace(k)) <= tol
    assert rel_err(to_host(A.row_sums(stream=device)), S.sum(axis=1)) <= tol
    assert rel_err(to_host(A.column_sums(stream=device)), S.sum(axis=0)) <= tol
    D = S.toarray()
    assert rel_err(to_host(A.row_norms(stream=device)), np.linalg.norm(D, axis=1)) <= tol
    assert rel_err(to_host(A.col_norms(stream=device)), np.linalg.norm(D, axis=0)) <= tol
    assert rel_err(to_host(ms.linalg.norm(A, stream=device)), spla.norm(S)) <= tol
    for ord in (1, -1, np.inf, -np.inf):
        assert rel_err(to_host(ms.linalg.norm(A, ord, stream=device)), spla.norm(S, ord)) <= tol
    assert A.count_nonzero() == S.count_nonzero()


@pytest.mark.parametrize("vt", ["float32", "float64", "float16"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("shape", SHAPES + [(4, 4, 16)])
def test_max_min_with_implicit_zeros(device, vt, fmt, shape):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    m, n, nnz = shape
    if nnz == 16:  # every position stored, all negative: no implicit zero
        rows, cols = np.divmod(np.arange(16), 4)
        A = getattr(ms.coo_array((-np.arange(1.0, 17.0), (rows, cols)), shape=(4, 4), dtype=VALUE_DTYPES[vt][0]),
                    "to" + fmt)() if fmt != "coo" else ms.coo_array((-np.arange(1.0, 17.0), (rows, cols)), shape=(4, 4))
        S = sp.csr_array((-np.arange(1.0, 17.0), (rows, cols)), shape=(4, 4))
    else:
        A, S = _arrays(fmt, vt, "int32", m, n, nnz, seed=6)
        S = sp.csr_array(S.real)
    for axis in (None, 0, 1, -1):
        for name in ("max", "min"):
            got = to_host(getattr(A, name)(axis=axis, stream=device))
            ref = getattr(S, name)(axis=axis)
            ref = ref.toarray().ravel() if hasattr(ref, "toarray") else np.asarray(ref)
            np.testing.assert_allclose(got.astype(np.float64).ravel(), np.asarray(ref, np.float64).ravel(), rtol=1e-2)


def test_reduction_errors():
    A = ms.csr_array(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match="max: axis"):
        A.max(axis=2)
    with pytest.raises(ValueError, match="max: zero-size"):
        ms.csr_array((np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(1, np.int32)), shape=(0, 3)).max()
    with pytest.raises(TypeError, match="max: complex"):
        A.astype(mx.complex64).max()
    with pytest.raises(ValueError, match="norm: invalid norm order"):
        ms.linalg.norm(A, 3)
