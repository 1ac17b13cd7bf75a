// GPU sparse-sparse products, expand-sort-compress: the products of each row are expanded (this
// file), sorted by (row, column) with MLX's argsort and summed by the canonical family's run-sum kernel.
#include "common.cuh"

// flops[i] = sum over A's row i of the lengths of the B rows it hits (0 for a malformed row). A warp per row.
__device__ void rowflops(const IT* __restrict__ aptr, const IT* __restrict__ aind, const IT* __restrict__ bptr,
                         IT* __restrict__ flops, long long m, long long k, long long nnza) {
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; i < m; i += warps) {
    const long long s = (long long)aptr[i], e = (long long)aptr[i + 1];
    long long f = 0;
    bool ok = s >= 0 && e >= s && e <= nnza;
    if (ok)
      for (long long ja = s + lane; ja < e; ja += 32) {
        const long long j = (long long)aind[ja];
        if (j >= 0 && j < k) {
          const long long len = (long long)bptr[j + 1] - (long long)bptr[j];
          f += len > 0 ? len : 0;
        }
      }
#pragma unroll
    for (int off = 16; off > 0; off /= 2) f += __shfl_xor_sync(0xffffffffu, f, off);
    if (lane == 0) flops[i] = (IT)(ok ? f : 0);
  }
}

// The products of row i at fptr[i]..fptr[i+1]: for each entry ja of A's row (in order) and each entry jb
// of the B row it hits, (i, bind[jb], ja, jb). A warp per row, one A entry at a time, lanes over B's row.
// Nothing is written outside the row's range or read outside the arrays.
__device__ void expand(const IT* __restrict__ aptr, const IT* __restrict__ aind, const IT* __restrict__ bptr,
                       const IT* __restrict__ bind, const IT* __restrict__ fptr, IT* __restrict__ rows,
                       IT* __restrict__ cols, IT* __restrict__ srca, IT* __restrict__ srcb, long long m, long long k,
                       long long nnza, long long nnzb, long long nf) {
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; i < m; i += warps) {
    const long long s = (long long)aptr[i], e = (long long)aptr[i + 1];
    long long p = (long long)fptr[i];
    const long long pe = (long long)fptr[i + 1];
    if (s < 0 || e < s || e > nnza || p < 0 || pe < p || pe > nf) continue;
    for (long long ja = s; ja < e; ++ja) {
      const long long j = (long long)aind[ja];
      if (j < 0 || j >= k) continue;
      const long long bs = (long long)bptr[j], be = (long long)bptr[j + 1];
      if (bs < 0 || be < bs || be > nnzb) continue;
      for (long long t = lane; t < be - bs && p + t < pe; t += 32) {
        rows[p + t] = (IT)i, cols[p + t] = bind[bs + t], srca[p + t] = (IT)ja, srcb[p + t] = (IT)(bs + t);
      }
      p += be - bs;
    }
  }
}

MSP_ENTRY0(spgemm, rowflops, __launch_bounds__(256), rowflops(aptr, aind, bptr, flops, m, k, nnza))
MSP_ENTRY0(spgemm, expand, __launch_bounds__(256),
           expand(aptr, aind, bptr, bind, fptr, rows, cols, srca, srcb, m, k, nnza, nnzb, nf))
