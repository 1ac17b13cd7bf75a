"""GPU-only checks (pytest -m gpu): the seed workflow, CPU/GPU agreement, laziness on the GPU, errors."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import GPU_VALUE_DTYPES, INDEX_DTYPES, RTOL, VALUE_DTYPES, has_gpu, random_coo, rel_err, to_host

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not has_gpu(), reason="needs MLX CUDA and mlx_sparse CUDA kernels")]


def test_seed_workflow_construct_on_cpu_multiply_on_gpu():
    rng = np.random.default_rng(0)
    m, n, k = 3000, 2500, 40000
    row, col = rng.integers(0, m, k), rng.integers(0, n, k)
    data = rng.standard_normal(k).astype(np.float32)
    x = mx.array(rng.standard_normal(n).astype(np.float32))
    ms.use_cpu()
    coo = ms.coo_array((data, (row, col)), shape=(m, n))
    csr = coo.tocsr(canonical=True)
    mx.eval(csr.data, csr.indices, csr.indptr)
    ms.use_gpu()
    csr_gpu = ms.csr_array(
        (csr.data, csr.indices, csr.indptr), shape=csr.shape,
        sorted_indices=csr.sorted_indices, canonical=csr.has_canonical_format, validate=False,
    )
    y = csr_gpu @ x
    mx.eval(y)
    ref = sp.csr_array((data.astype(np.float64), (row, col)), shape=(m, n)) @ np.array(x).astype(np.float64)
    assert rel_err(np.array(y), ref) < 1e-5
    z = mx.sin(csr_gpu @ x) + 2.0
    mx.eval(z)
    assert rel_err(np.array(z), np.sin(ref) + 2.0) < 1e-5


@pytest.mark.parametrize("vt", GPU_VALUE_DTYPES)
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_cpu_and_gpu_agree(vt, it):
    data, row, col = random_coo(4000, 3000, 60000, vt, seed=11)
    A = ms.coo_array((data, (row, col)), shape=(4000, 3000), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    c_cpu, c_gpu = A.tocsr(stream=mx.cpu), A.tocsr(stream=mx.gpu)
    for name in ("indptr", "indices"):  # structure is bit-identical across devices
        assert np.array_equal(np.array(getattr(c_cpu, name)), np.array(getattr(c_gpu, name)))
    assert rel_err(to_host(c_gpu.data), to_host(c_cpu.data)) <= RTOL[vt]
    x = mx.array(np.random.default_rng(2).standard_normal(3000).astype(np.float32)).astype(VALUE_DTYPES[vt][0])
    y_cpu, y_gpu = c_cpu.matvec(x, stream=mx.cpu), c_cpu.matvec(x, stream=mx.gpu)
    assert rel_err(to_host(y_gpu), to_host(y_cpu)) <= 4 * RTOL[vt]


def test_gpu_spmv_is_deterministic():
    data, row, col = random_coo(20000, 20000, 400000, "float32", seed=3)
    A = ms.coo_array((data, (row, col)), shape=(20000, 20000)).tocsr(stream=mx.gpu)
    x = mx.random.normal((20000,))
    ys = [np.array(A.matvec(x, stream=mx.gpu)) for _ in range(3)]
    assert all(np.array_equal(ys[0], y) for y in ys[1:])


def test_gpu_float64_raises_runtime_error():
    A = ms.csr_array(sp.random(10, 10, density=0.3, format="csr", random_state=0), dtype=mx.float64)
    with pytest.raises(RuntimeError, match="csr_matvec.*float64.*GPU"):
        A.matvec(mx.ones(10, dtype=mx.float64), stream=mx.gpu)


def test_gpu_malformed_rows_give_nan_not_crash():
    bad = ms.csr_array((np.ones(3, np.float32), np.array([0, 7, 1]), np.array([0, 1, 2, 3])), shape=(3, 3), validate=False)
    y = np.array(bad.matvec(mx.ones(3), stream=mx.gpu))
    assert y[0] == 1.0 and np.isnan(y[1]) and y[2] == 1.0


def test_use_gpu_sets_default():
    ms.use_gpu()
    assert mx.default_device() == mx.gpu
    A = ms.csr_array(sp.random(50, 40, density=0.2, format="csr", random_state=0, dtype=np.float32))
    y = A @ mx.ones(40)
    np.testing.assert_allclose(np.array(y), A.to_scipy() @ np.ones(40), rtol=1e-5)


def test_native_and_public_launch_routes_agree(monkeypatch):
    """Our kernel node (_ext_cuda, the default where MLX has CUDA) and MLX's public precompiled_cuda_kernel
    give the same results: products, the A^T scatter and todense (zero-filled: the public route in both), a
    strided operand, and the fused CG; the native route is the one in use by default."""
    from mlx_sparse import _kernels

    rng = np.random.default_rng(7)
    S = sp.random(700, 500, density=0.02, format="csr", random_state=3, dtype=np.float32)
    x = rng.standard_normal(500).astype(np.float32)
    xt = rng.standard_normal(700).astype(np.float32)
    X = rng.standard_normal((6, 500)).astype(np.float32)  # its transpose is a strided view
    P = sp.csr_array(sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(400, 400), dtype=np.float32))
    b = np.ones(400, np.float32)

    def run():
        ms.use_gpu()
        A = ms.csr_array(S)
        Xm = mx.array(X)
        outs = [A @ mx.array(x), A.T @ mx.array(xt), A @ Xm.T, A.todense(),
                ms.linalg.cg(ms.csr_array(P), mx.array(b), rtol=1e-6)[0]]
        mx.eval(outs)
        return [np.array(o) for o in outs]

    _kernels._native_launch.cache_clear()
    native = run()
    assert _kernels._native_launch() is not None, "the native kernel node is not in use on this GPU build"
    monkeypatch.setenv("MLX_SPARSE_GPU_LAUNCH", "public")
    _kernels._native_launch.cache_clear()
    try:
        public = run()
    finally:
        monkeypatch.delenv("MLX_SPARSE_GPU_LAUNCH")
        _kernels._native_launch.cache_clear()
    refs = [S @ x, S.T @ xt, S @ X.T, S.toarray()]
    for k, (a, p) in enumerate(zip(native, public)):
        if k == 1:  # the A^T scatter adds with atomics: its order of additions varies between runs
            np.testing.assert_allclose(a, p, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(a, p)
        if k < len(refs):
            assert rel_err(a, refs[k]) < 1e-5
    assert np.linalg.norm(P @ native[4] - b) <= 1e-5 * np.linalg.norm(b) * 10
