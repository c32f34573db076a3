/* AVX-512 K-quant dots (Q2_K..Q6_K), bit-identical to the AVX2 ones
 * and to the references in formats/kquants.c.
 *
 * The integer part of a super-block is computed with AVX-512 VL/BW/VNNI
 * instructions (vpdpwssd multiplies the int16 products by the sub-block
 * scales and accumulates; byte masks add Q5_K's fifth bit; ternary logic
 * merges Q3_K's and Q6_K's high bits), on 256-bit registers, which beat
 * 512-bit ones on Zen 4 (measured), except the Q4_K/Q5_K dots: two runs per
 * 512-bit register won on Zen 5 (not re-measured on Zen 4). Integer sums are exact, so any grouping gives
 * the same 8 lanes (lane m = elements 4m..4m+3 of every 32-element run);
 * the float steps are the documented ones: one fused multiply-add per lane
 * and super-block, then the same tree sum.
 *
 * Each kernel is written once for nt activation rows (1..4) against one
 * weight row: the weights are unpacked once per super-block and reused by
 * every token; vec_dot is the nt == 1 instance, so vec_dot_tokens gives the
 * same bits as vec_dot for each token (tests/test_kquants.c checks both).
 * For prompts, Q4_K, Q5_K and Q6_K also have 16-row x 1..8-token kernels that
 * reuse the same unpack and give the same bits (rows16_tokens). */
#include "kernels.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include "kquants_x86.h"
#include <string.h>

/* A Q4_K/Q5_K super-block's 4-bit parts: w[r] the unsigned values of
 * 32-element run r (low nibbles of 32-byte chunk r/2 for even r, high for
 * odd), scv[r] run r's scale in every int16 lane */
static inline __attribute__((always_inline)) void k4_unpack(const uint8_t *qs, __m256i sc16, __m256i w[8], __m256i scv[8]) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        w[2 * j] = _mm256_and_si256(bits, m4);
        w[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        scv[2 * j] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)word_bytes(2 * j)));
        scv[2 * j + 1] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)word_bytes(2 * j + 1)));
    }
}

/* The rows16 kernels' main part of a super-block for one token: the 8 lanes of
 * sum(scale * w . q8), exact, fma'd with d into acc */
static inline __attribute__((always_inline)) __m256 k4_main(const __m256i w[8], const __m256i scv[8], const int8_t *q8,
                                                            float d, __m256 acc) {
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        s0 = _mm256_dpwssd_epi32(s0, _mm256_maddubs_epi16(w[2 * j], _mm256_loadu_si256((const __m256i *)(q8 + 64 * j))), scv[2 * j]);
        s1 = _mm256_dpwssd_epi32(s1, _mm256_maddubs_epi16(w[2 * j + 1], _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32))),
                                 scv[2 * j + 1]);
    }
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
}

/* Q5_K: adds the fifth bits to k4_unpack's values; that of run r is bit r
 * of each qh byte */
static inline __attribute__((always_inline)) void k5_fifth(const uint8_t *qh, __m256i w[8]) {
    const __m256i hb = _mm256_loadu_si256((const __m256i *)qh), sixteen = _mm256_set1_epi8(16);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
        w[r] = _mm256_mask_add_epi8(w[r], _mm256_test_epi8_mask(hb, _mm256_set1_epi8((char)(1 << r))), w[r], sixteen);
}

/* Q4_K or Q5_K (q5 != 0) against nt tokens, two 32-element runs per
 * 512-bit register: 32-byte chunk j is broadcast to both halves and the
 * upper half shifted down a nibble, so the register holds runs 2j and 2j+1
 * in line with 64 contiguous q8 bytes; the scale pair comes from one word
 * permute. Lanes 0-7 collect the even runs, 8-15 the odd ones, and their
 * sum is the order's 8 integer lanes exactly (lane m = elements 4m..4m+3 of
 * every run), with about half the instructions of the 256-bit form (Zen 5
 * L2 microbenchmark: 11.7 -> 9.9 TSC per Q4_K super-block). */
