/* AVX2 K-quant dots. They keep the order documented in formats/kquants.c:
 * exact integer lanes (lane m = elements 4m..4m+3 of each 32-element run),
 * one fused multiply-add per lane and super-block, then a tree sum; so they
 * are bit-identical to the scalar references (tests/test_kquants.c). */
#include "kernels.h"
#include "../formats/fp16.h"
#include <immintrin.h>
#include <string.h>

static inline float hsum8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* 32 bytes of weights (unsigned) times 32 int8 activations, times an int16
 * scale: 8 int32 lanes of 4 elements each. */
static inline __m256i scaled_dot(__m256i q, __m256i a, __m256i scale16) {
    return _mm256_madd_epi16(scale16, _mm256_maddubs_epi16(q, a));
}

/* Scales and mins of a Q4_K/Q5_K block as 8 + 8 bytes in sub-block order,
 * unpacked with 32-bit word operations (no per-byte branches). */
static inline void k4_scales(const uint8_t *packed, uint8_t *sc, uint8_t *mn) {
    uint32_t u[3], o[4];
    memcpy(u, packed, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    o[0] = u[0] & m6;                                       /* scales 0..3 */
    o[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);          /* scales 4..7 */
    o[2] = u[1] & m6;                                       /* mins 0..3 */
    o[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);   /* mins 4..7 */
    memcpy(sc, o, 8);
    memcpy(mn, o + 2, 8);
}

/* min part: pairs of (min, sum of q8 over 32 elements) as madd pairs them */
static inline __m128i k4_min_prod(const uint8_t *mn, const int16_t *bsums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
    return _mm_madd_epi16(mins, q8s);
}

static void dot_q4_K(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * ember_fp16_to_fp32(x[i].d);
        const float dmin = -y[i].d * ember_fp16_to_fp32(x[i].dmin);
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_prod(mn, y[i].bsums)), acc_m);
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 64; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q4);
            q4 += 32;
            const __m256i lo = _mm256_and_si256(bits, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)q8);
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            q8 += 64;
            const __m256i p0 = scaled_dot(lo, a0, _mm256_set1_epi16(sc[2 * j]));
            const __m256i p1 = scaled_dot(hi, a1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    *s = hsum8(acc) + _mm_cvtss_f32(acc_m);
}

static void dot_q5_K(int n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF), bit4 = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * ember_fp16_to_fp32(x[i].d);
        const float dmin = -y[i].d * ember_fp16_to_fp32(x[i].dmin);
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        __m128i prod = k4_min_prod(mn, y[i].bsums);
        prod = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0x4E));
        prod = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0xB1));
        summs = __builtin_fmaf(dmin, (float)_mm_cvtsi128_si32(prod), summs);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].qh);
        const uint8_t *q5 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 64; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)q5);
            q5 += 32;
            /* high bit 2j (low nibbles) and 2j+1 (high nibbles) of qh */
            const __m256i hb0 = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, _mm256_set1_epi8((char)(1 << (2 * j)))),
                                                  _mm256_set1_epi8((char)(1 << (2 * j))));
            const __m256i hb1 = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, _mm256_set1_epi8((char)(1 << (2 * j + 1)))),
                                                  _mm256_set1_epi8((char)(1 << (2 * j + 1))));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_and_si256(hb0, bit4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), _mm256_and_si256(hb1, bit4));
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)q8);
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            q8 += 64;
            const __m256i p0 = scaled_dot(lo, a0, _mm256_set1_epi16(sc[2 * j]));
            const __m256i p1 = scaled_dot(hi, a1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc) + summs;
}

static void dot_q6_K(int n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * ember_fp16_to_fp32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs, *scl = x[i].scales;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 128; j++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)qh);
            ql += 64;
            qh += 32;
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(b2, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)q8);
                q8 += 32;
                /* (q - 32) * a = q*a - 32*a, both in 16-bit pairs */
                const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], a), _mm256_maddubs_epi16(m32, a));
                /* two 16-element sub-blocks: scales for int16 lanes 0-7 and 8-15 */
                const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(scl[1]), _mm_set1_epi16(scl[0]));
                scl += 2;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(s16, p16));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc);
}

/* int16 scales for two 16-element halves of a 32-element run */
static inline __m256i two_scales(int lo, int hi) { return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo)); }

static void dot_q2_K(int n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * ember_fp16_to_fp32(x[i].d);
        const float dmin = -y[i].d * ember_fp16_to_fp32(x[i].dmin);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0xF)));
        const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
        const uint8_t *q2 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 128; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(q2 + 32 * j));
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i a = _mm256_loadu_si256((const __m256i *)(q8 + 128 * j + 32 * k));
                const int sub = 8 * j + 2 * k;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(two_scales(x[i].scales[sub] & 0xF, x[i].scales[sub + 1] & 0xF),
                                                                _mm256_maddubs_epi16(q, a)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc);
}

static void dot_q3_K(int n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * ember_fp16_to_fp32(x[i].d);
        int8_t sc[16];
        const uint8_t *p = x[i].scales;
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? (p[j] & 0xF) : (p[j - 8] >> 4);
            const int hi = (p[8 + (j % 4)] >> (2 * (j / 4))) & 3;
            sc[j] = (int8_t)((lo | (hi << 4)) - 32);
        }
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        const uint8_t *q3 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < QK_K / 128; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(q3 + 32 * j));
            for (int k = 0; k < 4; k++) {
                const int bit = 4 * j + k;
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                /* 4 where the high bit is clear: value = lo - 4 */
                const __m256i hset = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, _mm256_set1_epi8((char)(1 << bit))),
                                                       _mm256_set1_epi8((char)(1 << bit)));
                const __m256i sub = _mm256_andnot_si256(hset, four);
                const __m256i a = _mm256_loadu_si256((const __m256i *)(q8 + 128 * j + 32 * k));
                const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(lo, a), _mm256_maddubs_epi16(sub, a));
                const int si = 8 * j + 2 * k;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(two_scales(sc[si], sc[si + 1]), p16));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc);
}

void ember_kernels_avx2_kquants(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q2_K] = dot_q2_K;
    ks->vec_dot[EMBER_TYPE_Q3_K] = dot_q3_K;
    ks->vec_dot[EMBER_TYPE_Q4_K] = dot_q4_K;
    ks->vec_dot[EMBER_TYPE_Q5_K] = dot_q5_K;
    ks->vec_dot[EMBER_TYPE_Q6_K] = dot_q6_K;
}
