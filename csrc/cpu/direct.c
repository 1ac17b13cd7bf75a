/* Direct sparse solvers on SuiteSparse: CHOLMOD (supernodal or simplicial LL', AMD/METIS ordering as
 * CHOLMOD chooses), UMFPACK (LU with its fill-reducing ordering) and KLU (LU after a block
 * triangular form, for circuit-like matrices). See direct.h. */
#include "mlx_sparse/direct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"
#include "types.h"

static void say(char *msg, size_t len, const char *text) {
  if (msg && len) snprintf(msg, len, "%s", text);
}

#ifndef MSP_HAVE_SUITESPARSE
int msp_direct_available(void) { return 0; }
int msp_direct_analyze(int kind, int cplx, int64_t n, const int64_t *cp, const int64_t *ri, msp_direct **out, char *msg,
                       size_t len) {
  (void)kind, (void)cplx, (void)n, (void)cp, (void)ri;
  *out = NULL;
  say(msg, len, "built without SuiteSparse");
  return MSP_EUNSUPPORTED;
}
int msp_direct_factor(msp_direct *h, const double *v, char *msg, size_t len) {
  (void)h, (void)v;
  say(msg, len, "built without SuiteSparse");
  return MSP_EUNSUPPORTED;
}
int msp_direct_solve(msp_direct *h, int t, int64_t k, const double *b, double *x, char *msg, size_t len) {
  (void)h, (void)t, (void)k, (void)b, (void)x;
  say(msg, len, "built without SuiteSparse");
  return MSP_EUNSUPPORTED;
}
int msp_direct_logdet(msp_direct *h, double *a, double *b, double *c) {
  (void)h, (void)a, (void)b, (void)c;
  return MSP_EUNSUPPORTED;
}
int64_t msp_direct_fill(msp_direct *h) {
  (void)h;
  return -1;
}
int msp_direct_factors(msp_direct *h, int64_t *lnz, int64_t *unz, char *msg, size_t len) {
  (void)h, (void)lnz, (void)unz;
  say(msg, len, "built without SuiteSparse");
  return MSP_EUNSUPPORTED;
}
int msp_direct_factors_copy(msp_direct *h, int64_t *Lp, int64_t *Li, double *Lx, int64_t *Up, int64_t *Ui, double *Ux,
                            int64_t *perm_r, int64_t *perm_c) {
  (void)h, (void)Lp, (void)Li, (void)Lx, (void)Up, (void)Ui, (void)Ux, (void)perm_r, (void)perm_c;
  return MSP_EUNSUPPORTED;
}
void msp_direct_free(msp_direct *h) { (void)h; }
#else
#include <complex.h>
#include <suitesparse/cholmod.h>
#include <suitesparse/klu.h>
#include <suitesparse/umfpack.h>

struct msp_direct {
  int kind, cplx;
  int64_t n, nnz;
  int64_t *colptr, *rowind;
  double *values; /* the current values (UMFPACK reads them at solve time) */
  /* CHOLMOD */
  cholmod_common cc;
  cholmod_sparse *A;
  cholmod_factor *L;
  int factored;
  /* UMFPACK */
  void *symbolic, *numeric;
  double control[UMFPACK_CONTROL], info[UMFPACK_INFO];
  /* KLU */
  klu_l_common kc;
  klu_l_symbolic *ksym;
  klu_l_numeric *knum;
  /* the factors in scipy's convention, from msp_direct_factors until msp_direct_factors_copy (CSC,
   * rows sorted; values as double complex whatever the kind, written out in the handle's form) */
  int64_t fn, *fLp, *fLi, *fUp, *fUi, *fpr, *fpc;
  double complex *fLx, *fUx;
};

static void factors_clear(msp_direct *h) {
  free(h->fLp), free(h->fLi), free(h->fLx), free(h->fUp), free(h->fUi), free(h->fUx), free(h->fpr), free(h->fpc);
  h->fLp = h->fLi = h->fUp = h->fUi = h->fpr = h->fpc = NULL;
  h->fLx = h->fUx = NULL;
}

int msp_direct_available(void) { return 1; }

