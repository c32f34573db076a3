/* The float compute peak of the AVX-512 path for `ember bench` (int8's is
 * in peak_avx512vnni.c): independent chains of the widest multiply-add
 * instructions, nothing else, in registers.
 * Each returns the operations done (a multiply-add counts as 2). */
#include "kernels.h"
#include <immintrin.h>

#define CHAINS 12

static double peak_f32(long iters, float *sink) {
    __m512 a[CHAINS];
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
    for (int c = 0; c < CHAINS; c++) a[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) a[c] = _mm512_fmadd_ps(a[c], x, y);
    __m512 s = a[0];
    for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, a[c]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)iters * CHAINS * 16 * 2;
}

void ember_kernels_avx512_peak(ember_kernel_set *ks) {
    ks->peak_f32 = peak_f32;
}
