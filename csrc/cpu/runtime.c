/* Library runtime: the op table and kernel registry (both from ops.def), call checks, status strings, threads. */
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"
#include "types.h"
#include "parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the op table: one entry per MSP_OP line ---------------------------------------------- */
#define MSP_OP(fam, op, dev, ins, outs, sizes, flags, gpu) {#fam, #op, #dev, ins, outs, sizes, flags, gpu},
static const msp_op_info msp_ops[] = {
#include "mlx_sparse/ops.def"
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
#undef MSP_OP

#define MSP_OP(fam, op, dev, ins, outs, sizes, flags, gpu) MSP_OPID_##fam##_##op,
enum {
#include "mlx_sparse/ops.def"
  MSP_OP_COUNT
};
#undef MSP_OP

const msp_op_info *msp_op_table(void) { return msp_ops; }

/* ---- the CPU kernels: for each CPU op and type pair, the body (in the family's file) and the
 * registered entry point, which checks the call against the op's signature first ---------------- */
#define MSP_IF_CPU_CPU(x) x
#define MSP_IF_CPU_BOTH(x) x
#define MSP_IF_CPU_GPU(x)
#define MSP_KNAME(fam, op, v, i) MSP_CAT5(msp, fam, op, v, i)
#define MSP_FO(fam, op) fam, op
#define MSP_APPLY(M, ...) M(__VA_ARGS__)
#define MSP_WRAP(v, i, d, fo) MSP_APPLY(MSP_WRAP_, MSP_FO fo, v, i)
#define MSP_WRAP_(fam, op, v, i)                                                 \
  int MSP_CAT(MSP_KNAME(fam, op, v, i), _body)(const msp_call *c);               \
  int MSP_KNAME(fam, op, v, i)(const msp_call *c) {                              \
    const int st = msp_call_check(&msp_ops[MSP_OPID_##fam##_##op], c);           \
    return st != MSP_OK ? st : MSP_CAT(MSP_KNAME(fam, op, v, i), _body)(c);      \
  }
#define MSP_OP(fam, op, dev, ...) MSP_IF_CPU_##dev(MSP_TYPE_PAIRS(MSP_WRAP, (fam, op)))
#include "mlx_sparse/ops.def"
#undef MSP_OP

#define MSP_ENTRY(v, i, d, fo) MSP_APPLY(MSP_ENTRY_, MSP_FO fo, v, i)
#define MSP_ENTRY_(fam, op, v, i) {#fam "_" #op "_" #v "_" #i, MSP_KNAME(fam, op, v, i), &msp_ops[MSP_OPID_##fam##_##op]},
#define MSP_OP(fam, op, dev, ...) MSP_IF_CPU_##dev(MSP_TYPE_PAIRS(MSP_ENTRY, (fam, op)))
static const msp_kernel_entry msp_table[] = {
#include "mlx_sparse/ops.def"
    {NULL, NULL, NULL}};
#undef MSP_OP

const msp_kernel_entry *msp_kernel_table(void) { return msp_table; }

static const msp_kernel_entry *msp_find_entry(const char *name) {
  if (name == NULL) return NULL;
  for (const msp_kernel_entry *e = msp_table; e->name != NULL; ++e)
    if (strcmp(e->name, name) == 0) return e;
  return NULL;
}

msp_kernel_fn msp_find_kernel(const char *name) {
  const msp_kernel_entry *e = msp_find_entry(name);
  return e ? e->fn : NULL;
}

/* ---- signatures: "name:T[len] ..." operand lists and "a b c" name lists ------------------------ */

/* The value of name [p, p + len) among the op's sizes (iarg order), or -1 when absent. */
static int64_t msp_size_named(const char *sizes, const int64_t *iarg, const char *p, size_t len) {
  int k = 0;
  for (const char *s = sizes; *s;) {
    while (*s == ' ') ++s;
    const char *e = s;
    while (*e && *e != ' ') ++e;
    if (e > s) {
      if ((size_t)(e - s) == len && strncmp(s, p, len) == 0) return iarg[k];
      ++k;
    }
    s = e;
  }
  return -1;
}

/* An element count: a sum of products of size names and integers ("m+1", "n*k"). -1 if malformed. */
static int64_t msp_eval_len(const char *p, const char *end, const char *sizes, const int64_t *iarg) {
  int64_t sum = 0, prod = 1;
  while (p < end) {
    const char *t = p;
    while (t < end && *t != '+' && *t != '*') ++t;
    int64_t v;
    if (*p >= '0' && *p <= '9') {
      v = 0;
      for (const char *q = p; q < t; ++q) v = v * 10 + (*q - '0');
    } else {
      v = msp_size_named(sizes, iarg, p, (size_t)(t - p));
      if (v < 0) return -1;
    }
    prod *= v;
    if (t == end || *t == '+') sum += prod, prod = 1;
    p = t < end ? t + 1 : t;
  }
  return sum;
}

static int msp_count_words(const char *s) {
  int k = 0;
  for (; *s; ++s)
    if (*s != ' ' && (s[1] == ' ' || s[1] == '\0')) ++k;
  return k;
}

/* Check (count, lengths) of a call's operands against an operand list; *count gets the count. */
static int msp_check_operands(const char *spec, const int64_t *len, int n, const char *sizes, const int64_t *iarg) {
  int k = 0;
  for (const char *s = spec; *s;) {
    const char *open = strchr(s, '['), *close = open ? strchr(open, ']') : NULL;
    if (close == NULL) break;
    if (k >= n || msp_eval_len(open + 1, close, sizes, iarg) != len[k]) return MSP_EINVAL;
    ++k;
    s = close + 1;
  }
  return k == n ? MSP_OK : MSP_EINVAL;
}

int msp_call_check(const msp_op_info *op, const msp_call *c) {
  const int ns = msp_count_words(op->sizes), nf = msp_count_words(op->flags);
  if (c == NULL || ns + nf > MSP_MAX_SCALARS || c->n_in < 0 || c->n_in > MSP_MAX_IO || c->n_out < 0 ||
      c->n_out > MSP_MAX_IO)
    return MSP_EINVAL;
  for (int k = 0; k < ns; ++k)
    if (c->iarg[k] < 0) return MSP_EINVAL;
  for (int k = ns; k < ns + nf; ++k)
    if (c->iarg[k] != 0 && c->iarg[k] != 1) return MSP_EINVAL;
  if (msp_check_operands(op->inputs, c->in_len, c->n_in, op->sizes, c->iarg) != MSP_OK ||
      msp_check_operands(op->outputs, c->out_len, c->n_out, op->sizes, c->iarg) != MSP_OK)
    return MSP_EINVAL;
  return MSP_OK;
}

int msp_call_init(msp_call *c, const char *name, const void *const *in, void *const *out,
                  const int64_t *sizes, const int64_t *flags) {
  const msp_kernel_entry *e = msp_find_entry(name);
  if (c == NULL || e == NULL) return MSP_EINVAL;
  memset(c, 0, sizeof *c);
  const int ns = msp_count_words(e->op->sizes), nf = msp_count_words(e->op->flags);
  if (ns + nf > MSP_MAX_SCALARS) return MSP_EINVAL;
  for (int k = 0; k < ns; ++k) c->iarg[k] = sizes[k];
  for (int k = 0; k < nf; ++k) c->iarg[ns + k] = flags[k];
  const char *specs[2] = {e->op->inputs, e->op->outputs};
  for (int side = 0; side < 2; ++side) {
    int k = 0;
    for (const char *s = specs[side]; (s = strchr(s, '[')) != NULL; ++k) {
      const char *close = strchr(s, ']');
      if (k >= MSP_MAX_IO || close == NULL) return MSP_EINVAL;
      const int64_t len = msp_eval_len(s + 1, close, e->op->sizes, c->iarg);
      if (side == 0) c->in[k] = in[k], c->in_len[k] = len;
      else c->out[k] = out[k], c->out_len[k] = len;
      s = close + 1;
    }
    if (side == 0) c->n_in = k;
    else c->n_out = k;
  }
  return MSP_OK;
}

const char *msp_status_string(int status) {
  switch (status) {
    case MSP_OK: return "ok";
    case MSP_EINVAL: return "inconsistent sizes or arguments";
    case MSP_ENOMEM: return "out of memory";
    case MSP_EINDEX: return "index out of range (malformed indptr or indices)";
    case MSP_EUNSUPPORTED: return "unsupported configuration";
    case MSP_ESINGULAR: return "singular matrix (a zero pivot) or not positive definite (a pivot <= 0)";
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

/* ---- per-thread scratch (parallel.h) ---------------------------------------------------------- */
static _Thread_local void *msp_scratch_buf[4];
static _Thread_local size_t msp_scratch_cap[4];

void *msp_scratch(int slot, size_t bytes) {
  if (slot < 0 || slot > 3) return NULL;
  if (bytes == 0) bytes = 1;
  if (bytes > MSP_SCRATCH_KEEP) return malloc(bytes); /* too large to keep: this call only */
  if (msp_scratch_cap[slot] < bytes) {
    free(msp_scratch_buf[slot]);
    size_t cap = bytes + bytes / 4;
    if (cap > MSP_SCRATCH_KEEP) cap = MSP_SCRATCH_KEEP;
    msp_scratch_buf[slot] = malloc(cap);
    msp_scratch_cap[slot] = msp_scratch_buf[slot] ? cap : 0;
  }
  return msp_scratch_buf[slot];
}

void msp_scratch_release(int slot, void *p) {
  if (slot >= 0 && slot <= 3 && p != msp_scratch_buf[slot]) free(p);
}