int msp_direct_analyze(int kind, int cplx, int64_t n, const int64_t *cp, const int64_t *ri, msp_direct **out, char *msg,
                       size_t len) {
  *out = NULL;
  if (n < 0 || cp[0] != 0) {
    say(msg, len, "malformed column pointer");
    return MSP_EINVAL;
  }
  const int64_t nnz = cp[n];
  for (int64_t j = 0; j < n; ++j)
    if (cp[j + 1] < cp[j]) {
      say(msg, len, "malformed column pointer");
      return MSP_EINDEX;
    }
  for (int64_t p = 0; p < nnz; ++p)
    if (ri[p] < 0 || ri[p] >= n) {
      say(msg, len, "row index out of range");
      return MSP_EINDEX;
    }
  msp_direct *h = calloc(1, sizeof *h);
  if (!h) return MSP_ENOMEM;
  h->kind = kind, h->cplx = cplx, h->n = n, h->nnz = nnz;
  h->colptr = malloc(sizeof(int64_t) * (size_t)(n + 1));
  h->rowind = malloc(sizeof(int64_t) * (size_t)(nnz > 0 ? nnz : 1));
  h->values = calloc((size_t)(nnz > 0 ? nnz : 1) * (cplx ? 2 : 1), sizeof(double));
  if (!h->colptr || !h->rowind || !h->values) {
    msp_direct_free(h);
    return MSP_ENOMEM;
  }
  memcpy(h->colptr, cp, sizeof(int64_t) * (size_t)(n + 1));
  memcpy(h->rowind, ri, sizeof(int64_t) * (size_t)nnz);
  if (kind == MSP_DIRECT_CHOLESKY) {
    cholmod_l_start(&h->cc);
    h->cc.print = 0; /* failures come back as statuses and messages, not as CHOLMOD's own lines on stderr */
    h->cc.final_ll = 1; /* LL' also for simplicial factors (the diagonal of L gives the determinant) */
    h->A = cholmod_l_allocate_sparse((size_t)n, (size_t)n, (size_t)nnz, 0, 1, 1 /* upper */,
                                     cplx ? CHOLMOD_COMPLEX : CHOLMOD_REAL, &h->cc);
    if (!h->A) {
      msp_direct_free(h);
      return MSP_ENOMEM;
    }
    memcpy(h->A->p, cp, sizeof(int64_t) * (size_t)(n + 1));
    memcpy(h->A->i, ri, sizeof(int64_t) * (size_t)nnz);
    h->L = cholmod_l_analyze(h->A, &h->cc);
    if (!h->L) {
      say(msg, len, "CHOLMOD's analysis failed");
      msp_direct_free(h);
      return MSP_ENOMEM;
    }
  } else if (kind == MSP_DIRECT_KLU) {
    klu_l_defaults(&h->kc);
    h->ksym = klu_l_analyze(n, h->colptr, h->rowind, &h->kc);
    if (!h->ksym) {
      const int oom = h->kc.status == KLU_OUT_OF_MEMORY;
      say(msg, len, oom ? "KLU: out of memory" : "KLU's analysis failed");
      msp_direct_free(h);
      return oom ? MSP_ENOMEM : MSP_EINVAL;
    }
  } else {
    umfpack_dl_defaults(h->control);
    int st = cplx ? umfpack_zl_symbolic(n, n, cp, ri, NULL, NULL, &h->symbolic, h->control, h->info)
                  : umfpack_dl_symbolic(n, n, cp, ri, NULL, &h->symbolic, h->control, h->info);
    if (st != UMFPACK_OK) {
      say(msg, len, st == UMFPACK_ERROR_out_of_memory ? "UMFPACK: out of memory" : "UMFPACK's analysis failed");
      msp_direct_free(h);
      return st == UMFPACK_ERROR_out_of_memory ? MSP_ENOMEM : MSP_EINVAL;
    }
  }
  *out = h;
  return MSP_OK;
}

