/* A stable sort of one row's (index, value) pairs, shared by the canonical and convert bodies (included
 * by them once per (VT, IT)). */

/* Stable sort of (ind, val)[0..len) by ind; scratch holds len indices and values. */
static void NAME(sort_row)(IT *ind, VT *val, int64_t len, IT *sind, VT *sval) {
  if (len <= 24) { /* insertion sort */
    for (int64_t i = 1; i < len; ++i) {
      IT k = ind[i];
      VT v = val[i];
      int64_t j = i - 1;
      while (j >= 0 && ind[j] > k) {
        ind[j + 1] = ind[j];
        val[j + 1] = val[j];
        --j;
      }
      ind[j + 1] = k;
      val[j + 1] = v;
    }
    return;
  }
  /* bottom-up merge sort, ping-ponging between the row and the scratch */
  IT *a = ind, *b = sind;
  VT *av = val, *bv = sval;
  for (int64_t w = 1; w < len; w *= 2) {
    for (int64_t lo = 0; lo < len; lo += 2 * w) {
      int64_t mid = lo + w < len ? lo + w : len, hi = lo + 2 * w < len ? lo + 2 * w : len;
      int64_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (a[j] < a[i]) {
          b[k] = a[j];
          bv[k++] = av[j++];
        } else {
          b[k] = a[i];
          bv[k++] = av[i++];
        }
      }
      while (i < mid) {
        b[k] = a[i];
        bv[k++] = av[i++];
      }
      while (j < hi) {
        b[k] = a[j];
        bv[k++] = av[j++];
      }
    }
    IT *ti = a;
    a = b;
    b = ti;
    VT *tv = av;
    av = bv;
    bv = tv;
  }
  if (a != ind) {
    memcpy(ind, a, (size_t)len * sizeof(IT));
    memcpy(val, av, (size_t)len * sizeof(VT));
  }
}

