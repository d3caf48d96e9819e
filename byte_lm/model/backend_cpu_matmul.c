/* CPU matmuls through CBLAS (OpenBLAS). Weights are [N, K] (nn.Linear), activations row-major
 * with explicit leading dimensions.
 *
 * Threading is ours, not OpenBLAS's: each product is cut into tiles of fixed size, OpenMP
 * threads take the tiles and run single-threaded sgemm on each. The tiles depend only on the
 * shapes, so results do not depend on the thread count, and OpenBLAS's own thread pool never
 * competes with the OpenMP team for the cores (backend_cpu_create sets it to one thread). */
#include <cblas.h>

#include "byte_lm/model/backend_cpu_internal.h"

/* Rows of out (or dinp) per tile: large enough that packing w once per tile is cheap next to
 * the tile's arithmetic (1/MM_ROW_TILE of it). */
#define MM_ROW_TILE 64
/* Products with fewer row tiles than this (generation steps, short chunks) are also cut along
 * the columns of out, MM_COL_TILE at a time, so every core streams its own part of w. */
#define MM_MIN_ROW_TILES 4
#define MM_COL_TILE 128
/* dw tiles: rows and columns of dw; each runs the full reduction over M. */
#define MM_DW_ROW_TILE 32
#define MM_DW_COL_TILE 64

static inline int ceil_div(int a, int b)
{
    return (a + b - 1) / b;
}
static inline int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* out[m0:m0+m, n0:n0+n] (+)= inp[m0:m0+m, :] @ w[n0:n0+n, :]^T. A single row is a
 * matrix-vector product: sgemv reads w once without sgemm's packing copy, which is what a
 * batch-1 generation step is bound by. */
static void mm_tile(float *out, int ldo, const float *inp, int ldi, const float *w, int m0, int m,
                    int n0, int n, int K, float beta)
{
    const float *wt = w + (size_t)n0 * K;
    float *o = out + (size_t)m0 * ldo + n0;
    if (m == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, K, 1.0f, wt, K, inp + (size_t)m0 * ldi, 1,
                    beta, o, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, K, 1.0f,
                    inp + (size_t)m0 * ldi, ldi, wt, K, beta, o, ldo);
}

void cpu_matmul_fwd(Backend *be, float *out, int ldo, const float *inp, int ldi, const float *w,
                    int M, int K, int N, int accumulate)
{
    if (M <= 0 || N <= 0) return;
    int row_tiles = ceil_div(M, MM_ROW_TILE);
    int col_w = row_tiles < MM_MIN_ROW_TILES ? MM_COL_TILE : N;
    int col_tiles = ceil_div(N, col_w);
    /* beta = 0 makes BLAS overwrite out without reading it (so NaN garbage is not propagated) */
    float beta = accumulate ? 1.0f : 0.0f;
    int tiles = row_tiles * col_tiles, team = cpu_team(be, (size_t)M * N * K);
#pragma omp parallel for schedule(static) num_threads(tiles < team ? tiles : team)
    for (int i = 0; i < tiles; i++) {
        int m0 = (i / col_tiles) * MM_ROW_TILE, n0 = (i % col_tiles) * col_w;
        mm_tile(out, ldo, inp, ldi, w, m0, min_int(MM_ROW_TILE, M - m0), n0,
                min_int(col_w, N - n0), K, beta);
    }
}

void cpu_matmul_bwd(Backend *be, float *dinp, int lddi, float *dw, const float *dout, int lddo,
                    const float *inp, int ldi, const float *w, int M, int K, int N,
                    int accumulate_dinp)
{
    if (M <= 0 || N <= 0 || K <= 0) return;
    int row_tiles = dinp ? ceil_div(M, MM_ROW_TILE) : 0;
    int dw_rows = ceil_div(N, MM_DW_ROW_TILE), dw_cols = ceil_div(K, MM_DW_COL_TILE);
    int dw_tiles = dw_rows * dw_cols;
    float beta = accumulate_dinp ? 1.0f : 0.0f;
    /* One loop over both products' tiles, dealt round-robin: the dw tiles (each a reduction
     * over all M rows) are the heavy ones, so they come first and are spread over the team. */
#pragma omp parallel for schedule(static, 1) num_threads(cpu_team(be, (size_t)M * N * K))
    for (int i = 0; i < dw_tiles + row_tiles; i++) {
        if (i < dw_tiles) { /* dw[n0:n0+n, k0:k0+k] += dout[:, n0:]^T @ inp[:, k0:] */
            int n0 = (i / dw_cols) * MM_DW_ROW_TILE, n = min_int(MM_DW_ROW_TILE, N - n0);
            int k0 = (i % dw_cols) * MM_DW_COL_TILE, k = min_int(MM_DW_COL_TILE, K - k0);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, M, 1.0f, dout + n0, lddo,
                        inp + k0, ldi, 1.0f, dw + (size_t)n0 * K + k0, K);
        } else { /* dinp[m0:m0+m, :] = dout[m0:, :] @ w */
            int m0 = (i - dw_tiles) * MM_ROW_TILE, m = min_int(MM_ROW_TILE, M - m0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, K, N, 1.0f,
                        dout + (size_t)m0 * lddo, lddo, w, K, beta, dinp + (size_t)m0 * lddi,
                        lddi);
        }
    }
}
