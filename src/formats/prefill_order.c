/* Dot products in the summation order llama.cpp uses for prompt batches of
 * float weights (its tiled GEMM on AVX-512): 16 lanes, lane r accumulates
 * elements r, r+16, r+32, ... with fused multiply-add, then the lanes are
 * added as a pairwise tree (8, 4, 2, 1). BF16 uses pairs per lane as the
 * AVX-512 BF16 dot instruction does: the odd element, then the even one.
 * ember uses these for prompt entries only, so that its prompt processing
 * reproduces llama.cpp's logits bit for bit; generation uses the regular
 * dot order. n must be a multiple of 16 (BF16: 32). */
#include "formats.h"
#include "fp16.h"
#include <math.h>

static float tree16(float *v) {
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) v[k] = v[k] + v[k + w];
    return v[0];
}

void ember_vec_dot_f32_prefill_ref(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float acc[16] = {0};
    for (int l = 0; l < n; l += 16)
        for (int r = 0; r < 16; r++) acc[r] = fmaf(x[l + r], y[l + r], acc[r]);
    *s = tree16(acc);
}

void ember_vec_dot_f16_prefill_ref(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float acc[16] = {0};
    for (int l = 0; l < n; l += 16)
        for (int r = 0; r < 16; r++) acc[r] = fmaf(ember_fp16_to_fp32(x[l + r]), ember_fp16_to_fp32(y[l + r]), acc[r]);
    *s = tree16(acc);
}

void ember_vec_dot_bf16_prefill_ref(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float acc[16] = {0};
    for (int l = 0; l < n; l += 32)
        for (int r = 0; r < 16; r++) {
            const int i = l + 2 * r;
            acc[r] = fmaf(ember_bf16_to_fp32(x[i + 1]), ember_bf16_to_fp32(y[i + 1]), acc[r]);
            acc[r] = fmaf(ember_bf16_to_fp32(x[i]), ember_bf16_to_fp32(y[i]), acc[r]);
        }
    *s = tree16(acc);
}
