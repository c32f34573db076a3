/* AVX2-path Q8_0 prompt kernel: 16 weight rows x 1..8 activation rows
 * (vec_dot_rows16_tokens), bit-identical to simple_avx2.c's dot_q8_0 for
 * every output (the order of ember_vec_dot_q8_0_lanes):
 *  - per 32-element block, 8 exact int32 lanes (lane k = elements
 *    4k..4k+3) from |x| * sign(y, x) through maddubs + madd (VNNI builds:
 *    one VPDPBUSD, no int16 stage); the int16 pair
 *    sums cannot saturate (|x| <= 128, |y| <= 127) because activations never
 *    hold -128 (ember's Q8_0 activation quantizer clamps to +-127), the
 *    same assumption as dot_q8_0; weights may hold -128 (|x| = 128 is read
 *    unsigned);
 *  - acc[k] = fma(dx*dy, (float)lane[k], acc[k]), dx*dy rounded to float,
 *    block after block, then hsum8.
 * Register tile: R rows x nt tokens (R*nt <= 8 accumulators). Each weight
 * block and its |x| are loaded once per tile, each activation block once
 * per row of the tile; the activation scales are converted once per call
 * (a chunk of blocks at a time) and dx*dy for all of a row's tokens is one
 * vector multiply per block, broadcast per token from a small buffer.
 *
 * Shared by q8_0_avx2.c (VPMADDUBSW + VPMADDWD), q8_0_avxvnni.c (VEX
 * VPDPBUSD) and q8_0_avxvnni_emulated_avx512vnni.c (EVEX VPDPBUSD on ymm);
 * the includer defines EMBER_I8_DOT (i8_dot_x86.h) and Q8_0_SET_NAME. */
#include "kernels.h"
#include "i8_dot_x86.h"
#include <immintrin.h>
#include "reduce_x86.h"

#define CHUNK 64 /* blocks per chunk of converted activation scales */

/* rows [r0, r0+R) x nt tokens over blocks [b0, b1): accs[r][k][0..7]
 * carries row r0+r against token k in and out */
static inline __attribute__((always_inline)) void q8_0_tile(const char *vx, size_t row_bytes, const int R,
                                                           const char *vy, size_t ys, const int nt, int b0, int b1,
                                                           float (*dyf)[8], float (*accs)[8][8]) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) acc[r * nt + k] = _mm256_load_ps(accs[r][k]);
    for (int i = b0; i < b1; i++) {
        const __m256 dy = _mm256_loadu_ps(dyf[i - b0]);
        _Alignas(32) float d[8][8];
        __m256i qx[8], ax[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const block_q8_0 *x = (const block_q8_0 *)(vx + (size_t)r * row_bytes) + i;
            const __m256 dx = _mm256_cvtph_ps(_mm_set1_epi16((short)x->d));
            _mm256_store_ps(d[r], _mm256_mul_ps(dx, dy));
            qx[r] = _mm256_loadu_si256((const __m256i *)x->qs);
            ax[r] = _mm256_sign_epi8(qx[r], qx[r]);
        }
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) {
            const __m256i qy = _mm256_loadu_si256((const __m256i *)((const block_q8_0 *)(vy + (size_t)k * ys) + i)->qs);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256i q = i8_dot(ax[r], _mm256_sign_epi8(qy, qx[r]));
                acc[r * nt + k] = _mm256_fmadd_ps(_mm256_broadcast_ss(&d[r][k]), _mm256_cvtepi32_ps(q), acc[r * nt + k]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int k = 0; k < nt; k++) _mm256_store_ps(accs[r][k], acc[r * nt + k]);
}

/* nt is a constant in each instance; R = rows per tile (R*nt <= 8 accumulators;
 * 2 rows x 4 tokens twice measured the same as 1 x 8) */
static inline __attribute__((always_inline)) void q8_0_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                                size_t row_bytes, const void *vy, size_t ys, const int nt) {
    const int R = nt >= 5 ? 1 : nt >= 3 ? 2 : 4; /* nt = 1: 8 rows would spill */
    const int nb = n / QK8_0;
    _Alignas(32) float accs[16][8][8]; /* [row][token][lane] */
    _Alignas(32) float dyf[CHUNK][8];  /* [block][token] activation scales */
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < nt; k++) _mm256_store_ps(accs[r][k], _mm256_setzero_ps());
    for (int i = 0; i < CHUNK; i++) _mm256_store_ps(dyf[i], _mm256_setzero_ps());
    for (int b0 = 0; b0 < nb; b0 += CHUNK) {
        const int b1 = nb - b0 < CHUNK ? nb : b0 + CHUNK;
        for (int k = 0; k < nt; k++) {
            const block_q8_0 *y = (const block_q8_0 *)((const char *)vy + (size_t)k * ys);
            for (int i = b0; i < b1; i++) dyf[i - b0][k] = _cvtsh_ss(y[i].d);
        }
        for (int r = 0; r < 16; r += R)
            q8_0_tile((const char *)vx + (size_t)r * row_bytes, row_bytes, R, vy, ys, nt, b0, b1, dyf, &accs[r]);
    }
    for (int k = 0; k < nt; k++)
        for (int r = 0; r < 16; r++) s[(size_t)k * s_stride + r] = hsum8(_mm256_load_ps(accs[r][k]));
}

static void dot_q8_0_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    EMBER_WITH_NT8(nt, q8_0_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT));
}

void Q8_0_SET_NAME(ember_kernel_set *ks) { ks->vec_dot_rows16_tokens[EMBER_TYPE_Q8_0] = dot_q8_0_rows16_tokens; }
