/* Reference quantizers for Q2_K..Q6_K (weights, no importance matrix), and
 * the importance-weighted quantizers of every type that uses an importance
 * matrix (Q4_0/Q4_1/Q5_0/Q5_1, Q2_K..Q6_K; see the end of the file). They
 * follow llama.cpp's algorithms step by step — the same searches, the same
 * float expressions in the same order — so `ember gen`/quantize output is
 * byte-identical to llama-quantize's, with or without --imatrix
 * (tests/test_kquants.c checks this against llama.cpp-made files). */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

#define MAXI(a, b) ((a) > (b) ? (a) : (b))
#define MINI(a, b) ((a) < (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* symmetric quantization to [-nmax, nmax-1] with a weighted scale search;
 * the error weights are qw, or x^2 when qw is NULL */
static float qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* symmetric 3-bit-style quantization with iterative refinement */
static float q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = MAXI(-nmax, MINI(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* asymmetric quantization to [0, nmax] with scale and min searched over
 * nstep candidate scales, weighted error (squared or absolute) */
static float qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                         uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAXI(0, MINI(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_mad += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = MAXI(0, MINI(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                mad += weights[i] * diff;
            }
            if (mad < best_mad) {
                memcpy(L, Laux, (size_t)n);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- packing of the chosen levels, shared by the plain and the
 * importance-weighted quantizers ---- */

/* four 2-bit levels per byte: byte l of each 32-byte run holds elements
 * l, l+32, l+64, l+96 of its 128 */
static void pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* Q2_K: levels 0..3 from the block's scales and mins, packed */
static void q2_K_levels(const float *x, block_q2_K *y, uint8_t *L) {
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = ember_fp16_to_fp32(y->d) * (y->scales[j] & 0xF);
        if (!d) continue;
        const float dm = ember_fp16_to_fp32(y->dmin) * (y->scales[j] >> 4);
        for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (uint8_t)MAXI(0, MINI(3, nearest_int((x[16 * j + ii] + dm) / d)));
    }
    pack_2bit(y->qs, L);
}

/* Q3_K's 6-bit scale j (0..63): low nibbles in bytes 0..7, top two bits
 * in bytes 8..11 (scales must start zeroed) */
static void q3_K_put_scale(uint8_t *scales, int j, int l) {
    if (j < 8) scales[j] = (uint8_t)(l & 0xF);
    else scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
    scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
}

/* Q3_K: levels -4..3 from the block's scales, the high bit into hmask, the
 * low two bits packed */
static void q3_K_levels(const float *x, block_q3_K *y, int8_t *L) {
    for (int j = 0; j < QK_K / 16; j++) {
        int8_t sc = (int8_t)(j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4);
        sc = (int8_t)((sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        const float d = ember_fp16_to_fp32(y->d) * sc;
        if (!d) continue;
        for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (int8_t)(MAXI(-4, MINI(3, nearest_int(x[16 * j + ii] / d))) + 4);
    }
    memset(y->hmask, 0, QK_K / 8);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < QK_K; j++) {
        if (L[j] > 3) { y->hmask[m] |= hm; L[j] -= 4; }
        if (++m == QK_K / 8) { m = 0; hm <<= 1; }
    }
    pack_2bit(y->qs, (const uint8_t *)L); /* 0..3 now */
}

/* Q4_K/Q5_K scale j and min j (6 bits each) into the 12 packed bytes
 * (which must start zeroed) */
static void k4_put_scale_min(uint8_t *out, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        out[j] = ls;
        out[j + 4] = lm;
    } else {
        out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        out[j - 4] |= (uint8_t)((ls >> 4) << 6);
        out[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* Q4_K: two 4-bit levels per byte (elements l and l+32 of each 64) */
static void q4_K_levels(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QK_K; j += 64, qs += 32)
        for (int l = 0; l < 32; l++) qs[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

/* Q5_K: the same nibbles, the fifth bits in qh */
static void q5_K_levels(block_q5_K *y, const uint8_t *L) {
    uint8_t *qh = y->qh, *ql = y->qs;
    memset(qh, 0, QK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64, ql += 32) {
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
            if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 <<= 2;
        m2 <<= 2;
    }
}

void ember_quant_q2_K_ref(const float *x, void *vy, int64_t k) {
    block_q2_K *y = vy;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = ember_fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = 0;
            y[i].d = ember_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = ember_fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = ember_fp32_to_fp16(0.f);
        }
        q2_K_levels(x, &y[i], L);
    }
}

void ember_quant_q3_K_ref(const float *x, void *vy, int64_t k) {
    block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = fabsf(scales[j]);
            if (scale > amax) { amax = scale; max_scale = scales[j]; }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                q3_K_put_scale(y[i].scales, j, MAXI(-32, MINI(31, l)) + 32);
            }
            y[i].d = ember_fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = ember_fp32_to_fp16(0.f);
        }
        q3_K_levels(x, &y[i], L);
    }
}

/* Q4_K and Q5_K share the 6-bit scale/min packing and the search. */
static void k4_pack_scales(uint8_t *out, const float *scales, const float *mins, float max_scale, float max_min) {
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]), lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = MINI(63, ls);
        lm = MINI(63, lm);
        k4_put_scale_min(out, j, ls, lm);
    }
}

static void k4_search(const float *x, int nmax, float rmin, int nstep, uint8_t *L, float *scales, float *mins,
                      float *max_scale, float *max_min) {
    uint8_t Laux[32];
    float weights[32];
    *max_scale = 0;
    *max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > *max_scale) *max_scale = scales[j];
        if (mins[j] > *max_min) *max_min = mins[j];
    }
}

