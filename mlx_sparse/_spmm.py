"""The spmm family (Y = op(A) X for a dense matrix X): the GPU lane layout and the nodes."""

from __future__ import annotations

from typing import Callable

import mlx.core as mx

from . import _kernels as K
from ._device import is_gpu


def lanes_per_row(k: int, vt: mx.Dtype, trans: bool = False) -> int:
    """Lanes of the GPU SpMM that own one row of A (A X and A^T X; the kernel takes it as a param):
    the fewest powers of two (at most 32) whose loads cover k columns: 16 bytes of X per lane for
    A X, and for A^T X the columns one 16-byte atomic on its float32/complex64 accumulator covers.
    32 / lanes rows share a warp and the launch is sized to that: a warp per row would leave most
    blocks empty for narrow X (measured: 2-D Laplacian, k = 64, 1640 vs 1315 us). X that is not
    aligned is read one column per lane with the same lanes (correct, slower)."""
    vw = (2 if vt == mx.complex64 else 4) if trans else 16 // vt.size
    per = k // vw if k % vw == 0 else k
    lanes = 1
    while lanes < 32 and lanes < per:
        lanes *= 2
    return lanes


def prepare_spmm(op, data, indices, indptr, shape, k: int, out_shape, trans: bool, conj: bool, bm: bool,
                 s: mx.Stream, rules: dict) -> Callable[[mx.array], mx.array]:
    """Y = op(A) X for CSR buffers of shape (m, n): op = A, conj(A) (``conj``), A^T (``trans``) or A^H.
    ``bm`` (CPU only): X stored (k, rows) and Y (k, out_rows), k vectors side by side. The transposed
    product scatters; on the GPU with atomics into a zero-filled float32 accumulator for 16-bit types."""
    m, n = shape
    vt, it = data.dtype, indices.dtype
    gpu = is_gpu(s)
    if bm and gpu:
        raise RuntimeError(f"{op}: internal error, batch-major products run on the CPU only")
    lanes = lanes_per_row(k, vt, trans) if gpu else 1
    node = K.prepare(op, "spmm_csr_t" if trans else "spmm_csr", vt, it, s, dict(m=m, n=n, k=k, nnz=int(data.size)),
                     flags=dict(conj=conj, bm=bm), params=dict(lanes=lanes), shapes=dict(y=out_shape), **rules)
    run = node.bind(True, indptr=indptr, indices=indices, data=data)
    if node.out_dtypes[0] != vt:  # the GPU's float32 accumulator of a 16-bit A^T X
        return lambda x: run(x).astype(vt, stream=s)
    return run
