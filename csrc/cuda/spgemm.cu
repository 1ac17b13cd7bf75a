// GPU sparse-sparse products, C = A B, staged: rows are binned by their product count (flops) into
// four tiers, each with its own accumulator (the approach of spECK, nsparse and OpSparse):
//   S  flops <= S_FLOPS   8 lanes per row (4 rows per warp), each lane walking whole B rows of its A
//                         entries into a shared-memory hash table sized to the row
//   W  flops <= W_FLOPS   a warp per row, a shared-memory hash table per warp
//   B  flops <= B_FLOPS   a block per row, a shared-memory hash table per block
//   G  the rest           a block per row, a bitmap of the columns in global scratch (one per block)
// rowcount computes every row's flops and counts the S rows' distinct columns (most rows of the
// usual matrices: a Laplacian's are all S), and the sizes of the other tiers; place lists the W, B
// and G rows (only when there are any) and hcount counts them. Once the row pointer is known, hfill
// writes each row's columns sorted and their values (S rows: the sums kept in the hash table beside
// the keys; the other tiers: each product added at its column's position with a global atomic). The
// numeric pass (numeric) reruns a kept structure on new values: every product is added at its
// column's position in the sorted row (binary search), in shared memory for the S, W and B tiers
// and with global atomics for G rows. S rows are found by their flops in row order; `rows` lists
// the others tier by tier (W, B, G; nw, nb, ng of each). One launch serves every tier, its blocks in
// ranges: [0, sb) S rows, then wb blocks of W rows, bb of B rows and gb of G rows, each range
// grid-stride over its rows. Malformed structures (validate=False) are skipped row by row; nothing
// is read or written outside the arrays.
#include "common.cuh"

#define S_FLOPS 64
#define S_CAP 128   // hash slots per S row when counting
#define SV_CAP 64   // hash slots (keys and sums) per S row when filling (load <= 1)
#define W_FLOPS 256
#define W_CAP 512   // hash slots per warp (load <= 1/2)
#define B_FLOPS 2048
#define B_CAP 4096  // hash slots per block
#define WARPS 8     // blockDim.x / 32
#define EMPTY ((IT)-1)

__device__ __forceinline__ int tier_of(long long f) {
  return f < 0 ? 3 : (f > S_FLOPS) + (f > W_FLOPS) + (f > B_FLOPS);
}

// Hash slots for an S row of f products: a power of 2 >= 1.25 f (its distinct columns fill at most
// 4/5 of it), at least 16, at most CAP.
template <int CAP> __device__ __forceinline__ int s_slots(long long f) {
  int c = 16;
  while (c < CAP && c < f + f / 4) c *= 2;
  return c;
}

__device__ __forceinline__ int atomic_add(int* p, int v) { return atomicAdd(p, v); }
__device__ __forceinline__ long long atomic_add(long long* p, long long v) {
  return (long long)atomicAdd((unsigned long long*)p, (unsigned long long)v);
}

