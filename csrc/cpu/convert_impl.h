/* Body of the conversion kernels, instantiated per (VT, IT) by instantiate.h. */

/* CSR of a COO matrix, entries stable-sorted by row (column order within a row kept).
 * in: row[nnz], col[nnz], data[nnz]; out: indptr[m+1], indices[nnz], data[nnz]; iarg: m, n. */
int NAME(coo_tocsr)(const msp_call *c) {
  if (c->n_in != 3 || c->n_out != 3) return MSP_EINVAL;
  int64_t m = c->iarg[0], n = c->iarg[1], nnz = c->in_len[0];
  if (m < 0 || n < 0 || c->in_len[1] != nnz || c->in_len[2] != nnz || c->out_len[0] != m + 1 ||
      c->out_len[1] != nnz || c->out_len[2] != nnz)
    return MSP_EINVAL;
  const IT *row = (const IT *)c->in[0];
  const IT *col = (const IT *)c->in[1];
  const VT *val = (const VT *)c->in[2];
  IT *indptr = (IT *)c->out[0];
  IT *oind = (IT *)c->out[1];
  VT *oval = (VT *)c->out[2];
  int status = MSP_OK;
  for (int64_t k = 0; k < nnz; ++k)
    if ((uint64_t)(int64_t)row[k] >= (uint64_t)m || (uint64_t)(int64_t)col[k] >= (uint64_t)n)
      return MSP_EINDEX;
  int nt = msp_threads_for(c, nnz);
  if (nt > 1 && (m + 1) * (int64_t)nt > 4 * nnz) nt = 1; /* per-thread histograms too large */
  int64_t *cnt = (int64_t *)calloc((size_t)(m + 1) * (size_t)nt, sizeof(int64_t));
  if (cnt == NULL) return MSP_ENOMEM;
  /* histogram of rows per chunk: cnt[t * (m+1) + r] */
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    int64_t k0 = nnz * t / nt, k1 = nnz * (t + 1) / nt;
    int64_t *h = cnt + (size_t)t * (size_t)(m + 1);
    for (int64_t k = k0; k < k1; ++k) h[(int64_t)row[k]]++;
  }
  /* exclusive scan in (row, chunk) order keeps the sort stable */
  int64_t run = 0;
  for (int64_t r = 0; r < m; ++r) {
    indptr[r] = (IT)run;
    for (int t = 0; t < nt; ++t) {
      int64_t *h = cnt + (size_t)t * (size_t)(m + 1) + r;
      int64_t v = *h;
      *h = run;
      run += v;
    }
  }
  indptr[m] = (IT)run;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    int64_t k0 = nnz * t / nt, k1 = nnz * (t + 1) / nt;
    int64_t *h = cnt + (size_t)t * (size_t)(m + 1);
    for (int64_t k = k0; k < k1; ++k) {
      int64_t p = h[(int64_t)row[k]]++;
      oind[p] = col[k];
      oval[p] = val[k];
    }
  }
  free(cnt);
  return status;
}

/* D = A, D dense row-major (duplicates summed).
 * in: indptr[m+1], indices[nnz], data[nnz]; out: dense[m*n]; iarg: m, n. */
int NAME(csr_todense)(const msp_call *c) {
  if (c->n_in != 3 || c->n_out != 1) return MSP_EINVAL;
  int64_t m = c->iarg[0], n = c->iarg[1], nnz = c->in_len[1];
  if (m < 0 || n < 0 || c->in_len[0] != m + 1 || c->in_len[2] != nnz || c->out_len[0] != m * n)
    return MSP_EINVAL;
  const IT *indptr = (const IT *)c->in[0];
  const IT *ind = (const IT *)c->in[1];
  const VT *val = (const VT *)c->in[2];
  VT *d = (VT *)c->out[0];
  int nt = msp_threads_for(c, m * n + nnz);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    VT *drow = d + r * n;
    memset(drow, 0, (size_t)n * sizeof(VT));
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (s < 0 || e < s || e > nnz) {
      bad = 1;
      continue;
    }
    for (int64_t j = s; j < e; ++j) {
      int64_t col = (int64_t)ind[j];
      if ((uint64_t)col >= (uint64_t)n) {
        bad = 1;
        continue;
      }
      AT a = LOAD(&drow[col]) + LOAD(&val[j]);
      STORE(&drow[col], a);
    }
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* rows[j] = r for every stored entry j of row r (CSR -> COO rows).
 * in: indptr[m+1]; out: rows[nnz]; iarg: m. */
int NAME(expand_rows)(const msp_call *c) {
  if (c->n_in != 1 || c->n_out != 1) return MSP_EINVAL;
  int64_t m = c->iarg[0], nnz = c->out_len[0];
  if (m < 0 || c->in_len[0] != m + 1) return MSP_EINVAL;
  const IT *indptr = (const IT *)c->in[0];
  IT *rows = (IT *)c->out[0];
  if ((int64_t)indptr[0] != 0 || (int64_t)indptr[m] != nnz) return MSP_EINDEX;
  int bad = 0;
  int nt = msp_threads_for(c, nnz + m);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (s < 0 || e < s || e > nnz) {
      bad = 1;
      continue;
    }
    for (int64_t j = s; j < e; ++j) rows[j] = (IT)r;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
