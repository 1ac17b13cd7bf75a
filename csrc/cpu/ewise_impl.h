/* Body of the elementwise kernels, instantiated per (VT, IT) by instantiate.h. Both operands are
 * canonical CSR (sorted rows, no duplicates); a row of the result merges the two rows: their union
 * (add, subtract) or their intersection (multiply). */

/* counts[r] = the columns of the result's row r: the union of A's and B's row r (intersect = 0) or
 * their intersection (intersect = 1). in: aptr[m+1], aind[nnza], bptr[m+1], bind[nnzb]; out:
 * counts[m]; sizes m, n, nnza, nnzb; flag intersect. Malformed rows count 0: EINDEX. */
int NAME(count)(const msp_call *c) {
  MSP_UNPACK(count);
  int nt = msp_threads_for(c, nnza + nnzb + m);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t r = 0; r < m; ++r) {
    const int64_t a0 = (int64_t)aptr[r], a1 = (int64_t)aptr[r + 1], b0 = (int64_t)bptr[r], b1 = (int64_t)bptr[r + 1];
    if (MSP_ROW_BAD(a0, a1, nnza) || MSP_ROW_BAD(b0, b1, nnzb)) {
      bad = 1;
      counts[r] = 0;
      continue;
    }
    int64_t p = a0, q = b0, k = 0, both = 0;
    while (p < a1 && q < b1) {
      const IT x = aind[p], y = bind[q];
      both += x == y;
      p += x <= y, q += y <= x, ++k;
    }
    counts[r] = (IT)(intersect ? both : k + (a1 - p) + (b1 - q));
  }
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Every row of the result, in parallel: checks the row's ranges in A, B and the output (a malformed
 * one sets bad), then merges the rows, calling EMIT(a position or -1, b position or -1) for each
 * output entry o in column order (union: every column of either row; intersection: the columns of
 * both). An output range that disagrees with the merge sets bad; nothing is written past it. */
#define MSP_EWISE_ROWS(EMIT)                                                                                         \
  _Pragma("omp parallel for num_threads(nt) schedule(static) reduction(| : bad)") for (int64_t r = 0; r < m; ++r) { \
    const int64_t a0 = (int64_t)aptr[r], a1 = (int64_t)aptr[r + 1], b0 = (int64_t)bptr[r], b1 = (int64_t)bptr[r + 1]; \
    int64_t o = (int64_t)optr[r];                                                                                    \
    const int64_t oe = (int64_t)optr[r + 1];                                                                         \
    if (MSP_ROW_BAD(a0, a1, nnza) || MSP_ROW_BAD(b0, b1, nnzb) || MSP_ROW_BAD(o, oe, nnz2)) {                        \
      bad = 1;                                                                                                       \
      continue;                                                                                                      \
    }                                                                                                                \
    int64_t p = a0, q = b0;                                                                                          \
    while (p < a1 || q < b1) {                                                                                       \
      const int takea = p < a1 && (q >= b1 || aind[p] <= bind[q]);                                                   \
      const int takeb = q < b1 && (p >= a1 || bind[q] <= aind[p]);                                                   \
      if (!intersect || (takea && takeb)) {                                                                          \
        if (o == oe) {                                                                                               \
          bad = 1;                                                                                                   \
          break;                                                                                                     \
        }                                                                                                            \
        EMIT(takea ? p : -1, takeb ? q : -1);                                                                        \
        ++o;                                                                                                         \
      }                                                                                                              \
      p += takea, q += takeb;                                                                                        \
    }                                                                                                                \
    bad |= o != oe;                                                                                                  \
  }

/* The result into optr: out_indices sorted; union: out_data = A + (negate ? -B : B), or the larger
 * (maximum) or smaller (minimum) of the two, a missing side counting 0; intersection: out_data =
 * A * B. in: aptr, aind, adata, bptr, bind, bdata, optr[m+1]; out: out_indices[nnz2],
 * out_data[nnz2]; sizes m, n, nnza, nnzb, nnz2; flags intersect, negate, maximum, minimum. An
 * output range that disagrees with the merge, or a malformed row: EINDEX, nothing written past the row. */
int NAME(fill)(const msp_call *c) {
  MSP_UNPACK(fill);
  int nt = msp_threads_for(c, nnza + nnzb + m);
  int bad = 0;
#define EMIT(x, y)                                                                             \
  do {                                                                                         \
    AT v;                                                                                      \
    if (intersect) {                                                                           \
      v = LOAD(&adata[x]) * LOAD(&bdata[y]);                                                   \
    } else if (maximum || minimum) { /* a missing side is 0; NaN wins, as NumPy */            \
      const AT u = (x) >= 0 ? LOAD(&adata[x]) : AZERO, w = (y) >= 0 ? LOAD(&bdata[y]) : AZERO; \
      const int first = REAL(u) != REAL(u) || (maximum ? REAL(u) >= REAL(w) : REAL(u) <= REAL(w)); \
      v = first ? u : w;                                                                       \
    } else {                                                                                   \
      v = (x) >= 0 ? LOAD(&adata[x]) : AZERO;                                                  \
      if ((y) >= 0) v = negate ? v - LOAD(&bdata[y]) : v + LOAD(&bdata[y]);                    \
    }                                                                                          \
    out_indices[o] = (x) >= 0 ? aind[x] : bind[y];                                             \
    STORE(&out_data[o], v);                                                                    \
  } while (0)
  MSP_EWISE_ROWS(EMIT)
#undef EMIT
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Each result entry's sources, for the derivative rules: sa[o], sb[o] = its positions in A and B, -1
 * where absent. in: aptr, aind, bptr, bind, optr; out: sa[nnz2], sb[nnz2]; sizes and flag as fill. */
int NAME(sources)(const msp_call *c) {
  MSP_UNPACK(sources);
  int nt = msp_threads_for(c, nnza + nnzb + m);
  int bad = 0;
#define EMIT(x, y) (sa[o] = (IT)(x), sb[o] = (IT)(y))
  MSP_EWISE_ROWS(EMIT)
#undef EMIT
  return bad ? MSP_EINDEX : MSP_OK;
}
#undef MSP_EWISE_ROWS
