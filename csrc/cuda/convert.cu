// GPU format conversion: CSR -> dense, and the CSR row pointer of row-sorted entries.
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

MSP_ENTRY0(convert, csr_todense, , csr_todense<IT>(indptr, indices, data, dense, m, n, nnz))
MSP_ENTRY0(convert, indptr_from_rows, , indptr_from_rows<IT>(rows, indptr, m, nnz))
MSP_ENTRY0(convert, expand_rows, , expand_rows<IT>(indptr, rows, m, nnz))
