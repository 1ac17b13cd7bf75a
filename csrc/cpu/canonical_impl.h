/* Body of the canonicalization kernels, instantiated per (VT, IT) by instantiate.h. */

#include "sort_row.h"

/* Sorted copy of each row and the CSR row pointer of its distinct columns.
 * in: indptr[m+1], indices[nnz], data[nnz]; out: sorted_indices[nnz], sorted_data[nnz], uptr[m+1]
 * (uptr = exclusive scan of distinct columns per row); sizes m, n, nnz. */
int NAME(sort_rows)(const msp_call *c) {
  MSP_UNPACK(sort_rows);
  if ((int64_t)indptr[0] != 0 || (int64_t)indptr[m] != nnz) return MSP_EINDEX;
  for (int64_t r = 0; r < m; ++r)
    if (indptr[r + 1] < indptr[r]) return MSP_EINDEX;
  int nt = msp_threads_for(c, nnz + m);
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    IT *sind = NULL;
    VT *sval = NULL;
    int64_t cap = 0;
#pragma omp for schedule(dynamic, 1024)
    for (int64_t r = 0; r < m; ++r) {
      int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1], len = e - s;
      int sorted = 1;
      for (int64_t j = s; j < e; ++j) {
        if ((uint64_t)(int64_t)indices[j] >= (uint64_t)n) bad = 1;
        if (j > s && indices[j] < indices[j - 1]) sorted = 0;
        sorted_indices[j] = indices[j];
        sorted_data[j] = data[j];
      }
      if (!sorted) {
        if (len > 24 && len > cap) {
          free(sind);
          free(sval);
          sind = (IT *)malloc((size_t)len * sizeof(IT));
          sval = (VT *)malloc((size_t)len * sizeof(VT));
          cap = (sind && sval) ? len : 0;
          if (cap == 0) {
            bad |= 2;
            continue;
          }
        }
        NAME(sort_row)(sorted_indices + s, sorted_data + s, len, sind, sval);
      }
      int64_t u = len > 0 ? 1 : 0;
      for (int64_t j = s + 1; j < e; ++j) u += sorted_indices[j] != sorted_indices[j - 1];
      uptr[r + 1] = (IT)u;
    }
    free(sind);
    free(sval);
  }
  if (bad & 2) return MSP_ENOMEM;
  if (bad) return MSP_EINDEX;
  uptr[0] = 0;
  for (int64_t r = 0; r < m; ++r) uptr[r + 1] = (IT)((int64_t)uptr[r + 1] + (int64_t)uptr[r]);
  return MSP_OK;
}

/* Sum runs of equal columns of row-sorted CSR into canonical CSR.
 * in: indptr[m+1], indices[nnz] (sorted in rows), data[nnz], uptr[m+1]; out: out_indices[nnz2],
 * out_data[nnz2] with nnz2 = uptr[m]; sizes m, n, nnz, nnz2. */
int NAME(sum_rows)(const msp_call *c) {
  MSP_UNPACK(sum_rows);
  if ((int64_t)uptr[m] != nnz2 || (int64_t)indptr[m] != nnz) return MSP_EINVAL;
  int nt = msp_threads_for(c, nnz + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    int64_t p = (int64_t)uptr[r], pe = (int64_t)uptr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz) || MSP_ROW_BAD(p, pe, nnz2)) {
      bad = 1;
      continue;
    }
    int64_t j = s;
    while (j < e && p < pe) {
      IT col = indices[j];
      AT acc = LOAD(&data[j]);
      for (++j; j < e && indices[j] == col; ++j) acc += LOAD(&data[j]);
      out_indices[p] = col;
      STORE(&out_data[p], acc);
      ++p;
    }
    if (j != e || p != pe) bad = 1;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Sum runs of equal (row, col) in entries sorted by (row, col); run q (the q-th run start) goes to
 * position pos[start] = q. in: rows[nnz], cols[nnz], data[nnz], pos[nnz] (inclusive scan of run
 * starts, minus one); out: out_indices[nnz2], out_data[nnz2], out_rows[nnz2]; sizes nnz, nnz2.
 * (The GPU's canonicalization: MLX sorts, this sums; the CPU path uses sort_rows + sum_rows.) */
int NAME(sum_runs)(const msp_call *c) {
  MSP_UNPACK(sum_runs);
  int bad = 0;
  int nt = msp_threads_for(c, nnz);
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t p = 0; p < nnz; ++p) {
    const IT r = rows[p], col = cols[p];
    if (p > 0 && rows[p - 1] == r && cols[p - 1] == col) continue;
    AT acc = AZERO;
    for (int64_t q = p; q < nnz && rows[q] == r && cols[q] == col; ++q) acc += LOAD(&data[q]);
    const int64_t o = (int64_t)pos[p];
    if (o < 0 || o >= nnz2) {
      bad = 1;
      continue;
    }
    out_indices[o] = col;
    out_rows[o] = r;
    STORE(&out_data[o], acc);
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
