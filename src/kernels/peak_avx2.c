/* Compute peaks of the AVX2 path for `ember bench` (see peak_avx512.c).
 * int8: the maddubs + madd + add sequence the AVX2 dots use. */
#include "kernels.h"
#include <immintrin.h>

#define CHAINS 12

static double peak_f32(long iters, float *sink) {
    __m256 a[CHAINS];
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
    for (int c = 0; c < CHAINS; c++) a[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) a[c] = _mm256_fmadd_ps(a[c], x, y);
    __m256 s = a[0];
    for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, a[c]);
    float v[8];
    _mm256_storeu_ps(v, s);
    *sink = v[0] + v[7];
    return (double)iters * CHAINS * 8 * 2;
}

static double peak_i8(long iters, float *sink) {
    __m256i a[CHAINS / 2];
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i x = _mm256_set1_epi8(3);
    const __m256i y = _mm256_set1_epi8(-2);
    for (int c = 0; c < CHAINS / 2; c++) a[c] = _mm256_set1_epi32(c);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 6
        for (int c = 0; c < CHAINS / 2; c++)
            a[c] = _mm256_add_epi32(a[c], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
        x = _mm256_xor_si256(x, a[0]); /* keeps the products inside the loop */
    }
    __m256i s = a[0];
    for (int c = 1; c < CHAINS / 2; c++) s = _mm256_add_epi32(s, a[c]);
    *sink = (float)_mm256_extract_epi32(s, 0);
    return (double)iters * (CHAINS / 2) * 32 * 2;
}

void ember_kernels_avx2_peak(ember_kernel_set *ks) {
    ks->peak_f32 = peak_f32;
    ks->peak_i8 = peak_i8;
}
