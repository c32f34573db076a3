/* The Q4_0 kernels of the AVX2 path in the repacked-kernel order
 * (formats/q4_0_rows8.c): rows8 and rows8_x8 over file rows, and the
 * packed kernels (1..8 tokens, and one token streamed for decoding) over
 * the 16-row lane copy (formats/q4_0_lanes16.c), the one every path's
 * packed Q4_0 kernels read. Shared by prefill_avx2.c (VPMADDUBSW +
 * VPMADDWD), q4_0_avxvnni.c (VEX VPDPBUSD) and
 * q4_0_avxvnni_emulated_avx512vnni.c (EVEX VPDPBUSD on ymm, the
 * "avxvnni-emu" path); the includer defines EMBER_I8_DOT (i8_dot_x86.h).
 * Every integer below is exact in every build, so the float results are
 * the same. */
#include "kernels.h"
#include "i8_dot_x86.h"
#include <immintrin.h>
#include <string.h>

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

/* The packed 16-row lane copy (formats/q4_0_lanes16.c): per block, the
 * 32-byte half h of chunk c holds in dword lane r row 8h + r's bytes
 * 4c..4c+3, so its low nibbles (elements 4c..4c+3) and high nibbles
 * (16 + 4c..) are unsigned operands with one dword per row, against the
 * broadcast activation dwords as the signed ones. AVX2: each MADDUBS
 * 16-bit lane is two products, |.| <= 2 * 15 * 128 = 3840, so the eight of
 * a block (four chunks, low and high) add in 16 bits (|.| <= 30720), then
 * one MADDWD gives the row's int32 dot(q, a); VNNI builds: VPDPBUSD in
 * int32. Adding -8 * sum(a) (act_aux) leaves dot(q - 8, a), exact, in row
 * order: no horizontal sums or permutes. Then per block
 * acc = fma((float)isum, d_w * d_a, acc), the rows8 order. */
#define L16_BLOCK (16 * sizeof(block_q4_0))
/* decoding streams the group once: prefetch ahead (EMBER_PF_STREAM) in
 * the register kernel, for a lone token and batches (VNNI: the first four
 * tokens' pass; AVX2's scratch kernel, 3+ tokens, has none). On
 * EMBER_CPU=avx2, 2 and 4 streams on tl-q4_0: 146 -> 168 and 173 -> 208 t/s */
#define L16_PF_AHEAD 4096
/* the register kernel runs both halves at once up to this many tokens
 * (VNNI: 2 * 4 accumulators; AVX2 sums in 16 bits and takes the scratch
 * kernel from 3 tokens on); VNNI builds run 5..8 tokens as 4 + the rest
 * (0.49 vs 0.75 TSC per (row, token, block) at 8 tokens, EVEX form) */
#if EMBER_I8_DOT == EMBER_I8_AVX2
#define L16_H2_NT 2
#define L16_SCRATCH_NT 3
#else
#define L16_H2_NT 4
#define L16_SPLIT 4
#endif

static inline __m256i bcast8(const int8_t *p) {
    long long v;
    memcpy(&v, p, 8);
    return _mm256_set1_epi64x(v);
}

static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* NT tokens; both 8-row halves in one pass over the chunks (H2, few
 * tokens: the activation broadcasts serve both) or one half at a time
 * (more tokens: fewer live registers) */
static inline __attribute__((always_inline)) void lanes16_nt(int n, float *s, size_t s_stride, const uint8_t *g,
                                                             const char *y, size_t y_stride, const char *aux,
                                                             size_t aux_stride, const int nt, const int stream) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int nb = n / QK4_0;
    const int h2 = nt <= L16_H2_NT;
    __m256 acc[8][2];
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, g += L16_BLOCK) {
        if (stream)
            for (int l = 0; l < 5; l++) _mm_prefetch((const char *)g + L16_PF_AHEAD + 64 * l, EMBER_PF_STREAM);
        for (int h0 = 0; h0 < 2; h0 += 1 + h2) {
            __m256i p[8][2];
#pragma GCC unroll 8
            for (int t = 0; t < nt; t++)
                for (int h = h0; h <= h0 + h2; h++) {
#if EMBER_I8_DOT == EMBER_I8_AVX2
                    p[t][h] = _mm256_setzero_si256();
#else
                    p[t][h] = _mm256_set1_epi32(((const int32_t *)(aux + (size_t)t * aux_stride + sizeof(float) * nb))[b]);
#endif
                }
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m256i lo[2], hi[2];
                for (int h = h0; h <= h0 + h2; h++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(g + 32 + 64 * c + 32 * h));
                    lo[h] = _mm256_and_si256(v, m4);
                    hi[h] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                }
#pragma GCC unroll 8
                for (int t = 0; t < nt; t++) {
                    const block_q8_0 *yb = (const block_q8_0 *)(y + (size_t)t * y_stride) + b;
                    const __m256i a0 = bcast4(yb->qs + 4 * c), a1 = bcast4(yb->qs + 16 + 4 * c);
                    for (int h = h0; h <= h0 + h2; h++) p[t][h] = i8_pdot_add(i8_pdot_add(p[t][h], lo[h], a0), hi[h], a1);
                }
            }
