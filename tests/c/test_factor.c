/* C tests of the factorization kernels: triangular solves against dense substitution, ILU(0) and
 * IC(0) against their defining property ((L U)_ij = A_ij, (L L^H)_ij = A_ij on the pattern),
 * singular and malformed input. */
#include <math.h>

#include "check.h"

static const double TOL[NVT] = {2e-4, 1e-11, 3e-2, 2e-1, 2e-4};

/* A canonical CSR of the dense n x n matrix (re, im), the zeros left out. */
static int64_t to_csr(int vt, int it, int64_t n, const double *re, const double *im, void **ptr, void **ind, void **val) {
  int64_t cn = 0;
  for (int64_t q = 0; q < n * n; ++q) cn += re[q] != 0 || im[q] != 0;
  *ptr = alloc(isize(it), n + 1), *ind = alloc(isize(it), cn), *val = alloc(VSIZE[vt], cn);
  for (int64_t r = 0, p = 0; r < n; ++r) {
    put_idx(it, *ptr, r, p);
    for (int64_t c = 0; c < n; ++c)
      if (re[r * n + c] != 0 || im[r * n + c] != 0) put_idx(it, *ind, p, c), put_val(vt, *val, p++, re[r * n + c], im[r * n + c]);
    put_idx(it, *ptr, r + 1, p);
  }
  return cn;
}

/* A random sparse n x n matrix with a dominant diagonal (Hermitian when herm), values exactly
 * representable in every value type. */
static void make_matrix(int vt, int64_t n, int herm, double *re, double *im) {
  for (int64_t q = 0; q < n * n; ++q) re[q] = im[q] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (i != j && rand_int(0, 9) < 2 && (!herm || j < i)) {
        re[i * n + j] = (double)rand_int(-4, 4) / 4, im[i * n + j] = vt == 4 ? (double)rand_int(-4, 4) / 4 : 0;
        if (herm) re[j * n + i] = re[i * n + j], im[j * n + i] = -im[i * n + j];
      }
  for (int64_t i = 0; i < n; ++i) re[i * n + i] = (double)(2 * n + 4);
}