// Sum over each group of 8 lanes (every lane gets it). All lanes of the warp call.
__device__ __forceinline__ long long sum8(long long v) {
#pragma unroll
  for (int off = 4; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Every product of A's row [s, e) for an S row's 8 lanes: each lane takes every 8th A entry and
// walks its whole B row, calling f(column, A position, B position). Malformed B rows or columns are
// skipped. Ends with the warp's barrier (the lanes' shared-memory writes are visible after it).
template <class F>
__device__ __forceinline__ void walk_lanes(long long s, long long e, const IT* __restrict__ aind,
                                           const IT* __restrict__ bptr, const IT* __restrict__ bind, long long k,
                                           long long n, long long nnzb, F f) {
  for (long long ja = s + threadIdx.x % 8; ja < e; ja += 8) {
    const long long j = (long long)aind[ja];
    if (j < 0 || j >= k) continue;
    const long long b0 = (long long)bptr[j], b1 = (long long)bptr[j + 1];
    if (b0 < 0 || b1 < b0 || b1 > nnzb) continue;
    for (long long jb = b0; jb < b1; ++jb) {
      const long long col = (long long)bind[jb];
      if (col >= 0 && col < n) f(col, ja, jb);
    }
  }
  __syncwarp();
}

// ---- cooperative groups of G threads: 8 lanes (G = 8), a warp (32) or the block (256) ----------
// Groups of 8 share their warp's barriers, so every loop with a barrier inside runs a warp-uniform
// number of times (uniform_max).
template <int G> __device__ __forceinline__ void gsync() {
  if constexpr (G <= 32) __syncwarp();
  else __syncthreads();
}

template <int G> __device__ __forceinline__ long long uniform_max(long long v) {
  if constexpr (G < 32) {
#pragma unroll
    for (int off = G; off < 32; off *= 2) v = max(v, __shfl_xor_sync(0xffffffffu, v, off));
  }
  return v;
}

// Exclusive prefix sum over the group of long long values; `total` gets the group's sum.
// `wsum` is WARPS long longs of shared scratch (the block's group only).
template <int G> __device__ __forceinline__ long long group_scan(long long v, long long& total, long long* wsum) {
  constexpr int W = G < 32 ? G : 32;
  const int lane = threadIdx.x % W;
  long long x = v;
#pragma unroll
  for (int off = 1; off < W; off *= 2) {
    const long long y = __shfl_up_sync(0xffffffffu, x, off, W);
    if (lane >= off) x += y;
  }
  if constexpr (G <= 32) {
    total = __shfl_sync(0xffffffffu, x, W - 1, W);
    return x - v;
  } else {
    const int warp = threadIdx.x / 32;
    __syncthreads();
    if (lane == 31) wsum[warp] = x;
    __syncthreads();
    long long pre = 0, tot = 0;
    for (int w = 0; w < WARPS; ++w) {
      if (w < warp) pre += wsum[w];
      tot += wsum[w];
    }
    total = tot;
    return pre + x - v;
  }
}

template <int G> __device__ __forceinline__ long long group_sum(long long v, long long* wsum) {
  long long t;
  group_scan<G>(v, t, wsum);
  return t;
}

// Per-group scratch for the product walk: G entries of (exclusive offset, B row start, A position).
struct Walk {
  long long off, bs, ja;
};

// Every product of A's row [s, e): f(column, A position, B position), spread evenly over the group's
// threads (G A entries at a time: their B row lengths are scanned, each product finds its A entry by
// binary search); groups of 8 (S rows) use walk_lanes. B rows or columns that are malformed are skipped. All threads of the warp (block)
// call it; an idle group passes s = e.
template <int G, class F>
__device__ __forceinline__ void walk(long long s, long long e, const IT* __restrict__ aind, const IT* __restrict__ bptr,
                                     const IT* __restrict__ bind, long long k, long long n, long long nnzb, Walk* w,
                                     long long* wsum, F f) {
  if constexpr (G == 8) {  // S rows: short, so each lane walks whole B rows (no scan, no search)
    walk_lanes(s, e, aind, bptr, bind, k, n, nnzb, f);
    return;
  }
  const int t = G <= 32 ? threadIdx.x % G : threadIdx.x;
  const long long chunks = uniform_max<G>((e - s + G - 1) / G);
  for (long long c = 0; c < chunks; ++c) {
    const long long base = s + c * G, ja = base + t;
    long long len = 0, bs = 0;
    if (ja < e) {
      const long long j = (long long)aind[ja];
      if (j >= 0 && j < k) {
        bs = (long long)bptr[j];
        const long long be = (long long)bptr[j + 1];
        if (bs >= 0 && be >= bs && be <= nnzb) len = be - bs;
      }
    }
    long long total;
    const long long off = group_scan<G>(len, total, wsum);
    gsync<G>();
    w[t] = Walk{off, bs, ja};
    gsync<G>();
    const int cnt = (int)max(0LL, min((long long)G, e - base));
    for (long long q = t; q < total; q += G) {  // no barrier inside: trip counts may differ
      int lo = 0, hi = cnt - 1;  // the last entry whose offset is <= q
      while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (w[mid].off <= q) lo = mid;
        else hi = mid - 1;
      }
      const long long jb = w[lo].bs + (q - w[lo].off);
      const long long col = (long long)bind[jb];
      if (col >= 0 && col < n) f(col, w[lo].ja, jb);
    }
    gsync<G>();
  }
}

__device__ __forceinline__ unsigned hash_of(long long key) {
  return (unsigned)(((unsigned long long)key * 0x9E3779B97F4A7C15ull) >> 32);
}
__device__ __forceinline__ int cas(int* p, int cmp, int v) { return atomicCAS(p, cmp, v); }
__device__ __forceinline__ long long cas(long long* p, long long cmp, long long v) {
  return (long long)atomicCAS((unsigned long long*)p, (unsigned long long)cmp, (unsigned long long)v);
}

// Insert key into an open-addressing table of cap (a power of 2) slots; true when it was new. `slot`
// gets the key's slot, -1 when the table is full without it (a structure that changed after its
// flops were counted: the row's count then disagrees and nothing of it is written).
__device__ __forceinline__ bool hash_insert(IT* tab, int cap, IT key, int& slot) {
  unsigned h = hash_of(key) & (cap - 1);
  for (int probe = 0; probe < cap; ++probe) {
    IT cur = tab[h];
    if (cur == EMPTY) {
      cur = cas(&tab[h], EMPTY, key);
      if (cur == EMPTY) {
        slot = (int)h;
        return true;
      }
    }
    if (cur == key) {
      slot = (int)h;
      return false;
    }
    h = (h + 1) & (cap - 1);
  }
  slot = -1;
  return false;
}

// The row ranges of the tiers, and which blocks serve them.
struct Tiers {
  long long nw, nb, ng, sb, wb, bb, gb;
};

// 0 <= q < m in one compare: a position in the row list (tier sizes that disagree with m are not
// trusted, negative ones included)
__device__ __forceinline__ bool in_list(long long q, long long m) {
  return (unsigned long long)q < (unsigned long long)m;
}

// Calls f(row or -1, tier, group index in the block) for each row this thread's group serves: the
// S tier's groups of 8 over the rows in order, those of at most S_FLOPS products (an idle group, or
// one whose row is not S, gets -1 so that its warp stays converged), W warps, B and G blocks. All threads of the block call it. Blocks past sb + wb + bb + gb (a launch larger than the
// plan's) must serve nothing: a G block's bitmap is bits[(b - sb - wb - bb) * nwords, ...), which
// exists only for the gb blocks of the plan, and a tier of no blocks would never advance its loop.
// CHECK_PLAN: checked here (the symbolic passes); the numeric pass checks at its entry instead (the
// same guard, placed where ptxas keeps each kernel's registers and spills as they were without it).
template <bool CHECK_PLAN, class F>
__device__ __forceinline__ void for_rows(const IT* __restrict__ flops, const IT* __restrict__ rows, long long m,
                                         const Tiers& T, F f) {
  const long long b = blockIdx.x;
  const int warp = threadIdx.x / 32;
  if (b < T.sb) {
    const int g = threadIdx.x / 8;  // 32 groups of 8 per block
    for (long long r0 = b * 32; r0 < m; r0 += T.sb * 32) {
      const long long r = r0 + g;
      f(r < m && (long long)flops[r] <= S_FLOPS ? r : -1LL, 0, g);
    }
  } else if (b < T.sb + T.wb) {
    for (long long r = (b - T.sb) * WARPS + warp; r < T.nw; r += T.wb * WARPS)
      if (in_list(r, m)) f((long long)rows[r], 1, warp);
  } else if (b < T.sb + T.wb + T.bb) {
    for (long long r = b - T.sb - T.wb; r < T.nb; r += T.bb)
      if (in_list(T.nw + r, m)) f((long long)rows[T.nw + r], 2, 0);
  } else if (!CHECK_PLAN || b < T.sb + T.wb + T.bb + T.gb) {
    for (long long r = b - T.sb - T.wb - T.bb; r < T.ng; r += T.gb)
      if (in_list(T.nw + T.nb + r, m)) f((long long)rows[T.nw + T.nb + r], 3, 0);
  }
}

__device__ __forceinline__ void shared_add(float* p, float a) { atomicAdd(p, a); }
__device__ __forceinline__ void shared_add(float2* p, float2 a) {
  atomicAdd(&p->x, a.x);
  atomicAdd(&p->y, a.y);
}

// Position of column c in the sorted keys[0, len), or -1.
__device__ __forceinline__ long long find_col(const IT* keys, long long len, long long c) {
  long long lo = 0, hi = len;
  while (lo < hi) {
    const long long mid = (lo + hi) / 2;
    if ((long long)keys[mid] < c) lo = mid + 1;
    else hi = mid;
  }
  return lo < len && (long long)keys[lo] == c ? lo : -1;
}

// ---- rowcount and place ----------------------------------------------------------------------------
// The distinct columns of an S row of f products (s = e: none) in its group's table (up to S_CAP
// slots). All lanes of the warp call.
__device__ __forceinline__ long long s_count(long long s, long long e, long long f, IT* tab, const IT* __restrict__ aind,
                                             const IT* __restrict__ bptr, const IT* __restrict__ bind, long long k,
                                             long long n, long long nnzb) {
  const int cap = s_slots<S_CAP>(f);
  for (int h = threadIdx.x % 8; h < cap; h += 8) tab[h] = EMPTY;
  __syncwarp();
  long long mine = 0;
  walk_lanes(s, e, aind, bptr, bind, k, n, nnzb, [&](long long c, long long, long long) {
    int slot;
    mine += hash_insert(tab, cap, (IT)c, slot);
  });
  return sum8(mine);
}

// flops[i] = the products of row i (saturated; 0 for a malformed row), counts[i] = its distinct
// columns when it is an S row (else 0), tiers[t - 1] += the rows of tier t = 1, 2, 3. 8 lanes per row.
__device__ void rowcount(const IT* __restrict__ aptr, const IT* __restrict__ aind, const IT* __restrict__ bptr,
                         const IT* __restrict__ bind, IT* __restrict__ counts, IT* __restrict__ flops,
                         IT* __restrict__ tiers, long long m, long long k, long long n, long long nnza,
                         long long nnzb) {
  __shared__ IT tab[32 * S_CAP];
  __shared__ int nt[3];
  if (threadIdx.x < 3) nt[threadIdx.x] = 0;
  __syncthreads();
  const long long groups = (long long)gridDim.x * blockDim.x / 8;
  const int lane = threadIdx.x % 8;
  const long long first = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 8;
  const long long rounds = (m + groups - 1) / groups;  // warp-uniform trip count (the shuffles need every lane)
  for (long long it = 0; it < rounds; ++it) {
    const long long i = first + it * groups;
    long long s = 0, e = 0, f = 0;
    if (i < m) {
      s = (long long)aptr[i], e = (long long)aptr[i + 1];
      if (s >= 0 && e >= s && e <= nnza) {
        for (long long ja = s + lane; ja < e; ja += 8) {
          const long long j = (long long)aind[ja];
          if (j >= 0 && j < k) {
            const long long b0 = (long long)bptr[j], b1 = (long long)bptr[j + 1];
            f += (b0 >= 0 && b1 >= b0) ? b1 - b0 : 0;  // checked first: b1 - b0 of wild values could wrap
          }
        }
      } else {
        s = e = 0;
      }
    }
    f = sum8(f);
    const long long cap = sizeof(IT) == 4 ? 2147483647LL : 9223372036854775807LL;  // saturate: never wrap
    if (f > cap || f < 0) f = cap;
    const bool small = f <= S_FLOPS;
    const long long cnt = s_count(small ? s : 0, small ? e : 0, f, tab + threadIdx.x / 8 * S_CAP, aind, bptr, bind, k,
                                  n, nnzb);
    if (i < m && lane == 0) {
      flops[i] = (IT)f;
      counts[i] = small ? (IT)cnt : (IT)0;
      if (!small) atomicAdd(&nt[tier_of(f) - 1], 1);
    }
  }
  __syncthreads();
  if (threadIdx.x < 3 && nt[threadIdx.x] != 0) atomic_add(&tiers[threadIdx.x], (IT)nt[threadIdx.x]);
}

// rows = the W rows, then the B rows at nw, then the G rows at nw + nb (each tier in any order),
// from the flops; cursor: the running count of each tier (zeroed).
__device__ void place(const IT* __restrict__ flops, IT* __restrict__ rows, IT* __restrict__ cursor, long long m,
                      long long nw, long long nb) {
  const long long threads = (long long)gridDim.x * blockDim.x;
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const long long rounds = (m + threads - 1) / threads;  // warp-uniform (the ballots need every lane)
  const int lane = threadIdx.x % 32;
  for (long long it = 0; it < rounds; ++it) {
    const long long i = first + it * threads;
    const int t = i < m ? tier_of((long long)flops[i]) : 0;
    for (int q = 1; q <= 3; ++q) {
      const unsigned bal = __ballot_sync(0xffffffffu, t == q);
      if (bal == 0) continue;
      const int leader = __ffs(bal) - 1;
      long long base = 0;
      if (lane == leader) base = (long long)atomic_add(&cursor[q - 1], (IT)__popc(bal));
      base = __shfl_sync(0xffffffffu, base, leader);
      if (t == q) {
        const long long at = (q == 1 ? 0 : q == 2 ? nw : nw + nb) + base + __popc(bal & ((1u << lane) - 1));
        if (at >= 0 && at < m) rows[at] = (IT)i;
      }
    }
  }
}

// ---- hcount and hfill ------------------------------------------------------------------------------
// The shared memory of the symbolic kernels: hash tables (W: 8 of W_CAP, B: one of B_CAP; S rows
// being filled: 32 of SV_CAP keys and sums; each block serves one tier) and the walk.
struct SymShared {
  union {
    IT tab[B_CAP];
    struct {
      IT key[32 * SV_CAP];
      AT sum[32 * SV_CAP];
    } s;
  };
  Walk walk[256];
  long long wsum[WARPS];
};

// Rank sort of the distinct keys tab[0, cnt) over a group of G threads (t: this thread's index):
// mykey[j] = tab[t + j G] (EMPTY past cnt) and rank[j] = its position in ascending order.
template <int G, int RANKED>
__device__ __forceinline__ void rank_keys(const IT* tab, long long cnt, int t, IT* mykey, int* rank) {
#pragma unroll
  for (int j = 0; j < RANKED; ++j) {
    const long long q = t + (long long)j * G;
    mykey[j] = q < cnt ? tab[q] : EMPTY;
    rank[j] = 0;
  }
  for (long long q = 0; q < cnt; ++q) {
    const IT key = tab[q];
#pragma unroll
    for (int j = 0; j < RANKED; ++j) rank[j] += key < mykey[j];
  }
}

// hfill of an S row of f products (s = e: none): keys and sums in the group's table (up to SV_CAP
// slots), compacted to its front, ranked and written sorted at cind/cdata[p0, p1) when the count
// agrees with the row pointer (`live`: a real row). All lanes of the warp call.
__device__ __forceinline__ void s_fill(long long s, long long e, long long f, bool live, IT* key, AT* sum,
                                       const IT* __restrict__ aind, const VT* __restrict__ adata,
                                       const IT* __restrict__ bptr, const IT* __restrict__ bind,
                                       const VT* __restrict__ bdata, long long k, long long n, long long nnzb,
                                       IT* __restrict__ cind, AT* __restrict__ cdata, long long p0, long long p1) {
  const int t = threadIdx.x % 8;
  const int cap = s_slots<SV_CAP>(f);
  for (int h = t; h < cap; h += 8) key[h] = EMPTY, zero(sum[h]);
  __syncwarp();
  long long mine = 0;
  walk_lanes(s, e, aind, bptr, bind, k, n, nnzb, [&](long long c, long long ja, long long jb) {
    int slot;
    mine += hash_insert(key, cap, (IT)c, slot);
    if (slot >= 0) shared_add(&sum[slot], mul(ld(adata + ja), ld(bdata + jb)));
  });
  const long long cnt = sum8(mine);
  const bool write = live && cnt == p1 - p0;
  // compaction: round r moves the occupied slots of [8 r, 8 r + 8) to the front, in order
  const int gshift = threadIdx.x % 32 / 8 * 8;  // this group's bits of a warp's ballot
  int rounds = cap / 8;  // the warp's largest table decides the rounds (the ballots need every lane)
#pragma unroll
  for (int off = 8; off < 32; off *= 2) rounds = max(rounds, __shfl_xor_sync(0xffffffffu, rounds, off));
  int at = 0;
#pragma unroll
  for (int r = 0; r < SV_CAP / 8; ++r) {
    if (r >= rounds) break;
    const int q = 8 * r + t;
    IT kq = EMPTY;
    AT vq;
    zero(vq);
    if (q < cap) kq = key[q], vq = sum[q];
    const unsigned bal = (__ballot_sync(0xffffffffu, kq != EMPTY) >> gshift) & 0xffu;
    __syncwarp();
    if (kq != EMPTY) {
      const int to = at + __popc(bal & ((1u << t) - 1));
      key[to] = kq, sum[to] = vq;
    }
    __syncwarp();
    at += __popc(bal);
  }
  // rank sort (keys are distinct): each lane ranks the entries t, t + 8, ... against all of them
  constexpr int RANKED = SV_CAP / 8;
  IT mykey[RANKED];
  int rank[RANKED];
  rank_keys<8, RANKED>(key, at, t, mykey, rank);
  if (write) {
#pragma unroll
    for (int j = 0; j < RANKED; ++j)
      if (t + 8 * j < at) cind[p0 + rank[j]] = mykey[j], cdata[p0 + rank[j]] = sum[t + 8 * j];
  }
  __syncwarp();
}

// Symbolic pass of a W (G = 32) or B (G = 256) row (fill = false: count into counts[i]; true: write
// the sorted columns at cind[p0, p1), only when the count agrees, and with cdata given, their values:
// summed in the table's upper half when they fit (sizeof(AT) <= sizeof(IT)), else with global atomics). `live`
// false: an idle or malformed row (s = e), which takes part in the barriers and writes nothing.
template <int G, int CAP, int MAXC>
__device__ __forceinline__ void hash_row(long long s, long long e, bool live, IT* tab, const IT* __restrict__ aind,
                                         const VT* __restrict__ adata, const IT* __restrict__ bptr,
                                         const IT* __restrict__ bind, const VT* __restrict__ bdata, long long k,
                                         long long n, long long nnzb, Walk* w, long long* wsum, bool fill,
                                         IT* __restrict__ counts, long long i, IT* __restrict__ cind,
                                         AT* __restrict__ cdata, long long p0, long long p1) {
  const int t = G <= 32 ? threadIdx.x % G : threadIdx.x;
  for (int h = t; h < CAP; h += G) tab[h] = EMPTY;
  gsync<G>();
  long long mine = 0;
  walk<G>(s, e, aind, bptr, bind, k, n, nnzb, w, wsum, [&](long long c, long long, long long) {
    int slot;
    mine += hash_insert(tab, CAP, (IT)c, slot);
  });
  const long long cnt = group_sum<G>(mine, wsum);
  if (!fill) {
    if (live && t == 0) counts[i] = (IT)cnt;
    gsync<G>();
    return;  // uniform over the warp (block)
  }
  const bool write = live && cnt == p1 - p0;  // else the row pointer disagrees (validate=False)
  // compact the occupied slots to the table's front (each thread's slots held in registers first)
  constexpr int PER = CAP / G;
  IT keep[PER];
  int nk = 0;
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    const IT key = tab[t * PER + j];
    if (key != EMPTY) keep[nk++] = key;
  }
  long long tot;
  const long long at = group_scan<G>(nk, tot, wsum);
  gsync<G>();
#pragma unroll
  for (int j = 0; j < PER; ++j)
    if (j < nk) tab[at + j] = keep[j];
  gsync<G>();
  // rank sort (keys are distinct): each thread ranks the entries t, t + G, ... against all of them
  constexpr int RANKED = MAXC / G;
  IT mykey[RANKED];
  int rank[RANKED];
  rank_keys<G, RANKED>(tab, cnt, t, mykey, rank);
  if (write) {
#pragma unroll
    for (int j = 0; j < RANKED; ++j)
      if (t + (long long)j * G < cnt) cind[p0 + rank[j]] = mykey[j];
  }
  gsync<G>();
  if (cdata == nullptr) return;  // (uniform: hcount or hfill)
  // the values: the sorted keys in the table's front, each product added at its column
#pragma unroll
  for (int j = 0; j < RANKED; ++j)
    if (t + (long long)j * G < cnt) tab[rank[j]] = mykey[j];
  gsync<G>();
  const long long len = write ? cnt : 0;
  if constexpr (sizeof(AT) <= sizeof(IT)) {
    if (len <= MAXC) {  // the sums in the table's upper half (CAP = 2 MAXC slots), then written out
      AT* acc = (AT*)(tab + MAXC);
      for (long long q = t; q < len; q += G) zero(acc[q]);
      gsync<G>();
      walk<G>(s, e, aind, bptr, bind, k, n, nnzb, w, wsum, [&](long long c, long long ja, long long jb) {
        const long long p = find_col(tab, len, c);
        if (p >= 0) shared_add(&acc[p], mul(ld(adata + ja), ld(bdata + jb)));
      });
      for (long long q = t; q < len; q += G) cdata[p0 + q] = acc[q];
      gsync<G>();
      return;
    }
  }
  // else global atomics into the row's zeroed values
  for (long long q = t; q < len; q += G) zero(cdata[p0 + q]);
  gsync<G>();
  walk<G>(write ? s : 0, write ? e : 0, aind, bptr, bind, k, n, nnzb, w, wsum,
          [&](long long c, long long ja, long long jb) {
            const long long p = find_col(tab, len, c);
            if (p >= 0) shared_add(&cdata[p0 + p], mul(ld(adata + ja), ld(bdata + jb)));
          });
}

