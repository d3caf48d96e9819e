/* Arguments of the selective-scan kernels and the per-shape dispatchers (scan_fwd.cu,
 * scan_bwd.cu); scan.cu fills them from the backend interface. T is the activation storage
 * type (u, delta_pre, z, y and their gradients): float, or __nv_bfloat16 for the mixed-precision
 * plan. */
#ifndef BYTELM_SCAN_ARGS_H
#define BYTELM_SCAN_ARGS_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>

template <typename T> struct ScanFwdArgs {
    T *y;                         /* [B*L, D]; NULL: only the saved states are wanted */
    const T *u, *delta_pre, *z;   /* [B*L, D], [B*L, D], stride z_stride (may be NULL) */
    const float *dt_bias, *A_log, *Bm, *Cm, *Dskip;
    float *ssm_state;             /* [B, D, N] in/out, or NULL (zero initial state) */
    float *saved;                 /* [B, nchunk, D, N] chunk-start states, or NULL */
    int z_stride, bc_stride;
    int B, L, D, nchunk;
    bool vec_act, vec_bc;         /* 16-byte staging copies allowed */
};

template <typename T> struct ScanBwdArgs {
    T *du, *ddelta_pre, *dz;      /* [B*L, D], [B*L, D], stride dz_stride (may be NULL) */
    float *part_bc;               /* [nparts][B*L][2N]: dBm then dCm, per cluster of blocks */
    float *part_A;                /* [B][D][N]: dA_log per sequence */
    float *part_D, *part_bias;    /* [B][D]: dDskip, ddt_bias per sequence */
    const T *dy, *u, *delta_pre, *z;
    const float *dt_bias, *A_log, *Bm, *Cm, *Dskip, *saved;
    int z_stride, dz_stride, bc_stride;
    int B, L, D, nchunk;
    bool vec_act, vec_bc;
};

/* Block geometry of the kernels for state size N: channels per block. */
int scan_channels_per_block(int N);
/* True when the kernels are built for this (N, chunk). */
bool scan_supported(int N, int chunk);

/* Queue the forward / backward kernels. The backward launch is a cluster of `cluster` blocks
 * along the channel axis; gridDim.x is padded to a multiple of it. */
void scan_fwd_dispatch(const ScanFwdArgs<float> &a, int N, int chunk, cudaStream_t s);
void scan_fwd_dispatch(const ScanFwdArgs<__nv_bfloat16> &a, int N, int chunk, cudaStream_t s);
void scan_bwd_dispatch(const ScanBwdArgs<float> &a, int N, int chunk, int grid_x, int cluster,
                       cudaStream_t s);
void scan_bwd_dispatch(const ScanBwdArgs<__nv_bfloat16> &a, int N, int chunk, int grid_x,
                       int cluster, cudaStream_t s);

#endif
