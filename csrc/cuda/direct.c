/* Direct sparse solvers on the GPU: NVIDIA cuDSS, loaded at run time with dlopen (see gpu_direct.h). Host C:
 * this file queues cuDSS's phases on a CUDA stream; the numerics are cuDSS's. Only the part of cuDSS's
 * public C API used here is declared, as cuDSS 1.0's header has it (older releases differ: the CSR
 * constructor gained an argument in 0.8, the phases changed), so a library older than 1.0 is refused. */
#include "mlx_sparse/gpu_direct.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <library_types.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"

/* ---- the cuDSS API used (opaque handles; enums are C ints) ---- */
typedef struct cudss_ctx_ *cudss_handle;
typedef struct cudss_cfg_ *cudss_config;
typedef struct cudss_dat_ *cudss_data;
typedef struct cudss_mat_ *cudss_matrix;
enum { CUDSS_OK = 0 };
enum { DATA_INFO = 0, DATA_LU_NNZ = 1, DATA_NPIVOTS = 2, DATA_DIAG = 8 };    /* cudssDataParam_t */
enum { PHASE_ANALYSIS = 3, PHASE_FACTORIZATION = 4, PHASE_SOLVE = 0x3F0 };   /* cudssPhase_t */
enum { MTYPE_GENERAL = 0, MTYPE_SPD = 3, MTYPE_HPD = 4 };                    /* cudssMatrixType_t */
enum { MVIEW_FULL = 0, MVIEW_UPPER = 2 };                                    /* cudssMatrixViewType_t */
enum { CONFIG_IR_N_STEPS = 5 };                                             /* cudssConfigParam_t */
enum { BASE_ZERO = 0, LAYOUT_COL_MAJOR = 0, PROP_MAJOR = 0, PROP_MINOR = 1, PROP_PATCH = 2 };

static struct {
  void *lib;
  int (*create)(cudss_handle *);
  int (*destroy)(cudss_handle);
  int (*set_stream)(cudss_handle, cudaStream_t);
  int (*config_create)(cudss_config *);
  int (*config_destroy)(cudss_config);
  int (*config_set)(cudss_config, int, const void *, size_t);
  int (*data_create)(cudss_handle, cudss_data *);
  int (*data_destroy)(cudss_handle, cudss_data);
  int (*data_get)(cudss_handle, cudss_data, int, void *, size_t, size_t *);
  int (*execute)(cudss_handle, int, cudss_config, cudss_data, cudss_matrix, cudss_matrix, cudss_matrix);
  int (*matrix_create_csr)(cudss_matrix *, int64_t, int64_t, int64_t, const void *, const void *, const void *,
                           const void *, cudaDataType_t, cudaDataType_t, cudaDataType_t, int, int, int);
  int (*matrix_create_dn)(cudss_matrix *, int64_t, int64_t, int64_t, const void *, cudaDataType_t, int);
  int (*matrix_destroy)(cudss_matrix);
  int (*matrix_set_values)(cudss_matrix, const void *);
  int (*get_property)(int, int *);
  int version;
} cudss;

/* One cuDSS library handle for the process (creating one costs about a second: cuDSS loads its kernels),
 * shared by every factorization; the lock serializes the calls that use it (each sets its stream). */
static cudss_handle g_handle;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static cudaStream_t g_stream; /* the stream last set on g_handle (under g_lock) */
static int g_stream_set;

/* point the shared handle at `stream` (under g_lock); a repeated stream is not set again */
static int use_stream(cudss_handle handle, void *stream) {
  if (g_stream_set && g_stream == (cudaStream_t)stream) return CUDSS_OK;
  int st = cudss.set_stream(handle, (cudaStream_t)stream);
  g_stream_set = st == CUDSS_OK;
  g_stream = (cudaStream_t)stream;
  return st;
}

struct msp_gpu_direct {
  cudss_handle handle;
  cudss_config config;
  cudss_data data;
  cudss_matrix A;
  int kind, vtype;
  int64_t n;
};

static void say(char *msg, size_t len, const char *text) {
  if (msg && len) snprintf(msg, len, "%s", text);
}

static const char *status_text(int st) {
  static const char *names[] = {"success", "not initialized", "allocation failed", "invalid value",
                                "not supported", "execution failed", "internal error", "iterative refinement failed"};
  return (st >= 0 && st < 8) ? names[st] : "unknown status";
}

