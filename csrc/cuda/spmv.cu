// CSR SpMV on the GPU. Rows in tiles of 256/G; a tile whose row lengths are even runs G lanes per
// row (G = 1..32 by mean row length), a tile with uneven rows (power-law) is split by merge path so
// every thread takes the same share of rows + nonzeros.
#include "common.cuh"

// Positions, rows and columns are computed in the index type: int32 matrices have < 2^31 of each.
template <class T> struct Unsigned { typedef unsigned long long type; };
template <> struct Unsigned<int> { typedef unsigned int type; };

// acc += sum over j = j0, j0 + STEP, ... < e of data[j] * x[indices[j]], four elements per step
// with all their loads issued before the first use (latency hiding); NaN for a bad column.
template <int STEP, class IT>
__device__ __forceinline__ void row_dot(const IT* __restrict__ indices, const VT* __restrict__ data,
                                        const VT* __restrict__ x, IT j0, IT e,
                                        IT n, AT& acc) {
  for (IT j = j0; j < e; j += 4 * STEP) {
    IT c[4];
    AT v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const IT jj = j + (IT)u * STEP;
      c[u] = -1;
      if (jj < e) {
        c[u] = (IT)__ldg(indices + jj);
        v[u] = ld(data + jj);
      }
    }
    AT xv[4];
#pragma unroll
    for (int u = 0; u < 4; ++u)
      if ((typename Unsigned<IT>::type)c[u] < (typename Unsigned<IT>::type)n) xv[u] = ld(x + c[u]);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      if ((typename Unsigned<IT>::type)c[u] < (typename Unsigned<IT>::type)n) fma_acc(acc, v[u], xv[u]);
      else if (j + (IT)u * STEP < e) make_nan(acc);
    }
  }
}

// Merge items (row ends + nonzeros) per thread and pass of the merge-path tiles.
#ifndef MSP_MP_ITEMS
#define MSP_MP_ITEMS 8
#endif

// Shared memory of the kernel: merge-path staging and scan scratch, and the deferred long rows.
template <class IT, int B, int R> struct SpmvShared {
  IT end[R];                 // row ends relative to the tile's first nonzero
  AT row[R];                 // row results of a merge-path tile
  AT prod[B * MSP_MP_ITEMS];  // data[j] * x[indices[j]] of one pass
  AT scan_v[B / 32];
  int scan_f[B / 32];
  int nlong, lng[R];
  AT red[B / 32];
};

