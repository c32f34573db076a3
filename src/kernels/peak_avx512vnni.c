/* The int8 compute peak of the AVX-512 path with VNNI for `ember bench`:
 * independent VPDPBUSD chains in registers. Returns the operations done
 * (a multiply-add counts as 2). */
#include "kernels.h"
#include <immintrin.h>

#define CHAINS 12

static double peak_i8(long iters, float *sink) {
    __m512i a[CHAINS];
    const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
    for (int c = 0; c < CHAINS; c++) a[c] = _mm512_set1_epi32(c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) a[c] = _mm512_dpbusd_epi32(a[c], x, y);
    __m512i s = a[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_epi32(s, a[c]);
    /* lane 0 keeps every chain live; a full reduction would overflow int
     * (the lanes wrap, as intended, after many iterations) */
    *sink = (float)_mm_cvtsi128_si32(_mm512_castsi512_si128(s));
    return (double)iters * CHAINS * 64 * 2;
}

void ember_kernels_avx512vnni_peak(ember_kernel_set *ks) { ks->peak_i8 = peak_i8; }
