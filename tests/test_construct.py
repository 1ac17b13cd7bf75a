"""Construction, properties, validation modes, index dtype rules and scipy interop of coo/csr arrays."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import INDEX_DTYPES, VALUE_DTYPES, random_coo, to_host


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_coo_properties(vt, it):
    data, row, col = random_coo(20, 30, 100, vt)
    a = ms.coo_array((mx.array(data).astype(VALUE_DTYPES[vt][0]), (row, col)), shape=(20, 30), index_dtype=INDEX_DTYPES[it])
    assert a.shape == (20, 30) and a.nnz == 100 and a.ndim == 2 and a.format == "coo"
    assert a.dtype == VALUE_DTYPES[vt][0] and a.index_dtype == INDEX_DTYPES[it]
    assert np.array_equal(np.array(a.row), row) and np.array_equal(np.array(a.col), col)
    d, (r, c) = a.to_numpy()
    assert np.array_equal(r, row) and np.array_equal(c, col)


@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_csr_properties_and_flags(it):
    s = sp.random(40, 50, density=0.1, format="csr", random_state=1, dtype=np.float32)
    a = ms.csr_array((s.data, s.indices, s.indptr), shape=s.shape, index_dtype=INDEX_DTYPES[it])
    assert a.shape == (40, 50) and a.nnz == s.nnz and a.index_dtype == INDEX_DTYPES[it]
    assert not a.sorted_indices and not a.has_canonical_format
    b = ms.csr_array((s.data, s.indices, s.indptr), shape=s.shape, canonical=True)
    assert b.sorted_indices and b.has_canonical_format
    d, i, p = b.to_numpy()
    assert np.array_equal(i, s.indices) and np.array_equal(p, s.indptr) and np.array_equal(d, s.data)
    assert b.eval() is b
    assert "40x50 csr_array" in repr(b)


def test_index_dtype_defaults():
    data = np.ones(3, np.float32)
    r, c = np.array([0, 1, 2], np.int64), np.array([2, 1, 0], np.int64)
    assert ms.coo_array((data, (r, c)), shape=(3, 3)).index_dtype == mx.int32  # host int64 narrowed after range check
    a = ms.coo_array((data, (mx.array(r), mx.array(c))), shape=(3, 3))
    assert a.index_dtype == mx.int64  # device int64 kept
    big = ms.coo_array((data, (r, c)), shape=(3, 2**31 + 5))
    assert big.index_dtype == mx.int64
    with pytest.raises(ValueError, match="coo_array"):
        ms.coo_array((data, (r, c)), shape=(3, 2**31 + 5), index_dtype=mx.int32)
    with pytest.raises(ValueError, match="int32"):
        ms.coo_array((data, (np.array([0, 1, 2**33]), c)), shape=(3, 3), index_dtype=mx.int32)


def test_shape_inference_matches_scipy():
    data, row, col = np.ones(3, np.float32), np.array([0, 4, 2]), np.array([1, 0, 6])
    assert ms.coo_array((data, (row, col))).shape == sp.coo_array((data, (row, col))).shape


def test_bad_input_errors():
    d, r, c = np.ones(3, np.float32), np.array([0, 1, 2]), np.array([0, 1, 2])
    with pytest.raises(ValueError, match="coo_array.*lengths"):
        ms.coo_array((d, (r[:2], c)), shape=(3, 3))
    with pytest.raises(ValueError, match="coo_array.*shape"):
        ms.coo_array((d, (r, c)), shape=(3, -1))
    with pytest.raises(ValueError, match="coo_array.*shape"):
        ms.coo_array((d, (r, c)), shape=(3,))
    with pytest.raises(TypeError, match="coo_array.*integer"):
        ms.coo_array((d, (r.astype(np.float32), c)), shape=(3, 3))
    with pytest.raises(TypeError, match="coo_array.*dtype"):
        ms.coo_array((mx.array([1, 2, 3], dtype=mx.int32), (r, c)), shape=(3, 3))
    with pytest.raises(TypeError, match="coo_array"):
        ms.coo_array([1, 2, 3], shape=(3, 3))
    with pytest.raises(ValueError, match="coo_array.*out of range"):
        ms.coo_array((d, (r, np.array([0, 1, 3]))), shape=(3, 3), validate="full")
    with pytest.raises(ValueError, match="coo_array.*out of range"):
        ms.coo_array((d, (np.array([0, -1, 2]), c)), shape=(3, 3), validate="full")
    with pytest.raises(ValueError, match="validate"):
        ms.coo_array((d, (r, c)), shape=(3, 3), validate="sometimes")
    ip = np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match="csr_array.*indptr"):
        ms.csr_array((d, c, ip[:3]), shape=(3, 3))
    with pytest.raises(ValueError, match="csr_array.*lengths"):
        ms.csr_array((d[:2], c, ip), shape=(3, 3))
    with pytest.raises(ValueError, match="csr_array.*out of range"):
        ms.csr_array((d, np.array([0, 5, 1]), ip), shape=(3, 3), validate="full")
    with pytest.raises(ValueError, match="csr_array.*non-decreasing"):
        ms.csr_array((d, c, np.array([0, 2, 1, 3])), shape=(3, 3), validate="full")
    with pytest.raises(ValueError, match=r"csr_array.*indptr\[-1\]"):
        ms.csr_array((d, c, np.array([0, 1, 2, 2])), shape=(3, 3), validate="full")
    with pytest.raises(ValueError, match=r"csr_array.*indptr\[0\]"):
        ms.csr_array((d, c, np.array([1, 1, 2, 3])), shape=(3, 3), validate="full")
    with pytest.raises(ValueError, match="csr_array.*not sorted"):
        ms.csr_array((np.ones(2, np.float32), np.array([2, 1]), np.array([0, 2, 2, 2])), shape=(3, 3), sorted_indices=True, validate="full")
    with pytest.raises(ValueError, match="csr_array.*duplicate"):
        ms.csr_array((np.ones(2, np.float32), np.array([1, 1]), np.array([0, 2, 2, 2])), shape=(3, 3), canonical=True, validate="full")
    with pytest.raises(TypeError, match="csr_array.*index_dtype"):
        ms.csr_array((d, c, ip), shape=(3, 3), index_dtype=mx.int16)
    # a valid structure passes full validation
    ok = ms.csr_array((d, c, ip), shape=(3, 3), canonical=True, validate="full")
    assert ok.has_canonical_format


def test_metadata_validation_does_not_read_indices():
    # out-of-range indices pass "metadata" validation: it checks sizes only and never synchronizes
    d, ip = np.ones(3, np.float32), np.array([0, 1, 2, 3])
    a = ms.csr_array((d, np.array([0, 9, 1]), ip), shape=(3, 3))
    assert a.nnz == 3


def test_scipy_roundtrip():
    s = sp.random(30, 20, density=0.2, format="csr", random_state=3, dtype=np.float64)
    assert ms.csr_array(s).dtype == mx.float32  # host float64 follows mx.array: float32
    a = ms.csr_array(s, dtype=mx.float64)
    assert a.dtype == mx.float64 and a.has_canonical_format
    back = a.to_scipy()
    assert (back != s).nnz == 0
    c = ms.coo_array(s.tocoo(), dtype=mx.float64)
    assert abs(c.to_scipy() - s).max() == 0


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
def test_astype(vt):
    s = sp.random(10, 10, density=0.3, format="csr", random_state=2, dtype=np.float32)
    a = ms.csr_array(s).astype(VALUE_DTYPES[vt][0])
    assert a.dtype == VALUE_DTYPES[vt][0]
    np.testing.assert_allclose(to_host(a.todense()).real, s.toarray(), rtol=1e-2, atol=1e-2)
