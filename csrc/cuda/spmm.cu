// GPU sparse times dense matrix: Y = A X (L lanes per row across columns, 16-byte loads) and
// Y = A^T X / A^H X (rows scattered with atomics into a zero-initialized accumulator output).
#include "common.cuh"

__device__ __forceinline__ float conj_if(float a, bool) { return a; }
__device__ __forceinline__ float2 conj_if(float2 a, bool c) { return c ? make_float2(a.x, -a.y) : a; }

// 16 bytes of values as AT (VW of them) and back, by bit moves only (no unions, which would put
// the values in local memory).
constexpr int VW = 16 / sizeof(VT);
#if defined(MSP_VT_F32)
__device__ __forceinline__ void ld16(const VT* p, AT* o) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(p));
  o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
}
__device__ __forceinline__ void st16(VT* p, const AT* a) {
  *reinterpret_cast<float4*>(p) = make_float4(a[0], a[1], a[2], a[3]);
}
#elif defined(MSP_VT_C64)
__device__ __forceinline__ void ld16(const VT* p, AT* o) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(p));
  o[0] = make_float2(v.x, v.y), o[1] = make_float2(v.z, v.w);
}
__device__ __forceinline__ void st16(VT* p, const AT* a) {
  *reinterpret_cast<float4*>(p) = make_float4(a[0].x, a[0].y, a[1].x, a[1].y);
}
#else  // float16 / bfloat16: eight values, two per 32-bit word
#if defined(MSP_VT_F16)
__device__ __forceinline__ float half_bits(unsigned short u) { return __half2float(__ushort_as_half(u)); }
__device__ __forceinline__ unsigned short bits_half(float a) { return __half_as_ushort(__float2half_rn(a)); }
#else
__device__ __forceinline__ float half_bits(unsigned short u) { return __bfloat162float(__ushort_as_bfloat16(u)); }
__device__ __forceinline__ unsigned short bits_half(float a) { return __bfloat16_as_ushort(__float2bfloat16_rn(a)); }
#endif
__device__ __forceinline__ void ld16(const VT* p, AT* o) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
  const unsigned u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int q = 0; q < 4; ++q)
    o[2 * q] = half_bits((unsigned short)(u[q] & 0xffffu)), o[2 * q + 1] = half_bits((unsigned short)(u[q] >> 16));
}
// 8 bytes: four values (the A^T X layout, whose 16-byte atomics cover four float accumulators)
__device__ __forceinline__ void ld8(const VT* p, AT* o) {
  const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
  o[0] = half_bits((unsigned short)(v.x & 0xffffu)), o[1] = half_bits((unsigned short)(v.x >> 16));
  o[2] = half_bits((unsigned short)(v.y & 0xffffu)), o[3] = half_bits((unsigned short)(v.y >> 16));
}
#define MSP_HAVE_LD8
__device__ __forceinline__ void st16(VT* p, const AT* a) {
  unsigned u[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) u[q] = (unsigned)bits_half(a[2 * q]) | ((unsigned)bits_half(a[2 * q + 1]) << 16);
  *reinterpret_cast<uint4*>(p) = make_uint4(u[0], u[1], u[2], u[3]);
}
#endif
template <int W> __device__ __forceinline__ void ldw(const VT* p, AT* out) {
  if constexpr (W == VW) {
    ld16(p, out);
#ifdef MSP_HAVE_LD8
  } else if constexpr (W == 4) {
    ld8(p, out);
#endif
  } else {
#pragma unroll
    for (int w = 0; w < W; ++w) out[w] = ld(p + w);
  }
}
template <int W> __device__ __forceinline__ void stw(VT* p, const AT* a) {
  if constexpr (W == VW) {
    st16(p, a);
  } else {
#pragma unroll
    for (int w = 0; w < W; ++w) st(p + w, a[w]);
  }
}

// Rows owned by groups of L lanes (32 / L rows per warp): this lane's place in its group, its
// first row and the grid-stride step.
struct RowSlots {
  int sl;
  long long first, stride;
  __device__ explicit RowSlots(int L) {
    const int P = 32 / L;
    sl = threadIdx.x % L;
    first = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32 * P + (threadIdx.x % 32) / L;
    stride = (long long)gridDim.x * blockDim.x / 32 * P;
  }
};

#ifndef MSP_SPMM_U
#define MSP_SPMM_U 2  // nonzeros per step (bench: -DMSP_SPMM_U=4)
#endif

