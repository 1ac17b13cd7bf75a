/* C tests of the cpu/ kernels against dense double references, for every (value, index) pair. */
#include <complex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"
#include "../../csrc/cpu/types.h"

static int n_pass = 0, n_fail = 0;
#define CHECK(cond, ...)                  \
  do {                                    \
    if (cond) {                           \
      n_pass++;                           \
    } else {                              \
      n_fail++;                           \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                \
      printf("\n");                       \
    }                                     \
  } while (0)

static const char *VTS[] = {"f32", "f64", "f16", "bf16", "c64"};
static const size_t VSIZE[] = {4, 8, 2, 2, 8};
static const char *ITS[] = {"i32", "i64"};

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static int64_t rand_int(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1)); }

/* small integers (and integer imaginary parts) are exact in every value type */
static void put_val(int vt, void *buf, int64_t k, double re, double im) {
  switch (vt) {
    case 0: ((float *)buf)[k] = (float)re; break;
    case 1: ((double *)buf)[k] = re; break;
    case 2: ((msp_f16 *)buf)[k] = msp_f32_to_f16((float)re); break;
    case 3: ((msp_bf16 *)buf)[k] = msp_f32_to_bf16((float)re); break;
    default: ((float *)buf)[2 * k] = (float)re; ((float *)buf)[2 * k + 1] = (float)im; break;
  }
}
static void get_val(int vt, const void *buf, int64_t k, double *re, double *im) {
  *im = 0;
  switch (vt) {
    case 0: *re = ((const float *)buf)[k]; break;
    case 1: *re = ((const double *)buf)[k]; break;
    case 2: *re = msp_f16_to_f32(((const msp_f16 *)buf)[k]); break;
    case 3: *re = msp_bf16_to_f32(((const msp_bf16 *)buf)[k]); break;
    default: *re = ((const float *)buf)[2 * k]; *im = ((const float *)buf)[2 * k + 1]; break;
  }
}
static void put_idx(int it, void *buf, int64_t k, int64_t v) {
  if (it == 0) ((int32_t *)buf)[k] = (int32_t)v;
  else ((int64_t *)buf)[k] = v;
}
static int64_t get_idx(int it, const void *buf, int64_t k) {
  return it == 0 ? ((const int32_t *)buf)[k] : ((const int64_t *)buf)[k];
}

static msp_kernel_fn find(const char *op, int vt, int it) {
  char name[96];
  snprintf(name, sizeof name, "%s_%s_%s", op, VTS[vt], ITS[it]);
  msp_kernel_fn fn = msp_find_kernel(name);
  if (fn == NULL) printf("missing kernel %s\n", name);
  return fn;
}

/* A random COO matrix with duplicates, unsorted entries, explicit zeros and empty rows. */
typedef struct {
  int64_t m, n, nnz;
  int64_t *row, *col;
  double *re, *im;
} coo_t;

