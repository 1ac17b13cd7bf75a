/* Shared helpers of the C kernel tests: checks, random matrices with every edge case, typed buffers, calls by op name. */
#ifndef MSP_TEST_CHECK_H
#define MSP_TEST_CHECK_H
#include <complex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"
#include "../../csrc/cpu/types.h"

static int n_pass = 0, n_fail = 0;
#define CHECK(cond, ...)                          \
  do {                                            \
    if (cond) {                                   \
      n_pass++;                                   \
    } else {                                      \
      n_fail++;                                   \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      printf("\n");                               \
    }                                             \
  } while (0)
/* the closing line every test program prints, and its exit status */
#define REPORT() (printf("%d passed, %d failed\n", n_pass, n_fail), n_fail != 0)

enum { NVT = 5, NIT = 2, C64 = 4 };
static const char *VTS[NVT] = {"f32", "f64", "f16", "bf16", "c64"};
static const size_t VSIZE[NVT] = {4, 8, 2, 2, 8};
static const char *ITS[NIT] = {"i32", "i64"};
static inline size_t isize(int it) { return it == 0 ? 4 : 8; }

static uint64_t rng = 88172645463325252ull;
static inline uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static inline int64_t rand_int(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1)); }

/* small integers (and integer imaginary parts) are exact in every value type */
static inline void put_val(int vt, void *buf, int64_t k, double re, double im) {
  switch (vt) {
    case 0: ((float *)buf)[k] = (float)re; break;
    case 1: ((double *)buf)[k] = re; break;
    case 2: ((msp_f16 *)buf)[k] = msp_f32_to_f16((float)re); break;
    case 3: ((msp_bf16 *)buf)[k] = msp_f32_to_bf16((float)re); break;
    default: ((float *)buf)[2 * k] = (float)re; ((float *)buf)[2 * k + 1] = (float)im; break;
  }
}
static inline void get_val(int vt, const void *buf, int64_t k, double *re, double *im) {
  *im = 0;
  switch (vt) {
    case 0: *re = ((const float *)buf)[k]; break;
    case 1: *re = ((const double *)buf)[k]; break;
    case 2: *re = msp_f16_to_f32(((const msp_f16 *)buf)[k]); break;
    case 3: *re = msp_bf16_to_f32(((const msp_bf16 *)buf)[k]); break;
    default: *re = ((const float *)buf)[2 * k]; *im = ((const float *)buf)[2 * k + 1]; break;
  }
}
static inline void put_idx(int it, void *buf, int64_t k, int64_t v) {
  if (it == 0) ((int32_t *)buf)[k] = (int32_t)v;
  else ((int64_t *)buf)[k] = v;
}
static inline int64_t get_idx(int it, const void *buf, int64_t k) {
  return it == 0 ? ((const int32_t *)buf)[k] : ((const int64_t *)buf)[k];
}
static inline void *alloc(size_t elem, int64_t n) { return calloc((size_t)n + 1, elem); }

/* Run kernel <op>_<vt>_<it> through the table-driven call record: sizes and flags in table order. */
static inline int run(const char *op, int vt, int it, const void *const *in, void *const *out, const int64_t *sizes,
               const int64_t *flags, int threads, msp_call *keep) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s_%s", op, VTS[vt], ITS[it]);
  msp_call c;
  if (msp_call_init(&c, name, in, out, sizes, flags) != MSP_OK) {
    printf("missing kernel %s\n", name);
    return -1;
  }
  c.nthreads = threads;
  if (keep) *keep = c;
  return msp_find_kernel(name)(&c);
}

/* A random COO matrix with duplicates, unsorted entries, explicit zeros and empty rows. */
typedef struct {
  int64_t m, n, nnz;
  int64_t *row, *col;
  double *re, *im;
} coo_t;

static inline coo_t make_coo(int64_t m, int64_t n, int64_t nnz) {
  coo_t a = {m, n, (m == 0 || n == 0) ? 0 : nnz, NULL, NULL, NULL, NULL};
  a.row = alloc(sizeof(int64_t), a.nnz);
  a.col = alloc(sizeof(int64_t), a.nnz);
  a.re = alloc(sizeof(double), a.nnz);
  a.im = alloc(sizeof(double), a.nnz);
  for (int64_t k = 0; k < a.nnz; ++k) {
    a.row[k] = rand_int(0, (m - 1) / 2) * 2; /* odd rows stay empty */
    a.col[k] = rand_int(0, n - 1);
    if (k > 0 && next() % 5 == 0) { /* duplicate */
      a.row[k] = a.row[k - 1];
      a.col[k] = a.col[k - 1];
    }
    a.re[k] = (double)rand_int(-3, 3); /* includes explicit zeros */
    a.im[k] = (double)rand_int(-2, 2);
  }
  return a;
}
static inline void free_coo(coo_t *a) { free(a->row), free(a->col), free(a->re), free(a->im); }