// Symbolic pass of one G row: the columns set in the block's bitmap (nw32 words of 32 bits), then
// counted or written in order; the bitmap is cleared for the next row.
__device__ __forceinline__ void bitmap_row(long long s, long long e, unsigned* bits, long long nw32,
                                           const IT* __restrict__ aind, const IT* __restrict__ bptr,
                                           const IT* __restrict__ bind, long long k, long long n, long long nnzb,
                                           Walk* w, long long* wsum, bool fill, IT* __restrict__ counts, long long i,
                                           IT* __restrict__ cind, long long p0, long long p1) {
  walk<256>(s, e, aind, bptr, bind, k, n, nnzb, w, wsum, [&](long long c, long long, long long) {
    if ((c >> 5) < nw32) atomicOr(&bits[c >> 5], 1u << (c & 31));
  });
  __syncthreads();
  const long long words = min(nw32, (n + 31) / 32);
  if (!fill) {
    long long mine = 0;
    for (long long q = threadIdx.x; q < words; q += 256) {
      mine += __popc(bits[q]);
      bits[q] = 0;
    }
    const long long cnt = group_sum<256>(mine, wsum);
    if (threadIdx.x == 0) counts[i] = (IT)cnt;
    __syncthreads();
    return;
  }
  long long base = p0;
  for (long long q0 = 0; q0 < words; q0 += 256) {
    const long long q = q0 + threadIdx.x;
    unsigned word = q < words ? bits[q] : 0u;
    if (q < words) bits[q] = 0;
    long long tot;
    long long at = base + group_scan<256>(__popc(word), tot, wsum);
    while (word) {
      const int bit = __ffs(word) - 1;
      word &= word - 1;
      if (at < p1) cind[at] = (IT)(q * 32 + bit);
      ++at;
    }
    base += tot;
  }
  __syncthreads();
}

