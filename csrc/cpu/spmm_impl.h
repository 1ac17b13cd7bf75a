/* Body of the SpMM kernels, instantiated per (VT, IT) by instantiate.h. */

/* One block of W columns of Y[r, :] within the chunk [kc, kend): the row's nonzeros walked once
 * with the W sums in (vector) registers. X(c, q) is x[c * xr + q * xq], Y(r, q) is y[r * yr + q * yq]. */
#define MSP_SPMM_BLOCK(W)                                                        \
  for (; kb + (W) <= kend; kb += (W)) {                                          \
    AT acc[W];                                                                   \
    for (int t = 0; t < (W); ++t) acc[t] = AZERO;                                \
    for (int64_t j = s; j < e; ++j) {                                            \
      int64_t col = (int64_t)indices[j];                                         \
      if ((uint64_t)col >= (uint64_t)n) continue;                                \
      AT a = conj ? CONJ(LOAD(&data[j])) : LOAD(&data[j]);                       \
      const VT *xc = x + col * xr + kb * xq;                                     \
      for (int t = 0; t < (W); ++t) acc[t] += a * LOAD(&xc[t * xq]);            \
    }                                                                            \
    MSP_SPMM_PUT(W)                                                              \
  }
#if ACC_IS_VT
#define MSP_SPMM_PUT(W)                          \
  VT *yc = y + r * yr + kb * yq;                 \
  for (int t = 0; t < (W); ++t) STORE(&yc[t * yq], acc[t]);
#else /* 16-bit values: the chunk's sums, rounded after it in one contiguous loop */
#define MSP_SPMM_PUT(W) \
  for (int t = 0; t < (W); ++t) buf[kb - kc + t] = acc[t];
#endif
#define MSP_SPMM_CHUNK 256
#ifndef MSP_SPMM_AHEAD
#define MSP_SPMM_AHEAD 2 /* rows ahead whose rows of X are requested */
#endif
#define MSP_SPMM_BLOCKS MSP_SPMM_BLOCK(16) MSP_SPMM_BLOCK(8) MSP_SPMM_BLOCK(4) MSP_SPMM_BLOCK(1)

/* Y[r, :] for rows [r0, r1) in blocks of 16, 8, 4 and 1 columns (fixed widths keep the sums in
 * registers; 16-bit types in chunks of 256 columns). Inlined with literal strides, so the row-major case
 * (xq = yq = 1) vectorizes. 16-bit outputs are rounded a chunk at a time by a loop the compiler
 * vectorizes: rounding inside each block kept bfloat16 SpMM at 4.8x the float32 time (512^2
 * Laplacian, k = 64, one thread: 84 ms vs 17.5). Returns nonzero on malformed structure. (A GCC
 * target_clones AVX2 build measured 2.3x slower than the portable one, so there is none.) */
