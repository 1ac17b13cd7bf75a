// GPU constructor kernels: the Kronecker product of canonical CSR matrices. A warp per output row.
#include "common.cuh"

// kron(A, B) as CSR (see the C body): output row R = i * mb + k; its (lenA[i] * lenB[k]) entries are
// split over the warp's lanes, entry t of the row taking A's entry t / lenB and B's entry t % lenB.
// A malformed row or an output range that disagrees with the lengths writes nothing.
__device__ void kron_rows(const IT* __restrict__ aptr, const IT* __restrict__ aind, const VT* __restrict__ adata,
                          const IT* __restrict__ bptr, const IT* __restrict__ bind, const VT* __restrict__ bdata,
                          const IT* __restrict__ optr, IT* __restrict__ oind, VT* __restrict__ odata, long long ma,
                          long long nb, long long nnza, long long mb, long long nnzb, long long nnz2) {
  const long long rows = ma * mb, warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long R = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; R < rows; R += warps) {
    const long long i = R / mb, k = R - i * mb;
    const long long as = (long long)aptr[i], ae = (long long)aptr[i + 1], bs = (long long)bptr[k], be = (long long)bptr[k + 1];
    const long long p = (long long)optr[R], pe = (long long)optr[R + 1];
    // each range checked before its length is formed: be - bs of wild values could wrap to a valid
    // length (found by compute-sanitizer on int64 pointers holding the type's extremes)
    if (as < 0 || ae < as || ae > nnza || bs < 0 || be < bs || be > nnzb || p < 0 || pe < p || pe > nnz2) continue;
    const long long lb = be - bs;
    if ((ae - as) * lb != pe - p) continue;
    for (long long t = lane; t < pe - p; t += 32) {
      const long long ja = as + t / lb, jb = bs + t % lb;
      oind[p + t] = (IT)((long long)aind[ja] * nb + (long long)bind[jb]);
      st(odata + p + t, mul(ld(adata + ja), ld(bdata + jb)));
    }
  }
}

MSP_ENTRY0(construct, kron, __launch_bounds__(256),
           kron_rows(aptr, aind, adata, bptr, bind, bdata, optr, oind, odata, ma, nb, nnza, mb, nnzb, nnz2))