/* a failed cuDSS call: its name and status in msg, and the MSP status it maps to */
static int fail(const char *call, int st, char *msg, size_t len) {
  if (msg && len) snprintf(msg, len, "cuDSS %s failed: %s (status %d)", call, status_text(st), st);
  return st == 2 ? MSP_ENOMEM : (st == 3 || st == 4) ? MSP_EINVAL : MSP_EUNSUPPORTED;
}

int msp_cudss_loaded(void) { return cudss.lib != NULL; }
int msp_cudss_version(void) { return cudss.version; }

int msp_cudss_load(const char *path, char *msg, size_t len) {
  if (cudss.lib) return MSP_OK;
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    if (msg && len) snprintf(msg, len, "cannot load %s: %s", path, e ? e : "dlopen failed");
    return MSP_EUNSUPPORTED;
  }
#define MSP_SYM(field, name)                                                              \
  do {                                                                                    \
    *(void **)(&cudss.field) = dlsym(lib, name);                                          \
    if (!cudss.field) {                                                                   \
      if (msg && len) snprintf(msg, len, "%s has no symbol %s (cuDSS too old?)", path, name); \
      dlclose(lib);                                                                       \
      memset(&cudss, 0, sizeof cudss);                                                    \
      return MSP_EUNSUPPORTED;                                                            \
    }                                                                                     \
  } while (0)
  MSP_SYM(create, "cudssCreate");
  MSP_SYM(destroy, "cudssDestroy");
  MSP_SYM(set_stream, "cudssSetStream");
  MSP_SYM(config_create, "cudssConfigCreate");
  MSP_SYM(config_destroy, "cudssConfigDestroy");
  MSP_SYM(config_set, "cudssConfigSet");
  MSP_SYM(data_create, "cudssDataCreate");
  MSP_SYM(data_destroy, "cudssDataDestroy");
  MSP_SYM(data_get, "cudssDataGet");
  MSP_SYM(execute, "cudssExecute");
  MSP_SYM(matrix_create_csr, "cudssMatrixCreateCsr");
  MSP_SYM(matrix_create_dn, "cudssMatrixCreateDn");
  MSP_SYM(matrix_destroy, "cudssMatrixDestroy");
  MSP_SYM(matrix_set_values, "cudssMatrixSetValues");
  MSP_SYM(get_property, "cudssGetProperty");
#undef MSP_SYM
  int v[3] = {0, 0, 0};
  cudss.get_property(PROP_MAJOR, &v[0]);
  cudss.get_property(PROP_MINOR, &v[1]);
  cudss.get_property(PROP_PATCH, &v[2]);
  const int version = v[0] * 10000 + v[1] * 100 + v[2];
  if (version < 10000) {
    if (msg && len) snprintf(msg, len, "%s is cuDSS %d.%d.%d; mlx_sparse needs cuDSS 1.0 or later", path, v[0], v[1], v[2]);
    dlclose(lib);
    memset(&cudss, 0, sizeof cudss);
    return MSP_EUNSUPPORTED;
  }
  cudss.version = version;
  cudss.lib = lib;
  return MSP_OK;
}

static cudaDataType_t value_type(int vtype) { return vtype == MSP_GPU_C64 ? CUDA_C_32F : CUDA_R_32F; }

/* an integer parameter of the data object (an int or an int64_t, as cuDSS has it); -1 when unreadable */
static int64_t data_int(msp_gpu_direct *h, int param) {
  int v32 = 0;
  int64_t v64 = 0;
  size_t written = 0;
  if (cudss.data_get(h->handle, h->data, param, &v32, sizeof v32, &written) == CUDSS_OK) return v32;
  if (cudss.data_get(h->handle, h->data, param, &v64, sizeof v64, &written) == CUDSS_OK) return v64;
  return -1;
}

