/* Body of the SpMM kernels, instantiated per (VT, IT) by instantiate.h. */

#define MSP_KB 16 /* columns of X per pass: a fixed width, so the accumulators live in registers */

/* Y[r, :] for rows [r0, r1). The row's nonzeros are walked once per 16-column block of X, with the
 * 16 sums in (vector) registers; the last k % 16 columns take a variable-width pass. Returns nonzero
 * on malformed structure. (A GCC target_clones AVX2 build of this function measured 2.3x slower
 * than the portable one, so there is none.) */
static int NAME(rows)(const IT *restrict indptr, const IT *restrict indices, const VT *restrict data,
                      const VT *restrict x, VT *restrict y, int64_t r0, int64_t r1, int64_t n,
                      int64_t k, int64_t nnz, int conj) {
  int bad = 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (s < 0 || e < s || e > nnz) {
      bad = 1;
      e = s = 0;
    }
    for (int64_t j = s; j < e; ++j) bad |= (uint64_t)(int64_t)indices[j] >= (uint64_t)n;
    int64_t kb = 0;
    for (; kb + MSP_KB <= k; kb += MSP_KB) {
      AT acc[MSP_KB];
      for (int t = 0; t < MSP_KB; ++t) acc[t] = AZERO;
      for (int64_t j = s; j < e; ++j) {
        int64_t col = (int64_t)indices[j];
        if ((uint64_t)col >= (uint64_t)n) continue;
        AT a = conj ? CONJ(LOAD(&data[j])) : LOAD(&data[j]);
        const VT *xr = x + col * k + kb;
        for (int t = 0; t < MSP_KB; ++t) acc[t] += a * LOAD(&xr[t]);
      }
      VT *yr = y + r * k + kb;
      for (int t = 0; t < MSP_KB; ++t) STORE(&yr[t], acc[t]);
    }
    if (kb < k) {
      int64_t kw = k - kb;
      AT acc[MSP_KB];
      for (int64_t t = 0; t < kw; ++t) acc[t] = AZERO;
      for (int64_t j = s; j < e; ++j) {
        int64_t col = (int64_t)indices[j];
        if ((uint64_t)col >= (uint64_t)n) continue;
        AT a = conj ? CONJ(LOAD(&data[j])) : LOAD(&data[j]);
        const VT *xr = x + col * k + kb;
        for (int64_t t = 0; t < kw; ++t) acc[t] += a * LOAD(&xr[t]);
      }
      VT *yr = y + r * k + kb;
      for (int64_t t = 0; t < kw; ++t) STORE(&yr[t], acc[t]);
    }
  }
  return bad;
}

/* Unpack and check the common SpMM call: X has rows_in rows, Y rows_out (both k columns). */
#define MSP_SPMM_ARGS(rows_in, rows_out)                                                      \
  if (c->n_in != 4 || c->n_out != 1) return MSP_EINVAL;                                      \
  int64_t m = c->iarg[0], n = c->iarg[1], k = c->iarg[2], nnz = c->in_len[1];                \
  int conj = c->iarg[3] != 0;                                                                 \
  if (m < 0 || n < 0 || k < 0 || c->in_len[0] != m + 1 || c->in_len[2] != nnz ||             \
      c->in_len[3] != (rows_in) * k || c->out_len[0] != (rows_out) * k)                       \
    return MSP_EINVAL;                                                                        \
  const IT *indptr = (const IT *)c->in[0];                                                    \
  const IT *indices = (const IT *)c->in[1];                                                   \
  const VT *data = (const VT *)c->in[2];                                                      \
  const VT *x = (const VT *)c->in[3];                                                         \
  VT *y = (VT *)c->out[0]

/* Y = A X (conj: Y = conj(A) X). in: indptr[m+1], indices[nnz], data[nnz], X[n*k];
 * out: Y[m*k]; iarg: m, n, k, conj. */
