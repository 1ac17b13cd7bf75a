/* C tests of the sparse-sparse product (symbolic count, numeric fill) against dense references. */
#include "check.h"

static void spgemm_case(int vt, int it, int64_t m, int64_t k, int64_t nnz, int threads) {
  const int64_t n = k > 0 ? 9 : 0;
  case_t ta = case_make(vt, it, m, k, nnz), tb = case_make(vt, it, k, n, 3 * k + 1);
  const size_t is = isize(it), vs = VSIZE[vt];
  void *counts = alloc(is, m), *cptr = alloc(is, m + 1);
  const int64_t sizes[] = {m, k, n, ta.z, tb.z};
  int st = run("spgemm_count", vt, it, (const void *[]){ta.s.indptr, ta.s.indices, tb.s.indptr, tb.s.indices}, (void *[]){counts},
               sizes, NULL, threads, NULL);
  /* the structural product: column c is in row r when some stored (r, j) of A meets a stored (j, c) of B */
  char *hit = alloc(1, m * n);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t ja = get_idx(it, ta.s.indptr, r); ja < get_idx(it, ta.s.indptr, r + 1); ++ja) {
      const int64_t j = get_idx(it, ta.s.indices, ja);
      for (int64_t jb = get_idx(it, tb.s.indptr, j); jb < get_idx(it, tb.s.indptr, j + 1); ++jb) hit[r * n + get_idx(it, tb.s.indices, jb)] = 1;
    }
  int ok = st == MSP_OK;
  int64_t tot = 0;
  for (int64_t r = 0; r < m; ++r) {
    int64_t cnt = 0;
    for (int64_t cc = 0; cc < n; ++cc) cnt += hit[r * n + cc];
    ok &= get_idx(it, counts, r) == cnt;
    put_idx(it, cptr, r, tot);
    tot += cnt;
  }
  put_idx(it, cptr, m, tot);
  CHECK(ok, "spgemm_count %s %s m=%lld k=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, (long long)k, threads, st);
  { /* rowflops: the products per row */
    void *fl = alloc(is, m);
    st = run("spgemm_rowflops", vt, it, (const void *[]){ta.s.indptr, ta.s.indices, tb.s.indptr}, (void *[]){fl},
             (int64_t[]){m, k, ta.z}, NULL, threads, NULL);
    int okf = st == MSP_OK;
    for (int64_t r = 0; r < m; ++r) {
      int64_t f = 0;
      for (int64_t ja = get_idx(it, ta.s.indptr, r); ja < get_idx(it, ta.s.indptr, r + 1); ++ja) {
        const int64_t j = get_idx(it, ta.s.indices, ja);
        f += get_idx(it, tb.s.indptr, j + 1) - get_idx(it, tb.s.indptr, j);
      }
      okf &= get_idx(it, fl, r) == f;
    }
    CHECK(okf, "spgemm_rowflops %s %s m=%lld status %d", VTS[vt], ITS[it], (long long)m, st);
    free(fl);
  }
  void *cind = alloc(is, tot), *cdat = alloc(vs, tot);
  st = run("spgemm_fill", vt, it,
           (const void *[]){ta.s.indptr, ta.s.indices, ta.s.data, tb.s.indptr, tb.s.indices, tb.s.data, cptr},
           (void *[]){cind, cdat}, (int64_t[]){m, k, n, ta.z, tb.z, tot}, NULL, threads, NULL);
  ok = st == MSP_OK;
  for (int64_t r = 0; r < m && ok; ++r) {
    int64_t prev = -1;
    for (int64_t p = get_idx(it, cptr, r); p < get_idx(it, cptr, r + 1) && ok; ++p) {
      const int64_t cc = get_idx(it, cind, p);
      double re = 0, im = 0, er = 0, ei = 0;
      get_val(vt, cdat, p, &re, &im);
      for (int64_t j = 0; j < k; ++j) { /* the dense product of the dense references */
        const double ar = ta.dre[r * k + j], ai = ta.dim[r * k + j], br = tb.dre[j * n + cc], bi = tb.dim[j * n + cc];
        er += ar * br - ai * bi, ei += ar * bi + ai * br;
      }
      ok = cc > prev && cc < n && hit[r * n + cc] && re == er && im == ei;
      prev = cc;
    }
  }
  CHECK(ok, "spgemm_fill %s %s m=%lld k=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, (long long)k, threads, st);
  { /* the kept plan's numeric pass: the same values into the fill's columns (sums in the same order) */
    void *rdat = alloc(vs, tot);
    st = run("spgemm_refill", vt, it,
             (const void *[]){ta.s.indptr, ta.s.indices, ta.s.data, tb.s.indptr, tb.s.indices, tb.s.data, cptr, cind},
             (void *[]){rdat}, (int64_t[]){m, k, n, ta.z, tb.z, tot}, NULL, threads, NULL);
    int same = st == MSP_OK;
    for (int64_t p = 0; p < tot && same; ++p) {
      double r1, i1, r2, i2;
      get_val(vt, cdat, p, &r1, &i1), get_val(vt, rdat, p, &r2, &i2);
      same = r1 == r2 && i1 == i2;
    }
    CHECK(same, "spgemm_refill %s %s m=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, threads, st);
    if (tot > 0) { /* a column outside [0, n): EINDEX */
      const int64_t keep = get_idx(it, cind, 0);
      put_idx(it, cind, 0, n + 3);
      st = run("spgemm_refill", vt, it,
               (const void *[]){ta.s.indptr, ta.s.indices, ta.s.data, tb.s.indptr, tb.s.indices, tb.s.data, cptr, cind},
               (void *[]){rdat}, (int64_t[]){m, k, n, ta.z, tb.z, tot}, NULL, threads, NULL);
      CHECK(st == MSP_EINDEX, "spgemm_refill bad column -> EINDEX (status %d)", st);
      put_idx(it, cind, 0, keep);
    }
    free(rdat);
  }
  if (m > 0 && tot > 0) { /* an output pointer that disagrees with the counts: EINDEX */
    put_idx(it, cptr, m, tot - 1);
    st = run("spgemm_fill", vt, it,
             (const void *[]){ta.s.indptr, ta.s.indices, ta.s.data, tb.s.indptr, tb.s.indices, tb.s.data, cptr},
             (void *[]){cind, cdat}, (int64_t[]){m, k, n, ta.z, tb.z, tot - 1}, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX, "spgemm_fill inconsistent cptr -> EINDEX (status %d)", st);
  }
  if (ta.z > 0) { /* a column of A outside B's rows: EINDEX */
    const int64_t keep = get_idx(it, ta.s.indices, 0);
    put_idx(it, ta.s.indices, 0, k);
    st = run("spgemm_count", vt, it, (const void *[]){ta.s.indptr, ta.s.indices, tb.s.indptr, tb.s.indices}, (void *[]){counts},
             sizes, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX, "spgemm_count column out of range -> EINDEX (status %d)", st);
    put_idx(it, ta.s.indices, 0, keep);
  }
  free(counts), free(cptr), free(hit), free(cind), free(cdat);
  case_free(&ta), case_free(&tb);
}

/* sampled: out[(i, j)] = sum_c G[i, c] H[j, c] on S's stored entries (S unsorted, with duplicates) */
static void sampled_case(int vt, int it, int64_t m, int64_t k, int64_t nnz, int threads) {
  const int64_t n = 6;
  case_t ts = case_make(vt, it, m, k, nnz), tg = case_make(vt, it, m, n, 2 * m + 1), th = case_make(vt, it, k, n, 2 * k + 1);
  void *gp, *gi, *gv, *hp, *hi, *hv;
  const int64_t ng = case_canonical(&tg, vt, it, m, n, &gp, &gi, &gv), nh = case_canonical(&th, vt, it, k, n, &hp, &hi, &hv);
  void *out = alloc(VSIZE[vt], ts.z);
  int st = run("spgemm_sampled", vt, it, (const void *[]){ts.s.indptr, ts.s.indices, gp, gi, gv, hp, hi, hv}, (void *[]){out},
               (int64_t[]){m, k, n, ts.z, ng, nh}, NULL, threads, NULL);
  int ok = st == MSP_OK;
  for (int64_t r = 0; r < m && ok; ++r)
    for (int64_t e = get_idx(it, ts.s.indptr, r); e < get_idx(it, ts.s.indptr, r + 1) && ok; ++e) {
      const int64_t j = get_idx(it, ts.s.indices, e);
      double er = 0, ei = 0, re, im;
      for (int64_t c2 = 0; c2 < n; ++c2) {
        const double gr = tg.dre[r * n + c2], gi2 = tg.dim[r * n + c2], hr = th.dre[j * n + c2], hi2 = th.dim[j * n + c2];
        er += gr * hr - gi2 * hi2, ei += gr * hi2 + gi2 * hr;
      }
      get_val(vt, out, e, &re, &im);
      ok = re == er && im == ei;
    }
  CHECK(ok, "spgemm_sampled %s %s m=%lld k=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, (long long)k, threads, st);
  free(gp), free(gi), free(gv), free(hp), free(hi), free(hv), free(out);
  case_free(&ts), case_free(&tg), case_free(&th);
}

int main(void) {
  for_each_case(spgemm_case);
  for_each_case(sampled_case);
  return REPORT();
}
