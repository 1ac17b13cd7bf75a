/* Library runtime: kernel registry lookup, status strings and the default thread count. */
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"
#include "types.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Declarations and table entries come from one list per family. */
#define MSP_DECL(fam, op, v, i) int MSP_CAT5(msp, fam, op, v, i)(const msp_call *c);
#define MSP_ENTRY(fam, op, v, i) {#fam "_" #op "_" #v "_" #i, MSP_CAT5(msp, fam, op, v, i)},

/* The operations of every family, each instantiated for all type pairs: M(family, op, v, i). */

#define MSP_PAIR_DECL(v, i) MSP_OPS_FOR(MSP_DECL, v, i)
#define MSP_PAIR_ENTRY(v, i) MSP_OPS_FOR(MSP_ENTRY, v, i)
#define MSP_OPS_FOR(M, v, i) \
  M(spmv, csr, v, i)         \
  M(spmv, csr_d16, v, i)     \
  M(spmm, csr, v, i)         \
  M(spmm, csr_t, v, i)       \
  M(convert, expand_rows, v, i) \
  M(convert, coo_tocsr, v, i) \
  M(convert, csr_todense, v, i) \
  M(canonical, csr_sort, v, i) \
  M(canonical, csr_sumdup, v, i)

MSP_TYPE_PAIRS(MSP_PAIR_DECL)

static const msp_kernel_entry msp_table[] = {MSP_TYPE_PAIRS(MSP_PAIR_ENTRY){NULL, NULL}};

const msp_kernel_entry *msp_kernel_table(void) { return msp_table; }

msp_kernel_fn msp_find_kernel(const char *name) {
  if (name == NULL) return NULL;
  for (const msp_kernel_entry *e = msp_table; e->name != NULL; ++e)
    if (strcmp(e->name, name) == 0) return e->fn;
  return NULL;
}

const char *msp_status_string(int status) {
  switch (status) {
    case MSP_OK: return "ok";
    case MSP_EINVAL: return "inconsistent sizes or arguments";
    case MSP_ENOMEM: return "out of memory";
    case MSP_EINDEX: return "index out of range (malformed indptr or indices)";
    case MSP_EUNSUPPORTED: return "unsupported configuration";
    default: return "unknown status";
  }
}

float msp_f16_table[65536];

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor))
#endif
static void msp_init_f16_table(void) {
  for (uint32_t h = 0; h < 65536u; ++h) msp_f16_table[h] = msp_f16_to_f32((msp_f16)h);
}

static int msp_default_threads = 0;

void msp_set_num_threads(int n) { msp_default_threads = n > 0 ? n : 0; }

int msp_get_num_threads(void) {
  if (msp_default_threads > 0) return msp_default_threads;
  const char *env = getenv("MLX_SPARSE_NUM_THREADS");
  if (env != NULL && atoi(env) > 0) return atoi(env);
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
