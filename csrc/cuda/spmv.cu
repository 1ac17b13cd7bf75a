// CSR SpMV on the GPU: adaptive groups of G lanes per row, long rows deferred to the whole block.
#include "common.cuh"

// y = A x for rows in tiles of B/G; a row longer than G*32 is summed by the whole block after the
// tile's short rows, so power-law rows do not stall a group. Deterministic (fixed reduction order).
// in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; scalars: m, n, nnz as (lo, hi).
template <class IT, int G>
__device__ void spmv_csr(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                         const VT* __restrict__ data, const VT* __restrict__ x, VT* __restrict__ y,
                         long long m, long long n, long long nnz) {
  constexpr int B = 256, R = B / G, LIMIT = G * 32;
  __shared__ int s_long[R];
  __shared__ int s_nlong;
  __shared__ AT s_red[B / 32];
  const int lane = threadIdx.x % G, grp = threadIdx.x / G;
  for (long long base = (long long)blockIdx.x * R; base < m; base += (long long)gridDim.x * R) {
    if (threadIdx.x == 0) s_nlong = 0;
    __syncthreads();
    const long long row = base + grp;
    AT acc;
    zero(acc);
    bool own = false;
    if (row < m) {
      long long s = (long long)indptr[row], e = (long long)indptr[row + 1];
      if (s < 0 || e < s || e > nnz) {
        own = true;
        if (lane == 0) make_nan(acc);
      } else if (e - s > LIMIT) {
        if (lane == 0) s_long[atomicAdd(&s_nlong, 1)] = grp;
      } else {
        own = true;
        for (long long j = s + lane; j < e; j += G) {
          long long c = (long long)indices[j];
          if ((unsigned long long)c < (unsigned long long)n) fma_acc(acc, ld(data + j), ld(x + c));
          else make_nan(acc);
        }
      }
    }
    acc = group_sum<G>(acc);
    if (own && lane == 0) st(y + row, acc);
    __syncthreads();
    const int nl = s_nlong;
    for (int k = 0; k < nl; ++k) {
      const long long r = base + s_long[k];
      const long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
      AT a;
      zero(a);
      for (long long j = s + threadIdx.x; j < e; j += B) {
        long long c = (long long)indices[j];
        if ((unsigned long long)c < (unsigned long long)n) fma_acc(a, ld(data + j), ld(x + c));
        else make_nan(a);
      }
      a = block_sum<B>(a, s_red);
      if (threadIdx.x == 0) st(y + r, a);
    }
    __syncthreads();
  }
}

#define MSP_SPMV(IT, INAME, G)                                                                   \
  extern "C" __global__ void __launch_bounds__(256)                                              \
      MSP_CAT(MSP_KNAME(spmv, csr, VNAME, INAME), _g##G)(                                        \
          const IT* indptr, const IT* indices, const VT* data, const VT* x, VT* y, int m_lo,      \
          int m_hi, int n_lo, int n_hi, int nnz_lo, int nnz_hi) {                                \
    spmv_csr<IT, G>(indptr, indices, data, x, y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),     \
                    msp_join(nnz_lo, nnz_hi));                                                   \
  }
#define MSP_SPMV_ALL_G(IT, INAME) \
  MSP_SPMV(IT, INAME, 2) MSP_SPMV(IT, INAME, 4) MSP_SPMV(IT, INAME, 8) MSP_SPMV(IT, INAME, 16) \
  MSP_SPMV(IT, INAME, 32)

#if defined(MSP_IT_I32)
MSP_SPMV_ALL_G(int, i32)
#else
MSP_SPMV_ALL_G(long long, i64)
#endif
