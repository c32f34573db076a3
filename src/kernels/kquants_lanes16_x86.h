/* What the K-quant lane-copy kernels share (kquants_lanes16_avx512vnni.c,
 * q3_K_lanes16_avx512vnni.c, q6_K_lanes16_avx512vnni.c): the walk over
 * tokens and super-blocks, and vec_dot's 8-lane tree for 16 rows. Each
 * type supplies a pass over super-blocks b0..b1 for one or two tokens that
 * loads and stores its accumulators (acc_floats per token) and a fold of
 * one token's accumulators to its 16 results. */
#ifndef EMBER_KQUANTS_LANES16_X86_H
#define EMBER_KQUANTS_LANES16_X86_H

#include "kernels.h"
#include <immintrin.h>
#include <string.h>

/* A 16-byte field of 32 nibbles as int16 (word i = the low nibble of byte
 * i for i < 16, else the high one of byte i - 16): the low 4 bits of the
 * Q2_K fields and of the 6-bit pair fields. Bits 4-7 of words 0..15 keep
 * the other nibble; callers mask. */
static inline __m512i lanes16_field_nibbles(const uint8_t *f) {
    const __m512i z = _mm512_cvtepu8_epi16(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)f)));
    return _mm512_srlv_epi16(z, _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0x0004000400040004,
                                                 0x0004000400040004, 0, 0, 0, 0));
}

/* The top-bits bytes of a 6-bit pair field (f[16..23]) as the high byte of
 * every word: word i = f[16 + (i & 7)] << 8 (its 2-bit part i >> 3 is then
 * one variable shift away) */
static inline __m512i lanes16_field_top_bytes(const uint8_t *f) {
    uint64_t h;
    memcpy(&h, f + 16, 8);
    return _mm512_unpacklo_epi8(_mm512_setzero_si512(), _mm512_set1_epi64((long long)h));
}

typedef void (*lanes16_pass_fn)(int nb, int b0, int b1, const uint8_t *g, const char *aux, size_t aux_stride, float *acc);

/* hsum8's tree ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) over 8 lane vectors
 * of 16 rows, 16 floats apart */
static inline __m512 lanes16_fold8(const float *a) {
#define L(i) _mm512_loadu_ps(a + 16 * (i))
    const __m512 r = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(L(0), L(4)), _mm512_add_ps(L(2), L(6))),
                                   _mm512_add_ps(_mm512_add_ps(L(1), L(5)), _mm512_add_ps(L(3), L(7))));
#undef L
    return r;
}

/* Super-blocks per chunk when a decoding batch of several tokens streams
 * the group: each pass of two tokens walks LANES16_CHUNK super-blocks
 * (14-26 KiB of the group, in L1 for the next pass), so the group comes
 * from memory once. */
#define LANES16_CHUNK 8
/* Streaming (decoding: one token or a batch), the first pass of two
 * tokens (or the lone token) walks the group a super-block at a time,
 * prefetching the bytes PF_AHEAD further (EMBER_PF_STREAM); the other
 * passes find the chunk in L1. One thread reading from memory, TSC per 256
 * elements, one token: Q4_K 10.6 -> 7.4, Q5_K 17 -> 9.4, Q6_K 23 -> 11.1;
 * batches of 2 and 4 tokens, which had no software prefetch before:
 * tl-q4_k 90 -> 150 and 116 -> 200 t/s, tl-q6_k 71 -> 131 and 99 -> 155
 * (4/4 alternations each). Q2_K and Q3_K, even or slower with the T1
 * hint, gained once the hint was non-temporal: tl-q2_k tg64 median 131.6
 * -> 151.8 t/s, tl-q3_k 117.9 -> 127.2 (6/6 alternations each); 4.5 and
 * 16 KiB ahead were slower for Q2_K (141.7, 129.9 against 146.2). */
#define LANES16_PF_AHEAD 9216
/* the largest acc_floats (Q4_K: 8 lanes and 4 min lanes of 16 rows) */
#define LANES16_MAX_ACC (12 * 16)

/* nt (1..8) tokens: passes of two tokens (then one), accumulators parked
 * in an L1 array between chunks and passes, then folded into s */
static inline void lanes16_tokens(int n, float *s, size_t s_stride, const void *group, const void *aux, size_t aux_stride,
                                  int nt, int stream, int acc_floats, lanes16_pass_fn one, lanes16_pass_fn two,
                                  __m512 (*fold)(const float *acc), size_t block_bytes) {
    const int nb = n / QK_K;
    const int chunk = stream && nt > 2 ? LANES16_CHUNK : nb;
    _Alignas(64) float acc[8 * LANES16_MAX_ACC]; /* [token][acc_floats] */
    memset(acc, 0, sizeof(float) * (size_t)acc_floats * (size_t)nt);
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int b1 = nb - b0 < chunk ? nb : b0 + chunk;
        int t0 = 0;
        if (stream && block_bytes) { /* the first pass, a super-block at a time */
            for (int b = b0; b < b1; b++) {
                const char *ahead = (const char *)group + (size_t)b * block_bytes + LANES16_PF_AHEAD;
                for (size_t l = 0; l < block_bytes; l += 64) _mm_prefetch(ahead + l, EMBER_PF_STREAM);
                (nt >= 2 ? two : one)(nb, b, b + 1, group, aux, aux_stride, acc);
            }
            t0 = nt >= 2 ? 2 : 1;
        }
        for (; t0 < nt; t0 += 2)
            (nt - t0 >= 2 ? two : one)(nb, b0, b1, group, (const char *)aux + (size_t)t0 * aux_stride, aux_stride,
                                       acc + t0 * acc_floats);
    }
    for (int t = 0; t < nt; t++) _mm512_storeu_ps(s + (size_t)t * s_stride, fold(acc + t * acc_floats));
}

/* The packed-tokens entry point NAME of a type from its pass PASS(nb, b0,
 * b1, g, aux, aux_stride, acc, nt ...) with the trailing arguments
 * __VA_ARGS__, and its fold FOLD; BLOCK_BYTES is a super-block's size in
 * the copy (0: one streaming token gets no software prefetch). */
#define LANES16_ENTRY(NAME, ACC_FLOATS, BLOCK_BYTES, FOLD, PASS, ...)                                                                \
    static void NAME##_one(int nb, int b0, int b1, const uint8_t *g, const char *aux, size_t aux_stride, float *acc) {    \
        PASS(nb, b0, b1, g, aux, aux_stride, acc, 1 __VA_ARGS__);                                                         \
    }                                                                                                                     \
    static void NAME##_two(int nb, int b0, int b1, const uint8_t *g, const char *aux, size_t aux_stride, float *acc) {    \
        PASS(nb, b0, b1, g, aux, aux_stride, acc, 2 __VA_ARGS__);                                                         \
    }                                                                                                                     \
    static void NAME(int n, float *s, size_t s_stride, const void *group, const void *y, size_t y_stride,               \
                     const void *aux, size_t aux_stride, int nt, int stream) {                                            \
        (void)y, (void)y_stride;                                                                                          \
        lanes16_tokens(n, s, s_stride, group, aux, aux_stride, nt, stream, ACC_FLOATS, NAME##_one, NAME##_two, FOLD,     \
                       BLOCK_BYTES);                                                                                      \
    }

#endif
