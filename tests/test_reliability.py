"""Reliability: errors at evaluation name the user's operation and leave MLX usable; no memory growth
over repeated operations; failed allocations raise cleanly; threads and streams give the serial
results bit for bit.

MLX 0.32 (CPU) has a bookkeeping bug when a primitive's task throws (every kernel error is such a
throw): ``cpu::CommandEncoder::dispatch`` counts every tenth dispatch as an active task *before*
enqueueing it and its completion notice, and ``StreamThread::enqueue`` rethrows a stored stream error
on the main thread; when the failing task has already run, the enqueue of its completion notice
throws, the notice is never queued and the active-task count leaks. After about ten leaks every
``mx.eval`` waits forever in ``scheduler::wait_for_one``. Each failing case below therefore runs on a
fresh stream (fewer than ten dispatches per stream: its encoder never reaches a tenth dispatch), which
keeps this file deterministic; ``test_many_failures_on_one_stream`` shows the bug (expected to fail
until MLX fixes it).
"""

import concurrent.futures as cf
import gc
import os
import re
import subprocess
import sys
import textwrap
import threading

import mlx.core as mx
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import has_gpu

import mlx_sparse as ms
from mlx_sparse import _kernels as K


# ---- 1. errors at evaluation ---------------------------------------------------------------------
# (indices, indptr) of a 3 x 4 CSR array with 4 stored entries
CORRUPT = {
    "column out of range": ([0, 9, 1, 2], [0, 2, 3, 4]),
    "negative column": ([0, -1, 1, 2], [0, 2, 3, 4]),
    "decreasing indptr": ([0, 1, 2, 3], [0, 3, 1, 4]),
    "indptr past nnz": ([0, 1, 2, 3], [0, 1, 2, 9]),
}
COLUMN_ONLY = ("column out of range", "negative column")  # the row structure itself is sound


def corrupt(kind):
    ind, ptr = CORRUPT[kind]
    return ms.csr_array((mx.array([1.0, 2.0, 3.0, 4.0]), mx.array(ind, dtype=mx.int32), mx.array(ptr, dtype=mx.int32)),
                        shape=(3, 4), validate=False)


def bufs(S):
    return [S.data, S.row, S.col] if S.format == "coo" else [S.data, S.indices, S.indptr]


def _valid():
    """A valid 4 x 4 array and a vector with exact small-integer products."""
    G = ms.csr_array(sp.csr_array(np.array([[1, 0, 2, 0], [0, 3, 0, 0], [4, 0, 0, 5], [0, 0, 6, 0]], np.float32)))
    v = mx.array([1.0, 2.0, 3.0, 4.0])
    mx.eval(G.data, G.indices, G.indptr, v)
    return G, v, np.array([7.0, 6.0, 24.0, 18.0], np.float32)


G, V, GV = _valid()
X3, X4, XM = mx.ones((3,)), mx.ones((4,)), mx.ones((4, 5))
mx.eval(X3, X4, XM)

