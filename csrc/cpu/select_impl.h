/* Body of the selection kernels (fromdense, subsets, indexing), instantiated per (VT, IT) by
 * instantiate.h. Each selection is staged: a count per row, a prefix sum by the caller (one
 * synchronization of the total), then a fill that writes each kept entry's column and source
 * position (the values are a gather by the caller, so derivatives flow through it). */

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

/* First position in [s, e) whose index is >= v (indices sorted in [s, e)). */
static MSP_ALWAYS_INLINE int64_t NAME(lower_bound)(const IT *x, int64_t s, int64_t e, int64_t v) {
  while (s < e) {
    const int64_t mid = s + (e - s) / 2;
    if ((int64_t)x[mid] < v) s = mid + 1;
    else e = mid;
  }
  return s;
}

/* Entry j (column col of row r, value v) is kept when: lo <= col < hi, and (nonzero: v != 0) and
 * (lower: col - r <= k) and (upper: col - r >= k), with k = shift - m (the caller clamps k to [-m, n]). */
#define MSP_SELECT_KEEP(r, col, v)                                                                    \
  ((col) >= lo && (col) < hi && (!nonzero || (v) != AZERO) && (!lower || (col) - (r) + m <= shift) && \
   (!upper || (col) - (r) + m >= shift))

/* The kept columns of row r as one range [*a, *b) of column values (every condition but nonzero). */
static MSP_ALWAYS_INLINE void NAME(kept_range)(int64_t r, int64_t m, int64_t shift, int64_t lo, int64_t hi, int lower,
                                               int upper, int64_t *a, int64_t *b) {
  int64_t x = lo, y = hi;
  if (lower && r + shift - m + 1 < y) y = r + shift - m + 1;
  if (upper && r + shift - m > x) x = r + shift - m;
  *a = x, *b = y > x ? y : x;
}

/* counts[r] = the kept entries of row r. in: indptr[m+1], indices[nnz], data[nnz]; out: counts[m];
 * sizes m, n, nnz, shift, lo, hi; flags nonzero, lower, upper, sorted. With sorted (the caller knows
 * each row's indices are sorted) and no nonzero test, the kept entries of a row are one run, found by
 * two binary searches: the cost follows m log(row length), not nnz. Malformed rows count 0 and give
 * EINDEX. */
