/* Body of the sparse-sparse product kernels (Gustavson, row by row), instantiated per (VT, IT).
 * Each thread keeps a dense marker over the output columns (the row that last touched a column)
 * and, for the fill, a dense accumulator; rows go to threads dynamically, in chunks, so rows of very
 * different flop counts balance. Duplicates and unsorted indices in A or B are fine (products are
 * accumulated); explicit zeros and cancellations stay as stored entries (the structure is the
 * symbolic product's, fixed before the values are known). */

/* A's row r and the B rows it reaches are well formed (ranges inside the arrays, indices inside the
 * shapes); checked before a row is used, so a corrupt structure is an error, never a stray access. */
static int NAME(row_ok)(const IT *aptr, const IT *aind, const IT *bptr, const IT *bind, int64_t r, int64_t k,
                        int64_t n, int64_t nnza, int64_t nnzb) {
  const int64_t s = (int64_t)aptr[r], e = (int64_t)aptr[r + 1];
  if (MSP_ROW_BAD(s, e, nnza)) return 0;
  for (int64_t ja = s; ja < e; ++ja) {
    const int64_t j = (int64_t)aind[ja];
    if (j < 0 || j >= k) return 0;
    const int64_t bs = (int64_t)bptr[j], be = (int64_t)bptr[j + 1];
    if (MSP_ROW_BAD(bs, be, nnzb)) return 0;
    for (int64_t jb = bs; jb < be; ++jb)
      if ((uint64_t)(int64_t)bind[jb] >= (uint64_t)n) return 0;
  }
  return 1;
}

/* counts[r] = the distinct columns of row r of A B. in: aptr[m+1], aind[nnza], bptr[k+1], bind[nnzb];
 * out: counts[m]; sizes m, k, n, nnza, nnzb. A malformed row counts 0 and gives EINDEX. */
int NAME(count)(const msp_call *c) {
  MSP_UNPACK(count);
  int nt = msp_threads_for(c, nnza + m);
  int64_t *mark = (int64_t *)msp_scratch(0, (size_t)(n > 0 ? n : 1) * (size_t)nt * sizeof(int64_t));
  if (mark == NULL) return MSP_ENOMEM;
  memset(mark, 0xff, (size_t)(n > 0 ? n : 1) * (size_t)nt * sizeof(int64_t)); /* -1: no row yet */
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    int64_t *mk = mark + (int64_t)MSP_THREAD_ID() * n;
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < m; ++r) {
      int64_t cnt = 0;
      if (!NAME(row_ok)(aptr, aind, bptr, bind, r, k, n, nnza, nnzb)) {
        bad = 1;
        counts[r] = 0;
        continue;
      }
      for (int64_t ja = (int64_t)aptr[r]; ja < (int64_t)aptr[r + 1]; ++ja) {
        const int64_t j = (int64_t)aind[ja];
        for (int64_t jb = (int64_t)bptr[j]; jb < (int64_t)bptr[j + 1]; ++jb) {
          const int64_t col = (int64_t)bind[jb];
          if (mk[col] != r) mk[col] = r, ++cnt;
        }
      }
      counts[r] = (IT)cnt;
    }
  }
  msp_scratch_release(0, mark);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* ascending sort of a row's columns (insertion sort for short rows, else a bottom-up merge sort) */
static void NAME(sort_cols)(IT *x, int64_t len, IT *tmp) {
  if (len <= 32) {
    for (int64_t i = 1; i < len; ++i) {
      const IT v = x[i];
      int64_t j = i - 1;
      while (j >= 0 && x[j] > v) x[j + 1] = x[j], --j;
      x[j + 1] = v;
    }
    return;
  }
  IT *a = x, *b = tmp;
  for (int64_t w = 1; w < len; w *= 2) {
    for (int64_t lo = 0; lo < len; lo += 2 * w) {
      const int64_t mid = lo + w < len ? lo + w : len, hi = lo + 2 * w < len ? lo + 2 * w : len;
      int64_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) b[o++] = a[j] < a[i] ? a[j++] : a[i++];
      while (i < mid) b[o++] = a[i++];
      while (j < hi) b[o++] = a[j++];
    }
    IT *t = a;
    a = b, b = t;
  }
  if (a != x) memcpy(x, a, (size_t)len * sizeof(IT));
}

/* C = A B into the row pointer cptr (the scan of count's output): each row's columns sorted, values
 * summed in the order of A's entries then B's. in: aptr, aind, adata, bptr, bind, bdata, cptr[m+1];
 * out: cind[nnzc], cdata[nnzc]; sizes m, k, n, nnza, nnzb, nnzc. A malformed row, or an output range
 * that disagrees with the row's count: EINDEX, nothing written for that row. */
int NAME(fill)(const msp_call *c) {
  MSP_UNPACK(fill);
  int nt = msp_threads_for(c, nnza + nnzc + m);
  const size_t nn = (size_t)(n > 0 ? n : 1);
  int64_t *mark = (int64_t *)msp_scratch(0, nn * (size_t)nt * sizeof(int64_t));
  AT *acc = (AT *)msp_scratch(1, nn * (size_t)nt * sizeof(AT));
  IT *tmp = (IT *)msp_scratch(2, nn * (size_t)nt * sizeof(IT));
  if (!mark || !acc || !tmp) {
    msp_scratch_release(0, mark), msp_scratch_release(1, acc), msp_scratch_release(2, tmp);
    return MSP_ENOMEM;
  }
  memset(mark, 0xff, nn * (size_t)nt * sizeof(int64_t));
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    const int64_t t = MSP_THREAD_ID();
    int64_t *mk = mark + t * n;
    AT *ac = acc + t * n;
    IT *tm = tmp + t * n;
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < m; ++r) {
      const int64_t p0 = (int64_t)cptr[r], pe = (int64_t)cptr[r + 1];
      if (MSP_ROW_BAD(p0, pe, nnzc) || !NAME(row_ok)(aptr, aind, bptr, bind, r, k, n, nnza, nnzb)) {
        bad = 1;
        continue;
      }
      int64_t len = 0;
      for (int64_t ja = (int64_t)aptr[r]; ja < (int64_t)aptr[r + 1]; ++ja) {
        const int64_t j = (int64_t)aind[ja];
        const AT av = LOAD(&adata[ja]);
        for (int64_t jb = (int64_t)bptr[j]; jb < (int64_t)bptr[j + 1]; ++jb) {
          const int64_t col = (int64_t)bind[jb];
          const AT prod = av * LOAD(&bdata[jb]);
          if (mk[col] != r) {
            mk[col] = r, ac[col] = prod;
            if (len < pe - p0) cind[p0 + len] = (IT)col;
            ++len;
          } else {
            ac[col] += prod;
          }
        }
      }
      if (len != pe - p0) {
        bad = 1;
        continue;
      }
      NAME(sort_cols)(cind + p0, len, tm);
      for (int64_t p = p0; p < pe; ++p) STORE(&cdata[p], ac[(int64_t)cind[p]]);
    }
  }
  msp_scratch_release(0, mark), msp_scratch_release(1, acc), msp_scratch_release(2, tmp);
  return bad ? MSP_EINDEX : MSP_OK;
}