# name -> (the user's operations the error may name, lazy?, the operation returning arrays to evaluate)
OPS = {
    "A @ x": ("matmul", True, lambda A, s: [A @ X4]),
    "A @ X": ("matmul", True, lambda A, s: [A @ XM]),
    "A.T @ x": ("matmul", True, lambda A, s: [A.T @ X3]),
    "csr_matvec(stream=)": ("csr_matvec", True, lambda A, s: [ms.csr_matvec(A, X4, stream=s)]),
    "X @ A (rmatmul)": ("rmatmul", True, lambda A, s: [ms.rmatmul(X3, A, stream=s)]),
    "A.tocsc()": ("tocsc", True, lambda A, s: bufs(A.tocsc(stream=s))),
    "A.tocoo()": ("tocoo", True, lambda A, s: bufs(A.tocoo(stream=s))),
    "A.todense()": ("todense", True, lambda A, s: [A.todense(stream=s)]),
    # two calls: the broken rows fail in the first (tocoo), broken columns in the second (todense)
    "A.tocoo().todense()": (("tocoo", "todense"), True, lambda A, s: [A.tocoo(stream=s).todense(stream=s)]),
    "A.sum(axis=0)": ("sum", True, lambda A, s: [A.sum(axis=0, stream=s)]),
    "A.sum(axis=1)": ("sum", True, lambda A, s: [A.sum(axis=1, stream=s)]),
    "A.mean(axis=0)": ("mean", True, lambda A, s: [A.mean(axis=0, stream=s)]),
    "A.sort_indices()": ("sort_indices", True, lambda A, s: bufs(A.sort_indices(stream=s))),
    "A.sum_duplicates()": ("sum_duplicates", False, lambda A, s: bufs(A.sum_duplicates(stream=s))),
    "A.T.sum_duplicates() (CSC)": ("sum_duplicates", False, lambda A, s: bufs(A.T.sum_duplicates(stream=s))),
    "A + A": ("add", False, lambda A, s: bufs(A + A)),
    "A - A": ("subtract", False, lambda A, s: bufs(A - A)),
    "A.multiply(A)": ("multiply", False, lambda A, s: bufs(A.multiply(A, stream=s))),
    "A.maximum(A)": ("maximum", False, lambda A, s: bufs(A.maximum(A, stream=s))),
    "A.max()": ("max", False, lambda A, s: [A.max(stream=s)]),
    "abs(A)": ("abs", False, lambda A, s: bufs(abs(A))),
    "A @ A.T": ("matmul", False, lambda A, s: bufs(A @ A.T)),
    "A @ G": ("matmul", False, lambda A, s: bufs(A @ G)),
    "G.T @ A.T (CSC @ CSC)": ("matmul", False, lambda A, s: bufs(G[:, :3].T @ A.T)),
    "spgemm_plan(A, A.T)": ("spgemm_plan", False, lambda A, s: bufs(ms.spgemm_plan(A, A.T, stream=s).result)),
}
# what does not read the broken part of the structure (and so cannot see it): tocoo passes the column
# indices through unread (the next operation that reads them raises); the other combinations raise
NOT_READ = {("A.tocoo()", k) for k in COLUMN_ONLY}


def _message_names(ops, msg):
    """``op: index out of range ...`` or ``op (in <step>): index out of range ...`` for one of ``ops``."""
    ops = (ops,) if isinstance(ops, str) else ops
    return any(re.match(rf"^{re.escape(op)}( \(in [a-z_]+\))?: index out of range", msg) for op in ops)


def _good_work_on(s):
    """A valid product on stream ``s`` after a failure: MLX and the process stay usable."""
    y = G.matvec(V, stream=s)
    mx.eval(y)
    assert np.array_equal(np.array(y), GV)


@pytest.mark.parametrize("kind", list(CORRUPT))
@pytest.mark.parametrize("name", list(OPS))
def test_error_names_the_users_operation(name, kind):
    op, lazy, run = OPS[name]
    s = mx.new_stream(mx.cpu)  # a fresh stream per failure: see the module docstring
    A = corrupt(kind)
    if (name, kind) in NOT_READ:
        C = A.tocoo(stream=s)
        mx.eval(*bufs(C))  # no error: nothing read the broken column indices ...
        with pytest.raises(RuntimeError) as e:  # ... the next operation that reads them raises
            mx.eval(C.todense(stream=s))
        assert _message_names("todense", str(e.value)), str(e.value)
    else:
        with mx.stream(s):
            if lazy:  # builds a graph, computes nothing: the error comes at evaluation
                out = run(A, s)
                z = [mx.sin(o) + 1 if mx.issubdtype(o.dtype, mx.floating) else o for o in out]
                with pytest.raises(RuntimeError) as e:
                    mx.eval(*z)
            else:  # synchronizes on the output's size inside the call: the error comes from the call
                with pytest.raises(RuntimeError) as e:
                    mx.eval(*run(A, s))
        msg = str(e.value)
        assert _message_names(op, msg), f"{name} with {kind}: {msg!r} does not name {op!r}"
        assert "(kernel " in msg  # and which kernel found it
    _good_work_on(s)  # the same stream, right after the failure
    _good_work_on(mx.default_stream(mx.cpu))


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_total_sum_reads_only_the_values(kind):
    """``A.sum()`` (no axis) adds the stored values and reads no structure (scipy's ``data.sum()``):
    it cannot see a broken structure; the axis sums read it and raise (above)."""
    A = corrupt(kind)
    assert float(A.sum()) == 10.0


