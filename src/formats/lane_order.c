/* Scalar dots for the 32-element block quants in the order of the SIMD
 * kernels (and of llama.cpp's x86 builds): per block 8 exact int32 lanes,
 * lane k = elements 4k..4k+3; acc[k] = fma(dx*dy, lane[k], acc[k]); lanes
 * folded ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)); Q4_1/Q5_1 add
 * summs = fma(m, s, summs) at the end. The scalar CPU path uses these, so
 * every path gives bit-identical results for these types (the *_ref dots
 * keep ggml's portable order and serve as the documented references). */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

static float fold8(const float *a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

static void lanes_block(const int *w, const int8_t *a, float d, float *acc) {
    for (int k = 0; k < 8; k++) {
        int s = 0;
        for (int j = 4 * k; j < 4 * k + 4; j++) s += w[j] * a[j];
        acc[k] = fmaf(d, (float)s, acc[k]);
    }
}

void ember_vec_dot_q8_0_lanes(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx, *y = vy;
    float acc[8] = {0};
    int w[32];
    for (int b = 0; b < n / 32; b++) {
        for (int j = 0; j < 32; j++) w[j] = x[b].qs[j];
        lanes_block(w, y[b].qs, ember_fp16_to_fp32(x[b].d) * ember_fp16_to_fp32(y[b].d), acc);
    }
    *s = fold8(acc);
}

void ember_vec_dot_q4_0_lanes(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0};
    int w[32];
    for (int b = 0; b < n / 32; b++) {
        for (int j = 0; j < 16; j++) { w[j] = (x[b].qs[j] & 0xF) - 8; w[j + 16] = (x[b].qs[j] >> 4) - 8; }
        lanes_block(w, y[b].qs, ember_fp16_to_fp32(x[b].d) * ember_fp16_to_fp32(y[b].d), acc);
    }
    *s = fold8(acc);
}

void ember_vec_dot_q5_0_lanes(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0};
    int w[32];
    for (int b = 0; b < n / 32; b++) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < 16; j++) {
            w[j] = ((x[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
            w[j + 16] = ((x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
        }
        lanes_block(w, y[b].qs, ember_fp16_to_fp32(x[b].d) * ember_fp16_to_fp32(y[b].d), acc);
    }
    *s = fold8(acc);
}

void ember_vec_dot_q4_1_lanes(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = {0}, summs = 0.0f;
    int w[32];
    for (int b = 0; b < n / 32; b++) {
        for (int j = 0; j < 16; j++) { w[j] = x[b].qs[j] & 0xF; w[j + 16] = x[b].qs[j] >> 4; }
        lanes_block(w, y[b].qs, ember_fp16_to_fp32(x[b].d) * ember_fp16_to_fp32(y[b].d), acc);
        summs = fmaf(ember_fp16_to_fp32(x[b].m), ember_fp16_to_fp32(y[b].s), summs);
    }
    *s = fold8(acc) + summs;
}

void ember_vec_dot_q5_1_lanes(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = {0}, summs = 0.0f;
    int w[32];
    for (int b = 0; b < n / 32; b++) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < 16; j++) {
            w[j] = (x[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            w[j + 16] = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
        }
        lanes_block(w, y[b].qs, ember_fp16_to_fp32(x[b].d) * ember_fp16_to_fp32(y[b].d), acc);
        summs = fmaf(ember_fp16_to_fp32(x[b].m), ember_fp16_to_fp32(y[b].s), summs);
    }
    *s = fold8(acc) + summs;
}

/* BF16 in the AVX2 kernel's order: 4 accumulators of 8 lanes over steps of
 * 32 (fma), combined (c1+c3)+(c2+c4), folded as above, then the tail in
 * double. */
void ember_vec_dot_bf16_lanes(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    int i = 0;
    if (n >= 32) {
        float c[4][8] = {{0}};
        for (; i + 32 <= n; i += 32)
            for (int a = 0; a < 4; a++)
                for (int l = 0; l < 8; l++)
                    c[a][l] = fmaf(ember_bf16_to_fp32(x[i + 8 * a + l]), ember_bf16_to_fp32(y[i + 8 * a + l]), c[a][l]);
        float v[8];
        for (int l = 0; l < 8; l++) v[l] = (c[0][l] + c[2][l]) + (c[1][l] + c[3][l]);
        sum += (double)fold8(v);
    }
    for (; i < n; i++) sum += (double)(ember_bf16_to_fp32(x[i]) * ember_bf16_to_fp32(y[i]));
    *s = (float)sum;
}
