// GPU sparse times dense matrix: Y = A X (a warp per row, lanes across columns) and
// Y = A^T X / A^H X (rows scattered with atomics into a zero-initialized accumulator output).
#include "common.cuh"

template <class T> struct UnsignedOf { typedef unsigned long long type; };
template <> struct UnsignedOf<int> { typedef unsigned int type; };

__device__ __forceinline__ float conj_if(float a, bool) { return a; }
__device__ __forceinline__ float2 conj_if(float2 a, bool c) { return c ? make_float2(a.x, -a.y) : a; }

// Y[m x k] = A X[n x k], row-major. A warp per row; lane l owns columns l*V .. l*V+V-1 of each
// 32*V-wide column block; two nonzeros' loads in flight. in: indptr, indices, data, X;
// out: Y; scalars: m, n, k (lo, hi pairs), conj.
template <class IT, int V>
__device__ void spmm_csr(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                         const VT* __restrict__ data, const VT* __restrict__ X, VT* __restrict__ Y,
                         long long m, long long n, long long k, long long nnz, bool conj) {
  typedef typename UnsignedOf<IT>::type U;
  const int lane = threadIdx.x % 32;
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < m; r += warps) {
    IT s = indptr[r], e = indptr[r + 1];
    const bool bad = s < 0 || e < s || (long long)e > nnz;
    if (bad) s = e = 0;
    for (long long k0 = (long long)lane * V; k0 < k; k0 += 32 * V) {
      AT acc[V];
#pragma unroll
      for (int v = 0; v < V; ++v) zero(acc[v]);
      bool badcol = false;
      for (IT j = s; j < e; ++j) {
        const IT c = __ldg(indices + j);
        if ((U)c >= (U)n) {
          badcol = true;
          continue;
        }
        const AT a = conj_if(ld(data + j), conj);
        const VT* xr = X + (long long)c * k + k0;
#pragma unroll
        for (int v = 0; v < V; ++v)
          if (k0 + v < k) fma_acc(acc[v], a, ld(xr + v));
      }
#pragma unroll
      for (int v = 0; v < V; ++v) {
        if (bad || badcol) make_nan(acc[v]);
        if (k0 + v < k) st(Y + r * k + k0 + v, acc[v]);
      }
    }
  }
}

// Yacc[n x k] += A^T X[m x k] (conj: A^H X); Yacc zero-initialized, accumulator type (f32 or
// complex64). A warp per row of A; lanes over (nonzero, column) pairs.
template <class IT>
__device__ void spmm_csr_t(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                           const VT* __restrict__ data, const VT* __restrict__ X, AT* __restrict__ Y,
                           long long m, long long n, long long k, long long nnz, bool conj) {
  typedef typename UnsignedOf<IT>::type U;
  if (k < 8) {  // few columns: a thread per row (full warps), scattering k values per nonzero
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < m; r += stride) {
      const IT s = indptr[r], e = indptr[r + 1];
      if (s < 0 || e < s || (long long)e > nnz) continue;
      for (IT j = s; j < e; ++j) {
        const IT c = __ldg(indices + j);
        if ((U)c >= (U)n) continue;
        const AT a = conj_if(ld(data + j), conj);
        for (long long q = 0; q < k; ++q) {
          AT p;
          zero(p);
          fma_acc(p, a, ld(X + r * k + q));
          atomic_add(Y + (long long)c * k + q, p);
        }
      }
    }
    return;
  }
  const int lane = threadIdx.x % 32;
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < m; r += warps) {
    const IT s = indptr[r], e = indptr[r + 1];
    if (s < 0 || e < s || (long long)e > nnz) continue;
    const long long work = (long long)(e - s) * k;
    for (long long w = lane; w < work; w += 32) {
      const IT j = s + (IT)(w / k);
      const long long q = w % k;
      const IT c = __ldg(indices + j);
      if ((U)c >= (U)n) continue;
      AT p;
      zero(p);
      fma_acc(p, conj_if(ld(data + j), conj), ld(X + r * k + q));
      atomic_add(Y + (long long)c * k + q, p);
    }
  }
}

#define MSP_SPMM(IT, INAME)                                                                       \
  extern "C" __global__ void __launch_bounds__(256) MSP_CAT(MSP_KNAME(spmm, csr, VNAME, INAME), MSP_CAT(_v, MSP_SPMM_V))( \
      const IT* indptr, const IT* indices, const VT* data, const VT* X, VT* Y, int m_lo, int m_hi,  \
      int n_lo, int n_hi, int k_lo, int k_hi, int z_lo, int z_hi, bool conj) {                   \
    spmm_csr<IT, MSP_SPMM_V>(indptr, indices, data, X, Y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi), \
                             msp_join(k_lo, k_hi), msp_join(z_lo, z_hi), conj);                 \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(256) MSP_KNAME(spmm, csr_t, VNAME, INAME)(          \
      const IT* indptr, const IT* indices, const VT* data, const VT* X, AT* Y, int m_lo, int m_hi,  \
      int n_lo, int n_hi, int k_lo, int k_hi, int z_lo, int z_hi, bool conj) {                   \
    spmm_csr_t<IT>(indptr, indices, data, X, Y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),      \
                   msp_join(k_lo, k_hi), msp_join(z_lo, z_hi), conj);                            \
  }

#ifndef MSP_SPMM_V
#define MSP_SPMM_V 1
#endif
#if defined(MSP_IT_I32)
MSP_SPMM(int, i32)
#else
MSP_SPMM(long long, i64)
#endif
