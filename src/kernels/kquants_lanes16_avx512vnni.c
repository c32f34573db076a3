/* Q4_K, Q5_K and Q2_K against their 16-row lane copies (formats/kquants_lanes16.c)
 * with AVX-512 BW/VNNI: prompts, batched decoding and single tokens.
 *
 * Per super-block and token: for each lane m, four 64-byte loads of
 * nibbles (chunks c = 0..3), each unpacked to two registers of 16 rows x
 * 4 weights, a VPMADDUBSW against four activation bytes broadcast from
 * the side data and a VPDPWSSD with the chunk's scale pairs: the lane's
 * exact int32 for all 16 rows, then one conversion and one fma. The min
 * term takes one VPMADDWD per pair of sub-blocks (its 16 rows' min pairs
 * against the activation's two sub-block sums), a conversion and an fma
 * (Q5_K: the four products summed first, one conversion and one fma). Q5_K
 * adds the fifth bits from the plane before each lane's registers: a
 * shift and a ternary-logic merge per register.
 * Results are vec_dot's bit for bit (and the layout's ref). */
#include "kernels.h"
#include "kquants_lanes16_x86.h"
#include <immintrin.h>
#include <string.h>

enum { K4_DMIN = 32, K4_SCALES = 64, K4_MINS = 160, K4_NIBBLES = 256 };

/* The 32 6-bit values of a pair field (24 bytes) as int16: word i = t[i]. */
static inline __m512i six_bit_pairs(const uint8_t *f) {
    const __m512i lo = lanes16_field_nibbles(f);
    /* top 2 bits: bits 2 * (i >> 3) of the high byte, to bits 4-5 */
    const __m512i sh = _mm512_set_epi64(0x000a000a000a000a, 0x000a000a000a000a, 0x0008000800080008, 0x0008000800080008,
                                        0x0006000600060006, 0x0006000600060006, 0x0004000400040004, 0x0004000400040004);
    const __m512i hi = _mm512_and_si512(_mm512_srlv_epi16(lanes16_field_top_bytes(f), sh), _mm512_set1_epi16(0x30));
    return _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi16(0x0F), 0xE4); /* bits 0-3 from lo, the rest from hi */
}

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Accumulators per token, parked between passes: the 8 lanes of the main
 * sum, then the 4 of the min term (Q5_K: the first only), 16 rows each. */
enum { ACC_MAIN = 0, ACC_MIN = 8, ACC_N = 12 };

/* Super-blocks b0..b1 for nt (1..2) tokens into acc[token][ACC_N][row]
 * (loaded and stored: passes over chunks and tokens share it). */
static inline __attribute__((always_inline)) void pass_nt(int nb, int b0, int b1, const uint8_t *g, const char *aux,
                                                          size_t aux_stride, float *acc, const int nt, const int q5) {
    const size_t bb = q5 ? EMBER_Q5_K_LANES16_BLOCK : EMBER_Q4_K_LANES16_BLOCK, ms = q5 ? 320 : 256;
    const int8_t *q[2];
    const int32_t *sums[2];
    const float *yd[2];
    __m512 fa[2][8], fm[2][4];
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++) {
        q[t] = (const int8_t *)(aux + (size_t)t * aux_stride);
        sums[t] = (const int32_t *)(q[t] + (size_t)nb * QK_K);
        yd[t] = (const float *)(q[t] + (size_t)nb * (QK_K + 16));
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) fa[t][m] = _mm512_loadu_ps(acc + (t * ACC_N + ACC_MAIN + m) * 16);
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) fm[t][p] = _mm512_loadu_ps(acc + (t * ACC_N + ACC_MIN + p) * 16);
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int b = b0; b < b1; b++) {
        const uint8_t *o = g + (size_t)b * bb;
        /* the min term: one VPMADDWD per pair of sub-blocks */
        const __m512 xdm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(o + K4_DMIN)));
        __m512 dmin[2];
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++) dmin[t] = _mm512_mul_ps(_mm512_set1_ps(-yd[t][b]), xdm);
        __m512i total[2];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {
            const __m512i mn = six_bit_pairs(o + K4_MINS + 24 * p);
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) {
                const __m512i prod = _mm512_madd_epi16(mn, _mm512_set1_epi32(sums[t][4 * b + p]));
                if (q5) total[t] = p ? _mm512_add_epi32(total[t], prod) : prod;
                else fm[t][p] = _mm512_fmadd_ps(dmin[t], _mm512_cvtepi32_ps(prod), fm[t][p]);
            }
        }
        if (q5)
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) fm[t][0] = _mm512_fmadd_ps(dmin[t], _mm512_cvtepi32_ps(total[t]), fm[t][0]);
        const __m512 xd = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
        __m512i sc[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) sc[c] = six_bit_pairs(o + K4_SCALES + 24 * c);
        __m512 d[2];
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++) d[t] = _mm512_mul_ps(_mm512_set1_ps(yd[t][b]), xd);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            __m512i s0[2], s1[2];
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) s0[t] = s1[t] = _mm512_setzero_si512();
            const uint8_t *om = o + K4_NIBBLES + ms * m;
            const __m512i plane = q5 ? _mm512_loadu_si512(om) : _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m512i x = _mm512_loadu_si512(om + 64 * (c + q5));
                __m512i lo = _mm512_and_si512(x, m4), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
                if (q5) { /* bits 2c (low) and 2c + 1 (high) to bit 4; 16-bit shifts, the mask drops what crosses bytes */
                    const __m512i five = _mm512_set1_epi8(0x10);
                    const __m512i pl = c < 2 ? _mm512_slli_epi16(plane, 4 - 2 * c) : c == 2 ? plane : _mm512_srli_epi16(plane, 2);
                    const __m512i ph = c < 2 ? _mm512_slli_epi16(plane, 3 - 2 * c) : _mm512_srli_epi16(plane, 2 * c - 3);
                    lo = _mm512_ternarylogic_epi32(lo, pl, five, 0xF8); /* lo | (pl & 0x10) */
                    hi = _mm512_ternarylogic_epi32(hi, ph, five, 0xF8);
                }
