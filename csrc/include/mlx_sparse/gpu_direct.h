/* Direct sparse solvers on the GPU through NVIDIA cuDSS, loaded at run time (csrc/cuda/direct.c): one
 * binary serves installs without it. A factorization handle keeps cuDSS's analysis (reordering and
 * symbolic factorization), so new values on the same pattern refactor without it. Matrices come as CSR
 * in device memory (n x n; int32 or int64 row pointers and column indices; float32 or complex64 values);
 * the handle keeps the pointers, which the caller keeps alive until msp_gpu_direct_free. Right-hand sides
 * and solutions are column-major n x k device arrays. Work is queued on the given CUDA stream; analyze and
 * factor synchronize it (to read cuDSS's error indicator), solve does not. Every function returns an MSP
 * status; msg (when given) receives a sentence on failure. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct msp_gpu_direct msp_gpu_direct;

enum { MSP_GPU_DIRECT_CHOLESKY = 0, MSP_GPU_DIRECT_LU = 1 };
enum { MSP_GPU_F32 = 0, MSP_GPU_C64 = 1 };

/* Load cuDSS from this path (a file name or a path dlopen accepts); 0 when it loaded (or was loaded). */
int msp_cudss_load(const char *path, char *msg, size_t msglen);
int msp_cudss_loaded(void);
/* cuDSS's version as major * 10000 + minor * 100 + patch (0 when not loaded) */
int msp_cudss_version(void);

/* Analysis of the pattern (Cholesky: only the upper triangle is read) and the first factorization. A
 * matrix that cuDSS finds singular (LU) or not positive definite (Cholesky) gives MSP_ESINGULAR with the
 * failing row or column in msg and *info. */
int msp_gpu_direct_analyze(int kind, int vtype, int index64, int64_t n, int64_t nnz, const void *rowptr,
                           const void *colind, const void *values, void *stream, msp_gpu_direct **out,
                           int64_t *info, char *msg, size_t msglen);
/* iterative refinement steps of later solves (cuDSS's IR_N_STEPS; 0: none, the default) */
int msp_gpu_direct_set_refinement(msp_gpu_direct *h, int steps, char *msg, size_t msglen);
/* numeric factorization with new values (nnz of them, in the pattern's order), the analysis reused */
int msp_gpu_direct_factor(msp_gpu_direct *h, const void *values, void *stream, int64_t *info, char *msg,
                          size_t msglen);
/* X = A^-1 B, queued on stream (transposed solves factor A^T: cuDSS 1.0 refused its transposed solve
 * mode with "not supported" on an H200) */
int msp_gpu_direct_solve(msp_gpu_direct *h, int64_t k, const void *b, void *x, void *stream, char *msg, size_t msglen);
/* nnz of the factors (L + U, or L); the number of pivots cuDSS perturbed (-1 when unreadable) */
int64_t msp_gpu_direct_fill(msp_gpu_direct *h);
int64_t msp_gpu_direct_npivots(msp_gpu_direct *h);
/* the diagonal of the factorization (n values of the handle's type) into device memory diag */
int msp_gpu_direct_diag(msp_gpu_direct *h, void *diag, void *stream, char *msg, size_t msglen);
void msp_gpu_direct_free(msp_gpu_direct *h);

#ifdef __cplusplus
}
#endif
