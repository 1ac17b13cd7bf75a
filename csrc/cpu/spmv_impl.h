/* Body of the CSR SpMV kernels, instantiated per (VT, IT) by instantiate.h. */

/* acc += A[r, j] x[j] over the entries [s, e) of row r, the column of entry j being COL(j). */
#define MSP_SPMV_ROW(COL)                           \
  for (int64_t j = s; j < e; ++j) {                 \
    int64_t col = (COL);                            \
    if ((uint64_t)col >= (uint64_t)n) {             \
      bad = 1;                                      \
      continue;                                     \
    }                                               \
    acc += LOAD(&data[j]) * LOAD(&x[col]);          \
  }

/* y[r] = sum_j A[r, j] x[j] for rows [r0, r1), the column of entry j being COL (of cols[j]), each
 * column source with its own function, so each loop compiles without a branch on the source (a
 * runtime choice inside one function measured 12 -> 17 ms on the 2-D Laplacian's 16-bit offsets);
 * returns MSP_EINDEX on malformed structure. */
#define MSP_SPMV_ROWS_FN(fn, CT, COL)                                                                    \
  static int NAME(fn)(const IT *restrict indptr, const void *restrict cols_, const VT *restrict data,    \
                      const VT *restrict x, VT *restrict y, int64_t r0, int64_t r1, int64_t n, int64_t nnz) { \
    const CT *restrict cols = (const CT *)cols_;                                                         \
    int bad = 0;                                                                                         \
    for (int64_t r = r0; r < r1; ++r) {                                                                  \
      int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];                                        \
      AT acc = AZERO;                                                                                    \
      if (MSP_ROW_BAD(s, e, nnz)) {                                                                      \
        bad = 1;                                                                                         \
        e = s = 0;                                                                                       \
      }                                                                                                  \
      MSP_SPMV_ROW(COL)                                                                                  \
      STORE(&y[r], acc);                                                                                 \
    }                                                                                                    \
    return bad ? MSP_EINDEX : MSP_OK;                                                                    \
  }
MSP_SPMV_ROWS_FN(rows_idx, IT, (int64_t)cols[j])         /* columns from the indices */
MSP_SPMV_ROWS_FN(rows_d16, int16_t, r + (int64_t)cols[j]) /* from 16-bit offsets: 2 bytes per entry */
#undef MSP_SPMV_ROWS_FN

/* y = A x for all rows with `rows` over the column source `cols`: one thread below the size
 * threshold, else rows split by nonzeros + rows. */
static int NAME(run)(const msp_call *c, int (*rows)(const IT *, const void *, const VT *, const VT *, VT *, int64_t,
                                                    int64_t, int64_t, int64_t),
                     const IT *restrict indptr, const void *cols, const VT *restrict data, const VT *restrict x,
                     VT *restrict y, int64_t m, int64_t n, int64_t nnz) {
  if (m == 0) return MSP_OK;
  if ((int64_t)indptr[0] != 0) return MSP_EINDEX; /* entries before it would be skipped silently */
  int nt = msp_threads_for(c, nnz + m);
  if (nt == 1) return rows(indptr, cols, data, x, y, 0, m, n, nnz);
  int64_t b[MSP_MAX_PARTS + 1];
  if (nt > MSP_MAX_PARTS) nt = MSP_MAX_PARTS;
  MSP_PARTITION(INAME)(indptr, m, nnz, nt, b);
  int status = MSP_OK;
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : status)
  for (int t = 0; t < nt; ++t)
    if (b[t + 1] > b[t]) status |= rows(indptr, cols, data, x, y, b[t], b[t + 1], n, nnz);
  return status ? MSP_EINDEX : MSP_OK;
}

/* y = A x. in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; sizes m, n, nnz. */
int NAME(csr)(const msp_call *c) {
  MSP_UNPACK(csr);
  return NAME(run)(c, NAME(rows_idx), indptr, indices, data, x, y, m, n, nnz);
}

/* y = A x from 16-bit column offsets: as csr, plus deltas[nnz] (int16, column - row), read in place
 * of the indices. */
int NAME(csr_d16)(const msp_call *c) {
  MSP_UNPACK(csr_d16);
  return NAME(run)(c, NAME(rows_d16), indptr, deltas, data, x, y, m, n, nnz);
}
#undef MSP_SPMV_ROW
