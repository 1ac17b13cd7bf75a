/* Value/index type helpers for the C kernels: half and bfloat16 conversion, the type-pair X-macro. */
#ifndef MSP_CPU_TYPES_H
#define MSP_CPU_TYPES_H

#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mlx_sparse/msp.h"

#if defined(__GNUC__) || defined(__clang__)
#define MSP_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MSP_ALWAYS_INLINE inline
#endif

typedef uint16_t msp_f16; /* IEEE binary16 storage */
typedef uint16_t msp_bf16; /* bfloat16 storage */
typedef float _Complex msp_c64;

static inline float msp_f16_to_f32(msp_f16 h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: renormalize */
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* float16 -> float32 through a 64K-entry table (built once at load): an array read per value
 * instead of the bit manipulation above. (A branch-free conversion, the bits moved into float
 * position and scaled by 2^112, measured 1.8x slower than the table in SpMV on random values.) */
extern float msp_f16_table[65536];
static inline float msp_f16_load(msp_f16 h) { return msp_f16_table[h]; }

/* float32 -> float16, round to nearest even (overflow to inf, NaN quieted, sign kept), with
 * selects instead of branches so loops of it vectorize (16-bit SpMM rounds its outputs this way).
 * Normal results: rebias the exponent and round the 13 dropped bits. Subnormal results: adding 0.5
 * puts the value's bits at float16's 2^-24 unit, and the FPU rounds them (to nearest even). Equal
 * to a branching reference on all 2^32 inputs (checked when written; the C tests sample it). */
static inline msp_f16 msp_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  const uint32_t norm = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
  float t;
  memcpy(&t, &a, sizeof t);
  t += 0.5f;
  uint32_t tb;
  memcpy(&tb, &t, sizeof tb);
  const uint32_t sub = tb - 0x3f000000u;
  const uint32_t big = 0x7c00u | ((uint32_t)(a > 0x7f800000u) << 9); /* inf (and overflow), or NaN */
  /* select by masks: GCC vectorizes these, not the equivalent ?: chains */
  const uint32_t ms = 0u - (uint32_t)(a < 0x38800000u), mb = 0u - (uint32_t)(a >= 0x47800000u);
  const uint32_t o = (((sub & ms) | (norm & ~ms)) & ~mb) | (big & mb);
  return (msp_f16)(sign | o);
}

static inline float msp_bf16_to_f32(msp_bf16 h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static inline msp_bf16 msp_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (msp_bf16)((x >> 16) | 0x40u); /* quiet nan */
  x += 0x7fffu + ((x >> 16) & 1u); /* round to nearest even */
  return (msp_bf16)(x >> 16);
}

/* Per value type (by its ABI name: f32, f64, f16, bf16, c64): storage msp_vt_<v>, accumulator
 * msp_at_<v>, load (to the accumulator), store (rounding), conjugate, and whether it is float16. */
typedef float msp_vt_f32, msp_at_f32;
typedef double msp_vt_f64, msp_at_f64;
typedef msp_f16 msp_vt_f16;
typedef float msp_at_f16;
typedef msp_bf16 msp_vt_bf16;
typedef float msp_at_bf16;
typedef msp_c64 msp_vt_c64, msp_at_c64;
typedef int32_t msp_it_i32;
typedef int64_t msp_it_i64;
#define msp_load_f32(p) (*(p))
#define msp_load_f64(p) (*(p))
#define msp_load_c64(p) (*(p))
#define msp_load_f16(p) msp_f16_load(*(p))
#define msp_load_bf16(p) msp_bf16_to_f32(*(p))
#define msp_store_f32(p, a) (*(p) = (a))
#define msp_store_f64(p, a) (*(p) = (a))
#define msp_store_c64(p, a) (*(p) = (a))
#define msp_store_f16(p, a) (*(p) = msp_f32_to_f16(a))
#define msp_store_bf16(p, a) (*(p) = msp_f32_to_bf16(a))
#define msp_conj_c64(a) conjf(a)
#define msp_conj_f32(a) (a)
#define msp_conj_f64(a) (a)
#define msp_conj_f16(a) (a)
#define msp_conj_bf16(a) (a)
#define msp_abs_f32(a) fabsf(a)
#define msp_abs_f64(a) fabs(a)
#define msp_abs_f16(a) fabsf(a)
#define msp_abs_bf16(a) fabsf(a)
#define msp_abs_c64(a) cabsf(a)
#define msp_real_f32(a) (a) /* the ordered part (complex: the real part; callers reject complex orderings) */
#define msp_real_f64(a) (a)
#define msp_real_f16(a) (a)
#define msp_real_bf16(a) (a)
#define msp_real_c64(a) crealf(a)
/* conj(u) v in double precision (a wide accumulator for dot products over many terms): double, or
 * double complex computed by parts (no C99 complex multiply, which calls a library routine) */
typedef double msp_wide_f32, msp_wide_f64, msp_wide_f16, msp_wide_bf16;
typedef double _Complex msp_wide_c64;
#define msp_cdot_f32(u, v) ((double)(u) * (double)(v))
#define msp_cdot_f64(u, v) ((double)(u) * (double)(v))
#define msp_cdot_f16(u, v) ((double)(u) * (double)(v))
#define msp_cdot_bf16(u, v) ((double)(u) * (double)(v))
/* re + i im, exactly (C11's CMPLX is missing from some compilers' headers; a complex is two doubles) */
static inline double _Complex msp_cmplx(double re, double im) {
  const union {
    double parts[2];
    double _Complex z;
  } u = {{re, im}};
  return u.z;
}
static inline double _Complex msp_cdot_c64(msp_c64 u, msp_c64 v) {
  const double ur = crealf(u), ui = cimagf(u), vr = crealf(v), vi = cimagf(v);
  return msp_cmplx(ur * vr + ui * vi, ur * vi - ui * vr);
}
#define MSP_ACC_IS_VT_f32 1
#define MSP_ACC_IS_VT_f64 1
#define MSP_ACC_IS_VT_c64 1
#define MSP_ACC_IS_VT_f16 0
#define MSP_ACC_IS_VT_bf16 0
#define MSP_IS_F16_f16 1 /* other value types: undefined, so 0 in #if */
#define MSP_IS_F32_f32 1 /* likewise */

/* a row's entry range [s, e) is malformed (indptr corrupt or past nnz) */
#define MSP_ROW_BAD(s, e, nnz) ((s) < 0 || (e) < (s) || (e) > (nnz))
/* A count whose values 0 .. x - 1 (and x itself) fit the body's index type IT. */
#define MSP_FITS_IT(x) (sizeof(IT) == 8 || (int64_t)(x) <= (int64_t)INT32_MAX)

#define MSP_CAT_(a, b) a##b
#define MSP_CAT(a, b) MSP_CAT_(a, b)
#define MSP_CAT5_(a, b, c, d, e) a##_##b##_##c##_##d##_##e
#define MSP_CAT5(a, b, c, d, e) MSP_CAT5_(a, b, c, d, e)

#endif /* MSP_CPU_TYPES_H */
