/* Body of the constructor kernels, instantiated per (VT, IT) by instantiate.h. */

/* kron(A, B) as CSR: output row i * mb + k holds, for each entry (j, a) of A's row i and each entry (l, b)
 * of B's row k in storage order, column j * nb + l and value a * b (sorted rows in, sorted rows out; no
 * duplicates in, none out). The caller computes optr from the row lengths (lenA[i] * lenB[k], scanned).
 * in: aptr[ma+1], aind[nnza], adata[nnza], bptr[mb+1], bind[nnzb], bdata[nnzb], optr[ma*mb+1]; out:
 * oind[nnz2], odata[nnz2]; sizes ma, nb, nnza, mb, nnzb, nnz2. A malformed row, or an output range that
 * disagrees with the row lengths, a column of B outside [0, nb), a column of A that is negative or whose
 * output column overflows the index type: EINDEX, nothing written for that row. */
int NAME(kron)(const msp_call *c) {
  MSP_UNPACK(kron);
  const int64_t rows = ma * mb;
  int nt = msp_threads_for(c, nnz2 + rows);
  int bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : bad)
  for (int64_t R = 0; R < rows; ++R) {
    const int64_t i = R / mb, k = R - i * mb;
    const int64_t as = (int64_t)aptr[i], ae = (int64_t)aptr[i + 1], bs = (int64_t)bptr[k], be = (int64_t)bptr[k + 1];
    int64_t p = (int64_t)optr[R];
    const int64_t pe = (int64_t)optr[R + 1];
    if (MSP_ROW_BAD(as, ae, nnza) || MSP_ROW_BAD(bs, be, nnzb) || MSP_ROW_BAD(p, pe, nnz2) ||
        (ae - as) * (be - bs) != pe - p) {
      bad = 1;
      continue;
    }
    /* columns: A's must keep j * nb + l within the index type, B's must lie in [0, nb) */
    const int64_t cmax = sizeof(IT) == 4 ? (int64_t)INT32_MAX : INT64_MAX;
    int rb = 0;
    for (int64_t ja = as; ja < ae && !rb; ++ja) {
      const int64_t a = (int64_t)aind[ja];
      rb = a < 0 || (nb > 0 && a > (cmax - (nb - 1)) / nb);
    }
    for (int64_t jb = bs; jb < be && !rb; ++jb) rb = (uint64_t)(int64_t)bind[jb] >= (uint64_t)nb;
    if (rb) {
      bad = 1;
      continue;
    }
    for (int64_t ja = as; ja < ae; ++ja) {
      const int64_t base = (int64_t)aind[ja] * nb;
      const AT av = LOAD(&adata[ja]);
      for (int64_t jb = bs; jb < be; ++jb, ++p) {
        oind[p] = (IT)(base + (int64_t)bind[jb]);
        STORE(&odata[p], av * LOAD(&bdata[jb]));
      }
    }
  }
  return bad ? MSP_EINDEX : MSP_OK;
}
