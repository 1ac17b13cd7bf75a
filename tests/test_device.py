"""The device API: use_cpu / use_gpu / use_device, persistence, and clear errors without a GPU."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import has_gpu


def test_use_cpu_persists():
    ms.use_cpu()
    assert mx.default_device() == mx.cpu
    A = ms.csr_array(sp.random(10, 10, density=0.3, format="csr", random_state=0, dtype=np.float32))
    assert np.array(A @ mx.ones(10)).shape == (10,)
    assert mx.default_device() == mx.cpu


def test_use_device_rejects_unknown():
    with pytest.raises(ValueError, match="use_device"):
        ms.use_device("tpu")


@pytest.mark.skipif(mx.is_available(mx.gpu), reason="this machine has a GPU backend")
def test_use_gpu_without_backend_says_what_to_install():
    with pytest.raises(RuntimeError, match=r"mlx\[cuda13\]"):
        ms.use_gpu()
    assert mx.default_device() == mx.cpu  # unchanged


@pytest.mark.skipif(has_gpu(), reason="GPU kernels present")
def test_gpu_stream_without_kernels_raises():
    if not mx.is_available(mx.gpu):
        pytest.skip("no GPU backend to dispatch to")
    A = ms.csr_array(sp.random(10, 10, density=0.3, format="csr", random_state=0, dtype=np.float32))
    with pytest.raises(RuntimeError, match="csr_matvec"):
        ms.csr_matvec(A, mx.ones(10), stream=mx.gpu)


def test_cuda_modules_name_their_kernels():
    """Every shipped CUDA module holds the one kernel its name promises (checked without a GPU), and
    every op, variant and GPU type pair of the kernel table has its module."""
    import glob
    import os
    import re

    from mlx_sparse import _kernels as K

    if not os.path.isdir(K._KERNEL_DIR):
        pytest.skip("no CUDA modules in this build (built without nvcc, or CI's compile-only check)")
    files = glob.glob(os.path.join(K._KERNEL_DIR, "*"))
    stems = set()
    for path in files:
        stem = os.path.basename(path).split(".")[0]  # <family>_<op>[_<variant>]_<vt>_<it>
        stems.add(stem)
        blob = open(path, "rb").read()
        assert re.search(re.escape(b"mspcu_" + stem.encode()) + rb"[^A-Za-z0-9_]", blob), path
    for sig in K.OPS.values():
        if sig.devices == "CPU":
            continue
        for variant in sig.variants or ("",):
            for v in K.GPU_VALUE_TYPES:
                for i in ("i32", "i64"):
                    assert f"{sig.name}{'_' + variant if variant else ''}_{v}_{i}" in stems