// A G row's values (global atomics into cdata[p0, p1), zeroed here, at the columns' positions in the
// sorted cind[p0, p1)); the whole block calls.
__device__ __forceinline__ void global_row(long long s, long long e, long long p0, long long len,
                                           const IT* __restrict__ aind, const VT* __restrict__ adata,
                                           const IT* __restrict__ bptr, const IT* __restrict__ bind,
                                           const VT* __restrict__ bdata, const IT* cind, AT* cdata, long long k,
                                           long long n, long long nnzb, Walk* w, long long* wsum) {
  for (long long q = threadIdx.x; q < len; q += 256) zero(cdata[p0 + q]);
  __syncthreads();
  walk<256>(s, e, aind, bptr, bind, k, n, nnzb, w, wsum, [&](long long c, long long ja, long long jb) {
    const long long p = find_col(cind + p0, len, c);
    if (p >= 0) shared_add(&cdata[p0 + p], mul(ld(adata + ja), ld(bdata + jb)));
  });
}

// hcount (fill = false: the W, B and G rows' counts; sb = 0, rowcount counted the S rows) and hfill
// (fill = true: every row's sorted columns and values): see the top of the file. A G block clears its
// bitmap first (hfill's output is not zeroed). S_ONLY (the "s" variant, for products whose rows are
// all S): only the S tier's code, so the kernel holds fewer registers; other blocks serve nothing.
template <bool S_ONLY>
__device__ void symbolic(const IT* __restrict__ aptr, const IT* __restrict__ aind, const VT* __restrict__ adata,
                         const IT* __restrict__ bptr, const IT* __restrict__ bind, const VT* __restrict__ bdata,
                         const IT* __restrict__ flops, const IT* __restrict__ rows, const IT* __restrict__ cptr,
                         IT* __restrict__ counts, IT* __restrict__ cind, AT* __restrict__ cdata, IT* __restrict__ bits,
                         long long m, long long k, long long n, long long nnza, long long nnzb, long long nnzc,
                         const Tiers& T, long long nwords, bool fill) {
  __shared__ SymShared sh;
  const long long nw32 = nwords * (long long)sizeof(IT) / 4;
  const long long gfirst = T.sb + T.wb + T.bb, b = blockIdx.x;
  unsigned* mybits = (unsigned*)bits + (b >= gfirst ? (b - gfirst) * nw32 : 0);
  if (b >= gfirst && b < gfirst + T.gb) {  // (block-uniform)
    for (long long q = threadIdx.x; q < nw32; q += 256) mybits[q] = 0;
    __syncthreads();
  }
  for_rows<true>(flops, rows, m, T, [&](long long i, int tier, int g) {
    long long s = 0, e = 0, p0 = 0, p1 = 0;
    bool live = i >= 0 && i < m;
    if (live) {
      s = (long long)aptr[i], e = (long long)aptr[i + 1];
      live = s >= 0 && e >= s && e <= nnza;
      if (fill) {
        p0 = (long long)cptr[i], p1 = (long long)cptr[i + 1];
        live = live && p0 >= 0 && p1 >= p0 && p1 <= nnzc;
      }
      if (!live) {  // a malformed row counts 0
        if (!fill && (tier == 0 ? threadIdx.x % 8 : tier == 1 ? threadIdx.x % 32 : threadIdx.x) == 0) counts[i] = 0;
        s = e = 0;
      }
    }
    if (tier == 0) {
      if (fill)  // (hcount serves no S rows: rowcount counted them)
        s_fill(s, e, live ? (long long)flops[i] : 0, live, sh.s.key + g * SV_CAP, sh.s.sum + g * SV_CAP, aind, adata,
               bptr, bind, bdata, k, n, nnzb, cind, cdata, p0, p1);
    } else if (S_ONLY || !live) {
      return;  // uniform over the warp (W) or block (B, G)
    } else if (tier == 1) {
      hash_row<32, W_CAP, W_FLOPS>(s, e, true, sh.tab + g * W_CAP, aind, adata, bptr, bind, bdata, k, n, nnzb,
                                   sh.walk + g * 32, sh.wsum, fill, counts, i, cind, cdata, p0, p1);
    } else if (tier == 2) {
      hash_row<256, B_CAP, B_FLOPS>(s, e, true, sh.tab, aind, adata, bptr, bind, bdata, k, n, nnzb, sh.walk, sh.wsum,
                                    fill, counts, i, cind, cdata, p0, p1);
    } else {
      bitmap_row(s, e, mybits, nw32, aind, bptr, bind, k, n, nnzb, sh.walk, sh.wsum, fill, counts, i, cind, p0, p1);
      if (fill)
        global_row(s, e, p0, p1 - p0, aind, adata, bptr, bind, bdata, cind, cdata, k, n, nnzb, sh.walk, sh.wsum);
    }
  });
}