static void k4_requant(const float *x, const uint8_t *packed, uint16_t d16, uint16_t dmin16, int nmax, uint8_t *L) {
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        ember_k4_scale_min(j, packed, &sc, &m);
        const float d = ember_fp16_to_fp32(d16) * sc;
        if (!d) continue;
        const float dm = ember_fp16_to_fp32(dmin16) * m;
        for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = (uint8_t)MAXI(0, MINI(nmax, nearest_int((x[32 * j + ii] + dm) / d)));
    }
}

void ember_quant_q4_K_ref(const float *x, void *vy, int64_t k) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    float mins[QK_K / 32], scales[QK_K / 32], max_scale, max_min;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        k4_search(x, 15, -1.f, 20, L, scales, mins, &max_scale, &max_min);
        memset(y[i].scales, 0, K_SCALE_SIZE);
        k4_pack_scales(y[i].scales, scales, mins, max_scale, max_min);
        y[i].d = ember_fp32_to_fp16(max_scale / 63.f);
        y[i].dmin = ember_fp32_to_fp16(max_min / 63.f);
        k4_requant(x, y[i].scales, y[i].d, y[i].dmin, 15, L);
        q4_K_levels(y[i].qs, L);
    }
}

void ember_quant_q5_K_ref(const float *x, void *vy, int64_t k) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    float mins[QK_K / 32], scales[QK_K / 32], max_scale, max_min;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        k4_search(x, 31, -0.5f, 15, L, scales, mins, &max_scale, &max_min);
        memset(y[i].scales, 0, K_SCALE_SIZE);
        k4_pack_scales(y[i].scales, scales, mins, max_scale, max_min);
        y[i].d = ember_fp32_to_fp16(max_scale / 63.f);
        y[i].dmin = ember_fp32_to_fp16(max_min / 63.f);
        k4_requant(x, y[i].scales, y[i].d, y[i].dmin, 31, L);
        q5_K_levels(&y[i], L);
    }
}

/* Q6_K with optional importance weights qw (NULL: unweighted); llama.cpp
 * uses one routine for both, passing the weights to the scale search. */