int msp_direct_factor(msp_direct *h, const double *v, char *msg, size_t len) {
  factors_clear(h);
  memcpy(h->values, v, sizeof(double) * (size_t)h->nnz * (h->cplx ? 2 : 1));
  if (h->kind == MSP_DIRECT_CHOLESKY) {
    memcpy(h->A->x, v, sizeof(double) * (size_t)h->nnz * (h->cplx ? 2 : 1));
    h->factored = 0;
    cholmod_l_factorize(h->A, h->L, &h->cc);
    if (h->cc.status == CHOLMOD_NOT_POSDEF || h->L->minor < h->L->n) {
      char text[160];
      long long col = (long long)h->L->minor; /* in the factor's order: report the user's column */
      if (h->L->Perm && h->L->minor < h->L->n) col = (long long)((SuiteSparse_long *)h->L->Perm)[h->L->minor];
      snprintf(text, sizeof text, "the matrix is not positive definite (column %lld)", col);
      say(msg, len, text);
      return MSP_ESINGULAR;
    }
    if (h->cc.status < CHOLMOD_OK) {
      say(msg, len, h->cc.status == CHOLMOD_OUT_OF_MEMORY ? "CHOLMOD: out of memory" : "CHOLMOD's factorization failed");
      return h->cc.status == CHOLMOD_OUT_OF_MEMORY ? MSP_ENOMEM : MSP_EINVAL;
    }
    h->factored = 1;
    return MSP_OK;
  }
  if (h->kind == MSP_DIRECT_KLU) {
    if (h->knum) {
      if (h->cplx) klu_zl_free_numeric(&h->knum, &h->kc);
      else klu_l_free_numeric(&h->knum, &h->kc);
    }
    h->knum = h->cplx ? klu_zl_factor(h->colptr, h->rowind, h->values, h->ksym, &h->kc)
                      : klu_l_factor(h->colptr, h->rowind, h->values, h->ksym, &h->kc);
    if (h->kc.status == KLU_SINGULAR) {
      say(msg, len, "the matrix is singular (a zero pivot)");
      return MSP_ESINGULAR;
    }
    if (!h->knum) {
      say(msg, len, h->kc.status == KLU_OUT_OF_MEMORY ? "KLU: out of memory" : "KLU's factorization failed");
      return h->kc.status == KLU_OUT_OF_MEMORY ? MSP_ENOMEM : MSP_EINVAL;
    }
    return MSP_OK;
  }
  if (h->numeric) {
    if (h->cplx) umfpack_zl_free_numeric(&h->numeric);
    else umfpack_dl_free_numeric(&h->numeric);
  }
  /* complex values are interleaved: UMFPACK's packed-complex form (Az = NULL) */
  int st = h->cplx ? umfpack_zl_numeric(h->colptr, h->rowind, h->values, NULL, h->symbolic, &h->numeric, h->control, h->info)
                   : umfpack_dl_numeric(h->colptr, h->rowind, h->values, h->symbolic, &h->numeric, h->control, h->info);
  if (st == UMFPACK_WARNING_singular_matrix) {
    say(msg, len, "the matrix is singular (a zero pivot)");
    return MSP_ESINGULAR;
  }
  if (st != UMFPACK_OK) {
    say(msg, len, st == UMFPACK_ERROR_out_of_memory ? "UMFPACK: out of memory" : "UMFPACK's factorization failed");
    return st == UMFPACK_ERROR_out_of_memory ? MSP_ENOMEM : MSP_EINVAL;
  }
  return MSP_OK;
}

int msp_direct_solve(msp_direct *h, int trans, int64_t k, const double *b, double *x, char *msg, size_t len) {
  const int64_t n = h->n, w = h->cplx ? 2 : 1;
  if (h->kind == MSP_DIRECT_CHOLESKY) {
    if (!h->factored) {
      say(msg, len, "not factorized");
      return MSP_EINVAL;
    }
    cholmod_dense B;
    memset(&B, 0, sizeof B);
    B.nrow = (size_t)n, B.ncol = (size_t)k, B.nzmax = (size_t)(n * k), B.d = (size_t)n;
    B.x = (void *)b, B.xtype = h->cplx ? CHOLMOD_COMPLEX : CHOLMOD_REAL, B.dtype = CHOLMOD_DOUBLE;
    cholmod_dense *X = cholmod_l_solve(CHOLMOD_A, h->L, &B, &h->cc);
    if (!X) {
      say(msg, len, "CHOLMOD's solve failed");
      return MSP_ENOMEM;
    }
    memcpy(x, X->x, sizeof(double) * (size_t)(n * k * w));
    cholmod_l_free_dense(&X, &h->cc);
    return MSP_OK;
  }
  if (h->kind == MSP_DIRECT_KLU) {
    if (!h->knum) {
      say(msg, len, "not factorized");
      return MSP_EINVAL;
    }
    memcpy(x, b, sizeof(double) * (size_t)(n * k * w)); /* KLU solves in place */
    int64_t ok;
    if (trans == MSP_DIRECT_N)
      ok = h->cplx ? klu_zl_solve(h->ksym, h->knum, n, k, x, &h->kc) : klu_l_solve(h->ksym, h->knum, n, k, x, &h->kc);
    else
      ok = h->cplx ? klu_zl_tsolve(h->ksym, h->knum, n, k, x, trans == MSP_DIRECT_H, &h->kc)
                   : klu_l_tsolve(h->ksym, h->knum, n, k, x, &h->kc);
    if (!ok) {
      say(msg, len, "KLU's solve failed");
      return MSP_EINVAL;
    }
    return MSP_OK;
  }
  if (!h->numeric) {
    say(msg, len, "not factorized");
    return MSP_EINVAL;
  }
  int sys = trans == MSP_DIRECT_N ? UMFPACK_A : trans == MSP_DIRECT_T ? UMFPACK_Aat : UMFPACK_At;
  if (!h->cplx && sys == UMFPACK_Aat) sys = UMFPACK_At;
  for (int64_t c = 0; c < k; ++c) {
    const int st = h->cplx ? umfpack_zl_solve(sys, h->colptr, h->rowind, h->values, NULL, x + c * n * w, NULL, b + c * n * w,
                                              NULL, h->numeric, h->control, h->info)
                           : umfpack_dl_solve(sys, h->colptr, h->rowind, h->values, x + c * n, b + c * n, h->numeric,
                                              h->control, h->info);
    if (st != UMFPACK_OK && st != UMFPACK_WARNING_singular_matrix) {
      say(msg, len, "UMFPACK's solve failed");
      return MSP_EINVAL;
    }
  }
  return MSP_OK;
}

