"""Smoothed-aggregation AMG as a CG preconditioner, and the Poisson example."""

import os
import subprocess
import sys

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import to_host

import mlx_sparse as ms


def _poisson(n, dim):
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    A = t
    for _ in range(dim - 1):
        A = sp.kronsum(A, t)
    return sp.csr_array(A)


@pytest.mark.parametrize("vt", ["float32", "float64"])
@pytest.mark.parametrize("dim,n", [(2, 40), (3, 14)])
def test_amg_preconditioned_cg(device, vt, dim, n):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")
    mx.set_default_device(device)
    dt = mx.float32 if vt == "float32" else mx.float64
    S = _poisson(n, dim)
    A = ms.csr_array(S, dtype=dt)
    M = ms.linalg.amg(A, max_coarse=50)
    assert len(M.sizes) >= 3 and M.sizes[0] == S.shape[0] and 1.0 <= M.operator_complexity < 2.5
    b = mx.array(np.random.default_rng(0).standard_normal(S.shape[0]), dtype=dt)
    rtol = 1e-5 if vt == "float32" else 1e-10
    its = {}
    for key, P in (("none", None), ("amg", M)):
        calls = []
        x, info = ms.linalg.cg(A, b, M=P, rtol=rtol, maxiter=2000, callback=calls.append)
        assert info == 0
        its[key] = len(calls)
    r = np.array(b).astype(np.float64) - S @ to_host(x).astype(np.float64)
    assert np.linalg.norm(r) <= 20 * rtol * np.linalg.norm(np.array(b).astype(np.float64))
    assert its["amg"] <= 25 and its["amg"] < its["none"] / 2, its
    # the cycle is symmetric (CG needs it): <M u, v> = <u, M v>, and linear
    rng = np.random.default_rng(1)
    u, v = (mx.array(rng.standard_normal(S.shape[0]), dtype=dt) for _ in range(2))
    muv, umv = float(mx.sum((M @ u) * v).item()), float(mx.sum(u * (M @ v)).item())
    assert abs(muv - umv) <= (1e-4 if vt == "float32" else 1e-10) * max(abs(muv), 1.0)
    U = mx.stack([u, v], axis=1)
    np.testing.assert_allclose(to_host(M @ U)[:, 1], to_host(M @ v), rtol=1e-4, atol=1e-5)


def test_amg_errors_and_small_matrices():
    with pytest.raises(TypeError, match="amg"):
        ms.linalg.amg(np.eye(3))
    with pytest.raises(ValueError, match="amg"):
        ms.linalg.amg(ms.csr_array(np.ones((2, 3), np.float32)))
    # a matrix at or below max_coarse: a one-level "hierarchy" (the dense inverse), exact
    S = _poisson(5, 2)
    M = ms.linalg.amg(ms.csr_array(S, dtype=mx.float64))
    b = np.arange(S.shape[0], dtype=np.float64)
    np.testing.assert_allclose(np.array(M @ mx.array(b, dtype=mx.float64)), np.linalg.solve(S.toarray(), b), rtol=1e-10)
    M2 = ms.linalg.amg(ms.csr_array(_poisson(20, 2)), max_coarse=30, presmooth=2, postsmooth=1)
    M2 @ mx.ones((400,))
    with pytest.raises(NotImplementedError, match="presmooth == postsmooth"):
        M2.H @ mx.ones((400,))
    with pytest.raises(ValueError, match="zero on its diagonal"):
        ms.linalg.amg(ms.csr_array(sp.csr_array(sp.diags([1.0, 0.0, 1.0] * 200))), max_coarse=10)


def test_poisson_example_runs():
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, os.path.join(here, "..", "examples", "poisson.py"), "--n", "48", "--cpu"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "CG + AMG: info 0" in r.stdout and "max u = 0.07" in r.stdout
