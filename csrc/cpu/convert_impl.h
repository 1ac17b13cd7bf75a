/* Body of the conversion kernels, instantiated per (VT, IT) by instantiate.h. */

#include "sort_row.h"

/* CSR of a COO matrix, entries sorted by (row, column), stable among equal pairs (so summing them
 * later adds in input order), and the row pointer of distinct columns for that sum.
 * in: row[nnz], col[nnz], data[nnz]; out: indptr[m+1], indices[nnz], values[nnz], uptr[m+1] (exclusive
 * scan of the distinct columns per row); sizes m, n, nnz.
 * A cache-friendly two-level counting sort: entries are partitioned by block of rows (sequential
 * writes to a few thousand streams at most), then each block, small enough for the cache, is
 * counting-sorted by row into its final place and each row sorted by column (rows that arrive
 * sorted, as a transpose's do, are only checked). An index out of range: EINDEX, nothing written. */
int NAME(coo_tocsr)(const msp_call *c) {
  MSP_UNPACK(coo_tocsr);
  int nt = msp_threads_for(c, nnz);
  if (nnz > 0 && m == 0) return MSP_EINDEX; /* no row can hold an entry */
  if (nnz == 0) {
    for (int64_t r = 0; r <= m; ++r) indptr[r] = 0, uptr[r] = 0;
    return MSP_OK;
  }
  /* blocks of 2^shift rows, about 32768 entries each on average (a block's entries and output stay in
   * a core's L2 cache; few blocks keep the partition's write streams few), at most 4096 blocks */
  int64_t want = nnz / 32768;
  if (want > 4096) want = 4096;
  int shift = 0;
  while (((m - 1) >> shift) + 1 > (want > 1 ? want : 1)) ++shift;
  const int64_t nb = ((m - 1) >> shift) + 1, span = (int64_t)1 << shift;
  if (nt > 1 && nb * nt > 4 * nnz + 64) nt = 1;
  const size_t ncnt = (size_t)(nb * nt + nb + 1);
  int64_t *cnt = (int64_t *)msp_scratch(0, ncnt * sizeof(int64_t));
  typedef struct {
    IT row, col;
    VT val;
  } NAME(entry);
  NAME(entry) *tmp = (NAME(entry) *)msp_scratch(1, (size_t)nnz * sizeof(NAME(entry))); /* one stream per block */
  if (!cnt || !tmp) {
    msp_scratch_release(0, cnt), msp_scratch_release(1, tmp);
    return MSP_ENOMEM;
  }
  memset(cnt, 0, ncnt * sizeof(int64_t));
  int64_t *bstart = cnt + nb * nt; /* nb + 1 block starts */
  int bad = 0;
  /* 1. bounds, and a histogram of blocks per chunk of entries */
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : bad)
  for (int t = 0; t < nt; ++t) {
    const int64_t k0 = nnz * t / nt, k1 = nnz * (t + 1) / nt;
    int64_t *h = cnt + (int64_t)t * nb;
    for (int64_t k = k0; k < k1; ++k) {
      const uint64_t r = (uint64_t)(int64_t)row[k], cc = (uint64_t)(int64_t)col[k];
      if (r >= (uint64_t)m || cc >= (uint64_t)n) {
        bad = 1;
        continue;
      }
      h[r >> shift]++;
    }
  }
  if (bad) {
    msp_scratch_release(0, cnt), msp_scratch_release(1, tmp);
    return MSP_EINDEX;
  }
  /* 2. offsets in (block, chunk) order: stable */
  int64_t run = 0;
  for (int64_t b = 0; b < nb; ++b) {
    bstart[b] = run;
    for (int t = 0; t < nt; ++t) {
      int64_t *h = cnt + (int64_t)t * nb + b, v = *h;
      *h = run;
      run += v;
    }
  }
  bstart[nb] = run;
  /* 3. partition by block */
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    const int64_t k0 = nnz * t / nt, k1 = nnz * (t + 1) / nt;
    int64_t *h = cnt + (int64_t)t * nb;
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t p = h[(int64_t)row[k] >> shift]++;
      tmp[p].row = row[k], tmp[p].col = col[k], tmp[p].val = data[k];
    }
  }
  /* 4. each block: counting sort by row into place, each row sorted by column, distinct columns counted */
  int oom = 0;
