// GPU entry selection: dense -> CSR (fromdense), CSR -> CSR subsets (eliminate_zeros, tril, triu) and
// indexing (row and column gathers, entry lookups).
// A warp per row; fills compact the kept entries in order with a ballot per 32 entries.
#include "common.cuh"

__device__ __forceinline__ float mag(float a) { return fabsf(a); }
__device__ __forceinline__ float mag(float2 a) { return hypotf(a.x, a.y); }
// |v| > |t|; NaN is kept (as on the CPU)
__device__ __forceinline__ bool keep_dense(AT v, AT t) { return !(mag(v) <= mag(t)); }

// the warp's sum of an int (all lanes get it)
__device__ __forceinline__ long long warp_count(long long v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

#define MSP_WARP_ROWS(r)                                                                          \
  const int lane = threadIdx.x % 32;                                                              \
  const long long warps = (long long)gridDim.x * blockDim.x / 32;                                \
  for (long long r = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < m; r += warps)

// counts[r] = #{c : |D[r, c]| > |thr|}. in: dense[m*n], thr[1]; out: counts[m]; sizes m, n.
__device__ void dense_count(const VT* __restrict__ dense, const VT* __restrict__ thr, IT* __restrict__ counts,
                            long long m, long long n) {
  const AT t = ld(thr);
  MSP_WARP_ROWS(r) {
    long long k = 0;
    for (long long j = lane; j < n; j += 32) k += keep_dense(ld(dense + r * n + j), t);
    k = warp_count(k);
    if (lane == 0) counts[r] = (IT)k;
  }
}

// The kept entries of each row in column order: indices[p] = c, pos[p] = r * n + c. in: dense, thr,
// indptr[m+1]; out: indices[nnz], pos[nnz]; sizes m, n, nnz. Nothing is written outside a row's range.
__device__ void dense_fill(const VT* __restrict__ dense, const VT* __restrict__ thr, const IT* __restrict__ indptr,
                           IT* __restrict__ indices, IT* __restrict__ pos, long long m, long long n, long long nnz) {
  const AT t = ld(thr);
  MSP_WARP_ROWS(r) {
    long long p = (long long)indptr[r];
    const long long e = (long long)indptr[r + 1];
    if (p < 0 || e < p || e > nnz) continue;
    for (long long j0 = 0; j0 < n; j0 += 32) {
      const long long j = j0 + lane;
      const bool k = j < n && keep_dense(ld(dense + r * n + j), t);
      const unsigned mask = __ballot_sync(0xffffffffu, k);
      const long long q = p + __popc(mask & ((1u << lane) - 1u));
      if (k && q < e) indices[q] = (IT)j, pos[q] = (IT)(r * n + j);
      p += __popc(mask);
    }
  }
}

// kept: lo <= col < hi and (nonzero: v != 0) and (lower: col - r <= k) and (upper: col - r >= k), k = shift - m
#define MSP_SELECT_KEEP(r, col, v)                                                                      \
  ((col) >= lo && (col) < hi && (!nonzero || !is_zero(v)) && (!lower || (col) - (r) + m <= shift) && \
   (!upper || (col) - (r) + m >= shift))

// first position in [s, e) whose index is >= v (indices sorted there)
__device__ __forceinline__ long long lower_bound(const IT* __restrict__ x, long long s, long long e, long long v) {
  while (s < e) {
    const long long mid = s + (e - s) / 2;
    if ((long long)x[mid] < v) s = mid + 1;
    else e = mid;
  }
  return s;
}

// the kept columns of row r as one range [a, b) (every condition but nonzero)
__device__ __forceinline__ void kept_range(long long r, long long m, long long shift, long long lo, long long hi,
                                           bool lower, bool upper, long long* a, long long* b) {
  long long x = lo, y = hi;
  if (lower && r + shift - m + 1 < y) y = r + shift - m + 1;
  if (upper && r + shift - m > x) x = r + shift - m;
  *a = x, *b = y > x ? y : x;
}

// counts[r] = the kept entries of row r (0 for a malformed row). in: indptr, indices, data; out: counts[m].
// sorted without a nonzero test: two binary searches per row (every lane computes them).
__device__ void csr_count(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data,
                          IT* __restrict__ counts, long long m, long long nnz, long long shift, long long lo, long long hi,
                          bool nonzero, bool lower, bool upper, bool sorted) {
  MSP_WARP_ROWS(r) {
    const long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    long long k = 0;
    const bool ok = s >= 0 && e >= s && e <= nnz;
    if (sorted && !nonzero) {
      if (ok) {
        long long a, b;
        kept_range(r, m, shift, lo, hi, lower, upper, &a, &b);
        k = lower_bound(indices, s, e, b) - lower_bound(indices, s, e, a);
      }
    } else {
      if (ok)
        for (long long j = s + lane; j < e; j += 32) k += MSP_SELECT_KEEP(r, (long long)indices[j], ld(data + j));
      k = warp_count(k);
    }
    if (lane == 0) counts[r] = (IT)k;
  }
}

// The kept entries in storage order: out_indices[p] = indices[j] - lo, src[p] = j, out_data[p] = data[j]. in:
// indptr, indices, data, optr[m+1]; out: out_indices, src, out_data [nnz2]. Nothing is written outside a
// row's output range.
__device__ void csr_fill(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data,
                         const IT* __restrict__ optr, IT* __restrict__ out_indices, IT* __restrict__ src,
                         VT* __restrict__ out_data, long long m, long long nnz, long long nnz2, long long shift,
                         long long lo, long long hi, bool nonzero, bool lower, bool upper, bool sorted) {
  MSP_WARP_ROWS(r) {
    const long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    long long p = (long long)optr[r];
    const long long pe = (long long)optr[r + 1];
    if (s < 0 || e < s || e > nnz || p < 0 || pe < p || pe > nnz2) continue;
    if (sorted && !nonzero) {
      long long a, b;
      kept_range(r, m, shift, lo, hi, lower, upper, &a, &b);
      const long long ja = lower_bound(indices, s, e, a), jb = lower_bound(indices, s, e, b);
      if (jb - ja != pe - p) continue;
      for (long long k = lane; k < jb - ja; k += 32)
        out_indices[p + k] = (IT)((long long)indices[ja + k] - lo), src[p + k] = (IT)(ja + k), out_data[p + k] = data[ja + k];
      continue;
    }
    for (long long j0 = s; j0 < e; j0 += 32) {
      const long long j = j0 + lane;
      const bool k = j < e && MSP_SELECT_KEEP(r, (long long)indices[j], ld(data + j));
      const unsigned mask = __ballot_sync(0xffffffffu, k);
      const long long q = p + __popc(mask & ((1u << lane) - 1u));
      if (k && q < pe) out_indices[q] = (IT)((long long)indices[j] - lo), src[q] = (IT)j, out_data[q] = data[j];
      p += __popc(mask);
    }
  }
}

// the warp's exclusive prefix of a per-lane count, and (in total) its sum
__device__ __forceinline__ long long warp_exclusive(long long v, long long* total) {
  const int lane = threadIdx.x % 32;
  long long x = v;
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {
    const long long y = __shfl_up_sync(0xffffffffu, x, off);
    if (lane >= off) x += y;
  }
  *total = __shfl_sync(0xffffffffu, x, 31);
  return x - v;
}

// counts[i] = the length of row rows[i] (0 for a row id outside [0, m) or a decreasing indptr). A thread each.
__device__ void rows_count(const IT* __restrict__ indptr, const IT* __restrict__ rows, IT* __restrict__ counts, long long m,
                           long long r) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < r; i += (long long)gridDim.x * blockDim.x) {
    const long long row = (long long)rows[i];
    long long len = 0;
    if (row >= 0 && row < m) {
      const long long s = (long long)indptr[row], e = (long long)indptr[row + 1];
      if (s >= 0 && e >= s) len = e - s;  // checked first: e - s of wild values could wrap
    }
    counts[i] = (IT)len;
  }
}

