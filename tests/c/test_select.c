/* C tests of the select family (fromdense counts and fills; CSR subsets: nonzeros, tril, triu) against host references. */
#include "check.h"

/* |v| > |t| for the test's small integers (real part; complex: the modulus) */
static int kept(int vt, double re, double im, double t) {
  const double a = vt == C64 ? re * re + im * im : re * re;
  return a > t * t;
}

static void select_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  case_t tc = case_make(vt, it, m, n, nnz);
  csr_t s = tc.s;
  const int64_t z = tc.z;
  const size_t vs = tc.vs, is = tc.is;
  double *dre = tc.dre, *dim = tc.dim;

  /* fromdense, thresholds 0 and 1.5: counts, then columns and positions in order */
  void *dense = alloc(vs, m * n), *thr = alloc(vs, 1), *counts = alloc(is, m), *ptr = alloc(is, m + 1);
  for (int64_t q = 0; q < m * n; ++q) put_val(vt, dense, q, dre[q], dim[q]);
  for (int ti = 0; ti < 2; ++ti) {
    const double t = ti ? 1.5 : 0.0;
    put_val(vt, thr, 0, t, 0);
    int st = run("select_dense_count", vt, it, (const void *[]){dense, thr}, (void *[]){counts}, (int64_t[]){m, n}, NULL,
                 threads, NULL);
    int ok = st == MSP_OK;
    int64_t total = 0;
    for (int64_t r = 0; r < m; ++r) {
      int64_t k = 0;
      for (int64_t j = 0; j < n; ++j) k += kept(vt, dre[r * n + j], dim[r * n + j], t);
      ok &= get_idx(it, counts, r) == k;
      put_idx(it, ptr, r, total);
      total += k;
    }
    put_idx(it, ptr, m, total);
    CHECK(ok, "dense_count %s %s m=%lld n=%lld t=%g status %d", VTS[vt], ITS[it], (long long)m, (long long)n, t, st);
    void *ind = alloc(is, total), *pos = alloc(is, total);
    st = run("select_dense_fill", vt, it, (const void *[]){dense, thr, ptr}, (void *[]){ind, pos}, (int64_t[]){m, n, total},
             NULL, threads, NULL);
    ok = st == MSP_OK;
    int64_t p = 0;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j)
        if (kept(vt, dre[r * n + j], dim[r * n + j], t)) ok &= get_idx(it, ind, p) == j && get_idx(it, pos, p) == r * n + j, p++;
    CHECK(ok && p == total, "dense_fill %s %s m=%lld n=%lld t=%g status %d", VTS[vt], ITS[it], (long long)m, (long long)n, t, st);
    if (m > 0 && total > 0) { /* a row pointer that disagrees with the counts: EINDEX, nothing written past it */
      put_idx(it, ptr, m, total - 1);
      st = run("select_dense_fill", vt, it, (const void *[]){dense, thr, ptr}, (void *[]){ind, pos}, (int64_t[]){m, n, total - 1},
               NULL, threads, NULL);
      CHECK(st == MSP_EINDEX, "dense_fill inconsistent indptr -> EINDEX (status %d)", st);
      put_idx(it, ptr, m, total);
    }
    free(ind), free(pos);
  }

  /* CSR subsets: nonzeros; tril and triu for k in {-2, 0, 3}; every column, or columns [n/3, n - n/4) */
  const int modes[][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {0, 0, 0}};
  for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; ++mi)
    for (int64_t k = -2; k <= 3; k += (k == 0 ? 3 : 2))
      for (int range = 0; range < 2; ++range) {
        const int nz = modes[mi][0], lo = modes[mi][1], up = modes[mi][2];
        const int64_t shift = k + m; /* k lies in [-m, n] for these shapes, except the empty ones */
        const int64_t c0 = range ? n / 3 : 0, c1 = range ? n - n / 4 : n;
        if (shift < 0 || k > n) continue;
        const int64_t sizes[] = {m, n, z, shift, c0, c1};
        const int64_t flags[] = {nz, lo, up, 0};
        int st = run("select_csr_count", vt, it, (const void *[]){s.indptr, s.indices, s.data}, (void *[]){counts}, sizes, flags,
                     threads, NULL);
        int ok = st == MSP_OK;
        int64_t total = 0;
        for (int64_t r = 0; r < m; ++r) {
          int64_t cnt = 0;
          for (int64_t j = get_idx(it, s.indptr, r); j < get_idx(it, s.indptr, r + 1); ++j) {
            double re, im;
            get_val(vt, s.data, j, &re, &im);
            const int64_t col = get_idx(it, s.indices, j), d = col - r;
            cnt += (!nz || re != 0 || im != 0) && (!lo || d <= k) && (!up || d >= k) && col >= c0 && col < c1;
          }
          ok &= get_idx(it, counts, r) == cnt;
          put_idx(it, ptr, r, total);
          total += cnt;
        }
        put_idx(it, ptr, m, total);
        void *oind = alloc(is, total), *src = alloc(is, total), *odat = alloc(tc.vs, total);
        const int64_t sizes2[] = {m, n, z, total, shift, c0, c1};
        st = run("select_csr_fill", vt, it, (const void *[]){s.indptr, s.indices, s.data, ptr}, (void *[]){oind, src, odat}, sizes2,
                 flags, threads, NULL);
        ok &= st == MSP_OK;
        for (int64_t p = 0; p < total && ok; ++p) { /* sources strictly increasing, kept, columns shifted by c0 */
          const int64_t j = get_idx(it, src, p);
          double re, im;
          get_val(vt, s.data, j, &re, &im);
          ok = j >= 0 && j < z && (p == 0 || j > get_idx(it, src, p - 1)) && get_idx(it, oind, p) == get_idx(it, s.indices, j) - c0 &&
               (!nz || re != 0 || im != 0) && !memcmp((char *)odat + p * tc.vs, (char *)s.data + j * tc.vs, tc.vs);
        }
        CHECK(ok, "csr select %s %s nonzero=%d lower=%d upper=%d k=%lld cols [%lld, %lld) m=%lld status %d", VTS[vt], ITS[it], nz, lo,
              up, (long long)k, (long long)c0, (long long)c1, (long long)m, st);
        free(oind), free(src), free(odat);
      }
  free(dense), free(thr), free(counts), free(ptr);
  case_free(&tc);
}