@pytest.mark.parametrize("op", ["matmul", "tocsr", "todense", "sum_duplicates", "tocsc"])
def test_coo_errors_name_the_operation(op):
    """A COO array with a row out of range: the conversion to CSR that each operation needs fails."""
    s = mx.new_stream(mx.cpu)
    C = ms.coo_array((mx.ones(3), (mx.array([0, 9, 1], dtype=mx.int32), mx.array([0, 1, 2], dtype=mx.int32))),
                     shape=(3, 3), validate=False)
    run = {"matmul": lambda: [C @ X3], "tocsr": lambda: bufs(C.tocsr(canonical=False, stream=s)),
           "todense": lambda: [C.todense(stream=s)], "sum_duplicates": lambda: bufs(C.sum_duplicates(stream=s)),
           "tocsc": lambda: bufs(C.tocsc(stream=s))}[op]
    with mx.stream(s):
        with pytest.raises(RuntimeError) as e:
            mx.eval(*run())
    assert _message_names(op, str(e.value)), str(e.value)
    _good_work_on(s)


def test_failures_leak_no_memory():
    """Failed evaluations free their outputs: active memory returns to where it was."""
    for _ in range(2):  # warm-up
        s = mx.new_stream(mx.cpu)
        with pytest.raises(RuntimeError):
            mx.eval(corrupt("decreasing indptr").tocsc(stream=s).data)
    gc.collect()
    base = mx.get_active_memory()
    for kind in CORRUPT:
        for name in ("A @ X", "A.tocsc()", "A.todense()"):
            s = mx.new_stream(mx.cpu)
            with pytest.raises(RuntimeError):
                mx.eval(*OPS[name][2](corrupt(kind), s))
    gc.collect()
    assert mx.get_active_memory() <= base


def test_many_failures_on_one_stream():
    """300 failing products on one stream (alone, and followed by MLX operations in the same graph),
    then good work: finishes, right (run apart, with a time limit). MLX 0.32 leaks its count of active
    tasks when queueing a task throws a stored error, and then waits forever; our node raises a
    pending error before queueing anything and queues without that count (csrc/mlx/kernel_node.cpp)."""
    code = textwrap.dedent("""
        import mlx.core as mx, mlx_sparse as ms
        bad = ms.csr_array((mx.ones(3), mx.array([0, 7, 1], dtype=mx.int32), mx.array([0, 1, 2, 3], dtype=mx.int32)),
                           shape=(3, 3), validate=False)
        x = mx.ones(3)
        for i in range(300):
            for make in (lambda: bad @ x, lambda: mx.sin(bad @ x) * 2 + mx.ones(3), lambda: bad.tocsc().data + 1):
                try:
                    mx.eval(make())
                    raise SystemExit("no error")
                except RuntimeError:
                    pass
            mx.eval(mx.ones(3) * i)  # MLX's own work between failures
        good = ms.eye(3)
        assert (good @ x).tolist() == [1.0, 1.0, 1.0]
        print("ok")
    """)
    here = os.path.dirname(os.path.dirname(os.path.abspath(ms.__file__)))  # the mlx_sparse this run imports
    env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("mx.eval hung after repeated kernel errors on one stream")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


# ---- 1b. allocations that cannot succeed ---------------------------------------------------------
def test_failed_allocation_raises_and_leaves_inputs_intact():
    E = ms.eye(10**6, format="csr")
    x = mx.arange(10**6, dtype=mx.float32)
    col = ms.csr_array((mx.ones(10**6), mx.zeros(10**6, dtype=mx.int32), mx.arange(10**6 + 1, dtype=mx.int32)),
                       shape=(10**6, 1))  # a column of ones
    mx.eval(E.data, E.indices, E.indptr, x, *bufs(col))
    mx.eval(E @ x, col @ mx.ones((1,)))  # first products: their structures' SpMV plans are kept from here on
    base = mx.get_active_memory()
    cases = [
        ("todense", lambda: E.todense()),  # 10^12 values: 3.6 TiB
        ("kron", lambda: ms.kron(ms.eye(10**5), ms.csr_array(np.ones((1000, 1000), np.float32))).data),  # 10^11
        ("matmul", lambda: col @ mx.ones((1, 10**7))),  # (10^6, 10^7) dense: 36 TiB
    ]
    for op, run in cases:
        with pytest.raises(MemoryError, match=rf"^{op}: the result needs .* GiB, more than this machine's memory"):
            mx.eval(run())
        y = E @ x  # the inputs still evaluate, to the right values
        mx.eval(y)
        assert np.array_equal(np.array(y[:5]), [0, 1, 2, 3, 4]) and float(y[-1]) == 10**6 - 1
        assert float(mx.sum(col @ mx.ones((1,)))) == 10**6
    # a size past MLX's 32-bit axes: a clean exception (MLX's own), never a crash
    with pytest.raises((ValueError, MemoryError, OverflowError)):
        mx.eval(ms.eye(3 * 10**9).data)
    del y
    gc.collect()
    assert mx.get_active_memory() <= base