int msp_direct_logdet(msp_direct *h, double *logabs, double *sre, double *sim) {
  double la = 0, ph = 0, sg = 1;
  if (h->kind == MSP_DIRECT_CHOLESKY) {
    if (!h->factored) return MSP_EINVAL;
    cholmod_factor *L = h->L;
    const int w = h->cplx ? 2 : 1;
    const double *Lx = (const double *)L->x;
    if (L->is_super) {
      const int64_t *super = L->super, *pi = L->pi, *px = L->px;
      for (size_t s = 0; s < L->nsuper; ++s) {
        const int64_t k1 = super[s], k2 = super[s + 1], nsrow = pi[s + 1] - pi[s];
        for (int64_t j = 0; j < k2 - k1; ++j) la += 2 * log(fabs(Lx[w * (px[s] + j * nsrow + j)]));
      }
    } else {
      const int64_t *Lp = L->p;
      for (size_t j = 0; j < L->n; ++j) la += 2 * log(fabs(Lx[w * Lp[j]]));
    }
  } else if (h->kind == MSP_DIRECT_KLU) {
    /* (R \ A)(P, Q) = L U with L unit: det A = prod(Rs) prod(diag U) sign(P) sign(Q) */
    if (!h->knum) return MSP_EINVAL;
    const klu_l_numeric *N = h->knum;
    const int64_t n = h->n;
    double re = 1, im = 0; /* the unit phase of prod(diag U) */
    for (int64_t i = 0; i < n; ++i) {
      double ur, ui = 0;
      if (h->cplx) ur = ((const double *)N->Udiag)[2 * i], ui = ((const double *)N->Udiag)[2 * i + 1];
      else ur = ((const double *)N->Udiag)[i];
      const double a = hypot(ur, ui);
      la += a > 0 ? log(a) : -INFINITY;
      if (a > 0) {
        const double nr = re * ur / a - im * ui / a, ni = re * ui / a + im * ur / a;
        re = nr, im = ni;
      }
      if (N->Rs) la += log(N->Rs[i]);
    }
    /* the permutations' parity: cycles of even length flip the sign */
    const int64_t *perms[2] = {N->Pnum, h->ksym->Q};
    char *seen = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!seen) return MSP_ENOMEM;
    int flip = 0;
    for (int t = 0; t < 2; ++t) {
      memset(seen, 0, (size_t)(n > 0 ? n : 1));
      for (int64_t i = 0; i < n; ++i) {
        int64_t len = 0;
        for (int64_t j = i; !seen[j]; j = perms[t][j]) seen[j] = 1, ++len;
        if (len && len % 2 == 0) flip ^= 1;
      }
    }
    free(seen);
    if (flip) re = -re, im = -im;
    ph = atan2(im, re);
    sg = re > 0 ? 1 : re < 0 ? -1 : 0;
  } else {
    if (!h->numeric) return MSP_EINVAL;
    double mx[2] = {0, 0}, ex = 0;
    const int st = h->cplx ? umfpack_zl_get_determinant(mx, NULL, &ex, h->numeric, h->info)
                           : umfpack_dl_get_determinant(mx, &ex, h->numeric, h->info);
    if (st != UMFPACK_OK && st != UMFPACK_WARNING_singular_matrix) return MSP_EINVAL;
    const double a = h->cplx ? hypot(mx[0], mx[1]) : fabs(mx[0]);
    la = (a > 0 ? log(a) : -INFINITY) + ex * log(10.0);
    if (h->cplx) ph = atan2(mx[1], mx[0]);
    else sg = mx[0] > 0 ? 1 : mx[0] < 0 ? -1 : 0;
  }
  *logabs = la;
  *sre = h->cplx ? cos(ph) : sg;
  *sim = h->cplx ? sin(ph) : 0;
  return MSP_OK;
}

/* ---- the factors, in scipy's SuperLU convention ----------------------------------------------------------------
 * LU: Pr A Pc = L U with Pr[perm_r[i], i] = 1 and Pc[i, perm_c[i]] = 1, i.e. A(P, Q) = L U for P, Q the inverses of
 * perm_r and perm_c (A(P, Q): row P[k] of A is row k), L unit lower and U upper triangular. Both engines scale the
 * rows: A(P, Q) = D L0 U0 (UMFPACK) or D (L0 U0 + F) (KLU: F the off-diagonal blocks of its block triangular form,
 * strictly block upper), D diagonal. That folds exactly into L = D L0 D^-1 (unit lower: L0 scaled by d_i / d_j) and
 * U = D U0 + D L0^-1 F = D U0 + L^-1 (D F); L0 is block diagonal there, so L^-1 (D F) stays in the rows of the
 * blocks above the diagonal block of its column, apart from U0's entries. Cholesky: A(p, p) = L L^H, p CHOLMOD's
 * Perm, L from a simplicial LL' copy of the kept factor. */

