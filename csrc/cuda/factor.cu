// GPU factorization kernels (see the C bodies in factor_impl.h): triangular solves, ILU(0) and IC(0),
// synchronization-free. A warp takes the next row from a global counter (rows in dependency order:
// 0, 1, ... for a lower triangle, n-1, n-2, ... for an upper one), waits until each row its row
// depends on is marked done (an acquire load of that row's state), computes its row and marks it done
// (a release store). A row only waits on rows taken before it, by warps that are running, so the
// kernel cannot deadlock whatever the launch size; no analysis pass is needed and nothing is reused
// between calls but the structure itself.
//
// state[n + 1] (zeroed at launch): state[i] for row i is 0 pending, 1 done, 2 done with a zero or
// missing pivot (singular), 3 done but malformed (a row range or an index out of bounds, unsorted or
// duplicate entries where the kernel needs sorted rows); state[n] is the row counter. A malformed row
// writes NaN (the solve: it reaches every row depending on it, as the other GPU kernels mark bad
// rows) or zeros (the factorizations, whose state the caller checks), never reads or writes outside
// its buffers, and still marks itself done, so rows that depend on it finish. The Python side reads the largest state once (the factorizations' setup
// synchronizes anyway) and raises; the triangular solve's caller checks the diagonal beforehand.
#include "common.cuh"