static coo_t make_coo(int64_t m, int64_t n, int64_t nnz) {
  coo_t a = {m, n, (m == 0 || n == 0) ? 0 : nnz, NULL, NULL, NULL, NULL};
  a.row = malloc(sizeof(int64_t) * (size_t)(a.nnz + 1));
  a.col = malloc(sizeof(int64_t) * (size_t)(a.nnz + 1));
  a.re = malloc(sizeof(double) * (size_t)(a.nnz + 1));
  a.im = malloc(sizeof(double) * (size_t)(a.nnz + 1));
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
static void free_coo(coo_t *a) {
  free(a->row);
  free(a->col);
  free(a->re);
  free(a->im);
}

/* Dense reference D = A (duplicates summed), complex in (re, im). */
static void dense_ref(const coo_t *a, int vt, double *dre, double *dim) {
  memset(dre, 0, sizeof(double) * (size_t)(a->m * a->n + 1));
  memset(dim, 0, sizeof(double) * (size_t)(a->m * a->n + 1));
  for (int64_t k = 0; k < a->nnz; ++k) {
    dre[a->row[k] * a->n + a->col[k]] += a->re[k];
    if (vt == 4) dim[a->row[k] * a->n + a->col[k]] += a->im[k];
  }
}

/* Build CSR via coo_tocsr and check it; returns the CSR buffers (caller frees). */
static int run_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  coo_t a = make_coo(m, n, nnz);
  size_t vs = VSIZE[vt], is = it == 0 ? 4 : 8;
  int64_t z = a.nnz;
  void *row = malloc(is * (size_t)(z + 1)), *col = malloc(is * (size_t)(z + 1));
  void *val = malloc(vs * (size_t)(z + 1));
  for (int64_t k = 0; k < z; ++k) {
    put_idx(it, row, k, a.row[k]);
    put_idx(it, col, k, a.col[k]);
    put_val(vt, val, k, a.re[k], vt == 4 ? a.im[k] : 0);
  }
  void *indptr = malloc(is * (size_t)(m + 1)), *ind = malloc(is * (size_t)(z + 1));
  void *cval = malloc(vs * (size_t)(z + 1));
  msp_call c;
  memset(&c, 0, sizeof c);
  c.n_in = 3;
  c.n_out = 3;
  c.in[0] = row, c.in[1] = col, c.in[2] = val;
  c.in_len[0] = c.in_len[1] = c.in_len[2] = z;
  c.out[0] = indptr, c.out[1] = ind, c.out[2] = cval;
  c.out_len[0] = m + 1, c.out_len[1] = c.out_len[2] = z;
  c.iarg[0] = m, c.iarg[1] = n;
  c.nthreads = threads;
  int st = find("convert_coo_tocsr", vt, it)(&c);
  CHECK(st == MSP_OK, "coo_tocsr %s %s status %d", VTS[vt], ITS[it], st);
  /* stability: row r's entries appear in input order */
  int ok = get_idx(it, indptr, 0) == 0 && get_idx(it, indptr, m) == z;
  int64_t *fill = calloc((size_t)m + 1, sizeof(int64_t));
  for (int64_t k = 0; k < z && ok; ++k) {
    int64_t r = a.row[k], p = get_idx(it, indptr, r) + fill[r]++;
    double re, im;
    get_val(vt, cval, p, &re, &im);
    ok = p < get_idx(it, indptr, r + 1) && get_idx(it, ind, p) == a.col[k] && re == a.re[k];
  }
  free(fill);
  CHECK(ok, "coo_tocsr %s %s m=%lld n=%lld nnz=%lld: wrong or unstable", VTS[vt], ITS[it],
        (long long)m, (long long)n, (long long)z);

  double *dre = malloc(sizeof(double) * (size_t)(m * n + 1));
  double *dim = malloc(sizeof(double) * (size_t)(m * n + 1));
  dense_ref(&a, vt, dre, dim);

  /* todense */
  void *dense = malloc(vs * (size_t)(m * n + 1));
  memset(&c, 0, sizeof c);
  c.n_in = 3, c.n_out = 1;
  c.in[0] = indptr, c.in[1] = ind, c.in[2] = cval;
  c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = z;
  c.out[0] = dense, c.out_len[0] = m * n;
  c.iarg[0] = m, c.iarg[1] = n, c.nthreads = threads;
  st = find("convert_csr_todense", vt, it)(&c);
  ok = st == MSP_OK;
  for (int64_t k = 0; k < m * n && ok; ++k) {
    double re, im;
    get_val(vt, dense, k, &re, &im);
    ok = re == dre[k] && im == dim[k];
  }
  CHECK(ok, "csr_todense %s %s status %d", VTS[vt], ITS[it], st);

  /* spmv: y = A x with small-integer x */
  void *x = malloc(vs * (size_t)(n + 1)), *y = malloc(vs * (size_t)(m + 1));
  double *xre = malloc(sizeof(double) * (size_t)(n + 1)), *xim = malloc(sizeof(double) * (size_t)(n + 1));
  for (int64_t j = 0; j < n; ++j) {
    xre[j] = (double)rand_int(-2, 2);
    xim[j] = vt == 4 ? (double)rand_int(-2, 2) : 0;
    put_val(vt, x, j, xre[j], xim[j]);
  }
  memset(&c, 0, sizeof c);
  c.n_in = 4, c.n_out = 1;
  c.in[0] = indptr, c.in[1] = ind, c.in[2] = cval, c.in[3] = x;
  c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = z, c.in_len[3] = n;
  c.out[0] = y, c.out_len[0] = m;
  c.iarg[0] = m, c.iarg[1] = n, c.nthreads = threads;
  st = find("spmv_csr", vt, it)(&c);
  ok = st == MSP_OK;
  for (int64_t r = 0; r < m && ok; ++r) {
    double sre = 0, sim = 0, re, im;
    for (int64_t j = 0; j < n; ++j) {
      sre += dre[r * n + j] * xre[j] - dim[r * n + j] * xim[j];
      sim += dre[r * n + j] * xim[j] + dim[r * n + j] * xre[j];
    }
    get_val(vt, y, r, &re, &im);
    ok = re == sre && im == sim;
  }
  CHECK(ok, "spmv_csr %s %s m=%lld n=%lld status %d", VTS[vt], ITS[it], (long long)m,
        (long long)n, st);

  /* spmv_csr_d16: the same product from 16-bit column offsets (column - row): the same bits */
  if (m < 32768 && n < 32768) {
    int16_t *deltas = malloc(sizeof(int16_t) * (size_t)(z + 1));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = get_idx(it, indptr, r); j < get_idx(it, indptr, r + 1); ++j)
        deltas[j] = (int16_t)(get_idx(it, ind, j) - r);
    void *y16 = malloc(vs * (size_t)(m + 1));
    c.n_in = 5, c.in[4] = deltas, c.in_len[4] = z, c.out[0] = y16;
    st = find("spmv_csr_d16", vt, it)(&c);
    CHECK(st == MSP_OK && memcmp(y16, y, vs * (size_t)m) == 0, "spmv_csr_d16 %s %s m=%lld n=%lld status %d",
          VTS[vt], ITS[it], (long long)m, (long long)n, st);
    if (z > 0) { /* an offset past the last column: EINDEX, no out-of-bounds read */
      deltas[0] = (int16_t)(n + 5);
      CHECK(find("spmv_csr_d16", vt, it)(&c) == MSP_EINDEX, "spmv_csr_d16 bad offset -> EINDEX");
    }
    c.in_len[4] = z + 1;
    CHECK(find("spmv_csr_d16", vt, it)(&c) == MSP_EINVAL, "spmv_csr_d16 bad offsets length -> EINVAL");
    free(deltas), free(y16);
  }

  /* spmm: Y = op(A) X for k = 3, 21, 45 and 70 (blocks of 16, 8, 4 and 1 columns; float16 with F16C:
   * 32, 8 and 1), op in {A, A^H, A^T, conj(A)}, X and Y row-major or batch-major (layout 1: stored as
   * (k, rows)) */
  for (int kk = 0; kk < 8; ++kk) {
    int64_t k = (int64_t[]){3, 21, 45, 70}[kk % 4];
    const int bm = kk >= 4;
    int64_t rows_x = m > n ? m : n;
    void *X = malloc(vs * (size_t)(rows_x * k + 1)), *Y = malloc(vs * (size_t)(rows_x * k + 1));
    double *Xre = malloc(sizeof(double) * (size_t)(rows_x * k + 1)), *Xim = malloc(sizeof(double) * (size_t)(rows_x * k + 1));
    for (int64_t q = 0; q < rows_x * k; ++q) {
      Xre[q] = (double)rand_int(-2, 2);
      Xim[q] = vt == 4 ? (double)rand_int(-2, 2) : 0;
      put_val(vt, X, q, Xre[q], Xim[q]);
    }
    for (int trans = 0; trans < 2; ++trans)
      for (int conj = 0; conj < 2; ++conj) {
        int64_t out_rows = trans ? n : m, in_rows = trans ? m : n;
        memset(&c, 0, sizeof c);
        c.n_in = 4, c.n_out = 1;
        c.in[0] = indptr, c.in[1] = ind, c.in[2] = cval, c.in[3] = X;
        c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = z, c.in_len[3] = in_rows * k;
        c.out[0] = Y, c.out_len[0] = out_rows * k;
        c.iarg[0] = m, c.iarg[1] = n, c.iarg[2] = k, c.iarg[3] = conj, c.iarg[4] = bm, c.nthreads = threads;
        st = find(trans ? "spmm_csr_t" : "spmm_csr", vt, it)(&c);
        ok = st == MSP_OK;
        /* reference from the COO triplets (duplicates included) */
        double *Rre = calloc((size_t)(out_rows * k + 1), sizeof(double));
        double *Rim = calloc((size_t)(out_rows * k + 1), sizeof(double));
        for (int64_t e = 0; e < z; ++e) {
          int64_t ro = trans ? a.col[e] : a.row[e], ri = trans ? a.row[e] : a.col[e];
          double are = a.re[e], aim = vt == 4 ? (conj ? -a.im[e] : a.im[e]) : 0;
          for (int64_t q = 0; q < k; ++q) {
            const int64_t xi = bm ? q * in_rows + ri : ri * k + q;
            Rre[ro * k + q] += are * Xre[xi] - aim * Xim[xi];
            Rim[ro * k + q] += are * Xim[xi] + aim * Xre[xi];
          }
        }
        for (int64_t q = 0; q < out_rows * k && ok; ++q) {
          double re, im;
          const int64_t ro = q / k, qq = q % k;
          get_val(vt, Y, bm ? qq * out_rows + ro : q, &re, &im);
          ok = re == Rre[q] && im == Rim[q];
        }
        free(Rre), free(Rim);
        CHECK(ok, "spmm %s %s trans=%d conj=%d k=%lld layout=%d m=%lld n=%lld status %d", VTS[vt], ITS[it],
              trans, conj, (long long)k, bm, (long long)m, (long long)n, st);
      }
    free(X), free(Y), free(Xre), free(Xim);
  }

  /* expand_rows: the row of every stored entry */
  {
    void *rws = malloc(is * (size_t)(z + 1));
    memset(&c, 0, sizeof c);
    c.n_in = 1, c.n_out = 1;
    c.in[0] = indptr, c.in_len[0] = m + 1, c.out[0] = rws, c.out_len[0] = z;
    c.iarg[0] = m, c.nthreads = threads;
    st = find("convert_expand_rows", vt, it)(&c);
    ok = st == MSP_OK;
    for (int64_t r = 0; r < m && ok; ++r)
      for (int64_t p = get_idx(it, indptr, r); p < get_idx(it, indptr, r + 1) && ok; ++p)
        ok = get_idx(it, rws, p) == r;
    CHECK(ok, "expand_rows %s %s status %d", VTS[vt], ITS[it], st);
    free(rws);
  }

  /* canonical: sort + count, then sum duplicates; compare with the dense reference */
  void *sind = malloc(is * (size_t)(z + 1)), *sval = malloc(vs * (size_t)(z + 1));
  void *uptr = malloc(is * (size_t)(m + 1));
  memset(&c, 0, sizeof c);
  c.n_in = 3, c.n_out = 3;
  c.in[0] = indptr, c.in[1] = ind, c.in[2] = cval;
  c.in_len[0] = m + 1, c.in_len[1] = c.in_len[2] = z;
  c.out[0] = sind, c.out[1] = sval, c.out[2] = uptr;
  c.out_len[0] = c.out_len[1] = z, c.out_len[2] = m + 1;
  c.iarg[0] = m, c.iarg[1] = n, c.nthreads = threads;
  st = find("canonical_csr_sort", vt, it)(&c);
  CHECK(st == MSP_OK, "csr_sort %s %s status %d", VTS[vt], ITS[it], st);
  int64_t z2 = get_idx(it, uptr, m);
  void *cind = malloc(is * (size_t)(z2 + 1)), *cv = malloc(vs * (size_t)(z2 + 1));
  memset(&c, 0, sizeof c);
  c.n_in = 4, c.n_out = 2;
  c.in[0] = indptr, c.in[1] = sind, c.in[2] = sval, c.in[3] = uptr;
  c.in_len[0] = c.in_len[3] = m + 1, c.in_len[1] = c.in_len[2] = z;
  c.out[0] = cind, c.out[1] = cv, c.out_len[0] = c.out_len[1] = z2;
  c.iarg[0] = m, c.iarg[1] = n, c.nthreads = threads;
  st = find("canonical_csr_sumdup", vt, it)(&c);
  ok = st == MSP_OK;
  int64_t expect_z2 = 0;
  for (int64_t r = 0; r < m && ok; ++r) {
    int64_t prev = -1;
    for (int64_t p = get_idx(it, uptr, r); p < get_idx(it, uptr, r + 1) && ok; ++p) {
      int64_t cc = get_idx(it, cind, p);
      double re, im;
      get_val(vt, cv, p, &re, &im);
      ok = cc > prev && cc < n && re == dre[r * n + cc] && im == dim[r * n + cc];
      prev = cc;
    }
  }
  /* every stored position of the input appears exactly once (explicit zeros kept) */
  char *seen = calloc((size_t)(m * n + 1), 1);
  for (int64_t k = 0; k < z; ++k)
    if (!seen[a.row[k] * n + a.col[k]]) seen[a.row[k] * n + a.col[k]] = 1, expect_z2++;
  free(seen);
  CHECK(ok && z2 == expect_z2, "canonical %s %s: nnz %lld vs %lld", VTS[vt], ITS[it],
        (long long)z2, (long long)expect_z2);

  free(row), free(col), free(val), free(indptr), free(ind), free(cval), free(dre), free(dim);
  free(dense), free(x), free(y), free(xre), free(xim), free(sind), free(sval), free(uptr);
  free(cind), free(cv);
  free_coo(&a);
  return 0;
}