// ---- numeric pass --------------------------------------------------------------------------------
struct NumShared {
  IT keys[B_FLOPS];
  AT acc[B_FLOPS];
  Walk walk[256];
  long long wsum[WARPS];
};

// One row's values: its sorted columns and zeroed sums in shared memory, every product added at its
// column, the sums written out. len <= the group's share (the caller checks); an idle group: len 0.
template <int G>
__device__ __forceinline__ void numeric_row(long long s, long long e, long long p0, long long len, IT* keys, AT* acc,
                                            const IT* __restrict__ aind, const VT* __restrict__ adata,
                                            const IT* __restrict__ bptr, const IT* __restrict__ bind,
                                            const VT* __restrict__ bdata, const IT* __restrict__ cind,
                                            AT* __restrict__ cdata, long long k, long long n, long long nnzb, Walk* w,
                                            long long* wsum) {
  const int t = G <= 32 ? threadIdx.x % G : threadIdx.x;
  for (long long q = t; q < len; q += G) keys[q] = cind[p0 + q], zero(acc[q]);
  gsync<G>();
  walk<G>(s, e, aind, bptr, bind, k, n, nnzb, w, wsum, [&](long long c, long long ja, long long jb) {
    const long long p = find_col(keys, len, c);
    if (p >= 0) shared_add(&acc[p], mul(ld(adata + ja), ld(bdata + jb)));
  });
  for (long long q = t; q < len; q += G) cdata[p0 + q] = acc[q];
  gsync<G>();
}

