/* mlx_sparse C kernel ABI: the call record, status codes, dtype tags and the kernel registry. */
#ifndef MLX_SPARSE_MSP_H
#define MLX_SPARSE_MSP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes every kernel returns. */
enum {
  MSP_OK = 0,
  MSP_EINVAL = 1,      /* inconsistent sizes or arguments */
  MSP_ENOMEM = 2,      /* scratch allocation failed */
  MSP_EINDEX = 3,      /* an index (row, column, indptr entry) is out of range */
  MSP_EUNSUPPORTED = 4 /* no kernel for this configuration */
};

#define MSP_MAX_IO 8
#define MSP_MAX_SCALARS 8

/* One kernel invocation. Inputs are read-only, outputs are preallocated by the
 * caller with out_len[i] elements of the output's type. Lengths are element
 * counts, not bytes. */
typedef struct msp_call {
  int n_in, n_out;
  const void *in[MSP_MAX_IO];
  int64_t in_len[MSP_MAX_IO];
  void *out[MSP_MAX_IO];
  int64_t out_len[MSP_MAX_IO];
  int64_t iarg[MSP_MAX_SCALARS];
  double darg[MSP_MAX_SCALARS];
  int nthreads; /* <= 0: library default (msp_get_num_threads) */
} msp_call;

typedef int (*msp_kernel_fn)(const msp_call *c);

typedef struct msp_kernel_entry {
  const char *name; /* "<family>_<op>_<vt>_<it>", e.g. "spmv_csr_f32_i32" */
  msp_kernel_fn fn;
} msp_kernel_entry;

/* Kernel lookup by name; NULL when absent. */
msp_kernel_fn msp_find_kernel(const char *name);
/* The whole registry, terminated by a {NULL, NULL} entry. */
const msp_kernel_entry *msp_kernel_table(void);
/* Human-readable text for a status code. */
const char *msp_status_string(int status);

/* Threading: default thread count for kernels (OpenMP when built with it). */
void msp_set_num_threads(int n);
int msp_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* MLX_SPARSE_MSP_H */
