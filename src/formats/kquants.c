/* K-quants (Q2_K..Q6_K, 256-element super-blocks) and Q8_K, their
 * activation type: dequantization, the Q8_K quantizer and the reference
 * dot products.
 *
 * Summation order: within a super-block every product is an exact integer.
 * They are gathered into 8 integer lanes — lane m holds the elements
 * 4m..4m+3 of every 32-element run — and each lane is scaled into its own
 * float accumulator with a fused multiply-add, super-block after super-block;
 * the 8 accumulators are then added as a tree (4+4, 2+2, 1+1). This is the
 * order of llama.cpp's x86 kernels, so ember's K-quant logits match its
 * bit for bit; SIMD versions must keep it. */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

#define F16(x) ember_fp16_to_fp32(x)

/* 6-bit scale and min of sub-block j, packed in 12 bytes (Q4_K, Q5_K). */
void ember_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 16 signed 6-bit scales of a Q3_K block. */
static void q3_scales(const uint8_t *packed, int8_t *out) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
        int hi = (packed[8 + (j % 4)] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- per-element integer weights: value = d * w[e] (- dmin * m[e]) ---- */

static void q2_weights(const block_q2_K *b, int32_t *w, int32_t *mn) {
    for (int e = 0; e < QK_K; e++) {
        const int j = e / 128, k = (e % 128) / 32, l = e % 32, sub = e / 16;
        const int q = (b->qs[32 * j + l] >> (2 * k)) & 3;
        w[e] = (b->scales[sub] & 0xF) * q;
        mn[e] = b->scales[sub] >> 4;
    }
}

static void q3_weights(const block_q3_K *b, int32_t *w) {
    int8_t sc[16];
    q3_scales(b->scales, sc);
    for (int e = 0; e < QK_K; e++) {
        const int j = e / 128, k = (e % 128) / 32, l = e % 32;
        const int lo = (b->qs[32 * j + l] >> (2 * k)) & 3;
        const int hbit = (b->hmask[l] >> (4 * j + k)) & 1;
        w[e] = sc[e / 16] * (lo - (hbit ? 0 : 4));
    }
}

static void q4_weights(const block_q4_K *b, int32_t *w, int32_t *mn) {
    for (int e = 0; e < QK_K; e++) {
        const int j = e / 64, hi = (e % 64) / 32, l = e % 32;
        uint8_t sc, m;
        ember_k4_scale_min(2 * j + hi, b->scales, &sc, &m);
        const int q = hi ? b->qs[32 * j + l] >> 4 : b->qs[32 * j + l] & 0xF;
        w[e] = sc * q;
        mn[e] = m;
    }
}

static void q5_weights(const block_q5_K *b, int32_t *w, int32_t *mn) {
    for (int e = 0; e < QK_K; e++) {
        const int j = e / 64, hi = (e % 64) / 32, l = e % 32;
        uint8_t sc, m;
        ember_k4_scale_min(2 * j + hi, b->scales, &sc, &m);
        int q = hi ? b->qs[32 * j + l] >> 4 : b->qs[32 * j + l] & 0xF;
        q += ((b->qh[l] >> (2 * j + hi)) & 1) << 4;
        w[e] = sc * q;
        mn[e] = m;
    }
}

static void q6_weights(const block_q6_K *b, int32_t *w) {
    for (int e = 0; e < QK_K; e++) {
        const int j = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t *ql = b->ql + 64 * j, *qh = b->qh + 32 * j;
        const int lo = k == 0 ? ql[l] & 0xF : k == 1 ? ql[l + 32] & 0xF : k == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
        const int h = (qh[l] >> (2 * k)) & 3;
        w[e] = b->scales[e / 16] * ((lo | (h << 4)) - 32);
    }
}

/* ---- dequantization ---- */

void ember_dequant_q2_K(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = F16(x[i].d), dmin = F16(x[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            const int j = e / 128, k = (e % 128) / 32, l = e % 32, sc = x[i].scales[e / 16];
            const int q = (x[i].qs[32 * j + l] >> (2 * k)) & 3;
            y[i * QK_K + e] = (d * (float)(sc & 0xF)) * (float)q - dmin * (float)(sc >> 4);
        }
    }
}

void ember_dequant_q3_K(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    int8_t sc[16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = F16(x[i].d);
        q3_scales(x[i].scales, sc);
        for (int e = 0; e < QK_K; e++) {
            const int j = e / 128, k = (e % 128) / 32, l = e % 32;
            const int lo = (x[i].qs[32 * j + l] >> (2 * k)) & 3;
            const int hbit = (x[i].hmask[l] >> (4 * j + k)) & 1;
            y[i * QK_K + e] = (d * (float)sc[e / 16]) * (float)(lo - (hbit ? 0 : 4));
        }
    }
}

void ember_dequant_q4_K(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = F16(x[i].d), dmin = F16(x[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            const int j = e / 64, hi = (e % 64) / 32, l = e % 32;
            uint8_t sc, m;
            ember_k4_scale_min(2 * j + hi, x[i].scales, &sc, &m);
            const int q = hi ? x[i].qs[32 * j + l] >> 4 : x[i].qs[32 * j + l] & 0xF;
            y[i * QK_K + e] = (d * (float)sc) * (float)q - dmin * (float)m;
        }
    }
}

void ember_dequant_q5_K(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = F16(x[i].d), dmin = F16(x[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            const int j = e / 64, hi = (e % 64) / 32, l = e % 32;
            uint8_t sc, m;
            ember_k4_scale_min(2 * j + hi, x[i].scales, &sc, &m);
            int q = hi ? x[i].qs[32 * j + l] >> 4 : x[i].qs[32 * j + l] & 0xF;
            q += ((x[i].qh[l] >> (2 * j + hi)) & 1) << 4;
            y[i * QK_K + e] = (d * (float)sc) * (float)q - dmin * (float)m;
        }
    }
}

void ember_dequant_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = F16(x[i].d);
        for (int e = 0; e < QK_K; e++) {
            const int j = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t *ql = x[i].ql + 64 * j, *qh = x[i].qh + 32 * j;
            const int lo = k == 0 ? ql[l] & 0xF : k == 1 ? ql[l + 32] & 0xF : k == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
            const int q = (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
            y[i * QK_K + e] = d * (float)x[i].scales[e / 16] * (float)q;
        }
    }
}

