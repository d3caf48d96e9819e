/* The CPU backend's generation ops: the normalized product, the scan's recurrent step with
 * dt_proj, and sampling.
 * Both are compositions of what the CPU already defines (its matmuls and scan, and the
 * sampler's specification in base/sampler.c), so they are the oracle the CUDA ones answer to. */
#include <stdlib.h>


#include "byte_lm/model/backend_cpu_internal.h"

/* The norm into a temporary, then the product: exactly the ops the forward runs. */
void cpu_norm_matmul(Backend *be, void *out, int out_bf16, int ldo, const float *inp,
                     const float *norm_w, float eps, const void *w, int half, int M, int K, int N)
{
    float *rstd = cpu_scratch((size_t)M * sizeof(float));
    if (half) {
        bf16 *normed = cpu_scratch((size_t)M * K * sizeof(bf16));
        cpu_rmsnorm_fwd_bf16(be, normed, rstd, inp, norm_w, M, K, eps);
        cpu_matmul_fwd_bf16(be, out, out_bf16, ldo, NULL, normed, K, w, M, K, N);
        free(normed);
    } else {
        float *normed = cpu_scratch((size_t)M * K * sizeof(float));
        cpu_rmsnorm_fwd(be, normed, rstd, inp, norm_w, M, K, eps);
        cpu_matmul_fwd(be, out, ldo, normed, K, w, M, K, N, 0);
        free(normed);
    }
    free(rstd);
}

/* dt_proj into a temporary delta, then the L = 1 scan: exactly the ops the forward runs. */
void cpu_ssm_step(Backend *be, const ScanStep *a)
{
    int B = a->B, D = a->D, R = a->R;
    size_t el = a->bf16 ? sizeof(bf16) : sizeof(float);
    void *delta = cpu_scratch((size_t)B * D * el);
    if (a->bf16) {
        bf16 *xdt = cpu_scratch((size_t)B * R * sizeof(bf16));
        cpu_cast_bf16(be, xdt, R, a->xdbl, a->xdbl_stride, B, R);
        cpu_matmul_fwd_bf16(be, delta, 1, D, NULL, xdt, R, a->dt_w, B, R, D);
        free(xdt);
    } else {
        cpu_matmul_fwd(be, delta, D, a->xdbl, a->xdbl_stride, a->dt_w, B, R, D, 0);
    }
    ScanFwd f = {.bf16 = a->bf16, .y = a->y, .u = a->u, .delta_pre = delta, .z = a->z,
                 .z_stride = a->z_stride, .dt_bias = a->dt_bias, .A_log = a->A_log,
                 .Bm = a->xdbl + R, .Cm = a->xdbl + R + a->N, .bc_stride = a->xdbl_stride,
                 .Dskip = a->Dskip, .ssm_state = a->ssm_state, .saved = NULL, .B = B, .L = 1,
                 .D = D, .N = a->N};
    cpu_scan_fwd(be, &f);
    free(delta);
}

void cpu_sample(Backend *be, const SampleArgs *a)
{
    (void)be;
    int W = a->cfg.repetition_window;
    for (int b = 0; b < a->B; b++) {
        const float *lg = a->logits + (size_t)b * 256;
        int finite = 1;
        for (int v = 0; v < 256; v++) finite &= isfinite(lg[v]) != 0;
        uint8_t *ring = a->history && W > 0 ? a->history + (size_t)b * W : NULL;
        a->out[b] = (uint8_t)sampler_pick(&a->cfg, a->strict_utf8, a->max_bytes, lg,
                                          &a->streams[b], ring);
        a->out[a->B + b] = (uint8_t)finite;
    }
}
