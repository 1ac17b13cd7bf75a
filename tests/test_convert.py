"""COO -> CSR (canonical and not), CSR canonicalization and todense against scipy.sparse."""

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from conftest import GPU_VALUE_DTYPES, INDEX_DTYPES, RTOL, SHAPES, VALUE_DTYPES, rel_err, random_coo, scipy_coo, to_host


def _skip_gpu_dtype(device, vt):
    if device == mx.gpu and vt not in GPU_VALUE_DTYPES:
        pytest.skip("float64 is CPU-only")


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_tocsr_canonical(device, vt, it, shape):
    _skip_gpu_dtype(device, vt)
    m, n, nnz = shape
    data, row, col = random_coo(m, n, nnz, vt, seed=m + n)
    a = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    c = a.tocsr(canonical=True, stream=device)
    ref = scipy_coo(data, row, col, (m, n)).tocsr()
    ref.sum_duplicates()
    assert c.has_canonical_format and c.sorted_indices and c.index_dtype == INDEX_DTYPES[it]
    assert c.nnz == ref.nnz  # explicit zeros are kept, as in scipy
    assert np.array_equal(np.array(c.indptr), ref.indptr)
    assert np.array_equal(np.array(c.indices), ref.indices)
    assert rel_err(to_host(c.data), ref.data) <= RTOL[vt]


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_tocsr_lazy_and_todense(device, vt, it, shape):
    _skip_gpu_dtype(device, vt)
    m, n, nnz = shape
    data, row, col = random_coo(m, n, nnz, vt, seed=3 * m + n)
    a = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    c = a.tocsr(canonical=False, stream=device)
    assert c.nnz == nnz if m and n else c.nnz == 0
    # every entry kept: same row counts as the input
    assert np.array_equal(np.diff(np.array(c.indptr)), np.bincount(row, minlength=m)[:m] if m else np.zeros(0))
    ref = scipy_coo(data, row, col, (m, n)).toarray()
    d = a.todense(stream=device)
    assert d.shape == (m, n) and d.dtype == VALUE_DTYPES[vt][0]
    assert rel_err(to_host(d), ref) <= RTOL[vt]
    assert rel_err(to_host(c.todense(stream=device)), ref) <= RTOL[vt]


@pytest.mark.parametrize("vt", ["float32", "complex64", "float16"])
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_csr_sum_duplicates_unsorted(device, vt, it):
    m, n = 50, 40
    data, row, col = random_coo(m, n, 600, vt, seed=7)
    order = np.lexsort((-col, row))  # rows grouped, columns descending: unsorted within rows
    row, col, data = row[order], col[order], data[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=m))])
    a = ms.csr_array((data, col, indptr), shape=(m, n), index_dtype=INDEX_DTYPES[it])
    c = a.sum_duplicates(stream=device)
    ref = scipy_coo(data, row, col, (m, n)).tocsr()
    ref.sum_duplicates()
    assert np.array_equal(np.array(c.indptr), ref.indptr) and np.array_equal(np.array(c.indices), ref.indices)
    assert rel_err(to_host(c.data), ref.data) <= RTOL[vt]
    assert c.tocsr(canonical=True) is c  # already canonical: nothing to do


def test_canonical_out_of_range_is_reported(device):
    d = np.ones(3, np.float32)
    a = ms.coo_array((d, (np.array([0, 1, 5]), np.array([0, 1, 2]))), shape=(3, 3), validate=False)
    with pytest.raises((ValueError, RuntimeError), match="tocsr"):
        mx.eval(a.tocsr(canonical=True, stream=device).data)


def test_large_int64_values_stay_exact():
    # int64 indices with a column beyond 2^31: the structure must survive conversion exactly
    n = 2**31 + 10
    data = np.array([1.0, 2.0, 3.0], np.float32)
    row, col = np.array([1, 0, 1]), np.array([n - 1, 5, 2**31 + 1])
    a = ms.coo_array((data, (row, col)), shape=(2, n))
    assert a.index_dtype == mx.int64
    c = a.tocsr(canonical=True)
    assert np.array_equal(np.array(c.indices), [5, 2**31 + 1, n - 1])
    assert np.array_equal(np.array(c.indptr), [0, 1, 3])


@pytest.mark.parametrize("canonical", [False, True])
def test_tocoo_tocsc_and_coo_from_sparse(device, canonical):
    import scipy.sparse as sp_

    m, n = 14, 9
    data, row, col = random_coo(m, n, 50, seed=40)  # duplicates, explicit zeros, unsorted
    S = sp_.coo_array((data, (row, col)), shape=(m, n))
    coo = ms.coo_array((data, (row, col)), shape=(m, n))
    csr = coo.tocsr(canonical=False, stream=device)
    csc = ms.csc_array(S.tocsc())
    dense = S.toarray()
    with mx.stream(device):
        for A in (coo, csr, csc):
            c = A.tocoo(stream=device)
            assert c.format == "coo" and c.nnz == A.nnz
            assert np.abs(to_host(c.todense()) - dense).max() < 1e-5
            k = A.tocsc(canonical=canonical, stream=device)
            assert k.format == "csc" and (k.has_canonical_format or not canonical)
            assert np.abs(to_host(k.todense()) - dense).max() < 1e-5
            assert np.abs(to_host(ms.coo_array(A).todense()) - dense).max() < 1e-5
    if canonical:
        ref = S.tocsc()
        ref.sum_duplicates()
        k = csr.tocsc(canonical=True, stream=device)
        np.testing.assert_array_equal(to_host(k.indptr), ref.indptr)
        np.testing.assert_array_equal(to_host(k.indices), ref.indices)
