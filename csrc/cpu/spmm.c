/* Sparse times dense-matrix kernels: Y = A X and Y = A^T X (or A^H X), X and Y row-major. */
#include <stdlib.h>

#include "parallel.h"
#include "types.h"

/* (GCC only: clang 14 rejects "f16c" in __builtin_cpu_supports; its builds take the portable block) */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
/* float16 A X (row-major X) on x86 CPUs with F16C and AVX2, chosen at run time: X's values
 * are converted eight at a time (vcvtph2ps) instead of one table read each, 32 columns per pass
 * over a row's entries. Same operations in the same order as the portable block (multiply, then
 * add: no fused multiply-add), so the same bits. */
#define MSP_SPMM_F16C 1
static int msp_f16c_ok(void) {
  static int ok = -1;
  if (ok < 0) ok = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2");
  return ok;
}
#define MSP_F16C_MAC(acc, xp) acc = _mm256_add_ps(acc, _mm256_mul_ps(v, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(xp)))))
/* buf[0 .. kend - kc) = sum over entries j in [s, e) of data[j] * X[indices[j], kc .. kend) */
#define MSP_F16C_CHUNK(IT, INAME)                                                                     \
  __attribute__((target("f16c,avx2"))) static void msp_spmm_f16c_##INAME(                           \
      const IT *restrict indices, const msp_f16 *restrict data, const msp_f16 *restrict x,             \
      float *restrict buf, int64_t s, int64_t e, int64_t n, int64_t xr, int64_t kc, int64_t kend) {   \
    int64_t kb = kc;                                                                                  \
    for (; kb + 32 <= kend; kb += 32) {                                                               \
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                     \
      for (int64_t j = s; j < e; ++j) {                                                               \
        const int64_t col = (int64_t)indices[j];                                                      \
        if ((uint64_t)col >= (uint64_t)n) continue;                                                   \
        const __m256 v = _mm256_set1_ps(msp_f16_load(data[j]));                                       \
        const msp_f16 *xc = x + col * xr + kb;                                                        \
        MSP_F16C_MAC(a0, xc);                                                                         \
        MSP_F16C_MAC(a1, xc + 8);                                                                     \
        MSP_F16C_MAC(a2, xc + 16);                                                                    \
        MSP_F16C_MAC(a3, xc + 24);                                                                    \
      }                                                                                               \
      _mm256_storeu_ps(buf + (kb - kc), a0);                                                          \
      _mm256_storeu_ps(buf + (kb - kc) + 8, a1);                                                      \
      _mm256_storeu_ps(buf + (kb - kc) + 16, a2);                                                     \
      _mm256_storeu_ps(buf + (kb - kc) + 24, a3);                                                     \
    }                                                                                                 \
    for (; kb + 8 <= kend; kb += 8) {                                                                 \
      __m256 a0 = _mm256_setzero_ps();                                                                \
      for (int64_t j = s; j < e; ++j) {                                                               \
        const int64_t col = (int64_t)indices[j];                                                      \
        if ((uint64_t)col >= (uint64_t)n) continue;                                                   \
        const __m256 v = _mm256_set1_ps(msp_f16_load(data[j]));                                       \
        MSP_F16C_MAC(a0, x + col * xr + kb);                                                          \
      }                                                                                               \
      _mm256_storeu_ps(buf + (kb - kc), a0);                                                          \
    }                                                                                                 \
    for (; kb < kend; ++kb) {                                                                         \
      float a0 = 0.0f;                                                                                \
      for (int64_t j = s; j < e; ++j) {                                                               \
        const int64_t col = (int64_t)indices[j];                                                      \
        if ((uint64_t)col >= (uint64_t)n) continue;                                                   \
        a0 += msp_f16_load(data[j]) * msp_f16_load(x[col * xr + kb]);                                \
      }                                                                                               \
      buf[kb - kc] = a0;                                                                              \
    }                                                                                                 \
  }
MSP_F16C_CHUNK(int32_t, i32)
MSP_F16C_CHUNK(int64_t, i64)
#define MSP_F16C_FN_(iname) msp_spmm_f16c_##iname
#define MSP_F16C_FN(iname) MSP_F16C_FN_(iname)

/* float32 A X (row-major X and Y) on x86 CPUs with AVX2, chosen at run time: eight columns per register,
 * 64 per pass over a row's entries (the portable block holds 16). Multiply, then add, as the portable
 * block (no fused multiply-add; the same order of additions per column), so the same bits. */
#define MSP_SPMM_AVX2 1
static int msp_avx2_ok(void) {
  static int ok = -1;
  if (ok < 0) ok = __builtin_cpu_supports("avx2");
  return ok;
}
#define MSP_AVX2_MAC(acc, xp) acc = _mm256_add_ps(acc, _mm256_mul_ps(v, _mm256_loadu_ps(xp)))
/* one pass over the row's entries for the W = 8 * NACC columns from kb: accumulators a[0 .. NACC) */
#define MSP_AVX2_PASS(NACC)                                                               \
  for (; kb + 8 * (NACC) <= k; kb += 8 * (NACC)) {                                        \
    __m256 a[NACC];                                                                       \
    for (int t = 0; t < (NACC); ++t) a[t] = _mm256_setzero_ps();                          \
    for (int64_t j = s; j < e; ++j) {                                                     \
      const int64_t col = (int64_t)indices[j];                                            \
      if ((uint64_t)col >= (uint64_t)n) continue;                                         \
      const __m256 v = _mm256_set1_ps(data[j]);                                           \
      const float *xc = x + col * xr + kb;                                                \
      for (int t = 0; t < (NACC); ++t) MSP_AVX2_MAC(a[t], xc + 8 * t);                    \
    }                                                                                     \
    for (int t = 0; t < (NACC); ++t) _mm256_storeu_ps(y + kb + 8 * t, a[t]);              \
  }
/* y[0 .. k) = sum over entries j in [s, e) of data[j] * X[indices[j], 0 .. k) */
#define MSP_AVX2_ROW(IT, INAME)                                                                         \
  __attribute__((target("avx2"))) static void msp_spmm_avx2_##INAME(                                  \
      const IT *restrict indices, const float *restrict data, const float *restrict x, float *restrict y, \
      int64_t s, int64_t e, int64_t n, int64_t xr, int64_t k) {                                         \
    int64_t kb = 0;                                                                                     \
    MSP_AVX2_PASS(8)                                                                                    \
    MSP_AVX2_PASS(4)                                                                                    \
    MSP_AVX2_PASS(1)                                                                                    \
    for (; kb < k; ++kb) {                                                                              \
      float a0 = 0.0f;                                                                                  \
      for (int64_t j = s; j < e; ++j) {                                                                 \
        const int64_t col = (int64_t)indices[j];                                                        \
        if ((uint64_t)col >= (uint64_t)n) continue;                                                     \
        a0 += data[j] * x[col * xr + kb];                                                               \
      }                                                                                                 \
      y[kb] = a0;                                                                                       \
    }                                                                                                   \
  }
MSP_AVX2_ROW(int32_t, i32)
MSP_AVX2_ROW(int64_t, i64)
#define MSP_AVX2_FN_(iname) msp_spmm_avx2_##iname
#define MSP_AVX2_FN(iname) MSP_AVX2_FN_(iname)
#endif

#define MSP_FAMILY spmm
#define MSP_IMPL "spmm_impl.h"
#include "instantiate.h"
