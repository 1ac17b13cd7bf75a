"""mx.vmap, derivatives through conversions, higher-order derivatives, and the errors raised for
derivatives with respect to index arrays; every result against scipy or a dense MLX equivalent."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import random_coo, rel_err, to_host


def _rand(shape, vt="float32", seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if vt == "complex64":
        a = a + 1j * rng.standard_normal(shape)
        return mx.array(a.astype(np.complex64))
    return mx.array(a.astype(np.float32))


def _csr(m, n, nnz, vt="float32", seed=0, device=mx.cpu):
    data, row, col = random_coo(m, n, nnz, vt, seed=seed)
    A = ms.coo_array((data, (row, col)), shape=(m, n)).tocsr(stream=device)
    return A, A.to_scipy().astype(np.complex128)


@pytest.mark.parametrize("vt", ["float32", "complex64"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "T"])
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("axes", [(0, 0), (1, 0), (-1, 1)], ids=lambda a: f"in{a[0]}out{a[1]}")
def test_vmap_over_dense_operand(device, vt, fmt, k, axes):
    m, n, B = 23, 17, 5
    A, S = _csr(m, n, 90, vt, seed=1, device=device)
    if fmt == "csc":
        A = ms.csc_array((S if vt == "complex64" else S.real).tocsc().astype(np.complex64 if vt == "complex64" else np.float32))
    elif fmt == "coo":
        A = ms.coo_array((S if vt == "complex64" else S.real).tocoo().astype(np.complex64 if vt == "complex64" else np.float32))
    elif fmt == "T":
        A, S = A.T, S.T
    rows_in = S.shape[1]
    per = (rows_in,) if k is None else (rows_in, k)
    Xs = _rand((B,) + per, vt, seed=2)  # per-sample operands, batch first
    in_ax, out_ax = axes
    Xb = mx.moveaxis(Xs, 0, in_ax)
    with mx.stream(device):
        Y = mx.vmap(lambda x: mx.sin(A @ x) * 2, in_axes=in_ax, out_axes=out_ax)(Xb)
    Y = np.moveaxis(to_host(Y), out_ax, 0)
    ref = np.stack([np.sin(S @ to_host(Xs[b]).astype(np.complex128)) * 2 for b in range(B)])
    assert Y.shape == ref.shape
    assert rel_err(Y, ref) < 1e-5


def test_vmap_over_values_and_structure(device):
    m, n, B = 14, 11, 4
    A, S = _csr(m, n, 50, seed=3, device=device)
    D = mx.stack([A.data * (b + 1) for b in range(B)])
    x = _rand((n,), seed=4)
    idx, ptr = A.indices, A.indptr

    def f(d):
        return ms.csr_array((d, idx, ptr), shape=(m, n), validate=False) @ x

    def g(d):
        return ms.csr_array((d, idx, ptr), shape=(m, n), validate=False).todense()

    with mx.stream(device):
        y = mx.vmap(f)(D)
        dense = mx.vmap(g, in_axes=1, out_axes=2)(D.T)
        both = mx.vmap(lambda d, xx: ms.csr_array((d, idx, ptr), shape=(m, n), validate=False) @ xx)(D, mx.stack([x] * B))
    for b in range(B):
        ref = (b + 1) * (S @ np.array(x))
        assert rel_err(to_host(y[b]), ref) < 1e-5
        assert rel_err(to_host(both[b]), ref) < 1e-5
        assert rel_err(to_host(dense[:, :, b]), (b + 1) * S.toarray()) < 1e-6
    # a batch of structures (column indices shifted per batch entry) with the same row pointer
    shifted = mx.stack([(idx + b) % n for b in range(B)])
    with mx.stream(device):
        ys = mx.vmap(lambda i: ms.csr_array((A.data, i, ptr), shape=(m, n), validate=False) @ x)(shifted)
    for b in range(B):
        Sb = sp.csr_array((S.data, (np.array(idx) + b) % n, S.indptr), shape=(m, n))
        assert rel_err(to_host(ys[b]), Sb @ np.array(x)) < 1e-5


def test_vmap_grad_and_grad_vmap(device):
    m, n, B = 19, 13, 6
    A, S = _csr(m, n, 70, seed=5, device=device)
    Xs = _rand((B, n), seed=6)

    def loss(x):
        return mx.sum((A @ x) ** 2)

    with mx.stream(device):
        per_sample = mx.vmap(mx.grad(loss))(Xs)  # 2 A^T A x per sample
        total = mx.grad(lambda X: mx.sum(mx.vmap(lambda x: (A @ x) ** 2)(X)))(Xs)
    St = S.T
    ref = np.stack([2 * (St @ (S @ np.array(Xs[b]))) for b in range(B)])
    assert rel_err(to_host(per_sample), ref) < 1e-5
    assert rel_err(to_host(total), ref) < 1e-5


def test_second_order(device):
    """Hessian-vector products through the product nodes (their rules are themselves product nodes)."""
    m, n = 16, 12
    A, S = _csr(m, n, 60, seed=7, device=device)
    d0, x0, v = A.data, _rand((n,), seed=8), _rand((n,), seed=9)
    idx, ptr = A.indices, A.indptr

    def loss(d, x):
        return mx.sum((ms.csr_array((d, idx, ptr), shape=(m, n), validate=False) @ x) ** 3)

    with mx.stream(device):
        hv = mx.jvp(lambda x: mx.grad(loss, argnums=1)(d0, x), [x0], [v])[1][0]
        # mixed: d/dx of sum(grad_d)
        mixed = mx.grad(lambda x: mx.sum(mx.grad(loss, argnums=0)(d0, x)))(x0)
    Sd, x, vv = S.real, np.array(x0, dtype=np.float64), np.array(v, dtype=np.float64)
    y = Sd @ x
    assert rel_err(to_host(hv), Sd.T @ (6 * y * (Sd @ vv))) < 1e-4
    # grad_d_j = 3 y_r^2 x_c  ->  sum_j: d/dx_c = sum_j [6 y_r A_rc x_c * ... ]: dense reference by MLX
    rows = np.repeat(np.arange(m), np.diff(np.array(ptr)))
    cols = np.array(idx)
    D = lambda d: mx.zeros((m, n)).at[mx.array(rows), mx.array(cols)].add(d)  # noqa: E731
    with mx.stream(mx.cpu):
        ref = mx.grad(lambda x: mx.sum(mx.grad(lambda d, xx: mx.sum((D(d) @ xx) ** 3))(d0, x)))(x0)
    assert rel_err(to_host(mixed), to_host(ref)) < 1e-4


@pytest.mark.parametrize("canonical", [False, True])
def test_derivatives_through_tocsr(device, canonical):
    m, n = 15, 10
    data, row, col = random_coo(m, n, 70, seed=10)  # duplicates, unsorted, explicit zeros
    r, c = mx.array(row.astype(np.int32)), mx.array(col.astype(np.int32))
    x = _rand((n,), seed=11)

    def f(d):
        A = ms.coo_array((d, (r, c)), shape=(m, n)).tocsr(canonical=canonical, stream=device)
        return mx.sum(mx.sin(A @ x)) + mx.sum(A.todense(stream=device) ** 2)

    def dense_f(d):
        Dn = mx.zeros((m, n)).at[r, c].add(d)
        return mx.sum(mx.sin(Dn @ x)) + mx.sum(Dn ** 2)

    d0, t = mx.array(data.astype(np.float32)), _rand((data.size,), seed=12)
    with mx.stream(device):
        g = mx.grad(f)(d0)
        jv = mx.jvp(f, [d0], [t])[1][0]
    with mx.stream(mx.cpu):
        gref = mx.grad(dense_f)(d0)
        jref = mx.sum(gref * t)  # f is scalar: jvp = <grad, t>
    assert rel_err(to_host(g), to_host(gref)) < 1e-5
    assert rel_err(to_host(jv), to_host(jref)) < 1e-5


def _raises_index_error(fn, *args):
    with pytest.raises(ValueError, match="index arrays|indices"):  # ours, or MLX gather's
        mx.eval(fn(*args))


def test_derivatives_wrt_index_arrays_raise(device):
    m, n = 9, 7
    A, S = _csr(m, n, 25, seed=13, device=device)
    d, idx, ptr = A.data, A.indices, A.indptr
    x = _rand((n,), seed=14)
    coo = S.tocoo()
    r, c = mx.array(coo.row.astype(np.int32)), mx.array(coo.col.astype(np.int32))
    dc = mx.array(coo.data.real.astype(np.float32))

    def via_csr(i, p):
        return mx.sum(ms.csr_array((d, i, p), shape=(m, n), validate=False) @ x)

    def via_csc(i, p):
        return mx.sum(ms.csc_array((d, i, p), shape=(n, m), validate=False).T @ x)

    def via_dense(i, p):
        return mx.sum(ms.csr_array((d, i, p), shape=(m, n), validate=False).todense())

    def via_coo(rr, cc):
        return mx.sum(ms.coo_array((dc, (rr, cc)), shape=(m, n)).tocsr(canonical=False, stream=device) @ x)

    with mx.stream(device):
        for fn, args in ((via_csr, (idx, ptr)), (via_csc, (idx, ptr)), (via_dense, (idx, ptr)), (via_coo, (r, c))):
            for argnum in (0, 1):
                _raises_index_error(mx.grad(fn, argnums=argnum), *args)
            _raises_index_error(lambda *a: mx.vjp(fn, list(a), [mx.array(1.0)])[1], *args)
            _raises_index_error(lambda *a: mx.jvp(lambda i: fn(i, a[1]), [a[0]], [mx.ones_like(a[0])])[1], *args)
            # the values stay differentiable with the same structure
            assert mx.grad(lambda dd: fn(*args) * 0 + mx.sum(dd))(d).shape == d.shape


def test_compile_vmap_grad_together():
    m, n, B = 21, 15, 4
    A, S = _csr(m, n, 80, seed=15)
    idx, ptr = A.indices, A.indptr

    @mx.compile
    def step(d, X):
        def loss(d):
            B_ = ms.csr_array((d, idx, ptr), shape=(m, n), validate=False)
            return mx.sum(mx.vmap(lambda x: B_ @ x)(X) ** 2)

        return mx.value_and_grad(loss)(d)

    X = _rand((B, n), seed=16)
    for scale in (1.0, 2.0):
        val, g = step(A.data * scale, X)
        Ss = S.real * scale
        Y = np.array(X) @ Ss.T
        assert abs(val.item() - np.sum(Y ** 2)) < 1e-4 * np.sum(Y ** 2)
        rows = np.repeat(np.arange(m), np.diff(S.indptr))
        gref = np.einsum("br,bc->rc", 2 * Y, np.array(X))[rows, S.indices]
        assert rel_err(to_host(g), gref) < 1e-5


@pytest.mark.parametrize("vt", ["float32", "complex64", "float64", "float16"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_scalar_ops_and_reductions(device, vt, fmt):
    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 is CPU-only")
    m, n = 17, 12
    data, row, col = random_coo(m, n, 60, vt, seed=20)  # duplicates and explicit zeros included
    S = sp.coo_array((data.astype(np.complex128), (row, col)), shape=(m, n))
    dt = {"float32": mx.float32, "complex64": mx.complex64, "float64": mx.float64, "float16": mx.float16}[vt]
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=dt)
    A = {"coo": A, "csr": A.tocsr(canonical=False, stream=device), "csc": ms.csc_array((S if vt == "complex64" else S.real).tocsc(), dtype=dt)}[fmt]
    tol = 3e-3 if vt == "float16" else 1e-5
    D = S.toarray()
    with mx.stream(device):
        results = {
            "sum": (A.sum(), D.sum()),
            "sum0": (A.sum(axis=0), D.sum(axis=0)),
            "sum1": (A.sum(axis=1), D.sum(axis=1)),
            "mean": (A.mean(), D.mean()),
            "mean1": (A.mean(axis=1), D.mean(axis=1)),
            "scale": ((2.5 * A).todense(), 2.5 * D),
            "div": ((A / 4).todense(), D / 4),
            "neg": ((-A).todense(), -D),
            "conj": (A.conj().todense(), D.conj()),
            "abs": (abs(A).todense(), np.abs(S).toarray()),
            "power": (A.power(2).todense(), S.power(2).toarray()),
            "dense": ((A * mx.arange(n, dtype=mx.float32)).todense(), D * np.arange(n)),
        }
    for name, (got, ref) in results.items():
        assert got.dtype in (dt, mx.float32) or name == "abs", name
        assert rel_err(to_host(got), ref) < tol, name
    assert type(2 * A) is type(A) and type(A.T) is not None
    with pytest.raises(ValueError, match="axis"):
        A.sum(axis=2)
    with pytest.raises(TypeError, match="divide"):
        A / mx.ones((3,))


def test_grad_through_reductions_scalar_ops_astype_and_transposes(device):
    m, n = 11, 9
    data, row, col = random_coo(m, n, 40, seed=21, dups=False)
    r, c = mx.array(row.astype(np.int32)), mx.array(col.astype(np.int32))
    x = _rand((m,), seed=22)

    def f(d):
        A = ms.coo_array((d, (r, c)), shape=(m, n)).tocsr(canonical=False, stream=device)
        B = (-(2 * A) / -(8 / 7)).astype(mx.float16).astype(mx.float32)  # 1.75 A
        return mx.sum(B.sum(axis=0) ** 2) + mx.sum(B.T @ x) + A.power(2).mean() + mx.sum(B.sum(axis=1))

    def dense_f(d):
        D = mx.zeros((m, n)).at[r, c].add(d)
        B = 1.75 * D
        return mx.sum(mx.sum(B, axis=0) ** 2) + mx.sum(B.T @ x) + mx.sum(D ** 2) / (m * n) + mx.sum(B)

    d0 = mx.array(data.astype(np.float32))
    with mx.stream(device):
        g = mx.grad(f)(d0)
    with mx.stream(mx.cpu):
        gref = mx.grad(dense_f)(d0)
    assert rel_err(to_host(g), to_host(gref)) < 2e-3  # a float16 round trip inside


@pytest.mark.parametrize("canonical", [False, True])
def test_tocsr_and_reductions_against_finite_differences(canonical):
    """float64 on the CPU: gradients through tocsr (permutation / duplicate sums), todense, sum and
    power against central differences."""
    m, n = 9, 7
    data, row, col = random_coo(m, n, 30, "float64", seed=30)  # duplicates included
    r, c = mx.array(row.astype(np.int32)), mx.array(col.astype(np.int32))
    x = mx.array(np.random.default_rng(1).standard_normal(n), dtype=mx.float64)

    def loss(d):
        A = ms.coo_array((d, (r, c)), shape=(m, n)).tocsr(canonical=canonical, stream=mx.cpu)
        return mx.sum((A @ x) ** 3) + mx.sum(A.sum(axis=0) ** 2) + mx.sum(A.todense() * 0.5) + A.power(2).sum()

    d0 = np.array(data, dtype=np.float64)
    g = np.array(mx.grad(loss)(mx.array(d0, dtype=mx.float64)))
    eps = 1e-6
    for j in (0, 5, len(d0) // 2, len(d0) - 1):
        e = np.zeros_like(d0)
        e[j] = eps
        fd = (loss(mx.array(d0 + e, dtype=mx.float64)).item() - loss(mx.array(d0 - e, dtype=mx.float64)).item()) / (2 * eps)
        assert abs(fd - g[j]) < 1e-5 * max(1.0, abs(fd)), j


def test_float64_scalars_keep_their_precision():
    """A float64 array times, over, to the power of a Python or NumPy scalar: the scalar in float64
    (MLX reads a bare Python float as float32, 1.3 -> 1.2999999523)."""
    S = sp.random(6, 5, density=0.5, format="csr", random_state=1)
    A = ms.csr_array(S, dtype=mx.float64)
    for c in (1.3, np.float64(1.3), 7):
        np.testing.assert_allclose(np.array((A * c).todense()), S.toarray() * c, rtol=1e-15, atol=0)
        np.testing.assert_allclose(np.array((c * A).todense()), S.toarray() * c, rtol=1e-15, atol=0)
        np.testing.assert_allclose(np.array((A / c).todense()), S.toarray() / c, rtol=1e-15, atol=0)
    np.testing.assert_allclose(np.array(A.power(1.3).todense()), S.power(1.3).toarray(), rtol=1e-14, atol=0)
