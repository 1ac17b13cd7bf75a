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
    """Every shipped CUDA module holds the kernel the dispatcher will ask it for (checked without a GPU)."""
    import glob
    import os
    import re

    from mlx_sparse import _kernels as K

    if not os.path.isdir(K._KERNEL_DIR):
        pytest.skip("built without nvcc")
    files = glob.glob(os.path.join(K._KERNEL_DIR, "*"))
    assert files
    # family (or family + variant) -> kernels in each module: (op, takes the module's variant suffix)
    expected = {
        "spmv": [("csr", True)],
        "spmm_n": [("csr", False)],
        "spmm_t": [("csr_t", False)],
        "convert": [("csr_todense", False), ("indptr_from_rows", False), ("expand_rows", False)],
        "canonical": [("sumdup_sorted", False)],
    }
    for path in files:
        stem = os.path.basename(path).split(".")[0]  # family_vt_it[_variant]
        parts = stem.split("_")
        family, vt, it, variant = parts[0], parts[1], parts[2], "".join("_" + p for p in parts[3:])
        blob = open(path, "rb").read()
        for op, suffixed in expected.get(family + variant, expected.get(family)):
            name = f"mspcu_{family}_{op}_{vt}_{it}{variant if suffixed else ''}"
            assert re.search(re.escape(name.encode()) + rb"[^A-Za-z0-9_]", blob), (path, name)
