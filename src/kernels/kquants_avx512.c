/* AVX-512 K-quant dots (Q4_K, Q5_K, Q6_K), bit-identical to the AVX2 ones
 * and to the references in formats/kquants.c.
 *
 * Only the integer part is done differently: one 512-bit register holds two
 * 32-element runs (or four 16-element sub-blocks), so its 16 int32 lanes are
 * the 8 lanes of the documented order twice; adding the two 256-bit halves
 * gives exactly the same integers (integer sums are exact). The float steps
 * are unchanged: one fused multiply-add per lane and super-block into an
 * 8-lane accumulator, the same tree sum at the end. The per-sub-block scales
 * are applied with VNNI (vpdpwssd: multiply int16 pairs and accumulate).
 *
 * Each kernel is written once for nt activation rows (1..4) against one
 * weight row: the weights are unpacked once per super-block and reused by
 * every token; vec_dot is the nt == 1 instance (Q5_K, Q6_K), so
 * vec_dot_tokens gives the same bits as vec_dot for each token. Q4_K's
 * single-token dot uses 256-bit registers, which measured faster on Zen 4;
 * its integers and float steps are the same (tests/test_kquants.c). */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* 16 int32 lanes (two runs) -> the 8 lanes of one run, exactly */
static inline __m256 fold_cvt(__m512i v) {
    return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

/* words 0..15 are a, words 16..31 are b */
static inline __m512i pick2(int a, int b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)), _mm256_set1_epi16((short)b), 1);
}

/* byte-shuffle control selecting int16 word w of a 128-bit lane */
static inline int word_bytes(int w) { return (2 * w) | ((2 * w + 1) << 8); }

/* Scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K block from
 * its 12 packed bytes, in 32-bit lanes u0 u1 u2: scales 0..3 = u0 & 0x3f..,
 * 4..7 = low nibbles of u2 with the top bits of u0 above them; mins the
 * same from u1 and the high nibbles of u2. Reads 16 bytes (the block
 * continues after the scales). */
static inline __m128i k4_scales(const uint8_t *packed) {
    const __m128i v = _mm_loadu_si128((const __m128i *)packed);
    const __m128i lo = _mm_and_si128(v, _mm_set1_epi32(0x3f3f3f3f));
    const __m128i u2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xAA), _mm_set_epi32(0, 0, 4, 0));
    const __m128i hi = _mm_or_si128(_mm_and_si128(u2, _mm_set1_epi32(0x0f0f0f0f)),
                                    _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi32(0x30303030)));
    return _mm_unpacklo_epi32(lo, hi);
}

/* min * (sum of q8 over each 32-element sub-block), pairs of sub-blocks
 * added as the 16-bit multiply-add does: 4 int32 */
static inline __m128i k4_min_prod(__m128i mins16, const int16_t *bsums) {
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
    return _mm_madd_epi16(mins16, q8s);
}

#define ZERO8 {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}

/* Q4_K or Q5_K (q5 != 0): the super-block loop is the same but for the
 * fifth bit and the min term's accumulation. */
static inline __attribute__((always_inline)) void q45_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, const int nt, const int q5) {
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0xF), sixteen = _mm512_set1_epi8(16);
    __m256 acc[4] = ZERO8;
    __m128 acc_m[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    float summs[4] = {0, 0, 0, 0};
    for (int i = 0; i < n / QK_K; i++) {
        /* Q4_K and Q5_K share d, dmin and scales at the start of the block */
        const block_q4_K *b4 = (const block_q4_K *)((const char *)vx + (size_t)i * bx);
        const block_q5_K *b5 = (const block_q5_K *)b4;
        const float xd = h2f(b4->d), xdm = h2f(b4->dmin);
        const __m128i scmn = k4_scales(b4->scales);
        const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(scmn));
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmn, scmn));
        const uint8_t *qs = q5 ? b5->qs : b4->qs;
        __m512i hb = _mm512_setzero_si512();
        if (q5) hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b5->qh));
        /* w[j]: sub-block 2j (low nibbles) in the low half, 2j+1 (high
         * nibbles) in the high half, as unsigned bytes */
        __m512i w[4], scv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * j)));
            w[j] = _mm512_and_si512(_mm512_mask_srli_epi16(bits, 0xFFFF0000u, bits, 4), m4);
            if (q5) {
                const __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * j))),
                                                       _mm256_set1_epi8((char)(1 << (2 * j + 1))), 1);
                w[j] = _mm512_mask_add_epi8(w[j], _mm512_test_epi8_mask(hb, sel), w[j], sixteen);
            }
            scv[j] = _mm512_shuffle_epi8(sc16, pick2(word_bytes(2 * j), word_bytes(2 * j + 1)));
        }
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd, dmin = -y->d * xdm;
            const __m128i prod = k4_min_prod(mins16, y->bsums);
            if (q5) {
                __m128i p = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0x4E));
                p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xB1));
                summs[k] = __builtin_fmaf(dmin, (float)_mm_cvtsi128_si32(p), summs[k]);
            } else {
                acc_m[k] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m[k]);
            }
            /* two integer chains, added exactly */
            __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
            s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(w[0], _mm512_loadu_si512(y->qs)), scv[0]);
            s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(w[1], _mm512_loadu_si512(y->qs + 64)), scv[1]);
            s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(w[2], _mm512_loadu_si512(y->qs + 128)), scv[2]);
            s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(w[3], _mm512_loadu_si512(y->qs + 192)), scv[3]);
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), fold_cvt(_mm512_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) {
        if (q5) {
            s[k] = hsum8(acc[k]) + summs[k];
        } else {
            __m128 m = _mm_add_ps(acc_m[k], _mm_movehl_ps(acc_m[k], acc_m[k]));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            s[k] = hsum8(acc[k]) + _mm_cvtss_f32(m);
        }
    }
}