template <bool S_ONLY>  // as symbolic's
__device__ void numeric(const IT* __restrict__ aptr, const IT* __restrict__ aind, const VT* __restrict__ adata,
                        const IT* __restrict__ bptr, const IT* __restrict__ bind, const VT* __restrict__ bdata,
                        const IT* __restrict__ cptr, const IT* __restrict__ cind, const IT* __restrict__ flops,
                        const IT* __restrict__ rows, AT* __restrict__ cdata, long long m, long long k, long long n,
                        long long nnza, long long nnzb, long long nnzc, const Tiers& T) {
  __shared__ NumShared sh;
  constexpr int SLEN = B_FLOPS / 32, WLEN = B_FLOPS / WARPS;  // each S group's and warp's share
  static_assert(SLEN >= S_FLOPS && WLEN >= W_FLOPS, "a row's columns must fit its group's share");
  for_rows<false>(flops, rows, m, T, [&](long long i, int tier, int g) {
    long long s = 0, e = 0, p0 = 0, len = 0;
    bool live = i >= 0 && i < m;
    if (live) {
      s = (long long)aptr[i], e = (long long)aptr[i + 1], p0 = (long long)cptr[i];
      const long long p1 = (long long)cptr[i + 1];
      live = s >= 0 && e >= s && e <= nnza && p0 >= 0 && p1 >= p0 && p1 <= nnzc;
      len = p1 - p0;
      if (!live) s = e = p0 = len = 0;
    }
    if (tier == 0) {
      if (len > SLEN) s = e = len = 0;  // cannot happen for rows of this tier (len <= flops)
      numeric_row<8>(s, e, p0, len, sh.keys + g * SLEN, sh.acc + g * SLEN, aind, adata, bptr, bind, bdata, cind, cdata,
                     k, n, nnzb, sh.walk + g * 8, sh.wsum);
    } else if (S_ONLY || !live) {
      return;
    } else if (tier == 1 && len <= WLEN) {
      numeric_row<32>(s, e, p0, len, sh.keys + g * WLEN, sh.acc + g * WLEN, aind, adata, bptr, bind, bdata, cind, cdata,
                      k, n, nnzb, sh.walk + g * 32, sh.wsum);
    } else if (tier == 2 && len <= B_FLOPS) {
      numeric_row<256>(s, e, p0, len, sh.keys, sh.acc, aind, adata, bptr, bind, bdata, cind, cdata, k, n, nnzb, sh.walk,
                       sh.wsum);
    } else if (tier >= 2) {  // G rows: global atomics at the columns' positions
      global_row(s, e, p0, len, aind, adata, bptr, bind, bdata, cind, cdata, k, n, nnzb, sh.walk, sh.wsum);
    }
  });
}