#pragma omp parallel num_threads(nt) reduction(| : oom)
  {
    int64_t *lc = (int64_t *)malloc((size_t)(span + 1) * sizeof(int64_t));
    IT *sind = NULL;
    VT *sval = NULL;
    int64_t cap = 0;
    if (lc == NULL) oom = 1;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < nb; ++b) {
      if (lc == NULL) continue;
      const int64_t s = bstart[b], e = bstart[b + 1], r0 = b << shift;
      const int64_t r1 = r0 + span < m ? r0 + span : m, nr = r1 - r0;
      memset(lc, 0, (size_t)(nr + 1) * sizeof(int64_t));
      for (int64_t k = s; k < e; ++k) lc[(int64_t)tmp[k].row - r0 + 1]++;
      lc[0] = s;
      for (int64_t i = 0; i < nr; ++i) lc[i + 1] += lc[i];
      for (int64_t i = 0; i < nr; ++i) indptr[r0 + i] = (IT)lc[i];
      for (int64_t k = s; k < e; ++k) {
        const int64_t p = lc[(int64_t)tmp[k].row - r0]++;
        indices[p] = tmp[k].col, values[p] = tmp[k].val;
      }
      /* lc[i] now ends row i; row i starts at lc[i - 1] (block start for i = 0) */
      for (int64_t i = 0; i < nr; ++i) {
        const int64_t a = i ? lc[i - 1] : s, z = lc[i], len = z - a;
        int sorted = 1;
        for (int64_t j = a + 1; j < z && sorted; ++j) sorted = indices[j - 1] <= indices[j];
        if (!sorted) {
          if (len > 24 && len > cap) {
            free(sind), free(sval);
            sind = (IT *)malloc((size_t)len * sizeof(IT)), sval = (VT *)malloc((size_t)len * sizeof(VT));
            cap = (sind && sval) ? len : 0;
            if (cap == 0) {
              oom = 1;
              continue;
            }
          }
          NAME(sort_row)(indices + a, values + a, len, sind, sval);
        }
        int64_t u = len > 0;
        for (int64_t j = a + 1; j < z; ++j) u += indices[j] != indices[j - 1];
        uptr[r0 + i + 1] = (IT)u; /* a count for now: scanned below */
      }
    }
    free(lc), free(sind), free(sval);
  }
  if (oom) {
    msp_scratch_release(0, cnt), msp_scratch_release(1, tmp);
    return MSP_ENOMEM;
  }
  indptr[m] = (IT)nnz;
  uptr[0] = 0;
  for (int64_t r = 0; r < m; ++r) uptr[r + 1] = (IT)((int64_t)uptr[r] + (int64_t)uptr[r + 1]);
  msp_scratch_release(0, cnt), msp_scratch_release(1, tmp);
  return MSP_OK;
}

/* The transpose's CSR (A's CSC): entries regrouped by column, rows in order within each column (a
 * stable counting sort), so sorted output whatever the input's column order, canonical from canonical.
 * in: indptr[m+1], indices[nnz], data[nnz]; out: tptr[n+1], tind[nnz], tval[nnz]; sizes m, n, nnz.
 * Each thread counts the columns of a share of rows (balanced by entries), the column offsets are
 * scanned in parallel (a range of columns per thread), and each thread scatters its rows. Malformed
 * indptr or a column out of range: EINDEX, nothing scattered. */
int NAME(csr_tocsc)(const msp_call *c) {
  MSP_UNPACK(csr_tocsc);
  if (!MSP_FITS_IT(m) || !MSP_FITS_IT(nnz)) return MSP_EINVAL; /* row numbers and offsets are written as IT */
  if ((int64_t)indptr[0] != 0 || (int64_t)indptr[m] != nnz) return MSP_EINDEX;
  int nt = msp_threads_for(c, nnz + n);
  if (nt > 1 && n * (int64_t)nt > 4 * nnz + 4096) nt = 1; /* per-thread counts too large for the work */
  const size_t ncnt = (size_t)(n * nt + 2 * (nt + 1));
  int64_t *cnt = (int64_t *)msp_scratch(0, ncnt * sizeof(int64_t));
  if (cnt == NULL) return MSP_ENOMEM;
  memset(cnt, 0, ncnt * sizeof(int64_t));
  int64_t *rsplit = cnt + n * nt, *csum = rsplit + nt + 1;
  /* row shares with about nnz / nt entries each */
  rsplit[0] = 0, rsplit[nt] = m;
  for (int t = 1; t < nt; ++t) {
    int64_t lo = rsplit[t - 1], hi = m, goal = nnz * t / nt;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if ((int64_t)indptr[mid] < goal) lo = mid + 1;
      else hi = mid;
    }
    rsplit[t] = lo;
  }
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : bad)
  for (int t = 0; t < nt; ++t) { /* counts per column of each share */
    int64_t *h = cnt + (int64_t)t * n;
    for (int64_t r = rsplit[t]; r < rsplit[t + 1] && !bad; ++r) {
      const int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
      if (MSP_ROW_BAD(s, e, nnz)) {
        bad = 1;
        break;
      }
      for (int64_t j = s; j < e; ++j) {
        const uint64_t col = (uint64_t)(int64_t)indices[j];
        if (col >= (uint64_t)n) {
          bad = 1;
          break;
        }
        h[col]++;
      }
    }
  }
  if (bad) {
    msp_scratch_release(0, cnt);
    return MSP_EINDEX;
  }
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) { /* the totals of a range of columns per thread */
    int64_t sum = 0;
    for (int64_t col = n * t / nt; col < n * (t + 1) / nt; ++col)
      for (int u = 0; u < nt; ++u) sum += cnt[(int64_t)u * n + col];
    csum[t + 1] = sum;
  }
  csum[0] = 0;
  for (int t = 0; t < nt; ++t) csum[t + 1] += csum[t];
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) { /* column pointer, and each share's offsets (shares in row order: stable) */
    int64_t run = csum[t];
    for (int64_t col = n * t / nt; col < n * (t + 1) / nt; ++col) {
      tptr[col] = (IT)run;
      for (int u = 0; u < nt; ++u) {
        int64_t *x = cnt + (int64_t)u * n + col, v = *x;
        *x = run;
        run += v;
      }
    }
  }
  tptr[n] = (IT)nnz;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    int64_t *h = cnt + (int64_t)t * n;
    for (int64_t r = rsplit[t]; r < rsplit[t + 1]; ++r)
      for (int64_t j = (int64_t)indptr[r]; j < (int64_t)indptr[r + 1]; ++j) {
        const int64_t p = h[(int64_t)indices[j]]++;
        tind[p] = (IT)r;
        tval[p] = data[j];
      }
  }
  msp_scratch_release(0, cnt);
  return MSP_OK;
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
  if (!MSP_FITS_IT(m)) return MSP_EINVAL; /* row numbers are written as IT */
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
