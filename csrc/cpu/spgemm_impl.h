/* Body of the sparse-sparse product kernels (Gustavson, row by row), instantiated per (VT, IT).
 * Each thread keeps a dense marker over the output columns (the row that last touched a column)
 * and, for the fill, a dense accumulator; rows go to threads dynamically, in chunks, so rows of very
 * different flop counts balance. Duplicates and unsorted indices in A or B are fine (products are
 * accumulated); explicit zeros and cancellations stay as stored entries (the structure is the
 * symbolic product's, fixed before the values are known). */

/* B is well formed: every row range inside bind, every column inside [0, n). Checked once per call
 * (a pass over B), so the products below only check A's rows and their column indices. */
static int NAME(b_ok)(const IT *bptr, const IT *bind, int64_t k, int64_t n, int64_t nnzb, int nt) {
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t j = 0; j < k; ++j) {
    const int64_t bs = (int64_t)bptr[j], be = (int64_t)bptr[j + 1];
    if (MSP_ROW_BAD(bs, be, nnzb)) {
      bad = 1;
      continue;
    }
    for (int64_t jb = bs; jb < be; ++jb)
      if ((uint64_t)(int64_t)bind[jb] >= (uint64_t)n) bad = 1;
  }
  return !bad;
}

/* A's row r is well formed (its range inside aind, its columns inside [0, k)). */
static MSP_ALWAYS_INLINE int NAME(row_ok)(const IT *aptr, const IT *aind, int64_t r, int64_t k, int64_t nnza) {
  const int64_t s = (int64_t)aptr[r], e = (int64_t)aptr[r + 1];
  if (MSP_ROW_BAD(s, e, nnza)) return 0;
  for (int64_t ja = s; ja < e; ++ja)
    if ((uint64_t)(int64_t)aind[ja] >= (uint64_t)k) return 0;
  return 1;
}

/* counts[r] = the distinct columns of row r of A B. in: aptr[m+1], aind[nnza], bptr[k+1], bind[nnzb];
 * out: counts[m]; sizes m, k, n, nnza, nnzb. A malformed row counts 0 and gives EINDEX. */
