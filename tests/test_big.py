"""Results past 2^31 - 1 stored entries (beyond an MLX array's length and int32) raise ``OverflowError``
naming the operation after the count pass, before anything that large is allocated; nothing wraps.

The operands take several GB and the count passes billions of steps, so these run only on a GPU
with at least 100 GB, under ``pytest -m gpu`` with ``MSP_BIG_TESTS=1`` (``tools/gpu_check.sh test`` sets it). The CPU side of the rule is covered by the C tests
(more than 2^31 rows: int64 kernels work, int32 ones refuse row numbers they cannot write)."""

import os

import mlx.core as mx
import pytest
from conftest import has_gpu

import mlx_sparse as ms

INT32_MAX = 2**31 - 1


def _big_gpu() -> bool:
    return (os.environ.get("MSP_BIG_TESTS") == "1" and has_gpu()
            and mx.device_info(mx.gpu).get("total_memory", 0) >= 100 * 2**30)


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _big_gpu(), reason="MSP_BIG_TESTS=1 and a GPU with 100 GB")]


@pytest.fixture(autouse=True)
def _on_gpu():
    mx.set_default_device(mx.gpu)
    yield
    mx.clear_cache()
    mx.set_default_device(mx.cpu)


def _still_usable():
    A = ms.csr_array((mx.array([1.0, 2.0]), mx.array([0, 1], dtype=mx.int32), mx.array([0, 1, 2], dtype=mx.int32)),
                     shape=(2, 2))
    assert (A @ A).todense().tolist() == [[1.0, 0.0], [0.0, 4.0]]


def test_spgemm_result_past_int32():
    """An outer product of a column and a row: m^2 = 2.3e9 entries from int32 operands."""
    m = 48_000
    A = ms.csr_array((mx.ones((m,)), mx.zeros((m,), dtype=mx.int32), mx.arange(m + 1, dtype=mx.int32)), shape=(m, 1))
    B = ms.csr_array((mx.ones((m,)), mx.arange(m, dtype=mx.int32), mx.array([0, m], dtype=mx.int32)), shape=(1, m))
    with pytest.raises(OverflowError, match=r"matmul: the result would hold 2304000000 stored entries"):
        A @ B
    _still_usable()


def test_add_result_past_int32():
    """Even columns plus odd columns: 2 x 1.2e9 int32 entries would add up to 2.4e9."""
    m, n = 40_000, 60_000
    h = n // 2
    ptr = (mx.arange(m + 1, dtype=mx.int64) * h).astype(mx.int32)
    even = mx.tile(mx.arange(0, n, 2, dtype=mx.int32), (m,))
    # declared canonical (they are): otherwise the sum first sorts 2.4e9 entries
    A = ms.csr_array((mx.ones((m * h,)), even, ptr), shape=(m, n), canonical=True)
    B = ms.csr_array((mx.ones((m * h,)), even + 1, ptr), shape=(m, n), canonical=True)
    with pytest.raises(OverflowError, match=r"the result would hold 2400000000 stored entries"):
        A + B
    _still_usable()
