/* AVX2-path prompt kernels of the 32-element int8-dot block quants Q8_0,
 * Q4_1, Q5_0 and Q5_1: 16 weight rows x 1..8 activation rows
 * (vec_dot_rows16_tokens) and 1 row x 1..8 tokens (vec_dot_tokens, which
 * mm_rows needs for the rows16 route and takes for rows left over),
 * bit-identical to simple_avx2_body.h's dots for every output (the orders
 * of formats/lane_order.c):
 *  - per block, 8 exact int32 lanes (lane k = elements 4k..4k+3) of the
 *    weight operand times the activations, as an unsigned x signed byte
 *    dot through maddubs + madd (VNNI builds: one VPDPBUSD, no int16
 *    stage). Operands by type:
 *      Q8_0  |x| * sign(y, x); activations never hold -128 (ember's Q8_0
 *            activation quantizer clamps to +-127), so no int16 pair sum
 *            saturates; weights may hold -128 (|x| = 128 read unsigned);
 *      Q5_0  x = (nibble | fifth bit) - 16 (-16..15), then as Q8_0: the
 *            same integers as the dot's u*y - 16*y for activations
 *            without -128;
 *      Q4_1  u = nibble (0..15), Q5_1 u = nibble | fifth bit: u*y;
 *  - acc[k] = fma(dx*dy, (float)lane[k], acc[k]), dx*dy rounded to float,
 *    block after block, then hsum8; Q4_1/Q5_1 add the min term
 *    summs = fma(m, s, summs) (block order; s of the Q8_1 activations)
 *    after the fold.
 * Register tile: R rows x nt tokens (R*nt <= 8 accumulators). Each weight
 * block is loaded and unpacked once per tile, each activation block once
 * per row of the tile; the activation scales (and sums) are converted once
 * per call (a chunk of blocks at a time) and dx*dy for all of a row's
 * tokens is one vector multiply per block, broadcast per token from a
 * small buffer; the min terms of a row's tokens are one vector fma per
 * block (fma rounds once, like fmaf).
 *
 * Shared by q8_0_avx2.c (VPMADDUBSW + VPMADDWD), q8_0_avxvnni.c (VEX
 * VPDPBUSD) and q8_0_avxvnni_emulated_avx512vnni.c (EVEX VPDPBUSD on ymm);
 * the includer defines EMBER_I8_DOT (i8_dot_x86.h) and Q8_0_SET_NAME. */
#include "kernels.h"
#include "i8_dot_x86.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include "unpack_x86.h"

#define CHUNK 64 /* blocks per chunk of converted activation scales */

enum { KIND_Q8_0, KIND_Q4_1, KIND_Q5_0, KIND_Q5_1 };

/* Q4_1/Q5_1: a min term, Q8_1 activations (d, s, qs) */
static inline int kind_min(const int kind) { return kind == KIND_Q4_1 || kind == KIND_Q5_1; }

static inline size_t kind_wbytes(const int kind) {
    return kind == KIND_Q8_0 ? sizeof(block_q8_0)
           : kind == KIND_Q4_1 ? sizeof(block_q4_1)
           : kind == KIND_Q5_0 ? sizeof(block_q5_0)
                               : sizeof(block_q5_1);
}

static inline size_t kind_abytes(const int kind) { return kind_min(kind) ? sizeof(block_q8_1) : sizeof(block_q8_0); }

/* activation block i of row k */
static inline const char *act_block(const char *vy, size_t ys, int k, int i, const int kind) {
    return vy + (size_t)k * ys + (size_t)i * kind_abytes(kind);
}
static inline ember_f16 act_d(const char *b) { return ((const block_q8_0 *)b)->d; } /* d first in both */
static inline const int8_t *act_qs(const char *b, const int kind) {
    return kind_min(kind) ? ((const block_q8_1 *)b)->qs : ((const block_q8_0 *)b)->qs;
}

/* weight block b: its scale d, min m (Q4_1/Q5_1) and byte operand u;
 * Q8_0 and Q5_0 also return the signed quants qx (u = |qx|) */
static inline __attribute__((always_inline)) ember_f16 weight_unpack(const char *b, const int kind, ember_f16 *m,
                                                                    __m256i *u, __m256i *qx) {
    if (kind == KIND_Q8_0) {
        const block_q8_0 *x = (const block_q8_0 *)b;
        *qx = _mm256_loadu_si256((const __m256i *)x->qs);
        *u = _mm256_sign_epi8(*qx, *qx);
        return x->d;
    }
    if (kind == KIND_Q4_1) {
        const block_q4_1 *x = (const block_q4_1 *)b;
        *m = x->m;
        *u = nibbles32(x->qs);
        return x->d;
    }
    if (kind == KIND_Q5_0) {
        const block_q5_0 *x = (const block_q5_0 *)b;
        *qx = _mm256_sub_epi8(_mm256_or_si256(nibbles32(x->qs), fifth_bits32(x->qh)), _mm256_set1_epi8(16));
        *u = _mm256_sign_epi8(*qx, *qx);
        return x->d;
    }
    const block_q5_1 *x = (const block_q5_1 *)b;
    *m = x->m;
    *u = _mm256_or_si256(nibbles32(x->qs), fifth_bits32(x->qh));
    return x->d;
}

/* rows [r0, r0+R) x nt tokens over blocks [b0, b1): accs[r][k][0..7]
 * carries row r0+r against token k in and out, sums[r][0..7] the min terms
 * of row r0+r's tokens */