int NAME(count)(const msp_call *c) {
  MSP_UNPACK(count);
  int nt = msp_threads_for(c, nnza + m);
  if (!NAME(b_ok)(bptr, bind, k, n, nnzb, nt)) return MSP_EINDEX;
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
      if (!NAME(row_ok)(aptr, aind, r, k, nnza)) {
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
  if (!NAME(b_ok)(bptr, bind, k, n, nnzb, nt)) return MSP_EINDEX;
  const size_t nn = (size_t)(n > 0 ? n : 1), nw = (size_t)(n / 64 + 1);
  int64_t *mark = (int64_t *)msp_scratch(0, nn * (size_t)nt * sizeof(int64_t));
  AT *acc = (AT *)msp_scratch(1, nn * (size_t)nt * sizeof(AT));
  IT *tmp = (IT *)msp_scratch(2, nn * (size_t)nt * sizeof(IT));
  uint64_t *bits = (uint64_t *)msp_scratch(3, nw * (size_t)nt * sizeof(uint64_t));
  if (!mark || !acc || !tmp || !bits) {
    msp_scratch_release(0, mark), msp_scratch_release(1, acc), msp_scratch_release(2, tmp), msp_scratch_release(3, bits);
    return MSP_ENOMEM;
  }
  memset(mark, 0xff, nn * (size_t)nt * sizeof(int64_t));
  memset(bits, 0, nw * (size_t)nt * sizeof(uint64_t));
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    const int64_t t = MSP_THREAD_ID();
    int64_t *mk = mark + t * n;
    AT *ac = acc + t * n;
    IT *tm = tmp + t * n;
    uint64_t *bm = bits + t * (int64_t)nw;
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < m; ++r) {
      const int64_t p0 = (int64_t)cptr[r], pe = (int64_t)cptr[r + 1];
      if (MSP_ROW_BAD(p0, pe, nnzc) || !NAME(row_ok)(aptr, aind, r, k, nnza)) {
        bad = 1;
        continue;
      }
      int64_t len = 0, cmin = n, cmax = -1;
      for (int64_t ja = (int64_t)aptr[r]; ja < (int64_t)aptr[r + 1]; ++ja) {
        const int64_t j = (int64_t)aind[ja];
        const AT av = LOAD(&adata[ja]);
        for (int64_t jb = (int64_t)bptr[j]; jb < (int64_t)bptr[j + 1]; ++jb) {
          const int64_t col = (int64_t)bind[jb];
          const AT prod = av * LOAD(&bdata[jb]);
          if (mk[col] != r) {
            mk[col] = r, ac[col] = prod;
            bm[col >> 6] |= (uint64_t)1 << (col & 63);
            if (col < cmin) cmin = col;
            if (col > cmax) cmax = col;
            if (len < pe - p0) cind[p0 + len] = (IT)col;
            ++len;
          } else {
            ac[col] += prod;
          }
        }
      }
      if (len != pe - p0) {
        bad = 1;
        for (int64_t w = len ? cmin >> 6 : 1, we = len ? cmax >> 6 : 0; w <= we; ++w) bm[w] = 0;
        continue;
      }
      if (len == 0) continue;
      /* the columns in order: read off the bitmap when its span is short against a sort, else sort */
      const int64_t w0 = cmin >> 6, w1 = cmax >> 6;
      int64_t lg = 1;
      while (((int64_t)1 << lg) < len) ++lg;
      if (w1 - w0 + 1 <= 2 * len * lg) {
        int64_t p = p0;
        for (int64_t w = w0; w <= w1; ++w) {
          uint64_t b = bm[w];
          bm[w] = 0;
          while (b) {
            const int64_t col = w * 64 + __builtin_ctzll(b);
            b &= b - 1;
            cind[p] = (IT)col;
            STORE(&cdata[p], ac[col]);
            ++p;
          }
        }
      } else {
        for (int64_t p = p0; p < pe; ++p) bm[(int64_t)cind[p] >> 6] = 0;
        NAME(sort_cols)(cind + p0, len, tm);
        for (int64_t p = p0; p < pe; ++p) STORE(&cdata[p], ac[(int64_t)cind[p]]);
      }
    }
  }
  msp_scratch_release(0, mark), msp_scratch_release(1, acc), msp_scratch_release(2, tmp), msp_scratch_release(3, bits);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* The numeric pass with the structure known (a kept plan): C's values into the sorted columns cind
 * of the row pointer cptr, by a dense accumulator per thread (zeroed once, reset after each row),
 * no marker, bitmap or sort. in: aptr, aind, adata, bptr, bind, bdata, cptr[m+1],
 * cind[nnzc]; out: cdata[nnzc]; sizes m, k, n, nnza, nnzb, nnzc. A malformed row or column: EINDEX. */
int NAME(refill)(const msp_call *c) {
  MSP_UNPACK(refill);
  int nt = msp_threads_for(c, nnza + nnzc + m);
  if (!NAME(b_ok)(bptr, bind, k, n, nnzb, nt)) return MSP_EINDEX;
  const size_t nn = (size_t)(n > 0 ? n : 1);
  AT *acc = (AT *)msp_scratch(0, nn * (size_t)nt * sizeof(AT));
  if (!acc) return MSP_ENOMEM;
  for (size_t q = 0; q < nn * (size_t)nt; ++q) acc[q] = AZERO;
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    AT *ac = acc + MSP_THREAD_ID() * n;
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < m; ++r) {
      const int64_t p0 = (int64_t)cptr[r], pe = (int64_t)cptr[r + 1];
      if (MSP_ROW_BAD(p0, pe, nnzc) || !NAME(row_ok)(aptr, aind, r, k, nnza)) {
        bad = 1;
        continue;
      }
      int cols_ok = 1;
      for (int64_t p = p0; p < pe; ++p) cols_ok &= (int64_t)cind[p] >= 0 && (int64_t)cind[p] < n;
      if (!cols_ok) {
        bad = 1;
        continue;
      }
      for (int64_t ja = (int64_t)aptr[r]; ja < (int64_t)aptr[r + 1]; ++ja) {
        const int64_t j = (int64_t)aind[ja];
        const AT av = LOAD(&adata[ja]);
        for (int64_t jb = (int64_t)bptr[j]; jb < (int64_t)bptr[j + 1]; ++jb) ac[(int64_t)bind[jb]] += av * LOAD(&bdata[jb]);
      }
      for (int64_t p = p0; p < pe; ++p) STORE(&cdata[p], ac[(int64_t)cind[p]]);
      /* reset every column the products touched (a structure that is not the plan's cannot leak into
       * later rows) */
      for (int64_t ja = (int64_t)aptr[r]; ja < (int64_t)aptr[r + 1]; ++ja) {
        const int64_t j = (int64_t)aind[ja];
        for (int64_t jb = (int64_t)bptr[j]; jb < (int64_t)bptr[j + 1]; ++jb) ac[(int64_t)bind[jb]] = AZERO;
      }
    }
  }
  msp_scratch_release(0, acc);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* The sampled product of the derivative rules: for each stored entry e = (i, j) of S,
 * out[e] = sum over columns c of G[i, c] * H[j, c], with G's rows and H's rows sorted by column
 * (duplicates allowed: they are summed). A merge of the two rows per entry.
 * in: sptr[m+1], sind[nnzs], gptr[m+1], gind[nnzg], gdata[nnzg], hptr[k+1], hind[nnzh], hdata[nnzh];
 * out: out[nnzs]; sizes m, k, n, nnzs, nnzg, nnzh. A malformed row or index: EINDEX (its entries 0). */