#pragma GCC unroll 8
            for (int t = 0; t < nt; t++) {
                const float *da = (const float *)(aux + (size_t)t * aux_stride);
                const __m256 dy = _mm256_set1_ps(da[b]);
                for (int h = h0; h <= h0 + h2; h++) {
#if EMBER_I8_DOT == EMBER_I8_AVX2
                    const __m256i isum = _mm256_add_epi32(i8_pwiden(p[t][h]), _mm256_set1_epi32(((const int32_t *)(da + nb))[b]));
#else
                    const __m256i isum = p[t][h];
#endif
                    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16 * h)));
                    acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw, dy), acc[t][h]);
                }
            }
        }
    }
    for (int t = 0; t < nt; t++)
        for (int h = 0; h < 2; h++) _mm256_storeu_ps(s + (size_t)t * s_stride + 8 * h, acc[t][h]);
}

#if EMBER_I8_DOT == EMBER_I8_AVX2
/* Prompt batches, AVX2 (no VPDPBUSD): a chunk of blocks is unpacked once
 * into an L1 scratch and each token reads it back. The scratch holds 8
 * elements per row in each 8-byte lane (two chunks' dwords interleaved:
 * UNPCKLDQ gives rows 0 1 | 4 5 of a half, UNPCKHDQ rows 2 3 | 6 7), so a
 * token needs four 8-byte activation broadcasts per block, not eight dword
 * ones. The weights are signed there (q - 8) and fold into the MADDUBS
 * loads; the activations are unsigned (a + 128: the broadcast xor 0x80), so
 * dot(q - 8, a) = dot(q - 8, a + 128) - 128 * sum(q - 8), the second term
 * per row from the unpack. MADDUBS pairs: |.| <= 2 * 255 * 8 = 4080; four
 * pieces add in 16 bits (|.| <= 16320), HADDW of the two row sets (|.| <=
 * 32640), then MADDWD: rows 0..7 in order; all exact, the same integer as
 * every other form. */
#ifndef L16_CHUNK
#define L16_CHUNK 16 /* blocks unpacked per pass: 10 KiB */
#endif
typedef struct {
    _Alignas(32) int8_t w[L16_CHUNK][2][2][4][32]; /* block, half, set (rows 0 1 4 5 / 2 3 6 7), piece j: elements 8j..8j+7 */
    _Alignas(32) int32_t c[L16_CHUNK][2][8];       /* -128 * sum(q - 8) per row */
    _Alignas(32) float d[L16_CHUNK][2][8];         /* row scales */
} l16_scratch;

static inline void l16_unpack(l16_scratch *w, const uint8_t *g, int nc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8), one8 = _mm256_set1_epi8(1);
    const __m256i k = _mm256_set1_epi32(32768);
    for (int i = 0; i < nc; i++, g += L16_BLOCK)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q[8]; /* q[c]: elements 4c..4c+3 (c < 4: low nibbles of chunk c; else high of chunk c - 4) */
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(g + 32 + 64 * c + 32 * h));
                q[c] = _mm256_and_si256(v, m4);
                q[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            }
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                _mm256_store_si256((__m256i *)w->w[i][h][0][j], _mm256_sub_epi8(_mm256_unpacklo_epi32(q[2 * j], q[2 * j + 1]), eight));
                _mm256_store_si256((__m256i *)w->w[i][h][1][j], _mm256_sub_epi8(_mm256_unpackhi_epi32(q[2 * j], q[2 * j + 1]), eight));
            }
            /* per row: 32768 - 128 * sum(q) = -128 * (sum(q) - 256); bytes <= 8 * 15 */
            const __m256i sum = _mm256_add_epi8(_mm256_add_epi8(_mm256_add_epi8(q[0], q[1]), _mm256_add_epi8(q[2], q[3])),
                                                _mm256_add_epi8(_mm256_add_epi8(q[4], q[5]), _mm256_add_epi8(q[6], q[7])));
            const __m256i rs = i8_pwiden(_mm256_maddubs_epi16(sum, one8));
            _mm256_store_si256((__m256i *)w->c[i][h], _mm256_sub_epi32(k, _mm256_slli_epi32(rs, 7)));
            _mm256_store_ps(w->d[i][h], _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + 16 * h))));
        }
}