static void q6_K_row_w(const float *x, block_q6_K *y, int64_t k, const float *qw) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float scale = qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + QK_K * i + 16 * ib : 0);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) { max_abs_scale = fabsf(scale); max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = ember_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)MINI(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = ember_fp16_to_fp32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (int8_t)(MAXI(-32, MINI(31, nearest_int(x[16 * j + ii] / d))) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void ember_quant_q6_K_ref(const float *x, void *vy, int64_t k) { q6_K_row_w(x, vy, k, NULL); }

/* ---- importance-weighted quantizers ------------------------------------
 * One row of n values at a time with per-column importances qw[n] (the mean
 * squared activation of each input column). Each sub-block's error weights
 * are qw[i] * sqrt(sigma2 + x[i]^2), sigma2 a mean square of the row or
 * super-block, except Q6_K which uses qw directly. Scales and mins of the
 * K-quant super-blocks are themselves quantized by a weighted search
 * (qp_quants) instead of the plain max-based rounding of the references. */

/* asymmetric quantization to [0, nmax] with given error weights (squared
 * error): the scale/min pair is least-squares fitted for nstep+1 candidate
 * rounding scales (nmax + rmin + rdelta*is) / (max - min) */
static float qkx3_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min, uint8_t *Laux,
                         float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)MAXI(0, MINI(nmax, nearest_int(iscale * (x[i] - min))));
        const float diff = scale * L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = MAXI(0, MINI(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            const float diff = this_scale * Laux[i] + this_min - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* quantizes non-negative x (sub-block scales or mins) to [0, nmax] with
 * weights w: best of 9 rounding scales by weighted error, then up to five
 * passes moving single levels while the least-squares fit improves.
 * L keeps llama.cpp's uint8 wrap for a (never expected) negative input. */
static float qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (!max) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    const float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        const float diff = x[i] - scale * L[i];
        best += w[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (!is) continue;
        const float iscale_is = (0.1f * is + nmax) / max, scale_is = 1 / iscale_is;
        float err = 0;
        for (int i = 0; i < n; i++) {
            const int l = MINI(nmax, nearest_int(iscale_is * x[i]));
            const float diff = x[i] - scale_is * l;
            err += w[i] * diff * diff;
        }
        if (err < best) {
            best = err;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = MINI(nmax, nearest_int(iscale * x[i]));
        L[i] = (uint8_t)l;
        sumlx += w[i] * x[i] * l;
        suml2 += w[i] * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * L[i], sl2 = suml2 - w[i] * L[i] * L[i];
            if (!(slx > 0 && sl2 > 0)) continue;
            const int nl = MINI(nmax, nearest_int(x[i] * sl2 / slx));
            if (nl == L[i]) continue;
            slx += w[i] * x[i] * nl;
            sl2 += w[i] * nl * nl;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (uint8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    return sumlx / suml2;
}

/* error weights of a group: qw[i] * sqrt(sigma2 + x[i]^2); returns their sum */
static float group_weights(int n, const float *x, const float *qw, float sigma2, float *w) {
    float sum = 0;
    for (int l = 0; l < n; l++) w[l] = qw[l] * sqrtf(sigma2 + x[l] * x[l]);
    for (int l = 0; l < n; l++) sum += w[l];
    return sum;
}

static float sum_squares(const float *x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s;
}

static void q2_K_row_w(const float *x, block_q2_K *y, int64_t n, const float *qw) {
    uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float w[16], sw[QK_K / 16], mins[QK_K / 16], scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        const float sigma2 = sum_squares(x, QK_K) / QK_K;
        for (int j = 0; j < QK_K / 16; j++) {
            sw[j] = group_weights(16, x + 16 * j, qw + QK_K * i + 16 * j, sigma2, w);
            scales[j] = qkx3_quants(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36);
        }
        y[i].d = ember_fp32_to_fp16(qp_quants(QK_K / 16, 15, scales, Ls, sw));
        y[i].dmin = ember_fp32_to_fp16(qp_quants(QK_K / 16, 15, mins, Lm, sw));
        for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        q2_K_levels(x, &y[i], L);
    }
}

static void q3_K_row_w(const float *x, block_q3_K *y, int64_t n, const float *qw) {
    int8_t L[QK_K], Ls[QK_K / 16];
    float w[16], sw[QK_K / 16], scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        const float sigma2 = 2 * sum_squares(x, QK_K) / QK_K;
        for (int j = 0; j < QK_K / 16; j++) {
            sw[j] = group_weights(16, x + 16 * j, qw + QK_K * i + 16 * j, sigma2, w);
            scales[j] = qx_quants(16, 4, x + 16 * j, L + 16 * j, w);
        }
        memset(y[i].scales, 0, 12);
        const float d_block = qx_quants(QK_K / 16, 32, scales, Ls, sw);
        for (int j = 0; j < QK_K / 16; j++) q3_K_put_scale(y[i].scales, j, Ls[j]);
        y[i].d = ember_fp32_to_fp16(d_block);
        q3_K_levels(x, &y[i], L);
    }
}

/* Q4_K/Q5_K: the weighted search of the eight 32-value groups and the
 * quantized scales/mins of one super-block; levels requantized into L */
static void k4_block_w(const float *x, const float *qw, int nmax, int clamp63, uint8_t *scales_out, ember_f16 *d16,
                       ember_f16 *dmin16, uint8_t *L) {
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float w[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    const float sigma2 = 2 * sum_squares(x, QK_K) / QK_K;
    for (int j = 0; j < QK_K / 32; j++) {
        sw[j] = group_weights(32, x + 32 * j, qw + 32 * j, sigma2, w);
        scales[j] = qkx3_quants(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36);
    }
    const float d_block = qp_quants(QK_K / 32, 63, scales, Ls, sw);
    const float m_block = qp_quants(QK_K / 32, 63, mins, Lm, sw);
    memset(scales_out, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = Ls[j], lm = Lm[j];
        if (clamp63) {
            ls = MINI(63, ls);
            lm = MINI(63, lm);
        }
        k4_put_scale_min(scales_out, j, ls, lm);
    }
    *d16 = ember_fp32_to_fp16(d_block);
    *dmin16 = ember_fp32_to_fp16(m_block);
    k4_requant(x, scales_out, *d16, *dmin16, nmax, L);
}

static void q4_K_row_w(const float *x, block_q4_K *y, int64_t n, const float *qw) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        k4_block_w(x, qw + QK_K * i, 15, 0, y[i].scales, &y[i].d, &y[i].dmin, L);
        q4_K_levels(y[i].qs, L);
    }
}

static void q5_K_row_w(const float *x, block_q5_K *y, int64_t n, const float *qw) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        k4_block_w(x, qw + QK_K * i, 31, 1, y[i].scales, &y[i].d, &y[i].dmin, L);
        q5_K_levels(&y[i], L);
    }
}