/* byte-shuffle control: 128-bit lane L takes word (4g + L) % 8 of its lane */
static inline __m512i pick4(int g) {
    const int b = 4 * (g & 1);
    return _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)word_bytes(b + 1)), _mm_set1_epi16((short)word_bytes(b)))),
        _mm256_set_m128i(_mm_set1_epi16((short)word_bytes(b + 3)), _mm_set1_epi16((short)word_bytes(b + 2))), 1);
}

static inline __attribute__((always_inline)) void q6_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, const int nt) {
    const block_q6_K *x = vx;
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30), m32 = _mm512_set1_epi8(32);
    /* bits 4..5 of each 6-bit value come from qh bits 0-1, 2-3 (first
     * pair of runs) and 4-5, 6-7 (second pair) */
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d);
        /* the 16 scales as int16: 0..7 in every lane of sc_lo, 8..15 of sc_hi */
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m512i sc_lo = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(s8));
        const __m512i sc_hi = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(_mm_unpackhi_epi64(s8, s8)));
        /* w[g]: 64 elements 64g..64g+63 (four 16-element sub-blocks) */
        __m512i w[4], scv[4];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h)));
            w[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, m4), _mm512_sllv_epi16(qh, shl), m30, 0xF8);
            w[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_srlv_epi16(qh, shr),
                                                     m30, 0xF8);
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) scv[g] = _mm512_shuffle_epi8(g < 2 ? sc_lo : sc_hi, pick4(g));
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd;
            __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                const __m512i a = _mm512_loadu_si512(y->qs + 64 * g);
                /* (q - 32) * a = q*a - 32*a in 16-bit pairs */
                const __m512i p16 = _mm512_sub_epi16(_mm512_maddubs_epi16(w[g], a), _mm512_maddubs_epi16(m32, a));
                sumi = _mm512_dpwssd_epi32(sumi, p16, scv[g]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), fold_cvt(sumi), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

/* one token, 256-bit registers (measured faster here for Q4_K) */
static void dot_q4_K(int n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = -y[i].d * h2f(x[i].dmin);
        const __m128i scmn = k4_scales(x[i].scales);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
        const __m128i prod = k4_min_prod(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmn, scmn)), y[i].bsums);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            const __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i sl = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)word_bytes(2 * j)));
            const __m256i sh = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)word_bytes(2 * j + 1)));
            s0 = _mm256_dpwssd_epi32(s0, _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j))), sl);
            s1 = _mm256_dpwssd_epi32(s1, _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32))), sh);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    *s = hsum8(acc) + _mm_cvtss_f32(acc_m);
}
static void dot_q5_K(int n, float *s, const void *vx, const void *vy) { q45_tokens(n, s, vx, vy, 0, 1, 1); }
static void dot_q6_K(int n, float *s, const void *vx, const void *vy) { q6_tokens(n, s, vx, vy, 0, 1); }

/* nt is a constant in each instance, so the loops over tokens unroll */
static void dot_q4_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q45_tokens(n, s, vx, vy, ys, 4, 0);
    else if (nt == 3) q45_tokens(n, s, vx, vy, ys, 3, 0);
    else if (nt == 2) q45_tokens(n, s, vx, vy, ys, 2, 0);
    else q45_tokens(n, s, vx, vy, ys, 1, 0);
}

static void dot_q5_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q45_tokens(n, s, vx, vy, ys, 4, 1);
    else if (nt == 3) q45_tokens(n, s, vx, vy, ys, 3, 1);
    else if (nt == 2) q45_tokens(n, s, vx, vy, ys, 2, 1);
    else q45_tokens(n, s, vx, vy, ys, 1, 1);
}

static void dot_q6_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q6_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q6_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q6_tokens(n, s, vx, vy, ys, 2);
    else q6_tokens(n, s, vx, vy, ys, 1);
}

void ember_kernels_avx512_kquants(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q4_K] = dot_q4_K;
    ks->vec_dot[EMBER_TYPE_Q5_K] = dot_q5_K;
    ks->vec_dot[EMBER_TYPE_Q6_K] = dot_q6_K;
    ks->vec_dot_tokens[EMBER_TYPE_Q4_K] = dot_q4_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q5_K] = dot_q5_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q6_K] = dot_q6_K_tokens;
}
