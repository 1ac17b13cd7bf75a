// CSR SpMV on the GPU: groups of G lanes per row (G = 1..32 by mean row length), long rows deferred to the block.
#include "common.cuh"

// Positions, rows and columns are computed in the index type: int32 matrices have < 2^31 of each.
template <class T> struct Unsigned { typedef unsigned long long type; };
template <> struct Unsigned<int> { typedef unsigned int type; };

// acc += sum over j = j0, j0 + STEP, ... < e of data[j] * x[indices[j]], four elements per step
// with all their loads issued before the first use (latency hiding); NaN for a bad column.
template <int STEP, class IT>
__device__ __forceinline__ void row_dot(const IT* __restrict__ indices, const VT* __restrict__ data,
                                        const VT* __restrict__ x, IT j0, IT e,
                                        IT n, AT& acc) {
  for (IT j = j0; j < e; j += 4 * STEP) {
    IT c[4];
    AT v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const IT jj = j + (IT)u * STEP;
      c[u] = -1;
      if (jj < e) {
        c[u] = (IT)__ldg(indices + jj);
        v[u] = ld(data + jj);
      }
    }
    AT xv[4];
#pragma unroll
    for (int u = 0; u < 4; ++u)
      if ((typename Unsigned<IT>::type)c[u] < (typename Unsigned<IT>::type)n) xv[u] = ld(x + c[u]);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      if ((typename Unsigned<IT>::type)c[u] < (typename Unsigned<IT>::type)n) fma_acc(acc, v[u], xv[u]);
      else if (j + (IT)u * STEP < e) make_nan(acc);
    }
  }
}

// y = A x for rows in tiles of B/G; a row longer than G*32 is summed by the whole block after the
// tile's short rows, so power-law rows do not stall a group. Deterministic (fixed reduction order).
// in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; scalars: m, n, nnz as (lo, hi).
template <class IT, int G>
__device__ void spmv_csr(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                         const VT* __restrict__ data, const VT* __restrict__ x, VT* __restrict__ y,
                         IT m, IT n, IT nnz) {
  constexpr int B = 256, R = B / G, LIMIT = G < 4 ? 128 : G * 32;
  __shared__ int s_long[R];
  __shared__ int s_nlong;
  __shared__ AT s_red[B / 32];
  const int lane = threadIdx.x % G, grp = threadIdx.x / G;
  for (IT base = (IT)blockIdx.x * R; base < m; base += (IT)gridDim.x * R) {
    if (threadIdx.x == 0) s_nlong = 0;
    __syncthreads();
    const IT row = base + grp;
    AT acc;
    zero(acc);
    bool own = false;
    if (row < m) {
      IT s = (IT)indptr[row], e = (IT)indptr[row + 1];
      if (s < 0 || e < s || e > nnz) {
        own = true;
        if (lane == 0) make_nan(acc);
      } else if (e - s > LIMIT) {
        if (lane == 0) s_long[atomicAdd(&s_nlong, 1)] = grp;
      } else {
        own = true;
        row_dot<G, IT>(indices, data, x, s + lane, e, n, acc);
      }
    }
    acc = group_sum<G>(acc);
    if (own && lane == 0) st(y + row, acc);
    __syncthreads();
    const int nl = s_nlong;
    for (int k = 0; k < nl; ++k) {
      const IT r = base + s_long[k];
      const IT s = (IT)indptr[r], e = (IT)indptr[r + 1];
      AT a;
      zero(a);
      row_dot<B, IT>(indices, data, x, s + threadIdx.x, e, n, a);
      a = block_sum<B>(a, s_red);
      if (threadIdx.x == 0) st(y + r, a);
    }
    __syncthreads();
  }
}

#define MSP_SPMV(IT, INAME, G)                                                                   \
  extern "C" __global__ void __launch_bounds__(256, sizeof(IT) + sizeof(VT) > 8 ? 6 : 8)       \
      MSP_CAT(MSP_KNAME(spmv, csr, VNAME, INAME), _g##G)(                                        \
          const IT* indptr, const IT* indices, const VT* data, const VT* x, VT* y, int m_lo,      \
          int m_hi, int n_lo, int n_hi, int nnz_lo, int nnz_hi) {                                \
    spmv_csr<IT, G>(indptr, indices, data, x, y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),     \
                    msp_join(nnz_lo, nnz_hi));                                                   \
  }
// One module per lane count (MSP_SPMV_G), since MLX hashes a module's bytes at every launch.
#ifndef MSP_SPMV_G
#define MSP_SPMV_G 1
#endif
#if defined(MSP_ALL_LANES)  // every lane count in one unit (the CUDA harness)
#define MSP_SPMV_ALL(IT, INAME) \
  MSP_SPMV(IT, INAME, 1) MSP_SPMV(IT, INAME, 2) MSP_SPMV(IT, INAME, 4) MSP_SPMV(IT, INAME, 8) \
  MSP_SPMV(IT, INAME, 16) MSP_SPMV(IT, INAME, 32)
#else
#define MSP_SPMV_EXPAND(IT, INAME, G) MSP_SPMV(IT, INAME, G)  // expands MSP_SPMV_G before pasting
#define MSP_SPMV_ALL(IT, INAME) MSP_SPMV_EXPAND(IT, INAME, MSP_SPMV_G)
#endif
#if defined(MSP_IT_I32)
MSP_SPMV_ALL(int, i32)
#else
MSP_SPMV_ALL(long long, i64)
#endif