#pragma GCC unroll 2
                for (int t = 0; t < nt; t++) {
                    const int8_t *a = q[t] + (size_t)b * QK_K + 8 * (4 * m + c);
                    /* a run's four products per 16-bit half (|sum| <= 4 * 31 * 128) */
                    const __m512i p = _mm512_add_epi16(_mm512_maddubs_epi16(lo, bcast4(a)), _mm512_maddubs_epi16(hi, bcast4(a + 4)));
                    if (c & 1) s1[t] = _mm512_dpwssd_epi32(s1[t], p, sc[c]);
                    else s0[t] = _mm512_dpwssd_epi32(s0[t], p, sc[c]);
                }
            }
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++)
                fa[t][m] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(_mm512_add_epi32(s0[t], s1[t])), fa[t][m]);
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++) {
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) _mm512_storeu_ps(acc + (t * ACC_N + ACC_MAIN + m) * 16, fa[t][m]);
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) _mm512_storeu_ps(acc + (t * ACC_N + ACC_MIN + p) * 16, fm[t][p]);
    }
}

/* The 32 4-bit values of a 16-byte field as int16: word i = t[i] (low
 * nibble of byte i for i < 16, else the high one of byte i - 16). */
static inline __m512i four_bit_pairs(const uint8_t *f) {
    return _mm512_and_si512(lanes16_field_nibbles(f), _mm512_set1_epi16(0x0F));
}

enum { Q2_DMIN = 32, Q2_MINS = 64, Q2_SCALES = 192, Q2_QUANTS = 320 };

/* Q2_K: super-blocks b0..b1 for nt (1..2) tokens into acc[token][ACC_N][row]:
 * per lane, the min term's fma then the main one's, as vec_dot. */
static inline __attribute__((always_inline)) void q2_pass_nt(int nb, int b0, int b1, const uint8_t *g, const char *aux,
                                                             size_t aux_stride, float *acc, const int nt) {
    const int8_t *q[2];
    const int32_t *bs[2];
    const float *yd[2];
    __m512 fa[2][8];
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++) {
        q[t] = (const int8_t *)(aux + (size_t)t * aux_stride);
        bs[t] = (const int32_t *)(q[t] + (size_t)nb * QK_K);
        yd[t] = (const float *)(q[t] + (size_t)nb * (QK_K + 32));
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) fa[t][m] = _mm512_loadu_ps(acc + (t * ACC_N + m) * 16);
    }
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int b = b0; b < b1; b++) {
        const uint8_t *o = g + (size_t)b * EMBER_Q2_K_LANES16_BLOCK;
        const __m512 xd = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
        const __m512 xdm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(o + Q2_DMIN)));
        __m512 d[2], dmin[2];
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++) {
            d[t] = _mm512_mul_ps(_mm512_set1_ps(yd[t][b]), xd);
            dmin[t] = _mm512_mul_ps(_mm512_set1_ps(-yd[t][b]), xdm);
        }
        __m512i sc[4];
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            if (m % 4 == 0) /* lanes 0..3 take the runs' first sub-block scales, 4..7 the second */
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) sc[c] = four_bit_pairs(o + Q2_SCALES + 16 * (4 * (m / 4) + c));
            const __m512i mn = four_bit_pairs(o + Q2_MINS + 16 * m);
            __m512i s0[2], s1[2];
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) {
                const __m512i prod = _mm512_madd_epi16(mn, _mm512_set1_epi32(bs[t][8 * b + m]));
                fa[t][m] = _mm512_fmadd_ps(dmin[t], _mm512_cvtepi32_ps(prod), fa[t][m]);
                s0[t] = s1[t] = _mm512_setzero_si512();
            }