def test_output_axis_limit_is_checked():
    """An output longer than MLX's 2^31 - 1 elements on one axis raises a ValueError naming the op
    (before: a bare TypeError from the binding), checked before anything is allocated."""
    with pytest.raises(ValueError, match=r"^matmul: output y would hold \d+ elements along one axis"):
        K.check_outputs("matmul", ["y"], [(2**31,)], [mx.int8], gpu=True)  # memory not checked on the GPU
    K.check_outputs("matmul", ["y"], [(2**20, 2**11)], [mx.int8], gpu=True)  # 2^31 elements in 2-D: fine


# ---- 2. memory over repetitions ------------------------------------------------------------------
def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _random_csr(m, n, nnz, seed):
    r = np.random.default_rng(seed)
    return sp.csr_array((r.standard_normal(nnz).astype(np.float32), (r.integers(0, m, nnz), r.integers(0, n, nnz))),
                        shape=(m, n))


MEM_A = ms.csr_array(_random_csr(200, 200, 2000, 0))
MEM_B = ms.csr_array(_random_csr(200, 200, 2000, 1))
_r = np.random.default_rng(3)
MEM_C = ms.coo_array((_r.standard_normal(2000).astype(np.float32), (_r.integers(0, 200, 2000),
                      _r.integers(0, 200, 2000))), shape=(200, 200))  # duplicates, unsorted: a real canonicalization
MEM_U = ms.csr_array((MEM_A.data, MEM_A.indices, MEM_A.indptr), shape=MEM_A.shape, validate=False)  # not known sorted
MEM_X = mx.array(np.random.default_rng(2).standard_normal(200).astype(np.float32))
mx.eval(MEM_C.row, MEM_X)
assert not MEM_C.has_canonical_format and not MEM_U.has_sorted_indices

MEMORY_CASES = {  # name -> (repetitions, operation returning arrays to evaluate)
    "A @ x": (10000, lambda: [MEM_A @ MEM_X]),
    "A.tocsc()": (10000, lambda: bufs(MEM_A.tocsc())),
    "A.tocoo()": (10000, lambda: bufs(MEM_A.tocoo())),
    "coo.sum_duplicates()": (5000, lambda: bufs(MEM_C.sum_duplicates())),
    "A.sort_indices()": (5000, lambda: bufs(MEM_U.sort_indices())),
    "A @ B": (2000, lambda: bufs(MEM_A @ MEM_B)),
    "A + B": (2000, lambda: bufs(MEM_A + MEM_B)),
}
MEMORY_LOG = {}


@pytest.mark.parametrize("name", list(MEMORY_CASES))
def test_no_memory_growth(name):
    reps, run = MEMORY_CASES[name]
    for _ in range(200):  # warm-up: kept recipes, MLX's buffer cache, the allocator's arenas
        mx.eval(*run())
    gc.collect()
    mx.clear_cache()
    active0, rss0 = mx.get_active_memory(), _rss()
    for _ in range(reps):
        mx.eval(*run())
    gc.collect()
    mx.clear_cache()
    active1, rss1 = mx.get_active_memory(), _rss()
    MEMORY_LOG[name] = (reps, active0, active1, rss0, rss1)
    assert active1 <= active0, f"{name}: active memory {active0} -> {active1} bytes over {reps} repetitions"
    assert rss1 - rss0 < 20 * 2**20, f"{name}: RSS grew {(rss1 - rss0) / 2**20:.1f} MB over {reps} repetitions"


# ---- 3. threads and streams ----------------------------------------------------------------------
def _case(m, nnz, seed):
    """Host CSR pair and dense operands; the device arrays built from them (evaluated: arrays that MLX
    0.32 has not evaluated can only be evaluated on the thread whose stream made them)."""
    a, b = _random_csr(m, m, nnz, seed), _random_csr(m, m, nnz, seed + 1)
    r = np.random.default_rng(seed + 2)
    x, X = r.standard_normal(m).astype(np.float32), r.standard_normal((m, 8)).astype(np.float32)
    return a, b, x, X


