/* Horizontal sums in the fixed orders the dots reproduce (llama.cpp's x86
 * builds), shared by the SIMD kernel files. */
#ifndef EMBER_REDUCE_X86_H
#define EMBER_REDUCE_X86_H

#include <immintrin.h>
#include <stddef.h>
#include "../formats/fp16.h"

/* ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)) */
static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* 16 lanes held as two 8-lane halves (lanes 0..7, 8..15), as a pairwise
 * tree: (k, k+8), then hsum8's order; AVX-512's hsum16 for one register */
static inline float hsum16_halves(__m256 lo, __m256 hi) { return hsum8(_mm256_add_ps(lo, hi)); }

/* The BF16 multi-token dots' last step, vec_dot's order for each token k:
 * the two half sums r1[k], r2[k] then the tail elements from..n-1, added
 * in double; s[k] the result. */
static inline void bf16_tokens_finish(int n, int from, const ember_bf16 *x, const void *vy, size_t y_stride, int nt,
                                      const float *r1, const float *r2, float *s) {
    for (int k = 0; k < nt; k++) {
        const ember_bf16 *y = (const ember_bf16 *)((const char *)vy + (size_t)k * y_stride);
        double sum = 0.0;
        sum += (double)r1[k];
        sum += (double)r2[k];
        for (int j = from; j < n; j++) sum += (double)(ember_bf16_to_fp32(x[j]) * ember_bf16_to_fp32(y[j]));
        s[k] = (float)sum;
    }
}

#ifdef __AVX512F__
/* 16 lanes as a pairwise tree: (k, k+8), then hsum8's order; this is also
 * GCC's _mm512_reduce_add_ps order, spelled out so clang builds agree */
static inline float hsum16(__m512 v) { return hsum16_halves(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); }

/* Reduces v0..v(nt-1) (16 lanes each) as vec_dot reduces one accumulator:
 * t8 = hi256 + lo256, t4 = hi128 + lo128 of t8, then (t0+t2) + (t1+t3).
 * Returns the sums in r[0..nt). In the packed steps token j sits in 128-bit
 * lane j; unused tokens are zeros. */
static inline __attribute__((always_inline)) void hsum16_tokens(__m512 v0, __m512 v1, __m512 v2, __m512 v3, int nt,
                                                                float *r) {
    /* u01 = [v0.lo256 | v1.lo256], w01 = the hi256s */
    const __m512 u01 = _mm512_shuffle_f32x4(v0, v1, 0x44), w01 = _mm512_shuffle_f32x4(v0, v1, 0xEE);
    const __m512 u23 = _mm512_shuffle_f32x4(v2, v3, 0x44), w23 = _mm512_shuffle_f32x4(v2, v3, 0xEE);
    const __m512 t01 = _mm512_add_ps(w01, u01); /* [t8 of v0 (2 x 128) | t8 of v1] */
    const __m512 t23 = _mm512_add_ps(w23, u23);
    /* t4: 128-bit lanes 0,2 of t01 and t23 against lanes 1,3 */
    const __m512 lo = _mm512_shuffle_f32x4(t01, t23, 0x88), hi = _mm512_shuffle_f32x4(t01, t23, 0xDD);
    const __m512 t4 = _mm512_add_ps(hi, lo); /* lane j = t4 of token j */
    /* per lane: (t0+t2), (t1+t3), then their sum */
    const __m512 h = _mm512_add_ps(t4, _mm512_permute_ps(t4, 0x4E)); /* [t0+t2, t1+t3, ...] */
    const __m512 s = _mm512_add_ps(h, _mm512_permute_ps(h, 0xB1));   /* lane 0: (t0+t2)+(t1+t3) */
    float out[16];
    _mm512_storeu_ps(out, s);
    for (int k = 0; k < nt; k++) r[k] = out[4 * k];
}

/* hsum16 of four accumulators at once, the same tree for each (every add
 * joins the same two partial sums, so each result is hsum16's bit for bit):
 * lane j of the result is hsum16(vj). About 13 instructions for four sums
 * where four hsum16 take ~36: a prompt tile ends in 24 of them. */
static inline __attribute__((always_inline)) __m128 hsum16x4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    const __m512 t01 = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0xEE), _mm512_shuffle_f32x4(v0, v1, 0x44));
    const __m512 t23 = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0xEE), _mm512_shuffle_f32x4(v2, v3, 0x44));
    /* 128-bit lane j: hi128 + lo128 of vj's eight-lane sum */
    const __m512 t4 = _mm512_add_ps(_mm512_shuffle_f32x4(t01, t23, 0xDD), _mm512_shuffle_f32x4(t01, t23, 0x88));
    const __m512 h = _mm512_add_ps(t4, _mm512_permute_ps(t4, 0x4E)); /* [t0+t2, t1+t3, ...] */
    const __m512 s = _mm512_add_ps(h, _mm512_permute_ps(h, 0xB1));   /* element 0 of each lane */
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s));
}
#endif

/* 8 x 8 floats transposed in registers: on return r[e] holds element e of
 * the eight input rows (lane j: row j). */
static inline __attribute__((always_inline)) void transpose8x8_ps(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    /* u[k]: element k (low 128 bits) and k + 4 (high) of rows 0-3 / 4-7 */
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

#endif