static inline __attribute__((always_inline)) void q45_tokens_zmm(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                                 const int nt, const int q5) {
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0xF), sixteen = _mm512_set1_epi8(16);
    const __m512i nib = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m256 acc[4] = ZERO8;
    __m128 acc_m[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    float summs[4] = {0, 0, 0, 0};
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *b4 = (const block_q4_K *)((const char *)vx + (size_t)i * bx);
        const block_q5_K *b5 = (const block_q5_K *)b4;
        const float xd = h2f(b4->d), xdm = h2f(b4->dmin);
        const __m128i scmn = k4_scales(b4->scales);
        const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(scmn));
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmn, scmn));
        const uint8_t *qs = q5 ? b5->qs : b4->qs;
        __m512i w[4], scv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * j)));
            w[j] = _mm512_and_si512(_mm512_srlv_epi16(bits, nib), m4);
            scv[j] = _mm512_permutexvar_epi16(
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)(2 * j))), _mm256_set1_epi16((short)(2 * j + 1)), 1),
                sc);
        }
        if (q5) {
            const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b5->qh));
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m512i sel = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (2 * j)))),
                                                       _mm256_set1_epi8((char)(1 << (2 * j + 1))), 1);
                w[j] = _mm512_mask_add_epi8(w[j], _mm512_test_epi8_mask(hb, sel), w[j], sixteen);
            }
        }
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd, dmin = -y->d * xdm;
            k45_min_term(q5, mins16, y->bsums, dmin, &summs[k], &acc_m[k]);
            __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
#pragma GCC unroll 2
            for (int j = 0; j < 4; j += 2) {
                s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(w[j], _mm512_loadu_si512(y->qs + 64 * j)), scv[j]);
                s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(w[j + 1], _mm512_loadu_si512(y->qs + 64 * j + 64)), scv[j + 1]);
            }
            const __m512i sum = _mm512_add_epi32(s0, s1);
            const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s8), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = k45_finish(q5, acc[k], summs[k], acc_m[k]);
}

/* nt is a constant in each instance, so the loops over tokens unroll */
static void dot_q4_K(int n, float *s, const void *vx, const void *vy) { q45_tokens_zmm(n, s, vx, vy, 0, 1, 0); }
static void dot_q5_K(int n, float *s, const void *vx, const void *vy) { q45_tokens_zmm(n, s, vx, vy, 0, 1, 1); }

static void dot_q4_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q45_tokens_zmm(n, s, vx, vy, ys, 4, 0);
    else if (nt == 3) q45_tokens_zmm(n, s, vx, vy, ys, 3, 0);
    else if (nt == 2) q45_tokens_zmm(n, s, vx, vy, ys, 2, 0);
    else q45_tokens_zmm(n, s, vx, vy, ys, 1, 0);
}

static void dot_q5_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q45_tokens_zmm(n, s, vx, vy, ys, 4, 1);
    else if (nt == 3) q45_tokens_zmm(n, s, vx, vy, ys, 3, 1);
    else if (nt == 2) q45_tokens_zmm(n, s, vx, vy, ys, 2, 1);
    else q45_tokens_zmm(n, s, vx, vy, ys, 1, 1);
}

/* Q4_K and Q5_K, 16 rows x nt (1..8) tokens: vec_dot's results, with the
 * min term computed across rows. The per-row pass does vec_dot's main part
 * (8 int32 lanes, fma per lane with d, tree sum) and leaves each row's
 * mins (8 int16) and dmin in a table; the min pass then reproduces
 * vec_dot's min term for several rows per 512-bit register. Q4_K: four
 * rows per register, lane (row, l) = min lane l of that row: one
 * multiply-add for four rows gives the same exact int32 as k4_min_prod, and
 * the per-lane fma with dmin and the fold (l0+l2)+(l1+l3) are vec_dot's.
 * Q5_K: its vec_dot sums the min products exactly to one integer per
 * super-block and fma's it with dmin into a float, so sixteen rows per
 * register (lane = row, the mins' int16 pairs transposed) take four
 * vpdpwssd, then the same fma per lane. Float additions are commutative,
 * so main + min is vec_dot's hsum8(acc) + min. Up to eight tokens share
 * each row's unpacked super-block (tl-q4_k: ~1.1x over four). */
/* Q5_K's min pass: p16[row] = the min products of a super-block summed
 * (exact), fma'd with each row's dmin */
