/* The Q4_0 kernels of the AVX2 path in the repacked-kernel order
 * (formats/q4_0_rows8.c): rows8, rows8_x8, the packed 16-row group for one
 * token and for prompt batches. Shared by prefill_avx2.c (VPMADDUBSW +
 * VPMADDWD), q4_0_avxvnni.c (VEX VPDPBUSD) and
 * q4_0_avxvnni_emulated_avx512vnni.c (EVEX VPDPBUSD on ymm, the
 * "avxvnni-emu" path); the includer defines EMBER_I8_DOT (i8_dot_x86.h).
 * Every integer below is exact in every build, so the float results are
 * the same. */
#include "kernels.h"
#include "i8_dot_x86.h"
#include <immintrin.h>
#include <string.h>

/* partial sums of four (u, s) pieces, (p0 + p1) + (p2 + p3): int16 pairs (AVX2) or two
 * chains of two VPDPBUSD (VNNI; measured faster than one chain of four) */
static inline __attribute__((always_inline)) __m256i i8_pieces4(__m256i u0, __m256i s0, __m256i u1, __m256i s1, __m256i u2,
                                                                 __m256i s2, __m256i u3, __m256i s3) {
#if EMBER_I8_DOT == EMBER_I8_AVX2
    return i8_padd(i8_padd(i8_pdot(u0, s0), i8_pdot(u1, s1)), i8_padd(i8_pdot(u2, s2), i8_pdot(u3, s3)));
#else
    return i8_padd(i8_pdot_add(i8_pdot(u0, s0), u1, s1), i8_pdot_add(i8_pdot(u2, s2), u3, s3));
#endif
}

/* Q4_0 in the repacked-kernel order (formats/q4_0_rows8.c): the block's
 * integer dot is exact, so only the per-block fma chain must be kept. */
static void dot_q4_0_rows8(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), off = _mm256_set1_epi8(8);
    float acc = 0.0f;
    for (int b = 0; b < n / QK4_0; b++) {
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[b].qs);
        const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4), off);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const __m256i p32 = i8_dot(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(p32), _mm256_extracti128_si256(p32, 1));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
        const float d = _cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d);
        acc = __builtin_fmaf((float)_mm_cvtsi128_si32(r), d, acc);
    }
    *s = acc;
}

/* Eight rows at once: lane k carries row k's fma chain, so each output is
 * bit-identical to dot_q4_0_rows8 (and to llama.cpp's repacked kernel). */
static void dot_q4_0_rows8_x8(int n, float *s, const void *vx, size_t row_bytes, const void *vy) {
    const block_q8_0 *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), off = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK4_0; b++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const float da = _cvtsh_ss(y[b].d);
        __m256i sums[8];
        uint16_t dw[8];
        for (int r = 0; r < 8; r++) {
            const block_q4_0 *x = (const block_q4_0 *)((const char *)vx + (size_t)r * row_bytes) + b;
            const __m128i raw = _mm_loadu_si128((const __m128i *)x->qs);
            const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4), off);
            sums[r] = i8_dot(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
            dw[r] = x->d;
        }
        /* transpose-reduce: lane r = total of sums[r] (integer, exact) */
        const __m256i t0 = _mm256_hadd_epi32(sums[0], sums[1]), t1 = _mm256_hadd_epi32(sums[2], sums[3]);
        const __m256i t2 = _mm256_hadd_epi32(sums[4], sums[5]), t3 = _mm256_hadd_epi32(sums[6], sums[7]);
        const __m256i u0 = _mm256_hadd_epi32(t0, t1), u1 = _mm256_hadd_epi32(t2, t3);
        /* u0 = [r0 r1 r2 r3 | r0 r1 r2 r3] halves, u1 likewise for r4..r7 */
        const __m256i lo = _mm256_permute2x128_si256(u0, u1, 0x20), hi = _mm256_permute2x128_si256(u0, u1, 0x31);
        const __m256i isum = _mm256_add_epi32(lo, hi);
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_setr_epi16((short)dw[0], (short)dw[1], (short)dw[2], (short)dw[3],
                                                                      (short)dw[4], (short)dw[5], (short)dw[6], (short)dw[7])),
                                       _mm256_set1_ps(da));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    }
    _mm256_storeu_ps(s, acc);
}

/* The packed 8-row copy (formats/q4_0_rows8.c): 8-byte lane k of each
 * 32-byte load holds row k's (or k+4's) nibbles; the matching 8 activation
 * bytes are broadcast. MADDUBS takes the nibbles unsigned, so the 16-bit
 * pair sums carry dot(nibble, a); the same pair sums of 8 * a are taken off
 * before widening (|values| < 2^14: exact), leaving dot(nibble - 8, a). */
static inline __m256i bcast8(const int8_t *p) {
    long long v;
    memcpy(&v, p, 8);
    return _mm256_set1_epi64x(v);
}

