/* bf16 products of 9-64 input rows (generation's step at 9-64 streams) on the tensor cores, as
 * programmatic dependents.
 *
 * At a few dozen rows a product is a weight read (in_proj of the 353M model: 8 MB of weights,
 * at most 64 KB of input), and cuBLASLt's kernels, launched the ordinary way, make every product
 * a point where the step's chain of kernels drains. Here every block holds its whole slice of
 * the weights and inputs in shared memory at once (no pipeline loop): it issues the weight
 * copies (cp.async) before waiting for the kernel before it (the weights do not depend on it,
 * pdl.cuh), then the input rows', one group per 64-wide chunk of k, and multiplies each chunk as
 * it lands, mma.sync m16n8k16 with fp32 sums. Measured in the step, this wins up to 32 rows; from
 * 33 it wins only for products of few columns (x_proj), on which cuBLASLt leaves most
 * multiprocessors idle, and loses on wide ones (kernels/NOTES.md, g5 and g7), so from 33 rows
 * the launcher takes at most RW_THIN_N columns.
 *
 * A block owns BN = 4 x WN output columns for every input row (MT tiles of 16 rows) over one
 * slice of k. The slices of one column tile form a thread-block cluster; each block leaves its
 * partial tile in its shared memory and, after a cluster barrier, adds one share of the tile
 * over all the cluster's blocks in rank order through distributed shared memory: no second
 * kernel, no atomics, the same bits on every run. */
#include <cooperative_groups.h>

#include "kernels/cuda_check.h"
#include "kernels/cp_async.cuh"
#include "kernels/cuda_ctx.h"
#include "kernels/device_math.cuh"
#include "kernels/mma_bf16.cuh"
#include "kernels/pdl.cuh"

namespace cg = cooperative_groups;

#define RW_THREADS 128   /* four warps, each WN columns of the tile */
#define RW_KC 64         /* k a chunk: one 128-byte shared row of bf16 */
#define RW_MAX_CHUNKS 8  /* a block's slice of k holds at most 512 */
#define RW_MAX_SPLIT 8   /* blocks a cluster: the portable limit */
#define RW_THIN_N 128    /* from 33 rows, the widest product taken (x_proj's, not the head's 256) */
#define RW_PAD 8         /* floats after each row of the partial tile, against bank conflicts */

struct RowsArgs {
    void *out;
    int out_bf16, ldo;
    const float *add; /* fp32, leading dimension ldo; may be out itself */
    const __nv_bfloat16 *x;
    int ldi;
    const __nv_bfloat16 *w; /* N x K, row-major */
    int M, K, N;
    int ks;  /* k a cluster rank takes, a multiple of RW_KC */
    int vec; /* ldo, out and add allow four results a store */
};

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x2(uint32_t &r0, uint32_t &r1, uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
                 : "=r"(r0), "=r"(r1)
                 : "r"(addr));
}

/* Byte offset of the 16-byte piece kc (0-7) of shared row r: the pieces of a row are permuted
 * by r mod 8, so ldmatrix's eight rows at one kc fall in eight different banks. */
__device__ __forceinline__ uint32_t swz(int r, int kc) { return (uint32_t)(r * 8 + (kc ^ (r & 7))) * 16; }

/* Copies rows [r0, r0 + R) x k [k0 + ch0 RW_KC, + nch RW_KC) of g (leading dimension ld) into
 * chunks of R shared rows at sm; rows past rmax and k past k1 are filled with zeros. */
template <int R>
__device__ __forceinline__ void copy_tile(uint32_t sm, const __nv_bfloat16 *g, int ld, int r0,
                                          int rmax, int k0, int k1, int ch0, int nch)
{
    for (int p = threadIdx.x; p < nch * R * 8; p += RW_THREADS) {
        const int c = p & 7, r = (p >> 3) % R, ch = ch0 + (p >> 3) / R;
        const int k = k0 + ch * RW_KC + c * 8;
        const bool ok = r0 + r < rmax && k < k1;
        cp_async16_s(sm + (uint32_t)ch * R * 128 + swz(r, c), ok ? g + (size_t)(r0 + r) * ld + k : g, ok);
    }
}