def _device(a, b, x, X):
    A, B, xd, Xd = ms.csr_array(a), ms.csr_array(b), mx.array(x), mx.array(X)
    mx.eval(A.data, B.data, xd, Xd)
    for _ in range(2):  # past the first A^T product (which scatters): every run then gathers, in one order
        mx.eval(A.T @ xd, A.T @ Xd)
    return A, B, xd, Xd


def _on(s, fn):
    """``fn()`` with ``s`` as the default stream (operators take no stream argument)."""
    if s is None:
        return fn()
    with mx.stream(s):
        return fn()


# name -> operation on (A, B, x, X, stream): stream=None runs on the thread's default stream, a stream
# goes to the stream= argument where the call has one
THREAD_OPS = {
    "A @ x": lambda A, B, x, X, s: [A @ x if s is None else A.matvec(x, stream=s)],
    "A @ X": lambda A, B, x, X, s: [A @ X if s is None else ms.csr_matmul(A, X, stream=s)],
    "A.T @ x": lambda A, B, x, X, s: [A.T @ x if s is None else ms.csr_matmul(A.T, x, stream=s)],
    "A @ B": lambda A, B, x, X, s: bufs(A @ B if s is None else ms.spgemm_plan(A, B, stream=s).result),
    "A + B": lambda A, B, x, X, s: bufs(_on(s, lambda: A + B)),
    "A.tocsc()": lambda A, B, x, X, s: bufs(A.tocsc(stream=s)),
}
SMALL = _case(300, 3000, 10)
LARGE = _case(20000, 200000, 20)  # past the kernels' OpenMP threshold (MSP_PAR_THRESHOLD work units)


def _host(arrays):
    mx.eval(*arrays)
    return [np.array(a) for a in arrays]


def _serial(case, names):
    dev = _device(*case)
    return {k: _host(THREAD_OPS[k](*dev, None)) for k in names}


def _same(got, ref):
    return all(g.dtype == r.dtype and g.shape == r.shape and np.array_equal(g, r) for g, r in zip(got, ref))


def _hammer(case, names, reps, streams, shared):
    """4 threads at once, each repeating every op ``reps`` times on the shared arrays and on its own
    copies, on its default stream or (``streams``) a stream of its own passed as ``stream=``; returns
    the mismatches against the serial results."""
    ref = _serial(case, names)
    barrier = threading.Barrier(4)

    def work(t):
        own = _device(*case)
        s = mx.new_stream(mx.cpu) if streams else None  # MLX 0.32's streams belong to their thread
        barrier.wait()
        bad = []
        for i in range(reps):
            for k in names:
                for which, dev in (("shared", shared), ("own", own)):
                    if not _same(_host(THREAD_OPS[k](*dev, s)), ref[k]):
                        bad.append((t, i, k, which))
        return bad

    with cf.ThreadPoolExecutor(4) as ex:
        return [b for r in ex.map(work, range(4)) for b in r]


@pytest.mark.parametrize("streams", [False, True], ids=["default-streams", "own-streams"])
def test_threads_small(streams):
    shared = _device(*SMALL)
    assert _hammer(SMALL, list(THREAD_OPS), 50, streams, shared) == []


@pytest.mark.parametrize("streams", [False, True], ids=["default-streams", "own-streams"])
def test_threads_large(streams):
    assert K.CONSTANTS["par_threshold"] < 200000  # nonzeros past the threshold: the kernels take their OpenMP paths
    shared = _device(*LARGE)
    assert _hammer(LARGE, ["A @ x", "A @ X", "A.T @ x", "A.tocsc()"], 6, streams, shared) == []
    assert _hammer(LARGE, ["A @ B", "A + B"], 2, streams, shared) == []


@pytest.mark.parametrize("case", ["small", "large"])
def test_several_streams_one_evaluation(case):
    """Every op on 4 CPU streams at once from one thread, all evaluated by one ``mx.eval``."""
    data = SMALL if case == "small" else LARGE
    ref = _serial(data, list(THREAD_OPS))
    dev = _device(*data)
    streams = [mx.new_stream(mx.cpu) for _ in range(4)]
    out = []
    for s in streams:
        for k in THREAD_OPS:
            with mx.stream(s):
                out.append((k, THREAD_OPS[k](*dev, None)))  # under `with mx.stream`
            out.append((k, THREAD_OPS[k](*dev, s)))  # with stream=
    mx.eval(*[a for _, arrays in out for a in arrays])
    assert [k for k, arrays in out if not _same(_host(arrays), ref[k])] == []


