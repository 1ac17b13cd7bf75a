"""The reference package's public names: each exists and agrees with the scipy-style API."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms

NAMES = ["fromdense", "from_dense", "from_numpy", "from_scipy", "asarray", "issparse", "eye", "identity", "identity_like",
         "diags", "kron", "kronsum", "block_array", "bmat", "block_diag", "hstack", "vstack", "tril", "triu", "todense",
         "csr_matvec", "coo_matvec", "csc_matvec", "csc_matvec_transpose", "csr_matmul", "coo_matmul", "csc_matmul",
         "CSRArray", "CSCArray", "COOArray", "is_available", "config", "set_config", "get_config", "config_context",
         "runtime"]


def test_every_reference_name_exists():
    missing = [n for n in NAMES if not hasattr(ms, n)]
    for f in ("csr", "coo", "csc"):
        for op in ("batched_matvec", "batched_matmul", "row_sums", "col_sums", "column_sums", "row_norms", "col_norms",
                   "column_norms", "diagonal", "trace"):
            if not hasattr(ms, f"{f}_{op}"):
                missing.append(f"{f}_{op}")
    for n in ("random", "rand", "random_array"):
        if not hasattr(ms.random, n):
            missing.append("random." + n)
    assert not missing


def test_reference_functions_agree_with_scipy():
    S = sp.csr_array(sp.random(30, 20, density=0.2, format="csr", random_state=1, dtype=np.float32))
    x = np.random.default_rng(0).standard_normal(20).astype(np.float32)
    X = np.random.default_rng(1).standard_normal((20, 3)).astype(np.float32)
    XB = np.random.default_rng(2).standard_normal((4, 20)).astype(np.float32)
    for f in ("csr", "csc", "coo"):
        A = ms.from_scipy(getattr(S, "to" + f)())
        assert A.format == f and ms.issparse(A) and not ms.issparse(S)
        np.testing.assert_allclose(np.array(getattr(ms, f + "_matvec")(A, mx.array(x))), S @ x, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.array(getattr(ms, f + "_matmul")(A, mx.array(X))), S @ X, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.array(getattr(ms, f + "_batched_matvec")(A, mx.array(XB))), (S @ XB.T).T, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(np.array(getattr(ms, f + "_row_sums")(A)), S.sum(axis=1), rtol=1e-5)
        np.testing.assert_allclose(np.array(getattr(ms, f + "_column_sums")(A)), S.sum(axis=0), rtol=1e-5)
        np.testing.assert_allclose(np.array(getattr(ms, f + "_trace")(A)), S.trace(), rtol=1e-5)
        with pytest.raises(TypeError, match=f"{f}_matvec: A must be a {f}_array"):
            getattr(ms, f + "_matvec")(ms.from_scipy(S.tocsr() if f != "csr" else S.tocsc()), mx.array(x))
    C = ms.from_scipy(S.tocsc())
    y = np.random.default_rng(3).standard_normal(30).astype(np.float32)
    np.testing.assert_allclose(np.array(ms.csc_matvec_transpose(C, mx.array(y))), S.T @ y, rtol=1e-5, atol=1e-6)
    D = S.toarray()
    assert ms.from_numpy(D).nnz == S.nnz and ms.asarray(D, format="csc").format == "csc" and ms.asarray(S).format == "csr"
    np.testing.assert_array_equal(np.array(ms.todense(ms.asarray(S))), D)
    assert isinstance(ms.csr_array(S), ms.CSRArray) and ms.is_available("cpu") and ms.is_available() is True


def test_config_settings_and_context():
    base = ms.get_config()
    with ms.config_context(validate="full", num_threads=1, spmv_schedule="rows"):
        assert ms.get_config()["validate"] == "full" and ms.get_config()["num_threads"] == 1
        assert ms.get_config()["spmv_schedule"] == "rows"
        with pytest.raises(ValueError, match="csr_array: indptr"):  # full validation by default now
            ms.csr_array((np.ones(2, np.float32), np.array([0, 1]), np.array([0, 2, 1])), shape=(2, 2))
    assert ms.get_config()["validate"] == base["validate"] and ms.get_config()["spmv_schedule"] == base["spmv_schedule"]
    assert ms.runtime.get_num_threads() == base["num_threads"]
    with pytest.raises(ValueError, match="set_config: validate"):
        ms.set_config(validate="sometimes")


def test_coo_canonical_keyword():
    A = ms.coo_array((np.ones(3, np.float32), (np.array([0, 1, 1]), np.array([1, 0, 2]))), shape=(2, 3), canonical=True)
    assert A.has_canonical_format and A.tocsr().has_canonical_format
    with pytest.raises(ValueError, match="canonical=True"):
        ms.coo_array((np.ones(2, np.float32), (np.array([1, 0]), np.array([0, 0]))), shape=(2, 2), canonical=True,
                     validate="full")
