/* Direct sparse solvers on SuiteSparse: CHOLMOD (supernodal or simplicial LL', AMD/METIS ordering as
 * CHOLMOD chooses), UMFPACK (LU with its fill-reducing ordering) and KLU (LU after a block
 * triangular form, for circuit-like matrices). See direct.h. */
#include "mlx_sparse/direct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"

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
void msp_direct_free(msp_direct *h) { (void)h; }
#else
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
};

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
