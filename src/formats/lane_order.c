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

/* ---- float formats in the order of llama.cpp's AVX-512 build ----
 * ../shared/golden was made by that build, so every ember path (scalar,
 * AVX2, AVX-512) sums F32/F16/BF16 dots this way; an AVX2 machine then
 * still reproduces the golden tokens. 16 lanes (lane r takes elements
 * r, r+16, ... of each 64-element step into accumulator a[step part]),
 * accumulators folded (a0+a2)+(a1+a3), lanes as tree16. */

static float tree16(const float *v) {
    float t8[8], t4[4];
    for (int k = 0; k < 8; k++) t8[k] = v[k] + v[k + 8];
    for (int k = 0; k < 4; k++) t4[k] = t8[k] + t8[k + 4];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* the 64-element steps of F32/F16: returns the folded lanes' tree sum */
static float steps64(int np, const void *vx, const void *vy, int f16) {
    float a[4][16] = {{0}};
    for (int i = 0; i < np; i += 64)
        for (int p = 0; p < 4; p++)
            for (int r = 0; r < 16; r++) {
                const int e = i + 16 * p + r;
                const float x = f16 ? ember_fp16_to_fp32(((const uint16_t *)vx)[e]) : ((const float *)vx)[e];
                const float y = f16 ? ember_fp16_to_fp32(((const uint16_t *)vy)[e]) : ((const float *)vy)[e];
                a[p][r] = fmaf(x, y, a[p][r]);
            }
    float v[16];
    for (int r = 0; r < 16; r++) v[r] = (a[0][r] + a[2][r]) + (a[1][r] + a[3][r]);
    return tree16(v);
}

/* The tail (n mod 64) in float, products rounded, except the last
 * (tail mod 8) which GCC's vectorised epilogue fuses. */
void ember_vec_dot_f32_lanes(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    const int np = n & ~63;
    float sum = steps64(np, vx, vy, 0);
    const int nf = n - (n - np) % 8;
    for (int i = np; i < nf; i++) {
        const float p = x[i] * y[i];
        sum += p;
    }
    for (int i = nf; i < n; i++) sum = fmaf(x[i], y[i], sum);
    *s = sum;
}

/* F16: the tail's exact products are added in double. */
void ember_vec_dot_f16_lanes(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const int np = n & ~63;
    double sum = (double)steps64(np, vx, vy, 1);
    for (int i = np; i < n; i++) sum += (double)(ember_fp16_to_fp32(x[i]) * ember_fp16_to_fp32(y[i]));
    *s = (float)sum;
}

/* BF16 as the AVX-512 BF16 dot instruction sums it: per 64 elements two
 * 16-lane accumulators (elements 0..31 and 32..63), lane r taking the pair
 * (2r+1, 2r) with one fma each, odd element first. Each accumulator's tree
 * sum joins a double (first, then second), then the tail in double.
 * (The instruction also flushes denormal inputs and outputs; bf16 weights
 * and activations of real models do not reach that range.) */
void ember_vec_dot_bf16_lanes(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float c[2][16] = {{0}};
    int i = 0;
    for (; i + 64 <= n; i += 64)
        for (int h = 0; h < 2; h++)
            for (int r = 0; r < 16; r++) {
                const int e = i + 32 * h + 2 * r;
                c[h][r] = fmaf(ember_bf16_to_fp32(x[e + 1]), ember_bf16_to_fp32(y[e + 1]), c[h][r]);
                c[h][r] = fmaf(ember_bf16_to_fp32(x[e]), ember_bf16_to_fp32(y[e]), c[h][r]);
            }
    double sum = 0.0;
    sum += (double)tree16(c[0]);
    sum += (double)tree16(c[1]);
    for (; i < n; i++) sum += (double)(ember_bf16_to_fp32(x[i]) * ember_bf16_to_fp32(y[i]));
    *s = (float)sum;
}