/* queue a factorization (the analysis first when `analysis`), wait, then read cuDSS's error indicator */
static int run_factor(msp_gpu_direct *h, int analysis, void *stream, int64_t *info, char *msg, size_t len) {
  int st = use_stream(h->handle, stream);
  if (st != CUDSS_OK) return fail("SetStream", st, msg, len);
  cudss_matrix dummy_x = NULL, dummy_b = NULL; /* the phases before the solve take no right-hand side data */
  st = cudss.matrix_create_dn(&dummy_x, h->n, 1, h->n, NULL, value_type(h->vtype), LAYOUT_COL_MAJOR);
  if (st == CUDSS_OK) st = cudss.matrix_create_dn(&dummy_b, h->n, 1, h->n, NULL, value_type(h->vtype), LAYOUT_COL_MAJOR);
  if (st != CUDSS_OK) {
    if (dummy_x) cudss.matrix_destroy(dummy_x);
    return fail("MatrixCreateDn", st, msg, len);
  }
  const char *phase = "analysis";
  if (analysis) st = cudss.execute(h->handle, PHASE_ANALYSIS, h->config, h->data, h->A, dummy_x, dummy_b);
  if (st == CUDSS_OK) {
    phase = "factorization";
    st = cudss.execute(h->handle, PHASE_FACTORIZATION, h->config, h->data, h->A, dummy_x, dummy_b);
  }
  cudss.matrix_destroy(dummy_x);
  cudss.matrix_destroy(dummy_b);
  if (st != CUDSS_OK) return fail(phase, st, msg, len);
  cudaError_t ce = cudaStreamSynchronize((cudaStream_t)stream);
  if (ce != cudaSuccess) {
    if (msg && len) snprintf(msg, len, "the factorization's stream failed: %s", cudaGetErrorString(ce));
    return MSP_EUNSUPPORTED;
  }
  int64_t inf = data_int(h, DATA_INFO);
  if (info) *info = inf;
  if (inf < 0) {
    say(msg, len, "cannot read cuDSS's error indicator after the factorization");
    return MSP_EUNSUPPORTED;
  }
  if (inf != 0) {
    if (msg && len)
      snprintf(msg, len, h->kind == MSP_GPU_DIRECT_CHOLESKY
                             ? "the matrix is not positive definite (cuDSS: a non-positive pivot, info %lld)"
                             : "the matrix is singular (cuDSS: a zero pivot, info %lld)",
               (long long)inf);
    return MSP_ESINGULAR;
  }
  return MSP_OK;
}

int msp_gpu_direct_analyze(int kind, int vtype, int index64, int64_t n, int64_t nnz, const void *rowptr,
                           const void *colind, const void *values, void *stream, msp_gpu_direct **out, int64_t *info,
                           char *msg, size_t len) {
  *out = NULL;
  if (!cudss.lib) {
    say(msg, len, "cuDSS is not loaded");
    return MSP_EUNSUPPORTED;
  }
  if (n <= 0 || nnz < 0 || (kind != MSP_GPU_DIRECT_CHOLESKY && kind != MSP_GPU_DIRECT_LU) ||
      (vtype != MSP_GPU_F32 && vtype != MSP_GPU_C64)) {
    say(msg, len, "bad arguments to the GPU factorization");
    return MSP_EINVAL;
  }
  msp_gpu_direct *h = calloc(1, sizeof *h);
  if (!h) return MSP_ENOMEM;
  h->kind = kind, h->vtype = vtype, h->n = n;
  pthread_mutex_lock(&g_lock);
  int st = g_handle ? CUDSS_OK : cudss.create(&g_handle);
  pthread_mutex_unlock(&g_lock);
  if (st != CUDSS_OK) {
    free(h);
    return fail("Create", st, msg, len);
  }
  h->handle = g_handle;
  st = cudss.config_create(&h->config);
  if (st == CUDSS_OK) st = cudss.data_create(h->handle, &h->data);
  cudaDataType_t it = index64 ? CUDA_R_64I : CUDA_R_32I;
  int mtype = kind == MSP_GPU_DIRECT_LU ? MTYPE_GENERAL : (vtype == MSP_GPU_C64 ? MTYPE_HPD : MTYPE_SPD);
  int mview = kind == MSP_GPU_DIRECT_LU ? MVIEW_FULL : MVIEW_UPPER;
  if (st == CUDSS_OK)
    st = cudss.matrix_create_csr(&h->A, n, n, nnz, rowptr, NULL, colind, values, it, it, value_type(vtype), mtype,
                                 mview, BASE_ZERO);
  if (st != CUDSS_OK) {
    msp_gpu_direct_free(h);
    return fail("setup", st, msg, len);
  }
  pthread_mutex_lock(&g_lock);
  int rc = run_factor(h, 1, stream, info, msg, len);
  pthread_mutex_unlock(&g_lock);
  if (rc != MSP_OK) {
    msp_gpu_direct_free(h);
    return rc;
  }
  *out = h;
  return MSP_OK;
}

