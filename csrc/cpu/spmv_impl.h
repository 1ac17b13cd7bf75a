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

/* y[r] = sum_j A[r, j] x[j] for rows [r0, r1); returns MSP_EINDEX on malformed structure. The column
 * of entry j is indices[j], or r + deltas[j] when deltas is given (16-bit column offsets: 2 bytes
 * per entry instead of 4 or 8, for structures within 32767 of the diagonal). */
static int NAME(rows)(const IT *restrict indptr, const IT *restrict indices, const int16_t *restrict deltas,
                      const VT *restrict data, const VT *restrict x, VT *restrict y, int64_t r0, int64_t r1,
                      int64_t n, int64_t nnz) {
  int bad = 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    AT acc = AZERO;
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      e = s = 0;
    }
    if (deltas != NULL) {
      MSP_SPMV_ROW(r + (int64_t)deltas[j])
    } else {
      MSP_SPMV_ROW((int64_t)indices[j])
    }
    STORE(&y[r], acc);
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* y = A x for all rows: one thread below the size threshold, else rows split by nonzeros + rows. */
static int NAME(run)(const msp_call *c, const IT *restrict indptr, const IT *restrict indices,
                     const int16_t *restrict deltas, const VT *restrict data, const VT *restrict x,
                     VT *restrict y, int64_t m, int64_t n, int64_t nnz) {
  if (m == 0) return MSP_OK;
  int nt = msp_threads_for(c, nnz + m);
  if (nt == 1) return NAME(rows)(indptr, indices, deltas, data, x, y, 0, m, n, nnz);
  int64_t b[MSP_MAX_PARTS + 1];
  if (nt > MSP_MAX_PARTS) nt = MSP_MAX_PARTS;
  MSP_PARTITION(INAME)(indptr, m, nnz, nt, b);
  int status = MSP_OK;
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : status)
  for (int t = 0; t < nt; ++t)
    if (b[t + 1] > b[t]) status |= NAME(rows)(indptr, indices, deltas, data, x, y, b[t], b[t + 1], n, nnz);
  return status ? MSP_EINDEX : MSP_OK;
}

/* y = A x. in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; sizes m, n, nnz. */
int NAME(csr)(const msp_call *c) {
  MSP_UNPACK(csr);
  return NAME(run)(c, indptr, indices, NULL, data, x, y, m, n, nnz);
}

/* y = A x from 16-bit column offsets: as csr, plus deltas[nnz] (int16, column - row), read in place
 * of the indices. */
int NAME(csr_d16)(const msp_call *c) {
  MSP_UNPACK(csr_d16);
  return NAME(run)(c, indptr, NULL, deltas, data, x, y, m, n, nnz);
}
#undef MSP_SPMV_ROW