/* The same matrix as typed CSR buffers (host reference: stable by row, columns in input order). */
typedef struct {
  void *indptr, *indices, *data;
  int64_t *perm; /* CSR position -> COO entry */
} csr_t;
static inline csr_t make_csr(const coo_t *a, int vt, int it) {
  csr_t s = {alloc(isize(it), a->m + 1), alloc(isize(it), a->nnz), alloc(VSIZE[vt], a->nnz), alloc(sizeof(int64_t), a->nnz)};
  int64_t *start = alloc(sizeof(int64_t), a->m + 1);
  for (int64_t k = 0; k < a->nnz; ++k) start[a->row[k] + 1]++;
  for (int64_t r = 0; r < a->m; ++r) start[r + 1] += start[r];
  for (int64_t r = 0; r <= a->m; ++r) put_idx(it, s.indptr, r, start[r]);
  for (int64_t k = 0; k < a->nnz; ++k) {
    const int64_t p = start[a->row[k]]++;
    put_idx(it, s.indices, p, a->col[k]);
    put_val(vt, s.data, p, a->re[k], vt == C64 ? a->im[k] : 0);
    s.perm[p] = k;
  }
  free(start);
  return s;
}
static inline void free_csr(csr_t *s) { free(s->indptr), free(s->indices), free(s->data), free(s->perm); }

/* Dense reference D = A (duplicates summed), complex in (re, im), (m*n + 1) entries each. */
static inline void dense_ref(const coo_t *a, int vt, double *dre, double *dim) {
  memset(dre, 0, sizeof(double) * (size_t)(a->m * a->n + 1));
  memset(dim, 0, sizeof(double) * (size_t)(a->m * a->n + 1));
  for (int64_t k = 0; k < a->nnz; ++k) {
    dre[a->row[k] * a->n + a->col[k]] += a->re[k];
    if (vt == C64) dim[a->row[k] * a->n + a->col[k]] += a->im[k];
  }
}

/* One test case: the COO matrix, its typed CSR, its dense reference (re, im) and the sizes. */
typedef struct {
  coo_t a;
  csr_t s;
  int64_t z;
  size_t vs, is;
  double *dre, *dim;
} case_t;
static inline case_t case_make(int vt, int it, int64_t m, int64_t n, int64_t nnz) {
  case_t k;
  k.a = make_coo(m, n, nnz);
  k.s = make_csr(&k.a, vt, it);
  k.z = k.a.nnz, k.vs = VSIZE[vt], k.is = isize(it);
  k.dre = alloc(sizeof(double), m * n), k.dim = alloc(sizeof(double), m * n);
  dense_ref(&k.a, vt, k.dre, k.dim);
  return k;
}
static inline void case_free(case_t *k) {
  free(k->dre), free(k->dim);
  free_csr(&k->s);
  free_coo(&k->a);
}

/* The canonical CSR (sorted, no duplicates, no zeros) of a case's dense reference (m x n): *ptr, *ind
 * and *val allocated; returns its nnz. */
static inline int64_t case_canonical(const case_t *tc, int vt, int it, int64_t m, int64_t n, void **ptr, void **ind,
                                     void **val) {
  int64_t cn = 0;
  for (int64_t q = 0; q < m * n; ++q) cn += tc->dre[q] != 0 || tc->dim[q] != 0;
  *ptr = alloc(isize(it), m + 1), *ind = alloc(isize(it), cn), *val = alloc(VSIZE[vt], cn);
  for (int64_t r = 0, p = 0; r < m; ++r) {
    put_idx(it, *ptr, r, p);
    for (int64_t c = 0; c < n; ++c)
      if (tc->dre[r * n + c] != 0 || tc->dim[r * n + c] != 0)
        put_idx(it, *ind, p, c), put_val(vt, *val, p++, tc->dre[r * n + c], tc->dim[r * n + c]);
    put_idx(it, *ptr, r + 1, p);
  }
  return cn;
}

/* Every value type, index type, shape (empty, 0 x n, n x 0, tiny, larger than the thread threshold)
 * and thread count (1, and 4 above the threshold): calls fn(vt, it, m, n, nnz, threads). */
static inline void for_each_case(void (*fn)(int, int, int64_t, int64_t, int64_t, int)) {
  const int64_t shapes[][3] = {{0, 0, 0}, {0, 5, 3}, {5, 0, 3}, {1, 1, 1}, {7, 5, 20},
                               {40, 33, 300}, {300, 200, 5000}, {2000, 1500, 60000}};
  for (int vt = 0; vt < NVT; ++vt)
    for (int it = 0; it < NIT; ++it)
      for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int threads = 1; threads <= 4; threads += 3) fn(vt, it, shapes[s][0], shapes[s][1], shapes[s][2], threads);
}
#endif
