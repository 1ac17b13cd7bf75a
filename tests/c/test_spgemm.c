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

int main(void) {
  for_each_case(spgemm_case);
  return REPORT();
}
