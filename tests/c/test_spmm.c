/* C tests of the spmm family (Y = op(A) X, row-major and batch-major) against dense double references. */
#include "check.h"

/* Y = op(A) X for k = 3, 21, 45 and 70 (blocks of 16, 8, 4 and 1 columns; float16 with F16C: 32, 8
 * and 1), op in {A, A^H, A^T, conj(A)}, X and Y row-major or batch-major (bm: stored (k, rows)). */
static void spmm_case(int vt, int it, int64_t m, int64_t n, int64_t nnz, int threads) {
  coo_t a = make_coo(m, n, nnz);
  csr_t s = make_csr(&a, vt, it);
  const int64_t z = a.nnz;
  for (int kk = 0; kk < 8; ++kk) {
    const int64_t k = (int64_t[]){3, 21, 45, 70}[kk % 4];
    const int bm = kk >= 4;
    const int64_t rows_x = m > n ? m : n;
    void *X = alloc(VSIZE[vt], rows_x * k), *Y = alloc(VSIZE[vt], rows_x * k);
    double *Xre = alloc(sizeof(double), rows_x * k), *Xim = alloc(sizeof(double), rows_x * k);
    for (int64_t q = 0; q < rows_x * k; ++q) {
      Xre[q] = (double)rand_int(-2, 2);
      Xim[q] = vt == C64 ? (double)rand_int(-2, 2) : 0;
      put_val(vt, X, q, Xre[q], Xim[q]);
    }
    for (int trans = 0; trans < 2; ++trans)
      for (int conj = 0; conj < 2; ++conj) {
        const int64_t out_rows = trans ? n : m, in_rows = trans ? m : n;
        const int st = run(trans ? "spmm_csr_t" : "spmm_csr", vt, it, (const void *[]){s.indptr, s.indices, s.data, X},
                           (void *[]){Y}, (int64_t[]){m, n, k, z}, (int64_t[]){conj, bm}, threads, NULL);
        int ok = st == MSP_OK;
        double *Rre = alloc(sizeof(double), out_rows * k), *Rim = alloc(sizeof(double), out_rows * k);
        for (int64_t e = 0; e < z; ++e) { /* reference from the COO triplets (duplicates included) */
          const int64_t ro = trans ? a.col[e] : a.row[e], ri = trans ? a.row[e] : a.col[e];
          const double are = a.re[e], aim = vt == C64 ? (conj ? -a.im[e] : a.im[e]) : 0;
          for (int64_t q = 0; q < k; ++q) {
            const int64_t xi = bm ? q * in_rows + ri : ri * k + q;
            Rre[ro * k + q] += are * Xre[xi] - aim * Xim[xi];
            Rim[ro * k + q] += are * Xim[xi] + aim * Xre[xi];
          }
        }
        for (int64_t q = 0; q < out_rows * k && ok; ++q) {
          double re, im;
          get_val(vt, Y, bm ? (q % k) * out_rows + q / k : q, &re, &im);
          ok = re == Rre[q] && im == Rim[q];
        }
        free(Rre), free(Rim);
        CHECK(ok, "spmm %s %s trans=%d conj=%d k=%lld bm=%d m=%lld n=%lld status %d", VTS[vt], ITS[it], trans, conj,
              (long long)k, bm, (long long)m, (long long)n, st);
      }
    free(X), free(Y), free(Xre), free(Xim);
  }
  free_csr(&s);
  free_coo(&a);
}

static void spmm_errors(void) {
  int32_t indptr[3] = {0, 1, 2}, ind[2] = {0, 9};
  float val[2] = {1, 2}, x[4] = {0}, y[4];
  msp_call c;
  msp_call_init(&c, "spmm_csr_f32_i32", (const void *[]){indptr, ind, val, x}, (void *[]){y}, (int64_t[]){2, 2, 2, 2},
                (int64_t[]){0, 0});
  msp_kernel_fn fn = msp_find_kernel("spmm_csr_f32_i32");
  CHECK(fn(&c) == MSP_EINDEX, "spmm column out of range -> EINDEX");
  c.iarg[4] = 2;
  CHECK(fn(&c) == MSP_EINVAL, "spmm flag not 0/1 -> EINVAL");
  c.iarg[4] = 0, c.out_len[0] = 3;
  CHECK(fn(&c) == MSP_EINVAL, "spmm bad Y length -> EINVAL");
}

int main(void) {
  for_each_case(spmm_case);
  spmm_errors();
  return REPORT();
}
