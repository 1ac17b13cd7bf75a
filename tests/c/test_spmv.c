/* C tests of the spmv family (y = A x, and from 16-bit column offsets) against dense double references. */
#include <math.h>

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

/* The fused CG kernels on a square case: cg_matvec's product (exact: small integers) and its
 * per-chunk sums, cg_update's scalars and vectors, against double references. */
static const double CG_TOL[NVT] = {1e-5, 1e-12, 4e-3, 3e-2, 1e-5};
static int cg_close(double a, double b, int vt) { return fabs(a - b) <= CG_TOL[vt] * (1 + fabs(b)); }

static void cg_case(int vt, int it, int64_t m, int64_t n0, int64_t nnz, int threads) {
  (void)n0;
  const int64_t n = m;
  case_t k = case_make(vt, it, m, n, nnz);
  for (int64_t nb = 1; nb <= 5; nb += 4) {
    void *u = alloc(k.vs, n), *w = alloc(k.vs, n), *part = alloc(k.vs, 2 * nb);
    double *ure = alloc(sizeof(double), n), *uim = alloc(sizeof(double), n);
    for (int64_t j = 0; j < n; ++j) {
      ure[j] = (double)rand_int(-2, 2), uim[j] = vt == C64 ? (double)rand_int(-2, 2) : 0;
      put_val(vt, u, j, ure[j], uim[j]);
    }
    int st = run("spmv_cg_matvec", vt, it, (const void *[]){k.s.indptr, k.s.indices, k.s.data, u}, (void *[]){w, part},
                 (int64_t[]){n, k.z, nb}, NULL, threads, NULL);
    int ok = st == MSP_OK;
    const int64_t R = (n + nb - 1) / nb;
    double *wre = alloc(sizeof(double), n), *wim = alloc(sizeof(double), n);
    for (int64_t b = 0; b < nb && ok; ++b) {
      double uu = 0, uwr = 0, uwi = 0, re, im;
      for (int64_t r = b * R; r < n && r < (b + 1) * R; ++r) {
        double sre = 0, sim = 0;
        for (int64_t j = 0; j < n; ++j) {
          sre += k.dre[r * n + j] * ure[j] - k.dim[r * n + j] * uim[j];
          sim += k.dre[r * n + j] * uim[j] + k.dim[r * n + j] * ure[j];
        }
        get_val(vt, w, r, &re, &im);
        ok &= re == sre && im == sim;
        wre[r] = sre, wim[r] = sim;
        uu += ure[r] * ure[r] + uim[r] * uim[r];
        uwr += ure[r] * sre + uim[r] * sim, uwi += ure[r] * sim - uim[r] * sre;
      }
      get_val(vt, part, 2 * b, &re, &im);
      ok &= cg_close(re, uu, vt);
      get_val(vt, part, 2 * b + 1, &re, &im);
      ok &= cg_close(re, uwr, vt) && (vt != C64 || cg_close(im, uwi, vt));
    }
    CHECK(ok, "spmv_cg_matvec %s %s n=%lld nb=%lld threads=%d status %d", VTS[vt], ITS[it], (long long)n, (long long)nb,
          threads, st);
    /* cg_update (real parts only: the scalars of a Hermitian system are real) */
    void *prev = alloc(k.vs, 2), *x = alloc(k.vs, n), *p = alloc(k.vs, n), *sv = alloc(k.vs, n), *scal = alloc(k.vs, 2);
    void *x2 = alloc(k.vs, n), *r2 = alloc(k.vs, n), *p2 = alloc(k.vs, n), *s2 = alloc(k.vs, n);
    for (int64_t b = 0; b < nb; ++b) put_val(vt, part, 2 * b, 4.0 + b, 0), put_val(vt, part, 2 * b + 1, 2.0 + b, 0);
    put_val(vt, prev, 0, 8.0, 0), put_val(vt, prev, 1, 0.5, 0);
    for (int64_t j = 0; j < n; ++j)
      put_val(vt, x, j, (double)rand_int(-2, 2), 0), put_val(vt, p, j, (double)rand_int(-2, 2), 0),
          put_val(vt, sv, j, (double)rand_int(-2, 2), 0);
    for (int first = 0; first <= 1; ++first) {
      st = run("spmv_cg_update", vt, it, (const void *[]){part, prev, u, w, x, p, sv}, (void *[]){x2, r2, p2, s2, scal},
               (int64_t[]){n, nb}, (int64_t[]){first}, threads, NULL);
      double g = 0, d = 0;
      for (int64_t b = 0; b < nb; ++b) g += 4.0 + b, d += 2.0 + b;
      const double beta = first ? 0 : g / 8.0, alpha = first ? g / d : g / (d - beta * g / 0.5);
      double re, im;
      ok = st == MSP_OK;
      get_val(vt, scal, 0, &re, &im);
      ok &= cg_close(re, g, vt);
      get_val(vt, scal, 1, &re, &im);
      ok &= cg_close(re, alpha, vt);
      for (int64_t j = 0; j < n && ok; ++j) {
        double pj, sj, xj, tmp;
        get_val(vt, p, j, &pj, &tmp), get_val(vt, sv, j, &sj, &tmp), get_val(vt, x, j, &xj, &tmp);
        const double pn = ure[j] + beta * pj, sn = wre[j] + beta * sj;
        get_val(vt, p2, j, &re, &im), ok &= cg_close(re, pn, vt);
        get_val(vt, s2, j, &re, &im), ok &= cg_close(re, sn, vt);
        get_val(vt, x2, j, &re, &im), ok &= fabs(re - (xj + alpha * pn)) <= 4 * CG_TOL[vt] * (1 + fabs(alpha * pn) + fabs(xj));
        get_val(vt, r2, j, &re, &im), ok &= fabs(re - (ure[j] - alpha * sn)) <= 4 * CG_TOL[vt] * (1 + fabs(alpha * sn) + fabs(ure[j]));
      }
      CHECK(ok, "spmv_cg_update %s %s n=%lld nb=%lld first=%d status %d", VTS[vt], ITS[it], (long long)n, (long long)nb,
            first, st);
    }
    free(prev), free(x), free(p), free(sv), free(scal), free(x2), free(r2), free(p2), free(s2);
    free(u), free(w), free(part), free(ure), free(uim), free(wre), free(wim);
  }
  case_free(&k);
}

int main(void) {
  for_each_case(spmv_case);
  for_each_case(cg_case);
  spmv_errors();
  return REPORT();
}