static void factor_case(int vt, int it, int64_t m, int64_t n0, int64_t nnz0, int threads) {
  (void)n0, (void)nnz0;
  const int64_t n = m, k = 3;
  double *re = alloc(sizeof(double), n * n), *im = alloc(sizeof(double), n * n);
  make_matrix(vt, n, 0, re, im);
  void *ptr, *ind, *val;
  const int64_t nnz = to_csr(vt, it, n, re, im, &ptr, &ind, &val);
  /* triangular solves, lower and upper, k right-hand sides */
  void *b = alloc(VSIZE[vt], n * k), *x = alloc(VSIZE[vt], n * k);
  for (int64_t q = 0; q < n * k; ++q) put_val(vt, b, q, (double)rand_int(-8, 8), vt == 4 ? (double)rand_int(-8, 8) : 0);
  for (int lower = 0; lower <= 1; ++lower)
    for (int unit = 0; unit <= 1; ++unit) {
      int st = run("factor_trisolve", vt, it, (const void *[]){ptr, ind, val, b}, (void *[]){x}, (int64_t[]){n, nnz, k},
                   (int64_t[]){lower, unit}, threads, NULL);
      double err = 0, scale = 1;
      double *xr = alloc(sizeof(double), n * k), *xi = alloc(sizeof(double), n * k);
      for (int64_t t = 0; t < n; ++t) { /* dense substitution in double */
        const int64_t i = lower ? t : n - 1 - t;
        for (int64_t q = 0; q < k; ++q) {
          double ar, ai;
          get_val(vt, b, i * k + q, &ar, &ai);
          for (int64_t j = 0; j < n; ++j)
            if (lower ? j < i : j > i) {
              const double vr = re[i * n + j], vi = im[i * n + j];
              ar -= vr * xr[j * k + q] - vi * xi[j * k + q], ai -= vr * xi[j * k + q] + vi * xr[j * k + q];
            }
          const double dr = unit ? 1 : re[i * n + i];
          xr[i * k + q] = ar / dr, xi[i * k + q] = ai / dr;
          double gr, gi;
          get_val(vt, x, i * k + q, &gr, &gi);
          err = fmax(err, fabs(gr - xr[i * k + q]) + fabs(gi - xi[i * k + q]));
          scale = fmax(scale, fabs(xr[i * k + q]));
        }
      }
      CHECK(st == MSP_OK && err <= TOL[vt] * scale, "trisolve %s %s n=%lld lower=%d unit=%d status %d err %g", VTS[vt], ITS[it],
            (long long)n, lower, unit, st, err);
      free(xr), free(xi);
    }
  /* ILU(0): (L U)_ij = A_ij on the pattern */
  void *lu = alloc(VSIZE[vt], nnz);
  int st = run("factor_ilu0", vt, it, (const void *[]){ptr, ind, val}, (void *[]){lu}, (int64_t[]){n, nnz}, NULL, threads, NULL);
  double *Lr = alloc(sizeof(double), n * n), *Li = alloc(sizeof(double), n * n), *Ur = alloc(sizeof(double), n * n),
         *Ui = alloc(sizeof(double), n * n);
  for (int64_t i = 0; i < n; ++i) {
    Lr[i * n + i] = 1;
    for (int64_t p = get_idx(it, ptr, i); p < get_idx(it, ptr, i + 1); ++p) {
      const int64_t j = get_idx(it, ind, p);
      double vr, vi;
      get_val(vt, lu, p, &vr, &vi);
      if (j < i) Lr[i * n + j] = vr, Li[i * n + j] = vi;
      else Ur[i * n + j] = vr, Ui[i * n + j] = vi;
    }
  }
  double err = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = get_idx(it, ptr, i); p < get_idx(it, ptr, i + 1); ++p) {
      const int64_t j = get_idx(it, ind, p);
      double sr = 0, si = 0;
      for (int64_t q = 0; q < n; ++q)
        sr += Lr[i * n + q] * Ur[q * n + j] - Li[i * n + q] * Ui[q * n + j], si += Lr[i * n + q] * Ui[q * n + j] + Li[i * n + q] * Ur[q * n + j];
      err = fmax(err, fabs(sr - re[i * n + j]) + fabs(si - im[i * n + j]));
    }
  CHECK(st == MSP_OK && err <= TOL[vt] * (2 * n + 4), "ilu0 %s %s n=%lld status %d err %g", VTS[vt], ITS[it], (long long)n, st, err);
  /* IC(0) of a Hermitian matrix's lower triangle: (L L^H)_ij = A_ij on the pattern */
  make_matrix(vt, n, 1, re, im);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) re[i * n + j] = im[i * n + j] = 0; /* keep the lower triangle */
  void *lp, *li, *lv;
  const int64_t lnnz = to_csr(vt, it, n, re, im, &lp, &li, &lv);
  void *l = alloc(VSIZE[vt], lnnz);
  st = run("factor_ic0", vt, it, (const void *[]){lp, li, lv}, (void *[]){l}, (int64_t[]){n, lnnz}, NULL, threads, NULL);
  for (int64_t q = 0; q < n * n; ++q) Lr[q] = Li[q] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = get_idx(it, lp, i); p < get_idx(it, lp, i + 1); ++p) {
      double vr, vi;
      get_val(vt, l, p, &vr, &vi);
      Lr[i * n + get_idx(it, li, p)] = vr, Li[i * n + get_idx(it, li, p)] = vi;
    }
  err = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = get_idx(it, lp, i); p < get_idx(it, lp, i + 1); ++p) {
      const int64_t j = get_idx(it, li, p);
      double sr = 0, si = 0; /* sum_q L_iq conj(L_jq) */
      for (int64_t q = 0; q < n; ++q)
        sr += Lr[i * n + q] * Lr[j * n + q] + Li[i * n + q] * Li[j * n + q], si += Li[i * n + q] * Lr[j * n + q] - Lr[i * n + q] * Li[j * n + q];
      err = fmax(err, fabs(sr - re[i * n + j]) + fabs(si - im[i * n + j]));
    }
  CHECK(st == MSP_OK && err <= TOL[vt] * (2 * n + 4), "ic0 %s %s n=%lld status %d err %g", VTS[vt], ITS[it], (long long)n, st, err);
  if (n > 1) { /* a zero pivot, a negative one, an unsorted row, a malformed row pointer */
    for (int64_t p = get_idx(it, ptr, 0); p < get_idx(it, ptr, 1); ++p)
      if (get_idx(it, ind, p) == 0) put_val(vt, val, p, 0, 0); /* A_00 = 0 */
    st = run("factor_trisolve", vt, it, (const void *[]){ptr, ind, val, b}, (void *[]){x}, (int64_t[]){n, nnz, k},
             (int64_t[]){1, 0}, threads, NULL);
    CHECK(st == MSP_ESINGULAR, "trisolve zero diagonal -> ESINGULAR (status %d)", st);
    st = run("factor_ilu0", vt, it, (const void *[]){ptr, ind, val}, (void *[]){lu}, (int64_t[]){n, nnz}, NULL, threads, NULL);
    CHECK(st == MSP_ESINGULAR, "ilu0 zero pivot -> ESINGULAR (status %d)", st);
    put_val(vt, lv, get_idx(it, lp, 1) - 1, -1, 0); /* L's first row is its diagonal: make it negative */
    st = run("factor_ic0", vt, it, (const void *[]){lp, li, lv}, (void *[]){l}, (int64_t[]){n, lnnz}, NULL, threads, NULL);
    CHECK(st == MSP_ESINGULAR, "ic0 negative pivot -> ESINGULAR (status %d)", st);
    put_idx(it, ptr, 1, nnz + 5);
    st = run("factor_trisolve", vt, it, (const void *[]){ptr, ind, val, b}, (void *[]){x}, (int64_t[]){n, nnz, k},
             (int64_t[]){1, 0}, threads, NULL);
    const int st2 = run("factor_ilu0", vt, it, (const void *[]){ptr, ind, val}, (void *[]){lu}, (int64_t[]){n, nnz}, NULL,
                        threads, NULL);
    CHECK(st == MSP_EINDEX && st2 == MSP_EINDEX, "malformed row pointer -> EINDEX (status %d, %d)", st, st2);
  }
  free(re), free(im), free(ptr), free(ind), free(val), free(b), free(x), free(lu), free(Lr), free(Li), free(Ur), free(Ui),
      free(lp), free(li), free(lv), free(l);
}

int main(void) {
  const int64_t sizes[] = {0, 1, 2, 7, 40, 150};
  for (int vt = 0; vt < NVT; ++vt)
    for (int it = 0; it < NIT; ++it)
      for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) factor_case(vt, it, sizes[s], 0, 0, 1);
  return REPORT();
}