static MSP_ALWAYS_INLINE int NAME(rows)(const IT *restrict indptr, const IT *restrict indices,
                                        const VT *restrict data, const VT *restrict x, VT *restrict y,
                                        int64_t r0, int64_t r1, int64_t n, int64_t k, int64_t nnz,
                                        int conj, int64_t xr, int64_t xq, int64_t yr, int64_t yq) {
  int bad = 0;
#if defined(MSP_SPMM_F16C) && IS_F16
  const int f16c = msp_f16c_ok();
#endif
#if defined(MSP_SPMM_AVX2) && IS_F32
  const int avx2 = xq == 1 && yq == 1 && msp_avx2_ok();
#endif
  for (int64_t r = r0; r < r1; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      e = s = 0;
    }
    for (int64_t j = s; j < e; ++j) bad |= (uint64_t)(int64_t)indices[j] >= (uint64_t)n;
#if ACC_IS_VT
    {
      const int64_t kend = k;  /* one pass over the columns (chunking costs float32 ~20%) */
      int64_t kb = 0;
      if (xq == 1 && r + MSP_SPMM_AHEAD < r1) { /* the next row's rows of X, every cache line of them, requested now:
                                      scattered columns miss the cache, and the block passes below would
                                      otherwise wait on one line at a time */
        const int64_t ns = (int64_t)indptr[r + MSP_SPMM_AHEAD], ne = (int64_t)indptr[r + MSP_SPMM_AHEAD + 1];
        const int64_t lines = k * (int64_t)sizeof(VT) / 64 < 8 ? k * (int64_t)sizeof(VT) / 64 : 8;
        if (ns >= 0 && ne <= nnz)
          for (int64_t j = ns; j < ne; ++j) {
            const uint64_t col = (uint64_t)(int64_t)indices[j];
            if (col < (uint64_t)n)
              for (int64_t l = 0; l < lines; ++l) __builtin_prefetch(x + (int64_t)col * xr + l * (64 / (int64_t)sizeof(VT)));
          }
      }
#if defined(MSP_SPMM_AVX2) && IS_F32
      if (avx2) {
        MSP_AVX2_FN(INAME)(indices, data, x, y + r * yr, s, e, n, xr, k);
        continue;
      }
#endif
      MSP_SPMM_BLOCKS
    }
#else
    for (int64_t kc = 0; kc < k; kc += MSP_SPMM_CHUNK) {
      const int64_t kend = k - kc < MSP_SPMM_CHUNK ? k : kc + MSP_SPMM_CHUNK;
      AT buf[MSP_SPMM_CHUNK];
#if defined(MSP_SPMM_F16C) && IS_F16
      if (xq == 1 && f16c) {
        MSP_F16C_FN(INAME)(indices, data, x, buf, s, e, n, xr, kc, kend);
      } else
#endif
      {
        int64_t kb = kc;
        MSP_SPMM_BLOCKS
      }
      for (int64_t q = kc; q < kend; ++q) STORE(&y[r * yr + q * yq], buf[q - kc]);
    }
#endif
  }
  return bad;
}

/* Y = A X (conj: Y = conj(A) X). in: indptr[m+1], indices[nnz], data[nnz], X[n*k];
 * out: Y[m*k]; sizes m, n, k, nnz; flags conj, bm (0: X and Y row-major, (n, k) and (m, k); 1:
 * batch-major, X stored as (k, n) and Y as (k, m): k vectors side by side, no transposes needed). */
int NAME(csr)(const msp_call *c) {
  MSP_UNPACK(csr);
  if (m == 0 || k == 0) return MSP_OK;
  if ((int64_t)indptr[0] != 0) return MSP_EINDEX; /* entries before it would be skipped silently */
  int nt = msp_threads_for(c, (nnz + m) * (k < 16 ? k : 16));
  int bad = 0;
  /* 8 chunks per thread balanced by nonzeros + rows, taken dynamically */
  int parts = nt > 1 ? 8 * nt : 1;
  if (parts > MSP_MAX_PARTS) parts = MSP_MAX_PARTS;
  int64_t b[MSP_MAX_PARTS + 1];
  MSP_PARTITION(INAME)(indptr, m, nnz, parts, b);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(| : bad)
  for (int p = 0; p < parts; ++p)
    if (b[p + 1] > b[p])
      bad |= bm ? NAME(rows)(indptr, indices, data, x, y, b[p], b[p + 1], n, k, nnz, conj, 1, n, 1, m)
                : NAME(rows)(indptr, indices, data, x, y, b[p], b[p + 1], n, k, nnz, conj, k, 1, k, 1);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* acc(col, q) += op(A)[r, col] X(r, q) for rows [r0, r1) and columns [q0, q1): the scatter of
 * Y = A^T X. X(r, q) is x[r * xr + q * xq], acc(c, q) is acc[c * ar + q * aq]; inlined with
 * literal strides. */
static MSP_ALWAYS_INLINE int NAME(scatter)(const IT *restrict indptr, const IT *restrict indices,
                                           const VT *restrict data, const VT *restrict x, AT *restrict acc,
                                           int64_t r0, int64_t r1, int64_t n, int64_t q0, int64_t q1,
                                           int64_t nnz, int conj, int64_t xr, int64_t xq, int64_t ar,
                                           int64_t aq) {
  int bad = 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t s = (int64_t)indptr[r], e = (int64_t)indptr[r + 1];
    if (MSP_ROW_BAD(s, e, nnz)) {
      bad = 1;
      continue;
    }
    const VT *xrow = x + r * xr;
    const AT x0 = LOAD(&xrow[q0 * xq]);
    for (int64_t j = s; j < e; ++j) {
      int64_t col = (int64_t)indices[j];
      if ((uint64_t)col >= (uint64_t)n) {
        bad = 1;
        continue;
      }
      AT v = conj ? CONJ(LOAD(&data[j])) : LOAD(&data[j]);
      if (q1 - q0 == 1) { /* one column: one scattered update (loop-invariant branch) */
        acc[col * ar + q0 * aq] += v * x0;
        continue;
      }
      AT *arow = acc + col * ar;
      for (int64_t q = q0; q < q1; ++q) arow[q * aq] += v * LOAD(&xrow[q * xq]);
    }
  }
  return bad;
}

