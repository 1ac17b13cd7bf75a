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

/* Below this many units of work (nonzeros + rows touched) a kernel stays single-threaded. */
#define MSP_PAR_THRESHOLD 32768

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

#endif /* MSP_CPU_PARALLEL_H */
