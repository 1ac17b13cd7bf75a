// CSR SpMV on the GPU: groups of G lanes per row (G = 1..32 by mean row length), long rows deferred to the block.
#include "common.cuh"

// Positions, rows and columns are computed in the index type: int32 matrices have < 2^31 of each.

// acc += sum over j = j0, j0 + STEP, ... < e of data[j] * x[base + cols[j]], four elements per step
// with all their loads issued before the first use (latency hiding); NaN for a bad column. cols:
// the column indices (base 0), or 16-bit column offsets from the row (base = the row).
template <int STEP, class IT, class CT>
__device__ __forceinline__ void row_dot(const CT* __restrict__ cols, IT base, const VT* __restrict__ data,
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
        c[u] = base + (IT)__ldg(cols + jj);
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

// y = A x for rows in tiles of B/G; a row longer than G*32 is summed by the whole block after the
// tile's short rows, so power-law rows do not stall a group. Deterministic (fixed reduction order).
// in: indptr[m+1], cols[nnz] (indices, or int16 offsets column - row), data[nnz], x[n]; out: y[m];
// scalars: m, n, nnz as (lo, hi).
template <class IT, int G, class CT>
__device__ void spmv_csr(const IT* __restrict__ indptr, const CT* __restrict__ cols,
                         const VT* __restrict__ data, const VT* __restrict__ x, VT* __restrict__ y,
                         IT m, IT n, IT nnz) {
  constexpr bool OFFSETS = sizeof(CT) == 2;
  constexpr int B = 256, R = B / G, LIMIT = G < 4 ? 128 : G * 32;
  __shared__ int s_long[R];
  __shared__ int s_nlong;
  __shared__ AT s_red[B / 32];
  const int lane = threadIdx.x % G, grp = threadIdx.x / G;
  for (IT base = (IT)blockIdx.x * R; base < m; base += (IT)gridDim.x * R) {
    if (threadIdx.x == 0) s_nlong = 0;
    __syncthreads();
    const IT row = base + grp;
    AT acc;
    zero(acc);
    bool own = false;
    if (row < m) {
      IT s = (IT)indptr[row], e = (IT)indptr[row + 1];
      if (s < 0 || e < s || e > nnz) {
        own = true;
        if (lane == 0) make_nan(acc);
      } else if (e - s > LIMIT) {
        if (lane == 0) s_long[atomicAdd(&s_nlong, 1)] = grp;
      } else {
        own = true;
        row_dot<G, IT>(cols, OFFSETS ? row : (IT)0, data, x, s + lane, e, n, acc);
      }
    }
    acc = group_sum<G>(acc);
    if (own && lane == 0) st(y + row, acc);
    __syncthreads();
    const int nl = s_nlong;
    for (int k = 0; k < nl; ++k) {
      const IT r = base + s_long[k];
      const IT s = (IT)indptr[r], e = (IT)indptr[r + 1];
      AT a;
      zero(a);
      row_dot<B, IT>(cols, OFFSETS ? r : (IT)0, data, x, s + threadIdx.x, e, n, a);
      a = block_sum<B>(a, s_red);
      if (threadIdx.x == 0) st(y + r, a);
    }
    __syncthreads();
  }
}

// One module per lane count (the variant g<G>), since MLX hashes a module's bytes at every launch.
// 16-bit column offsets (banded structure; mlx_sparse keeps them after analyze()): 2 bytes per entry
// in place of 4 or 8. The indices stay an input of that kernel (the node's derivative rules read them).
#define MSP_SPMV_BOUNDS __launch_bounds__(256, sizeof(IT) + sizeof(VT) > 8 ? 6 : 8)
#define MSP_SPMV_LANES(G)                                                                     \
  MSP_ENTRY(spmv, csr, g##G, MSP_SPMV_BOUNDS, spmv_csr<IT, G>(indptr, indices, data, x, y, m, n, nnz)) \
  MSP_ENTRY(spmv, csr_d16, g##G, MSP_SPMV_BOUNDS, spmv_csr<IT, G>(indptr, deltas, data, x, y, m, n, nnz))
MSP_SPMV_LANES(1)
MSP_SPMV_LANES(2)
MSP_SPMV_LANES(4)
MSP_SPMV_LANES(8)
MSP_SPMV_LANES(16)
MSP_SPMV_LANES(32)

// ---- merge path over the whole matrix, for uneven rows ----------------------------------------
// Block b takes diagonals [b*T, (b+1)*T) of the merge of the m row ends with the nnz nonzeros, so
// every block has the same share of rows + nonzeros however the long rows cluster. Where each
// block starts depends on the structure only: coords[b] = the rows that end before diagonal b*T,
// i.e. #{i < m : indptr[i+1] + i < min(b*T, m + nnz)}, found once by the caller and kept with the
// matrix. Node 1 (spmv_csr_mp) writes the in-block sum of every row that ends in the block, and the
// partial sum of the row still open at the block's end (carry[b]); node 2 (spmv_csr_mpfix) adds to
// each row the carries of the blocks its entries crossed. Deterministic (fixed summation order).
#define MSP_MP_B MSP_GPU_BLOCK
#ifndef MSP_MP_ITEMS  // merge items per thread (bench A/B builds may override; the dispatcher plans MSP_MERGE_ITEMS)
#define MSP_MP_ITEMS (MSP_MERGE_ITEMS / MSP_MP_B)
#endif
#define MSP_MP_T (MSP_MP_B * MSP_MP_ITEMS)
#ifndef MSP_MP_S  // staging loads per thread in flight
#define MSP_MP_S 4
#endif

// in: indptr[m+1], indices[nnz], data[nnz], x[n], coords[nb+1]; out: y1[m] (AT), carry[nb] (AT);
// scalars m, n, nnz, nb (the table's: the length of carry, coords[nb + 1]; the blocks past
// min(nb, ceil((m + nnz) / T)) do nothing). A coords entry out of range or out of order gives NaN
// rows (those of [coords[b], coords[b+1]) clamped to [0, m)), not a fault.
template <class IT>
__device__ void spmv_csr_mp(const IT* __restrict__ indptr, const IT* __restrict__ indices,
                            const VT* __restrict__ data, const VT* __restrict__ x, const IT* __restrict__ coords,
                            AT* __restrict__ y1, AT* __restrict__ carry, long long m, long long n, long long nnz,
                            long long nb_len) {
  constexpr int B = MSP_MP_B, T = MSP_MP_T;
  __shared__ IT s_end[T];
  __shared__ AT s_prod[T];
  __shared__ AT s_scan_v[B / 32];
  __shared__ int s_scan_f[B / 32];
  typedef typename Unsigned<IT>::type UT;
  const long long total = m + nnz, nb_plan = (total + T - 1) / T, nb = nb_plan < nb_len ? nb_plan : nb_len;
  for (long long b = blockIdx.x; b < nb; b += gridDim.x) {
    const long long d0 = b * T, d1 = d0 + T < total ? d0 + T : total;
    const long long i0 = (long long)coords[b], i1 = (long long)coords[b + 1];
    // coords checked before any arithmetic on them (no overflow from a wild value)
    const bool coords_ok = i0 >= 0 && i1 >= i0 && i1 <= m;
    const long long j0 = coords_ok ? d0 - i0 : 0, j1 = coords_ok ? d1 - i1 : 0;  // nonzeros [j0, j1), rows [i0, i1)
    const long long nr = coords_ok ? i1 - i0 : 0, nz = j1 - j0;
    bool bad = !coords_ok || nz < 0 || nr > T || nz > T || j0 < 0 || j1 > nnz;
    if (!bad) {  // stage the row ends (and check them: nondecreasing, within [j0, j1])
      for (int k = threadIdx.x; k < nr; k += B) {
        const long long e = (long long)indptr[i0 + k + 1], s = (long long)indptr[i0 + k];
        bad |= e < j0 || e > j1 || s > e || s < 0;
        s_end[k] = (IT)e;
      }
      constexpr int S = MSP_MP_S;  // products of the block's nonzeros, S loads per thread in flight
#pragma unroll
      for (int u0 = 0; u0 < MSP_MP_ITEMS; u0 += S) {
        IT c[S];
        AT v[S], xv[S];
#pragma unroll
        for (int u = 0; u < S; ++u) {
          const int q = threadIdx.x + (u0 + u) * B;
          c[u] = -1;
          if (q < nz) {
            c[u] = (IT)__ldg(indices + j0 + q);
            v[u] = ld(data + j0 + q);
          }
        }
#pragma unroll
        for (int u = 0; u < S; ++u)
          if ((UT)c[u] < (UT)n) xv[u] = ld(x + c[u]);
#pragma unroll
        for (int u = 0; u < S; ++u) {
          const int q = threadIdx.x + (u0 + u) * B;
          if (q < nz) {
            AT p;
            zero(p);
            if ((UT)c[u] < (UT)n) fma_acc(p, v[u], xv[u]);
            else make_nan(p);
            s_prod[q] = p;
          }
        }
      }
    }
    if (__syncthreads_or(bad)) {  // not a valid CSR: every row this block would write is NaN
      AT nan;
      make_nan(nan);
      // the rows [i0, min(i1, i0 + T)) clamped to [0, m): as before for coords in range, and no
      // write outside y1 for wild ones
      const long long r0 = i0 < 0 ? 0 : i0 > m ? m : i0;
      long long r1 = i1 < r0 ? r0 : i1;
      if (r1 - r0 > T) r1 = r0 + T;
      if (r1 > m) r1 = m;
      for (long long r = r0 + threadIdx.x; r < r1; r += B) y1[r] = nan;
      if (threadIdx.x == 0) carry[b] = nan;
      __syncthreads();
      continue;
    }
    // this thread's diagonals [dt, dt + ITEMS): its rows ended so far, by binary search of s_end
    const long long dt = d0 + (long long)threadIdx.x * MSP_MP_ITEMS;
    int lo = 0, hi = (int)nr;
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if ((long long)s_end[mid] + i0 + mid < dt) lo = mid + 1;
      else hi = mid;
    }
    int k = lo;  // the open row is i0 + k
    long long j = dt - i0 - k;
    AT acc, first_acc;
    zero(acc);
    zero(first_acc);
    int first = -1;
#pragma unroll
    for (int u = 0; u < MSP_MP_ITEMS; ++u) {
      if (dt + u < d1) {
        if (k < nr && j >= (long long)s_end[k]) {  // row i0 + k ends
          if (first < 0) first = k, first_acc = acc;
          else y1[i0 + k] = acc;
          zero(acc);
          ++k;
        } else {
          if (j - j0 < nz) add_acc(acc, s_prod[j - j0]);
          ++j;
        }
      }
    }
    AT block_total, none;
    zero(none);
    const AT in = seg_scan_excl<B>(acc, first >= 0, none, s_scan_v, s_scan_f, block_total);
    if (first >= 0) {  // the first row this thread ends opened in an earlier thread (or block)
      add_acc(first_acc, in);
      y1[i0 + first] = first_acc;
    }
    if (threadIdx.x == 0) carry[b] = block_total;
    __syncthreads();
  }
}

// y[r] = carries of the blocks that row r's entries crossed + y1[r]; NaN for a row with bad offsets.
// in: indptr[m+1], indices, data, x (unused: they carry the product's derivative rules), y1[m],
// carry[nb]; out: y[m]; scalars m, nnz, nb (carry's length: a valid row never reaches it).
template <class IT>
__device__ void spmv_csr_mpfix(const IT* __restrict__ indptr, const AT* __restrict__ y1,
                               const AT* __restrict__ carry, VT* __restrict__ y, long long m, long long nnz,
                               long long nb) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x; r < m; r += stride) {
    const long long s = (long long)indptr[r], e = (long long)indptr[r + 1];
    AT a;
    zero(a);
    if (s < 0 || e < s || e > nnz) {
      make_nan(a);
    } else {
      const long long b1 = (e + r) / MSP_MP_T;
      for (long long bb = (s + r) / MSP_MP_T; bb < b1 && bb < nb; ++bb) add_acc(a, carry[bb]);
      add_acc(a, y1[r]);
    }
    st(y + r, a);
  }
}