static inline void l16_token_chunk(const l16_scratch *w, int nc, const block_q8_0 *yb, const float *da, __m256 *accp) {
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    __m256 acc0 = accp[0], acc1 = accp[1];
    for (int i = 0; i < nc; i++) {
        __m256i a[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) a[j] = _mm256_xor_si256(bcast8(yb[i].qs + 8 * j), x80);
        const __m256 dy = _mm256_set1_ps(da[i]);
        __m256i isum[2];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i p[2];
#pragma GCC unroll 2
            for (int e = 0; e < 2; e++) {
                const __m256i *wk = (const __m256i *)w->w[i][h][e];
                p[e] = _mm256_add_epi16(
                    _mm256_add_epi16(_mm256_maddubs_epi16(a[0], _mm256_load_si256(wk)), _mm256_maddubs_epi16(a[1], _mm256_load_si256(wk + 1))),
                    _mm256_add_epi16(_mm256_maddubs_epi16(a[2], _mm256_load_si256(wk + 2)), _mm256_maddubs_epi16(a[3], _mm256_load_si256(wk + 3))));
            }
            isum[h] = _mm256_add_epi32(i8_pwiden_hadd(p[0], p[1]), _mm256_load_si256((const __m256i *)w->c[i][h]));
        }
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[0]), _mm256_mul_ps(_mm256_load_ps(w->d[i][0]), dy), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[1]), _mm256_mul_ps(_mm256_load_ps(w->d[i][1]), dy), acc1);
    }
    accp[0] = acc0, accp[1] = acc1;
}

static void l16_scratch_tokens(int n, float *s, size_t s_stride, const uint8_t *group, const char *y, size_t y_stride,
                               const char *aux, size_t aux_stride, int nt) {
    const int nb = n / QK4_0;
    l16_scratch w;
    __m256 acc[8][2];
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    for (int b0 = 0; b0 < nb; b0 += L16_CHUNK) {
        const int nc = nb - b0 < L16_CHUNK ? nb - b0 : L16_CHUNK;
        l16_unpack(&w, group + (size_t)b0 * L16_BLOCK, nc);
        for (int t = 0; t < nt; t++)
            l16_token_chunk(&w, nc, (const block_q8_0 *)(y + (size_t)t * y_stride) + b0,
                            (const float *)(aux + (size_t)t * aux_stride) + b0, acc[t]);
    }
    for (int t = 0; t < nt; t++)
        for (int h = 0; h < 2; h++) _mm256_storeu_ps(s + (size_t)t * s_stride + 8 * h, acc[t][h]);
}
#endif

/* 1..8 tokens against a 16-row group (the one-token decode form too:
 * stream = 1, nt = 1, reading the side data like the rest) */
static void dot_q4_0_lanes16_tokens(int n, float *s, size_t s_stride, const void *group, const void *y, size_t y_stride,
                                    const void *aux, size_t aux_stride, int nt, int stream) {
#if EMBER_I8_DOT == EMBER_I8_AVX2
    if (nt >= L16_SCRATCH_NT) {
        l16_scratch_tokens(n, s, s_stride, group, y, y_stride, aux, aux_stride, nt > 8 ? 8 : nt);
        return;
    }
#endif
#ifdef L16_SPLIT
    if (nt > L16_SPLIT) {
        lanes16_nt(n, s, s_stride, group, y, y_stride, aux, aux_stride, L16_SPLIT, stream);
        nt = nt > 8 ? 8 : nt;
        EMBER_WITH_NT8(nt - L16_SPLIT, lanes16_nt(n, s + L16_SPLIT * s_stride, s_stride, group, (const char *)y + L16_SPLIT * y_stride,
                                                  y_stride, (const char *)aux + L16_SPLIT * aux_stride, aux_stride, NT, 0));
        return;
    }
#endif
    if (stream) EMBER_WITH_NT8(nt, lanes16_nt(n, s, s_stride, group, y, y_stride, aux, aux_stride, NT, 1));
    else EMBER_WITH_NT8(nt, lanes16_nt(n, s, s_stride, group, y, y_stride, aux, aux_stride, NT, 0));
}

static void q4_0_i8_kernels(ember_kernel_set *ks) {
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q4_0] = dot_q4_0_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q4_0] = &ember_q4_0_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q4_0] = 1;
    ks->vec_dot_rows8_x8[EMBER_TYPE_Q4_0] = dot_q4_0_rows8_x8;
    ks->vec_dot_rows8[EMBER_TYPE_Q4_0] = dot_q4_0_rows8;
}