template <int MT, int WN>
__global__ void __launch_bounds__(RW_THREADS) gemm_rows_kernel(RowsArgs a, int split)
{
    constexpr int MP = MT * 16, BN = 4 * WN, NT = WN / 8;
    extern __shared__ __align__(128) unsigned char smem[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int n0 = blockIdx.x * BN, rank = blockIdx.y;
    const int k0 = rank * a.ks, k1 = min(a.K, k0 + a.ks);
    const int nch = (k1 - k0 + RW_KC - 1) / RW_KC;
    const uint32_t xs = (uint32_t)__cvta_generic_to_shared(smem);
    const uint32_t ws = xs + (uint32_t)nch * MP * 128;

    copy_tile<BN>(ws, a.w, a.K, n0, a.N, k0, k1, 0, nch);
    cp_async_commit();
    pdl_wait();
    pdl_release();
    for (int ch = 0; ch < nch; ch++) {
        copy_tile<MP>(xs, a.x, a.ldi, 0, a.M, k0, k1, ch, 1);
        cp_async_commit();
    }

    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;

    for (int ch = 0; ch < nch; ch++) {
        cp_async_wait_pending(nch - 1 - ch);
        __syncthreads();
        const uint32_t xc = xs + (uint32_t)ch * MP * 128, wc = ws + (uint32_t)ch * BN * 128;
#pragma unroll
        for (int kk = 0; kk < RW_KC / 16; kk++) {
            uint32_t af[MT][4];
#pragma unroll
            for (int i = 0; i < MT; i++) {
                const int r = i * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
                ldsm_x4(af[i], xc + swz(r, kk * 2 + (lane >> 4)));
            }
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                uint32_t b[4];
                if (j + 1 < NT) {
                    const int n = warp * WN + j * 8 + (lane & 7) + (lane >> 4) * 8;
                    ldsm_x4(b, wc + swz(n, kk * 2 + ((lane >> 3) & 1)));
                } else {
                    const int n = warp * WN + j * 8 + (lane & 7);
                    ldsm_x2(b[0], b[1], wc + swz(n, kk * 2 + ((lane >> 3) & 1)));
                    b[2] = b[3] = 0;
                }
#pragma unroll
                for (int i = 0; i < MT; i++) {
                    mma_bf16(acc[i][j], af[i], b[0], b[1]);
                    if (j + 1 < NT) mma_bf16(acc[i][j + 1], af[i], b[2], b[3]);
                }
            }
        }
    }

    /* the partial tile, MP x BN fp32 with padded rows, over the operands */
    __syncthreads();
    float *part = reinterpret_cast<float *>(smem);
    constexpr int PS = BN + RW_PAD;
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++) {
            const int r = i * 16 + (lane >> 2), c = warp * WN + j * 8 + (lane & 3) * 2;
            *reinterpret_cast<float2 *>(part + r * PS + c) = make_float2(acc[i][j][0], acc[i][j][1]);
            *reinterpret_cast<float2 *>(part + (r + 8) * PS + c) =
                make_float2(acc[i][j][2], acc[i][j][3]);
        }
    cg::cluster_group cl = cg::this_cluster();
    if (split > 1) cl.sync();
    else __syncthreads();

    /* this rank's share of the tile's rows x column quads, summed over the ranks in order */
    constexpr int QR = BN / 4;
    const int quads = a.M * QR, q0 = rank * quads / split, q1 = (rank + 1) * quads / split;
    for (int q = q0 + threadIdx.x; q < q1; q += RW_THREADS) {
        const int r = q / QR, c = (q % QR) * 4;
        const float *p0 = split > 1 ? cl.map_shared_rank(part, 0) : part;
        float4 s = *reinterpret_cast<const float4 *>(p0 + r * PS + c);
        for (int o = 1; o < split; o++) {
            const float4 t = *reinterpret_cast<const float4 *>(cl.map_shared_rank(part, o) + r * PS + c);
            s.x += t.x, s.y += t.y, s.z += t.z, s.w += t.w;
        }
        const int col = n0 + c;
        const size_t at = (size_t)r * a.ldo + col;
        if (a.vec && col + 3 < a.N) {
            if (a.add) {
                const float4 t = *reinterpret_cast<const float4 *>(a.add + at);
                s.x += t.x, s.y += t.y, s.z += t.z, s.w += t.w;
            }
            if (a.out_bf16) {
                *reinterpret_cast<uint2 *>(static_cast<__nv_bfloat16 *>(a.out) + at) =
                    make_uint2(pack_bf16x2(s.x, s.y), pack_bf16x2(s.z, s.w));
            } else {
                *reinterpret_cast<float4 *>(static_cast<float *>(a.out) + at) = s;
            }
            continue;
        }
        const float v[4] = {s.x, s.y, s.z, s.w};
#pragma unroll
        for (int e = 0; e < 4; e++) {
            if (col + e >= a.N) break;
            const float y = a.add ? a.add[at + e] + v[e] : v[e];
            if (a.out_bf16) static_cast<__nv_bfloat16 *>(a.out)[at + e] = __float2bfloat16_rn(y);
            else static_cast<float *>(a.out)[at + e] = y;
        }
    }
    if (split > 1) cl.sync(); /* no block leaves while another still reads its tile */
}

