/* Body of the algebraic multigrid setup kernels, instantiated per (VT, IT) by instantiate.h. */

/* Standard aggregation of a strength graph (CSR pattern, the diagonal ignored), in three sequential
 * passes: (1) a node whose strong neighbours are all free founds an aggregate with them; (2) a free
 * node joins the aggregate of a strong neighbour aggregated in pass 1; (3) each node still free
 * founds an aggregate with its free strong neighbours. Isolated nodes (no strong neighbour) get -1.
 * in: indptr[n+1], indices[nnz]; out: agg[n] (aggregate ids 0..count-1, or -1), count[1]; sizes n,
 * nnz. A malformed row or index: EINDEX. */
int NAME(aggregate)(const msp_call *c) {
  MSP_UNPACK(aggregate);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = (int64_t)indptr[i], e = (int64_t)indptr[i + 1];
    if (MSP_ROW_BAD(s, e, nnz)) return MSP_EINDEX;
    for (int64_t p = s; p < e; ++p)
      if ((int64_t)indices[p] < 0 || (int64_t)indices[p] >= n) return MSP_EINDEX;
    agg[i] = (IT)-2; /* free */
  }
  int64_t next = 0;
  for (int64_t i = 0; i < n; ++i) { /* pass 1 */
    if ((int64_t)agg[i] != -2) continue; /* already in an aggregate (an asymmetric graph) */
    const int64_t s = (int64_t)indptr[i], e = (int64_t)indptr[i + 1];
    int has = 0, free_all = 1;
    for (int64_t p = s; p < e; ++p) {
      const int64_t j = (int64_t)indices[p];
      if (j == i) continue;
      has = 1;
      if ((int64_t)agg[j] != -2) free_all = 0;
    }
    if (!has) {
      agg[i] = (IT)-1;
      continue;
    }
    if (!free_all) continue;
    agg[i] = (IT)next;
    for (int64_t p = s; p < e; ++p) agg[(int64_t)indices[p]] = (IT)next;
    ++next;
  }
  const int64_t first_pass = next;
  for (int64_t i = 0; i < n; ++i) { /* pass 2 */
    if ((int64_t)agg[i] != -2) continue;
    for (int64_t p = (int64_t)indptr[i]; p < (int64_t)indptr[i + 1]; ++p) {
      const int64_t a = (int64_t)agg[(int64_t)indices[p]];
      if (a >= 0 && a < first_pass) {
        agg[i] = (IT)(-3 - a); /* joined (marked so that later nodes do not join through it) */
        break;
      }
    }
  }
  for (int64_t i = 0; i < n; ++i)
    if ((int64_t)agg[i] <= -3) agg[i] = (IT)(-3 - (int64_t)agg[i]);
  for (int64_t i = 0; i < n; ++i) { /* pass 3 */
    if ((int64_t)agg[i] != -2) continue;
    agg[i] = (IT)next;
    for (int64_t p = (int64_t)indptr[i]; p < (int64_t)indptr[i + 1]; ++p)
      if ((int64_t)agg[(int64_t)indices[p]] == -2) agg[(int64_t)indices[p]] = (IT)next;
    ++next;
  }
  count[0] = (IT)next;
  return MSP_OK;
}
