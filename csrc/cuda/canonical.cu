// GPU canonicalization: sum runs of equal (row, col) in entries sorted by (row, col).
#include "common.cuh"

// For each run start p (first entry or a new (row, col)), sum the run in order and write it at
// pos[p]. in: rows[k], cols[k], data[k], pos[k] (inclusive scan of run starts, minus one);
// out: indices[k2], data[k2], urows[k2]; sizes k, k2. (The C kernel canonical_sum_runs is its twin.)
template <class IT, class PT>
__device__ void sum_runs(const IT* __restrict__ rows, const IT* __restrict__ cols,
                              const VT* __restrict__ data, const PT* __restrict__ pos,
                              IT* __restrict__ oind, VT* __restrict__ oval, IT* __restrict__ orow,
                              long long k, long long k2) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < k; p += stride) {
    const IT r = rows[p], c = cols[p];
    if (p > 0 && rows[p - 1] == r && cols[p - 1] == c) continue;
    AT acc;
    zero(acc);
    long long q = p;
    for (; q < k && rows[q] == r && cols[q] == c; ++q) add_acc(acc, ld(data + q));
    const long long o = (long long)pos[p];
    if (o < 0 || o >= k2) continue;
    oind[o] = c;
    orow[o] = r;
    st(oval + o, acc);
  }
}

MSP_ENTRY0(canonical, sum_runs, , sum_runs<IT, IT>(rows, cols, data, pos, out_indices, out_data, out_rows, nnz, nnz2))
