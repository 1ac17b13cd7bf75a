/* C tests of the runtime: the op table and registry, call checks, and the float16/bfloat16 conversions. */
#include "check.h"

/* Every CPU op of the table has a registered kernel for every type pair, and no kernel lacks an op. */
static void table(void) {
  int ops = 0, kernels = 0, ok = 1;
  for (const msp_op_info *o = msp_op_table(); o->family != NULL; ++o, ++ops) {
    if (strcmp(o->devices, "GPU") == 0) continue;
    for (int vt = 0; vt < NVT; ++vt)
      for (int it = 0; it < NIT; ++it) {
        char name[96];
        snprintf(name, sizeof name, "%s_%s_%s_%s", o->family, o->op, VTS[vt], ITS[it]);
        if (msp_find_kernel(name) == NULL) printf("missing %s\n", name), ok = 0;
      }
  }
  for (const msp_kernel_entry *e = msp_kernel_table(); e->name != NULL; ++e, ++kernels) ok &= e->op != NULL && e->fn != NULL;
  CHECK(ok && ops > 0 && kernels > 0, "op table and registry agree (%d ops, %d kernels)", ops, kernels);
  CHECK(msp_find_kernel("nope_f32_i32") == NULL, "unknown kernel is NULL");
  CHECK(msp_find_kernel("spmv_csr_mp_f32_i32") == NULL, "GPU-only op has no C kernel");
}

/* msp_call_init fills lengths from the table; msp_call_check rejects what does not match. */
static void call_checks(void) {
  const msp_op_info *spmv = NULL;
  for (const msp_op_info *o = msp_op_table(); o->family != NULL; ++o)
    if (strcmp(o->family, "spmv") == 0 && strcmp(o->op, "csr") == 0) spmv = o;
  msp_call c;
  int32_t p[4] = {0};
  float v[8] = {0};
  CHECK(msp_call_init(&c, "spmv_csr_f32_i32", (const void *[]){p, p, v, v}, (void *[]){v}, (int64_t[]){3, 5, 2}, NULL) == MSP_OK,
        "call_init");
  CHECK(c.n_in == 4 && c.n_out == 1 && c.in_len[0] == 4 && c.in_len[1] == 2 && c.in_len[3] == 5 && c.out_len[0] == 3,
        "call_init lengths from the table");
  CHECK(msp_call_check(spmv, &c) == MSP_OK, "call_check accepts");
  c.iarg[1] = -1;
  CHECK(msp_call_check(spmv, &c) == MSP_EINVAL, "negative size rejected");
  c.iarg[1] = 5, c.n_out = 2;
  CHECK(msp_call_check(spmv, &c) == MSP_EINVAL, "extra output rejected");
  CHECK(msp_call_init(&c, "nope_f32_i32", NULL, NULL, NULL, NULL) == MSP_EINVAL, "call_init of an unknown kernel");
}

/* float16 / bfloat16 conversions round-trip and round to nearest even. */
/* float32 -> float16 written with branches: the reference for the branch-free msp_f32_to_f16 */
static msp_f16 ref_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u, absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return (msp_f16)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) return (msp_f16)(sign | 0x7c00u); /* rounds to >= 65520 */
  if (absx < 0x38800000u) {                                    /* subnormal or zero */
    if (absx < 0x33000000u) return (msp_f16)sign;
    uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (msp_f16)(sign | r);
  }
  uint32_t r = absx - 0x38000000u, out = r >> 13, rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (out & 1u))) out++;
  return (msp_f16)(sign | out);
}

static int same_as_ref_f16(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return msp_f32_to_f16(f) == ref_f32_to_f16(f);
}

static void test_half(void) {
  int ok = 1;
  /* branch-free rounding vs the reference: a stride through all 2^32 inputs, and every input
   * within 2^18 of each boundary (underflow, subnormal, overflow, inf/nan), both signs */
  for (uint64_t u = 0; u <= 0xffffffffull; u += 97) ok &= same_as_ref_f16((uint32_t)u);
  const uint32_t edges[] = {0x33000000u, 0x38800000u, 0x477ff000u, 0x47800000u, 0x7f800000u, 0u};
  for (size_t b = 0; b < sizeof edges / sizeof edges[0]; ++b)
    for (int64_t d = -(1 << 18); d <= (1 << 18); ++d) {
      const int64_t v = (int64_t)edges[b] + d;
      if (v < 0 || v > 0x7fffffff) continue;
      ok &= same_as_ref_f16((uint32_t)v) && same_as_ref_f16((uint32_t)v | 0x80000000u);
    }
  CHECK(ok, "f16 rounding matches the branching reference");
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue; /* nan payloads */
    ok &= msp_f32_to_f16(msp_f16_to_f32((msp_f16)h)) == h;
    ok &= msp_f32_to_bf16(msp_bf16_to_f32((msp_bf16)h)) == h || (h & 0x7f80u) == 0x7f80u;
  }
  CHECK(ok, "half/bfloat16 round trip");
  int same = 1; /* the kernels' float16 load (a table built at load time) equals the reference conversion */
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float a = msp_f16_load((msp_f16)h), b = msp_f16_to_f32((msp_f16)h);
    same &= memcmp(&a, &b, sizeof a) == 0;
  }
  CHECK(same, "f16 load matches the reference conversion for all 65536 inputs");
  CHECK(msp_f32_to_f16(1.0f + 1.0f / 2048.0f) == 0x3c00u, "f16 ties to even (down)");
  CHECK(msp_f32_to_f16(1.0f + 3.0f / 2048.0f) == 0x3c02u, "f16 ties to even (up)");
  CHECK(msp_f32_to_f16(70000.0f) == 0x7c00u, "f16 overflow to inf");
  CHECK(msp_f32_to_f16(5.96046448e-08f) == 0x0001u, "f16 smallest subnormal");
  CHECK(msp_f32_to_bf16(1.00390625f) == 0x3f80u, "bf16 ties to even");
}


int main(void) {
  table();
  call_checks();
  test_half();
  return REPORT();
}
