// CSR SpMV on the GPU: adaptive groups of G lanes per row, long rows deferred to the whole block.
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

// y = A x, a warp per chunk of 32 consecutive rows (CSR-stream): the chunk's nonzeros are
// contiguous, so the warp loads them in coalesced windows of 256, stages the products in shared
// memory, and lane i sums row i's share of each window (rows spanning windows keep their running
// sum in a register). Many independent loads per warp hide latency on short rows. A chunk holding
// more than HEAVY nonzeros is summed row by row by the whole warp instead. Deterministic.
// in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; scalars: m, n, nnz as (lo, hi).
template <class IT>
__device__ void spmv_csr_stream(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                                const VT* __restrict__ data, const VT* __restrict__ x,
                                VT* __restrict__ y, IT m, IT n, IT nnz) {
  constexpr int WARPS = 8, PER = 4, WIN = 32 * PER, HEAVY = 32 * 64;
  __shared__ AT s_prod[WARPS][WIN];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  AT* prod = s_prod[warp];
  const IT nchunks = (m + 31) / 32;
  const IT stride = (IT)gridDim.x * WARPS;
  for (IT chunk = (IT)blockIdx.x * WARPS + warp; chunk < nchunks; chunk += stride) {
    const IT r0 = chunk * 32, row = r0 + lane;
    const IT nrows = m - r0 < 32 ? m - r0 : 32;
    // lane i holds row r0+i's bounds; clamp malformed bounds into [0, nnz] and flag the row
    IT rs = 0, re = 0;
    bool bad = false;
    if (row < m) {
      rs = (IT)indptr[row];
      re = (IT)indptr[row + 1];
      if (rs < 0 || re < rs || re > nnz) bad = true, rs = re = 0;
    }
    // the windowed path needs the chunk's rows to tile [cs, ce) in order
    const IT prev_re = __shfl_up_sync(0xffffffffu, re, 1);
    const bool gap = lane > 0 && row < m && rs != prev_re;
    const IT cs = __shfl_sync(0xffffffffu, rs, 0);
    const IT ce = __shfl_sync(0xffffffffu, re, (int)nrows - 1);
    AT acc;
    zero(acc);
    if (!__any_sync(0xffffffffu, bad || gap) && ce - cs <= HEAVY) {
      for (IT w0 = cs; w0 < ce; w0 += WIN) {
        IT c[PER];
        AT v[PER], xv[PER];
#pragma unroll
        for (int k = 0; k < PER; ++k) {  // all index and value loads of the window first
          const IT j = w0 + lane + 32 * k;
          c[k] = -1;
          if (j < ce) {
            c[k] = (IT)__ldg(indices + j);
            v[k] = ld(data + j);
          }
        }
#pragma unroll
        for (int k = 0; k < PER; ++k)  // then the gathers of x
          if ((typename Unsigned<IT>::type)c[k] < (typename Unsigned<IT>::type)n) xv[k] = ld(x + c[k]);
#pragma unroll
        for (int k = 0; k < PER; ++k) {
          AT p;
          zero(p);
          if ((typename Unsigned<IT>::type)c[k] < (typename Unsigned<IT>::type)n) fma_acc(p, v[k], xv[k]);
          else if (w0 + lane + 32 * k < ce) make_nan(p);
          prod[lane + 32 * k] = p;
        }
        __syncwarp();
        const IT a = rs > w0 ? rs : w0, b = re < w0 + WIN ? re : w0 + WIN;
        for (IT j = a; j < b; ++j) add_acc(acc, prod[j - w0]);
        __syncwarp();
      }
      if (row < m) st(y + row, acc);
    } else {
      // heavy or malformed chunk: the whole warp sums one row at a time
      for (int i = 0; i < (int)nrows; ++i) {
        const IT s = __shfl_sync(0xffffffffu, rs, i), e = __shfl_sync(0xffffffffu, re, i);
        const bool b = __shfl_sync(0xffffffffu, bad, i);
        AT t;
        zero(t);
        row_dot<32, IT>(indices, data, x, s + lane, e, n, t);
        t = group_sum<32>(t);
        if (b) make_nan(t);
        if (lane == 0) st(y + r0 + i, t);
      }
    }
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
#define MSP_SPMV_STREAM(IT, INAME)                                                               \
  extern "C" __global__ void __launch_bounds__(256) MSP_CAT(MSP_KNAME(spmv, csr, VNAME, INAME), _stream)( \
      const IT* indptr, const IT* indices, const VT* data, const VT* x, VT* y, int m_lo, int m_hi,  \
      int n_lo, int n_hi, int nnz_lo, int nnz_hi) {                                                \
    spmv_csr_stream<IT>(indptr, indices, data, x, y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),   \
                        msp_join(nnz_lo, nnz_hi));                                                 \
  }
#define MSP_SPMV_ALL_G(IT, INAME) \
  MSP_SPMV_STREAM(IT, INAME) MSP_SPMV(IT, INAME, 1) \
  MSP_SPMV(IT, INAME, 2) MSP_SPMV(IT, INAME, 4) MSP_SPMV(IT, INAME, 8) MSP_SPMV(IT, INAME, 16) \
  MSP_SPMV(IT, INAME, 32)

#if defined(MSP_IT_I32)
MSP_SPMV_ALL_G(int, i32)
#else
MSP_SPMV_ALL_G(long long, i64)
#endif