static inline __attribute__((always_inline)) void q5k_min_pass(int nb, float *s, size_t s_stride, const float hs[8][16],
                                                               const uint32_t mins[][4][16], const float xdm[][16],
                                                               const void *vy, size_t ys, const int nt) {
    __m512 summs[8];
    for (int k = 0; k < nt; k++) summs[k] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m512 xdm16 = _mm512_loadu_ps(xdm[i]);
        const __m512i m0 = _mm512_loadu_si512(mins[i][0]), m1 = _mm512_loadu_si512(mins[i][1]);
        const __m512i m2 = _mm512_loadu_si512(mins[i][2]), m3 = _mm512_loadu_si512(mins[i][3]);
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y->bsums);
            /* int16 sums of sub-blocks 2j, 2j+1 as int32 lane j */
            const __m128i q8s = _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
            __m512i p = _mm512_madd_epi16(m0, _mm512_broadcastd_epi32(q8s));
            p = _mm512_dpwssd_epi32(p, m1, _mm512_broadcastd_epi32(_mm_shuffle_epi32(q8s, 0x55)));
            p = _mm512_dpwssd_epi32(p, m2, _mm512_broadcastd_epi32(_mm_shuffle_epi32(q8s, 0xAA)));
            p = _mm512_dpwssd_epi32(p, m3, _mm512_broadcastd_epi32(_mm_shuffle_epi32(q8s, 0xFF)));
            summs[k] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(-y->d), xdm16), _mm512_cvtepi32_ps(p), summs[k]);
        }
    }
    for (int k = 0; k < nt; k++) _mm512_storeu_ps(s + (size_t)k * s_stride, _mm512_add_ps(_mm512_loadu_ps(hs[k]), summs[k]));
}

static inline __attribute__((always_inline)) void q45_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                                size_t row_bytes, const void *vy, size_t ys, const int nt,
                                                                const int q5) {
    const int nb = n / QK_K;
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    _Alignas(64) union {
        struct {
            int16_t mins[ROWS16_MAX_SB][16][8]; /* [sb][row][sub-block] */
            float xdm4[ROWS16_MAX_SB][16][4];   /* [sb][row][4 copies] */
        } q4;
        struct {
            uint32_t mins[ROWS16_MAX_SB][4][16]; /* [sb][sub-block pair][row] */
            float xdm[ROWS16_MAX_SB][16];        /* [sb][row] */
        } q5;
    } t;
    int16_t(*mins)[16][8] = t.q4.mins;
    float(*xdm4)[16][4] = t.q4.xdm4;
    uint32_t(*mins5)[4][16] = t.q5.mins;
    float(*xdm5)[16] = t.q5.xdm;
    float hs[8][16];
    for (int r = 0; r < 16; r++) {
        const char *xr = (const char *)vx + (size_t)r * row_bytes;
        __m256 acc[8];
        for (int k = 0; k < nt; k++) acc[k] = _mm256_setzero_ps();
        for (int i = 0; i < nb; i++) {
            const block_q4_K *b4 = (const block_q4_K *)(xr + (size_t)i * bx);
            const block_q5_K *b5 = (const block_q5_K *)b4;
            const float xd = h2f(b4->d);
            const __m128i scmn = k4_scales(b4->scales);
            const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
            const __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmn, scmn));
            if (q5) {
                xdm5[i][r] = h2f(b4->dmin);
                mins5[i][0][r] = (uint32_t)_mm_extract_epi32(mins16, 0);
                mins5[i][1][r] = (uint32_t)_mm_extract_epi32(mins16, 1);
                mins5[i][2][r] = (uint32_t)_mm_extract_epi32(mins16, 2);
                mins5[i][3][r] = (uint32_t)_mm_extract_epi32(mins16, 3);
            } else {
                _mm_store_ps(xdm4[i][r], _mm_set1_ps(h2f(b4->dmin)));
                _mm_store_si128((__m128i *)mins[i][r], mins16);
            }
            __m256i w[8], scv[8];
            k4_unpack(q5 ? b5->qs : b4->qs, sc16, w, scv);
            if (q5) k5_fifth(b5->qh, w);
#pragma GCC unroll 8
            for (int k = 0; k < nt; k++) {
                const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
                acc[k] = k4_main(w, scv, y->qs, y->d * xd, acc[k]);
            }
        }
        for (int k = 0; k < nt; k++) hs[k][r] = hsum8(acc[k]);
    }
    if (q5) {
        q5k_min_pass(nb, s, s_stride, hs, (const uint32_t(*)[4][16])mins5, (const float(*)[16])xdm5, vy, ys, nt);
        return;
    }
    /* Q4_K min pass, up to four tokens at a time: accm[k][g] lane 4l' + l =
     * lane l of row 4g + l' */
    for (int k0 = 0; k0 < nt; k0 += 4) {
    const int nk = nt - k0 < 4 ? nt - k0 : 4;
    __m512 accm[4][4];
    for (int k = 0; k < nk; k++)
        for (int g = 0; g < 4; g++) accm[k][g] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
#pragma GCC unroll 4
        for (int k = 0; k < nk; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)(k0 + k) * ys) + i;
            const __m256i q8sums = _mm256_loadu_si256((const __m256i *)y->bsums);
            const __m512i q8s = _mm512_broadcast_i32x4(_mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1)));
            const __m512 nyd = _mm512_set1_ps(-y->d);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                const __m512 dmin = _mm512_mul_ps(nyd, _mm512_load_ps(xdm4[i][4 * g]));
                const __m512i prod = _mm512_madd_epi16(_mm512_load_si512(mins[i][4 * g]), q8s);
                accm[k][g] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(prod), accm[k][g]);
            }
        }
    }
    for (int k = 0; k < nk; k++) {
        for (int g = 0; g < 4; g++) {
            __m512 m = _mm512_add_ps(accm[k][g], _mm512_shuffle_ps(accm[k][g], accm[k][g], 0x4E));
            m = _mm512_add_ps(m, _mm512_shuffle_ps(m, m, 0xB1));
            /* lanes 0, 4, 8, 12: rows 4g..4g+3 */
            const __m128 mr = _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), m));
            _mm_storeu_ps(s + (size_t)(k0 + k) * s_stride + 4 * g, _mm_add_ps(_mm_loadu_ps(&hs[k0 + k][4 * g]), mr));
        }
    }
    }
}

