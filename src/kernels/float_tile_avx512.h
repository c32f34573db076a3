/* The prompt-order tile for the float formats (see gemm_float_avx512.c),
 * shared by the F32/F16 file (AVX-512 F) and BF16's (the BF16 extension,
 * which alone compiles the dpbf16 branch). */
#ifndef EMBER_FLOAT_TILE_AVX512_H
#define EMBER_FLOAT_TILE_AVX512_H

#include "kernels.h"
#include <immintrin.h>
#include "reduce_x86.h"

enum { F32, F16, BF16 };

/* One group of nr (<= 4) rows x nt tokens over elements [l0, l1) of n:
 * the accumulators start from save (zero when l0 = 0) and go back to save
 * unless l1 = n, where the lanes are summed into s. Splitting n this way
 * leaves every lane's fma chain, and so every result, as one pass gives. */
static inline __attribute__((always_inline)) void tile_group(const int kind, int n, int l0, int l1, float *s,
                                                             size_t s_stride, const char *x, size_t x_stride,
                                                             const int nr, const char *y, size_t y_stride, const int nt,
                                                             __m512 *save) {
    __m512 acc[6][4]; /* 24 accumulators, 4 weight vectors and one activation: 29 of 32 registers */
    /* all 24 set (the unused ones are dead code) for gcc's -Wmaybe-uninitialized */
#pragma GCC unroll 6
    for (int t = 0; t < 6; t++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) acc[t][r] = l0 && t < nt && r < nr ? save[4 * t + r] : _mm512_setzero_ps();
#ifdef __AVX512BF16__
    if (kind == BF16) {
        /* 32 elements per step, as dpbf16 pairs them */
        for (int l = l0; l < l1; l += 32) {
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
        for (int l = l0; l < l1; l += 16) {
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
    if (l1 < n) {
#pragma GCC unroll 6
        for (int t = 0; t < nt; t++)
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) save[4 * t + r] = acc[t][r];
        return;
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

/* Rows in groups of up to 64, each group's elements in chunks of KC (0: no
 * chunks), every 4-row group of the 64 taking a chunk before the next
 * chunk: the tokens' chunk (6 x KC elements) stays in L1 while the rows
 * stream past it. Without chunks a 4-row group walks all of n, and when
 * the tokens' whole rows do not fit L1 they come from L2 again for every
 * group. BF16 takes KC = 1024 (12 KiB of tokens): a single-thread walk of
 * 512 x 5632 weights (ffn_down) x 120 tokens went from 68 to 84
 * multiply-adds per TSC cycle against 93 for n = 2048 and a VDPBF16PS peak
 * of 102 (Zen 5). F32/F16 run half the elements per cycle, fed from L2
 * as fast unchunked (50 either way; chunks measured slower). */
#define TILE_GROUP_ROWS 64
static inline __attribute__((always_inline)) void tile_rows(const int kind, const int kc_max, int n, float *s,
                                                            size_t ss, const char *x, size_t xs, int nr, const char *y,
                                                            size_t ys, const int nt, __m512 (*save)[4 * EMBER_TILE_TOKENS]) {
    const int kc = kc_max && n > 2 * kc_max ? kc_max : n; /* n <= 2 KC: the tokens' rows fit L1 */
    for (int r0 = 0; r0 < nr; r0 += TILE_GROUP_ROWS) {
        const int rows = nr - r0 < TILE_GROUP_ROWS ? nr - r0 : TILE_GROUP_ROWS;
        for (int l0 = 0; l0 < n; l0 += kc) {
            const int l1 = n - l0 < kc ? n : l0 + kc;
            for (int q = 0; q < rows; q += 4) {
                __m512 *sv = save[kc < n ? q / 4 : 0];
                const int r = r0 + q, left = rows - q;
                const char *xr = x + (size_t)r * xs;
                if (left >= 4) tile_group(kind, n, l0, l1, s + r, ss, xr, xs, 4, y, ys, nt, sv);
                else if (left == 3) tile_group(kind, n, l0, l1, s + r, ss, xr, xs, 3, y, ys, nt, sv);
                else if (left == 2) tile_group(kind, n, l0, l1, s + r, ss, xr, xs, 2, y, ys, nt, sv);
                else tile_group(kind, n, l0, l1, s + r, ss, xr, xs, 1, y, ys, nt, sv);
            }
        }
    }
}

/* one function per token count (tile_group's shapes are constants) */
#define TILE_NT(KIND, NAME, KC, NT)                                                                              \
    static void NAME##_##NT(int n, float *s, size_t ss, const char *x, size_t xs, int nr, const char *y,        \
                            size_t ys) {                                                                        \
        __m512 save[(KC) ? TILE_GROUP_ROWS / 4 : 1][4 * EMBER_TILE_TOKENS];                                     \
        tile_rows(KIND, KC, n, s, ss, x, xs, nr, y, ys, NT, save);                                              \
    }
#define TILE_KIND(KIND, NAME, KC)                                                                                \
    TILE_NT(KIND, NAME, KC, 1)                                                                                  \
    TILE_NT(KIND, NAME, KC, 2)                                                                                  \
    TILE_NT(KIND, NAME, KC, 3)                                                                                  \
    TILE_NT(KIND, NAME, KC, 4)                                                                                  \
    TILE_NT(KIND, NAME, KC, 5)                                                                                  \
    TILE_NT(KIND, NAME, KC, 6)                                                                                  \
    static void NAME(int n, float *s, size_t ss, const void *x, size_t xs, int nr, const void *y, size_t ys,    \
                     int nt) {                                                                                  \
        switch (nt) {                                                                                           \
        case 6: NAME##_6(n, s, ss, x, xs, nr, y, ys); break;                                                    \
        case 5: NAME##_5(n, s, ss, x, xs, nr, y, ys); break;                                                    \
        case 4: NAME##_4(n, s, ss, x, xs, nr, y, ys); break;                                                    \
        case 3: NAME##_3(n, s, ss, x, xs, nr, y, ys); break;                                                    \
        case 2: NAME##_2(n, s, ss, x, xs, nr, y, ys); break;                                                    \
        default: NAME##_1(n, s, ss, x, xs, nr, y, ys); break;                                                   \
        }                                                                                                       \
    }

#endif