static int64_t *new_i64(int64_t count) { return malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1)); }
static double *new_f64(int64_t count) { return malloc(sizeof(double) * (size_t)(count > 0 ? count : 1)); }
static double complex *new_c128(int64_t count) {
  return malloc(sizeof(double complex) * (size_t)(count > 0 ? count : 1));
}

/* B = A^T (no conjugation) of an n x n CSC A, a counting sort: B's columns come out with sorted rows */
static int csc_transpose(int64_t n, const int64_t *Ap, const int64_t *Ai, const double complex *Ax, int64_t *Bp,
                         int64_t *Bi, double complex *Bx) {
  int64_t *next = calloc((size_t)n + 1, sizeof *next);
  if (!next) return MSP_ENOMEM;
  for (int64_t p = 0; p < Ap[n]; ++p) next[Ai[p] + 1]++;
  for (int64_t i = 0; i < n; ++i) next[i + 1] += next[i];
  memcpy(Bp, next, sizeof(int64_t) * (size_t)(n + 1));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = Ap[j]; p < Ap[j + 1]; ++p) {
      const int64_t q = next[Ai[p]]++;
      Bi[q] = j, Bx[q] = Ax[p];
    }
  free(next);
  return MSP_OK;
}

/* sort the rows of each column in place (two transposes) */
static int csc_sort(int64_t n, int64_t *p, int64_t *i, double complex *x) {
  int64_t *tp = new_i64(n + 1), *ti = new_i64(p[n]);
  double complex *tx = new_c128(p[n]);
  int st = tp && ti && tx ? csc_transpose(n, p, i, x, tp, ti, tx) : MSP_ENOMEM;
  if (st == MSP_OK) st = csc_transpose(n, tp, ti, tx, p, i, x);
  free(tp), free(ti), free(tx);
  return st;
}


static void invert_perm(int64_t n, const int64_t *P, int64_t *out) {
  for (int64_t k = 0; k < n; ++k) out[P[k]] = k;
}

static int factors_umfpack(msp_direct *h) {
  const int64_t n = h->n, w = h->cplx ? 2 : 1;
  int64_t lnz, unz, nr, nc, nzud, do_recip = 0;
  if ((h->cplx ? umfpack_zl_get_lunz(&lnz, &unz, &nr, &nc, &nzud, h->numeric)
               : umfpack_dl_get_lunz(&lnz, &unz, &nr, &nc, &nzud, h->numeric)) != UMFPACK_OK)
    return MSP_EINVAL;
  int64_t *Rp = new_i64(n + 1), *Rj = new_i64(lnz), *P = new_i64(n), *Q = new_i64(n);
  double *Rx = new_f64(lnz * w), *Ux = new_f64(unz * w), *Rs = new_f64(n), *D = new_f64(n);
  double complex *Rc = new_c128(lnz);
  h->fLp = new_i64(n + 1), h->fLi = new_i64(lnz), h->fLx = new_c128(lnz);
  h->fUp = new_i64(n + 1), h->fUi = new_i64(unz), h->fUx = new_c128(unz);
  h->fpr = new_i64(n), h->fpc = new_i64(n);
  int st = MSP_ENOMEM;
  if (!Rp || !Rj || !P || !Q || !Rx || !Ux || !Rs || !D || !Rc || !h->fLp || !h->fLi || !h->fLx || !h->fUp || !h->fUi ||
      !h->fUx || !h->fpr || !h->fpc)
    goto done;
  /* L comes by rows (the CSC of L^T), U by columns; complex values packed (the split parts NULL) */
  const int64_t got = h->cplx ? umfpack_zl_get_numeric(Rp, Rj, Rx, NULL, h->fUp, h->fUi, Ux, NULL, P, Q, NULL, NULL,
                                                       &do_recip, Rs, h->numeric)
                              : umfpack_dl_get_numeric(Rp, Rj, Rx, h->fUp, h->fUi, Ux, P, Q, NULL, &do_recip, Rs,
                                                       h->numeric);
  if (got != UMFPACK_OK) {
    st = got == UMFPACK_ERROR_out_of_memory ? MSP_ENOMEM : MSP_EINVAL;
    goto done;
  }
  /* P R A Q = L0 U0, R scaling row i by Rs[i] (do_recip) or 1 / Rs[i]: A(P, Q) = D L0 U0 with d_k the inverse of
   * row P[k]'s factor */
  for (int64_t k = 0; k < n; ++k) D[k] = do_recip ? 1.0 / Rs[P[k]] : Rs[P[k]];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = Rp[i]; p < Rp[i + 1]; ++p) {
      const double complex v = h->cplx ? msp_cmplx(Rx[2 * p], Rx[2 * p + 1]) : Rx[p];
      Rc[p] = v * (D[i] / D[Rj[p]]);
    }
  st = csc_transpose(n, Rp, Rj, Rc, h->fLp, h->fLi, h->fLx);
  if (st != MSP_OK) goto done;
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = h->fUp[j]; p < h->fUp[j + 1]; ++p) {
      const double complex v = h->cplx ? msp_cmplx(Ux[2 * p], Ux[2 * p + 1]) : Ux[p];
      h->fUx[p] = D[h->fUi[p]] * v;
    }
  st = csc_sort(n, h->fUp, h->fUi, h->fUx); /* sorted already, as UMFPACK documents; cheap insurance */
  invert_perm(n, P, h->fpr), invert_perm(n, Q, h->fpc);
