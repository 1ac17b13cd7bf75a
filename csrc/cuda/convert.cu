// GPU format conversion: CSR -> dense, the CSR row pointer of row-sorted entries, and the prefix sum
// that turns per-row counts into a row pointer (two passes over tiles of SCAN_TILE entries).
#include "common.cuh"

// D += A on a zero-initialized row-major D, a warp per row (atomics sum duplicates).
// in: indptr[m+1], indices[nnz], data[nnz]; out: dense[m*n] (init 0); scalars: m, n, nnz.
template <class IT>
__device__ void csr_todense(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                            const VT* __restrict__ data, VT* __restrict__ d, long long m,
                            long long n, long long nnz) {
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < m; r += warps) {
    long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    if (s < 0 || e < s || e > nnz) {
      AT bad;
      make_nan(bad);
      if (lane == 0 && n > 0) st(d + r * n, bad);
      continue;
    }
    for (long long j = s + lane; j < e; j += 32) {
      long long c = (long long)indices[j];
      if ((unsigned long long)c < (unsigned long long)n) atomic_add(d + r * n + c, ld(data + j));
    }
  }
}

// indptr[r] = first position p with rows[p] >= r, for rows sorted ascending (k entries).
// Thread p fills the rows in (rows[p-1], rows[p]]. in: rows[k]; out: indptr[m+1]; scalars: m, k.
template <class IT>
__device__ void indptr_from_rows(const IT* __restrict__ rows, IT* __restrict__ indptr, long long m,
                                 long long k) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p <= k; p += stride) {
    long long lo = p == 0 ? -1 : (long long)rows[p - 1];
    long long hi = p == k ? m : (long long)rows[p];
    if (lo < -1) lo = -1;
    if (hi > m) hi = m;
    for (long long r = lo + 1; r <= hi; ++r) indptr[r] = (IT)p;
  }
}

// rows[j] = r for every stored entry j of row r (CSR -> COO rows), a warp per row.
// in: indptr[m+1]; out: rows[nnz]; scalars: m, nnz. Malformed rows are skipped (never out of bounds).
template <class IT>
__device__ void expand_rows(const IT* __restrict__ indptr, IT* __restrict__ rows, long long m,
                            long long nnz) {
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < m; r += warps) {
    long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    if (s < 0 || e < s || e > nnz) continue;
    for (long long j = s + lane; j < e; j += 32) rows[j] = (IT)r;
  }
}

#define SCAN_ITEMS 16
#define SCAN_TILE (256 * SCAN_ITEMS)

// Pass 1: tiles[b] = the sum of x over tile b (a block per tile). in: x[m]; out: tiles[nt].
__device__ void scan_tiles(const IT* __restrict__ x, IT* __restrict__ tiles, long long m, long long nt) {
  __shared__ long long wsum[8];
  for (long long b = blockIdx.x; b < nt; b += gridDim.x) {
    long long v = 0;
    for (long long i = b * SCAN_TILE + threadIdx.x; i < min(m, (b + 1) * SCAN_TILE); i += 256) v += (long long)x[i];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (threadIdx.x % 32 == 0) wsum[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
      long long t = 0;
      for (int w = 0; w < 8; ++w) t += wsum[w];
      tiles[b] = (IT)t;
    }
    __syncthreads();
  }
}

// Pass 2: out[0] = 0 and out[i + 1] = x[0] + ... + x[i]: each block adds the tiles before its own
// (a block reduction over tiles[0, b)) to the scan of its tile (SCAN_ITEMS consecutive entries per
// thread). in: x[m], tiles[nt]; out: out[m+1].
__device__ void scan(const IT* __restrict__ x, const IT* __restrict__ tiles, IT* __restrict__ out, long long m,
                     long long nt) {
  __shared__ long long wsum[8];
  __shared__ long long base;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (long long b = blockIdx.x; b < nt; b += gridDim.x) {
    long long pre = 0;
    for (long long t = threadIdx.x; t < b; t += 256) pre += (long long)tiles[t];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) pre += __shfl_xor_sync(0xffffffffu, pre, off);
    if (lane == 0) wsum[warp] = pre;
    __syncthreads();
    if (threadIdx.x == 0) {
      long long t = 0;
      for (int w = 0; w < 8; ++w) t += wsum[w];
      base = t;
      if (b == 0) out[0] = 0;
    }
    __syncthreads();
    const long long i0 = b * SCAN_TILE + (long long)threadIdx.x * SCAN_ITEMS;
    long long v[SCAN_ITEMS], mine = 0;
#pragma unroll
    for (int j = 0; j < SCAN_ITEMS; ++j) {
      v[j] = i0 + j < m ? (long long)x[i0 + j] : 0;
      mine += v[j];
    }
    long long incl = mine;  // inclusive scan of the threads' sums: in the warp, then over warps
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
      const long long y = __shfl_up_sync(0xffffffffu, incl, off);
      if (lane >= off) incl += y;
    }
    if (lane == 31) wsum[warp] = incl;
    __syncthreads();
    long long run = base + incl - mine;
    for (int w = 0; w < warp; ++w) run += wsum[w];
#pragma unroll
    for (int j = 0; j < SCAN_ITEMS; ++j) {
      run += v[j];
      if (i0 + j < m) out[i0 + j + 1] = (IT)run;
    }
    __syncthreads();
  }
}

MSP_ENTRY0(convert, csr_todense, , csr_todense<IT>(indptr, indices, data, dense, m, n, nnz))
MSP_ENTRY0(convert, indptr_from_rows, , indptr_from_rows<IT>(rows, indptr, m, nnz))
MSP_ENTRY0(convert, expand_rows, , expand_rows<IT>(indptr, rows, m, nnz))
MSP_ENTRY0(convert, scan_tiles, __launch_bounds__(256), scan_tiles(x, tiles, m, nt))
MSP_ENTRY0(convert, scan, __launch_bounds__(256), scan(x, tiles, out, m, nt))