def test_coo_kept_form_across_threads():
    """A COO array's CSR form is kept per stream: 4 threads on their own streams (with the
    interpreter switching threads as often as it can) share it without errors or re-sorting."""
    a, _, x, _ = SMALL
    C = ms.coo_array(a.tocoo())
    xd = mx.array(x)
    mx.eval(C.data, xd)
    ref = np.array(C @ xd)
    calls = [0]
    orig = ms.coo_array.tocsr

    def counting(self, *args, **kwargs):
        calls[0] += 1
        return orig(self, *args, **kwargs)

    barrier = threading.Barrier(4)

    def work(t):
        s = mx.new_stream(mx.cpu)
        barrier.wait()
        bad = 0
        for _ in range(200):
            with mx.stream(s):
                y = C @ xd
            bad += not np.array_equal(np.array(y), ref)
        return bad

    switch = sys.getswitchinterval()
    ms.coo_array.tocsr = counting
    sys.setswitchinterval(1e-6)
    try:
        with cf.ThreadPoolExecutor(4) as ex:
            assert list(ex.map(work, range(4))) == [0, 0, 0, 0]
    finally:
        sys.setswitchinterval(switch)
        ms.coo_array.tocsr = orig
    assert calls[0] <= 8, f"{calls[0]} conversions for 4 streams"


# ---- the same on the GPU (under pytest -m gpu) ---------------------------------------------------
# Products that add through atomics (A^T x, the sparse-sparse product's shared sums) may round in a
# different order from run to run on the GPU: their structure must match exactly, their values to
# float32 roundoff. Everything else must be bitwise equal to the serial result.
GPU_ATOMIC = {"A.T @ x", "A @ B"}
GPU_MEMORY_CASES = ["A @ x", "A.tocsc()", "A @ B", "A + B"]


def _gpu_or_skip():
    if not has_gpu():
        pytest.skip("needs MLX's CUDA backend and mlx_sparse's CUDA kernels")


def _close(k, got, ref):
    if k not in GPU_ATOMIC:
        return _same(got, ref)
    return all(g.dtype == r.dtype and g.shape == r.shape and
               (np.array_equal(g, r) if g.dtype.kind == "i" else np.allclose(g, r, rtol=1e-5, atol=1e-5))
               for g, r in zip(got, ref))


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_MEMORY_CASES)
def test_no_memory_growth_gpu(name):
    _gpu_or_skip()
    reps, run = MEMORY_CASES[name]
    s = mx.new_stream(mx.gpu)
    with mx.stream(s):
        for _ in range(200):
            mx.eval(*run())
        gc.collect()
        mx.clear_cache()
        active0 = mx.get_active_memory()
        for _ in range(min(reps, 5000)):
            mx.eval(*run())
        gc.collect()
        mx.clear_cache()
        active1 = mx.get_active_memory()
    assert active1 <= active0, f"{name} on the GPU: active memory {active0} -> {active1} bytes"


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["small", "large"])
def test_threads_and_streams_gpu(case):
    """4 threads, each on a GPU stream of its own, then 4 GPU streams evaluated together from one thread:
    the serial GPU results (see GPU_ATOMIC)."""
    _gpu_or_skip()
    data = SMALL if case == "small" else LARGE
    names = list(THREAD_OPS)
    g0 = mx.new_stream(mx.gpu)
    dev = _device(*data)
    ref = {k: _host(THREAD_OPS[k](*dev, g0)) for k in names}
    barrier = threading.Barrier(4)

    def work(t):
        s = mx.new_stream(mx.gpu)
        barrier.wait()
        return [(t, i, k) for i in range(10 if case == "small" else 3) for k in names
                if not _close(k, _host(THREAD_OPS[k](*dev, s)), ref[k])]

    with cf.ThreadPoolExecutor(4) as ex:
        assert [b for r in ex.map(work, range(4)) for b in r] == []
    streams = [mx.new_stream(mx.gpu) for _ in range(4)]
    out = [(k, THREAD_OPS[k](*dev, s)) for s in streams for k in names]
    mx.eval(*[a for _, arrays in out for a in arrays])
    assert [k for k, arrays in out if not _close(k, _host(arrays), ref[k])] == []