done:
  free(Rp), free(Rj), free(P), free(Q), free(Rx), free(Ux), free(Rs), free(D), free(Rc);
  return st;
}

/* a binary min-heap of row indices (the rows a sparse triangular solve reaches, taken in increasing order) */
static void heap_push(int64_t *heap, int64_t *size, int64_t v) {
  int64_t c = (*size)++;
  while (c > 0 && heap[(c - 1) / 2] > v) heap[c] = heap[(c - 1) / 2], c = (c - 1) / 2;
  heap[c] = v;
}

static int64_t heap_pop(int64_t *heap, int64_t *size) {
  const int64_t top = heap[0], last = heap[--*size];
  int64_t c = 0;
  for (;;) {
    int64_t m = 2 * c + 1;
    if (m >= *size) break;
    if (m + 1 < *size && heap[m + 1] < heap[m]) ++m;
    if (heap[m] >= last) break;
    heap[c] = heap[m], c = m;
  }
  if (*size > 0) heap[c] = last;
  return top;
}

/* room for want entries in the U being built */
static int grow_u(msp_direct *h, int64_t *cap, int64_t want) {
  if (want <= *cap) return 1;
  const int64_t ncap = 2 * *cap > want ? 2 * *cap : want;
  int64_t *ni = realloc(h->fUi, sizeof(int64_t) * (size_t)ncap);
  if (ni) h->fUi = ni;
  double complex *nx = realloc(h->fUx, sizeof(double complex) * (size_t)ncap);
  if (nx) h->fUx = nx;
  if (!ni || !nx) return 0;
  *cap = ncap;
  return 1;
}

