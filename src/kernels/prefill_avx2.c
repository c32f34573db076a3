/* AVX2 versions of the prompt-order dots (formats/prefill_order.c): the 16
 * lanes live in two 8-wide accumulators, so results are bit-identical to the
 * scalar definition and to the AVX-512 kernels. BF16's pairs per lane (the
 * odd element's fma, then the even one's) come from one 32-bit word each:
 * its high half masked, its low half shifted up. Without it the scalar
 * definition (a libm fmaf per element) ran tl-bf16 prompts at 1.1 t/s. */
#define EMBER_I8_DOT EMBER_I8_AVX2
#include "q4_0_avx2_body.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include <string.h>

static void dot_f32(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int l = 0; l < n; l += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + l), _mm256_loadu_ps(y + l), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + l + 8), _mm256_loadu_ps(y + l + 8), hi);
    }
    *s = hsum16_halves(lo, hi);
}

static inline __m256 ld16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void dot_f16(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int l = 0; l < n; l += 16) {
        lo = _mm256_fmadd_ps(ld16(x + l), ld16(y + l), lo);
        hi = _mm256_fmadd_ps(ld16(x + l + 8), ld16(y + l + 8), hi);
    }
    *s = hsum16_halves(lo, hi);
}

static void dot_bf16(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    const __m256i hi16 = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int l = 0; l < n; l += 32)
        for (int h = 0; h < 2; h++) { /* lanes 8h..8h+7: elements l + 16h .. l + 16h + 15 */
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + l + 16 * h)),
                          yv = _mm256_loadu_si256((const __m256i *)(y + l + 16 * h));
            acc[h] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(xv, hi16)),
                                     _mm256_castsi256_ps(_mm256_and_si256(yv, hi16)), acc[h]);
            acc[h] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(xv, 16)),
                                     _mm256_castsi256_ps(_mm256_slli_epi32(yv, 16)), acc[h]);
        }
    *s = hsum16_halves(acc[0], acc[1]);
}

void ember_kernels_avx2_prefill(ember_kernel_set *ks) {
    q4_0_i8_kernels(ks); /* q4_0_avx2_body.h */
    ks->vec_dot_prefill[EMBER_TYPE_F32] = dot_f32;
    ks->vec_dot_prefill[EMBER_TYPE_F16] = dot_f16;
    ks->vec_dot_prefill[EMBER_TYPE_BF16] = dot_bf16;
}
