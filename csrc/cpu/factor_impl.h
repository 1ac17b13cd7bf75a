/* Body of the factorization kernels (triangular solves, ILU(0), IC(0)), instantiated per (VT, IT) by
 * instantiate.h. Sequential: each row depends on the rows before it (the GPU's level-scheduled
 * versions are still to come). */

/* x = T^-1 b, T the lower (lower = 1) or upper triangle of a CSR matrix with its diagonal: only the
 * entries of that triangle and of the diagonal are read (duplicates summed; unit = 1: the diagonal is
 * 1 and stored diagonal entries are ignored). b and x are n x k, row-major. in: indptr[n+1],
 * indices[nnz], data[nnz], b[n*k]; out: x[n*k]; sizes n, nnz, k; flags lower, unit. A zero diagonal:
 * ESINGULAR (that row gets the division's inf/NaN); a malformed row or index: EINDEX (the row is 0). */
int NAME(trisolve)(const msp_call *c) {
  MSP_UNPACK(trisolve);
  AT *acc = (AT *)msp_scratch(0, (size_t)(k > 0 ? k : 1) * sizeof(AT));
  if (!acc) return MSP_ENOMEM;
  int bad = 0, sing = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t i = lower ? t : n - 1 - t, s = (int64_t)indptr[i], e = (int64_t)indptr[i + 1];
    for (int64_t q = 0; q < k; ++q) acc[q] = LOAD(&b[i * k + q]);
    AT d = unit ? (AT)1 : AZERO;
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      for (int64_t q = 0; q < k; ++q) STORE(&x[i * k + q], AZERO);
      continue;
    }
    for (int64_t p = s; p < e; ++p) {
      const int64_t j = (int64_t)indices[p];
      if (j < 0 || j >= n) {
        bad = 1;
        continue;
      }
      if (j == i) {
        if (!unit) d += LOAD(&data[p]);
      } else if (lower ? j < i : j > i) {
        const AT v = LOAD(&data[p]);
        for (int64_t q = 0; q < k; ++q) acc[q] -= v * LOAD(&x[j * k + q]);
      }
    }
    if (d == AZERO) sing = 1;
    for (int64_t q = 0; q < k; ++q) STORE(&x[i * k + q], acc[q] / d);
  }
  msp_scratch_release(0, acc);
  return bad ? MSP_EINDEX : sing ? MSP_ESINGULAR : MSP_OK;
}

/* ILU(0): the incomplete LU factors of a canonical CSR matrix (sorted rows, no duplicates) on its own
 * pattern, in one array: below the diagonal L (unit diagonal, not stored), from the diagonal on U.
 * Row by row (IKJ): each entry left of the diagonal is divided by its column's pivot, then the pivot
 * row's U part updates the entries of the row that exist. in: indptr[n+1], indices[nnz], data[nnz];
 * out: lu[nnz]; sizes n, nnz. A missing or zero pivot: ESINGULAR; a malformed row or index: EINDEX. */
