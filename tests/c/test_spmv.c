/* C tests of the spmv family (y = A x, and from 16-bit column offsets) against dense double references. */
#include "check.h"

static void spmv_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  coo_t a = make_coo(m, n, nnz);
  csr_t s = make_csr(&a, vt, it);
  const int64_t z = a.nnz;
  double *dre = alloc(sizeof(double), m * n), *dim = alloc(sizeof(double), m * n);
  dense_ref(&a, vt, dre, dim);
  void *x = alloc(VSIZE[vt], n), *y = alloc(VSIZE[vt], m);
  double *xre = alloc(sizeof(double), n), *xim = alloc(sizeof(double), n);
  for (int64_t j = 0; j < n; ++j) {
    xre[j] = (double)rand_int(-2, 2);
    xim[j] = vt == C64 ? (double)rand_int(-2, 2) : 0;
    put_val(vt, x, j, xre[j], xim[j]);
  }
  const int64_t sizes[] = {m, n, z};
  msp_call c;
  int st = run("spmv_csr", vt, it, (const void *[]){s.indptr, s.indices, s.data, x}, (void *[]){y}, sizes, NULL, threads, &c);
  int ok = st == MSP_OK;
  for (int64_t r = 0; r < m && ok; ++r) {
    double sre = 0, sim = 0, re, im;
    for (int64_t j = 0; j < n; ++j) {
      sre += dre[r * n + j] * xre[j] - dim[r * n + j] * xim[j];
      sim += dre[r * n + j] * xim[j] + dim[r * n + j] * xre[j];
    }
    get_val(vt, y, r, &re, &im);
    ok = re == sre && im == sim;
  }
  CHECK(ok, "spmv_csr %s %s m=%lld n=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)m, (long long)n, threads, st);

  /* spmv_csr_d16: the same product from 16-bit column offsets (column - row): the same bits */
  if (m < 32768 && n < 32768) {
    int16_t *deltas = alloc(sizeof(int16_t), z);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = get_idx(it, s.indptr, r); j < get_idx(it, s.indptr, r + 1); ++j)
        deltas[j] = (int16_t)(get_idx(it, s.indices, j) - r);
    void *y16 = alloc(VSIZE[vt], m);
    const void *in16[] = {s.indptr, s.indices, s.data, x, deltas};
    st = run("spmv_csr_d16", vt, it, in16, (void *[]){y16}, sizes, NULL, threads, &c);
    CHECK(st == MSP_OK && memcmp(y16, y, VSIZE[vt] * (size_t)m) == 0, "spmv_csr_d16 %s %s m=%lld n=%lld status %d",
          VTS[vt], ITS[it], (long long)m, (long long)n, st);
    msp_kernel_fn fn = msp_find_kernel("spmv_csr_d16_f32_i32");
    if (z > 0 && vt == 0 && it == 0) { /* an offset past the last column: EINDEX, no out-of-bounds read */
      deltas[0] = (int16_t)(n + 5);
      CHECK(fn(&c) == MSP_EINDEX, "spmv_csr_d16 bad offset -> EINDEX");
    }
    c.in_len[4] = z + 1;
    if (vt == 0 && it == 0) CHECK(fn(&c) == MSP_EINVAL, "spmv_csr_d16 bad offsets length -> EINVAL");
    free(deltas), free(y16);
  }
  free(dre), free(dim), free(x), free(y), free(xre), free(xim);
  free_csr(&s);
  free_coo(&a);
}

/* Malformed input: a status, never an out-of-bounds read. */
static void spmv_errors(void) {
  int32_t indptr[4] = {0, 2, 1, 3}; /* non-monotone */
  int32_t ind[3] = {0, 5, 1};       /* 5 out of range for n = 3 */
  float val[3] = {1, 2, 3}, x[3] = {1, 1, 1}, y[3];
  msp_call c;
  msp_call_init(&c, "spmv_csr_f32_i32", (const void *[]){indptr, ind, val, x}, (void *[]){y}, (int64_t[]){3, 3, 3}, NULL);
  msp_kernel_fn fn = msp_find_kernel("spmv_csr_f32_i32");
  CHECK(fn(&c) == MSP_EINDEX, "spmv malformed -> EINDEX");
  c.in_len[3] = 2;
  CHECK(fn(&c) == MSP_EINVAL, "spmv bad x length -> EINVAL");
  int32_t big[4] = {0, 1, 2, 1000};
  c.in[0] = big, c.in_len[3] = 3;
  ind[1] = 1;
  CHECK(fn(&c) == MSP_EINDEX, "spmv indptr past nnz -> EINDEX");
  int32_t late[4] = {1, 2, 2, 3}; /* rows valid, but entry 0 belongs to no row */
  c.in[0] = late;
  CHECK(fn(&c) == MSP_EINDEX, "spmv indptr not starting at 0 -> EINDEX");
  float X[6] = {1, 1, 1, 1, 1, 1}, Y[6];
  msp_call c2;
  msp_call_init(&c2, "spmm_csr_f32_i32", (const void *[]){late, ind, val, X}, (void *[]){Y}, (int64_t[]){3, 3, 2, 3},
                (int64_t[]){0, 0});
  CHECK(msp_find_kernel("spmm_csr_f32_i32")(&c2) == MSP_EINDEX, "spmm indptr not starting at 0 -> EINDEX");
  msp_call_init(&c2, "spmm_csr_t_f32_i32", (const void *[]){late, ind, val, X}, (void *[]){Y}, (int64_t[]){3, 3, 2, 3},
                (int64_t[]){0, 0});
  CHECK(msp_find_kernel("spmm_csr_t_f32_i32")(&c2) == MSP_EINDEX, "spmm_t indptr not starting at 0 -> EINDEX");
  c.in[0] = big;
  c.n_in = 3;
  CHECK(fn(&c) == MSP_EINVAL, "spmv missing operand -> EINVAL");
}

int main(void) {
  for_each_case(spmv_case);
  spmv_errors();
  return REPORT();
}
