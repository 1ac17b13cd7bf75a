/* Direct sparse solvers on SuiteSparse (CHOLMOD for Cholesky, UMFPACK or KLU for LU): a factorization handle
 * that keeps the symbolic analysis, so new values on the same pattern refactor without it. Matrices
 * come as CSC (n x n, int64 column pointers and row indices, double values; complex: interleaved
 * real/imaginary pairs). Right-hand sides and solutions are column-major n x k. Every function
 * returns an MSP status; msg (when given) receives a sentence on failure. Built without SuiteSparse,
 * msp_direct_available() is 0 and the rest return MSP_EUNSUPPORTED. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct msp_direct msp_direct;

enum { MSP_DIRECT_CHOLESKY = 0, MSP_DIRECT_LU = 1, MSP_DIRECT_KLU = 2 /* LU for circuit-like matrices */ };
enum { MSP_DIRECT_N = 0, MSP_DIRECT_T = 1, MSP_DIRECT_H = 2 };

int msp_direct_available(void);
/* analysis of the pattern (Cholesky: the upper triangle of the CSC is read) */
int msp_direct_analyze(int kind, int complex_values, int64_t n, const int64_t *colptr, const int64_t *rowind,
                       msp_direct **out, char *msg, size_t msglen);
/* numeric factorization with these values (nnz of them, in the pattern's order) */
int msp_direct_factor(msp_direct *h, const double *values, char *msg, size_t msglen);
/* X = op(A)^-1 B, op by trans (LU: N, T, H; Cholesky: any, A is Hermitian) */
int msp_direct_solve(msp_direct *h, int trans, int64_t k, const double *b, double *x, char *msg, size_t msglen);
/* log |det A| and the sign (real) or phase angle (complex) of det A */
int msp_direct_logdet(msp_direct *h, double *logabs, double *sign_re, double *sign_im);
/* nnz of the factors (L + U, or L) */
int64_t msp_direct_fill(msp_direct *h);
/* The factors in scipy's SuperLU convention, in two calls. msp_direct_factors computes them into the handle and
 * gives their sizes (nnz of L and U; U 0 for Cholesky); msp_direct_factors_copy then writes them out (CSC, rows
 * sorted, values as the handle's: double or interleaved complex) and releases them. LU (UMFPACK, KLU):
 * Pr A Pc = L U with Pr[perm_r[i], i] = 1, Pc[i, perm_c[i]] = 1, L unit lower and U upper triangular, the
 * engines' row scaling (and KLU's off-diagonal blocks) folded in. Cholesky: A(p, p) = L L^H with p in perm_r
 * (Up, Ui, Ux, perm_c unused, may be NULL). A new factorization releases factors not yet copied. */
int msp_direct_factors(msp_direct *h, int64_t *lnz, int64_t *unz, char *msg, size_t msglen);
int msp_direct_factors_copy(msp_direct *h, int64_t *Lp, int64_t *Li, double *Lx, int64_t *Up, int64_t *Ui, double *Ux,
                            int64_t *perm_r, int64_t *perm_c);
void msp_direct_free(msp_direct *h);

#ifdef __cplusplus
}
#endif
