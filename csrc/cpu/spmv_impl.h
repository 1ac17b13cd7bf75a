/* Body of the CSR SpMV kernels, instantiated per (VT, IT) by instantiate.h. */

/* y[r] = sum_j A[r, j] x[j] for rows [r0, r1); returns MSP_EINDEX on malformed structure. */
static int NAME(rows)(const IT *restrict indptr, const IT *restrict indices, const VT *restrict data,
                      const VT *restrict x, VT *restrict y, int64_t r0, int64_t r1, int64_t n,
                      int64_t nnz) {
  int bad = 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    AT acc = AZERO;
    if (s < 0 || e < s || e > nnz) {
      bad = 1;
      e = s = 0;
    }
    for (int64_t j = s; j < e; ++j) {
      int64_t col = (int64_t)indices[j];
      if ((uint64_t)col >= (uint64_t)n) {
        bad = 1;
        continue;
      }
      acc += LOAD(&data[j]) * LOAD(&x[col]);
    }
    STORE(&y[r], acc);
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* y = A x.  in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; iarg: m, n. */
int NAME(csr)(const msp_call *c) {
  if (c->n_in != 4 || c->n_out != 1) return MSP_EINVAL;
  int64_t m = c->iarg[0], n = c->iarg[1], nnz = c->in_len[1];
  if (m < 0 || n < 0 || c->in_len[0] != m + 1 || c->in_len[2] != nnz || c->in_len[3] != n ||
      c->out_len[0] != m)
    return MSP_EINVAL;
  const IT *indptr = (const IT *)c->in[0];
  const IT *indices = (const IT *)c->in[1];
  const VT *data = (const VT *)c->in[2];
  const VT *x = (const VT *)c->in[3];
  VT *y = (VT *)c->out[0];
  if (m == 0) return MSP_OK;
  int nt = msp_threads_for(c, nnz + m);
  if (nt == 1) return NAME(rows)(indptr, indices, data, x, y, 0, m, n, nnz);
  int64_t b[MSP_MAX_PARTS + 1];
  if (nt > MSP_MAX_PARTS) nt = MSP_MAX_PARTS;
  MSP_PARTITION(INAME)(indptr, m, nnz, nt, b);
  int status = MSP_OK;
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : status)
  for (int t = 0; t < nt; ++t)
    if (b[t + 1] > b[t]) status |= NAME(rows)(indptr, indices, data, x, y, b[t], b[t + 1], n, nnz);
  return status ? MSP_EINDEX : MSP_OK;
}
