/* Weight unpacking of the 32-element 4- and 5-bit block quants into bytes
 * (AVX2), shared by the AVX2-path dots (simple_avx2_body.h) and prompt
 * kernels (q8_0_avx2_body.h). */
#ifndef EMBER_UNPACK_X86_H
#define EMBER_UNPACK_X86_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* Byte j = element j of a 4-bit block (low nibbles are elements 0..15). */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

/* Byte j = 0x10 if bit j of the little-endian qh word is set, else 0. */
static inline __m256i fifth_bits32(const uint8_t *qh) {
    uint32_t w;
    memcpy(&w, qh, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

#endif
