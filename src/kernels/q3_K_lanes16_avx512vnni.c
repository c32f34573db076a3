/* Q3_K against its 16-row lane copy (formats/q3_K_lanes16.c) with AVX-512
 * BW/VNNI: prompts, batched decoding and single tokens.
 *
 * Per super-block: the 8 scale-pair registers unpacked once for 16 rows
 * (Q4_K's six-bit pair fields, sign-extended); per lane m three 64-byte planes
 * give the 8 weight registers of 16 rows x 4 values 0..7 (six by a mask or
 * a shift and a mask, two by two shifts, a mask and a ternary-logic
 * merge: 17 operations per lane). Per chunk c and
 * token: two VPMADDUBSW against four activation bytes each, their int16
 * sum plus the broadcast pair (-4 A, -4 A') of the side data (the -4 of
 * every weight; each word stays within +-2048), one VPDPWSSD with the
 * chunk's scale pairs: the lane's exact int32 for all 16 rows, then one
 * conversion and one fma. Results are vec_dot's bit for bit (and the
 * layout's ref). */
#include "kernels.h"
#include "kquants_lanes16_x86.h"
#include <immintrin.h>
#include <string.h>

enum { Q3L_SCALES = 32, Q3L_BITS = 224, Q3L_M = 192, AUX_SB = QK_K + 128 };

/* The 32 signed 6-bit values of a pair field (24 bytes) as int16: word
 * i = t[i] (the field of kquants_lanes16_avx512vnni.c, the top 2 bits
 * sign-extended) */
static inline __m512i six_bit_pairs(const uint8_t *f) {
    const __m512i lo = lanes16_field_nibbles(f);
    /* top 2 bits: bits 2 * (i >> 3) of the high byte moved to bits 14-15,
     * then arithmetically to bits 4-5 */
    const __m512i hw = lanes16_field_top_bytes(f);
    const __m512i hi = _mm512_srai_epi16(_mm512_sllv_epi16(hw, _mm512_set_epi64(0, 0, 0x0002000200020002, 0x0002000200020002,
                                                                                 0x0004000400040004, 0x0004000400040004,
                                                                                 0x0006000600060006, 0x0006000600060006)),
                                         10);
    return _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi16(0x0F), 0xE4); /* bits 0-3 from lo, the rest from hi */
}

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* weight register k (0..7) of a lane from its planes p[0..2] (16-bit
 * shifts: the masks drop what crosses bytes) */
static inline __attribute__((always_inline)) __m512i weights(const __m512i *p, const int k) {
    if (k < 6) return _mm512_and_si512(k & 1 ? _mm512_srli_epi16(p[k >> 1], 3) : p[k >> 1], _mm512_set1_epi8(7));
    /* bits 0-1 from bits 6-7 of P0 or P1, bit 2 from bit k of P2, zero above */
    const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(p[k - 6], 6), _mm512_set1_epi8(3));
    return _mm512_ternarylogic_epi32(lo, _mm512_srli_epi16(p[2], k - 2), _mm512_set1_epi8(4), 0xF8);
}

/* Super-blocks b0..b1 for nt (1..2) tokens into acc[token][8][row]
 * (loaded and stored: passes over chunks and tokens share it). */
static inline __attribute__((always_inline)) void pass_nt(int nb, int b0, int b1, const uint8_t *g, const char *aux,
                                                          size_t aux_stride, float *acc, const int nt) {
    const int8_t *q[2];
    const float *yd[2];
    __m512 fa[2][8];
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++) {
        q[t] = (const int8_t *)(aux + (size_t)t * aux_stride);
        yd[t] = (const float *)(q[t] + (size_t)nb * AUX_SB);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) fa[t][m] = _mm512_loadu_ps(acc + (t * 8 + m) * 16);
    }
    for (int b = b0; b < b1; b++) {
        const uint8_t *o = g + (size_t)b * EMBER_Q3_K_LANES16_BLOCK;
        const __m512 xd = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
        __m512 d[2];
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++) d[t] = _mm512_mul_ps(_mm512_set1_ps(yd[t][b]), xd);
        __m512i sc[8];
#pragma GCC unroll 8
        for (int f = 0; f < 8; f++) sc[f] = six_bit_pairs(o + Q3L_SCALES + 24 * f);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            const uint8_t *om = o + Q3L_BITS + Q3L_M * m;
            const __m512i pl[3] = {_mm512_loadu_si512(om), _mm512_loadu_si512(om + 64), _mm512_loadu_si512(om + 128)};
            __m512i s[2];
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) s[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m512i w0 = weights(pl, 2 * c), w1 = weights(pl, 2 * c + 1);
#pragma GCC unroll 2
                for (int t = 0; t < nt; t++) {
                    const int8_t *a = q[t] + (size_t)b * AUX_SB + 8 * (4 * m + c);
                    const __m512i corr = bcast4(q[t] + (size_t)b * AUX_SB + QK_K + 4 * (4 * m + c));
                    const __m512i p = _mm512_add_epi16(_mm512_add_epi16(_mm512_maddubs_epi16(w0, bcast4(a)),
                                                                        _mm512_maddubs_epi16(w1, bcast4(a + 4))),
                                                       corr);
                    s[t] = _mm512_dpwssd_epi32(s[t], p, sc[2 * c + (m >= 4)]);
                }
            }
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) fa[t][m] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(s[t]), fa[t][m]);
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) _mm512_storeu_ps(acc + (t * 8 + m) * 16, fa[t][m]);
}

/* vec_dot's last step: lanes16_fold8, hsum8's tree over the lanes */
LANES16_ENTRY(dot_q3_K_lanes16_tokens, 8 * 16, EMBER_Q3_K_LANES16_BLOCK, lanes16_fold8, pass_nt, )

void ember_kernels_avx512vnni_q3_K_lanes16(ember_kernel_set *ks) {
    /* the copy is the rows' size, so decoding reads it too */
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q3_K] = dot_q3_K_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q3_K] = &ember_q3_K_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q3_K] = 1;
}
