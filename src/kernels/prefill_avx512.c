/* AVX-512 versions of the prompt-order dots in formats/prefill_order.c;
 * bit-identical to them by construction (same lanes, same FMAs, same tree). */
#include "kernels.h"
#include <immintrin.h>
#include "reduce_x86.h"

static void dot_f32(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m512 acc = _mm512_setzero_ps();
    for (int l = 0; l < n; l += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + l), _mm512_loadu_ps(y + l), acc);
    *s = hsum16(acc);
}

static void dot_f16(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 acc = _mm512_setzero_ps();
    for (int l = 0; l < n; l += 16) {
        __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + l)));
        __m512 b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + l)));
        acc = _mm512_fmadd_ps(a, b, acc);
    }
    *s = hsum16(acc);
}

void ember_kernels_avx512_prefill(ember_kernel_set *ks) {
    ks->vec_dot_prefill[EMBER_TYPE_F32] = dot_f32;
    ks->vec_dot_prefill[EMBER_TYPE_F16] = dot_f16;
}
