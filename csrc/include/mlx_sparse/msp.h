/* mlx_sparse C kernel ABI: the call record, status codes, the type pairs, the op table and the kernel registry. */
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
  MSP_EUNSUPPORTED = 4, /* no kernel for this configuration */
  MSP_ESINGULAR = 5     /* a zero pivot (singular), or a non-positive one (not positive definite) */
};

#define MSP_MAX_IO 8
#define MSP_MAX_SCALARS 16

/* Every (value, index) type pair a kernel is instantiated for, and where: X(value, index, devices, A)
 * with devices CPU or BOTH (A is passed through). The one list: the C instantiation
 * (cpu/instantiate.h), the CUDA modules (CMake) and Python's dtype tables come from it. */
#define MSP_TYPE_PAIRS(X, A)                                                                    \
  X(f32, i32, BOTH, A) X(f32, i64, BOTH, A) X(f64, i32, CPU, A) X(f64, i64, CPU, A)             \
  X(f16, i32, BOTH, A) X(f16, i64, BOTH, A) X(bf16, i32, BOTH, A) X(bf16, i64, BOTH, A)         \
  X(c64, i32, BOTH, A) X(c64, i64, BOTH, A)

/* Constants shared by the kernels and the dispatcher. */
#define MSP_GPU_BLOCK 256      /* threads per block of every CUDA kernel */
#define MSP_MERGE_ITEMS 2048   /* merge-path items (row ends + nonzeros) per block of spmv_csr_mp */
#define MSP_PAR_THRESHOLD 32768 /* below this many work units a CPU kernel stays single-threaded */

/* One kernel invocation. Inputs are read-only, outputs are preallocated by the caller with
 * out_len[i] elements of the output's type. Lengths are element counts, not bytes. iarg holds the
 * op's sizes, then its flags, in the order of its table entry (ops.def). */
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

/* One op of the table (ops.def): its signature as declared there. */
typedef struct msp_op_info {
  const char *family, *op; /* kernel names are "<family>_<op>_<vt>_<it>" */
  const char *devices;     /* "CPU", "GPU" or "BOTH" */
  const char *inputs, *outputs, *sizes, *flags, *gpu;
} msp_op_info;

typedef struct msp_kernel_entry {
  const char *name; /* "<family>_<op>_<vt>_<it>", e.g. "spmv_csr_f32_i32" */
  msp_kernel_fn fn; /* checks the call against its op's signature, then runs */
  const msp_op_info *op;
} msp_kernel_entry;

/* Kernel lookup by name; NULL when absent. */
msp_kernel_fn msp_find_kernel(const char *name);
/* The whole registry, terminated by a {NULL, NULL, NULL} entry. */
const msp_kernel_entry *msp_kernel_table(void);
/* The op table (CPU and GPU ops), terminated by an entry whose family is NULL. */
const msp_op_info *msp_op_table(void);
/* Fill a call record for kernel `name`: inputs, outputs (as many as its op declares), its sizes
 * and flags in table order; the lengths come from the table. MSP_EINVAL for an unknown kernel. */
int msp_call_init(msp_call *c, const char *name, const void *const *in, void *const *out,
                  const int64_t *sizes, const int64_t *flags);
/* MSP_OK when the call matches the op's signature (counts, lengths, flags); else MSP_EINVAL. */
int msp_call_check(const msp_op_info *op, const msp_call *c);
/* Human-readable text for a status code. */
const char *msp_status_string(int status);

/* Threading: default thread count for kernels (OpenMP when built with it). */
void msp_set_num_threads(int n);
int msp_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* MLX_SPARSE_MSP_H */