#ifndef MSP_MP_MINB  // blocks per SM node 1 is built for (64 registers at 4)
#define MSP_MP_MINB 4
#endif
// Node 1 and node 2 are two ops (two modules, as MLX hashes a module at every launch).
MSP_ENTRY0(spmv, csr_mp, __launch_bounds__(MSP_MP_B, MSP_MP_MINB),
           spmv_csr_mp<IT>(indptr, indices, data, x, coords, part, carry, m, n, nnz, nb))
MSP_ENTRY0(spmv, csr_mpfix, __launch_bounds__(256), spmv_csr_mpfix<IT>(indptr, part, carry, y, m, nnz, nb))

#if defined(MSP_ALL_KERNELS) && defined(MSP_HOST_HELPERS)  // host side, for the CUDA harness: the plan mlx_sparse computes with numpy
#include <algorithm>
#include <vector>
// coords[b] = the rows i < m with indptr[i+1] + i < min(b*T, m + nnz), by binary search.
template <class IT> std::vector<IT> msp_merge_coords(const IT* indptr, long long m, long long nnz) {
  const long long nb = (m + nnz + MSP_MP_T - 1) / MSP_MP_T;
  std::vector<IT> c(nb + 1);
  for (long long b = 0; b <= nb; ++b) {
    const long long d = std::min(b * MSP_MP_T, m + nnz);
    long long lo = std::max(0LL, d - nnz), hi = std::min(d, m);
    while (lo < hi) {
      const long long mid = lo + (hi - lo) / 2;
      if ((long long)indptr[mid + 1] + mid < d) lo = mid + 1;
      else hi = mid;
    }
    c[b] = (IT)lo;
  }
  return c;
}
#endif

