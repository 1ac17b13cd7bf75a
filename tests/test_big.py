"""Results past the int32 index range from int32 inputs are produced with int64 indices, never wrapped.

The operands and results take tens of GB, so these run only on a GPU with at least 100 GB (under
``pytest -m gpu``); the same rule's CPU side is covered by the C tests (more than 2^31 rows, and the
int32 kernels refusing row numbers they cannot write) and, at small scale, by the overflow tests of
each family."""

import mlx.core as mx
import numpy as np
import pytest
from conftest import has_gpu

import mlx_sparse as ms

INT32_MAX = 2**31 - 1


def _big_gpu() -> bool:
    return has_gpu() and mx.device_info(mx.gpu).get("total_memory", 0) >= 100 * 2**30


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _big_gpu(), reason="needs a GPU with at least 100 GB")]


@pytest.fixture(autouse=True)
def _on_gpu():
    mx.set_default_device(mx.gpu)
    yield
    mx.clear_cache()
    mx.set_default_device(mx.cpu)


def test_spgemm_output_past_int32():
    """An outer product of a column and a row: m^2 = 2.3e9 entries from int32 operands."""
    m = 48_000
    A = ms.csr_array((mx.ones((m,)), mx.zeros((m,), dtype=mx.int32), mx.arange(m + 1, dtype=mx.int32)), shape=(m, 1))
    B = ms.csr_array((mx.arange(m).astype(mx.float32), mx.arange(m, dtype=mx.int32), mx.array([0, m], dtype=mx.int32)),
                     shape=(1, m))
    C = A @ B
    assert C.nnz == m * m > INT32_MAX
    assert C.indices.dtype == mx.int64 and C.indptr.dtype == mx.int64
    ptr = np.array(C.indptr[m // 2 - 1: m // 2 + 2])
    np.testing.assert_array_equal(ptr, (np.arange(m // 2 - 1, m // 2 + 2, dtype=np.int64)) * m)
    assert int(C.indptr[-1].item()) == m * m
    for row in (0, m // 2, m - 1):  # each row holds columns 0 .. m-1 with B's values
        lo = row * m
        np.testing.assert_array_equal(np.array(C.indices[lo: lo + m]), np.arange(m))
        np.testing.assert_array_equal(np.array(C.data[lo: lo + m]), np.arange(m, dtype=np.float32))


def test_add_output_past_int32():
    """Even columns plus odd columns: 2 x 1.2e9 int32 entries add to 2.4e9."""
    m, n = 40_000, 60_000
    h = n // 2
    ptr = mx.arange(m + 1, dtype=mx.int64) * h
    assert int(ptr[-1].item()) <= INT32_MAX
    ptr = ptr.astype(mx.int32)
    even = mx.tile(mx.arange(0, n, 2, dtype=mx.int32), (m,))
    A = ms.csr_array((mx.ones((m * h,)), even, ptr), shape=(m, n))
    B = ms.csr_array((mx.full((m * h,), 2.0), even + 1, ptr), shape=(m, n))
    C = A + B
    assert C.nnz == m * n > INT32_MAX
    assert C.indices.dtype == mx.int64 and C.indptr.dtype == mx.int64
    assert int(C.indptr[-1].item()) == m * n
    for row in (0, m // 2, m - 1):
        lo = row * n
        np.testing.assert_array_equal(np.array(C.indices[lo: lo + n]), np.arange(n))
        np.testing.assert_array_equal(np.array(C.data[lo: lo + n]), np.tile(np.array([1.0, 2.0], np.float32), h))