static int factors_klu(msp_direct *h) {
  const int64_t n = h->n, lnz = h->knum->lnz, unz = h->knum->unz, nzoff = h->knum->nzoff;
  const int64_t nb = h->ksym->nblocks;
  int64_t *Up = new_i64(n + 1), *Ui = new_i64(unz), *Fp = new_i64(n + 1), *Fi = new_i64(nzoff), *P = new_i64(n),
          *Q = new_i64(n), *R = new_i64(nb + 1), *heap = new_i64(n), *mark = new_i64(n);
  double *Lx = new_f64(lnz), *Lz = new_f64(lnz), *Ux = new_f64(unz), *Uz = new_f64(unz), *Fx = new_f64(nzoff),
         *Fz = new_f64(nzoff), *Rs = new_f64(n), *D = new_f64(n);
  double complex *x = new_c128(n);
  int64_t cap = unz + nzoff + n;
  h->fLp = new_i64(n + 1), h->fLi = new_i64(lnz), h->fLx = new_c128(lnz);
  h->fUp = new_i64(n + 1), h->fUi = new_i64(cap), h->fUx = new_c128(cap);
  h->fpr = new_i64(n), h->fpc = new_i64(n);
  int st = MSP_ENOMEM;
  if (!Up || !Ui || !Fp || !Fi || !P || !Q || !R || !heap || !mark || !Lx || !Lz || !Ux || !Uz || !Fx || !Fz || !Rs ||
      !D || !x || !h->fLp || !h->fLi || !h->fLx || !h->fUp || !h->fUi || !h->fUx || !h->fpr || !h->fpc)
    goto done;
  /* (R \ A)(P, Q) = L0 U0 + F: L0 and U0 block diagonal (global indices, the diagonals included) */
  const int64_t ok = h->cplx ? klu_zl_extract(h->knum, h->ksym, h->fLp, h->fLi, Lx, Lz, Up, Ui, Ux, Uz, Fp, Fi, Fx, Fz,
                                              P, Q, Rs, R, &h->kc)
                             : klu_l_extract(h->knum, h->ksym, h->fLp, h->fLi, Lx, Up, Ui, Ux, Fp, Fi, Fx, P, Q, Rs, R,
                                             &h->kc);
  if (!ok) {
    st = h->kc.status == KLU_OUT_OF_MEMORY ? MSP_ENOMEM : MSP_EINVAL;
    goto done;
  }
  for (int64_t k = 0; k < n; ++k) D[k] = Rs[k]; /* klu_factor leaves Rs in the pivot order: row P[k]'s is Rs[k] */
  for (int64_t j = 0; j < n; ++j) /* L = D L0 D^-1 */
    for (int64_t p = h->fLp[j]; p < h->fLp[j + 1]; ++p)
      h->fLx[p] = (h->cplx ? msp_cmplx(Lx[p], Lz[p]) : Lx[p]) * (D[h->fLi[p]] / D[j]);
  for (int64_t i = 0; i < n; ++i) mark[i] = -1;
  int64_t cnt = 0;
  for (int64_t j = 0; j < n; ++j) {
    h->fUp[j] = cnt;
    /* column j of L^-1 (D F): the rows reached from F's, in increasing order (each is final when popped: every
     * row that updates it is smaller) */
    int64_t hs = 0;
    for (int64_t p = Fp[j]; p < Fp[j + 1]; ++p) {
      const int64_t r = Fi[p];
      if (mark[r] != j) mark[r] = j, x[r] = 0, heap_push(heap, &hs, r);
      x[r] += D[r] * (h->cplx ? msp_cmplx(Fx[p], Fz[p]) : Fx[p]);
    }
    while (hs > 0) {
      const int64_t c = heap_pop(heap, &hs);
      if (!grow_u(h, &cap, cnt + 1)) goto done;
      const double complex xc = x[c];
      h->fUi[cnt] = c, h->fUx[cnt++] = xc;
      for (int64_t q = h->fLp[c]; q < h->fLp[c + 1]; ++q) {
        const int64_t r = h->fLi[q];
        if (r == c) continue;
        if (mark[r] != j) mark[r] = j, x[r] = 0, heap_push(heap, &hs, r);
        x[r] -= h->fLx[q] * xc;
      }
    }
    /* then D U0's column, in the rows of the diagonal block */
    if (!grow_u(h, &cap, cnt + (Up[j + 1] - Up[j]))) goto done;
    for (int64_t p = Up[j]; p < Up[j + 1]; ++p)
      h->fUi[cnt] = Ui[p], h->fUx[cnt++] = D[Ui[p]] * (h->cplx ? msp_cmplx(Ux[p], Uz[p]) : Ux[p]);
  }
  h->fUp[n] = cnt;
  st = csc_sort(n, h->fLp, h->fLi, h->fLx);
  if (st == MSP_OK) st = csc_sort(n, h->fUp, h->fUi, h->fUx);
  invert_perm(n, P, h->fpr), invert_perm(n, Q, h->fpc);
done:
  free(Up), free(Ui), free(Fp), free(Fi), free(P), free(Q), free(R), free(heap), free(mark);
  free(Lx), free(Lz), free(Ux), free(Uz), free(Fx), free(Fz), free(Rs), free(D), free(x);
  return st;
}

static int factors_cholmod(msp_direct *h) {
  const int64_t n = h->n;
  cholmod_factor *C = cholmod_l_copy_factor(h->L, &h->cc); /* the kept factor stays as it is */
  if (!C) return MSP_ENOMEM;
  cholmod_sparse *S = NULL;
  int st = MSP_ENOMEM;
  if (!cholmod_l_change_factor(C->xtype, 1 /* LL' */, 0 /* simplicial */, 1, 1, C, &h->cc)) goto done;
  S = cholmod_l_factor_to_sparse(C, &h->cc);
  if (!S) goto done;
  const int64_t *Sp = S->p, *Si = S->i, *Snz = S->nz;
  const double *Sx = S->x;
  int64_t total = 0;
  for (int64_t j = 0; j < n; ++j) total += S->packed ? Sp[j + 1] - Sp[j] : Snz[j];
  h->fLp = new_i64(n + 1), h->fLi = new_i64(total), h->fLx = new_c128(total), h->fpr = new_i64(n);
  if (!h->fLp || !h->fLi || !h->fLx || !h->fpr) goto done;
  int64_t cnt = 0;
  for (int64_t j = 0; j < n; ++j) {
    h->fLp[j] = cnt;
    const int64_t end = Sp[j] + (S->packed ? Sp[j + 1] - Sp[j] : Snz[j]);
    for (int64_t p = Sp[j]; p < end; ++p)
      h->fLi[cnt] = Si[p], h->fLx[cnt++] = h->cplx ? msp_cmplx(Sx[2 * p], Sx[2 * p + 1]) : Sx[p];
  }
  h->fLp[n] = cnt;
  const int64_t *perm = h->L->Perm;
  for (int64_t k = 0; k < n; ++k) h->fpr[k] = perm ? perm[k] : k;
  st = csc_sort(n, h->fLp, h->fLi, h->fLx);
done:
  if (S) cholmod_l_free_sparse(&S, &h->cc);
  cholmod_l_free_factor(&C, &h->cc);
  return st;
}

