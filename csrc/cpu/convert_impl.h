/* Body of the conversion kernels, instantiated per (VT, IT) by instantiate.h. */

/* CSR of a COO matrix, entries stable-sorted by row (column order within a row kept).
 * in: row[nnz], col[nnz], data[nnz]; out: indptr[m+1], indices[nnz], values[nnz]; sizes m, n, nnz. */
int NAME(coo_tocsr)(const msp_call *c) {
  MSP_UNPACK(coo_tocsr);
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
      indices[p] = col[k];
      values[p] = data[k];
    }
  }
  free(cnt);
  return status;
}

/* D = A, D dense row-major (duplicates summed).
 * in: indptr[m+1], indices[nnz], data[nnz]; out: dense[m*n]; sizes m, n, nnz. */
int NAME(csr_todense)(const msp_call *c) {
  MSP_UNPACK(csr_todense);
  int nt = msp_threads_for(c, m * n + nnz);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    VT *drow = dense + r * n;
    memset(drow, 0, (size_t)n * sizeof(VT));
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      continue;
    }
    for (int64_t j = s; j < e; ++j) {
      int64_t col = (int64_t)indices[j];
      if ((uint64_t)col >= (uint64_t)n) {
        bad = 1;
        continue;
      }
      AT a = LOAD(&drow[col]) + LOAD(&data[j]);
      STORE(&drow[col], a);
    }
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* rows[j] = r for every stored entry j of row r (CSR -> COO rows).
 * in: indptr[m+1]; out: rows[nnz]; sizes m, nnz. */
int NAME(expand_rows)(const msp_call *c) {
  MSP_UNPACK(expand_rows);
  if ((int64_t)indptr[0] != 0 || (int64_t)indptr[m] != nnz) return MSP_EINDEX;
  int bad = 0;
  int nt = msp_threads_for(c, nnz + m);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      continue;
    }
    for (int64_t j = s; j < e; ++j) rows[j] = (IT)r;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* indptr[r] = the first position p with rows[p] >= r, for rows sorted ascending (CSR row pointer
 * of row-sorted entries). in: rows[nnz]; out: indptr[m+1]; sizes m, nnz. Unsorted or out-of-range
 * rows: MSP_EINDEX. */
int NAME(indptr_from_rows)(const msp_call *c) {
  MSP_UNPACK(indptr_from_rows);
  int64_t r = 0;
  for (int64_t p = 0; p < nnz; ++p) {
    const int64_t row = (int64_t)rows[p];
    if (row < 0 || row < r - 1 || row >= m) return MSP_EINDEX; /* sorted: never below the previous row */
    while (r <= row) indptr[r++] = (IT)p;
  }
  while (r <= m) indptr[r++] = (IT)nnz;
  return MSP_OK;
}
