// GPU sparse times dense matrix: Y = A X (a warp per row, lanes across columns) and
// Y = A^T X / A^H X (rows scattered with atomics into a zero-initialized accumulator output).
#include "common.cuh"

template <class T> struct UnsignedOf { typedef unsigned long long type; };
template <> struct UnsignedOf<int> { typedef unsigned int type; };

__device__ __forceinline__ float conj_if(float a, bool) { return a; }
__device__ __forceinline__ float2 conj_if(float2 a, bool c) { return c ? make_float2(a.x, -a.y) : a; }

// W consecutive values as AT: one 16-byte load when W * sizeof(VT) == 16, else W scalar loads.
template <int W> __device__ __forceinline__ void ldw(const VT* p, AT* out) {
  if constexpr (W * sizeof(VT) == 16) {
    union {
      uint4 u;
      VT v[W];
    } t;
    t.u = __ldg(reinterpret_cast<const uint4*>(p));
#pragma unroll
    for (int w = 0; w < W; ++w) out[w] = ld_reg(t.v[w]);
  } else {
#pragma unroll
    for (int w = 0; w < W; ++w) out[w] = ld(p + w);
  }
}
template <int W> __device__ __forceinline__ void stw(VT* p, const AT* a) {
  if constexpr (W * sizeof(VT) == 16) {
    union {
      uint4 u;
      VT v[W];
    } t;
#pragma unroll
    for (int w = 0; w < W; ++w) st(&t.v[w], a[w]);
    *reinterpret_cast<uint4*>(p) = t.u;
  } else {
#pragma unroll
    for (int w = 0; w < W; ++w) st(p + w, a[w]);
  }
}

// One row of Y = A X: the warp splits into P = 32 / L slices of L lanes; lane sl of a slice owns
// columns k0 + sl*W .. +W-1 (W per 16-byte load). The warp loads 32 (column, value) pairs at a time
// with one coalesced access and broadcasts them by shuffle; slice p takes pairs p, p+P, ..., four
// X loads in flight per lane; the slices' partial sums are then added in a fixed order.
template <class IT, int W>
__device__ __forceinline__ void spmm_row(const IT* __restrict__ indices, const VT* __restrict__ data,
                                         const VT* __restrict__ X, VT* __restrict__ Y, long long r,
                                         IT s, IT e, bool bad, long long n, long long k, int L, bool conj) {
  typedef typename UnsignedOf<IT>::type U;
  const int lane = threadIdx.x % 32, P = 32 / L, sub = lane / L, sl = lane % L;
  for (long long k0 = 0; k0 < k; k0 += (long long)L * W) {
    const long long col = k0 + (long long)sl * W;
    const bool active = col < k;
    AT acc[W];
#pragma unroll
    for (int w = 0; w < W; ++w) zero(acc[w]);
    bool badcol = false;
    for (IT jb = s; jb < e; jb += 32) {
      const IT j = jb + lane;
      IT cl = 0;
      AT al;
      zero(al);
      if (j < e) {
        cl = lds(indices + j);
        al = conj_if(lds(data + j), conj);
      }
      const int cnt = (int)min((long long)(e - jb), 32LL);
      for (int t0 = 0; t0 < cnt; t0 += 4 * P) {
        AT xv[4][W], av[4];
        bool use[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const int t = t0 + u * P + sub;
          const IT c = shfl_idx(cl, t & 31);
          av[u] = shfl_idx(al, t & 31);
          use[u] = t < cnt && active;
          if (use[u] && (U)c >= (U)n) {
            badcol = true;
            use[u] = false;
          }
          if (use[u]) ldw<W>(X + (long long)c * k + col, xv[u]);
        }
#pragma unroll
        for (int u = 0; u < 4; ++u)
          if (use[u]) {
#pragma unroll
            for (int w = 0; w < W; ++w) fma_acc(acc[w], av[u], xv[u][w]);
          }
      }
    }
    for (int off = L; off < 32; off *= 2) {  // slices 0..P-1 summed pairwise: fixed order
#pragma unroll
      for (int w = 0; w < W; ++w) add_acc(acc[w], shfl_xor(acc[w], off));
      badcol = __shfl_xor_sync(0xffffffffu, (int)badcol, off) != 0 || badcol;
    }
    if (sub == 0 && active) {
      if (bad || badcol) {
#pragma unroll
        for (int w = 0; w < W; ++w) make_nan(acc[w]);
      }
      if (col + W <= k) {
        stw<W>(Y + r * k + col, acc);
      } else {
        for (int w = 0; w < W && col + w < k; ++w) st(Y + r * k + col + w, acc[w]);
      }
    }
  }
}