static inline __attribute__((always_inline)) void packed8_nt(int n, float *s, size_t s_stride, const uint8_t *g,
                                                             const char *y, size_t y_stride, const int nt) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    __m256 acc[4];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < n / QK4_0; b++, g += 8 * sizeof(block_q4_0)) {
        /* w[h][j]: rows 4h..4h+3, elements 8j..8j+7 */
        __m256i w[2][4];
        for (int h = 0; h < 2; h++) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)(g + 16 + 32 * h));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)(g + 80 + 32 * h));
            w[h][0] = _mm256_and_si256(v0, m4);
            w[h][1] = _mm256_and_si256(v1, m4);
            w[h][2] = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
            w[h][3] = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        for (int t = 0; t < nt; t++) {
            const block_q8_0 *yb = (const block_q8_0 *)(y + (size_t)t * y_stride) + b;
            __m256i a[4];
            for (int j = 0; j < 4; j++) a[j] = bcast8(yb->qs + 8 * j);
            const __m256i c = i8_pieces4(eight, a[0], eight, a[1], eight, a[2], eight, a[3]);
            __m256i p32[2];
            for (int h = 0; h < 2; h++) {
                const __m256i p = i8_pieces4(w[h][0], a[0], w[h][1], a[1], w[h][2], a[2], w[h][3], a[3]);
                p32[h] = i8_pwiden(i8_psub(p, c));
            }
            /* [r0 r1 r4 r5 | r2 r3 r6 r7] -> r0..r7 */
            const __m256i isum = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(p32[0], p32[1]), order);
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(yb->d)));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_storeu_ps(s + (size_t)t * s_stride, acc[t]);
}

#define HALF(n) ((size_t)((n) / QK4_0) * 8 * sizeof(block_q4_0)) /* bytes of an 8-row half */

/* 16 rows (formats/q4_0_rows8.c): both 8-row halves */
static void dot_q4_0_packed16(int n, float *s, const void *group, const void *y) {
    packed8_nt(n, s, 0, group, y, 0, 1);
    packed8_nt(n, s + 8, 0, (const uint8_t *)group + HALF(n), y, 0, 1);
}

/* Prompt batches: 16 rows x nt tokens from the activation side data
 * (act_aux: per block the 32 bytes a + 128, unsigned, then the float
 * scales). The weights go in as the signed operand (q - 8), so
 * dot(q - 8, a) = dot(q - 8, a + 128) - 128 * sum(q - 8), and the second
 * term is the weights' alone: taken once per block for all tokens. Each
 * 16-bit lane of a MADDUBS sum over the four 8-element pieces covers 8
 * products: |.| <= 8 * 255 * 8 = 16320, so two lanes still add in 16 bits
 * (HADDW), then MADDWD widens; all exact (VNNI builds: VPDPBUSD sums in
 * int32, then HADDD: the same lane order). A chunk of blocks is unpacked
 * once into an L1 scratch (signed weights, the correction and the row
 * scales in the lane order below) and every token reads it from there.
 *
 * Lane order of a half's 8 outputs: rows 0 1 4 5 | 2 3 6 7 (what HADDW of
 * rows 0..3 and 4..7 then MADDWD give); the accumulators keep it and are
 * put back in row order at the store (the permutation is its own inverse). */
#ifndef Q4_CHUNK
#define Q4_CHUNK 16 /* blocks unpacked per pass: 10 KiB */
#endif
#define Q4_GROUP_BYTES (8 * sizeof(block_q4_0))

typedef struct {
    _Alignas(32) int8_t w[Q4_CHUNK][4][4][32]; /* block, rows 4i..4i+3, piece j: lane k = row 4i+k's q - 8 */
    _Alignas(32) int32_t c[Q4_CHUNK][2][8];   /* per half: 32768 - 128 * sum(q) = -128 * sum(q - 8), lane order */
    _Alignas(32) float d[Q4_CHUNK][2][8];     /* per half: row scales, lane order */
} q4_0_scratch;

/* blocks [b0, b0 + nc) of the 16-row group into the scratch */
static inline void q4_0_unpack(q4_0_scratch *w, const uint8_t *group, int nb, int b0, int nc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8), z = _mm256_setzero_si256();
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7), k = _mm256_set1_epi32(32768);
    for (int i = 0; i < nc; i++)
        for (int h = 0; h < 2; h++) {
            const uint8_t *g = group + ((size_t)h * nb + (size_t)(b0 + i)) * Q4_GROUP_BYTES;
            __m256i sum[2];
            for (int q = 0; q < 2; q++) { /* rows 4q..4q+3 of the half */
                const __m256i v0 = _mm256_loadu_si256((const __m256i *)(g + 16 + 32 * q));
                const __m256i v1 = _mm256_loadu_si256((const __m256i *)(g + 80 + 32 * q));
                const __m256i n[4] = {_mm256_and_si256(v0, m4), _mm256_and_si256(v1, m4),
                                      _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4),
                                      _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4)};
                for (int j = 0; j < 4; j++) _mm256_store_si256((__m256i *)w->w[i][2 * h + q][j], _mm256_sub_epi8(n[j], eight));
                /* per 64-bit lane: the row's 32 nibbles summed (each byte <= 60) */
                sum[q] = _mm256_sad_epu8(_mm256_add_epi8(_mm256_add_epi8(n[0], n[1]), _mm256_add_epi8(n[2], n[3])), z);
            }
            /* dwords [r0 r4 r1 r5 | r2 r6 r3 r7] -> [r0 r1 r4 r5 | r2 r3 r6 r7] */
            const __m256i s = _mm256_shuffle_epi32(_mm256_or_si256(sum[0], _mm256_slli_epi64(sum[1], 32)), 0xD8);
            _mm256_store_si256((__m256i *)w->c[i][h], _mm256_sub_epi32(k, _mm256_slli_epi32(s, 7)));
            _mm256_store_ps(w->d[i][h], _mm256_permutevar8x32_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), order));
        }
}

