/* Q4_0 over the packed 8-row copy (formats/q4_0_rows8.c) with AVX-512 VNNI.
 * Each output keeps the rows8 order: per block the exact integer dot, then
 * acc = fma((float)isum, d_w * d_a, acc); so results are bit-identical to
 * the reference and to the AVX2 kernels.
 *
 * The integer dot: 8-byte lane k of the two 64-byte loads holds row k's
 * nibbles; the activation's matching 8 bytes are broadcast to every lane.
 * VPDPBUSD multiplies unsigned by signed bytes, so the activation is made
 * unsigned (a + 128, a bit flip) and the weight signed (nibble - 8):
 * dot(q, a) = dot(q, a + 128) - 128 * sum(q), where sum(q) comes from the
 * nibble sums (VPSADBW per lane) and is shared by all tokens. */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

#define GROUP_BYTES (8 * sizeof(block_q4_0))

static inline __m512i bcast8(const int8_t *p) {
    long long v;
    memcpy(&v, p, 8);
    return _mm512_set1_epi64(v);
}

static inline __attribute__((always_inline)) void packed8_nt(int n, float *s, size_t s_stride, const uint8_t *g,
                                                             const char *y, size_t y_stride, const int nt) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8), flip = _mm512_set1_epi8((char)0x80);
    const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFFll), c32768 = _mm512_set1_epi64(32768), z = _mm512_setzero_si512();
    __m256 acc[8];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const int nb = n / QK4_0;
    for (int b = 0; b < nb; b++, g += GROUP_BYTES) {
        const __m512i v0 = _mm512_loadu_si512(g + 16), v1 = _mm512_loadu_si512(g + 80);
        /* lane k: elements 0..7, 8..15, 16..23, 24..31 of row k */
        const __m512i n0 = _mm512_and_si512(v0, m4), n1 = _mm512_and_si512(v1, m4);
        const __m512i n2 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4), n3 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4);
        const __m512i sn = _mm512_add_epi64(_mm512_add_epi64(_mm512_sad_epu8(n0, z), _mm512_sad_epu8(n1, z)),
                                            _mm512_add_epi64(_mm512_sad_epu8(n2, z), _mm512_sad_epu8(n3, z)));
        /* -128 * sum(q) = 32768 - 128 * sum(nibbles), in the low half of each lane */
        const __m512i init = _mm512_and_si512(_mm512_sub_epi64(c32768, _mm512_slli_epi64(sn, 7)), lo32);
        const __m512i q0 = _mm512_sub_epi8(n0, eight), q1 = _mm512_sub_epi8(n1, eight);
        const __m512i q2 = _mm512_sub_epi8(n2, eight), q3 = _mm512_sub_epi8(n3, eight);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        for (int t = 0; t < nt; t++) {
            const block_q8_0 *yb = (const block_q8_0 *)(y + (size_t)t * y_stride) + b;
            __m512i p = _mm512_dpbusd_epi32(init, _mm512_xor_si512(bcast8(yb->qs), flip), q0);
            p = _mm512_dpbusd_epi32(p, _mm512_xor_si512(bcast8(yb->qs + 8), flip), q1);
            p = _mm512_dpbusd_epi32(p, _mm512_xor_si512(bcast8(yb->qs + 16), flip), q2);
            p = _mm512_dpbusd_epi32(p, _mm512_xor_si512(bcast8(yb->qs + 24), flip), q3);
            /* low half of lane k + high half: row k's exact integer dot */
            const __m256i isum = _mm512_cvtepi64_epi32(_mm512_add_epi32(p, _mm512_srli_epi64(p, 32)));
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(yb->d)));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(s + (size_t)t * s_stride, acc[t]);
}

static void dot_q4_0_packed8_tokens(int n, float *s, size_t s_stride, const void *group, const void *y,
                                    size_t y_stride, int nt) {
    switch (nt) {
    case 1: packed8_nt(n, s, s_stride, group, y, y_stride, 1); break;
    case 2: packed8_nt(n, s, s_stride, group, y, y_stride, 2); break;
    case 3: packed8_nt(n, s, s_stride, group, y, y_stride, 3); break;
    case 4: packed8_nt(n, s, s_stride, group, y, y_stride, 4); break;
    case 5: packed8_nt(n, s, s_stride, group, y, y_stride, 5); break;
    case 6: packed8_nt(n, s, s_stride, group, y, y_stride, 6); break;
    case 7: packed8_nt(n, s, s_stride, group, y, y_stride, 7); break;
    default: packed8_nt(n, s, s_stride, group, y, y_stride, 8); break;
    }
}

/* One token stays with the AVX2 kernel (prefill_avx2.c): on Zen 4, where
 * 512-bit operations take two cycles, it is the faster of the two (the
 * nibble sums here only pay off when several tokens share them). */
void ember_kernels_avx512_q4_0(ember_kernel_set *ks) {
    ks->vec_dot_packed8_tokens[EMBER_TYPE_Q4_0] = dot_q4_0_packed8_tokens;
}