static void dot_q4_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    if (n / QK_K > ROWS16_MAX_SB) rows16_by_tokens(dot_q4_K_tokens, n, s, s_stride, x, row_bytes, y, y_stride, nt);
    else EMBER_WITH_NT8(nt, q45_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT, 0));
}

static void dot_q5_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    if (n / QK_K > ROWS16_MAX_SB) rows16_by_tokens(dot_q5_K_tokens, n, s, s_stride, x, row_bytes, y, y_stride, nt);
    else EMBER_WITH_NT8(nt, q45_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT, 1));
}

/* A Q6_K super-block's 6-bit values: w[r] the unsigned values of 32-element
 * run r, scv[r] its two sub-block scales (2r in the low 128-bit lane, 2r+1
 * in the high one) in every int16 lane */
static inline __attribute__((always_inline)) void q6_unpack(const block_q6_K *x, __m256i w[8], __m256i scv[8]) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    const __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
    /* int16 scales 0..7 in both lanes of sc_lo, 8..15 in sc_hi */
    const __m256i sc_lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(s8));
    const __m256i sc_hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_unpackhi_epi64(s8, s8)));
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        const __m256i b2 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        const __m256i bh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        w[4 * h + 0] = _mm256_ternarylogic_epi32(_mm256_and_si256(b1, m4), _mm256_slli_epi16(bh, 4), m30, 0xF8);
        w[4 * h + 1] = _mm256_ternarylogic_epi32(_mm256_and_si256(b2, m4), _mm256_slli_epi16(bh, 2), m30, 0xF8);
        w[4 * h + 2] = _mm256_ternarylogic_epi32(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), bh, m30, 0xF8);
        w[4 * h + 3] = _mm256_ternarylogic_epi32(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), _mm256_srli_epi16(bh, 2), m30, 0xF8);
    }
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
        scv[r] = _mm256_shuffle_epi8(r < 4 ? sc_lo : sc_hi,
                                     _mm256_set_m128i(_mm_set1_epi16((short)word_bytes((2 * r + 1) % 8)),
                                                      _mm_set1_epi16((short)word_bytes((2 * r) % 8))));
}

/* vec_dot's super-block for one token: the 8 exact lanes of
 * sum(scale * (w - 32) . q8), fma'd with d into acc */
static inline __attribute__((always_inline)) __m256 q6_main(const __m256i w[8], const __m256i scv[8], const int8_t *q8,
                                                            float d, __m256 acc) {
    const __m256i m32 = _mm256_set1_epi8(32);
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int r = 0; r < 8; r += 2) {
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)(q8 + 32 * r));
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(q8 + 32 * r + 32));
        /* (q - 32) * a = q*a - 32*a in 16-bit pairs */
        s0 = _mm256_dpwssd_epi32(s0, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r], a0), _mm256_maddubs_epi16(m32, a0)), scv[r]);
        s1 = _mm256_dpwssd_epi32(s1, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r + 1], a1), _mm256_maddubs_epi16(m32, a1)),
                                 scv[r + 1]);
    }
    return _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
}