// Row gather: output row i is input row rows[i] (storage order): out_indices[p] = indices[j], src[p] = j,
// out_data[p] = data[j].
// A warp per output row; a row id outside [0, m), a malformed row or an output range that disagrees with
// the row's length writes nothing.
__device__ void rows_gather(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data,
                            const IT* __restrict__ rows, const IT* __restrict__ optr, IT* __restrict__ out_indices,
                            IT* __restrict__ src, VT* __restrict__ out_data, long long m, long long nnz, long long r,
                            long long nnz2) {
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; i < r; i += warps) {
    const long long row = (long long)rows[i];
    if (row < 0 || row >= m) continue;
    const long long s = (long long)indptr[row], e = (long long)indptr[row + 1];
    const long long p = (long long)optr[i], pe = (long long)optr[i + 1];
    if (s < 0 || e < s || e > nnz || p < 0 || pe < p || pe > nnz2 || e - s != pe - p) continue;
    for (long long k = lane; k < e - s; k += 32)
      out_indices[p + k] = indices[s + k], src[p + k] = (IT)(s + k), out_data[p + k] = data[s + k];
  }
}

// Column gather counts: counts[r] = sum over row r's entries of cptr[c+1] - cptr[c] (the output columns
// taking input column c). Columns outside [0, n) count 0, as does a malformed row.
__device__ void cols_count(const IT* __restrict__ indptr, const IT* __restrict__ indices, const IT* __restrict__ cptr,
                           IT* __restrict__ counts, long long m, long long n, long long nnz) {
  MSP_WARP_ROWS(r) {
    const long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    long long k = 0;
    if (s >= 0 && e >= s && e <= nnz)
      for (long long j = s + lane; j < e; j += 32) {
        const long long c = (long long)indices[j];
        if (c >= 0 && c < n) k += (long long)cptr[c + 1] - (long long)cptr[c];
      }
    k = warp_count(k);
    if (lane == 0) counts[r] = (IT)k;
  }
}

