/* C tests of the elementwise kernels (the union of two canonical CSR matrices) against dense references. */
#include "check.h"

static void ewise_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  case_t ta = case_make(vt, it, m, n, nnz), tb = case_make(vt, it, m, n, nnz / 2 + 1);
  void *ap, *ai, *av, *bp, *bi, *bv;
  const int64_t na = case_canonical(&ta, vt, it, m, n, &ap, &ai, &av), nb = case_canonical(&tb, vt, it, m, n, &bp, &bi, &bv);
  const size_t is = isize(it), vs = VSIZE[vt];
  for (int inter = 0; inter < 2; ++inter) {
    void *counts = alloc(is, m), *optr = alloc(is, m + 1);
    int st = run("ewise_count", vt, it, (const void *[]){ap, ai, bp, bi}, (void *[]){counts}, (int64_t[]){m, n, na, nb},
                 (int64_t[]){inter}, threads, NULL);
    int ok = st == MSP_OK;
    int64_t tot = 0;
    for (int64_t r = 0; r < m; ++r) {
      int64_t k = 0;
      for (int64_t c2 = 0; c2 < n; ++c2) {
        const int ina = ta.dre[r * n + c2] != 0 || ta.dim[r * n + c2] != 0, inb = tb.dre[r * n + c2] != 0 || tb.dim[r * n + c2] != 0;
        k += inter ? (ina && inb) : (ina || inb);
      }
      ok &= get_idx(it, counts, r) == k;
      put_idx(it, optr, r, tot);
      tot += k;
    }
    put_idx(it, optr, m, tot);
    CHECK(ok, "ewise_count %s %s intersect=%d m=%lld n=%lld status %d", VTS[vt], ITS[it], inter, (long long)m, (long long)n, st);
    for (int mode = 0; mode < (inter ? 1 : (vt == C64 ? 2 : 4)); ++mode) { /* add, subtract, maximum, minimum */
      const int neg = mode == 1, mx_ = mode == 2, mn_ = mode == 3;
      void *oi = alloc(is, tot), *od = alloc(vs, tot), *sa = alloc(is, tot), *sb = alloc(is, tot);
      st = run("ewise_fill", vt, it, (const void *[]){ap, ai, av, bp, bi, bv, optr}, (void *[]){oi, od},
               (int64_t[]){m, n, na, nb, tot}, (int64_t[]){inter, neg, mx_, mn_}, threads, NULL);
      int st2 = run("ewise_sources", vt, it, (const void *[]){ap, ai, bp, bi, optr}, (void *[]){sa, sb},
                    (int64_t[]){m, n, na, nb, tot}, (int64_t[]){inter, neg}, threads, NULL);
      ok = st == MSP_OK && st2 == MSP_OK;
      for (int64_t r = 0; r < m && ok; ++r) {
        int64_t prev = -1;
        for (int64_t p = get_idx(it, optr, r); p < get_idx(it, optr, r + 1) && ok; ++p) {
          const int64_t c2 = get_idx(it, oi, p), x = get_idx(it, sa, p), y = get_idx(it, sb, p);
          const double ar = ta.dre[r * n + c2], aim = ta.dim[r * n + c2], br = tb.dre[r * n + c2], bim = tb.dim[r * n + c2];
          double re, im, er, ei;
          get_val(vt, od, p, &re, &im);
          if (inter) er = ar * br - aim * bim, ei = ar * bim + aim * br;
          else if (mx_) er = ar >= br ? ar : br, ei = 0;
          else if (mn_) er = ar <= br ? ar : br, ei = 0;
          else er = ar + (neg ? -br : br), ei = aim + (neg ? -bim : bim);
          ok = c2 > prev && re == er && im == ei && (x < 0 || get_idx(it, ai, x) == c2) && (y < 0 || get_idx(it, bi, y) == c2) &&
               (inter ? (x >= 0 && y >= 0) : (x >= 0 || y >= 0));
          prev = c2;
        }
      }
      CHECK(ok, "ewise_fill/sources %s %s intersect=%d mode=%d m=%lld status %d %d", VTS[vt], ITS[it], inter, mode, (long long)m,
            st, st2);
      if (m > 0 && tot > 0) { /* an output pointer short of the merge: EINDEX */
        put_idx(it, optr, m, tot - 1);
        st = run("ewise_fill", vt, it, (const void *[]){ap, ai, av, bp, bi, bv, optr}, (void *[]){oi, od},
                 (int64_t[]){m, n, na, nb, tot - 1}, (int64_t[]){inter, neg, mx_, mn_}, threads, NULL);
        CHECK(st == MSP_EINDEX, "ewise_fill short output -> EINDEX (status %d)", st);
        put_idx(it, optr, m, tot);
      }
      free(oi), free(od), free(sa), free(sb);
    }
    free(counts), free(optr);
  }
  free(ap), free(ai), free(av), free(bp), free(bi), free(bv);
  case_free(&ta), case_free(&tb);
}

int main(void) {
  for_each_case(ewise_case);
  return REPORT();
}
