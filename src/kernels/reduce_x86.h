/* Horizontal sums in the fixed orders the dots reproduce (llama.cpp's x86
 * builds), shared by the SIMD kernel files. */
#ifndef EMBER_REDUCE_X86_H
#define EMBER_REDUCE_X86_H

#include <immintrin.h>

/* ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)) */
static inline float hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

#ifdef __AVX512F__
/* 16 lanes as a pairwise tree: (k, k+8), then hsum8's order; this is also
 * GCC's _mm512_reduce_add_ps order, spelled out so clang builds agree */
static inline float hsum16(__m512 v) {
    return hsum8(_mm256_add_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v)));
}
#endif

#endif