int NAME(ilu0)(const msp_call *c) {
  MSP_UNPACK(ilu0);
  int64_t *pos = (int64_t *)msp_scratch(0, (size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  int64_t *dg = (int64_t *)msp_scratch(1, (size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  if (!pos || !dg) {
    msp_scratch_release(0, pos), msp_scratch_release(1, dg);
    return MSP_ENOMEM;
  }
  for (int64_t p = 0; p < nnz; ++p) lu[p] = data[p];
  for (int64_t i = 0; i < n; ++i) pos[i] = -1, dg[i] = -1;
  int bad = 0, sing = 0;
  for (int64_t i = 0; i < n && !bad; ++i) {
    const int64_t s = (int64_t)indptr[i], e = (int64_t)indptr[i + 1];
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      break;
    }
    for (int64_t p = s; p < e; ++p) {
      const int64_t j = (int64_t)indices[p];
      if (j < 0 || j >= n || (p > s && j <= (int64_t)indices[p - 1])) { /* out of range, unsorted or duplicate */
        bad = 1;
        break;
      }
      pos[j] = p;
      if (j == i) dg[i] = p;
    }
    if (bad) break;
    for (int64_t p = s; p < e && (int64_t)indices[p] < i; ++p) {
      const int64_t j = (int64_t)indices[p];
      const AT piv = dg[j] >= 0 ? LOAD(&lu[dg[j]]) : AZERO;
      if (piv == AZERO) {
        sing = 1;
        continue;
      }
      const AT l = LOAD(&lu[p]) / piv;
      STORE(&lu[p], l);
      for (int64_t q = dg[j] + 1; q < (int64_t)indptr[j + 1]; ++q) { /* the pivot row's U part */
        const int64_t col = (int64_t)indices[q], at = pos[col];
        if (at >= 0) STORE(&lu[at], LOAD(&lu[at]) - l * LOAD(&lu[q]));
      }
    }
    if (dg[i] < 0 || LOAD(&lu[dg[i]]) == AZERO) sing = 1;
    for (int64_t p = s; p < e; ++p) pos[(int64_t)indices[p]] = -1;
  }
  msp_scratch_release(0, pos), msp_scratch_release(1, dg);
  return bad ? MSP_EINDEX : sing ? MSP_ESINGULAR : MSP_OK;
}

/* IC(0): the incomplete Cholesky factor L (A ~ L L^H) of a Hermitian matrix given by its lower
 * triangle as canonical CSR (sorted rows ending at the diagonal, no duplicates), on that pattern:
 * L_ik = (A_ik - sum_{j<k} L_ij conj(L_kj)) / L_kk, L_ii = sqrt(A_ii - sum_{j<i} |L_ij|^2) (the real
 * part). in: indptr[n+1], indices[nnz], data[nnz]; out: l[nnz]; sizes n, nnz. A missing diagonal or a
 * pivot <= 0 (not positive definite): ESINGULAR; an entry above the diagonal, a malformed row or
 * index: EINDEX. */
int NAME(ic0)(const msp_call *c) {
  MSP_UNPACK(ic0);
  AT *w = (AT *)msp_scratch(0, (size_t)(n > 0 ? n : 1) * sizeof(AT));
  int64_t *dg = (int64_t *)msp_scratch(1, (size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  if (!w || !dg) {
    msp_scratch_release(0, w), msp_scratch_release(1, dg);
    return MSP_ENOMEM;
  }
  for (int64_t i = 0; i < n; ++i) w[i] = AZERO, dg[i] = -1;
  int bad = 0, sing = 0;
  for (int64_t i = 0; i < n && !bad; ++i) {
    const int64_t s = (int64_t)indptr[i], e = (int64_t)indptr[i + 1];
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      break;
    }
    for (int64_t p = s; p < e; ++p) {
      const int64_t kk = (int64_t)indices[p];
      if (kk < 0 || kk > i || (p > s && kk <= (int64_t)indices[p - 1])) {
        bad = 1;
        break;
      }
      AT v = LOAD(&data[p]);
      if (kk < i) {
        if (dg[kk] < 0) { /* the pivot row had no diagonal */
          sing = 1;
          v = AZERO;
        } else {
          for (int64_t q = (int64_t)indptr[kk]; q < dg[kk]; ++q) v -= w[(int64_t)indices[q]] * CONJ(LOAD(&l[q]));
          v = v / LOAD(&l[dg[kk]]);
        }
        w[kk] = v;
        STORE(&l[p], v);
      } else {
        double d = (double)REAL(v);
        for (int64_t q = s; q < p; ++q) {
          const double a = (double)ABS(w[(int64_t)indices[q]]);
          d -= a * a;
        }
        if (!(d > 0)) sing = 1;
        dg[i] = p;
        STORE(&l[p], (AT)(d > 0 ? sqrt(d) : 0.0));
      }
    }
    if (dg[i] < 0) sing = 1;
    for (int64_t p = s; p < e; ++p) w[(int64_t)indices[p] < n && (int64_t)indices[p] >= 0 ? (int64_t)indices[p] : 0] = AZERO;
  }
  msp_scratch_release(0, w), msp_scratch_release(1, dg);
  return bad ? MSP_EINDEX : sing ? MSP_ESINGULAR : MSP_OK;
}
