/* CPU threading helpers: thread count with a size threshold, nnz-balanced row partitions. */
#ifndef MSP_CPU_PARALLEL_H
#define MSP_CPU_PARALLEL_H

#include <stdint.h>

#include "mlx_sparse/msp.h"

#ifdef _OPENMP
#include <omp.h>
#define MSP_THREAD_ID() omp_get_thread_num()
#else
#define MSP_THREAD_ID() 0
#endif

/* A scratch buffer of at least `bytes` for the calling thread, kept between calls (slot 0..3: a kernel
 * may hold several at once). Fresh allocations of megabytes cost page faults on every call, often
 * more than the kernel's work; buffers up to MSP_SCRATCH_KEEP bytes are kept and reused, larger ones
 * are allocated for the call. Contents are undefined; NULL when out of memory. Hand every buffer back
 * with msp_scratch_release (it frees the ones not kept). Call both outside parallel regions. */
#define MSP_SCRATCH_KEEP ((size_t)32 << 20)
void *msp_scratch(int slot, size_t bytes);
void msp_scratch_release(int slot, void *p);

/* Threads to use for `work` units under call c: 1 for small problems. */
static inline int msp_threads_for(const msp_call *c, int64_t work) {
#ifdef _OPENMP
  int nt = c->nthreads > 0 ? c->nthreads : msp_get_num_threads();
  if (work < MSP_PAR_THRESHOLD || nt < 1) return 1;
  int64_t cap = work / (MSP_PAR_THRESHOLD / 4);
  if (cap < nt) nt = (int)(cap > 1 ? cap : 1);
  return nt;
#else
  (void)c;
  (void)work;
  return 1;
#endif
}

/* Row boundaries b[0..parts] splitting rows so each part holds about (nnz + m) / parts work units
 * (a row costs its nonzeros plus one). Computed serially, so monotone even for malformed indptr. */
#define MSP_DEFINE_PARTITION(IT, SUF)                                                             \
  static inline void msp_partition_##SUF(const IT *indptr, int64_t m, int64_t nnz, int parts,     \
                                         int64_t *b) {                                            \
    int64_t w = nnz + m;                                                                          \
    b[0] = 0;                                                                                     \
    for (int t = 1; t < parts; ++t) {                                                             \
      int64_t target = (w * t) / parts, lo = b[t - 1], hi = m;                                    \
      while (lo < hi) {                                                                           \
        int64_t mid = lo + (hi - lo) / 2;                                                         \
        if ((int64_t)indptr[mid] + mid < target) lo = mid + 1;                                    \
        else hi = mid;                                                                            \
      }                                                                                           \
      b[t] = lo;                                                                                  \
    }                                                                                             \
    b[parts] = m;                                                                                 \
  }
MSP_DEFINE_PARTITION(int32_t, i32)
MSP_DEFINE_PARTITION(int64_t, i64)
#define MSP_PARTITION_(SUF) msp_partition_##SUF
#define MSP_PARTITION(SUF) MSP_PARTITION_(SUF)
#define MSP_MAX_PARTS 512

#endif /* MSP_CPU_PARALLEL_H */