// ---- the fused conjugate-gradient iteration (see the C bodies in spmv_impl.h) --------------------
// cg_matvec: block b takes the rows [b R, (b+1) R), R = ceil(n / nb), in tiles of B/G rows of G lanes
// each (the SpMV above without the long-row deferral), and writes its chunk's sums |u_i|^2 and
// conj(u_i) w_i (block sums: fixed order, deterministic). Launched on exactly nb blocks.
__device__ __forceinline__ float conj_of(float a) { return a; }
__device__ __forceinline__ float2 conj_of(float2 a) { return make_float2(a.x, -a.y); }

template <int G>
__device__ void cg_matvec(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data,
                          const VT* __restrict__ u, VT* __restrict__ w, AT* __restrict__ part, long long n, long long nnz,
                          long long nb) {
  constexpr int B = 256, R = B / G;
  __shared__ AT s_red[B / 32];
  const int lane = threadIdx.x % G, grp = threadIdx.x / G;
  const long long chunk = nb > 0 ? (n + nb - 1) / nb : 0, b = blockIdx.x;
  if (b >= nb) return;
  const long long r0 = min(n, b * chunk), r1 = min(n, (b + 1) * chunk);
  AT uu, uw;
  zero(uu), zero(uw);
  for (long long base = r0; base < r1; base += R) {
    const long long row = base + grp;
    AT acc;
    zero(acc);
    if (row < r1) {
      const IT s = indptr[row], e = indptr[row + 1];
      if (s < 0 || e < s || (long long)e > nnz) {
        if (lane == 0) make_nan(acc);
      } else {
        row_dot<G, IT>(indices, (IT)0, data, u, s + (IT)lane, e, (IT)n, acc);
      }
    }
    acc = group_sum<G>(acc);
    if (row < r1 && lane == 0) {
      st(w + row, acc);
      const AT ui = ld(u + row), cu = conj_of(ui);
      fma_acc(uu, cu, ui);
      fma_acc(uw, cu, acc);
    }
  }
  uu = block_sum<B>(uu, s_red);
  uw = block_sum<B>(uw, s_red);
  if (threadIdx.x == 0) part[2 * b] = uu, part[2 * b + 1] = uw;
}

