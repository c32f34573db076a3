/* The prompt-order tile for the float formats (see gemm_float_avx512.c),
 * shared by the F32/F16 file (AVX-512 F) and BF16's (the BF16 extension,
 * which alone compiles the dpbf16 branch). */
#ifndef EMBER_FLOAT_TILE_AVX512_H
#define EMBER_FLOAT_TILE_AVX512_H

#include "kernels.h"
#include <immintrin.h>
#include "reduce_x86.h"

enum { F32, F16, BF16 };

static inline __attribute__((always_inline)) void tile(const int kind, int n, float *s, size_t s_stride, const char *x,
                                                       size_t x_stride, const int nr, const char *y, size_t y_stride,
                                                       const int nt) {
    __m512 acc[6][4]; /* 24 accumulators, 4 weight vectors and one activation: 29 of 32 registers */
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) acc[t][r] = _mm512_setzero_ps();
#ifdef __AVX512BF16__
    if (kind == BF16) {
        /* 32 elements per step, as dpbf16 pairs them */
        for (int l = 0; l < n; l += 32) {
            __m512bh xv[4] = {0}; /* all set for r < nr; the zeros quiet gcc -Wmaybe-uninitialized */
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) xv[r] = (__m512bh)_mm512_loadu_si512(x + (size_t)r * x_stride + 2 * (size_t)l);
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                const __m512bh yv = (__m512bh)_mm512_loadu_si512(y + (size_t)t * y_stride + 2 * (size_t)l);
#pragma GCC unroll 4
                for (int r = 0; r < nr; r++) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv[r], yv);
            }
        }
    } else
#endif
    {
        const size_t es = kind == F32 ? 4 : 2;
        for (int l = 0; l < n; l += 16) {
            __m512 xv[4] = {0}; /* as above */
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                const char *p = x + (size_t)r * x_stride + es * (size_t)l;
                xv[r] = kind == F32 ? _mm512_loadu_ps(p) : _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
            }
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                const char *p = y + (size_t)t * y_stride + es * (size_t)l;
                const __m512 yv = kind == F32 ? _mm512_loadu_ps(p) : _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#pragma GCC unroll 4
                for (int r = 0; r < nr; r++) acc[t][r] = _mm512_fmadd_ps(xv[r], yv, acc[t][r]);
            }
        }
    }
    /* a token's nr sums are adjacent in s: four trees at once, one store */
    const __m512 z = _mm512_setzero_ps();
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++) {
        const __m128 r4 = hsum16x4(acc[t][0], nr > 1 ? acc[t][1] : z, nr > 2 ? acc[t][2] : z, nr > 3 ? acc[t][3] : z);
        if (nr == 4) _mm_storeu_ps(s + (size_t)t * s_stride, r4);
        else _mm_mask_storeu_ps(s + (size_t)t * s_stride, (__mmask8)((1u << nr) - 1), r4);
    }
}

#define TILE_KIND(KIND, NAME)                                                                                 \
    static void NAME##_r(int n, float *s, size_t ss, const void *x, size_t xs, const int nr, const void *y,  \
                         size_t ys, const int nt) {                                                          \
        if (nt == 6) tile(KIND, n, s, ss, x, xs, nr, y, ys, 6);                                              \
        else if (nt == 5) tile(KIND, n, s, ss, x, xs, nr, y, ys, 5);                                         \
        else if (nt == 4) tile(KIND, n, s, ss, x, xs, nr, y, ys, 4);                                         \
        else if (nt == 3) tile(KIND, n, s, ss, x, xs, nr, y, ys, 3);                                         \
        else if (nt == 2) tile(KIND, n, s, ss, x, xs, nr, y, ys, 2);                                         \
        else tile(KIND, n, s, ss, x, xs, nr, y, ys, 1);                                                      \
    }                                                                                                        \
    static void NAME(int n, float *s, size_t ss, const void *x, size_t xs, int nr, const void *y, size_t ys, \
                     int nt) {                                                                               \
        if (nr == 4) NAME##_r(n, s, ss, x, xs, 4, y, ys, nt);                                                \
        else if (nr == 3) NAME##_r(n, s, ss, x, xs, 3, y, ys, nt);                                           \
        else if (nr == 2) NAME##_r(n, s, ss, x, xs, 2, y, ys, nt);                                           \
        else NAME##_r(n, s, ss, x, xs, 1, y, ys, nt);                                                        \
    }

#endif
