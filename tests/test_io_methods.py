"""ms.io (Matrix Market, npz both ways with scipy) and scipy's small container methods (copy, real,
imag, prune, setdiag, reshape)."""

import io

import mlx.core as mx
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from conftest import random_coo, rel_err, to_host

import mlx_sparse as ms


def _S(fmt="csr", complex_=False, m=9, n=7, seed=0):
    data, row, col = random_coo(m, n, 30, "complex64" if complex_ else "float32", seed)
    return getattr(sp.coo_array((data, (row, col)), shape=(m, n)), "to" + fmt)()


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_npz_round_trips_with_scipy(tmp_path, fmt):
    S = _S(fmt)
    sp.save_npz(tmp_path / "s.npz", S)  # scipy's file -> ours
    A = ms.load_npz(tmp_path / "s.npz")
    assert A.format == fmt and A.shape == S.shape and A.nnz == S.nnz
    np.testing.assert_allclose(to_host(A.todense()), S.toarray(), rtol=1e-6)
    ms.save_npz(tmp_path / "o.npz", A)  # ours -> scipy's reader
    T = sp.load_npz(tmp_path / "o.npz")
    assert T.format == fmt and T.nnz == S.nnz
    np.testing.assert_allclose(T.toarray(), S.toarray(), rtol=1e-6)
    ms.save_npz(tmp_path / "u.npz", A, compressed=False)
    assert ms.load_npz(tmp_path / "u.npz", dtype=mx.float64).dtype == mx.float64


@pytest.mark.parametrize("complex_", [False, True])
def test_matrix_market_both_ways(tmp_path, complex_):
    S = _S("coo", complex_)
    scipy.io.mmwrite(tmp_path / "s.mtx", S)
    A = ms.io.mmread(tmp_path / "s.mtx", format="csr")
    assert A.format == "csr" and A.shape == S.shape
    assert rel_err(to_host(A.todense()), S.toarray()) < 1e-6
    ms.io.mmwrite(tmp_path / "o.mtx", A, symmetry="general")
    assert rel_err(scipy.io.mmread(tmp_path / "o.mtx").toarray(), S.toarray()) < 1e-6
    sym = sp.csr_array(np.array([[2.0, 1.0], [1.0, 0.0]]))
    buf = io.BytesIO()
    scipy.io.mmwrite(buf, sym, symmetry="symmetric")
    buf.seek(0)
    np.testing.assert_array_equal(np.array(ms.io.mmread(buf).todense()), sym.toarray())
    dense = np.arange(6.0).reshape(2, 3)
    scipy.io.mmwrite(tmp_path / "d.mtx", dense)
    np.testing.assert_array_equal(np.array(ms.io.mmread(tmp_path / "d.mtx")), dense)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
def test_small_methods(fmt):
    S = _S(fmt, complex_=True)
    A = ms.from_scipy(S)
    assert A.copy().nnz == A.nnz and A.copy() is not A and A.prune() is A
    np.testing.assert_allclose(to_host(A.real.todense()), S.toarray().real, rtol=1e-6)
    np.testing.assert_allclose(to_host(A.imag.todense()), S.toarray().imag, rtol=1e-6)
    R = _S(fmt)
    B = ms.from_scipy(R)
    for k, vals in ((0, 5.0), (2, np.arange(1.0, 6.0)), (-3, 0.0)):
        got = B.setdiag(vals, k)
        ref = sp.csr_array(R, copy=True)
        ref.sum_duplicates()  # ours sums duplicates; explicit zeros stay, as in scipy
        ref.setdiag(vals, k)
        assert got.format == fmt
        assert rel_err(to_host(got.todense()), ref.toarray()) < 1e-6
        assert got.nnz == sp.csr_array(ref).nnz  # the diagonal stored explicitly, zeros too
    for shape, order in (((7, 9), "C"), ((3, 21), "C"), ((21, 3), "F"), ((63, 1), "C")):
        got = B.reshape(shape, order=order)
        np.testing.assert_allclose(to_host(got.todense()), R.toarray().reshape(shape, order=order), rtol=1e-6)
        assert got.format == fmt and got.shape == shape
    with pytest.raises(ValueError, match="reshape: cannot reshape"):
        B.reshape((5, 5))
    with pytest.raises(ValueError, match="setdiag: 3 values"):
        B.setdiag([1.0, 2.0, 3.0])