/* Malformed input: kernels report a status and never read out of bounds. */
static void test_errors(void) {
  int32_t indptr[4] = {0, 2, 1, 3}; /* non-monotone */
  int32_t ind[3] = {0, 5, 1};       /* 5 out of range for n = 3 */
  float val[3] = {1, 2, 3}, x[3] = {1, 1, 1}, y[3];
  msp_call c;
  memset(&c, 0, sizeof c);
  c.n_in = 4, c.n_out = 1;
  c.in[0] = indptr, c.in[1] = ind, c.in[2] = val, c.in[3] = x;
  c.in_len[0] = 4, c.in_len[1] = 3, c.in_len[2] = 3, c.in_len[3] = 3;
  c.out[0] = y, c.out_len[0] = 3, c.iarg[0] = 3, c.iarg[1] = 3, c.nthreads = 1;
  CHECK(msp_find_kernel("spmv_csr_f32_i32")(&c) == MSP_EINDEX, "spmv malformed -> EINDEX");
  c.in_len[3] = 2;
  CHECK(msp_find_kernel("spmv_csr_f32_i32")(&c) == MSP_EINVAL, "spmv bad x length -> EINVAL");
  int32_t big[4] = {0, 1, 2, 1000};
  c.in[0] = big, c.in_len[3] = 3;
  ind[1] = 1;
  CHECK(msp_find_kernel("spmv_csr_f32_i32")(&c) == MSP_EINDEX, "spmv indptr past nnz -> EINDEX");
  int32_t row[2] = {0, 7}, col[2] = {0, 0};
  int32_t optr[4], oind[2];
  float oval[2];
  memset(&c, 0, sizeof c);
  c.n_in = 3, c.n_out = 3;
  c.in[0] = row, c.in[1] = col, c.in[2] = val, c.in_len[0] = c.in_len[1] = c.in_len[2] = 2;
  c.out[0] = optr, c.out[1] = oind, c.out[2] = oval;
  c.out_len[0] = 4, c.out_len[1] = c.out_len[2] = 2, c.iarg[0] = 3, c.iarg[1] = 3;
  CHECK(msp_find_kernel("convert_coo_tocsr_f32_i32")(&c) == MSP_EINDEX, "coo row out of range");
  int32_t neg[2] = {0, -1};
  c.in[0] = col, c.in[1] = neg;
  CHECK(msp_find_kernel("convert_coo_tocsr_f32_i32")(&c) == MSP_EINDEX, "coo negative col");
  CHECK(msp_find_kernel("nope_f32_i32") == NULL, "unknown kernel is NULL");
}

