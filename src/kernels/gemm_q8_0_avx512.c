/* Q8_0 weights x Q8_0 activations, a tile of up to 4 weight rows x 4 tokens
 * per call (AVX-512 VL + VNNI on 256-bit registers). Prompt batches and
 * batched decoding spend most of their time here.
 *
 * Each output is bit-identical to dot_q8_0 (simple_avx512.c), whose order
 * is llama.cpp's: per block 8 exact int32 lanes, acc = fma(dx*dy, lane, acc),
 * then the fixed 8-lane fold. The tile changes only how much is shared:
 *  - each weight block is loaded and offset to unsigned (x+128) once for
 *    all tokens; each activation block once for all rows;
 *  - the activation side's correction -128*sum(y) per lane and its float
 *    scale come precomputed (formats/tile_aux.c), so one VNNI instruction
 *    gives a pair's exact lanes: corr + sum (x+128)*y = sum x*y;
 *  - 16 independent accumulator chains hide the fma latency. */
#include "kernels.h"
#include <immintrin.h>
#include "reduce_x86.h"

static inline __attribute__((always_inline)) void tile(int n, float *s, size_t s_stride, const void *vx,
                                                       size_t x_stride, const int nr, const void *vy,
                                                       size_t y_stride, const void *vaux, size_t aux_stride,
                                                       const int nt, const int stream) {
    const int nb = n / QK8_0;
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    const block_q8_0 *x[4];
    const block_q8_0 *y[4];
    const int32_t *corr[4];
    const float *dy[4];
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++) x[r] = (const block_q8_0 *)((const char *)vx + (size_t)r * x_stride);
    #pragma GCC unroll 4
    for (int t = 0; t < nt; t++) {
        y[t] = (const block_q8_0 *)((const char *)vy + (size_t)t * y_stride);
        corr[t] = (const int32_t *)((const char *)vaux + (size_t)t * aux_stride);
        dy[t] = (const float *)(corr[t] + 8 * nb);
    }
    __m256 acc[4][4];
    #pragma GCC unroll 4
    for (int t = 0; t < nt; t++)
        #pragma GCC unroll 4
        for (int r = 0; r < nr; r++) acc[t][r] = _mm256_setzero_ps();
    /* streaming (weights read once, from memory): the rows two tiles ahead,
     * which follow these in memory, are prefetched into L2 in step with
     * this tile's loads. Four rows walked side by side otherwise stream
     * about half as fast as one; once a tile stays in L1 for many tokens
     * this only costs. */
    const char *pf = (const char *)vx + (size_t)2 * nr * x_stride;
    for (int b = 0; b < nb; b++) {
        if (stream)
            #pragma GCC unroll 4
            for (int o = 0; o < nr * (int)sizeof(block_q8_0); o += 64)
                _mm_prefetch(pf + (size_t)b * nr * sizeof(block_q8_0) + o, _MM_HINT_T1);
        __m256i xu[4];
        __m256 dx[4];
        #pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            xu[r] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x[r][b].qs), bias);
            dx[r] = _mm256_set1_ps(_cvtsh_ss(x[r][b].d));
        }
        #pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            const __m256i yq = _mm256_loadu_si256((const __m256i *)y[t][b].qs);
            const __m256i c = _mm256_loadu_si256((const __m256i *)(corr[t] + 8 * b));
            const __m256 d = _mm256_broadcast_ss(&dy[t][b]);
            #pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                const __m256i q = _mm256_dpbusd_epi32(c, xu[r], yq);
                acc[t][r] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], d), _mm256_cvtepi32_ps(q), acc[t][r]);
            }
        }
    }
    #pragma GCC unroll 4
    for (int t = 0; t < nt; t++)
        #pragma GCC unroll 4
        for (int r = 0; r < nr; r++) s[(size_t)t * s_stride + r] = hsum8(acc[t][r]);
}

#define TILE_NT(NR, ST, NAME)                                                                        \
    static void NAME(int n, float *s, size_t ss, const void *x, size_t xs, const void *y, size_t ys,   \
                     const void *a, size_t as, int nt) {                                               \
        if (nt == 4) tile(n, s, ss, x, xs, NR, y, ys, a, as, 4, ST);                                   \
        else if (nt == 3) tile(n, s, ss, x, xs, NR, y, ys, a, as, 3, ST);                              \
        else if (nt == 2) tile(n, s, ss, x, xs, NR, y, ys, a, as, 2, ST);                              \
        else tile(n, s, ss, x, xs, NR, y, ys, a, as, 1, ST);                                           \
    }
TILE_NT(1, 0, tile_1)
TILE_NT(2, 0, tile_2)
TILE_NT(3, 0, tile_3)
TILE_NT(4, 0, tile_4)
TILE_NT(1, 1, stream_1)
TILE_NT(2, 1, stream_2)
TILE_NT(3, 1, stream_3)
TILE_NT(4, 1, stream_4)

/* nr 1..4 rows: the instance of that shape */
#define GEMM_NR(NAME, PREFIX)                                                                                  \
    static void NAME(int n, float *s, size_t s_stride, const void *x, size_t x_stride, int nr, const void *y,  \
                     size_t y_stride, const void *aux, size_t aux_stride, int nt) {                            \
        if (nr == 4) PREFIX##4(n, s, s_stride, x, x_stride, y, y_stride, aux, aux_stride, nt);                 \
        else if (nr == 3) PREFIX##3(n, s, s_stride, x, x_stride, y, y_stride, aux, aux_stride, nt);            \
        else if (nr == 2) PREFIX##2(n, s, s_stride, x, x_stride, y, y_stride, aux, aux_stride, nt);            \
        else PREFIX##1(n, s, s_stride, x, x_stride, y, y_stride, aux, aux_stride, nt);                         \
    }
GEMM_NR(gemm_q8_0, tile_)
GEMM_NR(gemm_q8_0_stream, stream_)

void ember_kernels_avx512_gemm(ember_kernel_set *ks) {
    ks->vec_dot_tile[EMBER_TYPE_Q8_0] = gemm_q8_0;
    ks->vec_dot_tile_stream[EMBER_TYPE_Q8_0] = gemm_q8_0_stream;
}
