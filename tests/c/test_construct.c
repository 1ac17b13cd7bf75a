/* C tests of the constructor kernels (the Kronecker product) against dense references. */
#include "check.h"

static void kron_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  case_t ta = case_make(vt, it, m, n, nnz), tb = case_make(vt, it, 3, 4, 7);
  void *ap, *ai, *av, *bp, *bi, *bv;
  const int64_t na = case_canonical(&ta, vt, it, m, n, &ap, &ai, &av), nb = case_canonical(&tb, vt, it, 3, 4, &bp, &bi, &bv);
  const int64_t rows = m * 3;
  void *optr = alloc(isize(it), rows + 1);
  int64_t tot = 0;
  for (int64_t R = 0; R < rows; ++R) {
    const int64_t i = R / 3, k = R % 3;
    put_idx(it, optr, R, tot);
    tot += (get_idx(it, ap, i + 1) - get_idx(it, ap, i)) * (get_idx(it, bp, k + 1) - get_idx(it, bp, k));
  }
  put_idx(it, optr, rows, tot);
  void *oi = alloc(isize(it), tot), *ov = alloc(VSIZE[vt], tot);
  const int64_t sizes[] = {m, 4, na, 3, nb, tot};
  int st = run("construct_kron", vt, it, (const void *[]){ap, ai, av, bp, bi, bv, optr}, (void *[]){oi, ov}, sizes, NULL,
               threads, NULL);
  int ok = st == MSP_OK && tot == na * nb;
  /* every output row: sorted columns, values a * b of the dense references */
  for (int64_t R = 0; R < rows && ok; ++R) {
    const int64_t i = R / 3, k = R % 3;
    int64_t prev = -1;
    for (int64_t p = get_idx(it, optr, R); p < get_idx(it, optr, R + 1) && ok; ++p) {
      const int64_t col = get_idx(it, oi, p), j = col / 4, l = col % 4;
      const double ar = ta.dre[i * n + j], ai_ = ta.dim[i * n + j], br = tb.dre[k * 4 + l], bi_ = tb.dim[k * 4 + l];
      double re, im;
      get_val(vt, ov, p, &re, &im);
      const double er = vt == C64 ? ar * br - ai_ * bi_ : ar * br, ei = vt == C64 ? ar * bi_ + ai_ * br : 0;
      ok = col > prev && j < n && (ar != 0 || ai_ != 0) && (br != 0 || bi_ != 0) && re == er && im == ei;
      prev = col;
    }
  }
  CHECK(ok, "kron %s %s m=%lld n=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, (long long)n, threads, st);
  if (rows > 0 && tot > 0) { /* an output pointer that disagrees with the lengths: EINDEX */
    put_idx(it, optr, rows, tot - 1);
    st = run("construct_kron", vt, it, (const void *[]){ap, ai, av, bp, bi, bv, optr}, (void *[]){oi, ov},
             (int64_t[]){m, 4, na, 3, nb, tot - 1}, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX, "kron inconsistent output pointer -> EINDEX (status %d)", st);
    put_idx(it, optr, rows, tot);
  }
  if (na > 0 && nb > 0) { /* a column of B outside [0, nb), a negative column of A, an overflowing one */
    const int64_t badb[] = {4, -1}, bada[] = {-1, it ? INT64_MAX / 2 : (int64_t)INT32_MAX / 2};
    for (int t = 0; t < 4; ++t) {
      void *arr = t < 2 ? bi : ai;
      const int64_t keep = get_idx(it, arr, 0);
      put_idx(it, arr, 0, t < 2 ? badb[t] : bada[t - 2]);
      st = run("construct_kron", vt, it, (const void *[]){ap, ai, av, bp, bi, bv, optr}, (void *[]){oi, ov}, sizes,
               NULL, threads, NULL);
      CHECK(st == MSP_EINDEX, "kron bad column case %d -> EINDEX (status %d)", t, st);
      put_idx(it, arr, 0, keep);
    }
  }
  free(ap), free(ai), free(av), free(bp), free(bi), free(bv), free(optr), free(oi), free(ov);
  case_free(&ta), case_free(&tb);
}

int main(void) {
  for_each_case(kron_case);
  return REPORT();
}