__device__ __forceinline__ float cdiv(float a, float b) { return a / b; }
__device__ __forceinline__ float2 cdiv(float2 a, float2 b) {
  const float den = b.x * b.x + b.y * b.y;
  return make_float2((a.x * b.x + a.y * b.y) / den, (a.y * b.x - a.x * b.y) / den);
}
__device__ __forceinline__ float csub(float a, float b) { return a - b; }
__device__ __forceinline__ float2 csub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }

// cg_update: every block sums the partials in the same order (the same gamma and delta everywhere),
// forms alpha and beta, and updates its share of the vectors (grid-stride); block 0 writes scal.
__device__ void cg_update(const AT* __restrict__ part, const AT* __restrict__ prev, const VT* __restrict__ u,
                          const VT* __restrict__ w, const VT* __restrict__ x, const VT* __restrict__ p,
                          const VT* __restrict__ s, VT* __restrict__ x2, VT* __restrict__ r2, VT* __restrict__ p2,
                          VT* __restrict__ s2, AT* __restrict__ scal, long long n, long long nb, bool first) {
  constexpr int B = 256;
  __shared__ AT s_red[B / 32];
  __shared__ AT s_ab[2];
  AT g, d;
  zero(g), zero(d);
  for (long long b = threadIdx.x; b < nb; b += B) add_acc(g, part[2 * b]), add_acc(d, part[2 * b + 1]);
  g = block_sum<B>(g, s_red);
  d = block_sum<B>(d, s_red);
  if (threadIdx.x == 0) {
    AT alpha, beta;
    if (first) {
      zero(beta);
      alpha = cdiv(g, d);
    } else {
      beta = cdiv(g, prev[0]);
      alpha = cdiv(g, csub(d, cdiv(mul(beta, g), prev[1])));
    }
    s_ab[0] = alpha, s_ab[1] = beta;
    if (blockIdx.x == 0) scal[0] = g, scal[1] = alpha;
  }
  __syncthreads();
  const AT alpha = s_ab[0], beta = s_ab[1];
  const long long stride = (long long)gridDim.x * B;
  for (long long i = (long long)blockIdx.x * B + threadIdx.x; i < n; i += stride) {
    const AT ui = ld(u + i);
    AT pi = ui, si = ld(w + i);
    fma_acc(pi, beta, ld(p + i));
    fma_acc(si, beta, ld(s + i));
    st(p2 + i, pi);
    st(s2 + i, si);
    AT xi = ld(x + i);
    fma_acc(xi, alpha, pi);
    st(x2 + i, xi);
    st(r2 + i, csub(ui, mul(alpha, si)));
  }
}

#define MSP_CG_LANES(G) MSP_ENTRY(spmv, cg_matvec, g##G, __launch_bounds__(256), \
                                  cg_matvec<G>(indptr, indices, data, u, w, part, n, nnz, nb))
MSP_CG_LANES(1)
MSP_CG_LANES(2)
MSP_CG_LANES(4)
MSP_CG_LANES(8)
MSP_CG_LANES(16)
MSP_CG_LANES(32)
MSP_ENTRY0(spmv, cg_update, __launch_bounds__(256),
           cg_update(part, prev, u, w, x, p, s, x2, r2, p2, s2, scal, n, nb, first))
