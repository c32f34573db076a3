/* Q4_0 over the packed 8-row copy (formats/q4_0_rows8.c) with AVX-512 VNNI.
 * Each output keeps the rows8 order: per block the exact integer dot, then
 * acc = fma((float)isum, d_w * d_a, acc); so results are bit-identical to
 * the reference and to the AVX2 kernels.
 *
 * The integer dot: 8-byte lane k of the two 64-byte loads holds row k's
 * nibbles; the activation's matching 8 bytes are broadcast to every lane.
 * VPDPBUSD multiplies unsigned by signed bytes, so the activation is made
 * unsigned (a + 128, a bit flip, once per matmul in the side data) and the
 * weight signed (nibble - 8):
 * dot(q, a) = dot(q, a + 128) - 128 * sum(q), where sum(q) comes from the
 * nibble sums (VPSADBW per lane) and is shared by all tokens. */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

#define GROUP_BYTES (8 * sizeof(block_q4_0))
/* one-token decoding streams the packed groups once: prefetch 4 KiB ahead
 * into L2 (tg64 on tl-q4_0: 43.5 vs 39.9 t/s median of 7 alternating runs) */
#define PF_AHEAD 4096

static inline __m512i bcast8(const int8_t *p) {
    long long v;
    memcpy(&v, p, 8);
    return _mm512_set1_epi64(v);
}

/* One 8-row half's weights for a block: the four signed operands
 * (nibble - 8; lane k: row k's elements 0..7, 8..15, 16..23, 24..31) and
 * the starting value -128 * sum(q) in the low half of each 64-bit lane. */
static inline __attribute__((always_inline)) void half_block(const uint8_t *g, __m512i q[4], __m512i *init) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8), z = _mm512_setzero_si512();
    const __m512i v0 = _mm512_loadu_si512(g + 16), v1 = _mm512_loadu_si512(g + 80);
    const __m512i n0 = _mm512_and_si512(v0, m4), n1 = _mm512_and_si512(v1, m4);
    const __m512i n2 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4), n3 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4);
    const __m512i sn = _mm512_add_epi64(_mm512_add_epi64(_mm512_sad_epu8(n0, z), _mm512_sad_epu8(n1, z)),
                                        _mm512_add_epi64(_mm512_sad_epu8(n2, z), _mm512_sad_epu8(n3, z)));
    /* 32768 - 128 * sum(nibbles) = -128 * sum(nibble - 8) */
    *init = _mm512_and_si512(_mm512_sub_epi64(_mm512_set1_epi64(32768), _mm512_slli_epi64(sn, 7)),
                             _mm512_set1_epi64(0xFFFFFFFFll));
    q[0] = _mm512_sub_epi8(n0, eight), q[1] = _mm512_sub_epi8(n1, eight);
    q[2] = _mm512_sub_epi8(n2, eight), q[3] = _mm512_sub_epi8(n3, eight);
}

/* 16 rows (two 8-row halves, formats/q4_0_rows8.c) x nt tokens. aux: per
 * token the activation offset to unsigned per block (32 bytes) and then
 * the float scales (act_aux). Per token and block: four broadcasts serve
 * both halves, eight VPDPBUSD give each row's exact integer in two 32-bit
 * lanes, and two permutes plus an add fold them into one register of 16
 * rows for a single convert, multiply and fma. */
#define HALF(n) ((size_t)((n) / QK4_0) * GROUP_BYTES)