int msp_gpu_direct_set_refinement(msp_gpu_direct *h, int steps, char *msg, size_t len) {
  pthread_mutex_lock(&g_lock);
  int st = steps < 0 ? -1 : cudss.config_set(h->config, CONFIG_IR_N_STEPS, &steps, sizeof steps);
  pthread_mutex_unlock(&g_lock);
  if (steps < 0) {
    say(msg, len, "bad refinement step count");
    return MSP_EINVAL;
  }
  return st == CUDSS_OK ? MSP_OK : fail("ConfigSet(IR_N_STEPS)", st, msg, len);
}

int msp_gpu_direct_factor(msp_gpu_direct *h, const void *values, void *stream, int64_t *info, char *msg, size_t len) {
  int st = cudss.matrix_set_values(h->A, values);
  if (st != CUDSS_OK) return fail("MatrixSetValues", st, msg, len);
  pthread_mutex_lock(&g_lock);
  int rc = run_factor(h, 0, stream, info, msg, len);
  pthread_mutex_unlock(&g_lock);
  return rc;
}

int msp_gpu_direct_solve(msp_gpu_direct *h, int64_t k, const void *b, void *x, void *stream, char *msg, size_t len) {
  if (k < 0) {
    say(msg, len, "bad arguments to the GPU solve");
    return MSP_EINVAL;
  }
  if (k == 0) return MSP_OK;
  pthread_mutex_lock(&g_lock);
  int st = use_stream(h->handle, stream);
  if (st != CUDSS_OK) {
    pthread_mutex_unlock(&g_lock);
    return fail("SetStream", st, msg, len);
  }
  cudss_matrix X = NULL, B = NULL;
  st = cudss.matrix_create_dn(&X, h->n, k, h->n, x, value_type(h->vtype), LAYOUT_COL_MAJOR);
  if (st == CUDSS_OK) st = cudss.matrix_create_dn(&B, h->n, k, h->n, b, value_type(h->vtype), LAYOUT_COL_MAJOR);
  if (st == CUDSS_OK) st = cudss.execute(h->handle, PHASE_SOLVE, h->config, h->data, h->A, X, B);
  if (X) cudss.matrix_destroy(X);
  if (B) cudss.matrix_destroy(B);
  pthread_mutex_unlock(&g_lock);
  return st == CUDSS_OK ? MSP_OK : fail("solve", st, msg, len);
}

static int64_t locked_data_int(msp_gpu_direct *h, int param) {
  pthread_mutex_lock(&g_lock);
  int64_t v = data_int(h, param);
  pthread_mutex_unlock(&g_lock);
  return v;
}
int64_t msp_gpu_direct_fill(msp_gpu_direct *h) { return locked_data_int(h, DATA_LU_NNZ); }
int64_t msp_gpu_direct_npivots(msp_gpu_direct *h) { return locked_data_int(h, DATA_NPIVOTS); }

int msp_gpu_direct_diag(msp_gpu_direct *h, void *diag, void *stream, char *msg, size_t len) {
  size_t bytes = (size_t)h->n * (h->vtype == MSP_GPU_C64 ? 8 : 4), written = 0;
  pthread_mutex_lock(&g_lock);
  int st = use_stream(h->handle, stream);
  if (st == CUDSS_OK) st = cudss.data_get(h->handle, h->data, DATA_DIAG, diag, bytes, &written);
  pthread_mutex_unlock(&g_lock);
  return st == CUDSS_OK ? MSP_OK : fail("DataGet(diagonal)", st, msg, len);
}

void msp_gpu_direct_free(msp_gpu_direct *h) {
  if (!h) return;
  pthread_mutex_lock(&g_lock);
  if (h->A) cudss.matrix_destroy(h->A);
  if (h->data) cudss.data_destroy(h->handle, h->data);
  if (h->config) cudss.config_destroy(h->config);
  pthread_mutex_unlock(&g_lock);
  free(h);  /* the shared library handle stays for the process */
}