/* Q6_K, nt tokens */
static inline __attribute__((always_inline)) void q6_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                            const int nt) {
    const block_q6_K *x = vx;
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d);
        __m256i w[8], scv[8];
        q6_unpack(&x[i], w, scv);
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            acc[k] = q6_main(w, scv, y->qs, y->d * xd, acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

static void dot_q6_K(int n, float *s, const void *vx, const void *vy) { q6_tokens(n, s, vx, vy, 0, 1); }
static void dot_q6_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q6_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q6_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q6_tokens(n, s, vx, vy, ys, 2);
    else q6_tokens(n, s, vx, vy, ys, 1);
}

/* Q6_K, 16 rows x nt (1..8) tokens: vec_dot's results with the "- 32"
 * moved from the tokens to the rows. Lane m of vec_dot's super-block sum
 * is, over runs r, scale(r, m) * (w - 32) . a on elements 4m..4m+3 of run
 * r, an exact integer. Here the weights are made signed once per row
 * (w - 32) and the activations unsigned (a + 128, a flip of the top bit),
 * which leaves one 16-bit multiply-add per run and token as for Q4_K; the
 * extra 128 * (w - 32) terms, which depend on the row only, are computed
 * once per super-block and row, with the same scales and lanes, and start
 * each token's sum negated. The int32 lanes are vec_dot's exactly (no
 * 16-bit product pair overflows: |(a + 128) * (w - 32)| * 2 <= 16320),
 * then vec_dot's fma per lane and tree sum. No tables: any n. */
static inline __attribute__((always_inline)) void q6_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                               size_t row_bytes, const void *vy, size_t ys, const int nt) {
    const int nb = n / QK_K;
    const __m256i m32 = _mm256_set1_epi8(32), m80 = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < 16; r++) {
        const block_q6_K *x = (const block_q6_K *)((const char *)vx + (size_t)r * row_bytes);
        __m256 acc[8];
        for (int k = 0; k < nt; k++) acc[k] = _mm256_setzero_ps();
        for (int i = 0; i < nb; i++) {
            const float xd = h2f(x[i].d);
            __m256i w[8], scv[8];
            q6_unpack(&x[i], w, scv);
            __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int j = 0; j < 8; j += 2) {
                w[j] = _mm256_sub_epi8(w[j], m32);
                w[j + 1] = _mm256_sub_epi8(w[j + 1], m32);
                c0 = _mm256_dpwssd_epi32(c0, _mm256_maddubs_epi16(m80, w[j]), scv[j]);
                c1 = _mm256_dpwssd_epi32(c1, _mm256_maddubs_epi16(m80, w[j + 1]), scv[j + 1]);
            }
            const __m256i nc = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_add_epi32(c0, c1));
#pragma GCC unroll 8
            for (int k = 0; k < nt; k++) {
                const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
                __m256i s0 = nc, s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int j = 0; j < 8; j += 2) {
                    const __m256i a0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(y->qs + 32 * j)), m80);
                    const __m256i a1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(y->qs + 32 * j + 32)), m80);
                    s0 = _mm256_dpwssd_epi32(s0, _mm256_maddubs_epi16(a0, w[j]), scv[j]);
                    s1 = _mm256_dpwssd_epi32(s1, _mm256_maddubs_epi16(a1, w[j + 1]), scv[j + 1]);
                }
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(y->d * xd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
            }
        }
        for (int k = 0; k < nt; k++) s[(size_t)k * s_stride + r] = hsum8(acc[k]);
    }
}

static void dot_q6_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    EMBER_WITH_NT8(nt, q6_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT));
}


/* Q2_K, nt tokens */
static inline __attribute__((always_inline)) void q2_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                            const int nt) {
    const block_q2_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d), xdm = h2f(x[i].dmin);
        __m256i mins, sc_lo, sc_hi;
        q2_scales(&x[i], &mins, &sc_lo, &sc_hi);
        /* w[r]: 2-bit values of 32-element run r = 4j + k */
        __m256i w[8], scv[8];
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            w[4 * j + 0] = _mm256_and_si256(bits, m3);
            w[4 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3);
            w[4 * j + 2] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3);
            w[4 * j + 3] = _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3);
        }
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) scv[r] = run_scales(sc_lo, sc_hi, r);
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd, dmin = -y->d * xdm;
            const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y->bsums));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc[k]);
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int r = 0; r < 8; r += 2) {
                s0 = _mm256_dpwssd_epi32(s0, _mm256_maddubs_epi16(w[r], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r))), scv[r]);
                s1 = _mm256_dpwssd_epi32(s1, _mm256_maddubs_epi16(w[r + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r + 32))),
                                         scv[r + 1]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