// Column gather fill: for each entry j of row r (storage order) and each output column t = corder[k],
// k in [cptr[c], cptr[c+1]): out_indices[p] = t, src[p] = j, out_data[p] = data[j]. 32 entries at a time, placed by a warp scan of
// their output counts. Nothing is written outside the row's output range or read outside corder.
__device__ void cols_fill(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data,
                          const IT* __restrict__ cptr, const IT* __restrict__ corder, const IT* __restrict__ optr,
                          IT* __restrict__ out_indices, IT* __restrict__ src, VT* __restrict__ out_data, long long m,
                          long long n, long long nnz, long long q, long long nnz2) {
  MSP_WARP_ROWS(r) {
    const long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    long long p = (long long)optr[r];
    const long long pe = (long long)optr[r + 1];
    if (s < 0 || e < s || e > nnz || p < 0 || pe < p || pe > nnz2) continue;
    for (long long j0 = s; j0 < e; j0 += 32) {
      const long long j = j0 + lane;
      long long cs = 0, ce = 0;
      if (j < e) {
        const long long c = (long long)indices[j];
        if (c >= 0 && c < n) cs = (long long)cptr[c], ce = (long long)cptr[c + 1];
        if (cs < 0 || ce < cs || ce > q) cs = ce = 0;
      }
      long long total;
      long long o = p + warp_exclusive(ce - cs, &total);
      const VT v = j < e ? data[j] : VT{};
      for (long long k = cs; k < ce && o < pe; ++k, ++o) out_indices[o] = corder[k], src[o] = (IT)j, out_data[o] = v;
      p += total;
    }
  }
}

// Entry lookup in canonical CSR: pos[i] = the position of (rows[i], cols[i]) or -1. A thread per query,
// a binary search in its row; queries outside the matrix or malformed rows give -1.
__device__ void lookup(const IT* __restrict__ indptr, const IT* __restrict__ indices, const IT* __restrict__ rows,
                       const IT* __restrict__ cols, IT* __restrict__ pos, long long m, long long n, long long nnz,
                       long long q) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < q; i += (long long)gridDim.x * blockDim.x) {
    const long long row = (long long)rows[i], col = (long long)cols[i];
    long long found = -1;
    if (row >= 0 && row < m && col >= 0 && col < n) {
      long long lo = (long long)indptr[row], hi = (long long)indptr[row + 1];
      if (lo >= 0 && hi >= lo && hi <= nnz) {
        const long long j = lower_bound(indices, lo, hi, col);
        if (j < hi && (long long)indices[j] == col) found = j;
      }
    }
    pos[i] = (IT)found;
  }
}

MSP_ENTRY0(select, dense_count, __launch_bounds__(256), dense_count(dense, thr, counts, m, n))
MSP_ENTRY0(select, dense_fill, __launch_bounds__(256), dense_fill(dense, thr, indptr, indices, pos, m, n, nnz))
MSP_ENTRY0(select, csr_count, __launch_bounds__(256),
           csr_count(indptr, indices, data, counts, m, nnz, shift, lo, hi, nonzero, lower, upper, sorted))
MSP_ENTRY0(select, csr_fill, __launch_bounds__(256),
           csr_fill(indptr, indices, data, optr, out_indices, src, out_data, m, nnz, nnz2, shift, lo, hi, nonzero, lower, upper,
                    sorted))
MSP_ENTRY0(select, rows_count, __launch_bounds__(256), rows_count(indptr, rows, counts, m, r))
MSP_ENTRY0(select, rows, __launch_bounds__(256),
           rows_gather(indptr, indices, data, rows, optr, out_indices, src, out_data, m, nnz, r, nnz2))
MSP_ENTRY0(select, cols_count, __launch_bounds__(256), cols_count(indptr, indices, cptr, counts, m, n, nnz))
MSP_ENTRY0(select, cols_fill, __launch_bounds__(256),
           cols_fill(indptr, indices, data, cptr, corder, optr, out_indices, src, out_data, m, n, nnz, q, nnz2))
MSP_ENTRY0(select, lookup, __launch_bounds__(256), lookup(indptr, indices, rows, cols, pos, m, n, nnz, q))