/* Columns [q0, q1) of acc (n rows, k columns, layout as Y) zeroed, or stored to Y. */
static void NAME(acc_zero)(AT *acc, int64_t n, int64_t k, int64_t q0, int64_t q1, int bm) {
  if (bm) {
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t i = 0; i < n; ++i) acc[q * n + i] = AZERO;
  } else {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = q0; q < q1; ++q) acc[i * k + q] = AZERO;
  }
}
#if !ACC_IS_VT
static void NAME(acc_store)(const AT *acc, VT *y, int64_t n, int64_t k, int64_t q0, int64_t q1, int bm) {
  if (bm) {
    for (int64_t q = q0; q < q1; ++q)
      for (int64_t i = 0; i < n; ++i) STORE(&y[q * n + i], acc[q * n + i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t q = q0; q < q1; ++q) STORE(&y[i * k + q], acc[i * k + q]);
  }
}
#endif

/* Y = A^T X by threads splitting Y's columns [blocks of cb): each scatters its columns of every
 * row straight into Y (16-bit types: into one float accumulator), with no private copies and no
 * reduction pass. */
static int NAME(t_by_columns)(const IT *restrict indptr, const IT *restrict indices, const VT *restrict data,
                              const VT *restrict x, VT *restrict y, int64_t m, int64_t n, int64_t k, int64_t nnz,
                              int conj, int bm, int nt, int64_t cb, int64_t nblk) {
  AT *acc = ACC_IS_VT ? (AT *)(void *)y : (AT *)malloc((size_t)(n * k) * sizeof(AT));
  if (acc == NULL) return MSP_ENOMEM;
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    const int t = MSP_THREAD_ID();
    const int64_t q0 = nblk * t / nt * cb, q1e = nblk * (t + 1) / nt * cb, q1 = q1e < k ? q1e : k;
    NAME(acc_zero)(acc, n, k, q0, q1, bm);
    bad |= bm ? NAME(scatter)(indptr, indices, data, x, acc, 0, m, n, q0, q1, nnz, conj, 1, m, 1, n)
              : NAME(scatter)(indptr, indices, data, x, acc, 0, m, n, q0, q1, nnz, conj, k, 1, k, 1);
#if !ACC_IS_VT
    NAME(acc_store)(acc, y, n, k, q0, q1, bm);
#endif
  }
  if (!ACC_IS_VT) free(acc);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Y = A^T X by nt threads over rows: thread t scatters rows [m t / nt, m (t + 1) / nt) into its own
 * accumulator, then the threads add them up. Thread 0's accumulator is Y itself where Y has its
 * layout (float32 and wider, row-major or one column), and then the sum runs over contiguous runs,
 * which vectorizes (2-D Laplacian 2048^2, A^T x, 2 threads, C kernel: 36.2 -> 24.1 ms; one thread
 * 31.3 ms). */
static int NAME(t_private)(const IT *restrict indptr, const IT *restrict indices, const VT *restrict data,
                           const VT *restrict x, VT *restrict y, int64_t m, int64_t n, int64_t k, int64_t nnz,
                           int conj, int bm, int nt) {
  const int64_t xr = bm ? 1 : k, xq = bm ? m : 1;
  const int in_y = ACC_IS_VT && (!bm || k == 1);
  const size_t nk = (size_t)(n * k);
  AT *acc = (AT *)malloc((size_t)(nt - in_y) * nk * sizeof(AT));
  if (acc == NULL) return MSP_ENOMEM;
  int bad = 0;
#pragma omp parallel num_threads(nt) reduction(| : bad)
  {
    int t = MSP_THREAD_ID();
    AT *a = t < in_y ? (AT *)(void *)y : acc + (size_t)(t - in_y) * nk;
    for (size_t i = 0; i < nk; ++i) a[i] = AZERO;
    bad |= NAME(scatter)(indptr, indices, data, x, a, m * t / nt, m * (t + 1) / nt, n, 0, k, nnz, conj, xr, xq, k, 1);
#pragma omp barrier
    if (in_y) { /* Y += the other accumulators, in contiguous runs (vectorized) */
      AT *yy = (AT *)(void *)y;
      const int64_t runs = (int64_t)((nk + 4095) / 4096);
#pragma omp for schedule(static)
      for (int64_t b = 0; b < runs; ++b) {
        const size_t i0 = (size_t)b * 4096, i1 = i0 + 4096 < nk ? i0 + 4096 : nk;
        for (int u = 1; u < nt; ++u) {
          const AT *au = acc + (size_t)(u - 1) * nk;
          for (size_t i = i0; i < i1; ++i) yy[i] += au[i];
        }
      }
    } else {
#pragma omp for schedule(static)
      for (int64_t col = 0; col < n; ++col)
        for (int64_t q = 0; q < k; ++q) {
          const size_t i = (size_t)(col * k + q);
          AT s = acc[i];
          for (int u = 1; u < nt; ++u) s += acc[(size_t)u * nk + i];
          STORE(&y[bm ? q * n + col : col * k + q], s);
        }
    }
  }
  free(acc);
  return bad ? MSP_EINDEX : MSP_OK;
}

/* Y = A^T X (conj: A^H X). in: indptr[m+1], indices[nnz], data[nnz], X[m*k]; out: Y[n*k];
 * sizes m, n, k, nnz; flags conj, bm (as for csr: 1 = X stored (k, m), Y stored (k, n)).
 * Wide X (two or more blocks of 16 columns, or of one vector in the batch-major layout): threads
 * split Y's columns. Otherwise one thread scatters straight into Y (when Y holds the accumulator
 * type), or several scatter into private accumulators, summed in thread order. */
int NAME(csr_t)(const msp_call *c) {
  MSP_UNPACK(csr_t);
  if (n * k == 0) return MSP_OK;
  if ((int64_t)indptr[0] != 0) return MSP_EINDEX; /* entries before it would be skipped silently */
  int nt = msp_threads_for(c, (nnz + m) * (k < 16 ? k : 16));
  const int64_t cb = bm ? 1 : 16, nblk = (k + cb - 1) / cb; /* 16 float32 columns: a 64-byte line */
  if (nt > 1 && nblk >= 2)
    return NAME(t_by_columns)(indptr, indices, data, x, y, m, n, k, nnz, conj, bm, nt > nblk ? (int)nblk : nt, cb, nblk);
  /* private accumulators cost (nt - 1) * n * k; stay single-threaded beyond 256 MiB of them */
  if (nt > 1 && (double)(nt - 1) * (double)(n * k) * sizeof(AT) > 268435456.0) nt = 1;
  if (nt == 1 && ACC_IS_VT) {
    AT *acc = (AT *)(void *)y;
    for (int64_t i = 0; i < n * k; ++i) acc[i] = AZERO;
    int bad = k == 1 ? NAME(scatter)(indptr, indices, data, x, acc, 0, m, n, 0, 1, nnz, conj, 1, 1, 1, 1)
              : bm   ? NAME(scatter)(indptr, indices, data, x, acc, 0, m, n, 0, k, nnz, conj, 1, m, 1, n)
                     : NAME(scatter)(indptr, indices, data, x, acc, 0, m, n, 0, k, nnz, conj, k, 1, k, 1);
    return bad ? MSP_EINDEX : MSP_OK;
  }
  return NAME(t_private)(indptr, indices, data, x, y, m, n, k, nnz, conj, bm, nt);
}
#undef MSP_SPMM_BLOCK
#undef MSP_SPMM_PUT
#undef MSP_SPMM_CHUNK
#undef MSP_SPMM_BLOCKS
