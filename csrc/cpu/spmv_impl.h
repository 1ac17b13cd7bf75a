/* Body of the CSR SpMV kernels, instantiated per (VT, IT) by instantiate.h. */

/* acc += A[r, j] x[j] over the entries [s, e) of row r, the column of entry j being COL(j). */
#define MSP_SPMV_ROW(COL)                           \
  for (int64_t j = s; j < e; ++j) {                 \
    int64_t col = (COL);                            \
    if ((uint64_t)col >= (uint64_t)n) {             \
      bad = 1;                                      \
      continue;                                     \
    }                                               \
    acc += LOAD(&data[j]) * LOAD(&x[col]);          \
  }

/* y[r] = sum_j A[r, j] x[j] for rows [r0, r1), the column of entry j being COL (of cols[j]), each
 * column source with its own function, so each loop compiles without a branch on the source (a
 * runtime choice inside one function measured 12 -> 17 ms on the 2-D Laplacian's 16-bit offsets);
 * returns MSP_EINDEX on malformed structure. */
#define MSP_SPMV_ROWS_FN(fn, CT, COL)                                                                    \
  static int NAME(fn)(const IT *restrict indptr, const void *restrict cols_, const VT *restrict data,    \
                      const VT *restrict x, VT *restrict y, int64_t r0, int64_t r1, int64_t n, int64_t nnz) { \
    const CT *restrict cols = (const CT *)cols_;                                                         \
    int bad = 0;                                                                                         \
    for (int64_t r = r0; r < r1; ++r) {                                                                  \
      int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];                                        \
      AT acc = AZERO;                                                                                    \
      if (MSP_ROW_BAD(s, e, nnz)) {                                                                      \
        bad = 1;                                                                                         \
        e = s = 0;                                                                                       \
      }                                                                                                  \
      MSP_SPMV_ROW(COL)                                                                                  \
      STORE(&y[r], acc);                                                                                 \
    }                                                                                                    \
    return bad ? MSP_EINDEX : MSP_OK;                                                                    \
  }
MSP_SPMV_ROWS_FN(rows_idx, IT, (int64_t)cols[j])         /* columns from the indices */
MSP_SPMV_ROWS_FN(rows_d16, int16_t, r + (int64_t)cols[j]) /* from 16-bit offsets: 2 bytes per entry */
#undef MSP_SPMV_ROWS_FN

/* y = A x for all rows with `rows` over the column source `cols`: one thread below the size
 * threshold, else rows split by nonzeros + rows. */
static int NAME(run)(const msp_call *c, int (*rows)(const IT *, const void *, const VT *, const VT *, VT *, int64_t,
                                                    int64_t, int64_t, int64_t),
                     const IT *restrict indptr, const void *cols, const VT *restrict data, const VT *restrict x,
                     VT *restrict y, int64_t m, int64_t n, int64_t nnz) {
  if (m == 0) return MSP_OK;
  if ((int64_t)indptr[0] != 0) return MSP_EINDEX; /* entries before it would be skipped silently */
  int nt = msp_threads_for(c, nnz + m);
  if (nt == 1) return rows(indptr, cols, data, x, y, 0, m, n, nnz);
  int64_t b[MSP_MAX_PARTS + 1];
  if (nt > MSP_MAX_PARTS) nt = MSP_MAX_PARTS;
  MSP_PARTITION(INAME)(indptr, m, nnz, nt, b);
  int status = MSP_OK;
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : status)
  for (int t = 0; t < nt; ++t)
    if (b[t + 1] > b[t]) status |= rows(indptr, cols, data, x, y, b[t], b[t + 1], n, nnz);
  return status ? MSP_EINDEX : MSP_OK;
}

/* y = A x. in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; sizes m, n, nnz. */
int NAME(csr)(const msp_call *c) {
  MSP_UNPACK(csr);
  return NAME(run)(c, NAME(rows_idx), indptr, indices, data, x, y, m, n, nnz);
}

/* y = A x from 16-bit column offsets: as csr, plus deltas[nnz] (int16, column - row), read in place
 * of the indices. */
