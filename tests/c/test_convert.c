/* C tests of the convert family (COO -> CSR, CSR -> dense, CSR rows <-> row pointer) against host references. */
#include "check.h"

static const coo_t *sort_a;
static int by_row_col(const void *x, const void *y) {
  const int64_t i = *(const int64_t *)x, j = *(const int64_t *)y;
  if (sort_a->row[i] != sort_a->row[j]) return sort_a->row[i] < sort_a->row[j] ? -1 : 1;
  if (sort_a->col[i] != sort_a->col[j]) return sort_a->col[i] < sort_a->col[j] ? -1 : 1;
  return (i > j) - (i < j);
}

static void convert_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  coo_t a = make_coo(m, n, nnz);
  const int64_t z = a.nnz;
  const size_t vs = VSIZE[vt], is = isize(it);
  void *row = alloc(is, z), *col = alloc(is, z), *val = alloc(vs, z);
  for (int64_t k = 0; k < z; ++k) {
    put_idx(it, row, k, a.row[k]);
    put_idx(it, col, k, a.col[k]);
    put_val(vt, val, k, a.re[k], vt == C64 ? a.im[k] : 0);
  }
  void *indptr = alloc(is, m + 1), *ind = alloc(is, z), *cval = alloc(vs, z), *uptr = alloc(is, m + 1);
  const int64_t sizes[] = {m, n, z};
  int st = run("convert_coo_tocsr", vt, it, (const void *[]){row, col, val}, (void *[]){indptr, ind, cval, uptr}, sizes, NULL,
               threads, NULL);
  CHECK(st == MSP_OK, "coo_tocsr %s %s status %d", VTS[vt], ITS[it], st);
  /* sorted by (row, col), equal pairs in input order: the reference is a stable sort of the entries */
  int64_t *perm = alloc(sizeof(int64_t), z);
  for (int64_t k = 0; k < z; ++k) perm[k] = k;
  sort_a = &a; /* by (row, col, input position): the stable order */
  qsort(perm, (size_t)z, sizeof(int64_t), by_row_col);
  int ok = get_idx(it, indptr, 0) == 0 && get_idx(it, indptr, m) == z && get_idx(it, uptr, 0) == 0;
  for (int64_t p = 0; p < z && ok; ++p) {
    const int64_t k = perm[p];
    double re, im;
    get_val(vt, cval, p, &re, &im);
    ok = get_idx(it, indptr, a.row[k]) <= p && p < get_idx(it, indptr, a.row[k] + 1) && get_idx(it, ind, p) == a.col[k] &&
         re == a.re[k] && (vt != C64 || im == a.im[k]);
  }
  for (int64_t r = 0, u = 0; r < m && ok; ++r) { /* uptr: prefix of distinct columns per row */
    for (int64_t p = get_idx(it, indptr, r); p < get_idx(it, indptr, r + 1); ++p)
      u += p == get_idx(it, indptr, r) || get_idx(it, ind, p) != get_idx(it, ind, p - 1);
    ok = get_idx(it, uptr, r + 1) == u;
  }
  free(perm);
  CHECK(ok, "coo_tocsr %s %s m=%lld n=%lld nnz=%lld threads=%d: wrong order or uptr", VTS[vt], ITS[it], (long long)m,
        (long long)n, (long long)z, threads);

  /* csr_tocsc: entries regrouped by column, rows in order (stable) */
  {
    void *tptr = alloc(is, n + 1), *tind = alloc(is, z), *tval = alloc(vs, z);
    st = run("convert_csr_tocsc", vt, it, (const void *[]){indptr, ind, cval}, (void *[]){tptr, tind, tval}, sizes, NULL, threads,
             NULL);
    int64_t *next = alloc(sizeof(int64_t), n + 1);
    ok = st == MSP_OK && get_idx(it, tptr, 0) == 0 && get_idx(it, tptr, n) == z;
    for (int64_t c2 = 0; c2 < n; ++c2) next[c2] = get_idx(it, tptr, c2);
    for (int64_t r = 0; r < m && ok; ++r)
      for (int64_t p = get_idx(it, indptr, r); p < get_idx(it, indptr, r + 1) && ok; ++p) {
        const int64_t q = next[get_idx(it, ind, p)]++;
        ok = q < get_idx(it, tptr, get_idx(it, ind, p) + 1) && get_idx(it, tind, q) == r &&
             !memcmp((char *)tval + q * vs, (char *)cval + p * vs, vs);
      }
    CHECK(ok, "csr_tocsc %s %s m=%lld n=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, (long long)n, threads, st);
    if (z > 0) { /* a column out of range: EINDEX */
      const int64_t keep = get_idx(it, ind, z - 1);
      put_idx(it, ind, z - 1, n);
      st = run("convert_csr_tocsc", vt, it, (const void *[]){indptr, ind, cval}, (void *[]){tptr, tind, tval}, sizes, NULL, threads,
               NULL);
      CHECK(st == MSP_EINDEX, "csr_tocsc column out of range -> EINDEX (status %d)", st);
      put_idx(it, ind, z - 1, keep);
    }
    free(tptr), free(tind), free(tval), free(next);
  }

  /* todense, duplicates summed */
  double *dre = alloc(sizeof(double), m * n), *dim = alloc(sizeof(double), m * n);
  dense_ref(&a, vt, dre, dim);
  void *dense = alloc(vs, m * n);
  st = run("convert_csr_todense", vt, it, (const void *[]){indptr, ind, cval}, (void *[]){dense}, sizes, NULL, threads, NULL);
  ok = st == MSP_OK;
  for (int64_t k = 0; k < m * n && ok; ++k) {
    double re, im;
    get_val(vt, dense, k, &re, &im);
    ok = re == dre[k] && im == dim[k];
  }
  CHECK(ok, "csr_todense %s %s status %d", VTS[vt], ITS[it], st);

  /* expand_rows: the row of every stored entry; indptr_from_rows: back to the row pointer */
  void *rows = alloc(is, z), *ptr2 = alloc(is, m + 1);
  st = run("convert_expand_rows", vt, it, (const void *[]){indptr}, (void *[]){rows}, (int64_t[]){m, z}, NULL, threads, NULL);
  ok = st == MSP_OK;
  for (int64_t r = 0; r < m && ok; ++r)
    for (int64_t p = get_idx(it, indptr, r); p < get_idx(it, indptr, r + 1) && ok; ++p) ok = get_idx(it, rows, p) == r;
  CHECK(ok, "expand_rows %s %s status %d", VTS[vt], ITS[it], st);
  st = run("convert_indptr_from_rows", vt, it, (const void *[]){rows}, (void *[]){ptr2}, (int64_t[]){m, z}, NULL, threads, NULL);
  CHECK(st == MSP_OK && memcmp(ptr2, indptr, is * (size_t)(m + 1)) == 0, "indptr_from_rows %s %s status %d", VTS[vt],
        ITS[it], st);
  if (z > 1) { /* unsorted rows: EINDEX */
    const int64_t r0 = get_idx(it, rows, 0);
    put_idx(it, rows, 0, m - 1);
    put_idx(it, rows, z - 1, 0);
    st = run("convert_indptr_from_rows", vt, it, (const void *[]){rows}, (void *[]){ptr2}, (int64_t[]){m, z}, NULL, 1, NULL);
    CHECK(st == MSP_EINDEX || (m == 1 && r0 == 0), "indptr_from_rows unsorted -> EINDEX (status %d)", st);
  }
  free(row), free(col), free(val), free(indptr), free(ind), free(cval), free(dre), free(dim), free(dense);
  free(rows), free(ptr2), free(uptr);
  free_coo(&a);
}

