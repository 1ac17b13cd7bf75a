/* C tests of the AMG setup kernels: standard aggregation covers every non-isolated node once, each
 * aggregate is connected through strong edges, isolated nodes get -1; malformed input: EINDEX. */
#include "check.h"

static void agg_case(int vt, int it, int64_t m, int64_t n0, int64_t nnz, int threads) {
  (void)n0;
  const int64_t n = m;
  case_t tc = case_make(vt, it, n, n, nnz);
  void *ptr, *ind, *val; /* a symmetric pattern: A + A^T of the case */
  double *re = tc.dre, *im = tc.dim;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (re[i * n + j] != 0 || im[i * n + j] != 0) re[j * n + i] = re[i * n + j] ? re[i * n + j] : 1;
  const int64_t z = case_canonical(&tc, vt, it, n, n, &ptr, &ind, &val);
  void *agg = alloc(isize(it), n), *cnt = alloc(isize(it), 1);
  int st = run("amg_aggregate", vt, it, (const void *[]){ptr, ind}, (void *[]){agg, cnt}, (int64_t[]){n, z}, NULL, threads, NULL);
  const int64_t count = get_idx(it, cnt, 0);
  int ok = st == MSP_OK && count >= 0 && count <= n;
  int64_t *seen = calloc((size_t)count + 1, sizeof(int64_t));
  for (int64_t i = 0; i < n && ok; ++i) {
    const int64_t a = get_idx(it, agg, i);
    int64_t nb = 0;
    for (int64_t p = get_idx(it, ptr, i); p < get_idx(it, ptr, i + 1); ++p) nb += get_idx(it, ind, p) != i;
    if (nb == 0) {
      ok = a == -1;
      continue;
    }
    ok = a >= 0 && a < count;
    if (ok) {
      seen[a]++;
      int linked = 0; /* a node shares its aggregate with a strong neighbour, unless it is alone in it */
      for (int64_t p = get_idx(it, ptr, i); p < get_idx(it, ptr, i + 1); ++p)
        linked |= get_idx(it, ind, p) != i && get_idx(it, agg, get_idx(it, ind, p)) == a;
      int alone = 1;
      for (int64_t j = 0; j < n; ++j) alone &= j == i || get_idx(it, agg, j) != a;
      ok = linked || alone;
    }
  }
  for (int64_t a = 0; a < count && ok; ++a) ok = seen[a] > 0;
  CHECK(ok, "aggregate %s %s n=%lld count %lld status %d", VTS[vt], ITS[it], (long long)n, (long long)count, st);
  if (n > 1) {
    put_idx(it, ptr, 1, z + 3);
    st = run("amg_aggregate", vt, it, (const void *[]){ptr, ind}, (void *[]){agg, cnt}, (int64_t[]){n, z}, NULL, threads, NULL);
    CHECK(st == MSP_EINDEX, "aggregate malformed row pointer -> EINDEX (status %d)", st);
  }
  free(seen), free(ptr), free(ind), free(val), free(agg), free(cnt);
  case_free(&tc);
}

/* An asymmetric strength graph: node 1 is pulled into node 0's aggregate though it has no strong
 * neighbour of its own; it must stay there (not become isolated). Node 2 is isolated. */
static void asymmetric_case(int it) {
  void *ptr = alloc(isize(it), 4), *ind = alloc(isize(it), 1), *agg = alloc(isize(it), 3), *cnt = alloc(isize(it), 1);
  put_idx(it, ptr, 0, 0), put_idx(it, ptr, 1, 1), put_idx(it, ptr, 2, 1), put_idx(it, ptr, 3, 1), put_idx(it, ind, 0, 1);
  const int st = run("amg_aggregate", 0, it, (const void *[]){ptr, ind}, (void *[]){agg, cnt}, (int64_t[]){3, 1}, NULL, 1, NULL);
  CHECK(st == MSP_OK && get_idx(it, cnt, 0) == 1 && get_idx(it, agg, 0) == 0 && get_idx(it, agg, 1) == 0 &&
            get_idx(it, agg, 2) == -1,
        "aggregate asymmetric graph %s: agg %lld %lld %lld", ITS[it], (long long)get_idx(it, agg, 0),
        (long long)get_idx(it, agg, 1), (long long)get_idx(it, agg, 2));
  free(ptr), free(ind), free(agg), free(cnt);
}

int main(void) {
  asymmetric_case(0), asymmetric_case(1);
  const int64_t shapes[][2] = {{0, 0}, {1, 1}, {7, 12}, {40, 120}, {300, 900}};
  for (int vt = 0; vt < NVT; vt += 4)
    for (int it = 0; it < NIT; ++it)
      for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) agg_case(vt, it, shapes[s][0], 0, shapes[s][1], 1);
  return REPORT();
}