static inline __attribute__((always_inline)) void packed16_nt(int n, float *s, size_t s_stride, const uint8_t *g,
                                                              const char *aux, size_t aux_stride, const int nt) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const uint8_t *g1 = g + HALF(n);
    __m512 acc[8];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    const int nb = n / QK4_0;
    for (int b = 0; b < nb; b++) {
        __m512i q0[4], q1[4], init0, init1;
        half_block(g + (size_t)b * GROUP_BYTES, q0, &init0);
        half_block(g1 + (size_t)b * GROUP_BYTES, q1, &init1);
        const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(g + (size_t)b * GROUP_BYTES))),
            _mm_loadu_si128((const __m128i *)(g1 + (size_t)b * GROUP_BYTES)), 1));
        for (int t = 0; t < nt; t++) {
            const int8_t *au = (const int8_t *)(aux + (size_t)t * aux_stride) + QK8_0 * (size_t)b;
            const float *dy = (const float *)(aux + (size_t)t * aux_stride + (size_t)QK8_0 * nb);
            __m512i p0 = init0, p1 = init1;
            for (int j = 0; j < 4; j++) {
                const __m512i a = bcast8(au + 8 * j);
                p0 = _mm512_dpbusd_epi32(p0, a, q0[j]);
                p1 = _mm512_dpbusd_epi32(p1, a, q1[j]);
            }
            /* row r's two lanes: 2r and 2r+1 of p0 (rows 0..7) or p1 (8..15) */
            const __m512i isum = _mm512_add_epi32(_mm512_permutex2var_epi32(p0, even, p1), _mm512_permutex2var_epi32(p0, odd, p1));
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(dy[b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm512_storeu_ps(s + (size_t)t * s_stride, acc[t]);
}

static void dot_q4_0_packed16_tokens(int n, float *s, size_t s_stride, const void *group, const void *y,
                                     size_t y_stride, const void *aux, size_t aux_stride, int nt, int stream) {
    (void)y, (void)y_stride, (void)stream; /* the side data carries the activations */
    EMBER_WITH_NT8(nt, packed16_nt(n, s, s_stride, group, aux, aux_stride, NT));
}

/* One token: the weight nibbles go in as the unsigned operand and the
 * activation as the signed one, so neither side needs a per-block fix-up
 * on the weights: dot(q - 8, a) = dot(q, a) - 8 * sum(a), where the
 * activation sums of a whole chunk of blocks are taken first (one SAD per
 * block, four blocks per store). The high nibbles are used in place,
 * masked to 16 * q, and their dword sums shifted back down by 4 (exact:
 * every product is a multiple of 16). Same integer per block, same float
 * sequence per output: bit-identical to the reference. */
#define CORR_CHUNK 128

/* nc[b] = -8 * sum of block b's 32 activation bytes */
static inline void neg_act_sums(const block_q8_0 *y, int nb, int32_t *nc) {
    const __m256i flip = _mm256_set1_epi8((char)0x80), z = _mm256_setzero_si256();
    const __m128i k = _mm_set1_epi32(32768); /* 8 * 32 * 128 */
    int b = 0;
    for (; b + 4 <= nb; b += 4) {
        __m256i s[4]; /* per block: four sums of eight (a + 128) */
        for (int i = 0; i < 4; i++)
            s[i] = _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)y[b + i].qs), flip), z);
        const __m256i u01 = _mm256_or_si256(s[0], _mm256_slli_epi64(s[1], 32));
        const __m256i u23 = _mm256_or_si256(s[2], _mm256_slli_epi64(s[3], 32));
        const __m256i x = _mm256_add_epi32(_mm256_unpacklo_epi64(u01, u23), _mm256_unpackhi_epi64(u01, u23));
        const __m128i t = _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
        _mm_storeu_si128((__m128i *)(nc + b), _mm_sub_epi32(k, _mm_slli_epi32(t, 3)));
    }
    for (; b < nb; b++) {
        int sum = 0;
        for (int j = 0; j < QK8_0; j++) sum += y[b].qs[j];
        nc[b] = -8 * sum;
    }
}

static void dot_q4_0_packed8(int n, float *s, const void *group, const void *vy) {
    const uint8_t *g = group;
    const block_q8_0 *y = vy;
    const __m512i m4 = _mm512_set1_epi8(0x0F), mf0 = _mm512_set1_epi8((char)0xF0), z = _mm512_setzero_si512();
    __m256 acc = _mm256_setzero_ps();
    int32_t nc[CORR_CHUNK];
    const int nb = n / QK4_0;
    for (int c0 = 0; c0 < nb; c0 += CORR_CHUNK) {
        const int cb = nb - c0 < CORR_CHUNK ? nb - c0 : CORR_CHUNK;
        neg_act_sums(y + c0, cb, nc);
        for (int i = 0; i < cb; i++, g += GROUP_BYTES) {
            const block_q8_0 *yb = y + c0 + i;
            _mm_prefetch((const char *)g + PF_AHEAD, _MM_HINT_T1);
            _mm_prefetch((const char *)g + PF_AHEAD + 64, _MM_HINT_T1);
            _mm_prefetch((const char *)g + PF_AHEAD + 128, _MM_HINT_T1);
            __m512i v0 = _mm512_loadu_si512(g + 16), v1 = _mm512_loadu_si512(g + 80);
            /* keep the loads in registers (each feeds two masks) */
            __asm__("" : "+v"(v0), "+v"(v1));
            /* lane k: row k's elements 0..7 / 8..15 (low), 16..23 / 24..31 (high) */
            __m512i pl = _mm512_dpbusd_epi32(z, _mm512_and_si512(v0, m4), bcast8(yb->qs));
            __m512i ph = _mm512_dpbusd_epi32(z, _mm512_and_si512(v0, mf0), bcast8(yb->qs + 16));
            pl = _mm512_dpbusd_epi32(pl, _mm512_and_si512(v1, m4), bcast8(yb->qs + 8));
            ph = _mm512_dpbusd_epi32(ph, _mm512_and_si512(v1, mf0), bcast8(yb->qs + 24));
            const __m512i p = _mm512_add_epi32(pl, _mm512_srai_epi32(ph, 4));
            /* low half of lane k + high half, less 8 * sum(a) */
            const __m256i isum =
                _mm256_add_epi32(_mm512_cvtepi64_epi32(_mm512_add_epi32(p, _mm512_srli_epi64(p, 32))), _mm256_set1_epi32(nc[i]));
            uint16_t dy;
            memcpy(&dy, &yb->d, 2);
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
            const __m256 d = _mm256_mul_ps(dw, _mm256_cvtph_ps(_mm_set1_epi16((short)dy)));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
        }
    }
    _mm256_storeu_ps(s, acc);
}

/* one token, 16 rows: each 8-row half streams through the kernel above */
static void dot_q4_0_packed16(int n, float *s, const void *group, const void *y) {
    dot_q4_0_packed8(n, s, group, y);
    dot_q4_0_packed8(n, s + 8, (const uint8_t *)group + HALF(n), y);
}

void ember_kernels_avx512vnni_q4_0(ember_kernel_set *ks) {
    ks->vec_dot_packed[EMBER_TYPE_Q4_0] = dot_q4_0_packed16;
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q4_0] = dot_q4_0_packed16_tokens;
}
