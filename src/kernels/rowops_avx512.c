/* AVX-512 row operations, lane for lane the scalar references in
 * formats/rowops.c (same fma chain; scalef is ldexp). */
#include "kernels.h"
#include "../formats/expf_poly.h"
#include <immintrin.h>
#include "reduce_x86.h"

/* expf_poly on 16 lanes */
static inline __m512 expf_poly16(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    __m512 e = _mm512_scalef_ps(j, n);
    /* |n| > 192: 0 below, infinity above (as the scalar version) */
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    if (big) {
        const __mmask16 neg = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
        e = _mm512_mask_blend_ps(big, e, _mm512_mask_blend_ps(neg, _mm512_set1_ps(INFINITY), _mm512_setzero_ps()));
    }
    return e;
}

static void swiglu(float *g, const float *u, int n) {
    const int vec_end = n & ~15;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < vec_end; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 e = expf_poly16(_mm512_xor_ps(x, _mm512_set1_ps(-0.0f)));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
    }
    for (int i = vec_end; i < n; i++) g[i] = (g[i] / (1.0f + expf(-g[i]))) * u[i];
}

static double softmax_exp_sum(float *x, int n, float mx) {
    const __m512 m = _mm512_set1_ps(mx);
    double sum = 0.0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = expf_poly16(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
        _mm512_storeu_ps(x + i, v);
        sum += (double)hsum16(v);
    }
    if (i < n) { /* the padded tail contributes exact zeros */
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_mov_ps(k, expf_poly16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m)));
        _mm512_mask_storeu_ps(x + i, k, v);
        sum += (double)hsum16(v);
    }
    return sum;
}

void ember_kernels_avx512_rowops(ember_kernel_set *ks) {
    ks->swiglu = swiglu;
    ks->softmax_exp_sum = softmax_exp_sum;
}
