/* AVX2 prompt-order tiles for the float formats: each output bit-identical to
 * the prompt-order dot in prefill_avx2.c (16 lanes as two 8-wide halves, lane
 * r taking elements r, r+16, ... by fma, then the pairwise tree). A lane's
 * chain never meets another lane's until the tree, so a tile walks the row
 * twice, once per half: 12 accumulators for 2 rows x 6 tokens (F32, F16) or
 * 6 for 2 rows x 3 tokens (BF16, whose odd and even elements each need a
 * register per row and token; x 4 then x 2 ran 2 % slower, x 5 spilled and
 * ran 21 % slower) fit the 16 registers with their operands, where both
 * halves at once would allow only half as many tokens. The single dot is one
 * fma chain per half, bound by its latency. */
#include "kernels.h"
#include <immintrin.h>
#include "reduce_x86.h"

enum { F32, F16, BF16 };

static inline __m256 load8(const int kind, const char *p) {
    return kind == F32 ? _mm256_loadu_ps((const float *)p) : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Lanes 8h..8h+7 of nr <= 2 rows x nt tokens into out[t][r]. */
static inline __attribute__((always_inline)) void half(const int kind, int n, int h, const char *x, size_t xs,
                                                       const int nr, const char *y, size_t ys, const int nt,
                                                       __m256 out[6][2]) {
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 2
        for (int r = 0; r < nr; r++) acc[t][r] = _mm256_setzero_ps();
    if (kind == BF16) {
        /* per 32 elements, half h holds the words of elements 16h..16h+15: lane
         * i the pair 2i, 2i+1, the odd element's fma (the word's high half)
         * first, as the dot and the scalar definition do */
        const __m256i hi16 = _mm256_set1_epi32((int)0xFFFF0000u);
        for (int l = 16 * h; l < n; l += 32) {
            __m256 xo[2], xe[2];
#pragma GCC unroll 2
            for (int r = 0; r < nr; r++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(x + (size_t)r * xs + 2 * (size_t)l));
                xo[r] = _mm256_castsi256_ps(_mm256_and_si256(v, hi16));
                xe[r] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
            }
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(y + (size_t)t * ys + 2 * (size_t)l));
                const __m256 yo = _mm256_castsi256_ps(_mm256_and_si256(v, hi16)),
                             ye = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
#pragma GCC unroll 2
                for (int r = 0; r < nr; r++) acc[t][r] = _mm256_fmadd_ps(xe[r], ye, _mm256_fmadd_ps(xo[r], yo, acc[t][r]));
            }
        }
    } else {
        const size_t es = kind == F32 ? 4 : 2;
        for (int l = 8 * h; l < n; l += 16) {
            __m256 xv[2];
#pragma GCC unroll 2
            for (int r = 0; r < nr; r++) xv[r] = load8(kind, x + (size_t)r * xs + es * (size_t)l);
#pragma GCC unroll 6
            for (int t = 0; t < nt; t++) {
                const __m256 yv = load8(kind, y + (size_t)t * ys + es * (size_t)l);
#pragma GCC unroll 2
                for (int r = 0; r < nr; r++) acc[t][r] = _mm256_fmadd_ps(xv[r], yv, acc[t][r]);
            }
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 2
        for (int r = 0; r < nr; r++) out[t][r] = acc[t][r];
}

static inline __attribute__((always_inline)) void subtile(const int kind, int n, float *s, size_t ss, const char *x,
                                                          size_t xs, const int nr, const char *y, size_t ys,
                                                          const int nt) {
    __m256 lo[6][2], hi[6][2];
    half(kind, n, 0, x, xs, nr, y, ys, nt, lo);
    half(kind, n, 1, x, xs, nr, y, ys, nt, hi);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++) s[(size_t)t * ss + r] = hsum16_halves(lo[t][r], hi[t][r]);
}

#define SUBTILE_NT(KIND, NAME)                                                                                       \
    static inline __attribute__((always_inline)) void NAME##_nt(int n, float *s, size_t ss, const char *x,          \
                                                                size_t xs, const int nr, const char *y, size_t ys,  \
                                                                int nt) {                                           \
        switch (nt) {                                                                                               \
        case 6: subtile(KIND, n, s, ss, x, xs, nr, y, ys, 6); break;                                                \
        case 5: subtile(KIND, n, s, ss, x, xs, nr, y, ys, 5); break;                                                \
        case 4: subtile(KIND, n, s, ss, x, xs, nr, y, ys, 4); break;                                                \
        case 3: subtile(KIND, n, s, ss, x, xs, nr, y, ys, 3); break;                                                \
        case 2: subtile(KIND, n, s, ss, x, xs, nr, y, ys, 2); break;                                                \
        default: subtile(KIND, n, s, ss, x, xs, nr, y, ys, 1); break;                                               \
        }                                                                                                           \
    }                                                                                                               \
    /* nr rows x EMBER_TILE_TOKENS tokens: groups of 4 rows, each as row pairs x                                   \
     * token groups of maxt (a group's rows stay in L1 for its token groups) */                                      \
    static void NAME(int n, float *s, size_t ss, const void *vx, size_t xs, int nr, const void *vy, size_t ys,      \
                     int nt) {                                                                                      \
        const int maxt = KIND == BF16 ? 3 : 6;                                                                      \
        const char *x = vx, *y = vy;                                                                                \
        for (int r4 = 0; r4 < nr; r4 += 4)                                                                          \
            for (int t = 0; t < nt; t += maxt) {                                                                    \
                const int tn = nt - t < maxt ? nt - t : maxt, r4e = nr - r4 < 4 ? nr : r4 + 4;                      \
                for (int r = r4; r < r4e; r += 2) {                                                                 \
                    float *o = s + (size_t)t * ss + r;                                                              \
                    const char *xr = x + (size_t)r * xs, *yt = y + (size_t)t * ys;                                  \
                    if (r4e - r >= 2) NAME##_nt(n, o, ss, xr, xs, 2, yt, ys, tn);                                   \
                    else NAME##_nt(n, o, ss, xr, xs, 1, yt, ys, tn);                                                \
                }                                                                                                   \
            }                                                                                                       \
    }

SUBTILE_NT(F32, tile_f32)
SUBTILE_NT(F16, tile_f16)
SUBTILE_NT(BF16, tile_bf16)

void ember_kernels_avx2_gemm_float(ember_kernel_set *ks) {
    ks->vec_dot_prefill_tile[EMBER_TYPE_F32] = tile_f32;
    ks->vec_dot_prefill_tile[EMBER_TYPE_F16] = tile_f16;
    ks->vec_dot_prefill_tile[EMBER_TYPE_BF16] = tile_bf16;
}
