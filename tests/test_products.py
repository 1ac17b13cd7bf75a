"""Sparse x dense products against scipy: A @ X, batches, transposes, dense @ sparse, sddmm, multiply,
and autodiff (vjp/jvp against dense equivalents and finite differences), on every format."""

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp

import mlx_sparse as ms
from conftest import GPU_VALUE_DTYPES, INDEX_DTYPES, RTOL, VALUE_DTYPES, random_coo, rel_err, scipy_coo, to_host

SHAPES = [(0, 5, 0), (6, 0, 0), (1, 1, 1), (13, 9, 40), (300, 200, 5000)]


def _skip(device, vt):
    if device == mx.gpu and vt not in GPU_VALUE_DTYPES:
        pytest.skip("float64 is CPU-only")


def _dense(shape, vt, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if vt == "complex64":
        a = a + 1j * rng.standard_normal(shape)
    return mx.array(a.astype(VALUE_DTYPES[vt][1])).astype(VALUE_DTYPES[vt][0])


def _mats(m, n, nnz, vt, it, seed=0):
    data, row, col = random_coo(m, n, nnz, vt, seed=seed)
    coo = ms.coo_array((data, (row, col)), shape=(m, n), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    ref = scipy_coo(data, row, col, (m, n)).tocsr()
    return coo, ref


def _ref64(x):
    return to_host(x).astype(np.complex128)


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("k", [1, 3, 70])
def test_matmul_every_format(device, vt, it, shape, k):
    _skip(device, vt)
    m, n, nnz = shape
    coo, ref = _mats(m, n, nnz, vt, it, seed=k)
    X = _dense((n, k), vt, 1)
    csr = coo.tocsr(canonical=False, stream=device)
    csc = ms.csc_array(ref.tocsc(), dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    expect = ref @ _ref64(X)
    tol = 4 * RTOL[vt]
    with mx.stream(device):
        for A in (coo, csr, csc):
            Y = A @ X
            assert Y.shape == (m, k) and Y.dtype == VALUE_DTYPES[vt][0]
            assert rel_err(_ref64(Y), expect) <= tol, A.format


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_transposes_and_dense_at_sparse(device, vt, it, shape):
    _skip(device, vt)
    m, n, nnz = shape
    coo, ref = _mats(m, n, nnz, vt, it, seed=5)
    A = coo.tocsr(stream=device)
    x, X = _dense((m,), vt, 2), _dense((m, 4), vt, 3)
    tol = 4 * RTOL[vt]
    with mx.stream(device):
        assert A.T.shape == (n, m) and A.T.format == "csc"
        assert rel_err(_ref64(A.T @ x), ref.T @ _ref64(x)) <= tol
        assert rel_err(_ref64(A.H @ X), ref.conj().T @ _ref64(X)) <= tol
        assert rel_err(_ref64(A.T.T @ _dense((n,), vt, 4)), ref @ _ref64(_dense((n,), vt, 4))) <= tol
        P = _dense((3, m), vt, 6)
        assert rel_err(_ref64(ms.rmatmul(P, A)), _ref64(P) @ ref) <= tol
        assert rel_err(_ref64(ms.rmatmul(x, A)), _ref64(x) @ ref) <= tol
        assert rel_err(_ref64(A.T.todense()), ref.T.toarray()) <= tol
        assert rel_err(_ref64(A.T.tocsr().todense()), ref.T.toarray()) <= tol


def test_numpy_left_operand_defers():
    s = sp.random(8, 5, density=0.4, format="csr", random_state=0, dtype=np.float32)
    A = ms.csr_array(s)
    x = np.arange(8, dtype=np.float32)
    np.testing.assert_allclose(np.array(x @ A), x @ s, rtol=1e-5)


@pytest.mark.parametrize("vt", ["float32", "complex64", "bfloat16"])
def test_batched(device, vt):
    coo, ref = _mats(40, 30, 300, vt, "int32", seed=2)
    A = coo.tocsr(stream=device)
    xb = _dense((2, 3, 30), vt, 7)
    Xb = _dense((2, 30, 5), vt, 8)
    with mx.stream(device):
        y = ms.csr_matvec(A, xb)
        assert y.shape == (2, 3, 40)
        assert rel_err(_ref64(y), np.einsum("mn,abn->abm", ref.toarray(), _ref64(xb))) <= 4 * RTOL[vt]
        Y = A @ Xb
        assert Y.shape == (2, 40, 5)
        assert rel_err(_ref64(Y), np.einsum("mn,bnk->bmk", ref.toarray(), _ref64(Xb))) <= 4 * RTOL[vt]
        # batch b equals the single product
        assert rel_err(_ref64(Y[1]), _ref64(A @ Xb[1])) <= 4 * RTOL[vt]


@pytest.mark.parametrize("vt", ["float32", "float64", "complex64"])
def test_sddmm_and_multiply(device, vt):
    _skip(device, vt)
    coo, ref = _mats(20, 15, 80, vt, "int32", seed=4)
    A = coo.tocsr(stream=device)
    X, Y = _dense((20, 6), vt, 1), _dense((6, 15), vt, 2)
    with mx.stream(device):
        S = ms.sddmm(A, X, Y)
        assert S.format == "csr" and S.nnz == A.nnz
        expect = ref.multiply(_ref64(X) @ _ref64(Y)).toarray()
        assert rel_err(_ref64(S.todense()), expect) <= 4 * RTOL[vt]
        D = _dense((20, 15), vt, 3)
        assert rel_err(_ref64(A.multiply(D).todense()), ref.multiply(_ref64(D)).toarray()) <= 4 * RTOL[vt]
        r = _dense((15,), vt, 4)  # broadcast along rows
        assert rel_err(_ref64(A.multiply(r).todense()), ref.multiply(_ref64(r)[None, :]).toarray()) <= 4 * RTOL[vt]
        assert rel_err(_ref64(A.multiply(mx.array(2.0)).todense()), 2 * ref.toarray()) <= 4 * RTOL[vt]
    with pytest.raises(ValueError, match="sddmm"):
        ms.sddmm(A, X, Y.T)
    with pytest.raises(ValueError, match="multiply"):
        A.multiply(mx.ones((3, 3)))


def _dense_equivalent(m, n, rows, cols):
    def build(d):
        return mx.zeros((m, n), dtype=d.dtype).at[rows, cols].add(d)

    return build


@pytest.mark.parametrize("vt", ["float32", "complex64"])
@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("k", [None, 3])
def test_vjp_and_jvp_match_dense(device, vt, trans, k):
    m, n = 25, 18
    data, row, col = random_coo(m, n, 120, vt, seed=3)
    A0 = ms.coo_array((data, (row, col)), shape=(m, n)).tocsr(stream=device)
    idx, ptr = A0.indices, A0.indptr
    rows = mx.array(np.repeat(np.arange(m), np.diff(np.array(ptr))).astype(np.int32))
    dense = _dense_equivalent(m, n, rows, idx)
    rows_in = m if trans else n
    x = _dense((rows_in,) if k is None else (rows_in, k), vt, 9)
    d0 = A0.data

    def sparse_fn(d, x):
        A = ms.csr_array((d, idx, ptr), shape=(m, n), validate=False)  # built inside: no sync
        return (A.T @ x) if trans else (A @ x)

    def dense_fn(d, x):
        D = dense(d)
        return (D.T @ x) if trans else (D @ x)

    g = _dense((n if trans else m,) if k is None else (n if trans else m, k), vt, 11)
    td, tx = _dense(d0.shape, vt, 12), _dense(x.shape, vt, 13)
    with mx.stream(mx.cpu):  # dense references on the CPU (MLX's GPU matmul may use TF32)
        out_d = dense_fn(d0, x)
        _, vd = mx.vjp(dense_fn, [d0, x], [g])
        jd = dense_fn(td, x) + dense_fn(d0, tx)  # the product is bilinear (MLX's scatter has no jvp)
    with mx.stream(device):
        out_s = sparse_fn(d0, x)
        _, vs = mx.vjp(sparse_fn, [d0, x], [g])
        _, js = mx.jvp(sparse_fn, [d0, x], [td, tx])
    assert rel_err(_ref64(out_s), _ref64(out_d)) < 1e-5
    for a, b in zip(vs, vd):
        assert rel_err(_ref64(a), _ref64(b)) < 1e-5
    assert rel_err(_ref64(js[0]), _ref64(jd)) < 1e-5


def test_grad_finite_differences():
    m, n = 12, 9
    data, row, col = random_coo(m, n, 40, "float64", seed=1, dups=False)
    A = ms.coo_array((data, (row, col)), shape=(m, n), dtype=mx.float64).tocsr()
    idx, ptr = A.indices, A.indptr
    x = mx.array(np.random.default_rng(0).standard_normal(n), dtype=mx.float64)

    def loss(d, x):
        B = ms.csr_array((d, idx, ptr), shape=(m, n), validate=False)
        return mx.sum((B @ x) ** 2 * (B @ (x * x)))  # polynomial: MLX's float64 sin is float32-accurate

    gd, gx = mx.grad(loss, argnums=(0, 1))(A.data, x)
    eps = 1e-6
    d_np, x_np = np.array(A.data), np.array(x)
    for j in (0, 7, len(d_np) - 1):
        e = np.zeros_like(d_np)
        e[j] = eps
        fd = (loss(mx.array(d_np + e, dtype=mx.float64), x).item() - loss(mx.array(d_np - e, dtype=mx.float64), x).item()) / (2 * eps)
        assert abs(fd - np.array(gd)[j]) < 1e-6 * max(1, abs(fd))
    for j in (0, n - 1):
        e = np.zeros_like(x_np)
        e[j] = eps
        fd = (loss(A.data, mx.array(x_np + e, dtype=mx.float64)).item() - loss(A.data, mx.array(x_np - e, dtype=mx.float64)).item()) / (2 * eps)
        assert abs(fd - np.array(gx)[j]) < 1e-6 * max(1, abs(fd))


def test_grad_through_todense_multiply_sddmm_and_astype():
    m, n = 10, 8
    data, row, col = random_coo(m, n, 30, "float32", seed=2, dups=False)
    A = ms.coo_array((data, (row, col)), shape=(m, n)).tocsr()
    idx, ptr = A.indices, A.indptr
    X, Y = _dense((m, 3), "float32", 1), _dense((3, n), "float32", 2)
    rows = mx.array(np.repeat(np.arange(m), np.diff(np.array(ptr))).astype(np.int32))
    dense = _dense_equivalent(m, n, rows, idx)

    def s_fn(d, X):
        B = ms.csr_array((d, idx, ptr), shape=(m, n), validate=False)
        return mx.sum(ms.sddmm(B, X, Y).astype(mx.float32).todense() ** 2) + mx.sum(B.multiply(X[:, :1]).todense())

    def d_fn(d, X):
        D = dense(d)
        return mx.sum((D * (X @ Y)) ** 2) + mx.sum(D * X[:, :1])

    gs = mx.grad(s_fn, argnums=(0, 1))(A.data, X)
    gd = mx.grad(d_fn, argnums=(0, 1))(A.data, X)
    for a, b in zip(gs, gd):
        assert rel_err(np.array(a), np.array(b)) < 1e-5


def test_compile():
    s = sp.random(30, 20, density=0.3, format="csr", random_state=0, dtype=np.float32)
    A = ms.csr_array(s)
    f = mx.compile(lambda x: mx.sin(A @ x) + 1.0)
    x = mx.array(np.random.default_rng(0).standard_normal(20).astype(np.float32))
    np.testing.assert_allclose(np.array(f(x)), np.sin(s @ np.array(x)) + 1.0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(f(2 * x)), np.sin(s @ (2 * np.array(x))) + 1.0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_paged_buffers(device, it):
    """Paged (2-D) data/indices, the form that holds more than 2^31 - 1 entries: products, todense,
    host copies and value gradients match scipy; other operations raise ValueError."""
    S = sp.random(60, 45, density=0.15, format="csr", random_state=3, dtype=np.float32)
    P = 16
    pad = (-S.nnz) % P  # the last row is padded with explicit zeros
    ind = np.concatenate([S.indices, np.zeros(pad, np.int64)]).reshape(-1, P).astype(np.int32 if it == "int32" else np.int64)
    dat = np.concatenate([S.data, np.zeros(pad, np.float32)]).reshape(-1, P)
    ptr = S.indptr.astype(np.int64)
    ptr[-1] += pad
    A = ms.csr_array((mx.array(dat), mx.array(ind), ptr), shape=S.shape, index_dtype=INDEX_DTYPES[it])
    assert A.paged and A.nnz == S.nnz + pad and A.indices.shape == (dat.shape[0], P)
    x, X, z = _dense((45,), "float32", 1), _dense((45, 7), "float32", 2), _dense((60,), "float32", 3)
    with mx.stream(device):
        assert rel_err(to_host(A @ x), S @ np.array(x)) < 1e-5
        assert rel_err(to_host(A @ X), S @ np.array(X)) < 1e-5
        assert rel_err(to_host(A.T @ z), S.T @ np.array(z)) < 1e-5
        assert rel_err(to_host(A.todense()), S.toarray()) < 1e-6
        g = mx.grad(lambda d: mx.sum(ms.csr_array((d, A.indices, A.indptr), shape=S.shape, validate=False) @ x))(A.data)
    rows = np.repeat(np.arange(60), np.diff(ptr))
    assert g.shape == A.data.shape
    assert rel_err(to_host(g).reshape(-1), np.array(x)[ind.reshape(-1)] * (rows >= 0)) < 1e-6
    assert abs(A.to_scipy() - S).max() == 0
    for fn in (lambda: A.sum_duplicates(), lambda: A.multiply(mx.ones((60, 45))), lambda: ms.sddmm(A, mx.ones((60, 2)), mx.ones((2, 45)))):
        with pytest.raises(ValueError, match="paged"):
            fn()
    with pytest.raises(ValueError, match="one shape"):
        ms.csr_array((mx.array(dat), mx.array(ind.reshape(P, -1)), ptr), shape=S.shape)


def test_bad_operands_raise_typeerror_naming_the_operation():
    S = sp.random(6, 5, density=0.4, format="csr", random_state=4, dtype=np.float32)
    A = ms.csr_array(S)
    cases = [
        ("matmul", lambda: A @ S), ("matmul", lambda: A @ "x"),
        ("multiply", lambda: A * "x"), ("divide", lambda: A / "x"),
        ("divide", lambda: A / mx.ones((2,))), ("rmatmul", lambda: ms.rmatmul(A, A)),
        ("sddmm", lambda: ms.sddmm(A, "a", mx.ones((2, 5)))), ("power", lambda: A.power(None)),
    ]
    for op, fn in cases:
        with pytest.raises(TypeError, match=op):
            fn()
    with pytest.raises(ValueError, match="power"):
        A.power(0)


def test_coo_products_transposes_and_cached_csr(device):
    S = sp.random(16, 11, density=0.3, format="coo", random_state=5, dtype=np.complex64)
    A = ms.coo_array(S)
    x11, x16 = _dense((11,), "complex64", 1), _dense((16,), "complex64", 2)
    with mx.stream(device):
        got = {
            "A x": (A @ x11, S @ np.array(x11)),
            "A.T x": (A.T @ x16, S.T @ np.array(x16)),
            "A.H x": (A.H @ x16, S.conj().T @ np.array(x16)),
            "x A": (ms.rmatmul(x16, A), np.array(x16) @ S),
            "A (x, x)": (A @ mx.stack([x11, x11], axis=1), S @ np.stack([np.array(x11)] * 2, axis=1)),
        }
        for name, (y, ref) in got.items():
            assert rel_err(to_host(y), ref) < 1e-5, name
        first = A._compressed(device)
        assert A._compressed(device) is first  # converted once per stream
        assert A.T._compressed(device).indices is first.indices  # A.T: a CSC view of it, no new sort
        A.data = A.data * 2  # replaced buffers invalidate the cached form
        assert rel_err(to_host(A @ x11), 2 * (S @ np.array(x11))) < 1e-5


@pytest.mark.parametrize("nnz", [120, 101])
def test_host_buffers_beyond_the_1d_limit_are_paged(monkeypatch, device, nnz):
    """Host buffers longer than MLX's largest 1-D array become paged automatically (the limit is
    lowered here so that small arrays exercise it): exact pages when a divisor fits, else the last
    row padded with explicit zeros."""
    import mlx_sparse._coerce as coerce

    monkeypatch.setattr(coerce, "_PAGE_LIMIT", 100)
    m, n = 30, 17
    rng = np.random.default_rng(nnz)
    lens = np.full(m, nnz // m)
    lens[: nnz % m] += 1
    indptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    indices = rng.integers(0, n, nnz).astype(np.int32)
    data = rng.standard_normal(nnz).astype(np.float32)
    S = sp.csr_array((data, indices, indptr), shape=(m, n))
    A = ms.csr_array((data, indices, indptr), shape=(m, n))
    assert A.paged and A.data.ndim == 2 and A.data.shape[1] <= 100
    assert A.nnz == nnz if nnz == 120 else A.nnz > nnz  # 101 is prime: padded with explicit zeros
    x = _dense((n,), "float32", 3)
    with mx.stream(device):
        assert rel_err(to_host(A @ x), S @ np.array(x)) < 1e-5
        assert rel_err(to_host(A.todense()), S.toarray()) < 1e-6
    assert abs(A.to_scipy() - S).max() == 0


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def _power_law(vt, m=4000, n=3000, seed=11, order=None):
    """Power-law row lengths: empty rows, a few rows of tens of thousands of entries, unsorted columns,
    duplicates; ``order="desc"`` puts the longest rows first."""
    rng = np.random.default_rng(seed)
    lens = np.minimum((rng.pareto(1.2, m) * 3).astype(np.int64), 30000)
    lens[rng.integers(0, m, 3)] = [25000, 9000, 3000]
    lens[::7] = 0
    if order == "desc":
        lens = np.sort(lens)[::-1].copy()
    rows = np.repeat(np.arange(m), lens)
    cols = rng.integers(0, n, rows.size)
    data = rng.standard_normal(rows.size) + (1j * rng.standard_normal(rows.size) if vt == "complex64" else 0)
    return sp.csr_matrix((data.astype(VALUE_DTYPES[vt][1]), cols, np.concatenate([[0], np.cumsum(lens)])), shape=(m, n))


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
@pytest.mark.parametrize("schedule", ["", "rows", "merge", "g1", "g32"])
@pytest.mark.parametrize("order", [None, "desc"])
def test_spmv_power_law_rows(monkeypatch, device, vt, it, schedule, order):
    """Uneven rows through every GPU SpMV schedule: the planned one (merge path here), lanes per row
    (long rows summed by the whole block) and the merge path forced."""
    _skip(device, vt)
    monkeypatch.setenv("MLX_SPARSE_SPMV", schedule)
    ref = _power_law(vt, order=order)
    A = ms.csr_array(ref, dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    x = _dense((ref.shape[1],), vt, 7)
    with mx.stream(device):
        y = A @ x
    assert rel_err(_ref64(y), ref.astype(np.complex128) @ _ref64(x)) <= 4 * RTOL[vt]


def test_spmv_schedule_is_planned_from_row_lengths():
    """Uneven rows get the merge path at construction from host buffers, or by analyze() for device-built
    structure; even rows keep lanes per row; arrays sharing the structure share the plan."""
    from mlx_sparse._spmv import MERGE_T, merge_coords
    from mlx_sparse._spmv import merge_plan as _merge_plan

    ref = _power_law("float32")
    A = ms.csr_array(ref)
    coords = _merge_plan(A.indptr, A.nnz)
    assert coords is not None and coords.dtype == mx.int32
    c = np.array(coords)
    m, nnz = ref.shape[0], ref.nnz
    assert c.size == -(-(m + nnz) // MERGE_T) + 1 and c[0] == 0 and c[-1] == m and np.all(np.diff(c) >= 0)
    b = 5  # rows ending before diagonal b*T, counted directly
    assert c[b] == np.sum(ref.indptr[1:] + np.arange(m) < b * MERGE_T)
    assert _merge_plan((A * 2.0).indptr, nnz) is coords and _merge_plan(A.astype(mx.float16).indptr, nnz) is coords
    even = ms.csr_array(sp.random(500, 400, density=0.02, format="csr", dtype=np.float32, random_state=1))
    assert _merge_plan(even.indptr, even.nnz) is None
    dev = ms.coo_array(ref.tocoo()).tocsr()  # built on the device: lanes until analyzed
    assert _merge_plan(dev.indptr, dev.nnz) is None
    expect = merge_coords(np.array(dev.indptr).astype(np.int64), dev.nnz)
    assert np.array_equal(np.array(_merge_plan(dev.analyze().indptr, dev.nnz)), expect)
    coo = ms.coo_array(ref.tocoo())  # COO products use a cached CSR form: analyze() plans that one
    form = coo._compressed()
    assert _merge_plan(form.indptr, form.nnz) is None
    assert coo.analyze() is coo and _merge_plan(coo._compressed().indptr, form.nnz) is not None
    assert np.array_equal(merge_coords(np.array([0, 0, 0]), 0), [0, 2])  # only empty rows


@pytest.mark.gpu
@pytest.mark.parametrize("vt", ["float32", "complex64"])
def test_merge_path_transforms(monkeypatch, vt):
    """grad (values and operand), jvp, vmap and compile through the merge-path SpMV: the same as through
    lanes per row (whose rules are checked against dense products elsewhere) and as scipy."""
    ref = _power_law(vt, m=1500, n=900, seed=3)
    dtype = VALUE_DTYPES[vt][0]
    A = ms.csr_array(ref, dtype=dtype)
    assert ms._spmv.merge_plan(A.indptr, A.nnz) is not None
    x, w, X = _dense((ref.shape[1],), vt, 8), _dense((ref.shape[0],), vt, 9), _dense((3, ref.shape[1]), vt, 10)
    expect = ref.astype(np.complex128) @ _ref64(x)

    def run():
        f = lambda d, v: mx.sum(mx.real(w * (ms.csr_array((d, A.indices, A.indptr), shape=A.shape) @ v)))  # noqa: E731
        with mx.stream(mx.gpu):
            gd, gx = mx.grad(f, argnums=(0, 1))(A.data, x)
            _, (t,) = mx.jvp(lambda v: A @ v, [x], [x])
            Y = mx.vmap(lambda v: A @ v)(X)
            yc = mx.compile(lambda v: A @ v)(x)
        return [_ref64(a) for a in (gd, gx, t, Y, yc)]

    merged = run()
    monkeypatch.setenv("MLX_SPARSE_SPMV", "rows")
    lanes = run()
    for got, ref_ in zip(merged, lanes):
        assert rel_err(got, ref_) <= 1e-5
    assert rel_err(merged[2], expect) <= 1e-4 and rel_err(merged[4], expect) <= 1e-4
    assert rel_err(merged[3], (ref.astype(np.complex128) @ _ref64(X).T).T) <= 1e-4


def test_repeated_products_follow_replaced_buffers(device):
    """Products keep a launch recipe per array and operand shape; replacing a buffer, changing the
    operand's shape or dtype, or switching streams must give the fresh answer, never a stale one."""
    ref = sp.random(60, 40, density=0.2, format="csr", dtype=np.float32, random_state=3)
    A = ms.csr_array(ref)
    rng = np.random.default_rng(4)
    x, xt = rng.standard_normal(40).astype(np.float32), rng.standard_normal(60).astype(np.float32)
    X3, X5 = rng.standard_normal((40, 3)).astype(np.float32), rng.standard_normal((40, 5)).astype(np.float32)
    with mx.stream(device):
        for _ in range(2):  # the second round runs from the recipes
            assert rel_err(to_host(A @ mx.array(x)), ref @ x) <= 1e-5
            assert rel_err(to_host(A.T @ mx.array(xt)), ref.T @ xt) <= 1e-5
            assert rel_err(to_host(A @ mx.array(X3)), ref @ X3) <= 1e-5
            assert rel_err(to_host(A @ mx.array(X5)), ref @ X5) <= 1e-5
            assert rel_err(to_host(ms.csr_matvec(A, mx.array(x))), ref @ x) <= 1e-5
        assert A.T is A.T  # the transposed view is kept while the buffers are unchanged
        A.data = -A.data  # replaced values: products and the transpose follow
        assert rel_err(to_host(A @ mx.array(x)), -(ref @ x)) <= 1e-5
        assert rel_err(to_host(A.T @ mx.array(xt)), -(ref.T @ xt)) <= 1e-5
        # another operand dtype takes the promoting path, not a float32 recipe
        y16 = A @ mx.array(x).astype(mx.float16)
        assert y16.dtype == mx.float32 and rel_err(to_host(y16), -(ref @ x)) <= 2e-3
    with mx.stream(mx.cpu):  # the same array and operand on another stream
        assert rel_err(to_host(A @ mx.array(x)), -(ref @ x)) <= 1e-5
    with pytest.raises(ValueError, match="shape mismatch"):
        A @ mx.array(xt)  # a wrong shape is still checked once recipes exist


@pytest.mark.parametrize("vt", list(VALUE_DTYPES))
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_banded_spmv_reads_16bit_offsets_after_analyze(vt, it, device):
    """analyze() (and construction from host buffers) keeps 16-bit column offsets for a structure within
    32767 of the diagonal; SpMV then reads them (same results as scipy, derivatives unchanged); wide
    structures keep none."""
    from mlx_sparse._spmv import d16_of as _d16_of

    _skip(device, vt)
    rng = np.random.default_rng(11)
    m = n = 40000
    band = sp.diags([rng.standard_normal(m - k) for k in (0, 1, 200, 32767)], [0, 1, 200, -32767], format="coo")
    zr = rng.integers(0, m - 300, 50)  # explicit zeros, and empty rows below
    row, col = np.concatenate([band.row, zr]), np.concatenate([band.col, zr + 300])
    keep = (row < 39000) | (row > 39100)
    ref = sp.csr_array((np.concatenate([band.data, np.zeros(50)])[keep], (row[keep], col[keep])), shape=(m, n))
    A = ms.csr_array(ref, dtype=VALUE_DTYPES[vt][0], index_dtype=INDEX_DTYPES[it])
    ref = sp.csr_array((to_host(A.data).astype(np.complex128), ref.indices, ref.indptr), shape=(m, n))  # as stored
    x = _dense((n,), vt, 12)
    # built from MLX arrays: no offsets until analyze(); built from host buffers (A): kept at construction
    P = ms.csr_array((A.data, A.indices + 0, A.indptr + 0), shape=A.shape)
    assert _d16_of(A.indices, A.indptr) is not None
    with mx.stream(device):
        y_plain = P @ x
        assert _d16_of(P.indices, P.indptr) is None
        assert P.analyze(stream=device) is P and _d16_of(P.indices, P.indptr) is not None
        assert A.analyze(stream=device) is A
        deltas = _d16_of(A.indices, A.indptr)
        assert deltas is not None and deltas.dtype == mx.int16 and deltas.size == A.nnz
        y = A @ x
        assert np.array_equal(to_host(y), to_host(y_plain))  # same order of summation: same bits
        assert rel_err(_ref64(y), ref @ _ref64(x)) <= 4 * RTOL[vt]
        if vt in ("float32", "float64"):
            g = mx.grad(lambda v: mx.sum(A @ v))(x)  # the derivative of the offsets product
            assert rel_err(_ref64(g), ref.T @ np.ones(m)) <= 4 * RTOL[vt]
    wide = ms.csr_array(sp.csr_array(([1.0], ([0], [32768])), shape=(2, 40000)).astype(np.float32))
    assert _d16_of(wide.analyze(stream=device).indices, wide.indptr) is None


def test_first_product_plans_an_evaluated_structure():
    """A CSR array built from evaluated MLX arrays (no analyze()) is planned at its first product (the 16-bit
    offsets of a banded structure kept, same results); one built from lazy arrays is left alone (no sync)."""
    from mlx_sparse._spmv import d16_of

    S = sp.csr_array(sp.diags([np.full(999, -1.0), np.full(1000, 2.0), np.full(999, -1.0)], [-1, 0, 1]),
                     dtype=np.float32)
    x = mx.array(np.random.default_rng(3).standard_normal(1000).astype(np.float32))
    ind, ip = mx.array(S.indices), mx.array(S.indptr)
    A = ms.csr_array((mx.array(S.data), ind, ip), shape=S.shape)
    assert d16_of(A.indices, A.indptr) is None
    y = A @ x
    assert d16_of(A.indices, A.indptr) is not None
    np.testing.assert_allclose(np.array(y), S @ np.array(x), rtol=1e-5, atol=1e-5)
    L = ms.csr_array((mx.array(S.data), ind + 0, ip + 0), shape=S.shape)  # lazy buffers
    y2 = L @ x
    assert d16_of(L.indices, L.indptr) is None
    np.testing.assert_allclose(np.array(y2), np.array(y), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("vt", ["float32", "float64", "complex64"])
@pytest.mark.parametrize("it", list(INDEX_DTYPES))
def test_repeated_transposed_products_gather_on_a_kept_transpose(device, vt, it):
    """A structure's first A^T product scatters, later ones gather on A^T's CSR kept with the structure
    once evaluated (built on the CPU, used on either device); results (A^T x, A^H x, A^T X) and derivatives
    in A's values match scipy and the scatter path."""
    from mlx_sparse._spmv import _TRANSPOSED

    if device == mx.gpu and vt == "float64":
        pytest.skip("float64 on the GPU")

    dt, npdt = VALUE_DTYPES[vt][0], np.complex64 if vt == "complex64" else np.dtype(vt)
    rng = np.random.default_rng(4)
    S = sp.random(300, 200, density=0.05, random_state=5, format="csr").astype(npdt)
    S.data = (S.data + (1j * rng.standard_normal(S.nnz) if vt == "complex64" else 0)).astype(npdt)
    A = ms.csr_array(S, dtype=dt, index_dtype=INDEX_DTYPES[it])
    x = mx.array(rng.standard_normal(300).astype(npdt))
    X = mx.array(rng.standard_normal((300, 4)).astype(npdt))
    with mx.stream(device):
        L = ms.csr_array((A.data, A.indices + 0, A.indptr + 0), shape=A.shape)  # lazy buffers: scatter
        lazy = [L.T @ x for _ in range(3)]
        assert id(L.indices) not in _TRANSPOSED
        first = A.T @ x  # a one-off product scatters and builds nothing
        assert id(A.indices) not in _TRANSPOSED
        for _ in range(3):
            again = A.T @ x  # repeated: A^T's CSR kept from the second product on
        assert _TRANSPOSED[id(A.indices)][2] is not None
        mx.eval(lazy)
        _ = L.T @ x  # evaluated now: kept from here on
        assert _TRANSPOSED[id(L.indices)][2] is not None
        tol = 1e-10 if vt == "float64" else 1e-4
        np.testing.assert_allclose(np.array(again), S.T @ np.array(x), rtol=tol, atol=tol)
        np.testing.assert_allclose(np.array(lazy[0]), np.array(first), rtol=tol, atol=tol)
        np.testing.assert_allclose(np.array(again), np.array(first), rtol=tol, atol=tol)
        for _ in range(2):
            Y = A.T @ X
        np.testing.assert_allclose(np.array(Y), S.T @ np.array(X), rtol=tol, atol=tol)
        if vt == "complex64":
            for _ in range(2):
                h = A.conj().T @ x
            np.testing.assert_allclose(np.array(h), S.conj().T @ np.array(x), rtol=tol, atol=tol)
        else:
            def loss(d):
                B = ms.csr_array((d, A.indices, A.indptr), shape=A.shape)
                return mx.sum((B.T @ x) ** 2)
            g = mx.grad(loss)(A.data)
            y = S.T @ np.array(x).astype(np.float64)
            want = 2 * y[S.indices] * np.repeat(np.array(x).astype(np.float64), np.diff(S.indptr))
            np.testing.assert_allclose(np.array(g), want, rtol=tol * 10, atol=tol * 10)


def test_kept_transpose_follows_the_shape_of_shared_buffers():
    """Arrays sharing buffers under different column counts get their own A^T structure."""
    S = sp.random(50, 40, density=0.2, random_state=8, format="csr", dtype=np.float32)
    A = ms.csr_array(S)
    x = mx.array(np.random.default_rng(1).standard_normal(50).astype(np.float32))
    with mx.stream(mx.cpu):
        for _ in range(3):
            mx.eval(A.T @ x)
        B = ms.csr_array((A.data, A.indices, A.indptr), shape=(50, 3040))
        for _ in range(3):
            y = B.T @ x
        want = sp.csr_array((S.data, S.indices, S.indptr), shape=(50, 3040)).T @ np.array(x)
        np.testing.assert_allclose(np.array(y), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.array(A.T @ x), S.T @ np.array(x), rtol=1e-5, atol=1e-5)