/* Indexing: row gather (random rows, repeats), column gather (random columns, repeats, any order) and
 * entry lookup in a canonical form of the matrix, each against a host reference. */
static void index_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  case_t tc = case_make(vt, it, m, n, nnz);
  csr_t s = tc.s;
  const int64_t z = tc.z;
  const size_t is = tc.is;
  /* rows: r picks with repeats */
  const int64_t r = m ? 2 * m + 1 : 0;
  void *rows = alloc(is, r), *optr = alloc(is, r + 1);
  int64_t tot = 0;
  for (int64_t i = 0; i < r; ++i) {
    const int64_t row = rand_int(0, m - 1);
    put_idx(it, rows, i, row), put_idx(it, optr, i, tot);
    tot += get_idx(it, s.indptr, row + 1) - get_idx(it, s.indptr, row);
  }
  put_idx(it, optr, r, tot);
  void *rcnt = alloc(is, r);
  int st0 = run("select_rows_count", vt, it, (const void *[]){s.indptr, rows}, (void *[]){rcnt}, (int64_t[]){m, r}, NULL, threads,
                NULL);
  int ok0 = st0 == MSP_OK;
  for (int64_t i = 0; i < r; ++i) ok0 &= get_idx(it, rcnt, i) == get_idx(it, optr, i + 1) - get_idx(it, optr, i);
  CHECK(ok0, "select_rows_count %s %s m=%lld status %d", VTS[vt], ITS[it], (long long)m, st0);
  free(rcnt);
  void *oind = alloc(is, tot), *src = alloc(is, tot), *odat = alloc(tc.vs, tot);
  int st = run("select_rows", vt, it, (const void *[]){s.indptr, s.indices, s.data, rows, optr}, (void *[]){oind, src, odat},
               (int64_t[]){m, z, r, tot}, NULL, threads, NULL);
  int ok = st == MSP_OK;
  for (int64_t i = 0, p = 0; i < r && ok; ++i) {
    const int64_t row = get_idx(it, rows, i);
    for (int64_t j = get_idx(it, s.indptr, row); j < get_idx(it, s.indptr, row + 1); ++j, ++p)
      ok &= get_idx(it, src, p) == j && get_idx(it, oind, p) == get_idx(it, s.indices, j) &&
            !memcmp((char *)odat + p * tc.vs, (char *)s.data + j * tc.vs, tc.vs);
  }
  CHECK(ok, "select_rows %s %s m=%lld n=%lld status %d", VTS[vt], ITS[it], (long long)m, (long long)n, st);
  if (r > 0) { /* a row id out of range: EINDEX */
    const int64_t keep = get_idx(it, rows, 0);
    put_idx(it, rows, 0, m);
    st = run("select_rows", vt, it, (const void *[]){s.indptr, s.indices, s.data, rows, optr}, (void *[]){oind, src, odat},
             (int64_t[]){m, z, r, tot}, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX, "select_rows row out of range -> EINDEX (status %d)", st);
    put_idx(it, rows, 0, keep);
  }
  free(oind), free(src), free(odat), free(rows), free(optr);

  /* columns: q picks with repeats; cptr/corder list the output columns of each input column */
  const int64_t q = n ? n + 3 : 0;
  int64_t *pick = alloc(sizeof(int64_t), q);
  void *cptr = alloc(is, n + 1), *corder = alloc(is, q), *counts = alloc(is, m), *ptr = alloc(is, m + 1);
  int64_t *cnt = alloc(sizeof(int64_t), n + 1);
  for (int64_t t = 0; t < q; ++t) pick[t] = rand_int(0, n - 1), cnt[pick[t] + 1]++;
  for (int64_t c = 0; c < n; ++c) cnt[c + 1] += cnt[c];
  for (int64_t c = 0; c <= n; ++c) put_idx(it, cptr, c, cnt[c]);
  for (int64_t t = 0; t < q; ++t) put_idx(it, corder, cnt[pick[t]]++, t);
  st = run("select_cols_count", vt, it, (const void *[]){s.indptr, s.indices, cptr}, (void *[]){counts}, (int64_t[]){m, n, z},
           NULL, threads, NULL);
  ok = st == MSP_OK;
  tot = 0;
  for (int64_t row = 0; row < m; ++row) {
    int64_t k = 0;
    for (int64_t j = get_idx(it, s.indptr, row); j < get_idx(it, s.indptr, row + 1); ++j)
      for (int64_t t = 0; t < q; ++t) k += pick[t] == get_idx(it, s.indices, j);
    ok &= get_idx(it, counts, row) == k;
    put_idx(it, ptr, row, tot);
    tot += k;
  }
  put_idx(it, ptr, m, tot);
  CHECK(ok, "select_cols_count %s %s m=%lld n=%lld status %d", VTS[vt], ITS[it], (long long)m, (long long)n, st);
  oind = alloc(is, tot), src = alloc(is, tot), odat = alloc(tc.vs, tot);
  st = run("select_cols_fill", vt, it, (const void *[]){s.indptr, s.indices, s.data, cptr, corder, ptr}, (void *[]){oind, src, odat},
           (int64_t[]){m, n, z, q, tot}, NULL, threads, NULL);
  ok = st == MSP_OK;
  for (int64_t p = 0; p < tot && ok; ++p) { /* each output names its source entry and a pick of that column */
    const int64_t j = get_idx(it, src, p), t = get_idx(it, oind, p);
    ok = j >= 0 && j < z && t >= 0 && t < q && pick[t] == get_idx(it, s.indices, j) && (p == 0 || j >= get_idx(it, src, p - 1)) &&
         !memcmp((char *)odat + p * tc.vs, (char *)s.data + j * tc.vs, tc.vs);
  }
  CHECK(ok, "select_cols_fill %s %s m=%lld n=%lld status %d", VTS[vt], ITS[it], (long long)m, (long long)n, st);
  if (n > 0) { /* corder's length disagrees with cptr: EINDEX, nothing read past it */
    st = run("select_cols_fill", vt, it, (const void *[]){s.indptr, s.indices, s.data, cptr, corder, ptr}, (void *[]){oind, src, odat},
             (int64_t[]){m, n, z, q - 1, tot}, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX || (st == MSP_EINVAL), "select_cols_fill short corder -> error (status %d)", st);
  }
  free(oind), free(src), free(odat), free(pick), free(cptr), free(corder), free(counts), free(cnt);

  /* lookup in the canonical form (the dense reference's nonzero cells) */
  int64_t cn = 0;
  for (int64_t k = 0; k < m * n; ++k) cn += tc.dre[k] != 0 || tc.dim[k] != 0;
  void *cind = alloc(is, cn), *qr = alloc(is, 3 * (m + n) + 1), *qc = alloc(is, 3 * (m + n) + 1), *pos = alloc(is, 3 * (m + n) + 1);
  for (int64_t row = 0, p = 0; row < m; ++row) {
    put_idx(it, ptr, row, p);
    for (int64_t c = 0; c < n; ++c)
      if (tc.dre[row * n + c] != 0 || tc.dim[row * n + c] != 0) put_idx(it, cind, p++, c);
    put_idx(it, ptr, row + 1, p);
  }
  const int64_t nq = m && n ? 3 * (m + n) : 0;
  for (int64_t i = 0; i < nq; ++i) put_idx(it, qr, i, rand_int(0, m - 1)), put_idx(it, qc, i, rand_int(0, n - 1));
  st = run("select_lookup", vt, it, (const void *[]){ptr, cind, qr, qc}, (void *[]){pos}, (int64_t[]){m, n, cn, nq}, NULL,
           threads, NULL);
  ok = st == MSP_OK;
  for (int64_t i = 0; i < nq && ok; ++i) {
    const int64_t row = get_idx(it, qr, i), c = get_idx(it, qc, i), p = get_idx(it, pos, i);
    const int stored = tc.dre[row * n + c] != 0 || tc.dim[row * n + c] != 0;
    ok = stored ? p >= get_idx(it, ptr, row) && p < get_idx(it, ptr, row + 1) && get_idx(it, cind, p) == c : p == -1;
  }
  CHECK(ok, "select_lookup %s %s m=%lld n=%lld status %d", VTS[vt], ITS[it], (long long)m, (long long)n, st);
  if (nq > 0) { /* a query outside the matrix: EINDEX and pos -1 */
    put_idx(it, qc, 0, -1);
    st = run("select_lookup", vt, it, (const void *[]){ptr, cind, qr, qc}, (void *[]){pos}, (int64_t[]){m, n, cn, nq}, NULL,
             threads, NULL);
    CHECK(st == MSP_EINDEX && get_idx(it, pos, 0) == -1, "select_lookup column -1 -> EINDEX (status %d)", st);
  }
  /* sorted rows: the binary-search path of csr_count/csr_fill gives what the entry-by-entry path gives */
  void *cval = alloc(tc.vs, cn);
  for (int64_t row = 0, p = 0; row < m; ++row)
    for (int64_t c = 0; c < n; ++c)
      if (tc.dre[row * n + c] != 0 || tc.dim[row * n + c] != 0) put_val(vt, cval, p++, tc.dre[row * n + c], tc.dim[row * n + c]);
  const int64_t modes[][5] = {{0, 0, 0, 0, 1}, {1, 0, -1, 0, 1}, {0, 1, 2, 1, 0}, {1, 1, 0, 1, 1}}; /* lower upper k range */
  void *c1 = alloc(is, m), *c2 = alloc(is, m), *optr2 = alloc(is, m + 1);
  for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; ++mi) {
    const int64_t lo_f = modes[mi][0], up_f = modes[mi][1], k = modes[mi][2], range = modes[mi][3];
    const int64_t shift = k + m, a = range ? n / 4 : 0, b = range ? n - n / 3 : n;
    if (shift < 0 || k > n) continue;
    const int64_t sizes[] = {m, n, cn, shift, a, b};
    int st1 = run("select_csr_count", vt, it, (const void *[]){ptr, cind, cval}, (void *[]){c1}, sizes, (int64_t[]){0, lo_f, up_f, 1},
                  threads, NULL);
    int st2 = run("select_csr_count", vt, it, (const void *[]){ptr, cind, cval}, (void *[]){c2}, sizes, (int64_t[]){0, lo_f, up_f, 0},
                  threads, NULL);
    int okc = st1 == MSP_OK && st2 == MSP_OK && !memcmp(c1, c2, is * (size_t)m);
    int64_t tot2 = 0;
    for (int64_t i = 0; i < m; ++i) put_idx(it, optr2, i, tot2), tot2 += get_idx(it, c1, i);
    put_idx(it, optr2, m, tot2);
    void *o1 = alloc(is, tot2), *s1 = alloc(is, tot2), *d1 = alloc(tc.vs, tot2), *o2 = alloc(is, tot2), *s2 = alloc(is, tot2),
         *d2 = alloc(tc.vs, tot2);
    const int64_t sizes2[] = {m, n, cn, tot2, shift, a, b};
    st1 = run("select_csr_fill", vt, it, (const void *[]){ptr, cind, cval, optr2}, (void *[]){o1, s1, d1}, sizes2,
              (int64_t[]){0, lo_f, up_f, 1}, threads, NULL);
    st2 = run("select_csr_fill", vt, it, (const void *[]){ptr, cind, cval, optr2}, (void *[]){o2, s2, d2}, sizes2,
              (int64_t[]){0, lo_f, up_f, 0}, threads, NULL);
    okc &= st1 == MSP_OK && st2 == MSP_OK && !memcmp(o1, o2, is * (size_t)tot2) && !memcmp(s1, s2, is * (size_t)tot2) &&
          !memcmp(d1, d2, tc.vs * (size_t)tot2);
    CHECK(okc, "csr select, sorted path %s %s lower=%lld upper=%lld k=%lld cols [%lld, %lld) m=%lld n=%lld", VTS[vt], ITS[it],
          (long long)lo_f, (long long)up_f, (long long)k, (long long)a, (long long)b, (long long)m, (long long)n);
    free(o1), free(s1), free(d1), free(o2), free(s2), free(d2);
  }
  free(c1), free(c2), free(optr2), free(cval);
  free(cind), free(qr), free(qc), free(pos), free(ptr);
  case_free(&tc);
}