/* Q3_K, nt tokens: value = (2 low bits | high bit << 2) - 4, the -4 as
 * 4 * a subtracted in the 16-bit pairs */
static inline __attribute__((always_inline)) void q3_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                            const int nt) {
    const block_q3_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4); /* bit 2's mask, and the offset */
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d);
        __m256i sc_lo, sc_hi;
        q3_scales(&x[i], &sc_lo, &sc_hi);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        /* w[r]: run r = 4j + k, its high bit is bit r of hmask, moved to bit 2 */
        __m256i w[8], scv[8];
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const int r = 4 * j + k;
                const __m256i hb = r >= 2 ? _mm256_srli_epi16(hm, r - 2) : _mm256_slli_epi16(hm, 2 - r);
                w[r] = _mm256_ternarylogic_epi32(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3), hb, four, 0xF8);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) scv[r] = run_scales(sc_lo, sc_hi, r);
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int r = 0; r < 8; r += 2) {
                const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r));
                const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r + 32));
                s0 = _mm256_dpwssd_epi32(s0, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r], a0), _mm256_maddubs_epi16(four, a0)), scv[r]);
                s1 = _mm256_dpwssd_epi32(s1, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r + 1], a1), _mm256_maddubs_epi16(four, a1)),
                                         scv[r + 1]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

static void dot_q2_K(int n, float *s, const void *vx, const void *vy) { q2_tokens(n, s, vx, vy, 0, 1); }
static void dot_q3_K(int n, float *s, const void *vx, const void *vy) { q3_tokens(n, s, vx, vy, 0, 1); }

static void dot_q2_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q2_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q2_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q2_tokens(n, s, vx, vy, ys, 2);
    else q2_tokens(n, s, vx, vy, ys, 1);
}

static void dot_q3_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q3_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q3_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q3_tokens(n, s, vx, vy, ys, 2);
    else q3_tokens(n, s, vx, vy, ys, 1);
}

/* Q8_K activations, byte for byte ember_quant_q8_K_ref: the value of
 * largest magnitude (the first one, sign kept; NaNs ignored as the scalar
 * comparison does), iscale = -127/max, the same float multiply and
 * round-half-even through the mantissa, clamp at 127, exact bsums. */
static void quant_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m512 am = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) /* max(ax, am) keeps am when ax is NaN */
            am = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + j), absmask), am);
        const float amax = _mm512_reduce_max_ps(am);
        if (!(amax > 0.0f)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const __m512 vam = _mm512_set1_ps(amax);
        float max = 0;
        for (int j = 0; j < QK_K; j += 16) {
            const __mmask16 k = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + j), absmask), vam, _CMP_EQ_OQ);
            if (k) {
                max = x[j + __builtin_ctz(k)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 vis = _mm512_set1_ps(iscale), magic = _mm512_set1_ps(12582912.f);
        for (int j = 0; j < QK_K; j += 16) {
            const __m512 v = _mm512_add_ps(_mm512_mul_ps(vis, _mm512_loadu_ps(x + j)), magic);
            __m512i q = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x007fffff)),
                                         _mm512_set1_epi32(0x00400000));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[i].qs + j), _mm512_cvtepi32_epi8(q));
            y[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1 / iscale;
    }
}

void ember_kernels_avx512vnni_kquants(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q2_K] = dot_q2_K;
    ks->vec_dot[EMBER_TYPE_Q3_K] = dot_q3_K;
    ks->vec_dot[EMBER_TYPE_Q4_K] = dot_q4_K;
    ks->vec_dot[EMBER_TYPE_Q5_K] = dot_q5_K;
    ks->vec_dot[EMBER_TYPE_Q6_K] = dot_q6_K;
    ks->vec_dot_tokens[EMBER_TYPE_Q2_K] = dot_q2_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q3_K] = dot_q3_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q4_K] = dot_q4_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q5_K] = dot_q5_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q6_K] = dot_q6_K_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q4_K] = dot_q4_K_rows16_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q5_K] = dot_q5_K_rows16_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q6_K] = dot_q6_K_rows16_tokens;
    ks->from_float[EMBER_TYPE_Q8_K] = quant_q8_K;
}
