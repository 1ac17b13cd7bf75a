/* libFuzzer harness for one C kernel family (MSP_FUZZ_FAMILY, set at build time): every record is
 * decoded into a call of one of the family's CPU kernels through its checked entry point, exactly as
 * the Python layer passes buffers with validate=False. The contract under test: whatever the record
 * holds, the kernel returns a status (MSP_OK or an error code) and never reads or writes outside
 * its buffers, never trips UBSan, never hangs. Each operand is its own allocation of exactly the
 * length the op's table entry gives, so ASan sees any access past it.
 *
 * Record layout (missing bytes read as 0):
 *   op selector, type pair, mode bits, nthreads, then one byte per size, one per flag, then the
 *   operands' contents. Mode bit 0: index pointers ("...ptr" inputs) are non-decreasing from 0 to
 *   a size of the op (else raw); bit 1: other index inputs lie in [0, bound] (else raw, negatives
 *   and huge values included); bit 2: corrupt one index entry afterwards. Sizes are small (0..47)
 *   so a record runs in microseconds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_sparse/msp.h"

#ifndef MSP_FUZZ_FAMILY
#error "define MSP_FUZZ_FAMILY, e.g. -DMSP_FUZZ_FAMILY=\"spmv\""
#endif

typedef struct {
  const uint8_t *p;
  size_t n, at;
} reader;

static uint8_t rd8(reader *r) { return r->at < r->n ? r->p[r->at++] : 0; }
static uint64_t rd64(reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= (uint64_t)rd8(r) << (8 * i);
  return v;
}

enum { MAX_OPS = 32, MAX_WORDS = MSP_MAX_SCALARS };

/* The family's CPU ops (those with a registered C kernel). */
static const msp_op_info *fam_ops[MAX_OPS];
static int n_fam_ops = -1;

static void find_ops(void) {
  n_fam_ops = 0;
  char name[128];
  for (const msp_op_info *o = msp_op_table(); o->family != NULL; ++o) {
    if (strcmp(o->family, MSP_FUZZ_FAMILY) != 0) continue;
    snprintf(name, sizeof name, "%s_%s_f32_i32", o->family, o->op);
    if (msp_find_kernel(name) != NULL && n_fam_ops < MAX_OPS) fam_ops[n_fam_ops++] = o;
  }
}

/* The words of a name list ("m n nnz"), up to MAX_WORDS. */
static int words(const char *s, char out[][24]) {
  int k = 0;
  while (*s && k < MAX_WORDS) {
    while (*s == ' ') ++s;
    int len = 0;
    while (s[len] && s[len] != ' ') ++len;
    if (len == 0) break;
    snprintf(out[k++], 24, "%.*s", len < 23 ? len : 23, s);
    s += len;
  }
  return k;
}

/* Operand specs "name:T[len]": name and type letter of operand k. */
static int operand(const char *spec, int k, char *name, char *type) {
  for (int i = 0; *spec; ++i) {
    while (*spec == ' ') ++spec;
    const char *colon = strchr(spec, ':'), *close = colon ? strchr(colon, ']') : NULL;
    if (close == NULL) return 0;
    if (i == k) {
      snprintf(name, 24, "%.*s", (int)(colon - spec) < 23 ? (int)(colon - spec) : 23, spec);
      *type = colon[1];
      return 1;
    }
    spec = close + 1;
  }
  return 0;
}

static const char *VT[5] = {"f32", "f64", "f16", "bf16", "c64"};
static const size_t VSZ[5] = {4, 8, 2, 2, 8};