// Y[m x k] = A X[n x k], row-major. Each row is owned by L lanes (L = 32 when k needs it, fewer
// for narrow X, so 32 / L rows share a warp); lane sl owns columns k0 + sl*W .. +W-1 of each
// L*W-wide column block, W values per 16-byte load. Nonzeros are taken in order, MSP_SPMM_U per
// step with their X loads in flight: the row's sum has one fixed order (deterministic).
template <class IT, int W>
__device__ __forceinline__ void spmm_rows(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                                          const VT* __restrict__ data, const VT* __restrict__ X,
                                          VT* __restrict__ Y, long long m, long long n, long long k,
                                          long long nnz, int L, bool conj) {
  typedef typename Unsigned<IT>::type U;
  const RowSlots rs(L);
  const int sl = rs.sl;
  for (long long r = rs.first; r < m; r += rs.stride) {
    IT s = indptr[r], e = indptr[r + 1];
    const bool bad = s < 0 || e < s || (long long)e > nnz;
    if (bad) s = e = 0;
    for (long long k0 = 0; k0 < k; k0 += (long long)L * W) {
      const long long col = k0 + (long long)sl * W;
      if (col >= k) break;
      AT acc[W];
#pragma unroll
      for (int w = 0; w < W; ++w) zero(acc[w]);
      bool badcol = false;
      IT j = s;
      for (; j + (MSP_SPMM_U - 1) < e; j += MSP_SPMM_U) {  // U nonzeros' loads in flight
        IT c[MSP_SPMM_U];
        AT a[MSP_SPMM_U], xv[MSP_SPMM_U][W];
        bool ok[MSP_SPMM_U];
#pragma unroll
        for (int u = 0; u < MSP_SPMM_U; ++u) {
          c[u] = __ldg(indices + j + u);
          a[u] = conj_if(ld(data + j + u), conj);
          ok[u] = (U)c[u] < (U)n;
          badcol |= !ok[u];
        }
#pragma unroll
        for (int u = 0; u < MSP_SPMM_U; ++u)
          if (ok[u]) ldw<W>(X + (long long)c[u] * k + col, xv[u]);
#pragma unroll
        for (int u = 0; u < MSP_SPMM_U; ++u)
          if (ok[u]) {
#pragma unroll
            for (int w = 0; w < W; ++w) fma_acc(acc[w], a[u], xv[u][w]);
          }
      }
      for (; j < e; ++j) {
        const IT c0 = __ldg(indices + j);
        const AT a0 = conj_if(ld(data + j), conj);
        if ((U)c0 < (U)n) {
          AT x0[W];
          ldw<W>(X + (long long)c0 * k + col, x0);
#pragma unroll
          for (int w = 0; w < W; ++w) fma_acc(acc[w], a0, x0[w]);
        } else {
          badcol = true;
        }
      }
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

// W columns per lane (A X: W = VW, 16-byte loads; A^T X: W = WT, one 16-byte atomic on Y) when k
// is a multiple of W, X is aligned to W values and Y to 16 bytes, else one column per lane. The
// lanes per row (L, a power of two up to 32, 32 / L rows per warp) are the dispatcher's choice
// (_spmm.lanes_per_row: the fewest covering a row of X in W-wide loads), passed in and sized into
// the launch; any L is correct (the column loop and the grid-stride loop cover the rest).
__device__ __forceinline__ bool spmm_vector(long long k, int W, const void* X, const void* Y) {
  return k % W == 0 && (reinterpret_cast<uintptr_t>(X) % (W * sizeof(VT))) == 0 &&
         (reinterpret_cast<uintptr_t>(Y) % 16) == 0;
}

// in: indptr, indices, data, X; out: Y; sizes m, n, k, nnz; conj; L lanes per row.
template <class IT>
__device__ void spmm_csr(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                         const VT* __restrict__ data, const VT* __restrict__ X, VT* __restrict__ Y,
                         long long m, long long n, long long k, long long nnz, bool conj, int L) {
  if (spmm_vector(k, VW, X, Y))
    spmm_rows<IT, VW>(indptr, indices, data, X, Y, m, n, k, nnz, L, conj);
  else
    spmm_rows<IT, 1>(indptr, indices, data, X, Y, m, n, k, nnz, L, conj);
}

// Accumulator p[0..W) += v[0..W), atomically per element; 16 bytes per atomic on sm_90 (red.v4.f32)
// when the W values fill whole 16-byte words (the caller guarantees p is 16-byte aligned then).
template <int W> __device__ __forceinline__ void atomic_add_w(AT* p, const AT* v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int FL = W * (int)(sizeof(AT) / sizeof(float));  // floats in the W accumulators
  if constexpr (FL % 4 == 0) {
    const float* f = reinterpret_cast<const float*>(v);
#pragma unroll
    for (int q = 0; q < FL / 4; ++q)
      atomicAdd(reinterpret_cast<float4*>(p) + q, make_float4(f[4 * q], f[4 * q + 1], f[4 * q + 2], f[4 * q + 3]));
  } else
#endif
  {
#pragma unroll
    for (int w = 0; w < W; ++w) atomic_add(p + w, v[w]);
  }
}

#ifndef MSP_SPMM_TU
#define MSP_SPMM_TU 4  // nonzeros whose (column, value) loads are in flight together
#endif

// Yacc[n x k] += A^T X[m x k] (conj: A^H X); Yacc zero-initialized, accumulator type (f32 or
// complex64). Rows are owned by L lanes as in A X; lane sl loads its W columns of X's row once and
// scatters a * X[r, cols] to row indices[j] of Yacc for each nonzero j of the row, one 16-byte
// atomic per 4 accumulator floats on sm_90 (scalar atomics on older GPUs and for narrow X).
template <class IT, int W>
__device__ __forceinline__ void spmm_t_rows(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                                            const VT* __restrict__ data, const VT* __restrict__ X,
                                            AT* __restrict__ Y, long long m, long long n, long long k,
                                            long long nnz, int L, bool conj) {
  typedef typename Unsigned<IT>::type U;
  const RowSlots rs(L);
  const int sl = rs.sl;
  for (long long r = rs.first; r < m; r += rs.stride) {
    const IT s = indptr[r], e = indptr[r + 1];
    if (s < 0 || e < s || (long long)e > nnz) continue;
    for (long long k0 = 0; k0 < k; k0 += (long long)L * W) {
      const long long col = k0 + (long long)sl * W;
      if (col >= k) break;
      AT xv[W];
      if (col + W <= k) {
        ldw<W>(X + r * k + col, xv);
      } else {
#pragma unroll
        for (int w = 0; w < W; ++w) {
          if (col + w < k) xv[w] = ld(X + r * k + col + w);
          else zero(xv[w]);
        }
      }
      for (IT j = s; j < e; j += MSP_SPMM_TU) {
        IT c[MSP_SPMM_TU];
        AT a[MSP_SPMM_TU];
#pragma unroll
        for (int u = 0; u < MSP_SPMM_TU; ++u) {
          c[u] = -1;
          if (j + u < e) c[u] = __ldg(indices + j + u), a[u] = conj_if(ld(data + j + u), conj);
        }
#pragma unroll
        for (int u = 0; u < MSP_SPMM_TU; ++u) {
          if ((U)c[u] >= (U)n) continue;  // padding, or a bad column (skipped, as on the CPU)
          AT p[W];
#pragma unroll
          for (int w = 0; w < W; ++w) zero(p[w]), fma_acc(p[w], a[u], xv[w]);
          AT* dst = Y + (long long)c[u] * k + col;
          if (col + W <= k) {
            atomic_add_w<W>(dst, p);
          } else {
            for (int w = 0; w < W && col + w < k; ++w) atomic_add(dst + w, p[w]);
          }
        }
      }
    }
  }
}

// A^T X columns per lane: the accumulators one 16-byte atomic covers (4 floats, 2 complex64). For
// 16-bit X that is 8-byte loads, not 16: eight float accumulators per lane held 80 registers and
// ran at half the speed of float32 (2-D Laplacian, k = 64: 4926 vs 2701 us).
template <class IT>
__device__ void spmm_csr_t(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                           const VT* __restrict__ data, const VT* __restrict__ X, AT* __restrict__ Y,
                           long long m, long long n, long long k, long long nnz, bool conj, int L) {
  constexpr int WT = 16 / sizeof(AT);
  if (spmm_vector(k, WT, X, Y))
    spmm_t_rows<IT, WT>(indptr, indices, data, X, Y, m, n, k, nnz, L, conj);
  else
    spmm_t_rows<IT, 1>(indptr, indices, data, X, Y, m, n, k, nnz, L, conj);
}

// Two ops, two modules (MLX hashes a module's bytes at every launch). The lane count is checked
// here: a power of two from 1 to 32 (anything else would break the warp's row slots).
#ifdef MSP_SPMM_MINB  // bench: blocks per SM to fit (caps registers)
#define MSP_SPMM_BOUNDS __launch_bounds__(256, MSP_SPMM_MINB)
#else
#define MSP_SPMM_BOUNDS __launch_bounds__(256)
#endif
#define MSP_SPMM_LANES_OK (lanes >= 1 && lanes <= 32 && (lanes & (lanes - 1)) == 0)
MSP_ENTRY0(spmm, csr, MSP_SPMM_BOUNDS,
           if (MSP_SPMM_LANES_OK) spmm_csr<IT>(indptr, indices, data, x, y, m, n, k, nnz, conj, lanes))
MSP_ENTRY0(spmm, csr_t, MSP_SPMM_BOUNDS,
           if (MSP_SPMM_LANES_OK) spmm_csr_t<IT>(indptr, indices, data, x, y, m, n, k, nnz, conj, lanes))