int NAME(csr)(const msp_call *c) {
  MSP_SPMM_ARGS(n, m);
  if (m == 0 || k == 0) return MSP_OK;
  int nt = msp_threads_for(c, (nnz + m) * (k < 16 ? k : 16));
  int bad = 0;
  /* 8 chunks per thread balanced by nonzeros + rows, taken dynamically */
  int parts = nt > 1 ? 8 * nt : 1;
  if (parts > MSP_MAX_PARTS) parts = MSP_MAX_PARTS;
  int64_t b[MSP_MAX_PARTS + 1];
  MSP_PARTITION(INAME)(indptr, m, nnz, parts, b);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(| : bad)
  for (int p = 0; p < parts; ++p)
    if (b[p + 1] > b[p]) bad |= NAME(rows)(indptr, indices, data, x, y, b[p], b[p + 1], n, k, nnz, conj);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* acc[col * k + q] += op(A)[r, col] X[r, q] for rows [r0, r1): the scatter of Y = A^T X. */
static int NAME(scatter)(const IT *restrict indptr, const IT *restrict indices, const VT *restrict data,
                         const VT *restrict x, AT *restrict acc, int64_t r0, int64_t r1, int64_t n,
                         int64_t k, int64_t nnz, int conj) {
  int bad = 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (s < 0 || e < s || e > nnz) {
      bad = 1;
      continue;
    }
    const VT *xr = x + r * k;
    const AT x0 = LOAD(&xr[0]);
    for (int64_t j = s; j < e; ++j) {
      int64_t col = (int64_t)indices[j];
      if ((uint64_t)col >= (uint64_t)n) {
        bad = 1;
        continue;
      }
      AT v = conj ? CONJ(LOAD(&data[j])) : LOAD(&data[j]);
      if (k == 1) { /* vector: one scattered update (loop-invariant branch) */
        acc[col] += v * x0;
        continue;
      }
      AT *ar = acc + col * k;
      for (int64_t q = 0; q < k; ++q) ar[q] += v * LOAD(&xr[q]);
    }
  }
  return bad;
}

/* Y = A^T X (conj: A^H X). in: indptr[m+1], indices[nnz], data[nnz], X[m*k]; out: Y[n*k];
 * iarg: m, n, k, conj. One thread scatters straight into Y (when Y holds the accumulator type);
 * several scatter into per-thread accumulators, summed in thread order. */
int NAME(csr_t)(const msp_call *c) {
  MSP_SPMM_ARGS(m, n);
  if (n * k == 0) return MSP_OK;
  int nt = msp_threads_for(c, (nnz + m) * (k < 16 ? k : 16));
  /* private accumulators cost nt * n * k; stay single-threaded beyond 256 MiB of them */
  if (nt > 1 && (double)nt * (double)(n * k) * sizeof(AT) > 268435456.0) nt = 1;
  if (nt == 1 && ACC_IS_VT) {
    AT *acc = (AT *)(void *)y;
    for (int64_t i = 0; i < n * k; ++i) acc[i] = AZERO;
    return NAME(scatter)(indptr, indices, data, x, acc, 0, m, n, k, nnz, conj) ? MSP_EINDEX : MSP_OK;
  }
  AT *acc = (AT *)malloc((size_t)nt * (size_t)(n * k) * sizeof(AT));
  if (acc == NULL) return MSP_ENOMEM;
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    int t = MSP_THREAD_ID();
    AT *a = acc + (size_t)t * (size_t)(n * k);
    for (int64_t i = 0; i < n * k; ++i) a[i] = AZERO;
    bad |= NAME(scatter)(indptr, indices, data, x, a, m * t / nt, m * (t + 1) / nt, n, k, nnz, conj);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n * k; ++i) {
      AT s = acc[i];
      for (int u = 1; u < nt; ++u) s += acc[(size_t)u * (size_t)(n * k) + (size_t)i];
      STORE(&y[i], s);
    }
  }
  free(acc);
  return bad ? MSP_EINDEX : MSP_OK;
}
#undef MSP_KB
#undef MSP_SPMM_ARGS