/* Q4_0/Q5_0 (symmetric, nmax 8/16) and Q4_1/Q5_1 (scale and min, 15/31
 * levels); sigma2 is the mean square of the whole row */
static void q4_0_row_w(const float *x, block_q4_0 *y, int64_t n, const float *qw) {
    int8_t L[QK4_0];
    float w[QK4_0];
    const float sigma2 = sum_squares(x, n) / n;
    for (int64_t ib = 0; ib < n / QK4_0; ib++) {
        const float *xb = x + QK4_0 * ib;
        group_weights(QK4_0, xb, qw + QK4_0 * ib, sigma2, w);
        y[ib].d = ember_fp32_to_fp16(qx_quants(QK4_0, 8, xb, L, w));
        for (int j = 0; j < 16; j++) y[ib].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

static void q4_1_row_w(const float *x, block_q4_1 *y, int64_t n, const float *qw) {
    uint8_t L[QK4_1], Laux[QK4_1];
    float w[QK4_1], min;
    const float sigma2 = sum_squares(x, n) / n;
    for (int64_t ib = 0; ib < n / QK4_1; ib++) {
        const float *xb = x + QK4_1 * ib;
        group_weights(QK4_1, xb, qw + QK4_1 * ib, sigma2, w);
        const float d = qkx3_quants(QK4_1, 15, xb, w, L, &min, Laux, -0.9f, 0.05f, 36);
        y[ib].d = ember_fp32_to_fp16(d);
        y[ib].m = ember_fp32_to_fp16(-min);
        for (int j = 0; j < 16; j++) y[ib].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

static void pack_q5(const uint8_t *L, uint8_t *qs, uint8_t qh_out[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)((L[j] & 0x10u) >> 4) << j;
        qh |= (uint32_t)((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh_out[k] = (uint8_t)(qh >> (8 * k));
}

static void q5_0_row_w(const float *x, block_q5_0 *y, int64_t n, const float *qw) {
    int8_t L[QK5_0];
    uint8_t U[QK5_0];
    float w[QK5_0];
    const float sigma2 = sum_squares(x, n) / n;
    for (int64_t ib = 0; ib < n / QK5_0; ib++) {
        const float *xb = x + QK5_0 * ib;
        group_weights(QK5_0, xb, qw + QK5_0 * ib, sigma2, w);
        y[ib].d = ember_fp32_to_fp16(qx_quants(QK5_0, 16, xb, L, w));
        for (int j = 0; j < QK5_0; j++) U[j] = (uint8_t)L[j];
        pack_q5(U, y[ib].qs, y[ib].qh);
    }
}

static void q5_1_row_w(const float *x, block_q5_1 *y, int64_t n, const float *qw) {
    uint8_t L[QK5_1], Laux[QK5_1];
    float w[QK5_1], min;
    const float sigma2 = sum_squares(x, n) / n;
    for (int64_t ib = 0; ib < n / QK5_1; ib++) {
        const float *xb = x + QK5_1 * ib;
        group_weights(QK5_1, xb, qw + QK5_1 * ib, sigma2, w);
        const float d = qkx3_quants(QK5_1, 31, xb, w, L, &min, Laux, -0.9f, 0.05f, 36);
        y[ib].d = ember_fp32_to_fp16(d);
        y[ib].m = ember_fp32_to_fp16(-min);
        pack_q5(L, y[ib].qs, y[ib].qh);
    }
}

int ember_quant_row_weighted(int type, const float *x, void *y, int64_t n, const float *qw) {
    switch (type) {
    case EMBER_TYPE_Q4_0: q4_0_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q4_1: q4_1_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q5_0: q5_0_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q5_1: q5_1_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q2_K: q2_K_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q3_K: q3_K_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q4_K: q4_K_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q5_K: q5_K_row_w(x, y, n, qw); return 0;
    case EMBER_TYPE_Q6_K: q6_K_row_w(x, y, n, qw); return 0;
    default: return 1;
    }
}