int NAME(csr_count)(const msp_call *c) {
  MSP_UNPACK(csr_count);
  const int runs = sorted && !nonzero;
  int nt = msp_threads_for(c, (runs ? 0 : nnz) + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1], k = 0;
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      e = s;
    }
    if (runs) {
      int64_t a, b;
      NAME(kept_range)(r, m, shift, lo, hi, lower, upper, &a, &b);
      k = NAME(lower_bound)(indices, s, e, b) - NAME(lower_bound)(indices, s, e, a);
    } else {
      for (int64_t j = s; j < e; ++j) k += MSP_SELECT_KEEP(r, (int64_t)indices[j], LOAD(&data[j]));
    }
    counts[r] = (IT)k;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* The kept entries in storage order: out_indices[p] = indices[j] - lo, src[p] = j, out_data[p] =
 * data[j]. in: indptr[m+1], indices[nnz], data[nnz], optr[m+1] (exclusive scan of the counts); out:
 * out_indices[nnz2], src[nnz2], out_data[nnz2]; sizes m, n, nnz, nnz2, shift, lo, hi; flags as
 * csr_count (sorted, no nonzero test: each row's run is copied whole). */
int NAME(csr_fill)(const msp_call *c) {
  MSP_UNPACK(csr_fill);
  const int runs = sorted && !nonzero;
  int nt = msp_threads_for(c, (runs ? 0 : nnz) + nnz2 + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    int64_t p = (int64_t)optr[r], pe = (int64_t)optr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz) || MSP_ROW_BAD(p, pe, nnz2)) {
      bad = 1;
      continue;
    }
    if (runs) {
      int64_t a, b;
      NAME(kept_range)(r, m, shift, lo, hi, lower, upper, &a, &b);
      const int64_t ja = NAME(lower_bound)(indices, s, e, a), jb = NAME(lower_bound)(indices, s, e, b);
      if (jb - ja != pe - p) {
        bad = 1;
        continue;
      }
      for (int64_t j = ja; j < jb; ++j, ++p) {
        out_indices[p] = (IT)((int64_t)indices[j] - lo);
        src[p] = (IT)j;
      }
      memcpy(out_data + optr[r], data + ja, (size_t)(jb - ja) * sizeof(VT));
      continue;
    }
    for (int64_t j = s; j < e; ++j)
      if (MSP_SELECT_KEEP(r, (int64_t)indices[j], LOAD(&data[j]))) {
        if (p == pe) {
          bad = 1;
          break;
        }
        out_indices[p] = (IT)((int64_t)indices[j] - lo);
        out_data[p] = data[j];
        src[p++] = (IT)j;
      }
    bad |= p != pe;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
#undef MSP_SELECT_KEEP

/* counts[i] = the length of row rows[i] (the row gather's count). in: indptr[m+1], rows[r]; out: counts[r];
 * sizes m, r. A row id outside [0, m) or a malformed row counts 0 and gives EINDEX. */
int NAME(rows_count)(const msp_call *c) {
  MSP_UNPACK(rows_count);
  int nt = msp_threads_for(c, r);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < r; ++i) {
    const int64_t row = (int64_t)rows[i];
    int64_t len = 0;
    if (row < 0 || row >= m) {
      bad = 1;
    } else {
      const int64_t s = (int64_t)indptr[row], e = (int64_t)indptr[row + 1];
      if (s < 0 || e < s) bad = 1; /* also keeps e - s from overflowing */
      else len = e - s;
    }
    counts[i] = (IT)len;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Row gather (A[rows] of CSR): output row i is input row rows[i], entries in storage order:
 * out_indices[p] = indices[j], src[p] = j, out_data[p] = data[j]. in: indptr[m+1], indices[nnz],
 * data[nnz], rows[r], optr[r+1] (exclusive scan of the selected rows' lengths); out: out_indices[nnz2],
 * src[nnz2], out_data[nnz2]; sizes m, nnz, r, nnz2. A row id
 * outside [0, m), a malformed row or an output range that disagrees with its row's length: EINDEX. */
int NAME(rows)(const msp_call *c) {
  MSP_UNPACK(rows);
  int nt = msp_threads_for(c, nnz2 + r);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < r; ++i) {
    const int64_t row = (int64_t)rows[i];
    const int64_t p = (int64_t)optr[i], pe = (int64_t)optr[i + 1];
    if (row < 0 || row >= m || MSP_ROW_BAD(p, pe, nnz2)) {
      bad = 1;
      continue;
    }
    const int64_t s = (int64_t)indptr[row], e = (int64_t)indptr[row + 1];
    if (MSP_ROW_BAD(s, e, nnz) || e - s != pe - p) {
      bad = 1;
      continue;
    }
    memcpy(out_indices + p, indices + s, (size_t)(e - s) * sizeof(IT));
    memcpy(out_data + p, data + s, (size_t)(e - s) * sizeof(VT));
    for (int64_t k = 0; k < e - s; ++k) src[p + k] = (IT)(s + k);
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Column gather (A[:, cols] of CSR), where cptr[n+1] / corder[q] list, for each input column c, the
 * output columns corder[cptr[c] .. cptr[c+1]) that take it (cols may repeat and be in any order).
 * counts[r] = sum over row r's entries of cptr[c+1] - cptr[c]. in: indptr[m+1], indices[nnz],
 * cptr[n+1]; out: counts[m]; sizes m, n, nnz. A column outside [0, n) or a malformed row: EINDEX. */
#define MSP_CPTR_BAD(cs, ce) ((cs) < 0 || (ce) < (cs) || (ce) > q)
int NAME(cols_count)(const msp_call *c) {
  MSP_UNPACK(cols_count);
  int nt = msp_threads_for(c, nnz + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1], k = 0;
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      e = s;
    }
    for (int64_t j = s; j < e; ++j) {
      const int64_t col = (int64_t)indices[j];
      if (col < 0 || col >= n) {
        bad = 1;
        continue;
      }
      k += (int64_t)cptr[col + 1] - (int64_t)cptr[col];
    }
    counts[r] = (IT)k;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* The fill of cols_count: for each entry j of row r (storage order) and each output column t of its
 * column, out_indices[p] = t, src[p] = j, out_data[p] = data[j]. in: indptr[m+1], indices[nnz],
 * data[nnz], cptr[n+1], corder[q], optr[m+1]; out: out_indices[nnz2], src[nnz2], out_data[nnz2];
 * sizes m, n, nnz, q, nnz2. */
int NAME(cols_fill)(const msp_call *c) {
  MSP_UNPACK(cols_fill);
  int nt = msp_threads_for(c, nnz + nnz2 + m);
  int bad = (int64_t)cptr[0] != 0 || (int64_t)cptr[n] != q;
  if (bad) return MSP_EINDEX;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    const int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    int64_t p = (int64_t)optr[r];
    const int64_t pe = (int64_t)optr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz) || MSP_ROW_BAD(p, pe, nnz2)) {
      bad = 1;
      continue;
    }
    for (int64_t j = s; j < e && !bad; ++j) {
      const int64_t col = (int64_t)indices[j];
      if (col < 0 || col >= n) {
        bad = 1;
        break;
      }
      const int64_t cs = (int64_t)cptr[col], ce = (int64_t)cptr[col + 1];
      if (MSP_CPTR_BAD(cs, ce) || ce - cs > pe - p) {
        bad = 1;
        break;
      }
      for (int64_t t = cs; t < ce; ++t, ++p) {
        out_indices[p] = corder[t];
        out_data[p] = data[j];
        src[p] = (IT)j;
      }
    }
    bad |= p != pe;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
#undef MSP_CPTR_BAD

/* Entry lookup (A[rows, cols] elementwise) in canonical CSR (sorted, no duplicates): pos[i] = the
 * position of (rows[i], cols[i]), or -1 where it is not stored. A binary search per query. in: indptr[m+1],
 * indices[nnz], rows[q], cols[q]; out: pos[q]; sizes m, n, nnz, q. A query or row outside the
 * matrix: EINDEX (its pos is -1). */
int NAME(lookup)(const msp_call *c) {
  MSP_UNPACK(lookup);
  int nt = msp_threads_for(c, q * 8);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < q; ++i) {
    const int64_t row = (int64_t)rows[i], col = (int64_t)cols[i];
    pos[i] = (IT)-1;
    if (row < 0 || row >= m || col < 0 || col >= n) {
      bad = 1;
      continue;
    }
    int64_t lo = (int64_t)indptr[row], hi = (int64_t)indptr[row + 1];
    if (MSP_ROW_BAD(lo, hi, nnz)) {
      bad = 1;
      continue;
    }
    const int64_t j = NAME(lower_bound)(indices, lo, hi, col);
    if (j < hi && (int64_t)indices[j] == col) pos[i] = (IT)j;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