// The sampled product of the derivative rules (see the C body): out[e] = sum over c of G[i, c] H[j, c]
// for each stored entry e = (i, j) of S, G's and H's rows sorted (duplicates summed). A warp per row
// of S, a lane per entry merging G's row i with H's row j. Malformed rows or indices: 0.
__device__ void sampled(const IT* __restrict__ sptr, const IT* __restrict__ sind, const IT* __restrict__ gptr,
                        const IT* __restrict__ gind, const VT* __restrict__ gdata, const IT* __restrict__ hptr,
                        const IT* __restrict__ hind, const VT* __restrict__ hdata, VT* __restrict__ out, long long m,
                        long long k, long long n, long long nnzs, long long nnzg, long long nnzh) {
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; i < m; i += warps) {
    const long long s0 = (long long)sptr[i], s1 = (long long)sptr[i + 1];
    if (s0 < 0 || s1 < s0 || s1 > nnzs) continue;
    const long long g0 = (long long)gptr[i], g1 = (long long)gptr[i + 1];
    const bool gbad = g0 < 0 || g1 < g0 || g1 > nnzg;
    for (long long x = s0 + lane; x < s1; x += 32) {
      AT acc;
      zero(acc);
      const long long j = (long long)sind[x];
      const long long h0 = j >= 0 && j < k ? (long long)hptr[j] : 0, h1 = j >= 0 && j < k ? (long long)hptr[j + 1] : 0;
      if (!gbad && h0 >= 0 && h1 >= h0 && h1 <= nnzh) {
        long long p = g0, q = h0;
        while (p < g1 && q < h1) {
          const long long a = (long long)gind[p], b = (long long)hind[q];
          if (a < b) {
            ++p;
          } else if (a > b) {
            ++q;
          } else {
            AT gs, hs;
            zero(gs), zero(hs);
            for (; p < g1 && (long long)gind[p] == a; ++p) add_acc(gs, ld(gdata + p));
            for (; q < h1 && (long long)hind[q] == a; ++q) add_acc(hs, ld(hdata + q));
            add_acc(acc, mul(gs, hs));
          }
        }
      }
      st(out + x, acc);
    }
  }
}