/* Corrupt structure: an error status, never an out-of-bounds access (ASan checks the latter). */
static void select_errors(void) {
  int32_t indptr[4] = {0, 2, 1, 3}, ind[3] = {0, 1, 2}, counts[3], optr[4] = {0, 1, 2, 9}, oind[3], src[3];
  float val[3] = {1, 2, 3};
  const int64_t sizes[] = {3, 3, 3, 3, 0, 3}, flags[] = {1, 0, 0, 0};
  CHECK(run("select_csr_count", 0, 0, (const void *[]){indptr, ind, val}, (void *[]){counts}, sizes, flags, 1, NULL) == MSP_EINDEX,
        "csr_count decreasing indptr -> EINDEX");
  CHECK(run("select_csr_count", 0, 0, (const void *[]){indptr, ind, val}, (void *[]){counts}, sizes, (int64_t[]){0, 0, 0, 1}, 1,
            NULL) == MSP_EINDEX,
        "csr_count (sorted rows) decreasing indptr -> EINDEX");
  int32_t good[4] = {0, 1, 2, 3};
  float oval[3];
  CHECK(run("select_csr_fill", 0, 0, (const void *[]){good, ind, val, optr}, (void *[]){oind, src, oval}, (int64_t[]){3, 3, 3, 3, 3, 0, 3},
            flags, 1, NULL) == MSP_EINDEX,
        "csr_fill output pointer past nnz2 -> EINDEX");
  CHECK(run("select_csr_count", 0, 0, (const void *[]){good, ind, val}, (void *[]){counts}, sizes, (int64_t[]){1, 2, 0, 0}, 1,
            NULL) == MSP_EINVAL,
        "csr_count flag not 0/1 -> EINVAL");
}

int main(void) {
  for_each_case(select_case);
  for_each_case(index_case);
  select_errors();
  return REPORT();
}