// Y[m x k] = A X[n x k], row-major, a warp per row. 16-byte loads of X when k is a multiple of
// 16 / sizeof(VT) and X is 16-byte aligned, else one value per lane. in: indptr, indices, data, X;
// out: Y; scalars: m, n, k, nnz (lo, hi pairs), conj.
template <class IT>
__device__ void spmm_csr(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                         const VT* __restrict__ data, const VT* __restrict__ X, VT* __restrict__ Y,
                         long long m, long long n, long long k, long long nnz, bool conj) {
  constexpr int VW = 16 / sizeof(VT);
  const bool vec = k % VW == 0 && (reinterpret_cast<uintptr_t>(X) % 16) == 0 &&
                   (reinterpret_cast<uintptr_t>(Y) % 16) == 0;
  const long long per = vec ? k / VW : k;  // lanes a full row of X needs
  int L = 1;
  while (L < 32 && L < per) L *= 2;
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < m; r += warps) {
    IT s = indptr[r], e = indptr[r + 1];
    const bool bad = s < 0 || e < s || (long long)e > nnz;
    if (bad) s = e = 0;
    if (vec)
      spmm_row<IT, VW>(indices, data, X, Y, r, s, e, bad, n, k, L, conj);
    else
      spmm_row<IT, 1>(indices, data, X, Y, r, s, e, bad, n, k, L, conj);
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
        const IT c = lds(indices + j);
        if ((U)c >= (U)n) continue;
        const AT a = conj_if(lds(data + j), conj);
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

// Two modules (MLX hashes a module's bytes at every launch): MSP_SPMM_PART 0 = A X, 1 = A^T X;
// the harness defines MSP_SPMM_BOTH.
#define MSP_SPMM_N(IT, INAME)                                                                     \
  extern "C" __global__ void __launch_bounds__(256) MSP_KNAME(spmm, csr, VNAME, INAME)(            \
      const IT* indptr, const IT* indices, const VT* data, const VT* X, VT* Y, int m_lo, int m_hi,  \
      int n_lo, int n_hi, int k_lo, int k_hi, int z_lo, int z_hi, bool conj) {                   \
    spmm_csr<IT>(indptr, indices, data, X, Y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),        \
                 msp_join(k_lo, k_hi), msp_join(z_lo, z_hi), conj);                              \
  }
#define MSP_SPMM_T(IT, INAME)                                                                     \
  extern "C" __global__ void __launch_bounds__(256) MSP_KNAME(spmm, csr_t, VNAME, INAME)(          \
      const IT* indptr, const IT* indices, const VT* data, const VT* X, AT* Y, int m_lo, int m_hi,  \
      int n_lo, int n_hi, int k_lo, int k_hi, int z_lo, int z_hi, bool conj) {                   \
    spmm_csr_t<IT>(indptr, indices, data, X, Y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),      \
                   msp_join(k_lo, k_hi), msp_join(z_lo, z_hi), conj);                            \
  }
#if defined(MSP_SPMM_BOTH)
#define MSP_SPMM(IT, INAME) MSP_SPMM_N(IT, INAME) MSP_SPMM_T(IT, INAME)
#elif defined(MSP_SPMM_PART) && MSP_SPMM_PART == 1
#define MSP_SPMM(IT, INAME) MSP_SPMM_T(IT, INAME)
#else
#define MSP_SPMM(IT, INAME) MSP_SPMM_N(IT, INAME)
#endif
#if defined(MSP_IT_I32)
MSP_SPMM(int, i32)
#else
MSP_SPMM(long long, i64)
#endif
