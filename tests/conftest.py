"""Shared pytest fixtures: random sparse inputs with edge cases, dtype tables, tolerances, devices."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

VALUE_DTYPES = {
    "float32": (mx.float32, np.float32),
    "float64": (mx.float64, np.float64),
    "float16": (mx.float16, np.float16),
    "bfloat16": (mx.bfloat16, np.float32),  # numpy has no bfloat16: host side in float32
    "complex64": (mx.complex64, np.complex64),
}
GPU_VALUE_DTYPES = ["float32", "float16", "bfloat16", "complex64"]
INDEX_DTYPES = {"int32": mx.int32, "int64": mx.int64}
RTOL = {"float32": 2e-5, "float64": 1e-12, "float16": 2e-2, "bfloat16": 5e-2, "complex64": 2e-5}

# (m, n, nnz): empty matrices, 0 x n, single entries, wide, tall, larger than the threading threshold
SHAPES = [(0, 0, 0), (0, 7, 0), (7, 0, 0), (1, 1, 1), (5, 8, 0), (13, 9, 40), (64, 200, 900), (3000, 2000, 40000)]


def random_coo(m, n, nnz, vt="float32", seed=0, dups=True, zeros=True):
    """Host COO triplets with duplicates, unsorted order, explicit zeros and empty rows."""
    rng = np.random.default_rng(seed)
    nnz = nnz if m and n else 0
    row = rng.integers(0, max(m, 1), nnz)
    if m > 4:
        row[row % 4 == 3] = 0  # every fourth row empty
    col = rng.integers(0, max(n, 1), nnz)
    if dups and nnz >= 5:
        k = nnz // 5
        row[-k:], col[-k:] = row[:k], col[:k]
    data = rng.standard_normal(nnz)
    if VALUE_DTYPES[vt][1] == np.complex64:
        data = data + 1j * rng.standard_normal(nnz)
    if zeros and nnz > 3:
        data[::7] = 0
    data = data.astype(VALUE_DTYPES[vt][1])
    if vt in ("float16", "bfloat16"):
        # values exactly representable in the 16-bit type, so host reference and device agree
        data = np.array(mx.array(data).astype(VALUE_DTYPES[vt][0]).astype(mx.float32)).astype(VALUE_DTYPES[vt][1])
    return data, row, col


def to_host(a):
    """Host numpy copy of an MLX array (bfloat16 via float32)."""
    if a.dtype == mx.bfloat16:
        a = a.astype(mx.float32)
    return np.array(a)


def rel_err(got, ref):
    got, ref = np.asarray(got, dtype=np.complex128), np.asarray(ref, dtype=np.complex128)
    denom = max(np.linalg.norm(ref.ravel()), 1e-30)
    return np.linalg.norm((got - ref).ravel()) / denom


def has_gpu():
    try:
        import mlx_sparse as ms

        return ms.gpu_available()
    except Exception:
        return False


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def device(request):
    """Each device test runs on the CPU, and on the GPU under `pytest -m gpu`."""
    if request.param == "gpu" and not has_gpu():
        pytest.skip("needs MLX's CUDA backend and mlx_sparse's CUDA kernels")
    return mx.cpu if request.param == "cpu" else mx.gpu


@pytest.fixture(autouse=True)
def _cpu_default_device():
    """Tests start with the CPU as default device (MLX picks the GPU when it has one) and leave it so."""
    mx.set_default_device(mx.cpu)
    yield
    mx.set_default_device(mx.cpu)


def scipy_coo(data, row, col, shape):
    return sp.coo_array((data.astype(np.complex128 if np.iscomplexobj(data) else np.float64), (row, col)), shape=shape)


def sparse_pair(m, n, nnz, vt, it, fmt, seed):
    """Our array of random_coo's triplets in format ``fmt`` (duplicates, unsorted entries and explicit
    zeros as stored), scipy's COO array of them (complex128), and the (row, col) of every entry."""
    import mlx_sparse as ms

    data, row, col = random_coo(m, n, nnz, vt, seed)
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    if fmt != "coo":
        A = A.tocsr(canonical=False) if fmt == "csr" else A.tocsc()
    return A, sp.coo_array((data.astype(np.complex128), (row, col)), shape=(m, n)), (row, col)