/* float16 / bfloat16 conversions round-trip and round to nearest even. */
/* float32 -> float16 written with branches: the reference for the branch-free msp_f32_to_f16 */
static msp_f16 ref_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u, absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return (msp_f16)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) return (msp_f16)(sign | 0x7c00u); /* rounds to >= 65520 */
  if (absx < 0x38800000u) {                                    /* subnormal or zero */
    if (absx < 0x33000000u) return (msp_f16)sign;
    uint32_t e = absx >> 23, m = (absx & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (msp_f16)(sign | r);
  }
  uint32_t r = absx - 0x38000000u, out = r >> 13, rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (out & 1u))) out++;
  return (msp_f16)(sign | out);
}

static int same_as_ref_f16(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return msp_f32_to_f16(f) == ref_f32_to_f16(f);
}

static void test_half(void) {
  int ok = 1;
  /* branch-free rounding vs the reference: a stride through all 2^32 inputs, and every input
   * within 2^18 of each boundary (underflow, subnormal, overflow, inf/nan), both signs */
  for (uint64_t u = 0; u <= 0xffffffffull; u += 97) ok &= same_as_ref_f16((uint32_t)u);
  const uint32_t edges[] = {0x33000000u, 0x38800000u, 0x477ff000u, 0x47800000u, 0x7f800000u, 0u};
  for (size_t b = 0; b < sizeof edges / sizeof edges[0]; ++b)
    for (int64_t d = -(1 << 18); d <= (1 << 18); ++d) {
      const int64_t v = (int64_t)edges[b] + d;
      if (v < 0 || v > 0x7fffffff) continue;
      ok &= same_as_ref_f16((uint32_t)v) && same_as_ref_f16((uint32_t)v | 0x80000000u);
    }
  CHECK(ok, "f16 rounding matches the branching reference");
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) continue; /* nan payloads */
    ok &= msp_f32_to_f16(msp_f16_to_f32((msp_f16)h)) == h;
    ok &= msp_f32_to_bf16(msp_bf16_to_f32((msp_bf16)h)) == h || (h & 0x7f80u) == 0x7f80u;
  }
  CHECK(ok, "half/bfloat16 round trip");
  int same = 1; /* the kernels' float16 load (a table built at load time) equals the reference conversion */
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float a = msp_f16_load((msp_f16)h), b = msp_f16_to_f32((msp_f16)h);
    same &= memcmp(&a, &b, sizeof a) == 0;
  }
  CHECK(same, "f16 load matches the reference conversion for all 65536 inputs");
  CHECK(msp_f32_to_f16(1.0f + 1.0f / 2048.0f) == 0x3c00u, "f16 ties to even (down)");
  CHECK(msp_f32_to_f16(1.0f + 3.0f / 2048.0f) == 0x3c02u, "f16 ties to even (up)");
  CHECK(msp_f32_to_f16(70000.0f) == 0x7c00u, "f16 overflow to inf");
  CHECK(msp_f32_to_f16(5.96046448e-08f) == 0x0001u, "f16 smallest subnormal");
  CHECK(msp_f32_to_bf16(1.00390625f) == 0x3f80u, "bf16 ties to even");
}

int main(void) {
  const int64_t shapes[][3] = {{0, 0, 0}, {0, 5, 3}, {5, 0, 3}, {1, 1, 1}, {7, 5, 20},
                               {40, 33, 300}, {300, 200, 5000}, {2000, 1500, 60000}};
  for (int vt = 0; vt < 5; ++vt)
    for (int it = 0; it < 2; ++it)
      for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s)
        for (int threads = 1; threads <= 4; threads += 3)
          run_case(vt, it, shapes[s][0], shapes[s][1], shapes[s][2], threads);
  test_errors();
  test_half();
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail != 0;
}
