/* Body of the selection kernels, instantiated per (VT, IT) by instantiate.h. Each selection is staged:
 * a count per row, a prefix sum by the caller (one synchronization of the total), then a fill that
 * writes each kept entry's column and source position (the values are a gather by the caller, so
 * derivatives flow through it). */

/* |v| > |t| (complex: the modulus), in the accumulator type; NaN is kept (it is not <= t) */
static MSP_ALWAYS_INLINE int NAME(keep)(AT v, AT t) { return !(ABS(v) <= ABS(t)); }

/* counts[r] = #{c : |D[r, c]| > |thr|}. in: dense[m*n] (row-major), thr[1]; out: counts[m]; sizes m, n. */
int NAME(dense_count)(const msp_call *c) {
  MSP_UNPACK(dense_count);
  const AT t = LOAD(&thr[0]);
  int nt = msp_threads_for(c, m * n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < m; ++r) {
    int64_t k = 0;
    for (int64_t j = 0; j < n; ++j) k += NAME(keep)(LOAD(&dense[r * n + j]), t);
    counts[r] = (IT)k;
  }
  return MSP_OK;
}

/* The kept entries of each row in column order: indices[p] = c, pos[p] = r * n + c for p in
 * [indptr[r], indptr[r+1]). in: dense[m*n], thr[1], indptr[m+1] (exclusive scan of the counts);
 * out: indices[nnz], pos[nnz]; sizes m, n, nnz. A row whose range disagrees with its count: EINDEX. */
int NAME(dense_fill)(const msp_call *c) {
  MSP_UNPACK(dense_fill);
  const AT t = LOAD(&thr[0]);
  int nt = msp_threads_for(c, m * n);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t p = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (MSP_ROW_BAD(p, e, nnz)) {
      bad = 1;
      continue;
    }
    for (int64_t j = 0; j < n; ++j)
      if (NAME(keep)(LOAD(&dense[r * n + j]), t)) {
        if (p == e) {
          bad = 1;
          break;
        }
        indices[p] = (IT)j;
        pos[p++] = (IT)(r * n + j);
      }
    bad |= p != e;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Entry j (column col of row r, value v) is kept when: (nonzero: v != 0) and (lower: col - r <= k)
 * and (upper: col - r >= k), with k = shift - m (the caller clamps k to [-m, n]). */
#define MSP_SELECT_KEEP(r, col, v) \
  ((!nonzero || (v) != AZERO) && (!lower || (col) - (r) + m <= shift) && (!upper || (col) - (r) + m >= shift))

/* counts[r] = the kept entries of row r. in: indptr[m+1], indices[nnz], data[nnz]; out: counts[m];
 * sizes m, n, nnz, shift; flags nonzero, lower, upper. Malformed rows count 0 and give EINDEX. */
int NAME(csr_count)(const msp_call *c) {
  MSP_UNPACK(csr_count);
  int nt = msp_threads_for(c, nnz + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1], k = 0;
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      e = s;
    }
    for (int64_t j = s; j < e; ++j) k += MSP_SELECT_KEEP(r, (int64_t)indices[j], LOAD(&data[j]));
    counts[r] = (IT)k;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* The kept entries in storage order: out_indices[p] = indices[j], src[p] = j. in: indptr[m+1],
 * indices[nnz], data[nnz], optr[m+1] (exclusive scan of the counts); out: out_indices[nnz2],
 * src[nnz2]; sizes m, n, nnz, nnz2, shift; flags as csr_count. */
int NAME(csr_fill)(const msp_call *c) {
  MSP_UNPACK(csr_fill);
  int nt = msp_threads_for(c, nnz + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    int64_t p = (int64_t)optr[r], pe = (int64_t)optr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz) || MSP_ROW_BAD(p, pe, nnz2)) {
      bad = 1;
      continue;
    }
    for (int64_t j = s; j < e; ++j)
      if (MSP_SELECT_KEEP(r, (int64_t)indices[j], LOAD(&data[j]))) {
        if (p == pe) {
          bad = 1;
          break;
        }
        out_indices[p] = indices[j];
        src[p++] = (IT)j;
      }
    bad |= p != pe;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
#undef MSP_SELECT_KEEP