// Values another warp wrote during this kernel: read through L2 (L1 is not coherent across SMs).
__device__ __forceinline__ float ldcg(const float* p) { return __ldcg(p); }
__device__ __forceinline__ float2 ldcg(const float2* p) { return __ldcg(p); }
__device__ __forceinline__ float ldcg(const __half* p) {
  return __half2float(__ushort_as_half(__ldcg(reinterpret_cast<const unsigned short*>(p))));
}
__device__ __forceinline__ float ldcg(const __nv_bfloat16* p) {
  return __bfloat162float(__ushort_as_bfloat16(__ldcg(reinterpret_cast<const unsigned short*>(p))));
}
// This warp's own row (written by its lanes, ordered by __syncwarp): a plain load.
__device__ __forceinline__ float ldw(const float* p) { return *p; }
__device__ __forceinline__ float2 ldw(const float2* p) { return *p; }
__device__ __forceinline__ float ldw(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float ldw(const __nv_bfloat16* p) { return __bfloat162float(*p); }

__device__ __forceinline__ int ld_acquire(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ long long ld_acquire(const long long* p) {
  long long v;
  asm volatile("ld.acquire.gpu.global.s64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_release(int* p, int v) {
  asm volatile("st.release.gpu.global.s32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void st_release(long long* p, long long v) {
  asm volatile("st.release.gpu.global.s64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ long long take(int* p) { return atomicAdd(p, 1); }
__device__ __forceinline__ long long take(long long* p) {
  return (long long)atomicAdd(reinterpret_cast<unsigned long long*>(p), 1ull);
}

// The next row index of this warp (the same in every lane).
__device__ __forceinline__ long long next_row(IT* counter) {
  long long t = 0;
  if ((threadIdx.x & 31) == 0) t = take(counter);
  return __shfl_sync(0xffffffffu, t, 0);
}

// Wait until row j is done; its state (1, 2 or 3). One lane calls; the caller orders its warp after.
__device__ __forceinline__ long long wait_done(const IT* state, long long j) {
  long long v;
  while ((v = (long long)ld_acquire(state + j)) == 0) __nanosleep(32);
  return v;
}

// Row j's state once it is done, in every lane (lane 0 waits; the others are ordered after its acquire).
__device__ __forceinline__ long long warp_wait_done(const IT* state, long long j) {
  long long v = 0;
  if ((threadIdx.x & 31) == 0) v = wait_done(state, j);
  v = __shfl_sync(0xffffffffu, v, 0);
  __syncwarp();
  __threadfence();
  return v;
}

// Mark row i done (3 malformed, 2 singular, 1 done) after every lane's writes of the row.
__device__ __forceinline__ void publish_row(IT* state, long long i, bool bad, bool sing) {
  __syncwarp();
  if ((threadIdx.x & 31) == 0) {
    __threadfence();
    st_release(state + i, (IT)(bad ? 3 : sing ? 2 : 1));
  }
}

// Zeros over a malformed row's entries (nothing when its range is not inside [0, nnz)).
__device__ __forceinline__ void zero_row(VT* v, long long s, long long e, long long nnz) {
  if (row_bad(s, e, nnz)) return;
  for (long long p = s + (threadIdx.x & 31); p < e; p += 32) {
    AT z;
    zero(z);
    st(v + p, z);
  }
}

__device__ __forceinline__ float sub(float a, float b) { return a - b; }
__device__ __forceinline__ float2 sub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }
__device__ __forceinline__ float dvd(float a, float b) { return a / b; }
__device__ __forceinline__ float2 dvd(float2 a, float2 b) {
  const float den = b.x * b.x + b.y * b.y;
  return make_float2((a.x * b.x + a.y * b.y) / den, (a.y * b.x - a.x * b.y) / den);
}
__device__ __forceinline__ float cj(float a) { return a; }
__device__ __forceinline__ float2 cj(float2 a) { return make_float2(a.x, -a.y); }
__device__ __forceinline__ float real(float a) { return a; }
__device__ __forceinline__ float real(float2 a) { return a.x; }
__device__ __forceinline__ float abs2(float a) { return a * a; }
__device__ __forceinline__ float abs2(float2 a) { return a.x * a.x + a.y * a.y; }
__device__ __forceinline__ void set_real(float& a, float r) { a = r; }
__device__ __forceinline__ void set_real(float2& a, float r) { a = make_float2(r, 0.f); }

__device__ __forceinline__ float bcast0(float a) { return __shfl_sync(0xffffffffu, a, 0); }
__device__ __forceinline__ float2 bcast0(float2 a) {
  return make_float2(__shfl_sync(0xffffffffu, a.x, 0), __shfl_sync(0xffffffffu, a.y, 0));
}


// The position of column c in the sorted entries [lo, hi) of ind, or -1.
__device__ __forceinline__ long long find(const IT* __restrict__ ind, long long lo, long long hi, long long c) {
  while (lo < hi) {
    const long long mid = lo + (hi - lo) / 2;
    const long long v = (long long)ind[mid];
    if (v == c) return mid;
    if (v < c) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

// Lanes check a row [s, e): every column in [0, limit] (limit n - 1 when unsorted rows are allowed),
// and strictly increasing when `sorted`. True in every lane when the row is well formed.
__device__ __forceinline__ bool row_ok(const IT* __restrict__ ind, long long s, long long e, long long limit,
                                       bool sorted) {
  bool ok = true;
  for (long long p = s + (threadIdx.x & 31); p < e; p += 32) {
    const long long j = (long long)ind[p];
    ok &= j >= 0 && j <= limit && (!sorted || p == s || (long long)ind[p - 1] < j);
  }
  return __all_sync(0xffffffffu, ok);
}

// x = T^-1 b (T: the lower or upper triangle of the CSR matrix with its diagonal, duplicates summed;
// unit: a diagonal of ones, stored diagonal entries ignored), b and x n x k row-major. Up to 16
// right-hand sides, the lanes share a row's entries; more, each lane takes columns of x.
__device__ void trisolve(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data,
                         const VT* __restrict__ b, VT* x, IT* state, long long n, long long nnz, long long k, bool lower,
                         bool unit) {
  const int lane = threadIdx.x & 31;
  for (;;) {
    const long long t = next_row(state + n);
    if (t < 0 || t >= n) break;  // t < 0: the counter wrapped past n
    const long long i = lower ? t : n - 1 - t, s = (long long)indptr[i], e = (long long)indptr[i + 1];
    bool bad = row_bad(s, e, nnz);
    if (!bad) bad = !row_ok(indices, s, e, n - 1, false);
    if (!bad) {  // every lane waits for the rows of its entries
      for (long long p = s + lane; p < e; p += 32) {
        const long long j = (long long)indices[p];
        if (lower ? j < i : j > i) wait_done(state, j);
      }
    }
    __syncwarp();
    __threadfence();
    bool sing = false;
    if (k <= 16) {
      for (long long q = 0; q < k; ++q) {
        AT acc, d;
        zero(acc), zero(d);
        if (!bad) {
          for (long long p = s + lane; p < e; p += 32) {
            const long long j = (long long)indices[p];
            if (j == i) {
              if (!unit) add_acc(d, ld(data + p));
            } else if (lower ? j < i : j > i) {
              fma_acc(acc, ld(data + p), ldcg(x + j * k + q));
            }
          }
        }
        acc = group_sum<32>(acc), d = group_sum<32>(d);
        if (lane == 0) {
          AT v;
          make_nan(v);  // a malformed row: NaN, which reaches every row that depends on it
          if (!bad) {
            v = sub(ld(b + i * k + q), acc);
            if (!unit) {
              sing |= is_zero(d);
              v = dvd(v, d);
            }
          }
          st(x + i * k + q, v);
        }
      }
    } else {
      AT d;
      zero(d);
      if (!unit && !bad) {
        for (long long p = s; p < e; ++p)
          if ((long long)indices[p] == i) add_acc(d, ld(data + p));
        sing = is_zero(d);
      }
      for (long long q = lane; q < k; q += 32) {
        AT acc, v;
        zero(acc), make_nan(v);
        if (!bad) {
          for (long long p = s; p < e; ++p) {
            const long long j = (long long)indices[p];
            if (lower ? j < i : j > i) fma_acc(acc, ld(data + p), ldcg(x + j * k + q));
          }
          v = sub(ld(b + i * k + q), acc);
          if (!unit) v = dvd(v, d);
        }
        st(x + i * k + q, v);
      }
    }
    publish_row(state, i, bad, sing);
  }
}

// ILU(0) on a canonical CSR matrix (sorted rows, no duplicates), row by row (IKJ) as the C kernel:
// each entry left of the diagonal is divided by its column's pivot, then the pivot row's U part
// updates the entries of this row that exist (the lanes share the pivot row).
__device__ void ilu0(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data, VT* lu,
                     IT* state, long long n, long long nnz) {
  const int lane = threadIdx.x & 31;
  for (;;) {
    const long long i = next_row(state + n);
    if (i < 0 || i >= n) break;
    const long long s = (long long)indptr[i], e = (long long)indptr[i + 1];
    bool bad = row_bad(s, e, nnz), sing = false;
    if (!bad) bad = !row_ok(indices, s, e, n - 1, true);
    if (!bad)
      for (long long p = s + lane; p < e; p += 32) lu[p] = data[p];
    __syncwarp();
    for (long long p = s; !bad && p < e; ++p) {
      const long long j = (long long)indices[p];
      if (j >= i) break;
      if (warp_wait_done(state, j) == 3) {
        bad = true;
        break;
      }
      const long long sj = (long long)indptr[j], ej = (long long)indptr[j + 1];
      const long long dj = find(indices, sj, ej, j);  // row j is well formed (its state says so)
      AT piv;
      zero(piv);
      if (dj >= 0) piv = ldcg(lu + dj);
      if (is_zero(piv)) {
        sing = true;
        continue;
      }
      const AT l = dvd(ldw(lu + p), piv);
      __syncwarp();
      if (lane == 0) st(lu + p, l);
      for (long long q = dj + 1 + lane; q < ej; q += 32) {
        const long long at = find(indices, p + 1, e, (long long)indices[q]);
        if (at >= 0) {
          AT u = ldw(lu + at);
          const AT lq = ldcg(lu + q);
          AT prod = mul(l, lq);
          st(lu + at, sub(u, prod));
        }
      }
      __syncwarp();
    }
    if (bad) {
      zero_row(lu, s, e, nnz);
    } else {
      const long long di = find(indices, s, e, i);
      if (di < 0 || is_zero(ldw(lu + di))) sing = true;
    }
    publish_row(state, i, bad, sing);
  }
}

// IC(0) on the lower triangle as canonical CSR (sorted rows ending at the diagonal): for each entry
// (i, c) left of the diagonal, L_ic = (A_ic - sum_{j<c} L_ij conj(L_cj)) / L_cc, the sum over the
// columns rows i and c share (lanes take row c's entries and look each up in row i); then
// L_ii = sqrt(A_ii - sum_j |L_ij|^2).
__device__ void ic0(const IT* __restrict__ indptr, const IT* __restrict__ indices, const VT* __restrict__ data, VT* l,
                    IT* state, long long n, long long nnz) {
  const int lane = threadIdx.x & 31;
  for (;;) {
    const long long i = next_row(state + n);
    if (i < 0 || i >= n) break;
    const long long s = (long long)indptr[i], e = (long long)indptr[i + 1];
    bool bad = row_bad(s, e, nnz), sing = false, diag = false;
    if (!bad) bad = !row_ok(indices, s, e, i, true);
    for (long long p = s; !bad && p < e; ++p) {
      const long long c = (long long)indices[p];
      AT v = ld(data + p);
      if (c < i) {
        if (warp_wait_done(state, c) == 3) {
          bad = true;
          break;
        }
        const long long sc = (long long)indptr[c], ec = (long long)indptr[c + 1];
        const bool has_diag = ec > sc && (long long)indices[ec - 1] == c;
        AT acc;
        zero(acc);
        if (has_diag) {
          for (long long q = sc + lane; q < ec - 1; q += 32) {
            const long long at = find(indices, s, p, (long long)indices[q]);
            if (at >= 0) fma_acc(acc, ldw(l + at), cj(ldcg(l + q)));
          }
        }
        acc = group_sum<32>(acc);
        acc = bcast0(acc);
        if (!has_diag) {
          sing = true;
          zero(v);
        } else {
          v = dvd(sub(v, acc), ldcg(l + ec - 1));
        }
        __syncwarp();
        if (lane == 0) st(l + p, v);
        __syncwarp();
      } else {  // the diagonal: the row's last entry
        float acc = 0.f;
        for (long long q = s + lane; q < p; q += 32) acc += abs2(ldw(l + q));
        acc = group_sum<32>(acc);
        acc = bcast0(acc);
        const float d = real(v) - acc;
        if (!(d > 0.f)) sing = true;
        AT out;
        zero(out);
        set_real(out, d > 0.f ? sqrtf(d) : 0.f);
        __syncwarp();
        if (lane == 0) st(l + p, out);
        diag = true;
      }
    }
    if (bad) {
      zero_row(l, s, e, nnz);
    } else if (!diag) {
      sing = true;
    }
    publish_row(state, i, bad, sing);
  }
}

MSP_ENTRY0(factor, trisolve_sf, __launch_bounds__(256),
           trisolve(indptr, indices, data, b, x, state, n, nnz, k, lower, unit))
MSP_ENTRY0(factor, ilu0_sf, __launch_bounds__(256), ilu0(indptr, indices, data, lu, state, n, nnz))
MSP_ENTRY0(factor, ic0_sf, __launch_bounds__(256), ic0(indptr, indices, data, l, state, n, nnz))