int msp_direct_factors(msp_direct *h, int64_t *lnz, int64_t *unz, char *msg, size_t len) {
  factors_clear(h);
  *lnz = *unz = 0;
  const int ready = h->kind == MSP_DIRECT_CHOLESKY ? h->factored : h->kind == MSP_DIRECT_KLU ? h->knum != NULL
                                                                                             : h->numeric != NULL;
  if (!ready) {
    say(msg, len, "not factorized");
    return MSP_EINVAL;
  }
  const int st = h->kind == MSP_DIRECT_CHOLESKY ? factors_cholmod(h)
                 : h->kind == MSP_DIRECT_KLU    ? factors_klu(h)
                                                : factors_umfpack(h);
  if (st != MSP_OK) {
    factors_clear(h);
    say(msg, len, st == MSP_ENOMEM ? "out of memory extracting the factors" : "extracting the factors failed");
    return st;
  }
  *lnz = h->fLp[h->n];
  *unz = h->fUp ? h->fUp[h->n] : 0;
  return MSP_OK;
}

static void write_values(const msp_direct *h, const double complex *src, int64_t count, double *dst) {
  if (h->cplx) memcpy(dst, src, sizeof(double complex) * (size_t)count);
  else
    for (int64_t p = 0; p < count; ++p) dst[p] = creal(src[p]);
}

int msp_direct_factors_copy(msp_direct *h, int64_t *Lp, int64_t *Li, double *Lx, int64_t *Up, int64_t *Ui, double *Ux,
                            int64_t *perm_r, int64_t *perm_c) {
  if (!h->fLp) return MSP_EINVAL;
  const int64_t n = h->n;
  memcpy(Lp, h->fLp, sizeof(int64_t) * (size_t)(n + 1));
  memcpy(Li, h->fLi, sizeof(int64_t) * (size_t)h->fLp[n]);
  write_values(h, h->fLx, h->fLp[n], Lx);
  memcpy(perm_r, h->fpr, sizeof(int64_t) * (size_t)n);
  if (h->fUp) {
    memcpy(Up, h->fUp, sizeof(int64_t) * (size_t)(n + 1));
    memcpy(Ui, h->fUi, sizeof(int64_t) * (size_t)h->fUp[n]);
    write_values(h, h->fUx, h->fUp[n], Ux);
    memcpy(perm_c, h->fpc, sizeof(int64_t) * (size_t)n);
  }
  factors_clear(h);
  return MSP_OK;
}

int64_t msp_direct_fill(msp_direct *h) {
  if (h->kind == MSP_DIRECT_CHOLESKY) {
    if (!h->factored) return -1;
    if (h->L->is_super) {
      int64_t t = 0;
      for (size_t s = 0; s < h->L->nsuper; ++s) {
        const int64_t *super = h->L->super, *pi = h->L->pi;
        const int64_t nc = super[s + 1] - super[s], nr = pi[s + 1] - pi[s];
        t += nc * nr - nc * (nc - 1) / 2; /* the trapezoid of each supernode */
      }
      return t;
    }
    int64_t t = 0;
    for (size_t j = 0; j < h->L->n; ++j) t += ((int64_t *)h->L->nz)[j];
    return t;
  }
  if (h->kind == MSP_DIRECT_KLU) return h->knum ? (int64_t)(h->knum->lnz + h->knum->unz + h->knum->nzoff) : -1;
  if (!h->numeric) return -1;
  int64_t lnz, unz, nr, nc, nzud;
  if ((h->cplx ? umfpack_zl_get_lunz(&lnz, &unz, &nr, &nc, &nzud, h->numeric)
               : umfpack_dl_get_lunz(&lnz, &unz, &nr, &nc, &nzud, h->numeric)) != UMFPACK_OK)
    return -1;
  return lnz + unz - nzud; /* L and U share the diagonal */
}

void msp_direct_free(msp_direct *h) {
  if (!h) return;
  factors_clear(h);
  if (h->kind == MSP_DIRECT_CHOLESKY) {
    if (h->L) cholmod_l_free_factor(&h->L, &h->cc);
    if (h->A) cholmod_l_free_sparse(&h->A, &h->cc);
    cholmod_l_finish(&h->cc);
  } else if (h->kind == MSP_DIRECT_KLU) {
    if (h->knum) {
      if (h->cplx) klu_zl_free_numeric(&h->knum, &h->kc);
      else klu_l_free_numeric(&h->knum, &h->kc);
    }
    if (h->ksym) klu_l_free_symbolic(&h->ksym, &h->kc);
  } else {
    if (h->numeric) {
      if (h->cplx) umfpack_zl_free_numeric(&h->numeric);
      else umfpack_dl_free_numeric(&h->numeric);
    }
    if (h->symbolic) {
      if (h->cplx) umfpack_zl_free_symbolic(&h->symbolic);
      else umfpack_dl_free_symbolic(&h->symbolic);
    }
  }
  free(h->colptr), free(h->rowind), free(h->values);
  free(h);
}
#endif
