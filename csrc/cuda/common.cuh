// Shared CUDA helpers: the unit's type pair, value-type traits (load/accumulate/store), reductions, entry points.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "mlx_sparse/msp.h"

// MLX passes scalars as 32-bit ints: 64-bit sizes arrive as (lo, hi) pairs.
__device__ __forceinline__ long long msp_join(int lo, int hi) {
  return (long long)(((unsigned long long)(unsigned int)hi << 32) | (unsigned int)lo);
}

// Accumulator type per stored type: f16/bf16 accumulate in f32, complex64 as float2.
template <class T> struct Acc { typedef float type; };
template <> struct Acc<float2> { typedef float2 type; };

__device__ __forceinline__ float ld(const float* p) { return __ldg(p); }
__device__ __forceinline__ float ld(const __half* p) { return __half2float(__ldg(p)); }
__device__ __forceinline__ float ld(const __nv_bfloat16* p) { return __bfloat162float(__ldg(p)); }
__device__ __forceinline__ float2 ld(const float2* p) { return __ldg(p); }

__device__ __forceinline__ void st(float* p, float a) { *p = a; }
__device__ __forceinline__ void st(__half* p, float a) { *p = __float2half_rn(a); }
__device__ __forceinline__ void st(__nv_bfloat16* p, float a) { *p = __float2bfloat16_rn(a); }
__device__ __forceinline__ void st(float2* p, float2 a) { *p = a; }

__device__ __forceinline__ void zero(float& a) { a = 0.f; }
__device__ __forceinline__ void zero(float2& a) { a = make_float2(0.f, 0.f); }
__device__ __forceinline__ void make_nan(float& a) { a = __int_as_float(0x7fc00000); }
__device__ __forceinline__ void make_nan(float2& a) {
  a = make_float2(__int_as_float(0x7fc00000), __int_as_float(0x7fc00000));
}

__device__ __forceinline__ bool is_zero(float a) { return a == 0.f; }
__device__ __forceinline__ bool is_zero(float2 a) { return a.x == 0.f && a.y == 0.f; }

// A row range [s, e) that does not fit in [0, nnz).
__device__ __forceinline__ bool row_bad(long long s, long long e, long long nnz) { return s < 0 || e < s || e > nnz; }

// acc += a * b
__device__ __forceinline__ void fma_acc(float& acc, float a, float b) { acc = fmaf(a, b, acc); }
__device__ __forceinline__ void fma_acc(float2& acc, float2 a, float2 b) {
  acc.x = fmaf(a.x, b.x, fmaf(-a.y, b.y, acc.x));
  acc.y = fmaf(a.x, b.y, fmaf(a.y, b.x, acc.y));
}
// a * b as the C kernels compute it (no accumulation onto +0, which would turn a -0 product into +0)
__device__ __forceinline__ float mul(float a, float b) { return a * b; }
__device__ __forceinline__ float2 mul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

__device__ __forceinline__ void add_acc(float& acc, float a) { acc += a; }
__device__ __forceinline__ void add_acc(float2& acc, float2 a) { acc.x += a.x; acc.y += a.y; }

__device__ __forceinline__ float shfl_down(float v, int off, int width) {
  return __shfl_down_sync(0xffffffffu, v, off, width);
}
__device__ __forceinline__ float2 shfl_down(float2 v, int off, int width) {
  return make_float2(__shfl_down_sync(0xffffffffu, v.x, off, width),
                     __shfl_down_sync(0xffffffffu, v.y, off, width));
}

__device__ __forceinline__ float shfl_up(float v, int off) { return __shfl_up_sync(0xffffffffu, v, off); }
__device__ __forceinline__ float2 shfl_up(float2 v, int off) {
  return make_float2(__shfl_up_sync(0xffffffffu, v.x, off), __shfl_up_sync(0xffffffffu, v.y, off));
}

// Sum over groups of G consecutive lanes; lane 0 of each group holds the result. All lanes call.
template <int G, class A> __device__ __forceinline__ A group_sum(A v) {
  if constexpr (G > 1) {
#pragma unroll
    for (int off = G / 2; off > 0; off /= 2) add_acc(v, shfl_down(v, off, G));
  }
  return v;
}

// Block-wide sum (blockDim.x == B, a multiple of 32); thread 0 holds the result.
template <int B, class A> __device__ __forceinline__ A block_sum(A v, A* scratch) {
  v = group_sum<32>(v);
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) scratch[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < B / 32; ++w) add_acc(v, scratch[w]);
  }
  __syncthreads();
  return v;
}