/* The tiling: the widest column tile (fewer re-reads of the input rows) whose tiles, times the
 * fewest slices of k that give them, still put a block on most multiprocessors; the slices are
 * whole chunks, at most RW_MAX_CHUNKS of them. */
struct RowsPlan {
    int wn, split, ks;
};

static bool plan_rows(const CudaCtx *c, int K, int N, RowsPlan *p)
{
    const long want = (long)c->num_sms * 9 / 10;
    for (int wn = 32; wn >= 8; wn /= 2) {
        const long tiles = (N + 4 * wn - 1) / (4 * wn);
        for (int split = 1; split <= RW_MAX_SPLIT; split *= 2) {
            int ks = (K + split - 1) / split;
            ks = (ks + RW_KC - 1) / RW_KC * RW_KC;
            if (ks > RW_KC * RW_MAX_CHUNKS) continue;
            const int ranks = (K + ks - 1) / ks; /* rounding may leave the last slices empty */
            if (tiles * ranks >= want || (wn == 8 && (split == RW_MAX_SPLIT || ks == RW_KC))) {
                *p = {wn, ranks, ks};
                return true;
            }
            if (ks == RW_KC) break;
        }
    }
    return false; /* K beyond RW_MAX_SPLIT x 512 */
}

template <int MT, int WN>
static void launch_rows(CudaCtx *c, const RowsArgs &a, const RowsPlan &p)
{
    constexpr int MP = MT * 16, BN = 4 * WN;
    const int nch = p.ks / RW_KC;
    size_t ops = (size_t)nch * (MP + BN) * 128, part = (size_t)MP * (BN + RW_PAD) * sizeof(float);
    size_t smem = ops > part ? ops : part;
    auto kern = gemm_rows_kernel<MT, WN>;
    cuda_allow_smem(kern, smem);
    dim3 grid((a.N + BN - 1) / BN, p.split), block(RW_THREADS);
    launch_pdl_cluster(kern, grid, block, smem, c->stream, p.split, a, p.split);
}

template <int MT>
static void launch_mt(CudaCtx *c, const RowsArgs &a, const RowsPlan &p)
{
    switch (p.wn) {
    case 32: launch_rows<MT, 32>(c, a, p); break;
    case 16: launch_rows<MT, 16>(c, a, p); break;
    default: launch_rows<MT, 8>(c, a, p); break;
    }
}

/* the shapes taken, whatever the alignment (the rule of kernels/NOTES.md, g5 and g7) */
static bool takes(const CudaCtx *c, int M, int K, int N, RowsPlan *p)
{
    return M >= 1 && M <= GEMM_ROWS_MAX_M && !(M > 32 && N > RW_THIN_N) && K >= 1 && K % 8 == 0 &&
           plan_rows(c, K, N, p);
}

bool cuda_gemm_rows_takes(const CudaCtx *c, int M, int K, int N)
{
    RowsPlan p;
    return takes(c, M, K, N, &p);
}

bool cuda_gemm_rows_bf16(CudaCtx *c, void *out, int out_bf16, int ldo, const float *add,
                         const __nv_bfloat16 *inp, int ldi, const __nv_bfloat16 *w, int M, int K,
                         int N)
{
    RowsPlan p;
    if (!takes(c, M, K, N, &p) || ldi % 8 || (uintptr_t)inp % 16 || (uintptr_t)w % 16)
        return false;
    const int vec = ldo % 4 == 0 && (uintptr_t)out % (out_bf16 ? 8 : 16) == 0 && (uintptr_t)add % 16 == 0;
    RowsArgs a = {out, out_bf16, ldo, add, inp, ldi, w, M, K, N, p.ks, vec};
    if (M <= 16) launch_mt<1>(c, a, p);
    else if (M <= 32) launch_mt<2>(c, a, p);
    else launch_mt<4>(c, a, p);
    return true;
}