/* rows 4q..4q+3 of the block (scratch pieces wq): 16-bit lanes, 4 per row */
static inline __attribute__((always_inline)) __m256i q4_0_rows4(const int8_t (*wq)[32], __m256i a0, __m256i a1, __m256i a2,
                                                                 __m256i a3) {
    return i8_pieces4(a0, _mm256_load_si256((const __m256i *)wq[0]), a1, _mm256_load_si256((const __m256i *)wq[1]), a2,
                      _mm256_load_si256((const __m256i *)wq[2]), a3, _mm256_load_si256((const __m256i *)wq[3]));
}

/* half h of block i for one token: acc = fma(isum, d_w * d_a, acc) in lane order */
static inline __attribute__((always_inline)) __m256 q4_0_half(const q4_0_scratch *w, int i, int h, __m256i a0, __m256i a1,
                                                              __m256i a2, __m256i a3, __m256 dy, __m256 acc) {
    const __m256i p = i8_pwiden_hadd(q4_0_rows4(w->w[i][2 * h], a0, a1, a2, a3), q4_0_rows4(w->w[i][2 * h + 1], a0, a1, a2, a3));
    const __m256i isum = _mm256_add_epi32(p, _mm256_load_si256((const __m256i *)w->c[i][h]));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(_mm256_load_ps(w->d[i][h]), dy), acc);
}

/* one token over the chunk's nc blocks; acc[h] carries half h */
static inline void q4_0_token_chunk(const q4_0_scratch *w, int nc, const uint8_t *au, const float *da, __m256 *accp) {
    __m256 acc0 = accp[0], acc1 = accp[1];
    for (int i = 0; i < nc; i++, au += QK8_0) {
        const __m256i a0 = bcast8((const int8_t *)au), a1 = bcast8((const int8_t *)au + 8);
        const __m256i a2 = bcast8((const int8_t *)au + 16), a3 = bcast8((const int8_t *)au + 24);
        const __m256 dy = _mm256_broadcast_ss(da + i);
        acc0 = q4_0_half(w, i, 0, a0, a1, a2, a3, dy, acc0);
        acc1 = q4_0_half(w, i, 1, a0, a1, a2, a3, dy, acc1);
    }
    accp[0] = acc0, accp[1] = acc1;
}

static void dot_q4_0_packed16_tokens(int n, float *s, size_t s_stride, const void *group, const void *y,
                                     size_t y_stride, const void *aux, size_t aux_stride, int nt, int stream) {
    (void)y, (void)y_stride, (void)stream; /* the side data carries the activations */
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    const int nb = n / QK4_0;
    q4_0_scratch w;
    __m256 acc[8][2];
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int b0 = 0; b0 < nb; b0 += Q4_CHUNK) {
        const int nc = nb - b0 < Q4_CHUNK ? nb - b0 : Q4_CHUNK;
        q4_0_unpack(&w, group, nb, b0, nc);
        const uint8_t *au[8];
        const float *da[8];
        for (int t = 0; t < nt; t++) {
            const char *at = (const char *)aux + (size_t)t * aux_stride;
            au[t] = (const uint8_t *)at + (size_t)QK8_0 * b0;
            da[t] = (const float *)(at + (size_t)QK8_0 * nb) + b0;
        }
        /* one token per pass: two would share each weight load, but their
         * registers do not fit (spills made it slower) */
        for (int t = 0; t < nt; t++) q4_0_token_chunk(&w, nc, au[t], da[t], acc[t]);
    }
    for (int t = 0; t < nt; t++)
        for (int h = 0; h < 2; h++)
            _mm256_storeu_ps(s + (size_t)t * s_stride + 8 * h, _mm256_permutevar8x32_ps(acc[t][h], order));
}

static void q4_0_i8_kernels(ember_kernel_set *ks) {
    ks->vec_dot_packed[EMBER_TYPE_Q4_0] = dot_q4_0_packed16;
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q4_0] = dot_q4_0_packed16_tokens;
    ks->packed_layout[EMBER_TYPE_Q4_0] = &ember_q4_0_rows8x2_layout;
    ks->packed_decode[EMBER_TYPE_Q4_0] = 0;
    ks->vec_dot_rows8_x8[EMBER_TYPE_Q4_0] = dot_q4_0_rows8_x8;
    ks->vec_dot_rows8[EMBER_TYPE_Q4_0] = dot_q4_0_rows8;
}