int NAME(sampled)(const msp_call *c) {
  MSP_UNPACK(sampled);
  int nt = msp_threads_for(c, nnzs * 8 + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 64) reduction(| : bad)
  for (int64_t i = 0; i < m; ++i) {
    const int64_t s0 = (int64_t)sptr[i], s1 = (int64_t)sptr[i + 1], g0 = (int64_t)gptr[i], g1 = (int64_t)gptr[i + 1];
    if (MSP_ROW_BAD(s0, s1, nnzs)) {
      bad = 1;
      continue;
    }
    const int grow_bad = MSP_ROW_BAD(g0, g1, nnzg);
    for (int64_t e = s0; e < s1; ++e) {
      AT acc = AZERO;
      const int64_t j = (int64_t)sind[e];
      if (grow_bad || j < 0 || j >= k) {
        bad = 1;
        STORE(&out[e], acc);
        continue;
      }
      const int64_t h0 = (int64_t)hptr[j], h1 = (int64_t)hptr[j + 1];
      if (MSP_ROW_BAD(h0, h1, nnzh)) {
        bad = 1;
        STORE(&out[e], acc);
        continue;
      }
      int64_t p = g0, q = h0;
      while (p < g1 && q < h1) {
        const int64_t a = (int64_t)gind[p], b = (int64_t)hind[q];
        if (a < b) {
          ++p;
        } else if (a > b) {
          ++q;
        } else { /* column a: every G entry there times every H entry there (duplicates included) */
          AT gs = AZERO, hs = AZERO;
          for (; p < g1 && (int64_t)gind[p] == a; ++p) gs += LOAD(&gdata[p]);
          for (; q < h1 && (int64_t)hind[q] == a; ++q) hs += LOAD(&hdata[q]);
          acc += gs * hs;
        }
      }
      STORE(&out[e], acc);
    }
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* flops[i] = the products of row i of A B: the sum over A's row i of the lengths of the B rows it
 * hits (the GPU's expansion sizes its output with it). in: aptr[m+1], aind[nnza], bptr[k+1]; out:
 * flops[m]; sizes m, k, nnza. A malformed row or a column of A outside [0, k): 0 and EINDEX. */
int NAME(rowflops)(const msp_call *c) {
  MSP_UNPACK(rowflops);
  int nt = msp_threads_for(c, nnza + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < m; ++i) {
    int64_t f = 0;
    if (!NAME(row_ok)(aptr, aind, i, k, nnza)) {
      bad = 1;
    } else {
      for (int64_t ja = (int64_t)aptr[i]; ja < (int64_t)aptr[i + 1]; ++ja) {
        const int64_t j = (int64_t)aind[ja], len = (int64_t)bptr[j + 1] - (int64_t)bptr[j];
        if (len < 0) bad = 1;
        else f += len;
      }
    }
    flops[i] = (IT)f;
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