static void convert_errors(void) {
  int32_t row[2] = {0, 7}, col[2] = {0, 0}, optr[4], oind[2], ouptr[4];
  float val[2] = {1, 2}, oval[2];
  msp_call c;
  msp_call_init(&c, "convert_coo_tocsr_f32_i32", (const void *[]){row, col, val}, (void *[]){optr, oind, oval, ouptr},
                (int64_t[]){3, 3, 2}, NULL);
  msp_kernel_fn fn = msp_find_kernel("convert_coo_tocsr_f32_i32");
  CHECK(fn(&c) == MSP_EINDEX, "coo row out of range");
  int32_t neg[2] = {0, -1};
  c.in[0] = col, c.in[1] = neg;
  CHECK(fn(&c) == MSP_EINDEX, "coo negative col");
  int32_t bad_rows[2] = {-1, 0}, ptr[4];
  msp_call_init(&c, "convert_indptr_from_rows_f32_i32", (const void *[]){bad_rows}, (void *[]){ptr}, (int64_t[]){3, 2}, NULL);
  CHECK(msp_find_kernel("convert_indptr_from_rows_f32_i32")(&c) == MSP_EINDEX, "indptr_from_rows negative row");
}

/* More than 2^31 rows: int64 kernels find the last rows' entries; int32 ones refuse row numbers they
 * cannot write. 16 GiB of address space, almost all of it zero pages never touched (about 60 MB
 * resident, seconds); skipped where the system refuses the address space or MSP_SKIP_BIG_TESTS is set (the sanitizer runs: their shadow memory
 * would make it gigabytes). */
