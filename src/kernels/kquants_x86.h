/* Pieces shared by the x86 K-quant kernel files (kquants_avx2.c,
 * kquants_avx512vnni.c): scale unpacking with AVX2/F16C instructions that
 * both files are built with (Q4_K/Q5_K, Q2_K, Q3_K, the per-run scale
 * words), and the rows16 fallback in plain C. */
#ifndef EMBER_KQUANTS_X86_H
#define EMBER_KQUANTS_X86_H

#include "kernels.h"
#include <immintrin.h>
#include <string.h>
#include "reduce_x86.h"

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* byte-shuffle control selecting int16 word w of a 128-bit lane */
static inline int word_bytes(int w) { return (2 * w) | ((2 * w + 1) << 8); }

/* int16 scales of 16-element sub-blocks 2r (low lane) and 2r+1 (high lane)
 * of run r, from sub-block scales 0..7 (sc_lo) or 8..15 (sc_hi) held as
 * words in both 128-bit lanes */
static inline __m256i run_scales(__m256i sc_lo, __m256i sc_hi, int r) {
    return _mm256_shuffle_epi8(r < 4 ? sc_lo : sc_hi, _mm256_set_m128i(_mm_set1_epi16((short)word_bytes((2 * r + 1) % 8)),
                                                                       _mm_set1_epi16((short)word_bytes((2 * r) % 8))));
}

/* The 16 signed scales of a Q3_K block as bytes: low 4 bits from bytes
 * 0..7 (low nibbles, then high nibbles), bits 4-5 from bytes 8..11 (two
 * bits per scale, scales j and j+4, j+8, j+12 in one byte), minus 32.
 * Reads exactly the 12 packed bytes. */
static inline __m128i q3_scale_bytes(const uint8_t *p) {
    uint32_t h;
    memcpy(&h, p + 8, 4);
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m128i b = _mm_loadl_epi64((const __m128i *)p);
    const __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
    const __m128i hi = _mm_srlv_epi32(_mm_set1_epi32((int)h), _mm_set_epi32(6, 4, 2, 0));
    return _mm_sub_epi8(_mm_or_si128(lo, _mm_and_si128(_mm_slli_epi32(hi, 4), _mm_set1_epi8(0x30))), _mm_set1_epi8(32));
}

/* A Q3_K block's sub-block scales 0..7 (sc_lo) and 8..15 (sc_hi) as words
 * in both 128-bit lanes */
static inline void q3_scales(const block_q3_K *b, __m256i *sc_lo, __m256i *sc_hi) {
    const __m128i sc8 = q3_scale_bytes(b->scales);
    *sc_lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8));
    *sc_hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_unpackhi_epi64(sc8, sc8)));
}

/* A Q2_K block's 16 mins as words, and its sub-block scales 0..7 (sc_lo)
 * and 8..15 (sc_hi) as words in both 128-bit lanes */
static inline void q2_scales(const block_q2_K *b, __m256i *mins, __m256i *sc_lo, __m256i *sc_hi) {
    const __m128i m4 = _mm_set1_epi8(0xF);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)b->scales);
    const __m128i scl = _mm_and_si128(sc8, m4);
    *mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    *sc_lo = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scl));
    *sc_hi = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(scl, scl)));
}

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

/* The int16 sums of q8 over each 32-element sub-block (bsums added in
 * pairs): 8 int16, i.e. int32 lane j = sub-blocks 2j, 2j+1 */
static inline __m128i k4_q8_sums(const int16_t *bsums) {
    const __m256i q8sums = _mm256_loadu_si256((const __m256i *)bsums);
    return _mm_hadd_epi16(_mm256_castsi256_si128(q8sums), _mm256_extracti128_si256(q8sums, 1));
}

/* min * (sum of q8 over each 32-element sub-block), pairs of sub-blocks
 * added as the 16-bit multiply-add does: 4 int32 */
static inline __m128i k4_min_prod(__m128i mins16, const int16_t *bsums) {
    return _mm_madd_epi16(mins16, k4_q8_sums(bsums));
}

/* A Q4_K/Q5_K super-block's min term for one token, added where vec_dot's
 * order puts it: Q5_K folds the 4 products into one integer and sums
 * dmin * it per token in a float, Q4_K keeps 4 float lanes. */
static inline __attribute__((always_inline)) void k45_min_term(int q5, __m128i mins16, const int16_t *bsums, float dmin,
                                                               float *summ, __m128 *acc_m) {
    const __m128i prod = k4_min_prod(mins16, bsums);
    if (q5) {
        __m128i p = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0x4E));
        p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xB1));
        *summ = __builtin_fmaf(dmin, (float)_mm_cvtsi128_si32(p), *summ);
    } else {
        *acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), *acc_m);
    }
}

/* The dot from the 8 main lanes and the min term (hsum8: reduce_x86.h) */
static inline __attribute__((always_inline)) float k45_finish(int q5, __m256 acc, float summ, __m128 acc_m) {
    if (q5) return hsum8(acc) + summ;
    __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return hsum8(acc) + _mm_cvtss_f32(m);
}

#define ZERO8 {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}

/* super-blocks the Q4_K/Q5_K rows16 kernels keep per-call tables for
 * (n up to 16384: the tables live on the stack) */
#define ROWS16_MAX_SB 64

/* rows16 past the tables' limit: per row, up to four tokens a call */
static inline void rows16_by_tokens(void (*dot_tokens)(int, float *, const void *, const void *, size_t, int), int n,
                                    float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                    size_t y_stride, int nt) {
    for (int k0 = 0; k0 < nt; k0 += 4)
        for (int r = 0; r < 16; r++) {
            float s4[4];
            const int nk = nt - k0 < 4 ? nt - k0 : 4;
            dot_tokens(n, s4, (const char *)x + (size_t)r * row_bytes, (const char *)y + (size_t)k0 * y_stride, y_stride, nk);
            for (int k = 0; k < nk; k++) s[(size_t)(k0 + k) * s_stride + r] = s4[k];
        }
}

#endif
