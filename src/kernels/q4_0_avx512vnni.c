/* Q4_0 over the 16-row lane copy (formats/q4_0_lanes16.c) with AVX-512
 * VNNI. Each output keeps llama.cpp's repacked order: per block the exact
 * integer dot, then acc = fma((float)isum, d_w * d_a, acc); so results are
 * bit-identical to the reference and to the AVX2 kernels.
 *
 * Per block the four 64-byte chunks give eight unsigned operands (low and
 * high nibbles; dword lane r = row r's elements 4k..4k+3), unpacked once
 * for up to eight tokens. Per token and block: eight VPDPBUSD against
 * broadcast activation dwords, started from -8 * sum(a) (act_aux), then
 * one convert, multiply and fma for all 16 rows. Against the previous
 * two-lanes-per-row copy this drops the per-token permutes and the
 * per-block nibble sums: 0.58 vs 0.88 TSC per (row, token, block) in L1
 * at eight tokens (Zen 4). */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

#define BLOCK_BYTES (16 * sizeof(block_q4_0))
/* decoding (one token or a batch of up to 8) streams the group once:
 * prefetch 4 KiB ahead, non-temporally (EMBER_PF_STREAM; into L2 in the
 * previous kernel: tg64 on tl-q4_0 43.5 vs 39.9 t/s without; batches had
 * none until 2 and 4 streams measured 145 -> 177 and 203 -> 265 t/s) */
#define PF_AHEAD 4096

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static inline __attribute__((always_inline)) void lanes16_nt(int n, float *s, size_t s_stride, const uint8_t *g,
                                                             const char *y, size_t y_stride, const char *aux,
                                                             size_t aux_stride, const int nt, const int stream) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const int nb = n / QK4_0;
    __m512 acc[8];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++, g += BLOCK_BYTES) {
        if (stream)
            for (int l = 0; l < 5; l++) _mm_prefetch((const char *)g + PF_AHEAD + 64 * l, EMBER_PF_STREAM);
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
        __m512i q[8]; /* q[k]: elements 4k..4k+3 of every row */
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m512i v = _mm512_loadu_si512(g + 32 + 64 * c);
            q[c] = _mm512_and_si512(v, m4);
            q[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
#pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            const block_q8_0 *yb = (const block_q8_0 *)(y + (size_t)t * y_stride) + b;
            const float *da = (const float *)(aux + (size_t)t * aux_stride);
            const int32_t *neg8 = (const int32_t *)(da + nb);
            __m512i p = _mm512_set1_epi32(neg8[b]);
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) p = _mm512_dpbusd_epi32(p, q[k], bcast4(yb->qs + 4 * k));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, _mm512_set1_ps(da[b])), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm512_storeu_ps(s + (size_t)t * s_stride, acc[t]);
}

static void dot_q4_0_lanes16_tokens(int n, float *s, size_t s_stride, const void *group, const void *y, size_t y_stride,
                                    const void *aux, size_t aux_stride, int nt, int stream) {
    if (stream) EMBER_WITH_NT8(nt, lanes16_nt(n, s, s_stride, group, y, y_stride, aux, aux_stride, NT, 1));
    else EMBER_WITH_NT8(nt, lanes16_nt(n, s, s_stride, group, y, y_stride, aux, aux_stride, NT, 0));
}

void ember_kernels_avx512vnni_q4_0(ember_kernel_set *ks) {
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q4_0] = dot_q4_0_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q4_0] = &ember_q4_0_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q4_0] = 1;
}