// Rows of a merge-path split: the largest i in [lo, hi] whose end precedes diagonal d (end[i-1] + i <= d).
template <class IT>
__device__ __forceinline__ int merge_rows(const IT* end, IT d, int lo, int hi) {
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (end[mid - 1] <= d - (IT)mid) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// y[row0 .. row0 + rt) of a tile with nt nonzeros from nz0, rows ends in sh.end (valid, nondecreasing).
// The tile's rt + nt merge items go in passes of B * ipt: the products of a pass are staged in shared
// memory with coalesced loads, each thread walks ipt items, and a segmented scan carries the partial
// sums of rows that cross threads (and passes). The order of every sum is fixed: deterministic.
template <int B, int R, class IT>
__device__ __forceinline__ void merge_tile(const IT* __restrict__ indices, const VT* __restrict__ data,
                           const VT* __restrict__ x, VT* __restrict__ y, IT row0, int rt, IT nz0,
                           IT nt, IT n, SpmvShared<IT, B, R>& sh) {
  typedef typename Unsigned<IT>::type UT;
  const IT total = (IT)rt + nt;
  AT carry;
  zero(carry);
  IT d0 = 0;
  int i0 = 0;  // rows ended before diagonal d0
  while (d0 < total) {
    const IT left = total - d0;
    const int ipt = left >= (IT)B * MSP_MP_ITEMS ? MSP_MP_ITEMS : (int)((left + B - 1) / B);
    const IT d1 = left > (IT)B * ipt ? d0 + (IT)B * ipt : total;
    const int i1 = merge_rows<IT>(sh.end, d1, d1 > nt ? (int)(d1 - nt) : 0, d1 < (IT)rt ? (int)d1 : rt);
    const IT n0 = d0 - i0, cnt = (d1 - i1) - n0;  // this pass's nonzeros: [n0, n0 + cnt)
    constexpr int S = 4;  // staging: S loads of a thread in flight before the first use
#pragma unroll
    for (int u0 = 0; u0 < MSP_MP_ITEMS; u0 += S) {
      IT c[S];
      AT v[S], xv[S];
#pragma unroll
      for (int u = 0; u < S; ++u) {
        const IT q = (IT)(threadIdx.x + (u0 + u) * B);
        c[u] = -1;
        if (q < cnt) {
          c[u] = (IT)__ldg(indices + nz0 + n0 + q);
          v[u] = ld(data + nz0 + n0 + q);
        }
      }
#pragma unroll
      for (int u = 0; u < S; ++u)
        if ((UT)c[u] < (UT)n) xv[u] = ld(x + c[u]);
#pragma unroll
      for (int u = 0; u < S; ++u) {
        const int q = threadIdx.x + (u0 + u) * B;
        if ((IT)q < cnt) {
          AT p;
          zero(p);
          if ((UT)c[u] < (UT)n) fma_acc(p, v[u], xv[u]);
          else make_nan(p);
          sh.prod[q] = p;
        }
      }
    }
    __syncthreads();
    const IT d = (IT)threadIdx.x * ipt < d1 - d0 ? d0 + (IT)threadIdx.x * ipt : d1;
    int i = merge_rows<IT>(sh.end, d, d > nt ? (int)(d - nt) : 0, d < (IT)rt ? (int)d : rt);
    IT j = d - i;
    AT acc, first_acc;
    zero(acc);
    zero(first_acc);
    int first = -1;
#pragma unroll
    for (int u = 0; u < MSP_MP_ITEMS; ++u) {
      if (u < ipt && (IT)u < d1 - d) {
        if (j < sh.end[i]) {
          add_acc(acc, sh.prod[j - n0]);
          ++j;
        } else {  // row i ends here
          if (first < 0) first = i, first_acc = acc;
          else sh.row[i] = acc;
          zero(acc);
          ++i;
        }
      }
    }
    AT pass_total;
    const AT in = seg_scan_excl<B>(acc, first >= 0, carry, sh.scan_v, sh.scan_f, pass_total);
    if (first >= 0) {  // the first row this thread ends began in an earlier thread or pass
      add_acc(first_acc, in);
      sh.row[first] = first_acc;
    }
    carry = pass_total;
    d0 = d1;
    i0 = i1;
  }
  __syncthreads();
  for (int r = threadIdx.x; r < rt; r += B) st(y + row0 + r, sh.row[r]);
}

// y = A x for rows in tiles of B/G. A tile of even rows runs G lanes per row; a row longer than
// G*32 is summed by the whole block after the tile's short rows. A tile with a row longer than
// twice its mean plus G (mode 0; mode 1: never, 2: always) runs merge_tile. Rows with bad offsets
// give NaN (and keep their tile off the merge path). Deterministic (fixed reduction order).
// in: indptr[m+1], indices[nnz], data[nnz], x[n]; out: y[m]; scalars: m, n, nnz as (lo, hi), mode.
template <class IT, int G>
__device__ void spmv_csr(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                         const VT* __restrict__ data, const VT* __restrict__ x, VT* __restrict__ y,
                         IT m, IT n, IT nnz, int mode) {
  constexpr int B = 256, R = B / G, LIMIT = G < 4 ? 128 : G * 32;
  __shared__ SpmvShared<IT, B, R> sh;
  const int lane = threadIdx.x % G, grp = threadIdx.x / G;
  for (IT base = (IT)blockIdx.x * R; base < m; base += (IT)gridDim.x * R) {
    if (threadIdx.x == 0) sh.nlong = 0;
    const IT row = base + grp;
    const int rt = m - base < (IT)R ? (int)(m - base) : R;
    IT s = 0, e = 0;
    bool bad = false;
    if (row < m) {
      s = (IT)indptr[row], e = (IT)indptr[row + 1];
      bad = s < 0 || e < s || e > nnz;
    }
    bool merge = false;
    if (mode != 1 && !__syncthreads_or(bad)) {
      const IT t0 = (IT)indptr[base], nt = (IT)indptr[base + rt] - t0;
      if (row < m && lane == 0) sh.end[grp] = e - t0;
      // (the merge coordinates rt + nt + one pass must fit the index type)
      const bool fits = nt < (IT)((~(typename Unsigned<IT>::type)0 >> 1) - 2 * B * MSP_MP_ITEMS);
      merge = __syncthreads_or(fits && (mode == 2 || (row < m && (long long)(e - s - G) * rt > 2 * (long long)nt)));
      if (merge) merge_tile<B, R, IT>(indices, data, x, y, base, rt, t0, nt, n, sh);
    } else {
      __syncthreads();
    }
    if (!merge) {
      AT acc;
      zero(acc);
      bool own = false;
      if (row < m) {
        if (bad) {
          own = true;
          if (lane == 0) make_nan(acc);
        } else if (e - s > LIMIT) {
          if (lane == 0) sh.lng[atomicAdd(&sh.nlong, 1)] = grp;
        } else {
          own = true;
          row_dot<G, IT>(indices, data, x, s + lane, e, n, acc);
        }
      }
      acc = group_sum<G>(acc);
      if (own && lane == 0) st(y + row, acc);
      __syncthreads();
      const int nl = sh.nlong;
      for (int k = 0; k < nl; ++k) {
        const IT r = base + sh.lng[k];
        const IT rs = (IT)indptr[r], re = (IT)indptr[r + 1];
        AT a;
        zero(a);
        row_dot<B, IT>(indices, data, x, rs + threadIdx.x, re, n, a);
        a = block_sum<B>(a, sh.red);
        if (threadIdx.x == 0) st(y + r, a);
      }
    }
    __syncthreads();
  }
}

#ifndef MSP_SPMV_MINB  // blocks per SM the kernel is built for (registers: 65536 / (256 * MINB))
#define MSP_SPMV_MINB(IT) (sizeof(IT) + sizeof(VT) > 8 ? 6 : 8)
#endif
#define MSP_SPMV(IT, INAME, G)                                                                   \
  extern "C" __global__ void __launch_bounds__(256, MSP_SPMV_MINB(IT))       \
      MSP_CAT(MSP_KNAME(spmv, csr, VNAME, INAME), _g##G)(                                        \
          const IT* indptr, const IT* indices, const VT* data, const VT* x, VT* y, int m_lo,      \
          int m_hi, int n_lo, int n_hi, int nnz_lo, int nnz_hi, int mode) {                      \
    spmv_csr<IT, G>(indptr, indices, data, x, y, msp_join(m_lo, m_hi), msp_join(n_lo, n_hi),     \
                    msp_join(nnz_lo, nnz_hi), mode);                                             \
  }
// One module per lane count (MSP_SPMV_G), since MLX hashes a module's bytes at every launch.
#ifndef MSP_SPMV_G
#define MSP_SPMV_G 1
#endif
#if defined(MSP_ALL_LANES)  // every lane count in one unit (the CUDA harness)
#define MSP_SPMV_ALL(IT, INAME) \
  MSP_SPMV(IT, INAME, 1) MSP_SPMV(IT, INAME, 2) MSP_SPMV(IT, INAME, 4) MSP_SPMV(IT, INAME, 8) \
  MSP_SPMV(IT, INAME, 16) MSP_SPMV(IT, INAME, 32)
#else
#define MSP_SPMV_EXPAND(IT, INAME, G) MSP_SPMV(IT, INAME, G)  // expands MSP_SPMV_G before pasting
#define MSP_SPMV_ALL(IT, INAME) MSP_SPMV_EXPAND(IT, INAME, MSP_SPMV_G)
#endif
#if defined(MSP_IT_I32)
MSP_SPMV_ALL(int, i32)
#else
MSP_SPMV_ALL(long long, i64)
#endif