static void big_rows(void) {
  const int64_t m = ((int64_t)1 << 31) + 16, nnz = 4;
  int64_t *ptr = getenv("MSP_SKIP_BIG_TESTS") ? NULL : calloc((size_t)m + 1, sizeof(int64_t));
  int64_t ind[4] = {0, 1, 2, 3}, rows[4] = {0};
  if (ptr == NULL) {
    printf("cases with more than 2^31 rows skipped (no 16 GiB of address space)\n");
    return;
  }
  for (int64_t r = m - 3; r <= m; ++r) ptr[r] = r - (m - 4); /* rows m-4 .. m-1 hold one entry each */
  msp_call c;
  msp_call_init(&c, "convert_expand_rows_f32_i64", (const void *[]){ptr}, (void *[]){rows}, (int64_t[]){m, nnz}, NULL);
  int st = msp_find_kernel("convert_expand_rows_f32_i64")(&c);
  CHECK(st == MSP_OK && rows[0] == m - 4 && rows[3] == m - 1, "big rows: expand_rows i64 (status %d, %lld)", st,
        (long long)rows[3]);
  int64_t q_rows[3] = {m - 1, 0, m - 4}, counts[3] = {-1, -1, -1};
  msp_call_init(&c, "select_rows_count_f32_i64", (const void *[]){ptr, q_rows}, (void *[]){counts}, (int64_t[]){m, 3},
                NULL);
  st = msp_find_kernel("select_rows_count_f32_i64")(&c);
  CHECK(st == MSP_OK && counts[0] == 1 && counts[1] == 0 && counts[2] == 1, "big rows: rows_count i64 (status %d)", st);
  int64_t lr[2] = {m - 2, m - 2}, lc[2] = {2, 3}, pos[2] = {7, 7};
  msp_call_init(&c, "select_lookup_f32_i64", (const void *[]){ptr, ind, lr, lc}, (void *[]){pos},
                (int64_t[]){m, 8, nnz, 2}, NULL);
  st = msp_find_kernel("select_lookup_f32_i64")(&c);
  CHECK(st == MSP_OK && pos[0] == 2 && pos[1] == -1, "big rows: lookup i64 (status %d, %lld %lld)", st,
        (long long)pos[0], (long long)pos[1]);
  free(ptr);
  /* int32: row numbers past INT32_MAX do not fit the output, the kernel refuses instead of wrapping */
  int32_t *ptr32 = calloc((size_t)m + 1, sizeof(int32_t)), rows32[4];
  if (ptr32 == NULL) return;
  for (int64_t r = m - 3; r <= m; ++r) ptr32[r] = (int32_t)(r - (m - 4));
  msp_call_init(&c, "convert_expand_rows_f32_i32", (const void *[]){ptr32}, (void *[]){rows32}, (int64_t[]){m, nnz},
                NULL);
  st = msp_find_kernel("convert_expand_rows_f32_i32")(&c);
  CHECK(st == MSP_EINVAL, "big rows: expand_rows i32 refuses (status %d)", st);
  free(ptr32);
}

int main(void) {
  for_each_case(convert_case);
  convert_errors();
  big_rows();
  return REPORT();
}
