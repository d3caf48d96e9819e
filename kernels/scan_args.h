/* Arguments of the selective-scan kernels and the per-shape dispatchers (scan_fwd.cu,
 * scan_bwd.cu); scan.cu fills them from the backend interface. T is the activation storage
 * type (u, delta_pre, z, y and their gradients): float, or __nv_bfloat16 for the mixed-precision
 * plan. */
#ifndef BYTELM_SCAN_ARGS_H
#define BYTELM_SCAN_ARGS_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>

/* Steps between the states the forward saves; the backward walks chunks of this length, holding
 * a chunk's forward states in registers (SC x 8 floats a lane). */
constexpr int SCAN_SC = 8;

template <typename T> struct ScanFwdArgs {
    T *y;                         /* [B*L, D]; NULL: only the saved states are wanted */
    const T *u, *delta_pre, *z;   /* [B*L, D], [B*L, D], stride z_stride (may be NULL) */
    const float *dt_bias, *A_log, *Bm, *Cm, *Dskip;
    float *ssm_state;             /* [B, D, N] in/out, or NULL (zero initial state) */
    float *saved;                 /* [B, nchunk, D, N] states before steps 0, SC, 2 SC, ..., or NULL */
    int z_stride, bc_stride;
    int B, L, D, nchunk;          /* nchunk = ceil(L / SCAN_SC) */
    bool vec_act, vec_bc;         /* 16-byte staging copies allowed */
    bool pair_out;                /* y rows allow one store per channel pair */
};

template <typename T> struct ScanBwdArgs {
    T *du, *ddelta_pre, *dz;      /* [B*L, D], [B*L, D], stride dz_stride (may be NULL) */
    float *part_bc;               /* [gridDim.x][B*L][2N]: dBm then dCm, per block of channels */
    float *part_A;                /* [B][D][N]: dA_log per sequence */
    float *part_D, *part_bias;    /* [B][D]: dDskip, ddt_bias per sequence */
    const T *dy, *u, *delta_pre, *z;
    const float *dt_bias, *A_log, *Bm, *Cm, *Dskip, *saved;
    int z_stride, dz_stride, bc_stride;
    int B, L, D, nchunk;          /* nchunk = ceil(L / SCAN_SC) */
    bool vec_act, vec_bc;
    bool pair_out;                /* du, ddelta_pre and dz rows allow paired stores */
};

/* Channels one block covers at state size N with kc (1 or 2) channels a lane. */
int scan_channels_per_block(int N, int kc);
/* True when the kernels are built for state size N (4, 8, 16, 32). */
bool scan_state_supported(int N);

/* Queue the forward / backward kernels (N must be supported) with kc channels a lane. The
 * backward runs grid_x x B blocks; roomy (either direction): the grid is at most 4 blocks per
 * SM, and the build with more registers and shared memory per block runs it. */
void scan_fwd_dispatch(const ScanFwdArgs<float> &a, int N, int kc, bool roomy, cudaStream_t s);
void scan_fwd_dispatch(const ScanFwdArgs<__nv_bfloat16> &a, int N, int kc, bool roomy, cudaStream_t s);
void scan_bwd_dispatch(const ScanBwdArgs<float> &a, int N, int grid_x, int kc, bool roomy, cudaStream_t s);
void scan_bwd_dispatch(const ScanBwdArgs<__nv_bfloat16> &a, int N, int grid_x, int kc, bool roomy,
                       cudaStream_t s);

#endif
