/* Q6_K against its 16-row lane copy (formats/q6_K_lanes16.c) with
 * AVX-512 BW/VNNI: prompts, batched decoding and single tokens.
 *
 * Per super-block: the scale pairs of the 16 rows, eight registers (one
 * VPMOVSXBW each). Per lane m and chunk c: one 64-byte load of nibbles,
 * unpacked to two registers of 16 rows x 4 weights, whose top two bits
 * come from a 64-byte load shared by two chunks (a shift and a ternary
 * logic op each); per token two VPMADDUBSW against four activation bytes
 * broadcast from the side data, their sum (one run's four products per
 * 16-bit half) less the side data's 32 * A pair, and one VPDPWSSD with
 * the scale pairs: the lane's exact int32 for all 16 rows, then one
 * conversion and one fma. Results are vec_dot's bit for bit (and the
 * layout's ref). Zen 4, n = 2048, TSC per row, super-block and token
 * (min of many runs), in L1: 9.8 for one token, 7.3 for 2..8 (vec_dot
 * 18.5; the 16-row per-row-blocks kernel 23.2 / 16.0 / 8.9 for 1 / 2 / 8);
 * from memory one token as vec_dot (17-23 vs 19-20). */
#include "kernels.h"
#include "kquants_lanes16_x86.h"
#include <immintrin.h>
#include <string.h>

enum { K6_SCALES = 32, K6_BITS = 288 };
/* (m, c2)'s 192 bytes: the top bits, then chunk 2 c2's nibbles, then 2 c2 + 1's */
#define K6_HIGH(m, c2) (K6_BITS + 192 * (2 * (m) + (c2)))
#define K6_NIB(m, c) (K6_HIGH(m, (c) / 2) + 64 + 64 * ((c) & 1))

static inline __m512i bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Super-blocks b0..b1 for nt (1..2) tokens into acc[token][lane][row]
 * (loaded and stored: passes over chunks and tokens share it). */
static inline __attribute__((always_inline)) void pass_nt(int nb, int b0, int b1, const uint8_t *g, const char *aux,
                                                          size_t aux_stride, float *acc, const int nt) {
    const int8_t *q[2];
    const int32_t *offs[2];
    const float *yd[2];
    __m512 fa[2][8];
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++) {
        q[t] = (const int8_t *)(aux + (size_t)t * aux_stride);
        offs[t] = (const int32_t *)(q[t] + (size_t)nb * QK_K);
        yd[t] = (const float *)(q[t] + (size_t)nb * (QK_K + 128));
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) fa[t][m] = _mm512_loadu_ps(acc + (t * 8 + m) * 16);
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int b = b0; b < b1; b++) {
        const uint8_t *o = g + (size_t)b * EMBER_Q6_K_LANES16_BLOCK;
        const __m512 xd = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
        __m512i sc[8];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) sc[k] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(o + K6_SCALES + 32 * k)));
        __m512 d[2];
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++) d[t] = _mm512_mul_ps(_mm512_set1_ps(yd[t][b]), xd);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            __m512i s[2];
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) s[t] = _mm512_setzero_si512();
#pragma GCC unroll 2
            for (int c2 = 0; c2 < 2; c2++) {
                const __m512i hb = _mm512_loadu_si512(o + K6_HIGH(m, c2));
#pragma GCC unroll 2
                for (int odd = 0; odd < 2; odd++) {
                    const int c = 2 * c2 + odd;
                    const __m512i x = _mm512_loadu_si512(o + K6_NIB(m, c));
                    /* top bits of the low register at 4 * odd, of the high one at 4 * odd + 2 */
                    const __m512i hl = odd ? hb : _mm512_slli_epi16(hb, 4);
                    const __m512i hh = odd ? _mm512_srli_epi16(hb, 2) : _mm512_slli_epi16(hb, 2);
                    const __m512i lo = _mm512_ternarylogic_epi32(_mm512_and_si512(x, m4), hl, m30, 0xF8);
                    const __m512i hi = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(x, 4), m4), hh, m30, 0xF8);
#pragma GCC unroll 2
                    for (int t = 0; t < nt; t++) {
                        const int8_t *a = q[t] + (size_t)b * QK_K + 8 * (4 * m + c);
                        const __m512i p = _mm512_add_epi16(_mm512_maddubs_epi16(lo, bcast4(a)), _mm512_maddubs_epi16(hi, bcast4(a + 4)));
                        const __m512i p32 = _mm512_sub_epi16(p, _mm512_set1_epi32(offs[t][(size_t)b * 32 + 4 * m + c]));
                        s[t] = _mm512_dpwssd_epi32(s[t], p32, sc[2 * c + (m >= 4)]);
                    }
                }
            }
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) fa[t][m] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(s[t]), fa[t][m]);
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++) {
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) _mm512_storeu_ps(acc + (t * 8 + m) * 16, fa[t][m]);
    }
}

/* vec_dot's last step: lanes16_fold8, hsum8's tree over the lanes */
LANES16_ENTRY(dot_q6_K_lanes16_tokens, 8 * 16, EMBER_Q6_K_LANES16_BLOCK, lanes16_fold8, pass_nt, )

void ember_kernels_avx512vnni_q6_K_lanes16(ember_kernel_set *ks) {
    /* the copy is the rows' size, so decoding reads it too */
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q6_K] = dot_q6_K_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q6_K] = &ember_q6_K_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q6_K] = 1;
}