#pragma GCC unroll 2
            for (int cp = 0; cp < 2; cp++) {
                const __m512i x = _mm512_loadu_si512(o + Q2_QUANTS + 64 * (2 * m + cp));
                /* 16-bit shifts: the mask keeps each byte's own bits */
                const __m512i v[4] = {_mm512_and_si512(x, m3), _mm512_and_si512(_mm512_srli_epi16(x, 2), m3),
                                      _mm512_and_si512(_mm512_srli_epi16(x, 4), m3), _mm512_and_si512(_mm512_srli_epi16(x, 6), m3)};
#pragma GCC unroll 2
                for (int k = 0; k < 2; k++) {
                    const int c = 2 * cp + k;
#pragma GCC unroll 2
                    for (int t = 0; t < nt; t++) {
                        const int8_t *a = q[t] + (size_t)b * QK_K + 8 * (4 * m + c);
                        const __m512i p = _mm512_add_epi16(_mm512_maddubs_epi16(v[2 * k], bcast4(a)),
                                                           _mm512_maddubs_epi16(v[2 * k + 1], bcast4(a + 4)));
                        if (k) s1[t] = _mm512_dpwssd_epi32(s1[t], p, sc[c]);
                        else s0[t] = _mm512_dpwssd_epi32(s0[t], p, sc[c]);
                    }
                }
            }
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++)
                fa[t][m] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(_mm512_add_epi32(s0[t], s1[t])), fa[t][m]);
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) _mm512_storeu_ps(acc + (t * ACC_N + m) * 16, fa[t][m]);
}

/* vec_dot's last step for 16 rows: hsum8's tree over the lanes, plus
 * Q4_K's min lanes (m0 + m2) + (m1 + m3) or Q5_K's min sum; Q2_K's min
 * term is in its lanes */
static __m512 fold_q4_K(const float *a) {
#define L(i) _mm512_loadu_ps(a + 16 * (ACC_MIN + (i)))
    return _mm512_add_ps(lanes16_fold8(a), _mm512_add_ps(_mm512_add_ps(L(0), L(2)), _mm512_add_ps(L(1), L(3))));
#undef L
}

static __m512 fold_q5_K(const float *a) { return _mm512_add_ps(lanes16_fold8(a), _mm512_loadu_ps(a + 16 * ACC_MIN)); }

LANES16_ENTRY(dot_q4_K_lanes16_tokens, ACC_N * 16, EMBER_Q4_K_LANES16_BLOCK, fold_q4_K, pass_nt, , 0)
LANES16_ENTRY(dot_q5_K_lanes16_tokens, ACC_N * 16, EMBER_Q5_K_LANES16_BLOCK, fold_q5_K, pass_nt, , 1)
LANES16_ENTRY(dot_q2_K_lanes16_tokens, ACC_N * 16, EMBER_Q2_K_LANES16_BLOCK, lanes16_fold8, q2_pass_nt, )

void ember_kernels_avx512vnni_kquants_lanes16(ember_kernel_set *ks) {
    /* single tokens read the copies too, with the software prefetch of
     * lanes16_tokens: Q4_K from memory on one thread 7.4 against 10.9 TSC
     * per 256 elements for the per-row kernel on the huge-page row copy,
     * tl-q4_k tg64 median 84.7 vs 73.6 t/s (6/6 alternating runs, Zen 5
     * EPYC), and the row copy is no longer needed */
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q4_K] = dot_q4_K_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q4_K] = &ember_q4_K_lanes16_layout;
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q5_K] = dot_q5_K_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q5_K] = &ember_q5_K_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q5_K] = 1;
    ks->packed_decode[EMBER_TYPE_Q4_K] = 1;
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q2_K] = dot_q2_K_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q2_K] = &ember_q2_K_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q2_K] = 1;
}