// Block-wide exclusive segmented sum (blockDim.x == B): thread t gets init + v_0 + ... + v_{t-1},
// restarted at the last thread before t whose flag is set (its v is the first term). `total` gets
// the same prefix over the whole block. One barrier; the scratch may be reused after the next one.
template <int B, class A>
__device__ __forceinline__ A seg_scan_excl(A v, bool flag, A init, A* s_v, int* s_f, A& total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int f = flag;
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {  // inclusive scan inside the warp
    const A pv = shfl_up(v, off);
    const int pf = __shfl_up_sync(0xffffffffu, f, off);
    if (lane >= off) {
      if (!f) add_acc(v, pv);
      f |= pf;
    }
  }
  if (lane == 31) s_v[warp] = v, s_f[warp] = f;
  __syncthreads();
  A pre = init;  // the prefix of the warps before this one
  for (int w = 0; w < B / 32; ++w) {
    if (w == warp) total = pre;
    if (s_f[w]) pre = s_v[w];
    else add_acc(pre, s_v[w]);
  }
  A mine = total;  // warp prefix, then the lanes before this one
  total = pre;
  const A lv = shfl_up(v, 1);
  const int lf = __shfl_up_sync(0xffffffffu, f, 1);
  if (lane > 0) {
    if (lf) mine = lv;
    else add_acc(mine, lv);
  }
  return mine;
}

// atomic d[i] += a for each stored type (f16/bf16 need sm_80 for bf16 atomics).
__device__ __forceinline__ void atomic_add(float* p, float a) { atomicAdd(p, a); }
__device__ __forceinline__ void atomic_add(__half* p, float a) { atomicAdd(p, __float2half_rn(a)); }
__device__ __forceinline__ void atomic_add(__nv_bfloat16* p, float a) {
  atomicAdd(p, __float2bfloat16_rn(a));
}
__device__ __forceinline__ void atomic_add(float2* p, float2 a) {
  atomicAdd(&p->x, a.x);
  atomicAdd(&p->y, a.y);
}

// The type pair this translation unit is built for (-DMSP_VT_<V> -DMSP_IT_<I>: one module per op,
// variant and pair; the harness and CI's compile check build every op of a family at once).
#if defined(MSP_VT_F32)
typedef float VT;
#define VNAME f32
#elif defined(MSP_VT_F16)
typedef __half VT;
#define VNAME f16
#elif defined(MSP_VT_BF16)
typedef __nv_bfloat16 VT;
#define VNAME bf16
#elif defined(MSP_VT_C64)
typedef float2 VT;
#define VNAME c64
#else
#error "define one of MSP_VT_F32, MSP_VT_F16, MSP_VT_BF16, MSP_VT_C64"
#endif
typedef Acc<VT>::type AT;
#if defined(MSP_IT_I32)
typedef int IT;
#define INAME i32
#elif defined(MSP_IT_I64)
typedef long long IT;
#define INAME i64
#else
#error "define one of MSP_IT_I32, MSP_IT_I64"
#endif

// Unsigned counterpart of an index type (one compare checks 0 <= c < n).
template <class T> struct Unsigned { typedef unsigned long long type; };
template <> struct Unsigned<int> { typedef unsigned int type; };

#define MSP_CAT_(a, b) a##b
#define MSP_CAT(a, b) MSP_CAT_(a, b)
#define MSP_KNAME_(fam, op, v, i) mspcu_##fam##_##op##_##v##_##i  // distinct from the C symbols
#define MSP_KNAME(fam, op, v, i) MSP_KNAME_(fam, op, v, i)

// The parameter lists come from the kernel table (ops.gen.cuh, generated from ops.def): inputs,
// outputs, sizes as (lo, hi) int pairs joined into `long long` locals of the same names, flags,
// params. MSP_ENTRY(family, op, variant, bounds, body...) defines the kernel
// mspcu_<family>_<op>_<variant>_<vt>_<it> (MSP_ENTRY0: no variant) only in its own module.
#include "ops.gen.cuh"
#define MSP_ENTRY(fam, op, var, bounds, ...)                                                        \
  MSP_ON_##fam##_##op##_##var(extern "C" __global__ void bounds MSP_KNAME(fam, op##_##var, VNAME, INAME)( \
      MSP_PARAMS_##fam##_##op) {                                                                  \
    MSP_JOINS_##fam##_##op __VA_ARGS__;                                                           \
  })
#define MSP_ENTRY0(fam, op, bounds, ...)                                                            \
  MSP_ON_##fam##_##op(extern "C" __global__ void bounds MSP_KNAME(fam, op, VNAME, INAME)(MSP_PARAMS_##fam##_##op) { \
    MSP_JOINS_##fam##_##op __VA_ARGS__;                                                           \
  })