static size_t elem_size(char type, int vt, int it) {
  switch (type) {
    case 'I': return it ? 8 : 4;
    case 'D': return 2;
    default: return VSZ[vt]; /* V, and A (the value type on the CPU) */
  }
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void put_index(void *buf, int it, int64_t i, int64_t v) {
  if (it) ((int64_t *)buf)[i] = v;
  else ((int32_t *)buf)[i] = (int32_t)v;
}

/* The size an index pointer ends at: the one whose name matches its prefix (indptr -> nnz,
 * aptr -> nnza, bptr -> nnzb), else the first size named nnz-something. */
static int64_t ptr_end(const char *name, char sz_names[][24], const int64_t *sizes, int ns) {
  char want[24] = "nnz";
  if (name[0] == 'a' || name[0] == 'b') snprintf(want, sizeof want, "nnz%c", name[0]);
  for (int k = 0; k < ns; ++k)
    if (strcmp(sz_names[k], want) == 0) return sizes[k];
  for (int k = 0; k < ns; ++k)
    if (strncmp(sz_names[k], "nnz", 3) == 0) return sizes[k];
  return ns ? sizes[ns - 1] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (n_fam_ops < 0) find_ops();
  if (n_fam_ops == 0) return 0;
  reader r = {data, size, 0};
  const msp_op_info *op = fam_ops[rd8(&r) % n_fam_ops];
  const int pair = rd8(&r) % 10, vt = pair / 2, it = pair % 2;
  const int mode = rd8(&r);
  const int nthreads = 1 + rd8(&r) % 4;
  char name[128];
  snprintf(name, sizeof name, "%s_%s_%s_%s", op->family, op->op, VT[vt], it ? "i64" : "i32");
  if (msp_find_kernel(name) == NULL) return 0;

  char sz_names[MAX_WORDS][24], fl_names[MAX_WORDS][24];
  const int ns = words(op->sizes, sz_names), nf = words(op->flags, fl_names);
  int64_t sizes[MAX_WORDS], flags[MAX_WORDS], bound = 0;
  for (int k = 0; k < ns; ++k) {
    sizes[k] = rd8(&r) % 48;
    if (sizes[k] > bound) bound = sizes[k];
  }
  for (int k = 0; k < nf; ++k) flags[k] = rd8(&r) & 1;

  /* lengths from the table (msp_call_init evaluates them), then exact-size buffers */
  const void *no_in[MSP_MAX_IO] = {0};
  void *no_out[MSP_MAX_IO] = {0};
  msp_call c;
  if (msp_call_init(&c, name, no_in, no_out, sizes, flags) != MSP_OK) abort();
  void *bufs[2 * MSP_MAX_IO] = {0};
  for (int side = 0; side < 2; ++side) {
    const int n = side ? c.n_out : c.n_in;
    for (int k = 0; k < n; ++k) {
      char oname[24], type;
      if (!operand(side ? op->outputs : op->inputs, k, oname, &type)) abort();
      const int64_t len = side ? c.out_len[k] : c.in_len[k];
      const size_t es = elem_size(type, vt, it), bytes = (size_t)len * es;
      uint8_t *b = malloc(bytes ? bytes : 1);
      if (b == NULL) abort();
      if (side) {
        memset(b, 0xA5, bytes); /* outputs arrive uninitialized */
        c.out[k] = b;
      } else if (type == 'I' && ends_with(oname, "ptr") && (mode & 1)) {
        /* a plausible index pointer: non-decreasing steps from 0, ending at its size */
        const int64_t end = ptr_end(oname, sz_names, sizes, ns);
        int64_t v = 0;
        for (int64_t i = 0; i < len; ++i) {
          if (i == len - 1) v = end;
          else if (i > 0) v += rd8(&r) % 4;
          if (v > end) v = end;
          put_index(b, it, i, v);
        }
        c.in[k] = b;
      } else if (type == 'I' && (mode & 2)) {
        for (int64_t i = 0; i < len; ++i) put_index(b, it, i, (int64_t)(rd8(&r) % (uint64_t)(bound + 1)));
        c.in[k] = b;
      } else {
        for (size_t i = 0; i < bytes; ++i) b[i] = rd8(&r);
        c.in[k] = b;
      }
      if (!side && type == 'I' && (mode & 4) && len > 0) { /* one corrupt entry */
        const int64_t at = (int64_t)(rd64(&r) % (uint64_t)len);
        const int64_t bad[4] = {-1, bound + 1, INT32_MIN, INT32_MAX};
        put_index(b, it, at, bad[rd8(&r) % 4]);
      }
      bufs[side * MSP_MAX_IO + k] = b;
    }
  }
  c.nthreads = nthreads;
  const int st = msp_find_kernel(name)(&c);
  if (st < MSP_OK || st > MSP_ESINGULAR) {
    fprintf(stderr, "%s returned an unknown status %d\n", name, st);
    abort();
  }
  for (int i = 0; i < 2 * MSP_MAX_IO; ++i) free(bufs[i]);
  return 0;
}