static inline __attribute__((always_inline)) void i8_tile(const char *vx, size_t row_bytes, const int R, const char *vy,
                                                         size_t ys, const int nt, int b0, int b1, float (*dyf)[8],
                                                         float (*syf)[8], float (*accs)[8][8], float (*sums)[8],
                                                         const int kind) {
    __m256 acc[8], sm[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (kind_min(kind)) sm[r] = _mm256_load_ps(sums[r]);
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) acc[r * nt + k] = _mm256_load_ps(accs[r][k]);
    }
    for (int i = b0; i < b1; i++) {
        const __m256 dy = _mm256_loadu_ps(dyf[i - b0]);
        _Alignas(32) float d[8][8];
        __m256i qx[8], ux[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            ember_f16 m = 0;
            const ember_f16 dh = weight_unpack(vx + (size_t)r * row_bytes + (size_t)i * kind_wbytes(kind), kind, &m, &ux[r], &qx[r]);
            const __m256 dx = _mm256_cvtph_ps(_mm_set1_epi16((short)dh));
            _mm256_store_ps(d[r], _mm256_mul_ps(dx, dy));
            if (kind_min(kind))
                sm[r] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)m)), _mm256_loadu_ps(syf[i - b0]), sm[r]);
        }
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) {
            const __m256i qy = _mm256_loadu_si256((const __m256i *)act_qs(act_block(vy, ys, k, i, kind), kind));
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256i q = kind_min(kind) ? i8_dot(ux[r], qy) : i8_dot(ux[r], _mm256_sign_epi8(qy, qx[r]));
                acc[r * nt + k] = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[r][k]), _mm256_cvtepi32_ps(q), acc[r * nt + k]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        if (kind_min(kind)) _mm256_store_ps(sums[r], sm[r]);
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) _mm256_store_ps(accs[r][k], acc[r * nt + k]);
    }
}

/* nrows (16, or 1 for the tokens kernel) rows x nt tokens; output of row r
 * and token k at s[k * s_stride + r]. nt, nrows and kind are constants in
 * each instance; R = rows per tile (R*nt <= 8 accumulators; 2 rows x 4
 * tokens twice measured the same as 1 x 8) */
static inline __attribute__((always_inline)) void i8_rows_nt(int n, float *s, size_t s_stride, const void *vx,
                                                            size_t row_bytes, const void *vy, size_t ys, const int nt,
                                                            const int nrows, const int kind) {
    const int R = nrows == 1 ? 1 : nt >= 5 ? 1 : nt >= 3 ? 2 : 4; /* nt = 1: 8 rows would spill */
    const int nb = n / QK8_0;
    _Alignas(32) float accs[16][8][8]; /* [row][token][lane] */
    _Alignas(32) float sums[16][8];    /* [row][token] min terms */
    _Alignas(32) float dyf[CHUNK][8];  /* [block][token] activation scales */
    _Alignas(32) float syf[CHUNK][8];  /* [block][token] activation sums (Q8_1) */
    for (int r = 0; r < nrows; r++) {
        _mm256_store_ps(sums[r], _mm256_setzero_ps());
        for (int k = 0; k < nt; k++) _mm256_store_ps(accs[r][k], _mm256_setzero_ps());
    }
    for (int i = 0; i < CHUNK; i++) {
        _mm256_store_ps(dyf[i], _mm256_setzero_ps());
        if (kind_min(kind)) _mm256_store_ps(syf[i], _mm256_setzero_ps());
    }
    for (int b0 = 0; b0 < nb; b0 += CHUNK) {
        const int b1 = nb - b0 < CHUNK ? nb : b0 + CHUNK;
        for (int k = 0; k < nt; k++)
            for (int i = b0; i < b1; i++) {
                const char *y = act_block(vy, ys, k, i, kind);
                dyf[i - b0][k] = _cvtsh_ss(act_d(y));
                if (kind_min(kind)) syf[i - b0][k] = _cvtsh_ss(((const block_q8_1 *)y)->s);
            }
        for (int r = 0; r < nrows; r += R)
            i8_tile((const char *)vx + (size_t)r * row_bytes, row_bytes, R, vy, ys, nt, b0, b1, dyf, syf, &accs[r],
                    &sums[r], kind);
    }
    for (int k = 0; k < nt; k++)
        for (int r = 0; r < nrows; r++) {
            const float v = hsum8(_mm256_load_ps(accs[r][k]));
            s[(size_t)k * s_stride + r] = kind_min(kind) ? v + sums[r][k] : v;
        }
}

/* the rows16 and tokens entry points of one type */
#define I8_PROMPT_KERNELS(name, kind)                                                                           \
    static void dot_##name##_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes,  \
                                           const void *y, size_t y_stride, int nt) {                            \
        EMBER_WITH_NT8(nt, i8_rows_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT, 16, kind));                \
    }                                                                                                           \
    static void dot_##name##_tokens(int n, float *s, const void *x, const void *y, size_t y_stride, int nt) {    \
        EMBER_WITH_NT8(nt, i8_rows_nt(n, s, 1, x, 0, y, y_stride, NT, 1, kind));                                \
    }

I8_PROMPT_KERNELS(q8_0, KIND_Q8_0)
I8_PROMPT_KERNELS(q4_1, KIND_Q4_1)
I8_PROMPT_KERNELS(q5_0, KIND_Q5_0)
I8_PROMPT_KERNELS(q5_1, KIND_Q5_1)

void Q8_0_SET_NAME(ember_kernel_set *ks) {
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q8_0] = dot_q8_0_rows16_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q8_0] = dot_q8_0_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q4_1] = dot_q4_1_rows16_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q4_1] = dot_q4_1_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q5_0] = dot_q5_0_rows16_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q5_0] = dot_q5_0_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q5_1] = dot_q5_1_rows16_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q5_1] = dot_q5_1_tokens;
}
