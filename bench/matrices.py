"""Benchmark matrix families (float32, int32 CSR via scipy), the binary exchange format of the peers, and
the build of the CUDA harness that times cuSPARSE and our kernels on them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))


def median_wall(fn, reps: int, warmup: bool = True) -> float:
    """The median wall time of ``fn()`` in seconds over ``reps`` calls (after one untimed call)."""
    if warmup:
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def run_peer(script: str, S, count: int, timeout: float = None) -> dict:
    """Run a peer script in its own process on the matrix S (an .npz exchange file, then ``count``);
    its last output line as JSON ({"error": ...} when it failed or ran past ``timeout`` seconds)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "A.npz")
        np.savez(path, data=S.data, indices=S.indices, indptr=S.indptr, shape=np.array(S.shape))
        try:
            r = subprocess.run([sys.executable, "-c", script, path, str(count)], capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"over {timeout:.0f} s"}
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except Exception:
            return {"error": r.stderr[-300:]}


def laplacian_2d(n: int) -> sp.csr_array:
    """5-point Laplacian on an n x n grid (n^2 rows)."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    return sp.csr_array(sp.kronsum(t, t, format="csr")).astype(np.float32)


def laplacian_3d(n: int) -> sp.csr_array:
    """7-point Laplacian on an n^3 grid."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    return sp.csr_array(sp.kronsum(sp.kronsum(t, t, format="csr"), t, format="csr")).astype(np.float32)


def uniform_random(m: int, per_row: int, seed: int = 0) -> sp.csr_array:
    """m x m with `per_row` uniformly random columns in every row."""
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, m, size=(m, per_row), dtype=np.int64)
    cols.sort(axis=1)
    indptr = np.arange(0, m * per_row + 1, per_row, dtype=np.int64)
    a = sp.csr_array((rng.standard_normal(m * per_row).astype(np.float32), cols.ravel(), indptr), shape=(m, m))
    a.sum_duplicates()
    return a


def rmat(scale: int, edge_factor: int = 16, seed: int = 0, p=(0.57, 0.19, 0.19, 0.05)) -> sp.csr_array:
    """R-MAT power-law graph (Graph500 parameters): 2^scale vertices, edge_factor * 2^scale edges."""
    rng = np.random.default_rng(seed)
    n, e = 1 << scale, edge_factor << scale
    row = np.zeros(e, dtype=np.int64)
    col = np.zeros(e, dtype=np.int64)
    cum = np.cumsum(p)
    for level in range(scale):
        r = rng.random(e, dtype=np.float32)
        q = np.searchsorted(cum, r, side="right")  # 0..3
        row |= ((q >> 1) & 1).astype(np.int64) << level
        col |= (q & 1).astype(np.int64) << level
    perm = rng.permutation(n)  # scramble vertex ids, as Graph500 does
    row, col = perm[row], perm[col]
    a = sp.csr_array((rng.standard_normal(e).astype(np.float32), (row, col)), shape=(n, n))
    a.sum_duplicates()
    return a


def rows_by_length(a: sp.csr_array) -> sp.csr_array:
    """The rows of a, longest first (a diagnostic variant: same rows and columns, heavy rows scheduled first)."""
    order = np.argsort(-np.diff(a.indptr), kind="stable")
    return sp.csr_array(a[order])


def by_degree(a: sp.csr_array) -> sp.csr_array:
    """P a P^T with vertices numbered by falling degree (row + column counts): a locality experiment,
    the hot entries of x gathered together (what a degree-ordering of a graph's vertices gives)."""
    deg = np.diff(a.indptr) + np.bincount(a.indices, minlength=a.shape[1])
    order = np.argsort(-deg, kind="stable")
    b = sp.csr_array(a[order][:, order])
    b.sort_indices()
    return b


FAMILIES = {
    "lap2d": (lambda small: laplacian_2d(512 if small else 2048), "2-D 5-point Laplacian"),
    "lap3d": (lambda small: laplacian_3d(64 if small else 160), "3-D 7-point Laplacian"),
    "uniform": (lambda small: uniform_random((1 << 17) if small else (1 << 21), 16), "uniform random, 16/row"),
    "rmat": (lambda small: rmat(17 if small else 21), "R-MAT power law, edge factor 16"),
    "rmat_desc": (lambda small: rows_by_length(rmat(17 if small else 21)), "R-MAT, rows longest first"),
    "rmat_deg": (lambda small: by_degree(rmat(17 if small else 21)), "R-MAT, vertices by falling degree"),
}


def write_bin(path: str, a: sp.csr_array, x: np.ndarray, yref: np.ndarray) -> None:
    """int64 m, n, nnz; int32 indptr, indices; float32 data, x, yref (read by cusparse_spmv and peers.py)."""
    with open(path, "wb") as f:
        np.array([a.shape[0], a.shape[1], a.nnz], dtype=np.int64).tofile(f)
        a.indptr.astype(np.int32).tofile(f)
        a.indices.astype(np.int32).tofile(f)
        a.data.astype(np.float32).tofile(f)
        x.astype(np.float32).tofile(f)
        yref.astype(np.float32).tofile(f)


def read_bin(path: str):
    with open(path, "rb") as f:
        m, n, nnz = np.fromfile(f, dtype=np.int64, count=3)
        ip = np.fromfile(f, dtype=np.int32, count=m + 1)
        ind = np.fromfile(f, dtype=np.int32, count=nnz)
        val = np.fromfile(f, dtype=np.float32, count=nnz)
        x = np.fromfile(f, dtype=np.float32, count=n)
        yref = np.fromfile(f, dtype=np.float32, count=m)
    return (int(m), int(n)), ip, ind, val, x, yref


def build_cusparse_harness(workdir: str, flags: tuple = (), tag: str = "", source: str = "cusparse_spmv") -> str | None:
    """Build bench/<source>.cu (a direct cuSPARSE harness) into workdir; None without nvcc or on failure."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    exe = os.path.join(workdir, source + tag)
    cmd = [nvcc, "-O2", "-std=c++17", "-arch=native", *flags, "-I", os.path.join(HERE, "..", "csrc", "cuda"),
           "-I", os.path.join(HERE, "..", "csrc", "include"),
           os.path.join(HERE, source + ".cu"), "-lcusparse", "-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print("cusparse harness build failed:", r.stderr[-500:], file=sys.stderr)
        return None
    return exe


def lanes_line(us: dict) -> str:
    """Our SpMV kernels' times: per lane count (``ours_g<G>`` rows of the harness) and the merge path."""
    nan = float("nan")
    line = ", ".join(f"g{G} {us.get(f'ours_g{G}', nan):.1f}" for G in (1, 2, 4, 8, 16, 32)) + (
        f", merge path {us.get('ours_mp', nan):.1f} (node 1 {us.get('ours_mp_node1', nan):.1f})")
    if "ours_d16g1" in us:  # banded: the 16-bit column offset kernels
        line += "; 16-bit offsets " + ", ".join(f"g{G} {us.get(f'ours_d16g{G}', nan):.1f}" for G in (1, 2, 4, 8, 16, 32))
    return line