#define MSP_TIERS Tiers{nw, nb, ng, sb, wb, bb, gb}
MSP_ENTRY0(spgemm, rowcount, __launch_bounds__(256),
           rowcount(aptr, aind, bptr, bind, counts, flops, tiers, m, k, n, nnza, nnzb))
MSP_ENTRY0(spgemm, place, __launch_bounds__(256), place(flops, rows, cursor, m, nw, nb))
MSP_ENTRY0(spgemm, hcount, __launch_bounds__(256),
           symbolic<false>(aptr, aind, nullptr, bptr, bind, nullptr, flops, rows, nullptr, counts, nullptr, nullptr, bits, m, k, n,
                    nnza, nnzb, 0, MSP_TIERS, nwords, false))
#define MSP_HFILL(V, S_ONLY)                                                                                       \
  MSP_ENTRY(spgemm, hfill, V, __launch_bounds__(256),                                                               \
            symbolic<S_ONLY>(aptr, aind, adata, bptr, bind, bdata, flops, rows, cptr, nullptr, cind, cdata, bits, m, k, \
                             n, nnza, nnzb, nnzc, MSP_TIERS, nwords, true))                                         \
  MSP_ENTRY(spgemm, numeric, V, __launch_bounds__(256),                                                             \
            if ((long long)blockIdx.x >= sb + wb + bb + gb) return; /* past the plan's blocks: see for_rows */      \
            numeric<S_ONLY>(aptr, aind, adata, bptr, bind, bdata, cptr, cind, flops, rows, cdata, m, k, n, nnza, nnzb, \
                            nnzc, MSP_TIERS))
MSP_HFILL(s, true)
MSP_HFILL(all, false)
MSP_ENTRY0(spgemm, sampled, __launch_bounds__(256),
           sampled(sptr, sind, gptr, gind, gdata, hptr, hind, hdata, out, m, k, n, nnzs, nnzg, nnzh))
