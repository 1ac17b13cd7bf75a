/* C tests of the canonical family (sort rows + sum duplicates; sum runs of sorted triplets) against dense references. */
#include "check.h"

/* the canonical CSR (cind, cv, uptr) equals the dense reference, and keeps every stored position once */
static int is_canonical_of(const coo_t *a, int vt, int it, const void *uptr, const void *cind, const void *cv,
                           const double *dre, const double *dim) {
  int ok = 1;
  for (int64_t r = 0; r < a->m && ok; ++r) {
    int64_t prev = -1;
    for (int64_t p = get_idx(it, uptr, r); p < get_idx(it, uptr, r + 1) && ok; ++p) {
      const int64_t cc = get_idx(it, cind, p);
      double re, im;
      get_val(vt, cv, p, &re, &im);
      ok = cc > prev && cc < a->n && re == dre[r * a->n + cc] && im == dim[r * a->n + cc];
      prev = cc;
    }
  }
  int64_t distinct = 0;
  char *seen = alloc(1, a->m * a->n);
  for (int64_t k = 0; k < a->nnz; ++k)
    if (!seen[a->row[k] * a->n + a->col[k]]) seen[a->row[k] * a->n + a->col[k]] = 1, distinct++;
  free(seen);
  return ok && get_idx(it, uptr, a->m) == distinct;
}

static void canonical_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  case_t tc = case_make(vt, it, m, n, nnz);
  coo_t a = tc.a;
  csr_t s = tc.s;
  const int64_t z = tc.z;
  const size_t vs = tc.vs, is = tc.is;
  double *dre = tc.dre, *dim = tc.dim;
  void *sind = alloc(is, z), *sval = alloc(vs, z), *uptr = alloc(is, m + 1);
  int st = run("canonical_sort_rows", vt, it, (const void *[]){s.indptr, s.indices, s.data}, (void *[]){sind, sval, uptr},
               (int64_t[]){m, n, z}, NULL, threads, NULL);
  CHECK(st == MSP_OK, "sort_rows %s %s status %d", VTS[vt], ITS[it], st);
  const int64_t z2 = get_idx(it, uptr, m);
  void *cind = alloc(is, z2), *cv = alloc(vs, z2);
  st = run("canonical_sum_rows", vt, it, (const void *[]){s.indptr, sind, sval, uptr}, (void *[]){cind, cv},
           (int64_t[]){m, n, z, z2}, NULL, threads, NULL);
  CHECK(st == MSP_OK && is_canonical_of(&a, vt, it, uptr, cind, cv, dre, dim), "sort_rows + sum_rows %s %s m=%lld status %d",
        VTS[vt], ITS[it], (long long)m, st);

  /* sum_runs on the sorted entries (their rows, and each entry's run number) gives the same CSR */
  void *rows = alloc(is, z), *pos = alloc(is, z), *rind = alloc(is, z2), *rv = alloc(vs, z2), *rrow = alloc(is, z2);
  int64_t runs = -1;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = get_idx(it, s.indptr, r); j < get_idx(it, s.indptr, r + 1); ++j) {
      put_idx(it, rows, j, r);
      if (j == get_idx(it, s.indptr, r) || get_idx(it, sind, j) != get_idx(it, sind, j - 1)) runs++;
      put_idx(it, pos, j, runs);
    }
  st = run("canonical_sum_runs", vt, it, (const void *[]){rows, sind, sval, pos}, (void *[]){rind, rv, rrow},
           (int64_t[]){z, z2}, NULL, threads, NULL);
  int ok = st == MSP_OK && memcmp(rind, cind, is * (size_t)z2) == 0 && memcmp(rv, cv, vs * (size_t)z2) == 0;
  for (int64_t p = 0; p < z2 && ok; ++p) ok = get_idx(it, rrow, p) >= 0 && get_idx(it, rrow, p) < m;
  CHECK(ok, "sum_runs %s %s m=%lld status %d", VTS[vt], ITS[it], (long long)m, st);
  if (z > 0) { /* a run position past the output: EINDEX, nothing written out of bounds */
    put_idx(it, pos, 0, z2 + 3);
    st = run("canonical_sum_runs", vt, it, (const void *[]){rows, sind, sval, pos}, (void *[]){rind, rv, rrow},
             (int64_t[]){z, z2}, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX, "sum_runs bad position -> EINDEX (status %d)", st);
  }
  free(sind), free(sval), free(uptr), free(cind), free(cv);
  free(rows), free(pos), free(rind), free(rv), free(rrow);
  case_free(&tc);
}

int main(void) {
  for_each_case(canonical_case);
  return REPORT();
}
