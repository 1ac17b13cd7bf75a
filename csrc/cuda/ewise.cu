// GPU elementwise kernels of two canonical CSR matrices of one shape (see the C bodies): a row of the
// result merges the two rows, their union (A + B, A - B, maximum, minimum) or their intersection
// (A * B). A thread per row; rows are short next to the launch, and neighbouring threads read
// neighbouring rows. Malformed rows count 0 and write nothing outside their output range.
#include "common.cuh"

__device__ __forceinline__ float re(float a) { return a; }
__device__ __forceinline__ float re(float2 a) { return a.x; }
__device__ __forceinline__ float neg(float a) { return -a; }
__device__ __forceinline__ float2 neg(float2 a) { return make_float2(-a.x, -a.y); }


// The merge of row r: emit(a position or -1, b position or -1, output position) for each output entry
// in column order; false when a range is malformed or the output range disagrees with the merge.
template <class F>
__device__ __forceinline__ bool merge_row(const IT* __restrict__ aptr, const IT* __restrict__ aind,
                                          const IT* __restrict__ bptr, const IT* __restrict__ bind, long long r,
                                          long long nnza, long long nnzb, long long o, long long oe, bool intersect,
                                          F emit) {
  const long long a0 = (long long)aptr[r], a1 = (long long)aptr[r + 1], b0 = (long long)bptr[r], b1 = (long long)bptr[r + 1];
  if (row_bad(a0, a1, nnza) || row_bad(b0, b1, nnzb)) return false;
  long long p = a0, q = b0;
  while (p < a1 || q < b1) {
    const IT x = p < a1 ? aind[p] : 0, y = q < b1 ? bind[q] : 0;
    const bool ta = p < a1 && (q >= b1 || x <= y), tb = q < b1 && (p >= a1 || y <= x);
    if (!intersect || (ta && tb)) {
      if (o >= oe) return false;
      emit(ta ? p : -1, tb ? q : -1, o);
      ++o;
    }
    p += ta, q += tb;
  }
  return o == oe;
}

__device__ void count(const IT* __restrict__ aptr, const IT* __restrict__ aind, const IT* __restrict__ bptr,
                      const IT* __restrict__ bind, IT* __restrict__ counts, long long m, long long nnza, long long nnzb,
                      bool intersect) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < m; r += stride) {
    long long c = 0;
    const bool ok = merge_row(aptr, aind, bptr, bind, r, nnza, nnzb, 0, 1LL << 62, intersect,
                              [&](long long, long long, long long) { ++c; });
    (void)ok;
    const long long a0 = (long long)aptr[r], a1 = (long long)aptr[r + 1], b0 = (long long)bptr[r], b1 = (long long)bptr[r + 1];
    counts[r] = (IT)(row_bad(a0, a1, nnza) || row_bad(b0, b1, nnzb) ? 0 : c);
  }
}

__device__ void fill(const IT* __restrict__ aptr, const IT* __restrict__ aind, const VT* __restrict__ adata,
                     const IT* __restrict__ bptr, const IT* __restrict__ bind, const VT* __restrict__ bdata,
                     const IT* __restrict__ optr, IT* __restrict__ oind, VT* __restrict__ odata, long long m,
                     long long nnza, long long nnzb, long long nnz2, bool intersect, bool negate, bool maximum,
                     bool minimum) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < m; r += stride) {
    const long long o = (long long)optr[r], oe = (long long)optr[r + 1];
    if (row_bad(o, oe, nnz2)) continue;
    merge_row(aptr, aind, bptr, bind, r, nnza, nnzb, o, oe, intersect, [&](long long x, long long y, long long at) {
      AT v, u, w;
      zero(u), zero(w);
      if (x >= 0) u = ld(adata + x);
      if (y >= 0) w = ld(bdata + y);
      if (intersect) {
        v = mul(u, w);
      } else if (maximum || minimum) {  // a missing side is 0; NaN wins, as NumPy
        const bool first = re(u) != re(u) || (maximum ? re(u) >= re(w) : re(u) <= re(w));
        v = first ? u : w;
      } else {
        v = u;
        add_acc(v, negate ? neg(w) : w);
      }
      oind[at] = x >= 0 ? aind[x] : bind[y];
      st(odata + at, v);
    });
  }
}

__device__ void sources(const IT* __restrict__ aptr, const IT* __restrict__ aind, const IT* __restrict__ bptr,
                        const IT* __restrict__ bind, const IT* __restrict__ optr, IT* __restrict__ sa,
                        IT* __restrict__ sb, long long m, long long nnza, long long nnzb, long long nnz2,
                        bool intersect) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < m; r += stride) {
    const long long o = (long long)optr[r], oe = (long long)optr[r + 1];
    if (row_bad(o, oe, nnz2)) continue;
    merge_row(aptr, aind, bptr, bind, r, nnza, nnzb, o, oe, intersect,
              [&](long long x, long long y, long long at) { sa[at] = (IT)x, sb[at] = (IT)y; });
  }
}

MSP_ENTRY0(ewise, count, __launch_bounds__(256), count(aptr, aind, bptr, bind, counts, m, nnza, nnzb, intersect))
MSP_ENTRY0(ewise, fill, __launch_bounds__(256),
           fill(aptr, aind, adata, bptr, bind, bdata, optr, out_indices, out_data, m, nnza, nnzb, nnz2, intersect, negate,
                maximum, minimum))
MSP_ENTRY0(ewise, sources, __launch_bounds__(256),
           sources(aptr, aind, bptr, bind, optr, sa, sb, m, nnza, nnzb, nnz2, intersect))