int NAME(csr_d16)(const msp_call *c) {
  MSP_UNPACK(csr_d16);
  return NAME(run)(c, NAME(rows_d16), indptr, deltas, data, x, y, m, n, nnz);
}

/* The fused conjugate-gradient iteration (Chronopoulos-Gear: one reduction phase per iteration),
 * two kernels; ms.linalg.cg runs them for an unpreconditioned sparse system (see _krylov.py).
 * Both split the n rows into nb chunks of ceil(n / nb) rows, as the GPU kernels' blocks do; part
 * holds one pair of sums per chunk (the table's A type, the value type on the CPU). */

/* w = A u and, per chunk b, part[2b] = sum |u_i|^2, part[2b+1] = sum conj(u_i) w_i. in: indptr[n+1],
 * indices[nnz], data[nnz], u[n]; out: w[n], part[2 nb]; sizes n, nnz, nb. */
int NAME(cg_matvec)(const msp_call *c) {
  MSP_UNPACK(cg_matvec);
  if (n > 0 && (int64_t)indptr[0] != 0) return MSP_EINDEX;
  const int64_t R = nb > 0 ? (n + nb - 1) / nb : 0;
  int nt = msp_threads_for(c, nnz + n);
  int status = MSP_OK;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(| : status)
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t r0 = b * R < n ? b * R : n, r1 = (b + 1) * R < n ? (b + 1) * R : n;
    WIDE uu = 0, uw = 0; /* in double: a chunk's sum runs over thousands of rows */
    const VT *restrict x = u; /* the name MSP_SPMV_ROW reads */
    int bad = 0;
    for (int64_t r = r0; r < r1; ++r) { /* the product and both sums in one pass over the rows */
      int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
      AT acc = AZERO;
      if (MSP_ROW_BAD(s, e, nnz)) {
        bad = 1;
        e = s = 0;
      }
      MSP_SPMV_ROW((int64_t)indices[j])
      STORE(&w[r], acc);
      const AT ur = LOAD(&u[r]);
      uu += CDOT(ur, ur);
      uw += CDOT(ur, acc);
    }
    status |= bad;
    STORE(&part[2 * b], (AT)uu);
    STORE(&part[2 * b + 1], (AT)uw);
  }
  return status ? MSP_EINDEX : MSP_OK;
}

/* The iteration's scalars and vector updates: gamma = sum of part's even entries, delta = sum of
 * its odd ones (chunk order); beta = 0 and alpha = gamma / delta when first, else beta = gamma /
 * prev[0] and alpha = gamma / (delta - beta gamma / prev[1]); then p2 = u + beta p, s2 = w + beta s,
 * x2 = x + alpha p2, r2 = u - alpha s2, scal = (gamma, alpha). in: part[2 nb], prev[2], u[n] (the
 * residual), w[n] (= A u), x[n], p[n], s[n]; out: x2, r2, p2, s2 [n], scal[2]; sizes n, nb; flag
 * first. A zero denominator gives inf/NaN, as the textbook iteration would. */
int NAME(cg_update)(const msp_call *c) {
  MSP_UNPACK(cg_update);
  AT gamma = AZERO, delta = AZERO;
  for (int64_t b = 0; b < nb; ++b) gamma += LOAD(&part[2 * b]), delta += LOAD(&part[2 * b + 1]);
  AT alpha, beta;
  if (first) {
    beta = AZERO;
    alpha = gamma / delta;
  } else {
    beta = gamma / LOAD(&prev[0]);
    alpha = gamma / (delta - beta * gamma / LOAD(&prev[1]));
  }
  int nt = msp_threads_for(c, 4 * n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const AT pi = LOAD(&u[i]) + beta * LOAD(&p[i]), si = LOAD(&w[i]) + beta * LOAD(&s[i]);
    STORE(&p2[i], pi);
    STORE(&s2[i], si);
    STORE(&x2[i], LOAD(&x[i]) + alpha * pi);
    STORE(&r2[i], LOAD(&u[i]) - alpha * si);
  }
  STORE(&scal[0], gamma);
  STORE(&scal[1], alpha);
  return MSP_OK;
}
#undef MSP_SPMV_ROW