void ember_dequant_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int e = 0; e < QK_K; e++) y[i * QK_K + e] = x[i].d * (float)x[i].qs[e];
}

/* ---- Q8_K quantizer (activations) ---- */

static inline int nearest_int(float f) {
    /* round half to even via the float mantissa, as ggml does */
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

void ember_quant_q8_K_ref(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += y[i].qs[16 * j + k];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- reference dots ---- */

float ember_hsum8(const float *a) {
    float r[4];
    for (int k = 0; k < 4; k++) r[k] = a[k + 4] + a[k];
    return (r[0] + r[2]) + (r[1] + r[3]);
}

static void lanes(const int32_t *w, const int8_t *q8, int32_t *sumi) {
    for (int m = 0; m < 8; m++) sumi[m] = 0;
    for (int e = 0; e < QK_K; e++) sumi[(e % 32) / 4] += w[e] * q8[e];
}

/* sum over 32-element sub-blocks of min * (sum of their q8), pairwise as the
 * 16-bit multiply-add instruction pairs them */
static void min_pairs(const int32_t *mn_sub, const int16_t *bsums, int n_sub, int32_t *prod) {
    /* n_sub == 8: mins per 32 elements, q8 sums per 32 = bsums[2k]+bsums[2k+1]
     * n_sub == 16: mins per 16 elements against bsums directly */
    if (n_sub == 8) {
        int32_t s[8];
        for (int k = 0; k < 8; k++) s[k] = (int16_t)(bsums[2 * k] + bsums[2 * k + 1]);
        for (int p = 0; p < 4; p++) prod[p] = mn_sub[2 * p] * s[2 * p] + mn_sub[2 * p + 1] * s[2 * p + 1];
    } else {
        for (int p = 0; p < 8; p++) prod[p] = mn_sub[2 * p] * bsums[2 * p] + mn_sub[2 * p + 1] * bsums[2 * p + 1];
    }
}

void ember_vec_dot_q2_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = {0};
    int32_t w[QK_K], mn[QK_K], sumi[8], mins[16], prod[8];
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * F16(x[i].d), dmin = -y[i].d * F16(x[i].dmin);
        q2_weights(&x[i], w, mn);
        for (int k = 0; k < 16; k++) mins[k] = x[i].scales[k] >> 4;
        min_pairs(mins, y[i].bsums, 16, prod);
        for (int m = 0; m < 8; m++) acc[m] = fmaf(dmin, (float)prod[m], acc[m]);
        lanes(w, y[i].qs, sumi);
        for (int m = 0; m < 8; m++) acc[m] = fmaf(d, (float)sumi[m], acc[m]);
    }
    *s = ember_hsum8(acc);
}

void ember_vec_dot_q3_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = {0};
    int32_t w[QK_K], sumi[8];
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * F16(x[i].d);
        q3_weights(&x[i], w);
        lanes(w, y[i].qs, sumi);
        for (int m = 0; m < 8; m++) acc[m] = fmaf(d, (float)sumi[m], acc[m]);
    }
    *s = ember_hsum8(acc);
}

void ember_vec_dot_q4_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = {0}, acc_m[4] = {0};
    int32_t w[QK_K], mn[QK_K], sumi[8], mins[8], prod[4];
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * F16(x[i].d), dmin = -y[i].d * F16(x[i].dmin);
        q4_weights(&x[i], w, mn);
        for (int k = 0; k < 8; k++) mins[k] = mn[32 * k];
        min_pairs(mins, y[i].bsums, 8, prod);
        for (int p = 0; p < 4; p++) acc_m[p] = fmaf(dmin, (float)prod[p], acc_m[p]);
        lanes(w, y[i].qs, sumi);
        for (int m = 0; m < 8; m++) acc[m] = fmaf(d, (float)sumi[m], acc[m]);
    }
    *s = ember_hsum8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
}

void ember_vec_dot_q5_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = {0}, summs = 0.0f;
    int32_t w[QK_K], mn[QK_K], sumi[8], mins[8], prod[4];
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * F16(x[i].d), dmin = -y[i].d * F16(x[i].dmin);
        q5_weights(&x[i], w, mn);
        for (int k = 0; k < 8; k++) mins[k] = mn[32 * k];
        min_pairs(mins, y[i].bsums, 8, prod);
        summs = fmaf(dmin, (float)(prod[0] + prod[1] + prod[2] + prod[3]), summs);
        lanes(w, y[i].qs, sumi);
        for (int m = 0; m < 8; m++) acc[m] = fmaf(d, (float)sumi[m], acc[m]);
    }
    *s = ember_hsum8(acc) + summs;
}

void ember_vec_dot_q6_K_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = {0};
    int32_t w[QK_K], sumi[8];
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * F16(x[i].d);
        q6_weights(&x[i], w);
        lanes(w, y[i].qs, sumi);
        for (int m = 0; m < 8; m++) acc[m] = fmaf(d, (float)sumi[m], acc[m]);
    }
    *s = ember_hsum8(acc);
}
